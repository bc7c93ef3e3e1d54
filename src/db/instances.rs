//! The instances (实例) table: scoped lists, race-free placement, and the updates the
//! provisioning task and the status worker make.

use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, sql, sum};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Int4, Text};

use super::schema::{images, instance_events, instances, node_usage, nodes, specs, users};
use super::{DbError, found};
use crate::domain::access::Scope;
use crate::domain::container::State;
use crate::domain::ids::{CompanyId, InstanceId, NodeId, UserId};
use crate::domain::instances::{NewInstance, PlacementError, Resources, admits, gpus_for};
use crate::domain::lifecycle::{Phase, StateCount, count_states};
use crate::domain::tenancy::Tenant;

/// One instance as lists, rows and actions show it (names of what it references joined in).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = instances)]
pub struct InstanceView {
    pub id: InstanceId,
    pub name: String,
    pub remark: String,
    pub container_id: String,
    /// stored as text; read through `State::from`
    #[diesel(deserialize_as = String)]
    pub status: State,
    /// stored as text; read through `Phase::try_from`
    #[diesel(deserialize_as = String)]
    pub phase: Phase,
    pub message: String,
    pub disk_quota: bool,
    pub volume_name: String,
    pub gpu_indices: Vec<i32>,
    pub gpu_count: i32,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
    pub created_at: DateTime<Utc>,
    pub node_id: NodeId,
    pub owner_id: UserId,
    pub company_id: Option<CompanyId>,
    #[diesel(select_expression = images::name)]
    pub image_name: String,
    #[diesel(select_expression = images::address)]
    pub image_address: String,
    #[diesel(select_expression = specs::name)]
    pub spec_name: String,
    #[diesel(select_expression = nodes::name)]
    pub node_name: String,
    #[diesel(select_expression = nodes::docker_state)]
    pub node_state: String,
    #[diesel(select_expression = users::username)]
    pub owner_name: String,
}

impl InstanceView {
    pub fn tenant(&self) -> Tenant {
        Tenant::of(self.owner_id, self.company_id)
    }

    /// The first 12 characters of the container id, as `docker ps` shows it.
    pub fn short_container_id(&self) -> &str {
        self.container_id.get(..12).unwrap_or(&self.container_id)
    }

    /// i18n keys of the container status and the phase.
    pub fn status_key(&self) -> &'static str {
        self.status.key()
    }
    pub fn phase_key(&self) -> String {
        format!("phase.{}", self.phase)
    }

    /// "0,1" or "—".
    pub fn gpus(&self) -> String {
        if self.gpu_indices.is_empty() {
            return "—".into();
        }
        let ids: Vec<String> = self.gpu_indices.iter().map(i32::to_string).collect();
        ids.join(",")
    }
}

/// Runs `$body` with `$q` bound to `$query` (over instances, alone or joined) limited to
/// the scope's rows. Each scope gets its own static query rather than one boxed query,
/// so Diesel keeps it as a prepared statement and Postgres does not plan the joins
/// again on every request.
macro_rules! for_scope {
    ($scope:expr, $query:expr, |$q:ident| $body:expr) => {
        match $scope {
            Scope::All => {
                let $q = $query;
                $body
            }
            Scope::Company(c) => {
                let $q = $query.filter(instances::company_id.eq(c));
                $body
            }
            Scope::Owner(u) => {
                let $q = $query.filter(instances::owner_id.eq(u));
                $body
            }
        }
    };
}

/// Instances joined with what they reference (the columns of `InstanceView`).
macro_rules! joined {
    () => {
        instances::table
            .inner_join(images::table)
            .inner_join(specs::table)
            .inner_join(nodes::table)
            .inner_join(users::table)
    };
}

/// How many instances the scope sees (an index-only count).
pub fn count(conn: &mut PgConnection, scope: Scope) -> Result<i64, DbError> {
    Ok(for_scope!(scope, instances::table, |q| q
        .count()
        .get_result(conn))?)
}

