//! The contract the ZJMF (魔方财务) `lxdserver` plugin speaks with its backend: how it
//! names containers, how its numeric options arrive (numbers, strings or ""), what a
//! create asks for, and the LXD config keys that follow. No IO.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::i18n::{self, Lang};

/// Why a request is refused: the JSON `code` (the HTTP status is the same) and what to
/// say, as an i18n key (`lxdapi.*`) with its `{name}` arguments. The API answers in
/// Chinese, the text the plugin shows (`msg`); the admin pages in the user's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Refusal {
    pub fn new(code: u16, key: &'static str) -> Self {
        Refusal {
            code,
            key,
            args: Vec::new(),
        }
    }
    /// With the argument `{name}` of the message.
    pub fn with(mut self, name: &'static str, value: impl std::fmt::Display) -> Self {
        self.args.push((name, value.to_string()));
        self
    }
    pub fn missing(field: &str) -> Self {
        Refusal::new(400, "lxdapi.missing").with("field", field)
    }
    pub fn invalid(field: &str) -> Self {
        Refusal::new(400, "lxdapi.invalid").with("field", field)
    }
    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        self.args.iter().fold(
            i18n::t(lang, self.key).to_string(),
            |text, (name, value)| text.replace(&format!("{{{name}}}"), value),
        )
    }
    /// The message the API answers with (Chinese, as the plugin expects).
    pub fn msg(&self) -> String {
        self.text(Lang::Zh)
    }
}

pub const NAME_MAX: usize = 63;

/// A container name as LXD accepts it: letters, digits and hyphens, at most 63, starting
/// with a letter, not ending with a hyphen. The plugin sends it unencoded in query
/// strings, so anything else is refused rather than guessed at.
pub fn hostname(raw: Option<&str>) -> Result<String, Refusal> {
    let Some(raw) = raw else {
        return Err(Refusal::missing("hostname"));
    };
    let t = raw.trim();
    if t.is_empty() {
        return Err(Refusal::missing("hostname"));
    }
    let ok = t.len() <= NAME_MAX
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && t.starts_with(|c: char| c.is_ascii_alphabetic())
        && !t.ends_with('-');
    if ok {
        Ok(t.to_string())
    } else {
        Err(Refusal::invalid("hostname"))
    }
}

/// A non-negative whole number sent as a JSON number, a numeric string or "" (ZJMF
/// passes text options as strings). None when absent, null or "".
pub fn count(body: &Value, field: &str) -> Result<Option<u64>, Refusal> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| Refusal::invalid(field)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Refusal::invalid(field)),
        Some(_) => Err(Refusal::invalid(field)),
    }
}

/// A required positive count.
fn positive(body: &Value, field: &str) -> Result<u64, Refusal> {
    match count(body, field)? {
        None => Err(Refusal::missing(field)),
        Some(0) => Err(Refusal::invalid(field)),
        Some(n) => Ok(n),
    }
}

/// A string field; None when absent or blank.
pub fn text(body: &Value, field: &str) -> Result<Option<String>, Refusal> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(Refusal::invalid(field)),
    }
}

/// A password the container's `chpasswd` can take: one line, no colon-free surprises.
pub fn password(body: &Value) -> Result<String, Refusal> {
    let Some(p) = body.get("password").and_then(Value::as_str) else {
        return Err(Refusal::missing("password"));
    };
    if p.is_empty() {
        return Err(Refusal::missing("password"));
    }
    if p.len() > 128 || p.contains(['\n', '\r', '\0']) {
        return Err(Refusal::invalid("password"));
    }
    Ok(p.to_string())
}

/// An image alias as given (`system`); None means the default image.
pub fn image(body: &Value) -> Result<Option<String>, Refusal> {
    let alias = text(body, "system")?;
    if let Some(a) = &alias {
        let ok = a.len() <= 255
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b));
        if !ok {
            return Err(Refusal::invalid("system"));
        }
    }
    Ok(alias)
}

/// What a create asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub cpu: u64,
    pub disk_mb: u64,
    pub ram_mb: u64,
    /// Mbit/s; 0 = unlimited
    pub up_mbit: u64,
    pub down_mbit: u64,
    /// NAT rules allowed (the automatic SSH rule included)
    pub ports: u64,
    /// flow limit in GB; 0 = unlimited
    pub bandwidth_gb: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub hostname: String,
    pub password: String,
    /// None: the default image
    pub image: Option<String>,
    pub product: Product,
}

