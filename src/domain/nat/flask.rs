//! The Flask backend's rule file (`iptables_rules.json`), read for `suanli zjmf import`.
//! No IO here.

use super::Proto;

/// A rule of the Flask backend's `iptables_rules.json` that can be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub hostname: String,
    pub proto: Proto,
    pub ext_port: u16,
    pub int_port: u16,
}

/// The rule file is not a JSON list.
#[derive(Debug, thiserror::Error)]
#[error("not a JSON list of rules: {0}")]
pub struct NotARuleList(serde_json::Error);

/// Why an entry of the rule file is skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SkippedRule {
    #[error("not an object")]
    NotAnObject,
    #[error("no container name")]
    NoName,
    #[error("bad container name {0:?}")]
    BadName(String),
    #[error("unknown protocol {0:?}")]
    UnknownProtocol(String),
    /// which port ("external", "container")
    #[error("no {0} port")]
    NoPort(&'static str),
    /// which port, and its value
    #[error("bad {0} port {1:?}")]
    BadPort(&'static str, String),
}

/// The rules of a rule file and its entries skipped, each with its position in the list.
pub type FlaskRules = (Vec<(usize, Imported)>, Vec<(usize, SkippedRule)>);

/// Reads the Flask backend's rule file: a JSON list of objects. Field names vary between
/// its versions, so each value is looked up under its known names (case-insensitive);
/// unknown fields are ignored. Returns the rules and the entries skipped and why, each
/// with its position in the list.
pub fn parse_flask_rules(text: &str) -> Result<FlaskRules, NotARuleList> {
    let list: Vec<serde_json::Value> = serde_json::from_str(text).map_err(NotARuleList)?;
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

fn flask_rule(v: &serde_json::Value) -> Result<Imported, SkippedRule> {
    let obj = v.as_object().ok_or(SkippedRule::NotAnObject)?;
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
        get(&["hostname", "container", "container_name", "name"]).ok_or(SkippedRule::NoName)?;
    let host_ok = !hostname.is_empty()
        && hostname.len() <= 63
        && hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && hostname.starts_with(|c: char| c.is_ascii_alphabetic());
    if !host_ok {
        return Err(SkippedRule::BadName(hostname));
    }
    let proto = get(&["dtype", "protocol", "proto", "type"]).unwrap_or_else(|| "tcp".into());
    let proto = Proto::parse(&proto).ok_or(SkippedRule::UnknownProtocol(proto))?;
    let port = |names: &[&str], what: &'static str| -> Result<u16, SkippedRule> {
        let raw = get(names).ok_or(SkippedRule::NoPort(what))?;
        match raw.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(SkippedRule::BadPort(what, raw)),
        }
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
        assert_eq!(skipped[1].1, SkippedRule::UnknownProtocol("icmp".into()));
        assert_eq!(skipped[1].1.to_string(), r#"unknown protocol "icmp""#);
        assert!(parse_flask_rules("{}").is_err());
    }
}
