//! The jumpbox's port forwards (`ssh -L`, direct-tcpip), as rules: what a forward's
//! destination may name, which ports `jumpbox.forward_ports` allows, and whether a node's
//! containers are reached from this host or through the node's SSH. No IO: ops/forward.rs
//! asks these and does the connecting.

use std::net::IpAddr;

use super::instances::instance_name;
use super::jumpbox::host_only;

/// What the destination host of a direct-tcpip request names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `localhost`, `127.0.0.1`, `::1`: the instance itself
    Loopback,
    /// a possible instance name (`-L 8888:train-1:8888`)
    Named(String),
    /// anything else: another host, an address, a bad name
    Outside,
}

/// How the client's destination host reads (case does not matter; `[::1]` and a
/// trailing dot are allowed).
pub fn destination(host: &str) -> Destination {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let h = h
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(&h);
    if h == "localhost" || h == "127.0.0.1" || h == "::1" {
        return Destination::Loopback;
    }
    // an address (10.0.0.5, another loopback address) is never an instance's name
    if h.parse::<IpAddr>().is_ok() {
        return Destination::Outside;
    }
    match instance_name(h) {
        Ok(name) => Destination::Named(name),
        Err(_) => Destination::Outside,
    }
}

/// Why a forward is refused before any instance is looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aim {
    /// forward to this instance (a name still to look up in the user's scope)
    Instance(String),
    /// no instance named anywhere: the user's only instance, if they have exactly one
    OnlyOne,
    /// the destination is not the instance named at login, nor an instance at all
    Outside,
}

/// Which instance a forward goes to: the one named at login (the destination must then
/// be loopback or that same name), else the one the destination names, else the
/// user's only instance (`jumpbox::which_instance` decides that last step).
pub fn aim(login: Option<&str>, dest: &Destination) -> Aim {
    match (login, dest) {
        (_, Destination::Outside) => Aim::Outside,
        (Some(named), Destination::Loopback) => Aim::Instance(named.to_string()),
        (Some(named), Destination::Named(n)) if n.eq_ignore_ascii_case(named) => {
            Aim::Instance(named.to_string())
        }
        (Some(_), Destination::Named(_)) => Aim::Outside,
        (None, Destination::Named(n)) => Aim::Instance(n.clone()),
        (None, Destination::Loopback) => Aim::OnlyOne,
    }
}

/// Why a `jumpbox.forward_ports` list cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadPorts {
    #[error("{0:?} is not a port (1-65535) or a range a-b")]
    NotAPort(String),
    #[error("{0:?} runs backwards")]
    Backwards(String),
}

/// The ports forwards may reach (`jumpbox.forward_ports`): inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSet(Vec<(u16, u16)>);

impl PortSet {
    /// `1-65535`, `22,8888,6006`, `8000-8999,6006`; blanks around items are ignored, an
    /// empty list means every port. Ports are 1..=65535; a range runs low to high.
    pub fn parse(s: &str) -> Result<PortSet, BadPorts> {
        let mut ranges = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let port = |p: &str| {
                p.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| BadPorts::NotAPort(item.to_string()))
            };
            let range = match item.split_once('-') {
                Some((lo, hi)) => (port(lo)?, port(hi)?),
                None => (port(item)?, port(item)?),
            };
            if range.0 > range.1 {
                return Err(BadPorts::Backwards(item.to_string()));
            }
            ranges.push(range);
        }
        if ranges.is_empty() {
            ranges.push((1, u16::MAX));
        }
        Ok(PortSet(ranges))
    }

    /// Whether a forward to `port` (as the client sent it: 32 bits) is allowed.
    pub fn allows(&self, port: u32) -> bool {
        u16::try_from(port).is_ok_and(|p| self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&p)))
    }
}

/// How the panel reaches a node's containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// the engine runs on this host (unix socket, or tcp to a loopback address): connect
    /// to the container's address directly
    Here,
    /// through the node's SSH
    Remote,
}

