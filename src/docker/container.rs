//! The container of an instance: the exact Engine API body its spec maps to, creation
//! with the system-disk fallback and clean-up, and the lifecycle actions. Every container
//! is hardened the same way (PIDs limit, no NET_RAW, no-new-privileges) and sits on its
//! tenant's network only, never on the default bridge.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HostConfig, Mount, MountType,
    NetworkingConfig, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::DockerError;
use crate::domain::ids::InstanceId;

/// The labels that tie containers and volumes to their instance (id and unique name).
pub const LABEL_INSTANCE: &str = "suanli.instance";
pub const LABEL_NAME: &str = "suanli.name";
const GIB: i64 = 1024 * 1024 * 1024;
/// Pull progress reaches the instance's row at most this often.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
/// Seconds `stop`/`restart` wait for the container before killing it.
const STOP_TIMEOUT_SECS: i32 = 10;
/// Capabilities no instance gets: NET_RAW would let a tenant forge packets (ARP/IP
/// spoofing on its bridge, raw sniffing). Plain ping still works through ICMP datagram
/// sockets where the image's ping uses them (Docker opens net.ipv4.ping_group_range).
pub const CAP_DROP: &[&str] = &["NET_RAW"];
/// setuid binaries and file capabilities grant nothing inside an instance
pub const SECURITY_OPT: &[&str] = &["no-new-privileges"];

/// Everything the container of one instance is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPlan {
    pub instance_id: InstanceId,
    /// the instance name, also the container's host name
    pub name: String,
    pub image: String,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
    pub gpu_indices: Vec<i32>,
    /// the tenant's network (id or name): the container's only network
    pub network: String,
    /// `--pids-limit` (docker.pids_limit)
    pub pids_limit: i64,
}

/// The container of instance `id` named `name`.
pub fn container_name(id: InstanceId, name: &str) -> String {
    format!("suanli-{id}-{name}")
}

/// The data volume of instance `id` named `name` (when its spec has a data disk).
pub fn volume_name(id: InstanceId, name: &str) -> String {
    format!("suanli-{id}-{name}-data")
}

impl ContainerPlan {
    pub fn container_name(&self) -> String {
        container_name(self.instance_id, &self.name)
    }

    /// The data volume, or None when the spec has no data disk.
    pub fn volume_name(&self) -> Option<String> {
        (self.data_disk_gb > 0).then(|| volume_name(self.instance_id, &self.name))
    }

    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_INSTANCE.to_string(), self.instance_id.to_string()),
            (LABEL_NAME.to_string(), self.name.clone()),
        ])
    }

    /// The create body: `--cpus`, `--memory`, `--storage-opt size=` (when `disk_quota`),
    /// the data volume at /data, `--gpus` with the assigned indices, labels, host name,
    /// restart policy unless-stopped, `--network` = the tenant's network only,
    /// `--pids-limit`, `--cap-drop NET_RAW` and `--security-opt no-new-privileges`.
    pub fn create_body(&self, disk_quota: bool) -> ContainerCreateBody {
        let gpus: Vec<String> = self.gpu_indices.iter().map(|i| i.to_string()).collect();
        let host = HostConfig {
            nano_cpus: (self.cpu_cores > 0).then(|| i64::from(self.cpu_cores) * 1_000_000_000),
            memory: (self.memory_gb > 0).then(|| i64::from(self.memory_gb) * GIB),
            storage_opt: (disk_quota && self.system_disk_gb > 0).then(|| {
                HashMap::from([("size".to_string(), format!("{}G", self.system_disk_gb))])
            }),
            mounts: self.volume_name().map(|v| {
                vec![Mount {
                    target: Some("/data".into()),
                    source: Some(v),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]
            }),
            device_requests: (!gpus.is_empty()).then(|| {
                vec![DeviceRequest {
                    driver: Some("nvidia".into()),
                    device_ids: Some(gpus),
                    capabilities: Some(vec![vec!["gpu".into()]]),
                    ..Default::default()
                }]
            }),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            // SECURITY: the tenant's own bridge, never Docker's shared default one
            network_mode: Some(self.network.clone()),
            // SECURITY: a fork bomb stops here instead of exhausting the node's PIDs
            pids_limit: (self.pids_limit > 0).then_some(self.pids_limit),
            cap_drop: Some(CAP_DROP.iter().map(|c| c.to_string()).collect()),
            security_opt: Some(SECURITY_OPT.iter().map(|o| o.to_string()).collect()),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(self.image.clone()),
            hostname: Some(self.name.clone()),
            labels: Some(self.labels()),
            tty: Some(false),
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings::default(),
                )])),
            }),
            ..Default::default()
        }
    }
}

