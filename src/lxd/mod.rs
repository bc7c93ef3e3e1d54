//! LXD (also Incus) through its REST API on the unix socket: instances, their state,
//! create, start/stop/restart, delete, exec with recorded output, patch, running
//! operations, and a removal that finishes (`removal.rs`). `client.rs` speaks
//! HTTP/1.1; `wire.rs` reads LXD's reply envelopes and operations; this file holds the
//! types callers see and the parsing of an instance's state.
//! It must not shell out to `lxc`, and it knows nothing about products, NAT or the store.
//! Error texts reach customers (the ZJMF plugin shows `msg`): LXD's own message is kept.

mod cache;
mod client;
mod removal;
mod wire;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::zjmf::power::PowerState;
use crate::i18n::{self, Lang};

pub use cache::Cache;
pub use client::Lxd;
pub use wire::Operation;

#[derive(Debug)]
pub enum LxdError {
    /// The socket is missing, refuses, or the connection broke (with the reason).
    Unreachable(String),
    /// LXD answered 404 (its message, e.g. "Instance not found").
    NotFound(String),
    /// The image alias a create names does not exist in LXD.
    ImageNotFound(String),
    /// LXD refused or a background operation failed: LXD's own message.
    Lxd(String),
    /// LXD still runs an operation on the instance (its description, e.g. "Creating
    /// instance"), so it cannot be removed yet.
    Busy(String),
    /// No answer, or the operation did not finish, within the caller's timeout.
    Timeout,
    /// A reply that is not what LXD's REST API promises.
    Protocol(String),
}

impl LxdError {
    /// What the failure says in `lang` (`lxd_error.*`; LXD's own message as it is).
    pub fn text(&self, lang: Lang) -> String {
        let (key, why) = match self {
            LxdError::Unreachable(why) => ("lxd_error.unreachable", why),
            LxdError::NotFound(why) => ("lxd_error.not_found", why),
            LxdError::ImageNotFound(why) => ("lxd_error.image_not_found", why),
            LxdError::Lxd(why) => return why.clone(),
            LxdError::Busy(why) => ("lxd_error.busy", why),
            LxdError::Timeout => return i18n::t(lang, "lxd_error.timeout").to_string(),
            LxdError::Protocol(why) => ("lxd_error.protocol", why),
        };
        i18n::tf(lang, key, &[("why", why)])
    }
}

/// In Chinese: the text the ZJMF plugin shows its customers.
impl std::fmt::Display for LxdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(Lang::Zh))
    }
}

impl std::error::Error for LxdError {}

/// An instance as `GET /1.0/instances/{name}` describes it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Instance {
    pub name: String,
    /// Running, Stopped, Frozen, Error…
    pub status: PowerState,
    /// container | virtual-machine
    #[serde(default, rename = "type", deserialize_with = "or_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "or_default")]
    pub profiles: Vec<String>,
    /// The instance's own keys (limits.cpu, user.*, …), without its profiles'.
    #[serde(default, deserialize_with = "or_default")]
    pub config: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "or_default")]
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
    /// Config with the profiles applied (what is in force).
    #[serde(default, deserialize_with = "or_default")]
    pub expanded_config: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "or_default")]
    pub expanded_devices: BTreeMap<String, BTreeMap<String, String>>,
}

/// `null` reads as the empty value (LXD sends null for some empty maps and lists).
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What `GET /1.0/instances/{name}/state` says; counters are 0 when LXD does not know them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceState {
    pub status: PowerState,
    /// CPU time used since start, nanoseconds.
    pub cpu_usage_ns: i64,
    /// Memory in use, bytes.
    pub memory_usage: i64,
    /// Root disk in use, bytes (0 on a dir pool without quotas: LXD does not report it).
    pub disk_usage_root: i64,
    /// interface → (bytes received, bytes sent), as counted inside the container.
    pub network: BTreeMap<String, (i64, i64)>,
    /// eth0's first global IPv4 address (None while DHCP has not answered, or stopped).
    pub ipv4: Option<String>,
}

impl InstanceState {
    /// Bytes through eth0 both ways (what the ZJMF plugin counts against the flow limit).
    pub fn network_bytes(&self) -> i64 {
        self.network.get("eth0").map_or(0, |(rx, tx)| rx + tx)
    }

    /// Reads the `metadata` of a state reply; missing parts read as 0 / None.
    pub(super) fn parse(m: &Value) -> InstanceState {
        let int = |v: &Value| v.as_i64().unwrap_or(0);
        let mut network = BTreeMap::new();
        let mut ipv4 = None;
        if let Some(nets) = m["network"].as_object() {
            for (name, n) in nets {
                let c = &n["counters"];
                network.insert(
                    name.clone(),
                    (int(&c["bytes_received"]), int(&c["bytes_sent"])),
                );
                if name == "eth0" {
                    ipv4 = n["addresses"].as_array().and_then(|list| {
                        list.iter()
                            .find(|a| a["family"] == "inet" && a["scope"] == "global")
                            .and_then(|a| a["address"].as_str())
                            .map(str::to_string)
                    });
                }
            }
        }
        InstanceState {
            status: PowerState::parse(m["status"].as_str().unwrap_or_default()),
            cpu_usage_ns: int(&m["cpu"]["usage"]),
            memory_usage: int(&m["memory"]["usage"]),
            disk_usage_root: int(&m["disk"]["root"]["usage"]),
            network,
            ipv4,
        }
    }
}