impl CreateRequest {
    pub fn parse(body: &Value) -> Result<Self, Refusal> {
        let hostname = hostname(body.get("hostname").and_then(Value::as_str))?;
        let password = password(body)?;
        let product = Product {
            cpu: positive(body, "cpu")?,
            disk_mb: positive(body, "disk")?,
            ram_mb: positive(body, "ram")?,
            up_mbit: count(body, "up")?.unwrap_or(0),
            down_mbit: count(body, "down")?.unwrap_or(0),
            ports: count(body, "ports")?.unwrap_or(0),
            bandwidth_gb: count(body, "bandwidth")?.unwrap_or(0),
        };
        Ok(CreateRequest {
            hostname,
            password,
            image: image(body)?,
            product,
        })
    }
}

/// What a reinstall asks for: the same container rebuilt from `image` (None: the default
/// image) with a new password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReinstallRequest {
    pub hostname: String,
    pub password: String,
    pub image: Option<String>,
}

impl ReinstallRequest {
    pub fn parse(body: &Value) -> Result<Self, Refusal> {
        Ok(ReinstallRequest {
            hostname: hostname(body.get("hostname").and_then(Value::as_str))?,
            password: password(body)?,
            image: image(body)?,
        })
    }
}

/// The config a rebuilt container keeps from the old one: limits, `security.*`, `user.*`
/// (billing metadata)… but not what LXD derives from the image or the container's life
/// (`image.*`, `volatile.*`); the image key names the new image.
pub fn rebuilt_config(old: &BTreeMap<String, String>, image: &str) -> BTreeMap<String, String> {
    let mut config: BTreeMap<String, String> = old
        .iter()
        .filter(|(k, _)| !k.starts_with("volatile.") && !k.starts_with("image."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    config.insert(meta("image"), image.to_string());
    config
}

/// The name a reinstall builds the new root under before the old container goes: a valid
/// LXD name (≤ 63) derived from the hostname, unique through `tag`.
pub fn scratch_name(hostname: &str, tag: u32) -> String {
    let stem: String = hostname.chars().take(48).collect();
    format!("{}-new-{tag:08x}", stem.trim_end_matches('-'))
}

/// A port forward as addport/delport send it: `dtype` tcp|udp, `dport` the external port
/// (10000–65535, the plugin's range), `sport` the container's port (1–65535).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRule {
    pub proto: crate::domain::nat::Proto,
    pub ext_port: u16,
    pub int_port: u16,
}

impl PortRule {
    pub fn parse<'a>(field: impl Fn(&str) -> Option<&'a str>) -> Result<Self, Refusal> {
        let required = |k: &str| {
            field(k)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Refusal::missing(k))
        };
        let proto = crate::domain::nat::Proto::parse(required("dtype")?)
            .ok_or_else(|| Refusal::invalid("dtype"))?;
        let port = |k: &str, min: u16| -> Result<u16, Refusal> {
            required(k)?
                .parse::<u16>()
                .ok()
                .filter(|p| *p >= min)
                .ok_or_else(|| Refusal::invalid(k))
        };
        Ok(PortRule {
            proto,
            ext_port: port("dport", crate::domain::nat::EXT_MIN)?,
            int_port: port("sport", 1)?,
        })
    }
}

/// An LXD config key under Suanli's own `user.` namespace (billing figures, the image).
pub fn meta(key: &str) -> String {
    format!("user.suanli.{key}")
}

/// A rate limit as LXD reads it: `10Mbit` for 10 Mbit/s (a bare number would be bit/s);
/// None for unlimited.
pub fn rate(mbit: u64) -> Option<String> {
    (mbit > 0).then(|| format!("{mbit}Mbit"))
}