/// One page of the instances the scope may see, newest first (the filter is in the
/// SQL). The page's ids come first from the index alone, then only those rows are
/// joined: a deep page costs no more than the first.
pub fn page(
    conn: &mut PgConnection,
    scope: Scope,
    page: i64,
    per_page: i64,
) -> Result<Vec<InstanceView>, DbError> {
    let offset = (page - 1) * per_page;
    let ids: Vec<i64> = for_scope!(scope, instances::table, |q| q
        .select(instances::id)
        .order(instances::id.desc())
        .limit(per_page)
        .offset(offset)
        .load(conn))?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(for_scope!(scope, joined!(), |q| q
        .filter(instances::id.eq_any(&ids))
        .order(instances::id.desc())
        .select(InstanceView::as_select())
        .load(conn))?)
}

/// One instance if the scope may see it; NotFound otherwise (the same answer as a
/// missing id, so ids of others' instances reveal nothing).
pub fn find(
    conn: &mut PgConnection,
    scope: Scope,
    id: InstanceId,
) -> Result<InstanceView, DbError> {
    Ok(for_scope!(scope, joined!(), |q| q
        .filter(instances::id.eq(id))
        .select(InstanceView::as_select())
        .first(conn))?)
}

/// One entry of an instance's history (the instance page).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = instance_events)]
pub struct InstanceEvent {
    /// 'created', 'phase' or 'status'
    pub kind: String,
    /// the new phase or status
    pub value: String,
    /// the instance's message then (a failure's reason)
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

impl InstanceEvent {
    /// The i18n key of what happened: `event.created`, `phase.failed`, `status.running`.
    pub fn key(&self) -> String {
        match self.kind.as_str() {
            "created" => "event.created".into(),
            "phase" => format!("phase.{}", self.value),
            _ => State::from(self.value.clone()).key().into(),
        }
    }
    pub fn is_failure(&self) -> bool {
        self.kind == "phase" && self.value == Phase::Failed.as_str()
    }
}

/// The latest `limit` events of an instance, newest first. The caller has checked that
/// the actor may see the instance.
pub fn events(
    conn: &mut PgConnection,
    id: InstanceId,
    limit: i64,
) -> Result<Vec<InstanceEvent>, DbError> {
    Ok(instance_events::table
        .filter(instance_events::instance_id.eq(id))
        .order(instance_events::id.desc())
        .limit(limit)
        .select(InstanceEvent::as_select())
        .load(conn)?)
}

/// What the live instances of a scope hold (the home dashboards).
#[derive(Clone, Copy, Debug, Default)]
pub struct Held {
    pub instances: i64,
    pub gpus: i64,
    pub cpu_cores: i64,
    pub memory_gb: i64,
}

/// The scope's instances counted by state, most first (the home dashboards).
pub fn states(conn: &mut PgConnection, scope: Scope) -> Result<Vec<StateCount>, DbError> {
    let rows: Vec<(String, String, i64)> = for_scope!(scope, instances::table, |q| q
        .group_by((instances::phase, instances::status))
        .select((instances::phase, instances::status, count_star()))
        .load(conn))?;
    Ok(count_states(rows))
}

/// What the scope's live instances hold (those counted in their node's usage).
pub fn held(conn: &mut PgConnection, scope: Scope) -> Result<Held, DbError> {
    let (n, gpus, cpus, mem): (i64, Option<i64>, Option<i64>, Option<i64>) =
        for_scope!(scope, instances::table, |q| q
            .filter(sql::<Bool>("instance_holds(phase, container_id)"))
            .select((
                count_star(),
                sum(instances::gpu_count),
                sum(instances::cpu_cores),
                sum(instances::memory_gb),
            ))
            .first(conn))?;
    Ok(Held {
        instances: n,
        gpus: gpus.unwrap_or(0),
        cpu_cores: cpus.unwrap_or(0),
        memory_gb: mem.unwrap_or(0),
    })
}

/// The instances the scope may see, oldest first (the jumpbox menu: numbers stay put
/// when new instances arrive).
pub fn menu(
    conn: &mut PgConnection,
    scope: Scope,
    limit: i64,
) -> Result<Vec<InstanceView>, DbError> {
    Ok(for_scope!(scope, joined!(), |q| q
        .order(instances::id.asc())
        .limit(limit)
        .select(InstanceView::as_select())
        .load(conn))?)
}

/// The unique index of instance names within a tenant (company, else owner).
pub const TENANT_NAME_INDEX: &str = "instances_tenant_name_key";

/// A member's instances follow them into `company` (or out of any): how many moved.
/// Fails with Duplicate when a name clashes with one of the new tenant's.
pub fn move_owner_to(
    conn: &mut PgConnection,
    owner_id: UserId,
    company: Option<CompanyId>,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        instances::table
            .filter(instances::owner_id.eq(owner_id))
            .filter(instances::company_id.is_distinct_from(company)),
    )
    .set(instances::company_id.eq(company))
    .execute(conn)?)
}

