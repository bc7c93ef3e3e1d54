//! Port forwards to LXD containers as iptables rules. Suanli keeps its rules in chains
//! of its own, named from `zjmf.nat_chain` (`<chain>`, SUANLI by default):
//!
//! - nat table: `<chain>-NAT`, jumped to from PREROUTING and OUTPUT, holds one jump per
//!   shard of 1,024 external ports into `<chain>-N0` … `<chain>-N63`, which hold the DNAT
//!   rules (one per forward and listen address);
//! - filter table: `<chain>-FWD`, jumped to from FORWARD (through DOCKER-USER when Docker
//!   runs: dockerd sets FORWARD's policy to DROP), accepts replies and the connections
//!   these DNAT rules sent to the LXD bridge (conntrack state DNAT, original destination
//!   a listen address): nothing per forward;
//! - `<chain>-POST` (MASQUERADE) only when `main_interface` is set.
//!
//! The shards keep every chain short: iptables (nft backend) reads a whole chain to delete
//! one rule from it, which took ~200 ms in a chain of 5,000 rules. Start-up and drift
//! rewrite everything in one `iptables-restore --noflush` transaction (`restore_script`);
//! one added forward adds only its own lines in the nat table (`add_script`).
//!
//! A removed forward is masked, not deleted: a RETURN rule for its port goes on top of its
//! shard (`mask_script`), which takes effect at once, and the masked lines are deleted
//! later, many in one transaction (`reap_script`). Every transaction that deletes nf_tables
//! rules costs ~15 ms more than one that adds (the kernel frees the rules after an RCU
//! grace period, and the next change waits for it), so deleting on the request path made
//! each delport and the change after it slow. No rule outside Suanli's chains is touched.
//! No IO here.

mod flask;
mod host;

use std::fmt::Write;
use std::net::Ipv4Addr;

pub use flask::{FlaskRules, Imported, NotARuleList, SkippedRule, parse_flask_rules};
pub use host::{
    Listen, UnexpectedIpOutput, default_route_interface, ipv4_addresses, listening_ports,
    past_listeners, sockets_in_use,
};

/// The comment on every rule Suanli writes (iptables limits comments to 256 bytes).
pub const COMMENT: &str = "suanli";

/// The external ports random SSH forwards are drawn from (the plugin's range).
pub const EXT_MIN: u16 = 10000;
pub const EXT_MAX: u16 = 65535;

/// How many shard chains each table has, and the external ports each one covers.
pub const SHARDS: u16 = 64;
const SHARD_PORTS: u32 = 65536 / SHARDS as u32;

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
    /// the addresses forwards listen on (`zjmf.nat_listen_ip`, else those of the default
    /// route's interface); empty: forwards capture nothing
    pub listen: Vec<Ipv4Addr>,
    /// the interface containers reach the outside through (MASQUERADE); empty = none
    /// (LXD's own `ipv4.nat` already masquerades the bridge)
    pub main_interface: String,
    /// the LXD bridge's subnet, e.g. 10.99.0.0/24
    pub subnet: String,
    /// the LXD bridge forwarded connections leave through (`zjmf.bridge`); empty = any
    pub bridge: String,
}

/// The shard (0..SHARDS) of an external port.
pub fn shard(ext_port: u16) -> u16 {
    // SHARD_PORTS divides 65536: the quotient is below SHARDS
    u16::try_from(u32::from(ext_port) / SHARD_PORTS).unwrap_or(SHARDS - 1)
}