/// The container's LXD config and devices for a product: CPU and memory limits, the
/// root disk in `pool`, the NIC on `bridge` (isolated from the other customers' ports,
/// with rate limits only when limited), nesting on, and the billing figures under
/// `user.suanli.*`.
pub fn lxd_config(
    p: &Product,
    pool: &str,
    bridge: &str,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, BTreeMap<String, String>>,
) {
    let config = BTreeMap::from([
        ("limits.cpu".to_string(), p.cpu.to_string()),
        ("limits.memory".to_string(), format!("{}MB", p.ram_mb)),
        ("security.nesting".to_string(), "true".to_string()),
        (meta("disk_mb"), p.disk_mb.to_string()),
        (meta("up_mbit"), p.up_mbit.to_string()),
        (meta("down_mbit"), p.down_mbit.to_string()),
        (meta("ports"), p.ports.to_string()),
        (meta("bandwidth_gb"), p.bandwidth_gb.to_string()),
    ]);
    let root = BTreeMap::from([
        ("type".to_string(), "disk".to_string()),
        ("path".to_string(), "/".to_string()),
        ("pool".to_string(), pool.to_string()),
        ("size".to_string(), format!("{}MB", p.disk_mb)),
    ]);
    let mut nic = BTreeMap::from([
        ("type".to_string(), "nic".to_string()),
        ("nictype".to_string(), "bridged".to_string()),
        ("parent".to_string(), bridge.to_string()),
        ("name".to_string(), "eth0".to_string()),
    ]);
    // SECURITY: customers share the bridge; their ports must not reach each other
    super::port_isolation::isolate(&mut nic);
    // LXD names directions from the container's side: what it receives (the customer's
    // download) is ingress, what it sends (upload) egress
    if let Some(r) = rate(p.down_mbit) {
        nic.insert("limits.ingress".to_string(), r);
    }
    if let Some(r) = rate(p.up_mbit) {
        nic.insert("limits.egress".to_string(), r);
    }
    let devices = BTreeMap::from([("root".to_string(), root), ("eth0".to_string(), nic)]);
    (config, devices)
}

/// CPU use in percent of the container's cores between two samples of its cumulative
/// CPU time (ns), rounded to 2 decimals; 0 without two samples.
pub fn cpu_percent(prev_ns: i64, now_ns: i64, elapsed_ns: i64, cores: u64) -> f64 {
    if elapsed_ns <= 0 || now_ns < prev_ns || cores == 0 {
        return 0.0;
    }
    let pct = (now_ns - prev_ns) as f64 / elapsed_ns as f64 / cores as f64 * 100.0;
    (pct.min(100.0) * 100.0).round() / 100.0
}

/// Bytes to whole MB (the plugin shows MB).
pub fn mb(bytes: i64) -> i64 {
    bytes.max(0) / (1024 * 1024)
}

/// Bytes to GB with 2 decimals.
pub fn gb2(bytes: i64) -> f64 {
    (bytes.max(0) as f64 / 1024f64.powi(3) * 100.0).round() / 100.0
}

