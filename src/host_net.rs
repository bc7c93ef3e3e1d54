//! Reads what this host's network stack says (the parsing is domain/nat/host.rs): the
//! sockets of its processes (`/proc/net/{tcp,tcp6,udp,udp6}`), its default route
//! (`/proc/net/route`) and an interface's IPv4 addresses (`ip -j -4 addr show dev …`).
//! `/proc/net` is this process's network namespace: the host's, where the panel runs.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use tokio::process::Command;

use crate::domain::nat::{self, Proto};

/// The ports on which a process of this host takes new `proto` traffic (IPv4 and IPv6
/// sockets). A host without IPv6 has no `tcp6`/`udp6` table: that counts as empty.
pub async fn listening_ports(proto: Proto) -> Result<BTreeSet<u16>, String> {
    let mut ports = BTreeSet::new();
    for (table, required) in [
        (proto.as_str().to_string(), true),
        (format!("{}6", proto.as_str()), false),
    ] {
        let path = format!("/proc/net/{table}");
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => ports.extend(nat::listening_ports(&text, proto)),
            Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot read {path}: {e}"));
            }
            Err(_) => {}
        }
    }
    Ok(ports)
}

/// The interface of the default route (lowest metric), or why there is none.
pub async fn default_route_interface() -> Result<String, String> {
    let text = tokio::fs::read_to_string("/proc/net/route")
        .await
        .map_err(|e| format!("cannot read /proc/net/route: {e}"))?;
    nat::default_route_interface(&text)
        .ok_or_else(|| "this host has no IPv4 default route".to_string())
}

/// The IPv4 addresses of `interface`.
pub async fn ipv4_addresses(interface: &str) -> Result<Vec<Ipv4Addr>, String> {
    let out = Command::new("ip")
        .args(["-j", "-4", "addr", "show", "dev", interface])
        .output()
        .await
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip addr show dev {interface}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    nat::ipv4_addresses(&String::from_utf8_lossy(&out.stdout))
}
