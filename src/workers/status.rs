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

use tokio::task::JoinHandle;

use crate::domain::ids::NodeId;
use crate::ops::{self, Context};

/// Starts the supervisor (it runs until the process ends).
pub fn spawn(state: Arc<Context>) -> JoinHandle<()> {
    tokio::spawn(supervise(state))
}

/// How often the supervisor looks for nodes that got their first container.
const DISCOVER_EVERY: Duration = Duration::from_secs(1);

async fn supervise(state: Arc<Context>) {
    let every = Duration::from_secs(state.settings.docker.reconcile_secs);
    let mut followers: HashMap<NodeId, (String, JoinHandle<()>)> = HashMap::new();
    loop {
        match ops::status::nodes_to_follow(&state).await {
            Ok(nodes) => {
                let wanted: HashMap<NodeId, String> = nodes.into_iter().collect();
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
async fn follow(state: Arc<Context>, node_id: NodeId, every: Duration) {
    loop {
        let why = match ops::status::watch(&state, node_id, every).await {
            Ok(()) => "event stream ended".to_string(),
            Err(e) => e.to_string(),
        };
        log::warn!(node = node_id; "docker engine unreachable: {why}");
        ops::status::mark_unreachable(&state, node_id, why).await;
        tokio::time::sleep(every).await;
    }
}