/// `Status` as the plugin knows it: `running` and `stop`; `frozen`, else `unknown`.
pub fn status(lxd_status: &str) -> &'static str {
    match lxd_status {
        "Running" => "running",
        "Stopped" => "stop",
        "Frozen" => "frozen",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusals_speak_chinese_to_the_api_and_the_user_s_language_on_pages() {
        let r = Refusal::invalid("dport");
        assert_eq!((r.code, r.msg().as_str()), (400, "参数 dport 无效"));
        assert_eq!(r.text(Lang::En), "Invalid parameter dport");
        let r = Refusal::new(403, "lxdapi.rule_limit").with("limit", 3);
        assert_eq!(r.msg(), "端口转发数量已达上限（3）");
        assert_eq!(r.text(Lang::En), "The port forward limit is reached (3)");
    }

    #[test]
    fn hostnames_are_what_lxd_accepts() {
        assert_eq!(hostname(Some("vm-1")), Ok("vm-1".into()));
        assert_eq!(hostname(Some(&"a".repeat(63))), Ok("a".repeat(63)));
        assert_eq!(hostname(None), Err(Refusal::missing("hostname")));
        assert_eq!(hostname(Some(" ")), Err(Refusal::missing("hostname")));
        for bad in [
            "1vm",
            "-vm",
            "vm-",
            "vm_1",
            "vm.1",
            "vm 1",
            "../x",
            "vm%201",
            &"a".repeat(64),
        ] {
            assert_eq!(
                hostname(Some(bad)),
                Err(Refusal::invalid("hostname")),
                "{bad}"
            );
        }
    }

    #[test]
    fn counts_come_as_numbers_strings_or_empty() {
        let b = json!({"a": 1, "b": "1", "c": "", "d": 0, "e": "0", "f": -1, "g": "x", "h": 1.5, "i": 2.0, "j": null, "k": [1]});
        assert_eq!(count(&b, "a"), Ok(Some(1)));
        assert_eq!(count(&b, "b"), Ok(Some(1)));
        assert_eq!(count(&b, "c"), Ok(None));
        assert_eq!(count(&b, "d"), Ok(Some(0)));
        assert_eq!(count(&b, "e"), Ok(Some(0)));
        assert_eq!(count(&b, "i"), Ok(Some(2)));
        assert_eq!(count(&b, "j"), Ok(None));
        assert_eq!(count(&b, "missing"), Ok(None));
        for bad in ["f", "g", "h", "k"] {
            assert_eq!(count(&b, bad), Err(Refusal::invalid(bad)), "{bad}");
        }
    }

    #[test]
    fn a_create_request_in_every_form_the_plugin_sends() {
        let strings = json!({"hostname": "vm1", "password": "Pw1!x", "cpu": "2", "disk": "10240",
            "ram": "1024", "system": "", "up": "", "down": "0", "ports": 5, "bandwidth": ""});
        let numbers = json!({"hostname": "vm1", "password": "Pw1!x", "cpu": 2, "disk": 10240,
            "ram": 1024, "up": 0, "down": 0, "ports": "5", "bandwidth": 0});
        let a = CreateRequest::parse(&strings).unwrap();
        assert_eq!(a, CreateRequest::parse(&numbers).unwrap());
        assert_eq!(a.image, None);
        assert_eq!(
            (
                a.product.up_mbit,
                a.product.down_mbit,
                a.product.bandwidth_gb
            ),
            (0, 0, 0)
        );
        let mut no_cpu = strings.clone();
        no_cpu["cpu"] = json!("");
        assert_eq!(CreateRequest::parse(&no_cpu), Err(Refusal::missing("cpu")));
        let mut bad_ram = strings.clone();
        bad_ram["ram"] = json!("1G");
        assert_eq!(CreateRequest::parse(&bad_ram), Err(Refusal::invalid("ram")));
        let mut no_pw = strings.clone();
        no_pw["password"] = json!("");
        assert_eq!(
            CreateRequest::parse(&no_pw),
            Err(Refusal::missing("password"))
        );
        let mut bad_image = strings;
        bad_image["system"] = json!("debian; rm -rf /");
        assert_eq!(
            CreateRequest::parse(&bad_image),
            Err(Refusal::invalid("system"))
        );
    }

    #[test]
    fn port_rules_as_the_plugin_posts_them() {
        use crate::domain::nat::Proto;
        let form = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        };
        assert_eq!(
            PortRule::parse(form(&[
                ("dtype", "TCP"),
                ("dport", "10080"),
                ("sport", "80")
            ])),
            Ok(PortRule {
                proto: Proto::Tcp,
                ext_port: 10080,
                int_port: 80
            })
        );
        for (pairs, want) in [
            (
                &[("dport", "10080"), ("sport", "80")][..],
                Refusal::missing("dtype"),
            ),
            (
                &[("dtype", "icmp"), ("dport", "10080"), ("sport", "80")][..],
                Refusal::invalid("dtype"),
            ),
            (
                &[("dtype", "udp"), ("dport", "9999"), ("sport", "80")][..],
                Refusal::invalid("dport"),
            ),
            (
                &[("dtype", "udp"), ("dport", "65536"), ("sport", "80")][..],
                Refusal::invalid("dport"),
            ),
            (
                &[("dtype", "udp"), ("dport", "10080"), ("sport", "0")][..],
                Refusal::invalid("sport"),
            ),
            (
                &[("dtype", "udp"), ("dport", "10080")][..],
                Refusal::missing("sport"),
            ),
        ] {
            let pairs: &'static [(&str, &str)] = Box::leak(pairs.to_vec().into_boxed_slice());
            assert_eq!(PortRule::parse(form(pairs)), Err(want));
        }
    }

    #[test]
    fn limits_are_written_with_their_unit_and_only_when_limited() {
        assert_eq!(rate(10), Some("10Mbit".into()));
        assert_eq!(rate(0), None);
        let p = Product {
            cpu: 2,
            disk_mb: 10240,
            ram_mb: 1024,
            up_mbit: 10,
            down_mbit: 100,
            ports: 5,
            bandwidth_gb: 0,
        };
        let (config, devices) = lxd_config(&p, "default", "lxdbr0");
        assert_eq!(config["limits.cpu"], "2");
        assert_eq!(config["limits.memory"], "1024MB");
        assert_eq!(devices["root"]["size"], "10240MB");
        assert_eq!(devices["eth0"]["limits.egress"], "10Mbit", "up");
        assert_eq!(devices["eth0"]["limits.ingress"], "100Mbit", "down");
        assert_eq!(
            devices["eth0"],
            BTreeMap::from(
                [
                    ("type", "nic"),
                    ("nictype", "bridged"),
                    ("parent", "lxdbr0"),
                    ("name", "eth0"),
                    ("security.port_isolation", "true"),
                    ("limits.egress", "10Mbit"),
                    ("limits.ingress", "100Mbit"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()))
            ),
            "an isolated port on the configured bridge"
        );
        let unlimited = Product {
            up_mbit: 0,
            down_mbit: 0,
            ..p
        };
        let (_, devices) = lxd_config(&unlimited, "default", "lxdbr0");
        assert!(!devices["eth0"].contains_key("limits.ingress"));
        assert!(!devices["eth0"].contains_key("limits.egress"));
    }

    #[test]
    fn usage_figures() {
        // 0.5 s of CPU over 1 s on 2 cores: 25 %
        assert_eq!(cpu_percent(0, 500_000_000, 1_000_000_000, 2), 25.0);
        assert_eq!(cpu_percent(0, 1, 3_000_000_000, 1), 0.0);
        assert_eq!(cpu_percent(10, 5, 1, 1), 0.0, "counter reset (restart)");
        assert_eq!(cpu_percent(0, 2_000_000_000, 1_000_000_000, 1), 100.0);
        assert_eq!(mb(5 * 1024 * 1024 + 1), 5);
        assert_eq!(gb2(1_610_612_736), 1.5);
        assert_eq!(status("Running"), "running");
        assert_eq!(status("Stopped"), "stop");
        assert_eq!(status("Frozen"), "frozen");
        assert_eq!(status("Error"), "unknown");
    }

    #[test]
    fn a_reinstall_reads_like_a_create_without_the_product() {
        let r =
            ReinstallRequest::parse(&json!({"hostname": "vm1", "password": "pw", "system": ""}))
                .unwrap();
        assert_eq!(
            r,
            ReinstallRequest {
                hostname: "vm1".into(),
                password: "pw".into(),
                image: None
            }
        );
        let r = ReinstallRequest::parse(
            &json!({"hostname": "vm1", "password": "pw", "system": "debian12"}),
        );
        assert_eq!(r.unwrap().image.as_deref(), Some("debian12"));
        assert_eq!(
            ReinstallRequest::parse(&json!({"hostname": "vm1", "system": "x"})).unwrap_err(),
            Refusal::missing("password")
        );
        assert_eq!(
            ReinstallRequest::parse(&json!({"password": "pw"})).unwrap_err(),
            Refusal::missing("hostname")
        );
    }

    #[test]
    fn a_rebuilt_container_keeps_limits_and_metadata_but_not_volatile_keys() {
        let (flow, image) = (meta("bandwidth_gb"), meta("image"));
        let old: BTreeMap<String, String> = [
            ("limits.cpu", "2"),
            ("limits.memory", "512MB"),
            ("security.nesting", "true"),
            (flow.as_str(), "100"),
            (image.as_str(), "old-image"),
            ("image.os", "Debian"),
            ("volatile.eth0.hwaddr", "00:16:3e:00:00:01"),
            ("volatile.base_image", "abc"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let new = rebuilt_config(&old, "new-image");
        let keys: Vec<&str> = new.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "limits.cpu",
                "limits.memory",
                "security.nesting",
                flow.as_str(),
                image.as_str()
            ]
        );
        assert_eq!(new[&image], "new-image");
        assert_eq!(new["limits.memory"], "512MB");
    }

    #[test]
    fn scratch_names_are_valid_lxd_names() {
        assert_eq!(scratch_name("vm1", 0xab), "vm1-new-000000ab");
        let long = format!("a{}", "-b".repeat(31));
        let name = scratch_name(&long, u32::MAX);
        assert!(name.len() <= 63, "{name}");
        assert!(hostname(Some(&name)).is_ok(), "{name}");
        assert!(!name.contains("--new"), "{name}");
    }

    use super::*;
    use serde_json::json;
}
