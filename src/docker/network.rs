//! Tenant bridge networks on an engine: finding or creating a tenant's network (labelled
//! `suanli.tenant`), moving a container onto it only, and removing it once empty. The
//! decisions are domain/tenancy.rs's; serialising them per tenant is ops/tenancy.rs's.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::DockerError;
use crate::domain::tenancy::{self, NetworkChoice, NetworkSeen};

/// The label that marks a network as a Suanli tenant's; its value is the tenant key.
pub const LABEL_TENANT: &str = "suanli.tenant";

/// The id of the network `name` of tenant `key`, created when missing. Safe to run
/// twice at once: an engine that creates a second network of the same name (Docker
/// before API 1.44 does when two creates race, even with CheckDuplicate) gets the
/// younger ones removed, and every caller uses the oldest. A network of that name that
/// is not labelled as this tenant's is refused.
pub async fn ensure(docker: &Docker, name: &str, key: &str) -> Result<String, DockerError> {
    for _ in 0..3 {
        match tenancy::choose_network(&list(docker, name).await?, name, key) {
            NetworkChoice::Use { id, duplicates } => {
                for dup in duplicates {
                    // a duplicate someone attached to meanwhile stays; the status
                    // worker moves its container to the one in use
                    let _ = docker.remove_network(&dup).await;
                }
                return Ok(id);
            }
            NetworkChoice::Foreign => {
                return Err(DockerError::Engine(format!(
                    "network {name} exists but is not labelled {LABEL_TENANT}={key}; \
                     remove or rename it"
                )));
            }
            NetworkChoice::Create => {
                let created = docker
                    .create_network(NetworkCreateRequest {
                        name: name.to_string(),
                        driver: Some("bridge".into()),
                        labels: Some(HashMap::from([(LABEL_TENANT.to_string(), key.to_string())])),
                        ..Default::default()
                    })
                    .await;
                match created {
                    Ok(_) => {}
                    // created by someone else at the same moment: list again
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 409,
                        ..
                    }) => {}
                    Err(e) => return Err(engine(e)),
                }
            }
        }
    }
    Err(DockerError::Engine(format!(
        "network {name} could not be created"
    )))
}

/// Networks whose name contains `name` (the engine's filter matches substrings).
async fn list(docker: &Docker, name: &str) -> Result<Vec<NetworkSeen>, DockerError> {
    let filters = HashMap::from([("name", vec![name])]);
    let found = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(engine)?;
    Ok(found
        .into_iter()
        .filter_map(|n| {
            Some(NetworkSeen {
                id: n.id?,
                name: n.name?,
                created: n.created.unwrap_or_default(),
                tenant_label: n.labels.and_then(|mut l| l.remove(LABEL_TENANT)),
            })
        })
        .collect())
}

/// The ids of the networks the container is on (a container never started has no
/// network ids yet: those are looked up by name; a vanished one is kept by name so it
/// can still be disconnected).
pub async fn networks_of(docker: &Docker, container_id: &str) -> Result<Vec<String>, DockerError> {
    let c = docker
        .inspect_container(container_id, None)
        .await
        .map_err(engine)?;
    let mut ids = Vec::new();
    for (name, e) in c
        .network_settings
        .and_then(|s| s.networks)
        .unwrap_or_default()
    {
        match e.network_id.filter(|id| !id.is_empty()) {
            Some(id) => ids.push(id),
            None => match docker.inspect_network(&name, None).await.map_err(engine) {
                Ok(n) => ids.push(n.id.unwrap_or(name)),
                Err(DockerError::NotFound(_)) => ids.push(name),
                Err(e) => return Err(e),
            },
        }
    }
    Ok(ids)
}

/// The container's IPv4 address on the network named `network` (its tenant's), for the
/// jumpbox's port forwards; None when it is not running or not on that network (an
/// older container still on the default bridge, which a start moves).
pub async fn address_on(
    docker: &Docker,
    container_id: &str,
    network: &str,
) -> Result<Option<std::net::IpAddr>, DockerError> {
    let c = docker
        .inspect_container(container_id, None)
        .await
        .map_err(engine)?;
    let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    if !running {
        return Ok(None);
    }
    // SECURITY: only the address the container holds on its own tenant network; never
    // one on another network, never the host's
    Ok(c.network_settings
        .and_then(|s| s.networks)
        .and_then(|mut n| n.remove(network))
        .and_then(|e| e.ip_address)
        .and_then(|ip| ip.parse().ok()))
}

/// Puts the container on network `want` (an id) and takes it off every other one (the
/// default bridge included). Works on running and stopped containers; a running one
/// gets a new address on `want`. Returns whether anything changed.
pub async fn place(docker: &Docker, container_id: &str, want: &str) -> Result<bool, DockerError> {
    let current = networks_of(docker, container_id).await?;
    let m = tenancy::plan_move(&current, want);
    if m.connect {
        docker
            .connect_network(
                want,
                NetworkConnectRequest {
                    container: container_id.to_string(),
                    endpoint_config: None,
                },
            )
            .await
            .map_err(engine)?;
    }
    for other in &m.disconnect {
        match docker
            .disconnect_network(
                other,
                NetworkDisconnectRequest {
                    container: container_id.to_string(),
                    force: Some(true),
                },
            )
            .await
            .map_err(engine)
        {
            Ok(()) | Err(DockerError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(m.is_needed())
}

/// Removes the tenant network `name` (every network of that exact name labelled as
/// Suanli's) when no container is attached. A network in use or already gone is left
/// alone; returns whether one was removed.
pub async fn remove_if_unused(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    let mut removed = false;
    for n in list(docker, name).await? {
        if n.name != name || n.tenant_label.is_none() {
            continue;
        }
        let inspected = match docker.inspect_network(&n.id, None).await {
            Ok(i) => i,
            Err(e) => match engine(e) {
                DockerError::NotFound(_) => continue,
                other => return Err(other),
            },
        };
        if inspected.containers.is_some_and(|c| !c.is_empty()) {
            continue;
        }
        // the engine refuses a network with endpoints (403) and a vanished one (404)
        match docker.remove_network(&n.id).await {
            Ok(()) => removed = true,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 403 | 404 | 409,
                ..
            }) => {}
            Err(e) => return Err(engine(e)),
        }
    }
    Ok(removed)
}

fn engine(e: bollard::errors::Error) -> DockerError {
    DockerError::from_bollard(e, "")
}
