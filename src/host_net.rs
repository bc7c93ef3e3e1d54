//! Reads what this host's network stack says (the parsing is domain/nat/host.rs): the
//! sockets of its processes (`/proc/net/{tcp,tcp6,udp,udp6}`), its default route
//! (`/proc/net/route`) and an interface's IPv4 addresses (`ip -j -4 addr show dev …`).
//! `/proc/net` is this process's network namespace: the host's, where the panel runs.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use tokio::process::Command;

use crate::domain::nat::{self, Proto, UnexpectedIpOutput};

/// What could not be read of this host's network stack.
#[derive(Debug, thiserror::Error)]
pub enum HostNetError {
    /// the blocking read of the socket tables did not finish
    #[error("reading this host's sockets: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("this host has no IPv4 default route")]
    NoDefaultRoute,
    #[error("cannot run `ip` (iproute2): {0}")]
    IpUnavailable(std::io::Error),
    /// `ip` ran and failed (its standard error)
    #[error("`ip addr show dev {interface}`: {stderr}")]
    IpFailed { interface: String, stderr: String },
    #[error(transparent)]
    IpOutput(#[from] UnexpectedIpOutput),
}

/// The ports on which a process of this host takes new `proto` traffic (IPv4 and IPv6
/// sockets). A host without IPv6 has no `tcp6`/`udp6` table: that counts as empty.
pub async fn listening_ports(proto: Proto) -> Result<BTreeSet<u16>, HostNetError> {
    tokio::task::spawn_blocking(move || listening_ports_now(proto)).await?
}

fn listening_ports_now(proto: Proto) -> Result<BTreeSet<u16>, HostNetError> {
    let name = proto.as_str();
    // no IPv6 socket of this protocol at all (a counter): its table need not be walked
    let v6 = match std::fs::read_to_string("/proc/net/sockstat6") {
        Ok(text) => nat::sockets_in_use(&text, &format!("{}6", name.to_uppercase())) != Some(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
    };
    let mut ports = BTreeSet::new();
    for table in [name.to_string(), format!("{name}6")] {
        if table.ends_with('6') && !v6 {
            continue;
        }
        let path = format!("/proc/net/{table}");
        let text = match proto {
            Proto::Tcp => read_listening(&path),
            // the UDP tables are small and in no useful order
            Proto::Udp => std::fs::read_to_string(&path),
        };
        match text {
            Ok(text) => ports.extend(nat::listening_ports(&text, proto)),
            Err(e) if table.ends_with('6') && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(HostNetError::Read { path, source }),
        }
    }
    Ok(ports)
}

/// The head of a `/proc/net/tcp{,6}` table: the header and the listening sockets, read a
/// few lines at a time (the kernel makes as many lines as a read asks for) up to the first
/// socket past them.
fn read_listening(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut text = Vec::new();
    let mut chunk = [0u8; 512];
    let mut checked = 0;
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&chunk[..n]);
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let past = String::from_utf8_lossy(&text[checked..complete])
            .lines()
            .any(nat::past_listeners);
        checked = complete;
        if past {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The interface of the default route (lowest metric), or why there is none.
pub async fn default_route_interface() -> Result<String, HostNetError> {
    let path = "/proc/net/route";
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|source| HostNetError::Read {
            path: path.into(),
            source,
        })?;
    nat::default_route_interface(&text).ok_or(HostNetError::NoDefaultRoute)
}

/// The IPv4 addresses of `interface`.
pub async fn ipv4_addresses(interface: &str) -> Result<Vec<Ipv4Addr>, HostNetError> {
    let out = Command::new("ip")
        .args(["-j", "-4", "addr", "show", "dev", interface])
        .output()
        .await
        .map_err(HostNetError::IpUnavailable)?;
    if !out.status.success() {
        return Err(HostNetError::IpFailed {
            interface: interface.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(nat::ipv4_addresses(&String::from_utf8_lossy(&out.stdout))?)
}
