//! Port forwards to LXD containers as iptables rules. Suanli keeps its rules in chains
//! of its own (`<chain>-NAT` in the nat table, `<chain>-FWD` in the filter table, with
//! `<chain>` = `zjmf.nat_chain`, SUANLI by default), jumped
//! to from PREROUTING / OUTPUT and from FORWARD (through DOCKER-USER when Docker runs:
//! dockerd sets FORWARD's policy to DROP). Each apply rewrites both chains in one
//! `iptables-restore --noflush` transaction from the store, so concurrent applies never
//! interleave and no rule without Suanli's comment is touched. No IO here.

use std::fmt::Write;

/// The comment on every rule Suanli writes (iptables limits comments to 256 bytes).
pub const COMMENT: &str = "suanli";

/// The external ports random SSH forwards are drawn from (the plugin's range).
pub const EXT_MIN: u16 = 10000;
pub const EXT_MAX: u16 = 65535;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn parse(s: &str) -> Option<Proto> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One forward with its container's current address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    pub id: i64,
    pub hostname: String,
    pub proto: Proto,
    pub ext_port: u16,
    pub int_port: u16,
    pub container_ip: String,
}

/// Where forwards listen and how packets leave.
#[derive(Clone, Debug, Default)]
pub struct Host {
    /// the prefix of Suanli's chain names
    pub chain: String,
    /// the address forwards listen on; empty = every address of this host
    pub listen_ip: String,
    /// the interface containers reach the outside through (MASQUERADE); empty = none
    /// (LXD's own `ipv4.nat` already masquerades the bridge)
    pub main_interface: String,
    /// the LXD bridge's subnet, e.g. 10.99.0.0/24
    pub subnet: String,
}

/// The `iptables-restore --noflush` input that makes Suanli's two chains hold exactly
/// `forwards` (declaring a chain in restore input flushes it).
pub fn restore_script(host: &Host, forwards: &[Forward]) -> String {
    let (nat_chain, fwd_chain, post_chain) = host.chains();
    let mut nat = String::from("*nat\n");
    let _ = writeln!(nat, ":{nat_chain} - [0:0]");
    let mut fwd = String::from("*filter\n");
    let _ = writeln!(fwd, ":{fwd_chain} - [0:0]");
    let dest = if host.listen_ip.is_empty() {
        // every local address: only packets for this host, not routed ones
        "-m addrtype --dst-type LOCAL".to_string()
    } else {
        format!("-d {}", host.listen_ip)
    };
    for f in forwards {
        let comment = format!("{COMMENT}:{}:{}", f.hostname, f.id);
        let p = f.proto.as_str();
        let _ = writeln!(
            nat,
            "-A {nat_chain} {dest} -p {p} -m {p} --dport {} -m comment --comment \"{comment}\" -j DNAT --to-destination {}:{}",
            f.ext_port, f.container_ip, f.int_port
        );
        let _ = writeln!(
            fwd,
            "-A {fwd_chain} -d {}/32 -p {p} -m {p} --dport {} -m comment --comment \"{comment}\" -j ACCEPT",
            f.container_ip, f.int_port
        );
    }
    if host.masquerades() {
        let _ = writeln!(
            nat,
            "-A {post_chain} -s {} -o {} -m comment --comment \"{COMMENT}\" -j MASQUERADE",
            host.subnet, host.main_interface
        );
    }
    // replies to forwarded connections
    let _ = writeln!(
        fwd,
        "-A {fwd_chain} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"{COMMENT}\" -j ACCEPT"
    );
    nat.push_str("COMMIT\n");
    fwd.push_str("COMMIT\n");
    if host.masquerades() {
        // the POSTROUTING chain is declared (flushed) only when it is used
        nat = nat.replacen(
            &format!(":{nat_chain} - [0:0]\n"),
            &format!(":{nat_chain} - [0:0]\n:{post_chain} - [0:0]\n"),
            1,
        );
    }
    nat + &fwd
}

impl Host {
    /// (nat chain, filter chain, POSTROUTING chain)
    pub fn chains(&self) -> (String, String, String) {
        let c = &self.chain;
        (format!("{c}-NAT"), format!("{c}-FWD"), format!("{c}-POST"))
    }

    pub fn masquerades(&self) -> bool {
        !self.main_interface.is_empty() && !self.subnet.is_empty()
    }