/// The `iptables-restore --noflush` input that makes Suanli's chains hold exactly
/// `forwards` (declaring a chain in restore input flushes it).
pub fn restore_script(host: &Host, forwards: &[Forward]) -> String {
    let (nat_chain, fwd_chain, post_chain) = host.chains();
    let mut nat = String::from("*nat\n");
    let _ = writeln!(nat, ":{nat_chain} - [0:0]");
    if host.masquerades() {
        // the POSTROUTING chain is declared (flushed) only when it is used
        let _ = writeln!(nat, ":{post_chain} - [0:0]");
    }
    for k in 0..SHARDS {
        let _ = writeln!(nat, ":{} - [0:0]", host.nat_shard(k));
    }
    for k in 0..SHARDS {
        let lo = u32::from(k) * SHARD_PORTS;
        let hi = lo + SHARD_PORTS - 1;
        let _ = writeln!(
            nat,
            "-A {nat_chain} -m conntrack --ctorigdstport {lo}:{hi} -j {}",
            host.nat_shard(k)
        );
    }
    for f in forwards {
        for line in nat_lines(host, f) {
            let _ = writeln!(nat, "-A {line}");
        }
    }
    if host.masquerades() {
        let _ = writeln!(
            nat,
            "-A {post_chain} -s {} -o {} -m comment --comment \"{COMMENT}\" -j MASQUERADE",
            host.subnet, host.main_interface
        );
    }
    nat.push_str("COMMIT\n");
    let mut fwd = String::from("*filter\n");
    let _ = writeln!(fwd, ":{fwd_chain} - [0:0]");
    // replies first: most packets are those
    let _ = writeln!(
        fwd,
        "-A {fwd_chain} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"{COMMENT}\" -j ACCEPT"
    );
    // new connections that a DNAT rule above sent from a listen address to a container:
    // exactly what the forwards let in, with no rule per forward to add or delete
    let out = if host.bridge.is_empty() {
        String::new()
    } else {
        format!(" -o {}", host.bridge)
    };
    for addr in &host.listen {
        let _ = writeln!(
            fwd,
            "-A {fwd_chain}{out} -m conntrack --ctstate DNAT --ctorigdst {addr}/32 -m comment --comment \"{COMMENT}\" -j ACCEPT"
        );
    }
    fwd.push_str("COMMIT\n");
    nat + &fwd
}

/// The `iptables-restore --noflush` input that adds one forward's DNAT rules to chains
/// `restore_script` made, leaving every other rule as it is; empty when there is nothing
/// to add (no listen address).
pub fn add_script(host: &Host, f: &Forward) -> String {
    script("-A", &nat_lines(host, f))
}

/// The input that masks the rules `add_script` (or `restore_script`) wrote for `f`: a
/// RETURN rule per listen address on top of its shard, so its DNAT rules below match no
/// packet; empty when `f` has no lines.
pub fn mask_script(host: &Host, f: &Forward) -> String {
    let lines: Vec<String> = mask_lines(host, f)
        .into_iter()
        .map(|line| match line.split_once(' ') {
            Some((chain, rule)) => format!("{chain} 1 {rule}"),
            None => line,
        })
        .collect();
    script("-I", &lines)
}

/// The input that deletes exactly the lines of forwards masked by `mask_script` (their
/// DNAT rules and their masks); iptables refuses it (and changes nothing) when one of them
/// is not there.
pub fn reap_script(host: &Host, masked: &[Forward]) -> String {
    let lines: Vec<String> = masked
        .iter()
        .flat_map(|f| mask_lines(host, f).into_iter().chain(nat_lines(host, f)))
        .collect();
    script("-D", &lines)
}

fn script(op: &str, lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut s = String::from("*nat\n");
    for line in lines {
        let _ = writeln!(s, "{op} {line}");
    }
    s.push_str("COMMIT\n");
    s
}

/// The RETURN rules (without `-I`/`-D`) that mask a forward: same shard, address,
/// protocol and port as its DNAT rules.
fn mask_lines(host: &Host, f: &Forward) -> Vec<String> {
    port_lines(host, f, "-gone", "RETURN")
}

/// The DNAT rules of a forward (without `-A`): one per listen address, none without.
fn nat_lines(host: &Host, f: &Forward) -> Vec<String> {
    let target = format!("DNAT --to-destination {}:{}", f.container_ip, f.int_port);
    port_lines(host, f, "", &target)
}

/// One rule per listen address matching the forward's port in its shard, commented
/// `suanli<kind>:<hostname>:<id>`, jumping to `target`.
fn port_lines(host: &Host, f: &Forward, kind: &str, target: &str) -> Vec<String> {
    let p = f.proto.as_str();
    let chain = host.nat_shard(shard(f.ext_port));
    host.listen
        .iter()
        .map(|addr| {
            format!(
                "{chain} -d {addr}/32 -p {p} -m {p} --dport {} -m comment --comment \"{COMMENT}{kind}:{}:{}\" -j {target}",
                f.ext_port, f.hostname, f.id,
            )
        })
        .collect()
}

