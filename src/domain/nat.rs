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
    fn ports_are_drawn_in_range_and_free() {
        assert_eq!(pick_port([22, 10000, 10001], &[10000]), Some(10001));
        assert_eq!(pick_port([10000], &[10000]), None);
        assert_eq!(Proto::parse("TCP"), Some(Proto::Tcp));
        assert_eq!(Proto::parse("icmp"), None);
    }
}