/// The instances of this name the scope may see, at most two (names are unique within a
/// tenant only: an admin, or an owner after a member moved in, may see two).
pub fn find_by_name(
    conn: &mut PgConnection,
    scope: Scope,
    name: &str,
) -> Result<Vec<InstanceView>, DbError> {
    Ok(for_scope!(scope, joined!(), |q| q
        .filter(instances::name.eq(name))
        .order(instances::id)
        .limit(2)
        .select(InstanceView::as_select())
        .load(conn))?)
}

/// A node the chosen spec fits on, with what is free on it.
#[derive(Clone, Debug, Queryable)]
pub struct NodeChoice {
    pub id: NodeId,
    pub name: String,
    pub region: String,
    pub gpu_model: String,
    pub free_gpus: i32,
    pub free_cpu: i32,
    pub free_memory_gb: i32,
    pub free_system_disk_gb: i32,
    pub free_data_disk_gb: i32,
}

define_sql_function!(fn lower(x: Text) -> Text);
define_sql_function!(fn btrim(x: Text) -> Text);
define_sql_function!(fn cardinality(x: Array<Int4>) -> Int4);

/// Listed nodes whose free capacity covers `need`, with the spec's GPU model
/// (case-insensitive, trimmed) when it asks for GPUs (`admits`: a 0-GPU spec matches any
/// model); free = capacity − what the node's live instances hold (`node_usage`, kept by
/// triggers).
pub fn nodes_fitting(
    conn: &mut PgConnection,
    gpu_model: &str,
    need: Resources,
    limit: i64,
) -> Result<Vec<NodeChoice>, DbError> {
    let free = (
        nodes::gpu_count - node_usage::gpu_count,
        nodes::cpu_cores - node_usage::cpu_cores,
        nodes::memory_gb - node_usage::memory_gb,
        nodes::system_disk_gb - node_usage::system_disk_gb,
        nodes::data_disk_gb - node_usage::data_disk_gb,
    );
    let mut q = nodes::table
        .inner_join(node_usage::table)
        .filter(offered())
        .into_boxed();
    if need.needs_gpus() {
        q = q.filter(lower(btrim(nodes::gpu_model)).eq(lower(btrim(gpu_model.to_owned()))));
    }
    Ok(q.filter(free.0.ge(need.gpu_count))
        .filter(free.1.ge(need.cpu_cores))
        .filter(free.2.ge(need.memory_gb))
        .filter(free.3.ge(need.system_disk_gb))
        .filter(free.4.ge(need.data_disk_gb))
        .order(nodes::name)
        .limit(limit)
        .select((
            nodes::id,
            nodes::name,
            nodes::region,
            nodes::gpu_model,
            free.0,
            free.1,
            free.2,
            free.3,
            free.4,
        ))
        .load(conn)?)
}

/// Who creates the instance (set by the server from the session).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub user_id: UserId,
    pub company_id: Option<CompanyId>,
}

/// A listed spec's GPU model and what it asks for.
fn listed_spec(conn: &mut PgConnection, id: i64) -> Result<Option<(String, Resources)>, DbError> {
    let found = specs::table
        .find(id)
        .filter(specs::listed)
        .select((
            specs::gpu_model,
            (
                specs::gpu_count,
                specs::cpu_cores,
                specs::memory_gb,
                specs::system_disk_gb,
                specs::data_disk_gb,
            ),
        ))
        .first::<(String, Dims)>(conn)
        .optional()?;
    Ok(found.map(|(model, need)| (model, resources(need))))
}

/// A node instances may be placed on: listed and not in maintenance (the wizard's node
/// step and placement alike).
fn offered() -> diesel::dsl::And<nodes::listed, diesel::dsl::Eq<nodes::maintenance, bool>> {
    nodes::listed.and(nodes::maintenance.eq(false))
}

