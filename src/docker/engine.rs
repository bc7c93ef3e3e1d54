//! What an engine says about itself (`/info`, `/version`): the node form's 测试连接 and
//! the capacity of the local node registered on the first start.

use bollard::Docker;
use bollard::models::GenericResourcesInner;

use super::{DockerError, Endpoint, connect};

/// An engine's facts, as the operator reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineFacts {
    pub version: String,
    pub os: String,
    pub cpus: i64,
    pub memory_bytes: i64,
    pub storage_driver: String,
    /// the engine's runtimes include `nvidia` (the NVIDIA container toolkit)
    pub nvidia_runtime: bool,
    /// GPUs the engine advertises as generic resources (swarm's `NVIDIA-GPU=…`), if any
    pub gpus: Vec<String>,
    /// where the engine keeps images, containers and volumes
    pub root_dir: String,
}

impl EngineFacts {
    /// Memory in whole GiB, rounded down (what the node form asks for).
    pub fn memory_gb(&self) -> i64 {
        self.memory_bytes / (1 << 30)
    }
}

/// Connects to `ep` and reads its facts.
pub async fn facts(ep: &Endpoint) -> Result<EngineFacts, DockerError> {
    let docker = connect(ep).await?;
    read(&docker, &ep.url).await
}

async fn read(docker: &Docker, url: &str) -> Result<EngineFacts, DockerError> {
    let info = docker
        .info()
        .await
        .map_err(|e| DockerError::from_bollard(e, url))?;
    let gpus = gpu_resources(info.generic_resources.unwrap_or_default());
    Ok(EngineFacts {
        version: info.server_version.unwrap_or_default(),
        os: info.operating_system.unwrap_or_default(),
        cpus: info.ncpu.unwrap_or(0),
        memory_bytes: info.mem_total.unwrap_or(0),
        storage_driver: info.driver.unwrap_or_default(),
        nvidia_runtime: info
            .runtimes
            .is_some_and(|r| r.keys().any(|k| k == "nvidia")),
        gpus,
        root_dir: info.docker_root_dir.unwrap_or_default(),
    })
}

/// The size of the filesystem holding `path` in whole GB (`df`), 0 when unknown. Only
/// for an engine on this host: its data root is a local path.
pub async fn disk_gb(path: &str) -> i64 {
    if path.is_empty() {
        return 0;
    }
    let out = tokio::process::Command::new("df")
        .args(["--block-size=1G", "--output=size", path])
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => df_size(&String::from_utf8_lossy(&o.stdout)),
        _ => 0,
    }
}

/// `df --output=size`'s number (the line after its header).
fn df_size(out: &str) -> i64 {
    out.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// The GPUs among an engine's generic resources (`dockerd --node-generic-resource
/// NVIDIA-GPU=GPU-…`): a named one by its id, a counted kind as "kind × n".
fn gpu_resources(resources: Vec<GenericResourcesInner>) -> Vec<String> {
    let is_gpu = |kind: &Option<String>| {
        kind.as_deref()
            .is_some_and(|k| k.to_ascii_uppercase().contains("GPU"))
    };
    resources
        .into_iter()
        .filter_map(|r| {
            if let Some(n) = r.named_resource_spec.filter(|n| is_gpu(&n.kind)) {
                return Some(format!(
                    "{} {}",
                    n.kind.unwrap_or_default(),
                    n.value.unwrap_or_default()
                ));
            }
            let d = r.discrete_resource_spec.filter(|d| is_gpu(&d.kind))?;
            Some(format!(
                "{} × {}",
                d.kind.unwrap_or_default(),
                d.value.unwrap_or(0)
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        GenericResourcesInnerDiscreteResourceSpec as Discrete,
        GenericResourcesInnerNamedResourceSpec as Named,
    };

    #[test]
    fn gpus_are_read_from_generic_resources() {
        let named = |k: &str, v: &str| GenericResourcesInner {
            named_resource_spec: Some(Named {
                kind: Some(k.into()),
                value: Some(v.into()),
            }),
            discrete_resource_spec: None,
        };
        let discrete = |k: &str, v: i64| GenericResourcesInner {
            named_resource_spec: None,
            discrete_resource_spec: Some(Discrete {
                kind: Some(k.into()),
                value: Some(v),
            }),
        };
        assert_eq!(
            gpu_resources(vec![
                named("NVIDIA-GPU", "GPU-1a2b"),
                discrete("SSD", 2),
                discrete("gpu", 4),
            ]),
            ["NVIDIA-GPU GPU-1a2b", "gpu × 4"]
        );
        assert!(gpu_resources(vec![]).is_empty());
    }

    #[test]
    fn df_prints_the_size_under_a_header() {
        assert_eq!(df_size(" 1G-blocks\n      480\n"), 480);
        assert_eq!(df_size("Size\n"), 0);
        assert_eq!(df_size(""), 0);
    }
}
