//! The contract the ZJMF (魔方财务) `lxdserver` plugin speaks with its backend: how it
//! names containers, how its numeric options arrive (numbers, strings or ""), what a
//! create asks for, and the LXD config keys that follow. No IO. `bounds` says how far
//! each number may go, `query` reads query strings and form bodies, `usage` works out a
//! container's usage from what LXD says.

pub mod bounds;
pub mod power;
pub mod query;
pub mod usage;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

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
    pub fn not_integer(field: &str) -> Self {
        Refusal::new(400, "lxdapi.not_integer").with("field", field)
    }
    pub fn not_string(field: &str) -> Self {
        Refusal::new(400, "lxdapi.not_string").with("field", field)
    }
    pub fn out_of_range(field: &str, range: &RangeInclusive<u64>) -> Self {
        Refusal::new(400, "lxdapi.out_of_range")
            .with("field", field)
            .with("min", range.start())
            .with("max", range.end())
    }
    pub fn bad_encoding(field: &str) -> Self {
        Refusal::new(400, "lxdapi.bad_encoding").with("field", field)
    }
    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(n, v)| (*n, v.as_str())).collect();
        i18n::tf(lang, self.key, &args)
    }
    /// The message the API answers with (Chinese, as the plugin expects).
    pub fn msg(&self) -> String {
        self.text(Lang::Zh)
    }
    /// The refusal as the audit log keeps it: its key and arguments as JSON
    /// (`{"args":{},"refusal":"lxdapi.exists"}`), read back in the viewer's language by
    /// `domain::audit::detail`.
    pub fn audit_detail(&self) -> String {
        let args: serde_json::Map<String, Value> = self
            .args
            .iter()
            .map(|(n, v)| ((*n).to_string(), Value::String(v.clone())))
            .collect();
        serde_json::json!({"refusal": self.key, "args": args}).to_string()
    }
}

/// A container name as LXD accepts it: a DNS label (`fields::is_dns_label`). The plugin
/// sends it unencoded in query strings, so anything else is refused rather than guessed
/// at.
pub fn hostname(raw: Option<&str>) -> Result<String, Refusal> {
    let Some(raw) = raw else {
        return Err(Refusal::missing("hostname"));
    };
    let t = raw.trim();
    if t.is_empty() {
        return Err(Refusal::missing("hostname"));
    }
    if super::fields::is_dns_label(t) {
        Ok(t.to_string())
    } else {
        Err(Refusal::invalid("hostname"))
    }
}

/// The `hostname` of a JSON body: a string (see `hostname`).
pub fn json_hostname(body: &Value) -> Result<String, Refusal> {
    match body.get("hostname") {
        None | Some(Value::Null) => hostname(None),
        Some(Value::String(s)) => hostname(Some(s)),
        Some(_) => Err(Refusal::not_string("hostname")),
    }
}

/// A string field; None when absent or blank. A number is taken as its text (ZJMF
/// options may arrive either way); a list, object or boolean is refused.
pub fn text(body: &Value, field: &str) -> Result<Option<String>, Refusal> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(Refusal::not_string(field)),
    }
}

