//! What a stopped server (or a create that failed halfway) left and is not removed yet
//! (`cleanups`): one row per LXD container of an unfinished ZJMF create (by hostname) or
//! per instance whose creation was cut off (by instance id). ops::recovery works them
//! off; a row goes with its container row or instance (ON DELETE CASCADE) or once its
//! leftovers are gone.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::DbError;
use super::schema::{cleanups as cu, instances, lxd_containers as lc};
use crate::domain::ids::{CompanyId, InstanceId, NodeId, UserId};
use crate::domain::tenancy::Tenant;

/// A pending clean-up as the admin's LXD page lists it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = cu)]
pub struct Cleanup {
    pub id: i64,
    pub hostname: Option<String>,
    pub instance_id: Option<InstanceId>,
    pub since: DateTime<Utc>,
    pub attempts: i32,
    pub last_error: String,
    pub last_try: Option<DateTime<Utc>>,
}

/// What one clean-up is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// the LXD container of an unfinished ZJMF create
    Lxd { hostname: String },
    /// what the cut-off creation of a (now failed) instance may have left on its node
    Docker {
        instance_id: InstanceId,
        name: String,
        node_id: NodeId,
        tenant: Tenant,
    },
}

/// A clean-up that is due, with when it was first recorded.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: i64,
    pub since: DateTime<Utc>,
    pub leftover: Leftover,
}

/// Start-up: every ZJMF create still marked `creating` was cut off (no create runs before
/// the server has started): each gets a clean-up. Returns their hostnames.
pub fn abandon_unfinished_creates(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let names: Vec<String> = lc::table
        .filter(lc::creating)
        .select(lc::hostname)
        .load(conn)?;
    for name in &names {
        diesel::insert_into(cu::table)
            .values(cu::hostname.eq(name))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(names)
}

/// The container of a create that failed could not be removed now: its row stays (still
/// `creating`) and the clean-up retries.
pub fn hand_over_lxd(conn: &mut PgConnection, hostname: &str, error: &str) -> Result<(), DbError> {
    diesel::insert_into(cu::table)
        .values((
            cu::hostname.eq(hostname),
            cu::attempts.eq(1),
            cu::last_error.eq(error),
            cu::last_try.eq(diesel::dsl::now),
        ))
        .on_conflict(cu::hostname)
        .do_update()
        .set((
            cu::attempts.eq(cu::attempts + 1),
            cu::last_error.eq(error),
            cu::last_try.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Clean-ups for these (just failed) instances.
pub fn add_instances(conn: &mut PgConnection, ids: &[InstanceId]) -> Result<(), DbError> {
    for id in ids {
        diesel::insert_into(cu::table)
            .values(cu::instance_id.eq(id))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(())
}

/// Is a clean-up of this hostname pending (a create of it must wait)?
pub fn lxd_pending(conn: &mut PgConnection, hostname: &str) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        cu::table.filter(cu::hostname.eq(hostname)),
    ))
    .get_result(conn)?)
}

/// Clean-ups whose next try is due: never tried, or the last try is older than
/// 2^attempts seconds (at most 5 minutes). Instances being deleted by a user are left
/// to that delete.
pub fn due(conn: &mut PgConnection) -> Result<Vec<Due>, DbError> {
    let backoff = sql::<Bool>(
        "(cleanups.last_try IS NULL OR cleanups.last_try + \
         make_interval(secs => least(power(2, least(cleanups.attempts, 20)), 300)) <= now())",
    );
    let lxd: Vec<(i64, DateTime<Utc>, Option<String>)> = cu::table
        .filter(cu::hostname.is_not_null())
        .filter(backoff.clone())
        .select((cu::id, cu::since, cu::hostname))
        .order(cu::id)
        .load(conn)?;
    type DockerRow = (
        i64,
        DateTime<Utc>,
        InstanceId,
        String,
        NodeId,
        UserId,
        Option<CompanyId>,
    );
    let docker: Vec<DockerRow> = cu::table
        .inner_join(instances::table)
        .filter(instances::phase.eq("failed"))
        .filter(backoff)
        .select((
            cu::id,
            cu::since,
            instances::id,
            instances::name,
            instances::node_id,
            instances::owner_id,
            instances::company_id,
        ))
        .order(cu::id)
        .load(conn)?;
    let mut out: Vec<Due> = lxd
        .into_iter()
        .filter_map(|(id, since, hostname)| {
            hostname.map(|hostname| Due {
                id,
                since,
                leftover: Leftover::Lxd { hostname },
            })
        })
        .collect();
    out.extend(docker.into_iter().map(
        |(id, since, instance_id, name, node_id, owner, company)| Due {
            id,
            since,
            leftover: Leftover::Docker {
                instance_id,
                name,
                node_id,
                tenant: Tenant::of(owner, company),
            },
        },
    ));
    Ok(out)
}

/// A try that did not remove everything: counted, with its reason.
pub fn tried(conn: &mut PgConnection, id: i64, error: &str) -> Result<(), DbError> {
    diesel::update(cu::table.find(id))
        .set((
            cu::attempts.eq(cu::attempts + 1),
            cu::last_error.eq(error),
            cu::last_try.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// How many clean-ups are pending (due or not).
pub fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(cu::table.count().get_result(conn)?)
}

/// The leftovers are gone.
pub fn done(conn: &mut PgConnection, id: i64) -> Result<(), DbError> {
    diesel::delete(cu::table.find(id)).execute(conn)?;
    Ok(())
}

/// The pending clean-ups of LXD containers, oldest first (the admin's LXD page).
pub fn lxd_list(conn: &mut PgConnection) -> Result<Vec<Cleanup>, DbError> {
    Ok(cu::table
        .filter(cu::hostname.is_not_null())
        .order(cu::id)
        .select(Cleanup::as_select())
        .load(conn)?)
}