/// The host as LXD counts it (`GET /1.0/resources`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostResources {
    pub cpu_threads: u64,
    pub memory_bytes: u64,
}

/// A container to create from a local image alias.
#[derive(Clone, Debug, Default)]
pub struct NewInstance {
    pub name: String,
    pub image_alias: String,
    pub config: BTreeMap<String, String>,
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
    /// Sent as given: empty means NO profile (not even `default`), so `devices` must then
    /// hold the root disk and the NIC — LXD refuses a container without a root disk.
    pub profiles: Vec<String>,
}

impl NewInstance {
    /// The body of `POST /1.0/instances`.
    fn body(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "type": "container",
            "source": {"type": "image", "alias": self.image_alias},
            "config": self.config,
            "devices": self.devices,
            "profiles": self.profiles,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateAction {
    Start,
    Stop,
    Restart,
}

impl StateAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
        }
    }
}

/// A finished exec: exit code (-1 when LXD gives none) and the recorded output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn state_with_counters_and_addresses() {
        let m = json!({
            "status": "Running", "status_code": 103,
            "cpu": {"usage": 23030841},
            "memory": {"usage": 565248, "usage_peak": 1536000},
            "disk": {"root": {"usage": 2097152}},
            "network": {
                "eth0": {
                    "counters": {"bytes_received": 728, "bytes_sent": 1200, "packets_received": 3},
                    "addresses": [
                        {"family": "inet6", "address": "fe80::216:3eff:fe7d:c3c6", "netmask": "64", "scope": "link"},
                        {"family": "inet", "address": "10.99.0.148", "netmask": "24", "scope": "global"},
                        {"family": "inet", "address": "10.99.0.200", "netmask": "24", "scope": "global"}
                    ],
                    "host_name": "veth67d352bb", "state": "up"
                },
                "lo": {
                    "counters": {"bytes_received": 5, "bytes_sent": 6},
                    "addresses": [{"family": "inet", "address": "127.0.0.1", "netmask": "8", "scope": "local"}]
                }
            }
        });
        let s = InstanceState::parse(&m);
        assert_eq!(s.status, PowerState::Running);
        assert_eq!(s.cpu_usage_ns, 23030841);
        assert_eq!(s.memory_usage, 565248);
        assert_eq!(s.disk_usage_root, 2097152);
        assert_eq!(
            s.ipv4.as_deref(),
            Some("10.99.0.148"),
            "the first global one"
        );
        assert_eq!(s.network["eth0"], (728, 1200));
        assert_eq!(s.network["lo"], (5, 6));
        assert_eq!(s.network_bytes(), 1928, "eth0 only");
    }

    #[test]
    fn state_without_address_disk_or_network() {
        // a dir pool reports no disk usage; a stopped container has no network
        let s = InstanceState::parse(
            &json!({"status": "Stopped", "disk": {}, "network": null, "cpu": {"usage": 0}}),
        );
        assert_eq!(
            (
                s.status,
                s.disk_usage_root,
                s.ipv4.as_deref(),
                s.network_bytes()
            ),
            (PowerState::Stopped, 0, None, 0)
        );
        // DHCP not answered yet: only a link-local address
        let s = InstanceState::parse(&json!({"status": "Running", "network": {"eth0": {
            "counters": {"bytes_received": 90, "bytes_sent": 0},
            "addresses": [{"family": "inet6", "address": "fe80::1", "scope": "link"}]}}}));
        assert_eq!((s.ipv4.as_deref(), s.network_bytes()), (None, 90));
    }

    #[test]
    fn instance_with_nulls_and_unknown_fields() {
        let i: Instance = serde_json::from_value(json!({
            "name": "c1", "status": "Running", "type": "container", "architecture": "x86_64",
            "profiles": ["default"], "config": {"limits.cpu": "1", "image.os": "busybox"},
            "devices": null, "expanded_config": {"limits.cpu": "1"},
            "expanded_devices": {"root": {"type": "disk", "path": "/", "pool": "default"}},
            "stateful": false
        }))
        .unwrap();
        assert_eq!(
            (i.name.as_str(), i.kind.as_str(), i.status),
            ("c1", "container", PowerState::Running)
        );
        assert_eq!(i.config["image.os"], "busybox");
        assert!(i.devices.is_empty());
        assert_eq!(i.expanded_devices["root"]["pool"], "default");
    }

    #[test]
    fn create_body() {
        let req = NewInstance {
            name: "c1".into(),
            image_alias: "suanli-test/busybox-lxd".into(),
            config: [("limits.cpu".to_string(), "1".to_string())].into(),
            devices: BTreeMap::new(),
            profiles: vec![],
        };
        assert_eq!(
            req.body(),
            json!({"name": "c1", "type": "container",
                   "source": {"type": "image", "alias": "suanli-test/busybox-lxd"},
                   "config": {"limits.cpu": "1"}, "devices": {}, "profiles": []})
        );
    }

    #[test]
    fn messages_for_customers() {
        for (e, msg) in [
            (
                LxdError::Lxd("The instance is already running".into()),
                "The instance is already running",
            ),
            (
                LxdError::ImageNotFound("debian-12".into()),
                "镜像不存在：debian-12",
            ),
            (LxdError::Timeout, "LXD 操作超时"),
        ] {
            assert_eq!(e.to_string(), msg);
        }
    }
}
