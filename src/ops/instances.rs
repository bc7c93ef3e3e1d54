//! Instances: the wizard's choices, race-free placement, provisioning the container in
//! the background, lifecycle actions and delete. Every read and action goes through the
//! actor's scope, so someone else's instance is simply not found.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{OpsError, tenancy};
use crate::db::instances::PlaceError;
use crate::db::instances::{InstanceEvent, InstanceView, NodeChoice};
use crate::db::{self, images::Image, specs::Spec};
use crate::docker::{self, Endpoint, TlsMaterial, container};
use crate::domain::access::{Actor, Scope, scope};
use crate::domain::container::State;
use crate::domain::fields::FieldErrors;
use crate::domain::ids::{InstanceId, NodeId};
use crate::domain::instances::{NewInstance, PlacementError};
use crate::domain::jumpbox::{Which, which_instance};
use crate::domain::listing::{ListQuery, Page};
use crate::domain::tenancy::Tenant;
use crate::ops::Context;

/// How many nodes the node step offers at most.
const NODE_CHOICES: i64 = 200;

/// Instance totals per scope for the pager, reused for a few seconds: an exact count of a
/// large table on every list request (and the list refreshes itself every 3 s) costs
/// more than the page. Creating or deleting an instance forgets them.
#[derive(Debug, Default)]
pub struct Totals(Mutex<HashMap<Scope, (Instant, i64)>>);

const TOTALS_TTL: Duration = Duration::from_secs(5);

impl Totals {
    fn get(&self, scope: Scope) -> Option<i64> {
        let map = self.0.lock().ok()?;
        map.get(&scope)
            .filter(|(at, _)| at.elapsed() < TOTALS_TTL)
            .map(|(_, n)| *n)
    }

    fn put(&self, scope: Scope, n: i64) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (at, _)| at.elapsed() < TOTALS_TTL);
            }
            map.insert(scope, (Instant::now(), n));
        }
    }

    fn forget(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}

pub async fn list(
    state: &Context,
    actor: &Actor,
    page: i64,
) -> Result<Page<InstanceView>, OpsError> {
    let per = state.settings.server.page_size;
    let scope = scope(actor);
    let cached = state.totals.get(scope);
    let (rows, total) = db::run(&state.pool, move |c| {
        let total = match cached {
            Some(n) => n,
            None => db::instances::count(c, scope)?,
        };
        Ok((db::instances::page(c, scope, page, per)?, total))
    })
    .await?;
    if cached.is_none() {
        state.totals.put(scope, total);
    }
    Ok(Page {
        rows,
        total,
        page,
        per_page: per,
    })
}

pub async fn get(state: &Context, actor: &Actor, id: InstanceId) -> Result<InstanceView, OpsError> {
    let scope = scope(actor);
    db::run(&state.pool, move |c| db::instances::find(c, scope, id))
        .await
        .map_err(|e| OpsError::from_write(e, "id"))
}

/// How many events the instance page shows.
pub const PAGE_EVENTS: i64 = 50;

/// One of the actor's instances with its latest events, newest first (the instance page).
pub async fn with_events(
    state: &Context,
    actor: &Actor,
    id: InstanceId,
) -> Result<(InstanceView, Vec<InstanceEvent>), OpsError> {
    let scope = scope(actor);
    db::run(&state.pool, move |c| {
        let view = db::instances::find(c, scope, id)?;
        let events = db::instances::events(c, id, PAGE_EVENTS)?;
        Ok((view, events))
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))
}

/// The jumpbox menu: the actor's instances, oldest first, at most `limit`.
pub async fn menu(
    state: &Context,
    actor: &Actor,
    limit: i64,
) -> Result<Vec<InstanceView>, OpsError> {
    let scope = scope(actor);
    Ok(db::run(&state.pool, move |c| db::instances::menu(c, scope, limit)).await?)
}

/// The actor's only instance, when they have exactly one (a channel that names none:
/// a forward, sftp).
pub async fn only_one(state: &Context, actor: &Actor) -> Result<Option<InstanceView>, OpsError> {
    let listed = menu(state, actor, 2).await?;
    Ok(match which_instance(None, &listed) {
        Which::Only(inst) => Some(inst.clone()),
        Which::Named(_) | Which::Unnamed => None,
    })
}

/// One of the actor's instances by id, or else by name. Two tenants' instances may share
/// a name: then only the id is clear (`jumpbox.ambiguous`).
pub async fn lookup(
    state: &Context,
    actor: &Actor,
    id: Option<InstanceId>,
    name: &str,
) -> Result<InstanceView, OpsError> {
    let scope = scope(actor);
    let name = name.to_string();
    let found = db::run(&state.pool, move |c| match id {
        Some(id) => db::instances::find(c, scope, id).map(|i| vec![i]),
        None => db::instances::find_by_name(c, scope, &name),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "name"))?;
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(OpsError::NotFound),
        (Some(_), Some(_)) => Err(OpsError::Refused("jumpbox.ambiguous")),
    }
}

