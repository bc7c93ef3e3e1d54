//! Keeps instance states current (自动更新容器状态). One follower task per node that has
//! containers: it subscribes to the engine's container events (labelled by us), then
//! compares every ready instance with a full container listing, and again every
//! `docker.reconcile_secs` (moving containers that are not on their tenant's network
//! only onto it). A node that cannot be reached is marked unreachable (its
//! instances show it); its instances are left alone. A supervisor starts followers for
//! new nodes and restarts them when a node's endpoint or TLS material changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::db;
use crate::docker::{self, DockerError, container};
use crate::domain::tenancy;
use crate::ops::Context;
use crate::ops::{self, OpsError};

/// Starts the supervisor (it runs until the process ends).
pub fn spawn(state: Arc<Context>) -> JoinHandle<()> {
    tokio::spawn(supervise(state))
}

/// How often the supervisor looks for nodes that got their first container.
const DISCOVER_EVERY: Duration = Duration::from_secs(1);

async fn supervise(state: Arc<Context>) {
    let every = Duration::from_secs(state.settings.docker.reconcile_secs);
    let mut followers: HashMap<i64, (String, JoinHandle<()>)> = HashMap::new();
    loop {
        match db::run(&state.pool, db::instances::nodes_with_containers).await {
            Ok(nodes) => {
                let wanted: HashMap<i64, String> = nodes.into_iter().collect();
                followers.retain(|id, (fingerprint, task)| {
                    let keep = wanted.get(id) == Some(fingerprint) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for (id, fingerprint) in wanted {
                    followers.entry(id).or_insert_with(|| {
                        (
                            fingerprint,
                            tokio::spawn(follow(Arc::clone(&state), id, every)),
                        )
                    });
                }
            }
            Err(e) => log::warn!("status worker: cannot list nodes: {e}"),
        }
        tokio::time::sleep(DISCOVER_EVERY.min(every)).await;
    }
}

/// Follows one node forever: on any failure the node is marked unreachable and the
/// connection is tried again after `every`.
async fn follow(state: Arc<Context>, node_id: i64, every: Duration) {
    loop {
        let why = match watch(&state, node_id, every).await {
            Ok(()) => "event stream ended".to_string(),
            Err(e) => e.to_string(),
        };
        log::warn!(node = node_id; "docker engine unreachable: {why}");
        let _ = db::run(&state.pool, move |c| {
            db::nodes::set_docker_state(c, node_id, "unreachable", &why)
        })
        .await;
        tokio::time::sleep(every).await;
    }
}

/// Connects, subscribes to events, reconciles, then applies events and reconciles
/// periodically until the engine goes away.
async fn watch(state: &Context, node_id: i64, every: Duration) -> Result<(), OpsError> {
    let ep = ops::instances::endpoint(state, node_id).await?;
    let d = docker::connect(&ep).await?;
    let filters = HashMap::from([
        ("type", vec!["container"]),
        ("label", vec![container::LABEL_INSTANCE]),
    ]);
    let mut events = d.events(Some(
        EventsOptionsBuilder::default().filters(&filters).build(),
    ));
    // Subscribed first, listed second: no change falls between the two.
    reconcile(state, node_id, &d).await?;
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if let Some(id) = ev.actor.and_then(|a| a.id) {
                        let status = match container::status(&d, &id).await {
                            Ok(s) => s,
                            Err(DockerError::NotFound(_)) => "missing".to_string(),
                            Err(e) => return Err(e.into()),
                        };
                        db::run(&state.pool, move |c| {
                            db::instances::set_status_of_container(c, node_id, &id, &status)
                        })
                        .await?;
                    }
                }
                Some(Err(e)) => return Err(DockerError::from_bollard(e, &ep.url).into()),
                None => return Ok(()),
            },
            _ = tick.tick() => reconcile(state, node_id, &d).await?,
        }
    }
}

/// Compares every ready instance of the node with the engine's container listing, and
/// moves a container that is not on exactly its tenant's network (one made before tenant
/// networks sits on the default bridge) onto it.
async fn reconcile(state: &Context, node_id: i64, d: &Docker) -> Result<(), OpsError> {
    let filters = HashMap::from([("label", vec![container::LABEL_INSTANCE])]);
    let listing = d
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| DockerError::from_bollard(e, ""))?;
    let mut states: HashMap<String, String> = HashMap::new();
    let mut networks: HashMap<String, Vec<String>> = HashMap::new();
    for c in listing {
        let Some(id) = c.id else { continue };
        let names = c
            .network_settings
            .and_then(|n| n.networks)
            .map(|n| n.into_keys().collect())
            .unwrap_or_default();
        networks.insert(id.clone(), names);
        states.insert(id, c.state.map(|s| s.to_string()).unwrap_or_default());
    }
    let rows = db::run(&state.pool, move |c| {
        db::nodes::set_docker_state(c, node_id, "ok", "")?;
        let rows = db::instances::containers_of_node(c, node_id)?;
        for r in &rows {
            let now = states
                .get(&r.container_id)
                .map_or("missing", String::as_str);
            if now != r.status {
                db::instances::set_status_of_container(c, node_id, &r.container_id, now)?;
            }
        }
        Ok(rows)
    })
    .await?;
    for r in rows {
        let Some(names) = networks.get(&r.container_id) else {
            continue;
        };
        // SECURITY: tenants share no network; the cheap check first, by name
        let want = ops::tenancy::network_name(state, r.tenant());
        if tenancy::is_placed(names, &want) {
            continue;
        }
        if let Err(e) = ops::tenancy::settle(state, d, node_id, r.tenant(), &r.container_id).await {
            log::warn!(node = node_id, instance = r.id; "container not moved to its tenant network: {e}");
        }
    }
    Ok(())
}