/// The engine refused the size storage option (overlay2 quotas need xfs with pquota).
pub fn is_storage_opt_refusal(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("storage-opt") || m.contains("storage opt") || m.contains("storageopt")
}

/// A created and started container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub container_id: String,
    pub status: State,
    pub volume_name: String,
    /// false: the engine refused `--storage-opt size`, the system disk is not limited
    pub disk_quota: bool,
}

/// Pulls the image when the node lacks it, creates the data volume and the container
/// (on `plan.network`, which must exist), starts it. On any failure whatever was created is removed before the error returns.
/// `progress` receives short lines while pulling.
pub async fn provision(
    docker: &Docker,
    plan: &ContainerPlan,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Created, DockerError> {
    ensure_image(docker, &plan.image, progress).await?;
    let volume = plan.volume_name();
    if let Some(v) = &volume {
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(v.clone()),
                labels: Some(plan.labels()),
                ..Default::default()
            })
            .await
            .map_err(engine)?;
    }
    let created = create_and_start(docker, plan).await;
    match created {
        Ok((container_id, disk_quota)) => {
            let status = status(docker, &container_id).await.unwrap_or_default();
            Ok(Created {
                container_id,
                status,
                volume_name: volume.unwrap_or_default(),
                disk_quota,
            })
        }
        Err((container_id, e)) => {
            // Clean-up is best effort; the original error is what the user needs.
            if let Some(id) = container_id {
                let _ = remove(docker, &id, None).await;
            }
            if let Some(v) = &volume {
                let _ = remove(docker, "", Some(v)).await;
            }
            Err(e)
        }
    }
}

/// Creates (falling back to no disk quota when the engine refuses it) and starts.
/// On error also returns the id of a container that was created, for clean-up.
async fn create_and_start(
    docker: &Docker,
    plan: &ContainerPlan,
) -> Result<(String, bool), (Option<String>, DockerError)> {
    let options = || {
        Some(
            CreateContainerOptionsBuilder::default()
                .name(&plan.container_name())
                .build(),
        )
    };
    let mut disk_quota = plan.system_disk_gb > 0;
    let created = match docker
        .create_container(options(), plan.create_body(disk_quota))
        .await
    {
        Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            if disk_quota && is_storage_opt_refusal(&message) =>
        {
            log::info!(instance = plan.instance_id; "engine refused the system-disk quota, creating without it: {message}");
            disk_quota = false;
            docker
                .create_container(options(), plan.create_body(false))
                .await
        }
        other => other,
    };
    let id = created.map_err(|e| (None, engine(e)))?.id;
    docker
        .start_container(&id, None)
        .await
        .map_err(|e| (Some(id.clone()), engine(e)))?;
    Ok((id, disk_quota))
}

/// Pulls `image` unless the node has it. `progress` gets the engine's newest line at
/// most every `PROGRESS_EVERY`, and also when the engine then goes quiet (a download that
/// stalls still shows how far it got).
pub async fn ensure_image(
    docker: &Docker,
    image: &str,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(), DockerError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(engine(e)),
    }
    progress(format!("pulling {image}"));
    let options = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    let mut last = std::time::Instant::now();
    // the newest line not shown yet (lines are shown at most every PROGRESS_EVERY); shown
    // when that time has come even if the engine says nothing more (a stalled download)
    let mut pending: Option<String> = None;
    loop {
        let item = match pending.take() {
            Some(line) => {
                let wait = PROGRESS_EVERY.saturating_sub(last.elapsed());
                match tokio::time::timeout(wait, stream.next()).await {
                    // the engine's next line supersedes it
                    Ok(item) => item,
                    Err(_) => {
                        last = std::time::Instant::now();
                        progress(line);
                        continue;
                    }
                }
            }
            None => stream.next().await,
        };
        let Some(item) = item else { break };
        let info = item.map_err(engine)?;
        let status = info.status.unwrap_or_default();
        let line = match info.progress_detail.and_then(|d| d.current.zip(d.total)) {
            Some((current, total)) if total > 0 => {
                format!("{status} {} / {} MB", current >> 20, total >> 20)
            }
            _ => status,
        };
        let line = format!("pulling {image}: {line}");
        if last.elapsed() >= PROGRESS_EVERY {
            last = std::time::Instant::now();
            pending = None;
            progress(line);
        } else {
            pending = Some(line);
        }
    }
    Ok(())
}

/// The container's state (created, running, exited, …).
pub async fn status(docker: &Docker, container_id: &str) -> Result<State, DockerError> {
    let c = docker
        .inspect_container(container_id, None)
        .await
        .map_err(engine)?;
    Ok(c.state
        .and_then(|s| s.status)
        .map_or(State::Unknown, |s| State::parse(s.as_ref())))
}

pub use crate::domain::container::{Action, State};