/// A listed node's GPU model, capacity and use, locked until the transaction ends (so
/// two placements on it do not both take its last resources).
fn locked_node(
    conn: &mut PgConnection,
    id: NodeId,
) -> Result<Option<(String, Resources, Resources)>, DbError> {
    let found = nodes::table
        .inner_join(node_usage::table)
        .filter(nodes::id.eq(id))
        .filter(offered())
        .select((
            nodes::gpu_model,
            (
                nodes::gpu_count,
                nodes::cpu_cores,
                nodes::memory_gb,
                nodes::system_disk_gb,
                nodes::data_disk_gb,
            ),
            (
                node_usage::gpu_count,
                node_usage::cpu_cores,
                node_usage::memory_gb,
                node_usage::system_disk_gb,
                node_usage::data_disk_gb,
            ),
        ))
        .for_update()
        .first::<(String, Dims, Dims)>(conn)
        .optional()?;
    Ok(found.map(|(model, capacity, used)| (model, resources(capacity), resources(used))))
}

/// Why an instance was not placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// by the rules of placement (nothing written)
    #[error("placement refused: {0}")]
    Refused(#[from] PlacementError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for PlaceError {
    fn from(e: diesel::result::Error) -> Self {
        PlaceError::Db(e.into())
    }
}

/// Places an instance on its node. Run inside a transaction (`db::transaction_with`):
/// the node row is locked (SELECT … FOR UPDATE), so concurrent placements on one node
/// run one after another and each sees the usage and GPUs the previous ones took.
pub fn place(
    conn: &mut PgConnection,
    owner: Owner,
    v: &NewInstance,
) -> Result<InstanceId, PlaceError> {
    let image_ok = images::table
        .find(v.image_id)
        .filter(images::listed)
        .select(images::id)
        .first::<i64>(conn)
        .optional()?
        .is_some();
    if !image_ok {
        return Err(PlacementError::Unavailable("image_id").into());
    }
    let Some((spec_model, need)) = listed_spec(conn, v.spec_id)? else {
        return Err(PlacementError::Unavailable("spec_id").into());
    };
    let Some((node_model, capacity, used)) = locked_node(conn, v.node_id)? else {
        return Err(PlacementError::Unavailable("node_id").into());
    };
    admits(&spec_model, need, &node_model, capacity, used)?;
    let held: Vec<Vec<i32>> = instances::table
        .filter(instances::node_id.eq(v.node_id))
        .filter(cardinality(instances::gpu_indices).gt(0))
        .select(instances::gpu_indices)
        .load(conn)?;
    let gpus = gpus_for(capacity, need, held.iter().map(Vec::as_slice))?;

    let id = diesel::insert_into(instances::table)
        .values((
            instances::name.eq(&v.name),
            instances::remark.eq(&v.remark),
            instances::image_id.eq(v.image_id),
            instances::spec_id.eq(v.spec_id),
            instances::node_id.eq(v.node_id),
            instances::owner_id.eq(owner.user_id),
            instances::company_id.eq(owner.company_id),
            instances::gpu_count.eq(need.gpu_count),
            instances::cpu_cores.eq(need.cpu_cores),
            instances::memory_gb.eq(need.memory_gb),
            instances::system_disk_gb.eq(need.system_disk_gb),
            instances::data_disk_gb.eq(need.data_disk_gb),
            instances::gpu_indices.eq(gpus),
        ))
        .returning(instances::id)
        .get_result(conn)?;
    Ok(id)
}

/// (gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb) as selected.
type Dims = (i32, i32, i32, i32, i32);

fn resources((gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb): Dims) -> Resources {
    Resources {
        gpu_count,
        cpu_cores,
        memory_gb,
        system_disk_gb,
        data_disk_gb,
    }
}

/// Progress while creating (e.g. image pull), shown in the row.
pub fn set_message(conn: &mut PgConnection, id: InstanceId, message: &str) -> Result<(), DbError> {
    let n = diesel::update(instances::table.find(id))
        .set(instances::message.eq(message))
        .execute(conn)?;
    found(n)
}