impl Host {
    /// (nat chain, filter chain, POSTROUTING chain)
    pub fn chains(&self) -> (String, String, String) {
        let c = &self.chain;
        (format!("{c}-NAT"), format!("{c}-FWD"), format!("{c}-POST"))
    }

    /// The nat chain holding the DNAT rules of shard `k`.
    pub fn nat_shard(&self, k: u16) -> String {
        format!("{}-N{k}", self.chain)
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

    fn host(listen: &[&str]) -> Host {
        Host {
            chain: "SUANLI".into(),
            listen: listen.iter().filter_map(|a| a.parse().ok()).collect(),
            ..Host::default()
        }
    }

    #[test]
    fn ports_fall_into_shards_of_1024() {
        for (port, k) in [(0, 0), (1023, 0), (1024, 1), (20022, 19), (65535, 63)] {
            assert_eq!(shard(port), k, "port {port}");
        }
    }

    #[test]
    fn the_restore_script_rewrites_only_suanlis_chains() {
        let mut h = host(&["192.0.2.10"]);
        h.bridge = "lxdbr0".into();
        let s = restore_script(&h, &[fwd(7, 20022)]);
        assert!(
            s.starts_with("*nat\n:SUANLI-NAT - [0:0]\n:SUANLI-N0 - [0:0]\n"),
            "{s}"
        );
        assert!(s.contains(":SUANLI-N63 - [0:0]\n") && !s.contains("SUANLI-N64"));
        assert!(
            s.contains("-A SUANLI-NAT -m conntrack --ctorigdstport 19456:20479 -j SUANLI-N19\n"),
            "{s}"
        );
        assert!(s.contains(
            "-A SUANLI-N19 -d 192.0.2.10/32 -p tcp -m tcp --dport 20022 -m comment --comment \"suanli:vm1:7\" -j DNAT --to-destination 10.99.0.5:22\n"
        ), "{s}");
        // the filter chain: replies, then what the DNAT rules sent to the bridge
        assert!(s.ends_with(
            "*filter\n:SUANLI-FWD - [0:0]\n\
             -A SUANLI-FWD -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"suanli\" -j ACCEPT\n\
             -A SUANLI-FWD -o lxdbr0 -m conntrack --ctstate DNAT --ctorigdst 192.0.2.10/32 -m comment --comment \"suanli\" -j ACCEPT\n\
             COMMIT\n"
        ), "{s}");
        assert_eq!(s.matches("COMMIT\n").count(), 2);
        assert!(!s.contains("MASQUERADE") && !s.contains("SUANLI-POST"));
        assert!(!s.contains("PREROUTING"), "the jumps are not rewritten");
        assert!(!s.contains("--dst-type LOCAL"), "never every local address");
    }

    #[test]
    fn forwards_listen_on_each_address_and_on_none_without_one() {
        let two = restore_script(&host(&["192.0.2.10", "192.0.2.11"]), &[fwd(1, 10001)]);
        for addr in ["192.0.2.10", "192.0.2.11"] {
            assert!(
                two.contains(&format!(
                    "-A SUANLI-N9 -d {addr}/32 -p tcp -m tcp --dport 10001"
                )),
                "{two}"
            );
            assert!(
                two.contains(&format!(
                    "-A SUANLI-FWD -m conntrack --ctstate DNAT --ctorigdst {addr}/32"
                )),
                "{two}"
            );
        }
        // no address: nothing is captured, nothing let through
        let none = restore_script(&host(&[]), &[fwd(1, 10001)]);
        assert!(!none.contains("DNAT"), "{none}");
        assert_eq!(add_script(&host(&[]), &fwd(1, 10001)), "");
        // an empty store still declares (flushes) every chain
        let empty = restore_script(&host(&["192.0.2.10"]), &[]);
        assert!(empty.contains(":SUANLI-NAT - [0:0]") && !empty.contains("--to-destination"));
        assert_eq!(empty.matches(" - [0:0]\n").count(), 2 + usize::from(SHARDS));
    }

    #[test]
    fn masquerade_is_optional() {
        let mut h = host(&["192.0.2.10"]);
        h.main_interface = "eth0".into();
        h.subnet = "10.99.0.0/24".into();
        let s = restore_script(&h, &[fwd(1, 10001)]);
        assert!(s.contains(":SUANLI-POST - [0:0]\n"));
        assert!(s.contains(
            "-A SUANLI-POST -s 10.99.0.0/24 -o eth0 -m comment --comment \"suanli\" -j MASQUERADE"
        ));
    }

    #[test]
    fn one_change_touches_only_its_own_lines() {
        let h = host(&["192.0.2.10", "192.0.2.11"]);
        let mut f = fwd(9, 40000);
        f.proto = Proto::Udp;
        f.int_port = 53;
        let add = add_script(&h, &f);
        assert_eq!(
            add,
            "*nat\n\
             -A SUANLI-N39 -d 192.0.2.10/32 -p udp -m udp --dport 40000 -m comment --comment \"suanli:vm1:9\" -j DNAT --to-destination 10.99.0.5:53\n\
             -A SUANLI-N39 -d 192.0.2.11/32 -p udp -m udp --dport 40000 -m comment --comment \"suanli:vm1:9\" -j DNAT --to-destination 10.99.0.5:53\n\
             COMMIT\n"
        );
        // no chain declaration: that would flush it
        assert!(!add.contains("[0:0]"));
        // the full script holds each of them
        let full = restore_script(&h, &[fwd(1, 10001), f.clone()]);
        for line in add.lines().filter(|l| l.starts_with("-A ")) {
            assert!(full.contains(line), "{line}");
        }
    }

    #[test]
    fn a_removed_forward_is_masked_on_top_of_its_shard_then_reaped_with_its_mask() {
        let h = host(&["192.0.2.10", "192.0.2.11"]);
        let f = fwd(9, 40000);
        let mask = mask_script(&h, &f);
        assert_eq!(
            mask,
            "*nat\n\
             -I SUANLI-N39 1 -d 192.0.2.10/32 -p tcp -m tcp --dport 40000 -m comment --comment \"suanli-gone:vm1:9\" -j RETURN\n\
             -I SUANLI-N39 1 -d 192.0.2.11/32 -p tcp -m tcp --dport 40000 -m comment --comment \"suanli-gone:vm1:9\" -j RETURN\n\
             COMMIT\n"
        );
        let g = fwd(10, 10001);
        let reap = reap_script(&h, &[f.clone(), g.clone()]);
        // every mask and every DNAT line of both, deleted in one transaction
        let deleted: Vec<&str> = reap.lines().filter(|l| l.starts_with("-D ")).collect();
        assert_eq!(deleted.len(), 8, "{reap}");
        for added in [add_script(&h, &f), add_script(&h, &g)] {
            for line in added.lines().filter(|l| l.starts_with("-A ")) {
                assert!(
                    deleted.contains(&line.replacen("-A ", "-D ", 1).as_str()),
                    "{line}"
                );
            }
        }
        for line in mask.lines().filter(|l| l.starts_with("-I ")) {
            let d = line.replacen("-I ", "-D ", 1).replacen(" 1 -d ", " -d ", 1);
            assert!(deleted.contains(&d.as_str()), "{d}");
        }
        assert_eq!(reap.matches("COMMIT\n").count(), 1);
        // nothing to mask or reap without an address or a forward
        assert_eq!(mask_script(&host(&[]), &f), "");
        assert_eq!(reap_script(&h, &[]), "");
    }

    #[test]
    fn jumps_use_docker_user_when_docker_runs() {
        let mut host = host(&[]);
        let fwd = |parent: &'static str| ("filter", parent, "SUANLI-FWD".to_string());
        assert_eq!(host.jumps(true)[2], fwd("DOCKER-USER"));
        assert_eq!(host.jumps(false)[2], fwd("FORWARD"));
        host.main_interface = "eth0".into();
        host.subnet = "10.99.0.0/24".into();
        let post = ("nat", "POSTROUTING", "SUANLI-POST".to_string());
        assert_eq!(host.jumps(false)[3], post);
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