/// This host when the endpoint is a unix socket or tcp:// to a loopback address
/// (`127.0.0.0/8`, `::1`, `localhost`); any other address is another machine.
pub fn route(docker_endpoint: &str) -> Route {
    let e = docker_endpoint.trim();
    if e.starts_with("unix://") {
        return Route::Here;
    }
    let Some(rest) = e.strip_prefix("tcp://") else {
        return Route::Remote;
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = if let Some(r) = authority.strip_prefix('[') {
        r.split(']').next().unwrap_or(r)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let here = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if here { Route::Here } else { Route::Remote }
}

/// Where the panel logs in to a node's SSH, from the node form's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSsh {
    pub host: String,
    pub port: u16,
    pub username: String,
}

/// The node's SSH address: its private address when it has one (the panel usually sits
/// in the same network), else its public one; None when the form lacks an address, a
/// user name or a password.
pub fn node_ssh(
    public_ip: &str,
    private_ip: &str,
    port: i32,
    username: &str,
    has_password: bool,
) -> Option<NodeSsh> {
    let host = [private_ip, public_ip]
        .into_iter()
        .map(str::trim)
        .find(|h| !h.is_empty())?;
    let port = u16::try_from(port).ok().filter(|p| *p > 0)?;
    let username = username.trim();
    if username.is_empty() || !has_password {
        return None;
    }
    Some(NodeSsh {
        host: host.to_string(),
        port,
        username: username.to_string(),
    })
}

/// Trust on first use for a node's SSH host key (OpenSSH `type base64` form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// none stored yet: accept and store this one
    Learn,
    Matches,
    /// a different key than the stored one: refuse (the node was reinstalled, or someone
    /// sits in between)
    Changed,
}

pub fn check_host_key(stored: Option<&str>, offered: &str) -> HostKeyCheck {
    match stored.map(str::trim).filter(|s| !s.is_empty()) {
        None => HostKeyCheck::Learn,
        Some(s) if key_body(s) == key_body(offered) => HostKeyCheck::Matches,
        Some(_) => HostKeyCheck::Changed,
    }
}

