//! Tenant networks on the Docker nodes (issue #14): every instance container sits on its
//! tenant's own bridge network, made on demand, and the network goes once the tenant's
//! last instance on the node is deleted. Everything that creates, joins or removes a
//! tenant network on a node runs under that network's lock, so a removal can never
//! slip between another instance's "the network exists" and its container's start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use tokio::sync::OwnedMutexGuard;

use super::OpsError;
use crate::db;
use crate::docker::network;
use crate::domain::ids::{InstanceId, NodeId};
use crate::domain::tenancy::Tenant;
use crate::ops::Context;

/// A node id and a tenant network name.
type NodeNetwork = (NodeId, String);

/// One lock per (node, tenant network) in this process.
#[derive(Debug, Default)]
pub struct Locks(Mutex<HashMap<NodeNetwork, Arc<tokio::sync::Mutex<()>>>>);

impl Locks {
    async fn hold(&self, node_id: NodeId, name: &str) -> OwnedMutexGuard<()> {
        let lock = match self.0.lock() {
            Ok(mut map) => Arc::clone(
                map.entry((node_id, name.to_string()))
                    .or_insert_with(Default::default),
            ),
            // a panic while the map was held: lock nothing rather than everything
            Err(_) => Arc::default(),
        };
        lock.lock_owned().await
    }
}

/// The tenant's network name under this panel's prefix.
pub fn network_name(state: &Context, tenant: Tenant) -> String {
    tenant.network_name(&state.settings.docker.tenant_network_prefix)
}

/// The tenant's network on the node (created when missing), with its lock held: keep
/// the guard until the container using the network has started.
pub async fn network(
    state: &Context,
    docker: &Docker,
    node_id: NodeId,
    tenant: Tenant,
) -> Result<(OwnedMutexGuard<()>, String), OpsError> {
    let name = network_name(state, tenant);
    let guard = state.tenant_locks.hold(node_id, &name).await;
    let id = network::ensure(docker, &name, &tenant.key()).await?;
    Ok((guard, id))
}

/// Moves an existing container (one made on the default bridge before tenant networks,
/// or left on a duplicate network) onto its tenant's network only. Returns whether it
/// was moved.
pub async fn settle(
    state: &Context,
    docker: &Docker,
    node_id: NodeId,
    tenant: Tenant,
    container_id: &str,
) -> Result<bool, OpsError> {
    let (_guard, id) = network(state, docker, node_id, tenant).await?;
    let moved = network::place(docker, container_id, &id).await?;
    if moved {
        log::info!(node = node_id, container = container_id; "container moved to its tenant network {}", network_name(state, tenant));
    }
    Ok(moved)
}

/// After instance `except` of the tenant is gone from the node (deleted, or failed with
/// nothing left): removes the tenant's network when no other instance of the tenant is
/// on the node and no container is attached. Best effort: a failure only leaves an
/// empty network, which the next instance of the tenant reuses.
pub async fn prune(
    state: &Context,
    docker: &Docker,
    node_id: NodeId,
    tenant: Tenant,
    except: InstanceId,
) {
    let name = network_name(state, tenant);
    let _guard = state.tenant_locks.hold(node_id, &name).await;
    prune_held(state, docker, node_id, tenant, except).await;
}

/// `prune` for a caller that already holds the network's lock (from `network`).
pub async fn prune_held(
    state: &Context,
    docker: &Docker,
    node_id: NodeId,
    tenant: Tenant,
    except: InstanceId,
) {
    let name = network_name(state, tenant);
    let others = db::run(&state.pool, move |c| {
        db::instances::tenant_has_others(c, node_id, tenant, except)
    })
    .await;
    match others {
        Ok(false) => match network::remove_if_unused(docker, &name).await {
            Ok(true) => {
                log::info!(node = node_id; "tenant network {name} removed (no instance left)")
            }
            Ok(false) => {}
            Err(e) => log::warn!(node = node_id; "tenant network {name} not removed: {e}"),
        },
        Ok(true) => {}
        Err(e) => log::warn!(node = node_id; "tenant network {name} kept: {e}"),
    }
}