/// A password the container's `chpasswd` can take: one line of at most 128 bytes. It
/// must be a JSON string (the plugin sends one): a number would lose leading zeros.
pub fn password(body: &Value) -> Result<String, Refusal> {
    let p = match body.get("password") {
        None | Some(Value::Null) => return Err(Refusal::missing("password")),
        Some(Value::String(p)) => p,
        Some(_) => return Err(Refusal::not_string("password")),
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
        use bounds::{CPU, DISK_MB, FLOW_GB, PORTS, RAM_MB, RATE_MBIT, required, whole};
        let hostname = json_hostname(body)?;
        let password = password(body)?;
        let product = Product {
            cpu: required(body, "cpu", CPU)?,
            disk_mb: required(body, "disk", DISK_MB)?,
            ram_mb: required(body, "ram", RAM_MB)?,
            up_mbit: whole(body, "up", RATE_MBIT)?.unwrap_or(0),
            down_mbit: whole(body, "down", RATE_MBIT)?.unwrap_or(0),
            ports: whole(body, "ports", PORTS)?.unwrap_or(0),
            bandwidth_gb: whole(body, "bandwidth", FLOW_GB)?.unwrap_or(0),
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
            hostname: json_hostname(body)?,
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
        assert_eq!(
            CreateRequest::parse(&bad_ram),
            Err(Refusal::not_integer("ram"))
        );
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
    fn every_number_of_a_create_is_bounded_and_named() {
        use bounds::{CPU, DISK_MB, FLOW_GB, PORTS, RAM_MB, RATE_MBIT};
        let base = json!({"hostname": "vm1", "password": "Pw1!x", "cpu": "1", "disk": "512",
            "ram": "256"});
        let with = |field: &str, v: Value| {
            let mut b = base.clone();
            b[field] = v;
            CreateRequest::parse(&b)
        };
        // the largest of each is taken as it is
        for (field, max) in [
            ("cpu", *CPU.end()),
            ("disk", *DISK_MB.end()),
            ("ram", *RAM_MB.end()),
            ("up", *RATE_MBIT.end()),
            ("down", *RATE_MBIT.end()),
            ("ports", *PORTS.end()),
            ("bandwidth", *FLOW_GB.end()),
        ] {
            assert!(with(field, json!(max)).is_ok(), "{field} {max}");
            assert!(
                with(field, json!(max.to_string())).is_ok(),
                "{field} \"{max}\""
            );
        }
        for (field, range) in [
            ("cpu", CPU),
            ("disk", DISK_MB),
            ("ram", RAM_MB),
            ("up", RATE_MBIT),
            ("down", RATE_MBIT),
            ("ports", PORTS),
            ("bandwidth", FLOW_GB),
        ] {
            let outside = Err(Refusal::out_of_range(field, &range));
            for v in [
                json!(range.end() + 1),
                json!(1e20),
                json!(1e30),
                json!("100000000000000000000"),
                json!(-1),
                json!("-5"),
            ] {
                assert_eq!(with(field, v.clone()), outside, "{field} {v}");
            }
            for v in [
                json!("NaN"),
                json!("1e30"),
                json!(2.5),
                json!("lots"),
                json!([1]),
            ] {
                assert_eq!(
                    with(field, v.clone()),
                    Err(Refusal::not_integer(field)),
                    "{field} {v}"
                );
            }
        }
        for (field, low) in [("cpu", "0"), ("ram", "31"), ("disk", "63")] {
            assert!(
                matches!(with(field, json!(low)), Err(r) if r.key == "lxdapi.out_of_range"),
                "{field} {low}"
            );
        }
        assert_eq!(
            Refusal::out_of_range("cpu", &CPU).msg(),
            "参数 cpu 超出范围（应为 1 到 8192 之间的整数）"
        );
    }

    #[test]
    fn passwords_and_hostnames_must_be_strings() {
        let body = |password: Value, hostname: Value| json!({"hostname": hostname, "password": password, "cpu": 1, "disk": 512, "ram": 256});
        for (password, want) in [
            (json!(12345678), Refusal::not_string("password")),
            (json!(true), Refusal::not_string("password")),
            (json!(["pw"]), Refusal::not_string("password")),
            (json!({"pw": 1}), Refusal::not_string("password")),
            (json!(null), Refusal::missing("password")),
            (json!(""), Refusal::missing("password")),
            (json!("a\nb"), Refusal::invalid("password")),
        ] {
            let b = body(password.clone(), json!("vm1"));
            assert_eq!(CreateRequest::parse(&b), Err(want.clone()), "{password}");
            assert_eq!(ReinstallRequest::parse(&b), Err(want.clone()), "{password}");
            assert_eq!(super::password(&b), Err(want), "{password}");
        }
        // a password of digits, sent as the plugin sends it: a string
        assert_eq!(
            CreateRequest::parse(&body(json!("12345678"), json!("vm1")))
                .unwrap()
                .password,
            "12345678"
        );
        assert_eq!(
            CreateRequest::parse(&body(json!("pw"), json!(42))),
            Err(Refusal::not_string("hostname"))
        );
        assert_eq!(
            CreateRequest::parse(&body(json!("pw"), json!(null))),
            Err(Refusal::missing("hostname"))
        );
        let mut b = body(json!("pw"), json!("vm1"));
        b["system"] = json!(["debian"]);
        assert_eq!(CreateRequest::parse(&b), Err(Refusal::not_string("system")));
        assert_eq!(
            Refusal::not_string("password").msg(),
            "参数 password 必须是字符串"
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
