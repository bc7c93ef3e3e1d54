//! What this host's network says, as far as forwards care: which ports its own processes
//! listen on (a forward must not take one), and which addresses forwards listen on when
//! `zjmf.nat_listen_ip` is empty (those of the default route's interface, never a
//! bridge's). Parsers of the kernel's text (`/proc/net/*`) and of `ip -j` output; the
//! reading is the adapter's (host_net.rs). No IO here.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::Proto;

/// The kernel's socket states (include/net/tcp_states.h) that take new traffic: a TCP
/// socket in LISTEN, a UDP socket that is bound but not connected (`TCP_CLOSE`). A
/// connected UDP socket or an established TCP one only talks to its peer, whose packets
/// belong to a tracked connection that DNAT never sees again.
const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// The local ports of the sockets that take new `proto` traffic, from the text of
/// `/proc/net/tcp`, `tcp6`, `udp` or `udp6` (the header line and malformed lines are
/// skipped). Whatever the address they are bound to: a process on 127.0.0.1:P or on a
/// bridge's P still owns P on this host.
pub fn listening_ports(table: &str, proto: Proto) -> BTreeSet<u16> {
    let wanted = match proto {
        Proto::Tcp => TCP_LISTEN,
        Proto::Udp => UDP_UNCONNECTED,
    };
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            // "sl local_address rem_address st …", e.g. "0: 0100007F:1F90 00000000:0000 0A"
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if !state.eq_ignore_ascii_case(wanted) {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok().filter(|p| *p != 0)
        })
        .collect()
}

/// Whether a line of `/proc/net/tcp{,6}` is a socket past the listening ones. The kernel
/// lists every listening socket first (net/ipv4/tcp_ipv4.c, `tcp_get_idx`: the listening
/// hash, then the established one), so a reader may stop there: reading the whole table
/// walks the kernel's whole established hash, ~10 ms per table on a host with much memory.
pub fn past_listeners(line: &str) -> bool {
    let mut fields = line.split_whitespace();
    let is_record = fields.next().is_some_and(|sl| sl.ends_with(':'));
    let state = fields.nth(2);
    is_record && state.is_some_and(|st| !st.eq_ignore_ascii_case(TCP_LISTEN))
}

/// The sockets in use of one protocol (`TCP6`, `UDP6`, `TCP` …) in the text of
/// `/proc/net/sockstat{,6}`: counters the kernel keeps, read in constant time.
pub fn sockets_in_use(sockstat: &str, protocol: &str) -> Option<u64> {
    sockstat.lines().find_map(|line| {
        let rest = line.strip_prefix(protocol)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        (words.next()? == "inuse").then_some(())?;
        words.next()?.parse().ok()
    })
}

/// The interface of the default route with the lowest metric in the text of
/// `/proc/net/route` (IPv4, main table); None when there is no default route that is up.
pub fn default_route_interface(route: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask …
            let (iface, dest, flags, metric, mask) =
                (f.first()?, f.get(1)?, f.get(3)?, f.get(6)?, f.get(7)?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            let default = *dest == "00000000" && *mask == "00000000" && flags & RTF_UP != 0;
            if !default {
                return None;
            }
            Some((metric.parse::<u32>().ok()?, iface.to_string()))
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, iface)| iface)
}

/// `ip -j addr` printed something that is not its JSON.
#[derive(Debug, thiserror::Error)]
#[error("unexpected `ip -j addr` output: {0}")]
pub struct UnexpectedIpOutput(serde_json::Error);

/// The IPv4 addresses in the output of `ip -j -4 addr show dev IFACE`, in order.
pub fn ipv4_addresses(json: &str) -> Result<Vec<Ipv4Addr>, UnexpectedIpOutput> {
    let links: Vec<serde_json::Value> = serde_json::from_str(json).map_err(UnexpectedIpOutput)?;
    Ok(links
        .iter()
        .filter_map(|l| l.get("addr_info")?.as_array())
        .flatten()
        .filter(|a| a.get("family").and_then(|f| f.as_str()) == Some("inet"))
        .filter_map(|a| a.get("local")?.as_str()?.parse().ok())
        .collect())
}

/// Where forwards listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// `zjmf.nat_listen_ip`
    Configured(Ipv4Addr),
    /// the default route's interface and its IPv4 addresses, found at start-up
    Detected {
        interface: String,
        addresses: Vec<Ipv4Addr>,
    },
    /// nothing found (why): forwards capture nothing rather than every address
    Missing(String),
}

impl Listen {
    /// The addresses DNAT rules match (`-d`); none when `Missing`.
    pub fn addresses(&self) -> Vec<Ipv4Addr> {
        match self {
            Listen::Configured(a) => vec![*a],
            Listen::Detected { addresses, .. } => addresses.clone(),
            Listen::Missing(_) => Vec::new(),
        }
    }