/// Listed images and specs for the first two wizard steps.
pub async fn offer(state: &Context) -> Result<(Vec<Image>, Vec<Spec>), OpsError> {
    let q = ListQuery {
        q: String::new(),
        listed: Some(true),
        sort: "name",
        desc: false,
        page: 1,
    };
    Ok(db::run(&state.pool, move |c| {
        Ok((
            db::images::list(c, &q, 500)?.rows,
            db::specs::list(c, &q, 500)?.rows,
        ))
    })
    .await?)
}

/// The nodes a listed spec fits on right now (empty for an unknown or unlisted spec).
pub async fn nodes_for_spec(state: &Context, spec_id: i64) -> Result<Vec<NodeChoice>, OpsError> {
    db::run(&state.pool, move |c| {
        let spec = match db::specs::find(c, spec_id) {
            Ok(s) if s.listed => s,
            Ok(_) | Err(db::DbError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        db::instances::nodes_fitting(c, &spec.gpu_model, spec.resources(), NODE_CHOICES)
    })
    .await
    .map_err(OpsError::from)
}

/// Places the instance (node row locked, capacity re-checked,
/// GPU indices assigned) and starts provisioning in the background. The loser of a
/// race for the last resources gets `instance.no_capacity` and nothing is written.
pub async fn create(
    state: &Arc<Context>,
    actor: &Actor,
    v: NewInstance,
) -> Result<InstanceId, OpsError> {
    let owner = db::instances::Owner {
        user_id: actor.user_id,
        company_id: actor.company_id,
    };
    let placed =
        db::transaction_with(&state.pool, move |c| db::instances::place(c, owner, &v)).await;
    let id = match placed {
        Ok(id) => id,
        Err(PlaceError::Db(e)) => return Err(OpsError::from_write(e, "name")),
        Err(PlaceError::Refused(why @ PlacementError::Unavailable(field))) => {
            let mut e = FieldErrors::default();
            e.add(field, why.key());
            return Err(OpsError::Invalid(e));
        }
        Err(PlaceError::Refused(why)) => return Err(OpsError::Placement(why)),
    };
    state.totals.forget();
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if let Err(e) = provision(&state, id).await {
            log::error!(instance = id; "provisioning bookkeeping failed: {e}");
        }
    });
    Ok(id)
}

/// Creates the container of a placed instance and records the outcome: ready with the
/// container id, or failed with the engine's message (capacity and GPUs given back,
/// nothing left on the node: no container, no volume, and no tenant network that no
/// other instance of the tenant uses).
pub async fn provision(state: &Context, id: InstanceId) -> Result<(), OpsError> {
    let row = db::run(&state.pool, move |c| db::instances::plan(c, id)).await?;
    let node_id = row.node_id;
    let tenant = row.tenant();
    let mut plan = container::ContainerPlan {
        instance_id: row.id,
        name: row.name,
        image: row.image,
        cpu_cores: row.cpu_cores,
        memory_gb: row.memory_gb,
        system_disk_gb: row.system_disk_gb,
        data_disk_gb: row.data_disk_gb,
        gpu_indices: row.gpu_indices,
        network: String::new(),
        pids_limit: state.settings.docker.pids_limit,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let pool = state.pool.clone();
    // Progress lines are written in order by one task, finished before the outcome.
    let writer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            let _ = db::run(&pool, move |c| db::instances::set_message(c, id, &line)).await;
        }
    });
    let progress = move |line: String| {
        let _ = tx.send(line);
    };
    let outcome = async {
        let ep = endpoint(state, node_id).await?;
        let d = docker::connect(&ep).await?;
        // pulled before the network's lock is taken: a pull may take minutes
        container::ensure_image(&d, &plan.image, &progress).await?;
        let (guard, network) = tenancy::network(state, &d, node_id, tenant).await?;
        plan.network = network;
        let created = container::provision(&d, &plan, &progress).await;
        if created.is_err() {
            tenancy::prune_held(state, &d, node_id, tenant, id).await;
        }
        drop(guard);
        Ok::<_, OpsError>(created?)
    }
    .await;
    drop(progress);
    let _ = writer.await;
    match outcome {
        Ok(c) => {
            log::info!(instance = id, container = c.container_id.as_str(); "instance ready");
            db::run(&state.pool, move |conn| {
                db::instances::mark_ready(
                    conn,
                    id,
                    &c.container_id,
                    c.status,
                    &c.volume_name,
                    c.disk_quota,
                )
            })
            .await?;
        }
        Err(e) => {
            log::warn!(instance = id; "instance creation failed: {e}");
            let message = e.to_string();
            db::run(&state.pool, move |conn| {
                db::instances::mark_failed(conn, id, &message)
            })
            .await?;
        }
    }
    Ok(())
}

