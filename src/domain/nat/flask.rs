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
}