/// `ssh-ed25519 AAAA… comment` → `ssh-ed25519 AAAA…` (the comment does not count).
fn key_body(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// The command that forwards local port `port` to the same port inside `instance`
/// (the instance page's Jupyter and TensorBoard lines). `host` as for
/// `jumpbox::ssh_command` (its port is dropped).
pub fn forward_command(
    jump_port: u16,
    user: &str,
    host: &str,
    instance: &str,
    port: u16,
) -> String {
    let host = host_only(host);
    format!("ssh -p {jump_port} -N -L {port}:localhost:{port} {user}@{instance}@{host}")
}

/// A `~/.ssh/config` block naming the instance as a host of its own (VS Code
/// Remote-SSH, scp, `ssh <instance>`): the user name carries the instance.
pub fn ssh_config_block(jump_port: u16, user: &str, host: &str, instance: &str) -> String {
    let host = host_only(host);
    // HostName takes an IPv6 address without its brackets
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    format!(
        "Host {instance}\n    HostName {bare}\n    Port {jump_port}\n    User {user}@{instance}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_page_offers_ready_commands() {
        assert_eq!(
            forward_command(2026, "mia", "panel.example.com:8080", "train-1", 8888),
            "ssh -p 2026 -N -L 8888:localhost:8888 mia@train-1@panel.example.com"
        );
        assert_eq!(
            ssh_config_block(2026, "mia", "[2001:db8::1]:443", "train-1"),
            "Host train-1\n    HostName 2001:db8::1\n    Port 2026\n    User mia@train-1\n"
        );
    }

    #[test]
    fn destinations() {
        use Destination::*;
        for (host, want) in [
            ("localhost", Loopback),
            ("LOCALHOST.", Loopback),
            ("127.0.0.1", Loopback),
            ("::1", Loopback),
            ("[::1]", Loopback),
            ("train-1", Named("train-1".into())),
            ("127.0.0.2", Outside),
            ("10.0.0.5", Outside),
            ("169.254.169.254", Outside),
            ("example.com", Outside),
            ("", Outside),
            ("../x", Outside),
        ] {
            assert_eq!(destination(host), want, "{host:?}");
        }
    }

    #[test]
    fn a_forward_aims_at_the_named_instance_only() {
        let named = |n: &str| Destination::Named(n.into());
        for (why, login, dest, want) in [
            (
                "login name + localhost",
                Some("box"),
                Destination::Loopback,
                Aim::Instance("box".into()),
            ),
            (
                "login name + its own name",
                Some("box"),
                named("box"),
                Aim::Instance("box".into()),
            ),
            (
                "login name + another name",
                Some("box"),
                named("other"),
                Aim::Outside,
            ),
            (
                "login name + a host",
                Some("box"),
                Destination::Outside,
                Aim::Outside,
            ),
            (
                "the destination names it",
                None,
                named("box"),
                Aim::Instance("box".into()),
            ),
            ("nothing named", None, Destination::Loopback, Aim::OnlyOne),
            (
                "no login name + a host",
                None,
                Destination::Outside,
                Aim::Outside,
            ),
        ] {
            assert_eq!(aim(login, &dest), want, "{why}");
        }
    }

    #[test]
    fn forward_ports() {
        let all = PortSet::parse("").expect("empty = all");
        assert!(all.allows(1) && all.allows(65535));
        assert!(!all.allows(0) && !all.allows(65536));
        let some = PortSet::parse(" 22, 8888 ,6000-6010").expect("valid");
        for (port, ok) in [
            (22, true),
            (8888, true),
            (6000, true),
            (6010, true),
            (6011, false),
            (23, false),
        ] {
            assert_eq!(some.allows(port), ok, "{port}");
        }
        for bad in ["0", "70000", "9-1", "a", "1-", "-5", "1-2-3"] {
            assert!(PortSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn this_host_or_through_ssh() {
        for (endpoint, want) in [
            ("unix:///var/run/docker.sock", Route::Here),
            ("tcp://127.0.0.1:2376", Route::Here),
            ("tcp://127.0.0.5:2376", Route::Here),
            ("tcp://localhost:2375", Route::Here),
            ("tcp://[::1]:2376", Route::Here),
            ("tcp://10.0.0.5:2376", Route::Remote),
            ("tcp://gpu-1.example.com:2376", Route::Remote),
            ("tcp://[2001:db8::1]:2376", Route::Remote),
        ] {
            assert_eq!(route(endpoint), want, "{endpoint}");
        }
    }

    #[test]
    fn a_node_needs_an_address_a_user_and_a_password_for_ssh() {
        let ok = NodeSsh {
            host: "10.0.0.5".into(),
            port: 22,
            username: "root".into(),
        };
        assert_eq!(
            node_ssh("1.2.3.4", "10.0.0.5", 22, "root", true),
            Some(ok.clone())
        );
        assert_eq!(
            node_ssh("1.2.3.4", "", 2222, "root", true).map(|n| (n.host, n.port)),
            Some(("1.2.3.4".into(), 2222))
        );
        assert_eq!(node_ssh("", "", 22, "root", true), None);
        assert_eq!(node_ssh("1.2.3.4", "", 22, "", true), None);
        assert_eq!(node_ssh("1.2.3.4", "", 22, "root", false), None);
        assert_eq!(node_ssh("1.2.3.4", "", 0, "root", true), None);
    }

    #[test]
    fn host_keys_are_trusted_on_first_use() {
        let k = "ssh-ed25519 AAAAC3Nza";
        assert_eq!(check_host_key(None, k), HostKeyCheck::Learn);
        assert_eq!(check_host_key(Some(""), k), HostKeyCheck::Learn);
        assert_eq!(
            check_host_key(Some("ssh-ed25519 AAAAC3Nza root@n"), k),
            HostKeyCheck::Matches
        );
        assert_eq!(
            check_host_key(Some("ssh-ed25519 AAAAother"), k),
            HostKeyCheck::Changed
        );
        assert_eq!(
            check_host_key(Some("ssh-rsa AAAAC3Nza"), k),
            HostKeyCheck::Changed
        );
    }
}
