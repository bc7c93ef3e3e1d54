//! What the home dashboards count: nodes, GPUs by model, recent failures and the
//! first-run checklist (instances by state and what they hold: db/instances.rs, scoped). Each is one aggregate query (node_usage keeps
//! what the live instances hold, so no query sums instances per node).

use chrono::{DateTime, Utc};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use super::DbError;
use super::schema::instances;
use crate::domain::ids::InstanceId;
use crate::domain::lifecycle::Phase;

/// The admin's node counts.
#[derive(Clone, Copy, Debug, Default, QueryableByName)]
pub struct NodeCounts {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub listed: i64,
    #[diesel(sql_type = BigInt)]
    pub unreachable: i64,
}

/// One GPU model across the nodes: how many there are and how many instances hold.
#[derive(Clone, Debug, QueryableByName)]
pub struct GpuModel {
    #[diesel(sql_type = Text)]
    pub model: String,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub used: i64,
}

impl GpuModel {
    pub fn free(&self) -> i64 {
        (self.total - self.used).max(0)
    }
}

/// A failed creation, for the admin's list of recent failures.
#[derive(Clone, Debug, Queryable)]
pub struct Failure {
    pub id: InstanceId,
    pub name: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// The first-run checklist: what exists yet.
#[derive(Clone, Copy, Debug, Default, QueryableByName)]
pub struct Checklist {
    #[diesel(sql_type = Bool)]
    pub image: bool,
    #[diesel(sql_type = Bool)]
    pub spec: bool,
    #[diesel(sql_type = Bool)]
    pub node: bool,
    #[diesel(sql_type = Bool)]
    pub instance: bool,
}

impl Checklist {
    pub fn done(&self) -> bool {
        self.image && self.spec && self.node && self.instance
    }
}

pub fn node_counts(conn: &mut PgConnection) -> Result<NodeCounts, DbError> {
    Ok(diesel::sql_query(
        "SELECT count(*) AS total, count(*) FILTER (WHERE listed) AS listed, \
         count(*) FILTER (WHERE docker_state = 'unreachable') AS unreachable FROM nodes",
    )
    .get_result(conn)?)
}

pub fn gpu_models(conn: &mut PgConnection) -> Result<Vec<GpuModel>, DbError> {
    Ok(diesel::sql_query(
        "SELECT n.gpu_model AS model, sum(n.gpu_count)::BIGINT AS total, \
         sum(COALESCE(u.gpu_count, 0))::BIGINT AS used \
         FROM nodes n LEFT JOIN node_usage u ON u.node_id = n.id \
         WHERE n.gpu_count > 0 GROUP BY n.gpu_model ORDER BY n.gpu_model",
    )
    .load(conn)?)
}

/// The latest failed creations, newest first.
pub fn failures(conn: &mut PgConnection, limit: i64) -> Result<Vec<Failure>, DbError> {
    Ok(instances::table
        .filter(instances::phase.eq(Phase::Failed.as_str()))
        .order(instances::updated_at.desc())
        .limit(limit)
        .select((
            instances::id,
            instances::name,
            instances::message,
            instances::updated_at,
        ))
        .load(conn)?)
}

pub fn checklist(conn: &mut PgConnection) -> Result<Checklist, DbError> {
    Ok(diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM images) AS image, EXISTS (SELECT 1 FROM specs) AS spec, \
         EXISTS (SELECT 1 FROM nodes WHERE listed) AS node, \
         EXISTS (SELECT 1 FROM instances) AS instance",
    )
    .get_result(conn)?)
}