/// The node's engine endpoint with its TLS material (client key decrypted in memory).
pub async fn endpoint(state: &Context, node_id: NodeId) -> Result<Endpoint, OpsError> {
    let a = db::run(&state.pool, move |c| db::nodes::docker_access(c, node_id)).await?;
    if a.docker_endpoint.is_empty() {
        return Err(docker::DockerError::Config("the node has no Docker endpoint".into()).into());
    }
    let tls = if a.use_tls && a.docker_endpoint.starts_with("tcp://") {
        let key = match &a.client_key_enc {
            Some(sealed) => state.master.decrypt(sealed)?,
            None => String::new(),
        };
        Some(TlsMaterial {
            ca_pem: a.ca_cert,
            cert_pem: a.client_cert,
            key_pem: key,
        })
    } else {
        None
    };
    Ok(Endpoint {
        url: a.docker_endpoint,
        tls,
    })
}

/// Start, stop or restart the container; returns the instance as it is afterwards.
pub async fn act(
    state: &Context,
    actor: &Actor,
    id: InstanceId,
    action: container::Action,
) -> Result<InstanceView, OpsError> {
    let inst = get(state, actor, id).await?;
    if !inst.phase.is_ready() {
        return Err(OpsError::Refused("instance.not_ready"));
    }
    let ep = endpoint(state, inst.node_id).await?;
    let d = docker::connect(&ep).await?;
    if matches!(
        action,
        container::Action::Start | container::Action::Restart
    ) {
        // SECURITY: a container made before tenant networks (on the default bridge)
        // starts on its tenant's network only
        match tenancy::settle(state, &d, inst.node_id, inst.tenant(), &inst.container_id).await {
            Ok(_) | Err(OpsError::Docker(docker::DockerError::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
    }
    let status = match container::act(&d, &inst.container_id, action).await {
        Err(docker::DockerError::NotFound(_)) => State::Missing,
        other => other?,
    };
    db::run(&state.pool, move |c| {
        db::instances::set_status(c, id, status)
    })
    .await?;
    get(state, actor, id).await
}

/// Removes the container (forced) and its data volume, then the row. If the engine
/// fails, the instance stays with the error and can be deleted again.
pub async fn delete(state: &Context, actor: &Actor, id: InstanceId) -> Result<(), OpsError> {
    let inst = get(state, actor, id).await?;
    if !db::run(&state.pool, move |c| db::instances::begin_delete(c, id)).await? {
        return Err(OpsError::Refused("instance.busy"));
    }
    let removed = async {
        if inst.container_id.is_empty() {
            // never recorded (a failed creation, or one a stopped server cut off): what
            // provisioning may have made, by name. A node no connection can even be
            // configured for cannot hold anything made through one.
            return match remove_leftovers(state, inst.node_id, id, &inst.name).await {
                Err(OpsError::Docker(docker::DockerError::Config(_))) => Ok(()),
                other => other,
            };
        }
        let ep = endpoint(state, inst.node_id).await?;
        let d = docker::connect(&ep).await?;
        container::remove(&d, &inst.container_id, Some(&inst.volume_name)).await?;
        Ok::<(), OpsError>(())
    }
    .await;
    match removed {
        Ok(()) => {
            db::run(&state.pool, move |c| db::instances::delete(c, id)).await?;
            state.totals.forget();
            prune_network(state, inst.node_id, inst.tenant(), id).await;
            Ok(())
        }
        Err(e) => {
            let message = e.to_string();
            db::run(&state.pool, move |c| {
                db::instances::delete_failed(c, id, &message)
            })
            .await?;
            Err(e)
        }
    }
}

/// The tenant's network on the node once instance `id` is gone, if nothing else uses it.
async fn prune_network(state: &Context, node_id: NodeId, tenant: Tenant, id: InstanceId) {
    let Ok(ep) = endpoint(state, node_id).await else {
        return;
    };
    match docker::connect(&ep).await {
        Ok(d) => tenancy::prune(state, &d, node_id, tenant, id).await,
        Err(e) => log::warn!(node = node_id; "tenant network not pruned: {e}"),
    }
}

/// Removes what provisioning may have made for an instance whose container id was never
/// recorded: the container and the data volume, by the names provisioning gives them
/// (either being absent is fine).
pub async fn remove_leftovers(
    state: &Context,
    node_id: NodeId,
    id: InstanceId,
    name: &str,
) -> Result<(), OpsError> {
    let ep = endpoint(state, node_id).await?;
    let d = docker::connect(&ep).await?;
    let volume = container::volume_name(id, name);
    container::remove(&d, &container::container_name(id, name), Some(&volume)).await?;
    Ok(())
}