    /// The jumps into Suanli's chains: (table, parent chain, chain). FORWARD's jump goes
    /// into DOCKER-USER when Docker made it (Docker evaluates it before its DROP policy).
    pub fn jumps(&self, docker_user: bool) -> Vec<(&'static str, &'static str, String)> {
        let (nat_chain, fwd_chain, post_chain) = self.chains();
        let parent = if docker_user {
            "DOCKER-USER"
        } else {
            "FORWARD"
        };
        let mut j = vec![
            ("nat", "PREROUTING", nat_chain.clone()),
            ("nat", "OUTPUT", nat_chain),
            ("filter", parent, fwd_chain),
        ];
        if self.masquerades() {
            j.push(("nat", "POSTROUTING", post_chain));
        }
        j
    }
}

/// A free external port: the first of `candidates` (random draws) not in `used`.
pub fn pick_port(candidates: impl IntoIterator<Item = u16>, used: &[u16]) -> Option<u16> {
    candidates
        .into_iter()
        .find(|p| (EXT_MIN..=EXT_MAX).contains(p) && !used.contains(p))
}

/// The TCP ports of this server's own listen addresses (`host:port`, `[v6]:port`): a
/// forward on one of them would take the panel or the jumpbox away from its users.
pub fn reserved_ports<'a>(listens: impl IntoIterator<Item = &'a str>) -> Vec<u16> {
    listens
        .into_iter()
        .filter_map(|l| l.rsplit_once(':')?.1.parse().ok())
        .collect()
}

/// A rule of the Flask backend's `iptables_rules.json` that can be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub hostname: String,
    pub proto: Proto,
    pub ext_port: u16,
    pub int_port: u16,
}

/// Reads the Flask backend's rule file: a JSON list of objects. Field names vary between
/// its versions, so each value is looked up under its known names (case-insensitive);
/// unknown fields are ignored. Returns the rules and the entries skipped and why, each
/// with its position in the list.
#[allow(clippy::type_complexity)]
pub fn parse_flask_rules(
    text: &str,
) -> Result<(Vec<(usize, Imported)>, Vec<(usize, String)>), String> {
    let list: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON list of rules: {e}"))?;
    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        match flask_rule(entry) {
            Ok(r) => rules.push((i, r)),
            Err(why) => skipped.push((i, why)),
        }
    }
    Ok((rules, skipped))
}