/// Runs a lifecycle action and returns the container's state afterwards. Starting a
/// running or stopping a stopped container is not an error (the engine answers 304).
pub async fn act(
    docker: &Docker,
    container_id: &str,
    action: Action,
) -> Result<State, DockerError> {
    let r = match action {
        Action::Start => docker.start_container(container_id, None).await,
        Action::Stop => {
            let o = StopContainerOptionsBuilder::default()
                .t(STOP_TIMEOUT_SECS)
                .build();
            docker.stop_container(container_id, Some(o)).await
        }
        Action::Restart => {
            let o = RestartContainerOptionsBuilder::default()
                .t(STOP_TIMEOUT_SECS)
                .build();
            docker.restart_container(container_id, Some(o)).await
        }
    };
    match r {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => {}
        Err(e) => return Err(engine(e)),
    }
    status(docker, container_id).await
}

/// Removes the container (forced) and the data volume. Either being already gone is
/// success; an empty id or None skips that part.
pub async fn remove(
    docker: &Docker,
    container_id: &str,
    volume: Option<&str>,
) -> Result<(), DockerError> {
    if !container_id.is_empty() {
        let o = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        match docker
            .remove_container(container_id, Some(o))
            .await
            .map_err(engine)
        {
            Ok(()) | Err(DockerError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(v) = volume.filter(|v| !v.is_empty()) {
        let o = RemoveVolumeOptionsBuilder::default().force(true).build();
        match docker.remove_volume(v, Some(o)).await.map_err(engine) {
            Ok(()) | Err(DockerError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn engine(e: bollard::errors::Error) -> DockerError {
    DockerError::from_bollard(e, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(gpus: Vec<i32>) -> ContainerPlan {
        ContainerPlan {
            instance_id: InstanceId(7),
            name: "train-a".into(),
            image: "suanli-test/busybox:1".into(),
            cpu_cores: 2,
            memory_gb: 4,
            system_disk_gb: 20,
            data_disk_gb: 50,
            gpu_indices: gpus,
            network: "suanli-tenant-c3".into(),
            pids_limit: 4096,
        }
    }

    #[test]
    fn spec_maps_to_the_engine_fields() {
        let b = plan(vec![1, 3]).create_body(true);
        let h = b.host_config.unwrap();
        assert_eq!(h.nano_cpus, Some(2_000_000_000));
        assert_eq!(h.memory, Some(4 * 1024 * 1024 * 1024));
        assert_eq!(h.storage_opt.unwrap()["size"], "20G");
        let m = &h.mounts.unwrap()[0];
        assert_eq!(
            (m.target.as_deref(), m.source.as_deref()),
            (Some("/data"), Some("suanli-7-train-a-data"))
        );
        let d = &h.device_requests.unwrap()[0];
        assert_eq!(d.driver.as_deref(), Some("nvidia"));
        assert_eq!(d.device_ids, Some(vec!["1".to_string(), "3".to_string()]));
        assert_eq!(d.capabilities, Some(vec![vec!["gpu".to_string()]]));
        assert_eq!(
            h.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert_eq!(b.hostname.as_deref(), Some("train-a"));
        assert_eq!(b.labels.unwrap()[LABEL_INSTANCE], "7");
    }

    #[test]
    fn every_container_is_hardened_and_on_its_tenant_network_only() {
        let b = plan(vec![]).create_body(false);
        let h = b.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("suanli-tenant-c3"));
        let endpoints = b.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(
            endpoints.keys().collect::<Vec<_>>(),
            vec!["suanli-tenant-c3"],
            "one network, not the default bridge"
        );
        assert_eq!(h.pids_limit, Some(4096));
        assert_eq!(h.cap_drop, Some(vec!["NET_RAW".to_string()]));
        assert_eq!(h.security_opt, Some(vec!["no-new-privileges".to_string()]));
        let mut p = plan(vec![]);
        p.pids_limit = 0;
        assert_eq!(
            p.create_body(false).host_config.unwrap().pids_limit,
            None,
            "0: the engine's default"
        );
    }

    #[test]
    fn no_gpu_no_quota_no_volume_when_not_asked() {
        let mut p = plan(vec![]);
        p.data_disk_gb = 0;
        let h = p.create_body(false).host_config.unwrap();
        assert!(h.device_requests.is_none());
        assert!(h.storage_opt.is_none());
        assert!(h.mounts.is_none());
        assert_eq!(p.volume_name(), None);
        assert_eq!(p.container_name(), "suanli-7-train-a");
    }

    #[test]
    fn storage_opt_refusals_are_recognised() {
        assert!(is_storage_opt_refusal(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
        ));
        assert!(!is_storage_opt_refusal("No such image: x"));
    }
}