/// The container exists: store its id, state, volume and whether the disk quota holds.
pub fn mark_ready(
    conn: &mut PgConnection,
    id: InstanceId,
    container_id: &str,
    status: State,
    volume_name: &str,
    disk_quota: bool,
) -> Result<(), DbError> {
    let n = diesel::update(instances::table.find(id))
        .set((
            instances::phase.eq("ready"),
            instances::container_id.eq(container_id),
            instances::status.eq(status.as_str()),
            instances::volume_name.eq(volume_name),
            instances::disk_quota.eq(disk_quota),
            instances::message.eq(""),
        ))
        .execute(conn)?;
    found(n)
}

/// Creation failed (whatever was half-made is already removed): keep the row with the
/// engine's message and give its capacity and GPUs back.
pub fn mark_failed(conn: &mut PgConnection, id: InstanceId, message: &str) -> Result<(), DbError> {
    let n = diesel::update(instances::table.find(id))
        .set((
            instances::phase.eq("failed"),
            instances::message.eq(message),
            instances::container_id.eq(""),
            instances::status.eq(""),
            instances::volume_name.eq(""),
            instances::gpu_indices.eq(Vec::<i32>::new()),
        ))
        .execute(conn)?;
    found(n)
}

/// The container's state as the engine reports it (worker and actions).
pub fn set_status(conn: &mut PgConnection, id: InstanceId, status: State) -> Result<(), DbError> {
    let n = diesel::update(instances::table.find(id))
        .set(instances::status.eq(status.as_str()))
        .execute(conn)?;
    found(n)
}

/// Delete is under way (the row stays until the container and volume are gone).
/// False when the instance is still being created or a delete already runs.
pub fn begin_delete(conn: &mut PgConnection, id: InstanceId) -> Result<bool, DbError> {
    let n = diesel::update(
        instances::table
            .find(id)
            .filter(instances::phase.eq_any(["ready", "failed"])),
    )
    .set(instances::phase.eq("deleting"))
    .execute(conn)?;
    Ok(n == 1)
}

/// Removal failed: the row stays, shows the error and can be retried. An instance
/// without a container goes back to failed, one with a container to ready.
pub fn delete_failed(
    conn: &mut PgConnection,
    id: InstanceId,
    message: &str,
) -> Result<(), DbError> {
    use diesel::dsl::sql;
    let n = diesel::update(instances::table.find(id))
        .set((
            instances::phase.eq(sql::<Text>(
                "CASE WHEN container_id = '' THEN 'failed' ELSE 'ready' END",
            )),
            instances::message.eq(message),
        ))
        .execute(conn)?;
    found(n)
}

pub fn delete(conn: &mut PgConnection, id: InstanceId) -> Result<(), DbError> {
    let n = diesel::delete(instances::table.find(id)).execute(conn)?;
    found(n)
}

/// What the status worker reconciles: (id, container id, status) of every ready
/// instance of a node.
pub fn containers_of_node(
    conn: &mut PgConnection,
    node_id: NodeId,
) -> Result<Vec<NodeContainer>, DbError> {
    Ok(instances::table
        .filter(instances::node_id.eq(node_id))
        .filter(instances::phase.eq("ready"))
        .filter(instances::container_id.ne(""))
        .select(NodeContainer::as_select())
        .load(conn)?)
}

/// A ready instance's container as the status worker compares it with the engine.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = instances)]
pub struct NodeContainer {
    pub id: InstanceId,
    pub container_id: String,
    #[diesel(deserialize_as = String)]
    pub status: State,
    pub owner_id: UserId,
    pub company_id: Option<CompanyId>,
}

impl NodeContainer {
    pub fn tenant(&self) -> Tenant {
        Tenant::of(self.owner_id, self.company_id)
    }
}

/// Does the tenant have an instance on the node other than `except` (in any phase: a
/// stopped or half-deleted one may still have a container that needs the network)?
pub fn tenant_has_others(
    conn: &mut PgConnection,
    node_id: NodeId,
    tenant: Tenant,
    except: InstanceId,
) -> Result<bool, DbError> {
    let on_node = instances::table
        .filter(instances::node_id.eq(node_id))
        .filter(instances::id.ne(except))
        .into_boxed();
    let of_tenant = match tenant {
        Tenant::Company(c) => on_node.filter(instances::company_id.eq(c)),
        Tenant::User(u) => on_node
            .filter(instances::owner_id.eq(u))
            .filter(instances::company_id.is_null()),
    };
    Ok(diesel::select(diesel::dsl::exists(of_tenant)).get_result(conn)?)
}

