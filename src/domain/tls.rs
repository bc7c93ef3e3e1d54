//! The panel's own HTTPS, its pure rules (issue #14): which names a generated certificate
//! is issued for (`server.tls_names`), and where the plain-HTTP port sends a browser.
//! No IO: the caller hands in this host's name, the Host header and the ports. Also the
//! facts tls/ reads from the certificate and start-up records once HTTPS listens.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The panel's HTTPS once it listens: what the settings page shows, and the port of the
/// plain-HTTP redirects (a port the NAT forwards must not take).
#[derive(Clone, Debug)]
pub struct Https {
    pub info: TlsInfo,
    /// where HTTPS listens (as bound)
    pub addr: SocketAddr,
    pub redirect: Option<SocketAddr>,
}

/// What the panel serves over HTTPS: what the settings page and the log show of it.
#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// the served certificate's SHA-256 (of its DER), `AB:CD:…` as browsers show it
    pub fingerprint: String,
    /// base64 SHA-256 of its public key (SPKI): what Chromium's
    /// `--ignore-certificate-errors-spki-list` and key pins take
    pub spki_sha256: String,
    /// its subject alternative names
    pub names: Vec<String>,
    /// the last day it is valid (UTC), `YYYY-MM-DD`
    pub not_after: String,
    pub cert_path: PathBuf,
    /// the local CA, when the certificate is generated
    pub ca: Option<CaInfo>,
    /// whether this start issued the server certificate (first start, names changed,
    /// expiring)
    pub issued: bool,
}

/// The local CA a generated certificate is signed by.
#[derive(Clone, Debug)]
pub struct CaInfo {
    pub path: PathBuf,
    pub fingerprint: String,
}

/// One subject alternative name of the generated server certificate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CertName {
    /// a DNS name, lower-case; `*.example.com` is allowed (one wildcard label, leftmost)
    Dns(String),
    Ip(IpAddr),
}

impl CertName {
    /// An IP address (`::1`, `[::1]`, `10.0.0.5`) or a DNS name (letters, digits, `-`
    /// per label, labels of 1..=63, at most 253 in all; a leading `*.` label). Case is
    /// folded.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some(Self::Ip(ip));
        }
        let name = s.to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name);
        let rest = name.strip_prefix("*.").unwrap_or(name);
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        // an all-digit last label would read as a (bad) IPv4 address to a browser
        let last_ok = rest
            .rsplit('.')
            .next()
            .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()));
        (name.len() <= 253 && rest.split('.').all(label_ok) && last_ok)
            .then(|| Self::Dns(name.to_string()))
    }
}

impl std::fmt::Display for CertName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dns(n) => f.write_str(n),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// An entry of `server.tls_names` that is neither a DNS name nor an IP address.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is neither a DNS name nor an IP address")]
pub struct BadCertName(pub String);