    /// The addresses as the settings page lists them.
    pub fn list(&self) -> String {
        self.addresses()
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// From what start-up found: the default route's interface and that interface's
    /// addresses (or why they could not be read).
    pub fn detected(
        interface: String,
        addresses: Result<Vec<Ipv4Addr>, impl std::fmt::Display>,
    ) -> Listen {
        match addresses {
            Ok(a) if a.is_empty() => Listen::Missing(format!(
                "the default route's interface {interface} has no IPv4 address"
            )),
            Ok(addresses) => Listen::Detected {
                interface,
                addresses,
            },
            Err(why) => Listen::Missing(format!("the addresses of {interface}: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0000000000000000 100 0 0 10 0
   1: 00000000:B26E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 102 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 02:000A7B2E 00000000     0        0 103 2 0000000000000000 20 4 30 10 -1
   3: 020000C0:A2F4 0101A8C0:0016 06 00000000:00000000 03:00000B7F 00000000     0        0 0 3 0000000000000000
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:07EA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 201 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F91 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 202 1 0000000000000000 20 4 0 10 -1
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100630A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 301 2 0000000000000000 0
  101: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 302 2 0000000000000000 0
  102: 020000C0:E0F2 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 303 2 0000000000000000 0
";

    #[test]
    fn listening_sockets_are_read_from_proc_net() {
        let ports = |t: &str, p| listening_ports(t, p).into_iter().collect::<Vec<_>>();
        for (why, table, proto, want) in [
            (
                "tcp LISTEN on loopback and any; not established or time-wait",
                TCP,
                Proto::Tcp,
                vec![8080, 45678],
            ),
            (
                "tcp6 LISTEN on [::]; a v4-mapped established one is not",
                TCP6,
                Proto::Tcp,
                vec![2026],
            ),
            (
                "udp bound (dnsmasq on the bridge, dhcp on any); not a connected client",
                UDP,
                Proto::Udp,
                vec![53, 67],
            ),
            (
                "a tcp table read for udp: nothing is in state 07",
                TCP,
                Proto::Udp,
                vec![],
            ),
            (
                "the header alone",
                "  sl  local_address rem_address   st\n",
                Proto::Tcp,
                vec![],
            ),
            (
                "garbage",
                "x\n0: nonsense\n1: 0100007F:ZZZZ 00000000:0000 0A\n",
                Proto::Tcp,
                vec![],
            ),
            (
                "lower-case state",
                "0: 00000000:0050 00000000:0000 0a\n",
                Proto::Tcp,
                vec![80],
            ),
        ] {
            assert_eq!(ports(table, proto), want, "{why}");
        }
    }

    #[test]
    fn reading_stops_past_the_listening_sockets() {
        let lines: Vec<bool> = TCP.lines().map(past_listeners).collect();
        // header, two listeners, then an established one
        assert_eq!(lines, vec![false, false, false, true, true]);
        assert!(!past_listeners(""));
        assert!(!past_listeners("   5: 0100007F:1F90 00000000:0000"));
    }

    #[test]
    fn sockets_in_use_come_from_sockstat() {
        let v6 = "TCP6: inuse 3\nUDP6: inuse 0\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
        let v4 = "sockets: used 95\nTCP: inuse 36 orphan 0 tw 947 alloc 38 mem 532\nUDP: inuse 2 mem 0\n";
        for (why, text, protocol, want) in [
            ("tcp6", v6, "TCP6", Some(3)),
            ("udp6", v6, "UDP6", Some(0)),
            ("tcp, not TCP6's line", v4, "TCP", Some(36)),
            ("a prefix is not a protocol", v6, "TCP", None),
            ("missing", v4, "TCP6", None),
        ] {
            assert_eq!(sockets_in_use(text, protocol), want, "{why}");
        }
    }

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
lxdbr0\t0000630A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    #[test]
    fn the_default_route_with_the_lowest_metric_wins() {
        let first_line =
            |extra: &str| format!("{}{extra}", ROUTE.lines().next().unwrap_or_default());
        for (why, table, want) in [
            (
                "eth0 (100) before wlan0 (600); bridges carry no default",
                ROUTE.to_string(),
                Some("eth0"),
            ),
            (
                "a default route that is down does not count",
                first_line("\neth1\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"),
                None,
            ),
            (
                "a host route to 0.0.0.0 with a mask is not a default route",
                first_line("\neth1\t00000000\t010200C0\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"),
                None,
            ),
            ("no routes", first_line("\n"), None),
            ("empty", String::new(), None),
        ] {
            assert_eq!(default_route_interface(&table).as_deref(), want, "{why}");
        }
    }

    #[test]
    fn interface_addresses_come_from_ip_json() {
        let json = r#"[{"ifindex":4,"ifname":"eth0","flags":["BROADCAST","UP"],"addr_info":[
            {"family":"inet","local":"192.0.2.2","prefixlen":24,"scope":"global"},
            {"family":"inet","local":"192.0.2.3","prefixlen":24,"scope":"global","secondary":true},
            {"family":"inet6","local":"2001:db8::2","prefixlen":64}]}]"#;
        let want: Vec<Ipv4Addr> = vec![Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 3)];
        assert_eq!(ipv4_addresses(json).ok(), Some(want));
        assert_eq!(ipv4_addresses("[]").ok(), Some(vec![]));
        assert_eq!(
            ipv4_addresses(r#"[{"ifname":"eth0","addr_info":[]}]"#).ok(),
            Some(vec![])
        );
        assert!(ipv4_addresses("Device \"eth9\" does not exist.").is_err());
    }

    #[test]
    fn nothing_found_means_nothing_captured() {
        let a = Ipv4Addr::new(192, 0, 2, 2);
        let found = Listen::detected("eth0".into(), Ok::<_, &str>(vec![a]));
        assert_eq!(found.addresses(), vec![a]);
        assert_eq!(found.list(), "192.0.2.2");
        for (why, listen) in [
            (
                "no default route",
                Listen::Missing("no default route".into()),
            ),
            (
                "no address",
                Listen::detected("eth0".into(), Ok::<_, &str>(vec![])),
            ),
            (
                "ip failed",
                Listen::detected("eth0".into(), Err::<Vec<_>, _>("no ip")),
            ),
        ] {
            assert!(matches!(listen, Listen::Missing(_)), "{why}");
            assert!(listen.addresses().is_empty(), "{why}");
            assert_eq!(listen.list(), "", "{why}");
        }
        assert_eq!(Listen::Configured(a).addresses(), vec![a]);
    }
}