/// An engine event about a container: store its state on the ready instance that owns
/// it (if any). Returns the number of rows changed.
pub fn set_status_of_container(
    conn: &mut PgConnection,
    node_id: NodeId,
    container_id: &str,
    status: State,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        instances::table
            .filter(instances::node_id.eq(node_id))
            .filter(instances::container_id.eq(container_id))
            .filter(instances::phase.eq("ready"))
            .filter(instances::status.ne(status.as_str())),
    )
    .set(instances::status.eq(status.as_str()))
    .execute(conn)?)
}

/// Nodes that have containers to follow, with a fingerprint of how to reach them (an
/// edit of the endpoint or TLS material restarts the node's follower).
pub fn nodes_with_containers(conn: &mut PgConnection) -> Result<Vec<(NodeId, String)>, DbError> {
    Ok(nodes::table
        .filter(nodes::docker_endpoint.ne(""))
        .filter(diesel::dsl::exists(
            instances::table
                .filter(instances::node_id.eq(nodes::id))
                .filter(instances::container_id.ne("")),
        ))
        .select((
            nodes::id,
            diesel::dsl::sql::<Text>(
                "md5(concat_ws('|', nodes.docker_endpoint, nodes.use_tls, nodes.ca_cert, \
                 nodes.client_cert, encode(nodes.client_key_enc, 'hex')))",
            ),
        ))
        .load(conn)?)
}

/// Instances left in "creating" by a previous run of the server (its provisioning task
/// died with it): marked failed so their capacity is free and they can be deleted.
/// Returns them as (id, name, node id): what they may have left on their node is removed
/// by name (ops::instances::remove_leftovers).
pub fn fail_interrupted(
    conn: &mut PgConnection,
    message: &str,
) -> Result<Vec<(InstanceId, String, NodeId)>, DbError> {
    Ok(
        diesel::update(instances::table.filter(instances::phase.eq("creating")))
            .set((
                instances::phase.eq("failed"),
                instances::message.eq(message),
                instances::gpu_indices.eq(Vec::<i32>::new()),
            ))
            .returning((instances::id, instances::name, instances::node_id))
            .get_results(conn)?,
    )
}

/// Instances a previous run of the server was deleting when it stopped: back to what
/// they were (ready with a container, else failed), so that delete can be tried again.
pub fn reset_interrupted_deletes(conn: &mut PgConnection, message: &str) -> Result<usize, DbError> {
    use diesel::dsl::sql;
    Ok(
        diesel::update(instances::table.filter(instances::phase.eq("deleting")))
            .set((
                instances::phase.eq(sql::<Text>(
                    "CASE WHEN container_id = '' THEN 'failed' ELSE 'ready' END",
                )),
                instances::message.eq(message),
            ))
            .execute(conn)?,
    )
}

/// What creating the container needs: the instance's held resources and GPUs, its
/// image reference and its node.
#[derive(Clone, Debug, Queryable)]
pub struct PlanRow {
    pub id: InstanceId,
    pub name: String,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
    pub gpu_indices: Vec<i32>,
    pub image: String,
    pub node_id: NodeId,
    pub owner_id: UserId,
    pub company_id: Option<CompanyId>,
}

impl PlanRow {
    pub fn tenant(&self) -> Tenant {
        Tenant::of(self.owner_id, self.company_id)
    }
}

pub fn plan(conn: &mut PgConnection, id: InstanceId) -> Result<PlanRow, DbError> {
    Ok(instances::table
        .inner_join(images::table)
        .filter(instances::id.eq(id))
        .select((
            instances::id,
            instances::name,
            instances::cpu_cores,
            instances::memory_gb,
            instances::system_disk_gb,
            instances::data_disk_gb,
            instances::gpu_indices,
            images::address,
            instances::node_id,
            instances::owner_id,
            instances::company_id,
        ))
        .first(conn)?)
}