/// The names of `server.tls_names` (comma-separated, blanks dropped, duplicates once, in
/// order), or the first entry that is neither a DNS name nor an IP address.
pub fn parse_names(list: &str) -> Result<Vec<CertName>, BadCertName> {
    let mut names: Vec<CertName> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let name = CertName::parse(entry).ok_or_else(|| BadCertName(entry.to_string()))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The names when `server.tls_names` is empty: `localhost`, `127.0.0.1`, `::1`, this
/// host's name (when it is a valid DNS name) and the address the panel listens on (when
/// it names one address, not all of them).
pub fn default_names(host_name: Option<&str>, listen_ip: Option<IpAddr>) -> Vec<CertName> {
    let mut names = vec![
        CertName::Dns("localhost".into()),
        CertName::Ip(IpAddr::from([127, 0, 0, 1])),
        CertName::Ip(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
    ];
    let extra = [
        host_name.and_then(CertName::parse),
        listen_ip
            .filter(|ip| !ip.is_unspecified())
            .map(CertName::Ip),
    ];
    for name in extra.into_iter().flatten() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Whether a certificate's names are exactly `wanted` (order and repeats aside): when
/// they differ, the server certificate is issued again.
pub fn same_names(have: &[CertName], wanted: &[CertName]) -> bool {
    have.iter().collect::<BTreeSet<_>>() == wanted.iter().collect::<BTreeSet<_>>()
}

/// The HTTPS URL the plain-HTTP port redirects a request to: the name from the request's
/// own Host header (its port replaced by `https_port`, left out when 443), then the
/// request's path and query unchanged. None when the Host header is missing or is not a
/// plain host name or IP address with an optional port: no redirect anywhere else.
pub fn https_location(host: Option<&str>, https_port: u16, path_and_query: &str) -> Option<String> {
    // SECURITY: no open redirect; the target's authority is the request's own Host,
    // checked to be a bare name or address (no userinfo, path, or second authority)
    let host = host?.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || port_ok(after.strip_prefix(':')?)) {
            return None;
        }
        let ip: std::net::Ipv6Addr = v6.parse().ok()?;
        format!("[{ip}]")
    } else {
        let (name, port) = host.split_once(':').unwrap_or((host, ""));
        if !(port.is_empty() && !host.ends_with(':') || port_ok(port)) {
            return None;
        }
        match CertName::parse(name)? {
            CertName::Dns(n) if !n.starts_with('*') => n,
            CertName::Ip(IpAddr::V4(ip)) => ip.to_string(),
            _ => return None,
        }
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    // `*` (OPTIONS *) or an absolute-form target's empty path: the root
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    Some(format!("https://{name}{port}{path}"))
}

fn port_ok(p: &str) -> bool {
    (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed() {
        let dns = |s: &str| Some(CertName::Dns(s.into()));
        let ip = |s: &str| Some(CertName::Ip(s.parse().unwrap()));
        for (input, want) in [
            ("localhost", dns("localhost")),
            ("Panel.Example.COM", dns("panel.example.com")),
            ("panel.example.com.", dns("panel.example.com")),
            ("*.example.com", dns("*.example.com")),
            ("gpu-01", dns("gpu-01")),
            ("127.0.0.1", ip("127.0.0.1")),
            ("::1", ip("::1")),
            ("[fe80::1]", ip("fe80::1")),
            ("", None),
            ("-bad.example", None),
            ("bad-.example", None),
            ("a..b", None),
            ("under_score.example", None),
            ("exa mple", None),
            ("*.*.example", None),
            ("foo.*.example", None),
            ("256.1.1.1", None),
            ("10.0.0", None),
            ("https://x", None),
            ("x:443", None),
            (&"a".repeat(64), None),
        ] {
            assert_eq!(CertName::parse(input), want, "{input:?}");
        }
    }

    #[test]
    fn a_list_keeps_order_drops_repeats_and_names_the_bad_entry() {
        let got = parse_names(" localhost, 127.0.0.1,,LOCALHOST , panel.example.com").unwrap();
        assert_eq!(
            got.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["localhost", "127.0.0.1", "panel.example.com"]
        );
        assert_eq!(parse_names("").unwrap(), []);
        assert_eq!(
            parse_names("ok.example, bad name").unwrap_err(),
            BadCertName("bad name".into())
        );
    }

    #[test]
    fn default_names_add_the_host_and_a_specific_listen_address() {
        let show = |v: Vec<CertName>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            show(default_names(Some("gpu-box"), "10.0.0.5".parse().ok())),
            ["localhost", "127.0.0.1", "::1", "gpu-box", "10.0.0.5"]
        );
        assert_eq!(
            show(default_names(Some("not a name"), "0.0.0.0".parse().ok())),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(
            show(default_names(None, "127.0.0.1".parse().ok())),
            ["localhost", "127.0.0.1", "::1"]
        );
    }

    #[test]
    fn names_compare_as_sets() {
        let a = parse_names("localhost, 127.0.0.1").unwrap();
        let b = parse_names("127.0.0.1, localhost, localhost").unwrap();
        let c = parse_names("localhost").unwrap();
        assert!(same_names(&a, &b));
        assert!(!same_names(&a, &c));
    }

    #[test]
    fn redirects_stay_on_the_requests_own_host() {
        for (host, port, path, want) in [
            (
                Some("panel.example.com"),
                443,
                "/",
                Some("https://panel.example.com/"),
            ),
            (
                Some("panel.example.com:8080"),
                8443,
                "/instances?page=2&q=a%20b",
                Some("https://panel.example.com:8443/instances?page=2&q=a%20b"),
            ),
            (
                Some("127.0.0.1:80"),
                8443,
                "/login",
                Some("https://127.0.0.1:8443/login"),
            ),
            (Some("[::1]:80"), 8443, "/x", Some("https://[::1]:8443/x")),
            (Some("[::1]"), 443, "/x", Some("https://[::1]/x")),
            (
                Some("PANEL.example.com"),
                443,
                "*",
                Some("https://panel.example.com/"),
            ),
            (
                Some("panel"),
                443,
                "//evil.example/",
                Some("https://panel//evil.example/"),
            ),
            (None, 443, "/", None),
            (Some(""), 443, "/", None),
            (Some("evil.example@panel"), 443, "/", None),
            (Some("panel/evil"), 443, "/", None),
            (Some("panel:80/x"), 443, "/", None),
            (Some("panel:"), 443, "/", None),
            (Some("panel:8o"), 443, "/", None),
            (Some("panel:80:81"), 443, "/", None),
            (Some("[::1]x"), 443, "/", None),
            (Some("[evil]"), 443, "/", None),
            (Some("*.example.com"), 443, "/", None),
            (Some("panel\\evil"), 443, "/", None),
            (Some("panel evil"), 443, "/", None),
            (Some("::1"), 443, "/", None),
        ] {
            assert_eq!(
                https_location(host, port, path).as_deref(),
                want,
                "{host:?} {path}"
            );
        }
    }
}
