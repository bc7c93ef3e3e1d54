//! Instance states as the nodes' engines report them (自动更新容器状态): follows one
//! node's container events, compares every ready instance with a full container listing,
//! and moves containers that are not on their tenant's network onto it. The status
//! worker (workers/status.rs) runs `watch` once per node and decides when.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;

use super::{Context, OpsError};
use crate::db;
use crate::docker::{self, DockerError, container};
use crate::domain::container::State;
use crate::domain::ids::NodeId;
use crate::domain::tenancy;

/// The nodes that have containers, each with the fingerprint of its endpoint and TLS
/// material (a follower restarts when it changes).
pub async fn nodes_to_follow(state: &Context) -> Result<Vec<(NodeId, String)>, OpsError> {
    Ok(db::run(&state.pool, db::instances::nodes_with_containers).await?)
}

/// Records that the node's engine cannot be reached, and why (its instances show it). A
/// failed write is left for the next try.
pub async fn mark_unreachable(state: &Context, node_id: NodeId, why: String) {
    let _ = db::run(&state.pool, move |c| {
        db::nodes::set_docker_state(c, node_id, "unreachable", &why)
    })
    .await;
}

/// Connects, subscribes to events, reconciles, then applies events and reconciles
/// periodically until the engine goes away.
pub async fn watch(state: &Context, node_id: NodeId, every: Duration) -> Result<(), OpsError> {
    let ep = super::instances::endpoint(state, node_id).await?;
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
                            Err(DockerError::NotFound(_)) => State::Missing,
                            Err(e) => return Err(e.into()),
                        };
                        db::run(&state.pool, move |c| {
                            db::instances::set_status_of_container(c, node_id, &id, status)
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
async fn reconcile(state: &Context, node_id: NodeId, d: &Docker) -> Result<(), OpsError> {
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
    let mut states: HashMap<String, State> = HashMap::new();
    let mut networks: HashMap<String, Vec<String>> = HashMap::new();
    for c in listing {
        let Some(id) = c.id else { continue };
        let names = c
            .network_settings
            .and_then(|n| n.networks)
            .map(|n| n.into_keys().collect())
            .unwrap_or_default();
        networks.insert(id.clone(), names);
        states.insert(
            id,
            c.state.map_or(State::Unknown, |s| State::parse(s.as_ref())),
        );
    }
    let rows = db::run(&state.pool, move |c| {
        db::nodes::set_docker_state(c, node_id, "ok", "")?;
        let rows = db::instances::containers_of_node(c, node_id)?;
        for r in &rows {
            let now = states
                .get(&r.container_id)
                .copied()
                .unwrap_or(State::Missing);
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
        let want = super::tenancy::network_name(state, r.tenant());
        if tenancy::is_placed(names, &want) {
            continue;
        }
        if let Err(e) = super::tenancy::settle(state, d, node_id, r.tenant(), &r.container_id).await
        {
            log::warn!(node = node_id, instance = r.id; "container not moved to its tenant network: {e}");
        }
    }
    Ok(())
}