fn flask_rule(v: &serde_json::Value) -> Result<Imported, String> {
    let obj = v.as_object().ok_or("not an object")?;
    let get = |names: &[&str]| -> Option<String> {
        obj.iter()
            .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .and_then(|(_, v)| match v {
                serde_json::Value::String(s) => Some(s.trim().to_string()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    };
    let hostname =
        get(&["hostname", "container", "container_name", "name"]).ok_or("no container name")?;
    let host_ok = !hostname.is_empty()
        && hostname.len() <= 63
        && hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && hostname.starts_with(|c: char| c.is_ascii_alphabetic());
    if !host_ok {
        return Err(format!("bad container name {hostname:?}"));
    }
    let proto = get(&["dtype", "protocol", "proto", "type"]).unwrap_or_else(|| "tcp".into());
    let proto = Proto::parse(&proto).ok_or(format!("unknown protocol {proto:?}"))?;
    let port = |names: &[&str], what: &str| -> Result<u16, String> {
        let raw = get(names).ok_or(format!("no {what} port"))?;
        raw.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or(format!("bad {what} port {raw:?}"))
    };
    Ok(Imported {
        hostname,
        proto,
        ext_port: port(
            &["dport", "external_port", "host_port", "public_port"],
            "external",
        )?,
        int_port: port(
            &["sport", "internal_port", "container_port", "private_port"],
            "container",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(id: i64, ext: u16) -> Forward {
        Forward {
            id,
            hostname: "vm1".into(),
            proto: Proto::Tcp,
            ext_port: ext,
            int_port: 22,
            container_ip: "10.99.0.5".into(),
        }
    }

    #[test]
    fn the_restore_script_rewrites_only_suanlis_chains() {
        let host = Host {
            chain: "SUANLI".into(),
            listen_ip: "192.0.2.10".into(),
            ..Host::default()
        };
        let s = restore_script(&host, &[fwd(7, 20022)]);
        assert!(s.starts_with("*nat\n:SUANLI-NAT - [0:0]\n"), "{s}");
        assert!(s.contains(
            "-A SUANLI-NAT -d 192.0.2.10 -p tcp -m tcp --dport 20022 -m comment --comment \"suanli:vm1:7\" -j DNAT --to-destination 10.99.0.5:22\n"
        ), "{s}");
        assert!(s.contains("*filter\n:SUANLI-FWD - [0:0]\n"));
        assert!(s.contains("-A SUANLI-FWD -d 10.99.0.5/32 -p tcp -m tcp --dport 22 -m comment --comment \"suanli:vm1:7\" -j ACCEPT\n"));
        assert_eq!(s.matches("COMMIT\n").count(), 2);
        assert!(!s.contains("MASQUERADE"));
        assert!(!s.contains("PREROUTING"), "the jumps are not rewritten");
    }

    #[test]
    fn no_listen_ip_means_this_hosts_addresses_and_masquerade_is_optional() {
        let host = Host {
            chain: "SUANLI".into(),
            main_interface: "eth0".into(),
            subnet: "10.99.0.0/24".into(),
            ..Host::default()
        };
        let s = restore_script(&host, &[fwd(1, 10001)]);
        assert!(
            s.contains("-A SUANLI-NAT -m addrtype --dst-type LOCAL -p tcp"),
            "{s}"
        );
        assert!(s.contains(":SUANLI-POST - [0:0]\n"));
        assert!(s.contains(
            "-A SUANLI-POST -s 10.99.0.0/24 -o eth0 -m comment --comment \"suanli\" -j MASQUERADE"
        ));
        // an empty store still declares (flushes) the chains
        let empty = restore_script(
            &Host {
                chain: "SUANLI".into(),
                ..Host::default()
            },
            &[],
        );
        assert!(empty.contains(":SUANLI-NAT - [0:0]") && !empty.contains("DNAT"));
    }

    #[test]
    fn jumps_use_docker_user_when_docker_runs() {
        let mut host = Host {
            chain: "SUANLI".into(),
            ..Host::default()
        };
        let fwd = |parent: &'static str| ("filter", parent, "SUANLI-FWD".to_string());
        assert_eq!(host.jumps(true)[2], fwd("DOCKER-USER"));
        assert_eq!(host.jumps(false)[2], fwd("FORWARD"));
        host.main_interface = "eth0".into();
        host.subnet = "10.99.0.0/24".into();
        let post = ("nat", "POSTROUTING", "SUANLI-POST".to_string());
        assert_eq!(host.jumps(false)[3], post);
    }

    #[test]
    fn flask_rule_files_are_read_tolerantly() {
        let text = r#"[
            {"hostname": "vm1", "dtype": "tcp", "dport": 20022, "sport": 22, "id": "abc", "extra": 1},
            {"container_name": "vm2", "protocol": "UDP", "dport": "20053", "sport": "53"},
            {"hostname": "vm3", "dport": 20080, "sport": 80},
            {"hostname": "../etc", "dport": 1, "sport": 2},
            {"hostname": "vm4", "dtype": "icmp", "dport": 1, "sport": 2},
            {"hostname": "vm5", "dport": "x", "sport": 2},
            "nonsense"
        ]"#;
        let (rules, skipped) = parse_flask_rules(text).unwrap();
        let rules: Vec<Imported> = rules.into_iter().map(|(_, r)| r).collect();
        let r = |h: &str, p, e, i| Imported {
            hostname: h.into(),
            proto: p,
            ext_port: e,
            int_port: i,
        };
        assert_eq!(
            rules,
            vec![
                r("vm1", Proto::Tcp, 20022, 22),
                r("vm2", Proto::Udp, 20053, 53),
                r("vm3", Proto::Tcp, 20080, 80)
            ]
        );
        let why: Vec<usize> = skipped.iter().map(|(i, _)| *i).collect();
        assert_eq!(why, vec![3, 4, 5, 6]);
        assert!(skipped[1].1.contains("icmp"));
        assert!(parse_flask_rules("{}").is_err());
    }

    #[test]
    fn ports_are_drawn_in_range_and_free() {
        assert_eq!(pick_port([22, 10000, 10001], &[10000]), Some(10001));
        assert_eq!(pick_port([10000], &[10000]), None);
        assert_eq!(Proto::parse("TCP"), Some(Proto::Tcp));
        assert_eq!(Proto::parse("icmp"), None);
    }

    #[test]
    fn the_servers_own_ports_are_reserved() {
        assert_eq!(
            reserved_ports(["0.0.0.0:8080", "[::]:2026", "no-port"]),
            vec![8080, 2026]
        );
    }
}
