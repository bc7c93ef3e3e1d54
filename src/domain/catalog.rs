//! The three catalog modules (镜像库 images, 算力节点 nodes, 产品规格 specs):
//! raw forms as the browser sends them, parsed into typed values with every bad
//! field reported at once.

use serde::Deserialize;

use super::fields::{self, FieldErrors};

const NAME_MAX: usize = 64;
const TEXT_MAX: usize = 255;
const REMARK_MAX: usize = 2000;
const PEM_MAX: usize = 16 * 1024;
/// Upper bound for cores, GB and GPU counts: large enough for any real machine.
const AMOUNT_MAX: i32 = 1_000_000;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImageForm {
    pub name: String,
    pub address: String,
    pub description: String,
    pub source: String,
    pub listed: Option<String>,
    pub remark: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewImage {
    pub name: String,
    pub address: String,
    pub description: String,
    pub source: String,
    pub listed: bool,
    pub remark: String,
}

impl NewImage {
    pub fn parse(f: &ImageForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let v = NewImage {
            name: e.take("name", fields::required(&f.name, NAME_MAX)),
            address: e.take("address", image_reference(&f.address)),
            description: e.take("description", fields::multiline(&f.description, REMARK_MAX)),
            source: e.take("source", fields::optional(&f.source, TEXT_MAX)),
            listed: fields::checkbox(&f.listed),
            remark: e.take("remark", fields::multiline(&f.remark, REMARK_MAX)),
        };
        e.into_result(v)
    }
}

/// A Docker image reference such as `registry:5000/team/cuda:12.4-runtime` or one
/// pinned by `@sha256:…`: no spaces, only the characters Docker accepts.
fn image_reference(s: &str) -> Result<String, &'static str> {
    let t = fields::required(s, TEXT_MAX)?;
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    if !t.chars().all(ok_char)
        || t.starts_with(['-', '.', '/', ':', '@'])
        || t.ends_with(['/', ':', '@'])
    {
        return Err("field.bad_image_ref");
    }
    Ok(t)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NodeForm {
    pub name: String,
    pub region: String,
    pub cpu_cores: String,
    pub memory_gb: String,
    pub system_disk_gb: String,
    pub data_disk_gb: String,
    pub public_ip: String,
    pub private_ip: String,
    pub ssh_port: String,
    pub username: String,
    /// empty = keep the stored password
    pub password: String,
    pub clear_password: Option<String>,
    pub gpu_model: String,
    pub gpu_count: String,
    pub docker_endpoint: String,
    pub use_tls: Option<String>,
    pub ca_cert: String,
    pub client_cert: String,
    /// empty = keep the stored key
    pub client_key: String,
    pub clear_client_key: Option<String>,
    pub listed: Option<String>,
    pub remark: String,
    /// display only ("1" = a value is stored); ops reads the stored row, never these
    pub had_password: String,
    pub had_client_key: String,
}

/// What an edit does to a stored secret. The old value is never sent to the browser,
/// so an empty field means "keep".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SecretChange {
    #[default]
    Keep,
    Clear,
    Set(String),
}

impl SecretChange {
    fn from_form(value: &str, clear: &Option<String>) -> Self {
        if fields::checkbox(clear) {
            SecretChange::Clear
        } else if value.trim().is_empty() {
            SecretChange::Keep
        } else {
            SecretChange::Set(value.replace("\r\n", "\n").trim().to_string())
        }
    }

    /// Will a value be stored after applying this change to `had`?
    pub fn leaves_value(&self, had: bool) -> bool {
        match self {
            SecretChange::Keep => had,
            SecretChange::Clear => false,
            SecretChange::Set(_) => true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewNode {
    pub name: String,
    pub region: String,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
    pub public_ip: String,
    pub private_ip: String,
    pub ssh_port: i32,
    pub username: String,
    pub password: SecretChange,
    pub gpu_model: String,
    pub gpu_count: i32,
    pub docker_endpoint: String,
    pub use_tls: bool,
    pub ca_cert: String,
    pub client_cert: String,
    pub client_key: SecretChange,
    pub listed: bool,
    pub remark: String,
}

impl NewNode {
    /// The engine on this host as a node, registered on the first start: capacity as the
    /// engine reports it (both disks on the filesystem of its data root, `disk_gb`),
    /// unlisted until the admin has looked at it.
    pub fn local(endpoint: &str, cpus: i64, memory_gb: i64, disk_gb: i64, root_dir: &str) -> Self {
        let clamp = |n: i64| i32::try_from(n.max(0)).unwrap_or(i32::MAX);
        NewNode {
            name: "local".into(),
            region: "local".into(),
            cpu_cores: clamp(cpus),
            memory_gb: clamp(memory_gb),
            system_disk_gb: clamp(disk_gb),
            data_disk_gb: clamp(disk_gb),
            public_ip: "127.0.0.1".into(),
            private_ip: "127.0.0.1".into(),
            ssh_port: 22,
            username: String::new(),
            password: SecretChange::Keep,
            gpu_model: String::new(),
            gpu_count: 0,
            docker_endpoint: endpoint.into(),
            use_tls: false,
            ca_cert: String::new(),
            client_cert: String::new(),
            client_key: SecretChange::Keep,
            listed: false,
            remark: format!("首次启动自动登记：系统盘与数据盘共用 {root_dir}（{disk_gb} GB）"),
        }
    }

    /// `had_client_key`: whether the row being edited already stores a client key
    /// (false when creating).
    pub fn parse(f: &NodeForm, had_client_key: bool) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let v = NewNode {
            name: e.take("name", fields::required(&f.name, NAME_MAX)),
            region: e.take("region", fields::optional(&f.region, NAME_MAX)),
            cpu_cores: e.take("cpu_cores", fields::count(&f.cpu_cores, AMOUNT_MAX)),
            memory_gb: e.take("memory_gb", fields::count(&f.memory_gb, AMOUNT_MAX)),
            system_disk_gb: e.take(
                "system_disk_gb",
                fields::count(&f.system_disk_gb, AMOUNT_MAX),
            ),
            data_disk_gb: e.take("data_disk_gb", fields::count(&f.data_disk_gb, AMOUNT_MAX)),
            // a Docker-only node needs none of these: its endpoint is all the panel uses
            public_ip: e.take("public_ip", fields::optional_ip(&f.public_ip)),
            private_ip: e.take("private_ip", fields::optional_ip(&f.private_ip)),
            ssh_port: e.take("ssh_port", fields::port_or(&f.ssh_port, 22)),
            username: e.take("username", fields::optional(&f.username, NAME_MAX)),
            password: SecretChange::from_form(&f.password, &f.clear_password),
            gpu_model: e.take("gpu_model", fields::optional(&f.gpu_model, NAME_MAX)),
            gpu_count: e.take("gpu_count", fields::count(&f.gpu_count, 1024)),
            docker_endpoint: e.take("docker_endpoint", docker_endpoint(&f.docker_endpoint)),
            use_tls: fields::checkbox(&f.use_tls) && !is_unix_socket(&f.docker_endpoint),
            ca_cert: e.take("ca_cert", fields::multiline(&f.ca_cert, PEM_MAX)),
            client_cert: e.take("client_cert", fields::multiline(&f.client_cert, PEM_MAX)),
            client_key: SecretChange::from_form(&f.client_key, &f.clear_client_key),
            listed: fields::checkbox(&f.listed),
            remark: e.take("remark", fields::multiline(&f.remark, REMARK_MAX)),
        };
        if let SecretChange::Set(p) = &v.password
            && p.chars().count() > TEXT_MAX
        {
            e.add("password", "field.too_long");
        }
        // TLS material is only checked where it is used: TLS on and a TCP endpoint.
        if v.use_tls && v.docker_endpoint.starts_with("tcp://") {
            if !is_pem(&v.ca_cert, "CERTIFICATE") {
                e.add("ca_cert", "field.bad_pem_cert");
            }
            if !is_pem(&v.client_cert, "CERTIFICATE") {
                e.add("client_cert", "field.bad_pem_cert");
            }
            match &v.client_key {
                SecretChange::Set(k) if !is_pem(k, "PRIVATE KEY") || k.len() > PEM_MAX => {
                    e.add("client_key", "field.bad_pem_key")
                }
                c if !c.leaves_value(had_client_key) => e.add("client_key", "field.bad_pem_key"),
                _ => {}
            }
        }
        e.into_result(v)
    }
}

/// What 测试连接 connects to: the endpoint typed in and, for TLS, the material typed in
/// (an empty client key means the stored one, when `editing` a node; a new node's TLS
/// needs it typed in). The rest of the form is not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    pub endpoint: String,
    /// (CA, client certificate, client key or None for the stored one)
    pub tls: Option<(String, String, Option<String>)>,
}

impl ProbeTarget {
    pub fn parse(f: &NodeForm, editing: bool) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let endpoint = e.take("docker_endpoint", docker_endpoint(&f.docker_endpoint));
        if endpoint.is_empty() && e.get("docker_endpoint").is_none() {
            e.add("docker_endpoint", "field.required");
        }
        let tls = (fields::checkbox(&f.use_tls) && endpoint.starts_with("tcp://")).then(|| {
            if !is_pem(&f.ca_cert, "CERTIFICATE") {
                e.add("ca_cert", "field.bad_pem_cert");
            }
            if !is_pem(&f.client_cert, "CERTIFICATE") {
                e.add("client_cert", "field.bad_pem_cert");
            }
            let key = f.client_key.trim();
            if key.is_empty() && !editing {
                e.add("client_key", "field.required");
            } else if !key.is_empty() && !is_pem(key, "PRIVATE KEY") {
                e.add("client_key", "field.bad_pem_key");
            }
            (
                f.ca_cert.trim().to_string(),
                f.client_cert.trim().to_string(),
                (!key.is_empty()).then(|| key.to_string()),
            )
        });
        e.into_result(ProbeTarget { endpoint, tls })
    }
}

/// A unix socket never uses TLS: a ticked 使用 TLS is dropped for it, as Portainer
/// offers TLS only for the TCP API and not for a socket environment (#17).
fn is_unix_socket(endpoint: &str) -> bool {
    endpoint.trim().starts_with("unix://")
}

/// `unix:///var/run/docker.sock` or `tcp://host:port`; empty means "not set yet".
fn docker_endpoint(s: &str) -> Result<String, &'static str> {
    let t = fields::optional(s, TEXT_MAX)?;
    if t.is_empty() {
        return Ok(t);
    }
    let ok = if let Some(path) = t.strip_prefix("unix://") {
        path.starts_with('/') && path.len() > 1
    } else if let Some(addr) = t.strip_prefix("tcp://") {
        addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
    } else {
        false
    };
    if ok {
        Ok(t)
    } else {
        Err("field.bad_docker_endpoint")
    }
}

/// One or more PEM blocks whose label ends with `label` ("CERTIFICATE",
/// "PRIVATE KEY" also matches "RSA PRIVATE KEY" / "EC PRIVATE KEY"), with base64 bodies.
pub fn is_pem(text: &str, label: &str) -> bool {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .peekable();
    let mut blocks = 0;
    while let Some(begin) = lines.next() {
        let Some(kind) = begin
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            return false;
        };
        if !kind.ends_with(label) {
            return false;
        }
        let mut body = 0;
        loop {
            match lines.next() {
                Some(l) if l == format!("-----END {kind}-----") => break,
                Some(l)
                    if l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)) =>
                {
                    body += l.len()
                }
                _ => return false,
            }
        }
        if body < 16 {
            return false;
        }
        blocks += 1;
    }
    blocks > 0
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SpecForm {
    pub name: String,
    pub gpu_model: String,
    pub gpu_count: String,
    pub cpu_cores: String,
    pub memory_gb: String,
    pub system_disk_gb: String,
    pub data_disk_gb: String,
    pub price_per_hour: String,
    pub listed: Option<String>,
    pub remark: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewSpec {
    pub name: String,
    pub gpu_model: String,
    pub gpu_count: i32,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
    pub price_per_hour_cents: i64,
    pub listed: bool,
    pub remark: String,
}

impl NewSpec {
    pub fn parse(f: &SpecForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let v = NewSpec {
            name: e.take("name", fields::required(&f.name, NAME_MAX)),
            gpu_model: e.take("gpu_model", fields::optional(&f.gpu_model, NAME_MAX)),
            gpu_count: e.take("gpu_count", fields::count(&f.gpu_count, 1024)),
            cpu_cores: e.take("cpu_cores", fields::count(&f.cpu_cores, AMOUNT_MAX)),
            memory_gb: e.take("memory_gb", fields::count(&f.memory_gb, AMOUNT_MAX)),
            system_disk_gb: e.take(
                "system_disk_gb",
                fields::count(&f.system_disk_gb, AMOUNT_MAX),
            ),
            data_disk_gb: e.take("data_disk_gb", fields::count(&f.data_disk_gb, AMOUNT_MAX)),
            price_per_hour_cents: e.take("price_per_hour", fields::money_cents(&f.price_per_hour)),
            listed: fields::checkbox(&f.listed),
            remark: e.take("remark", fields::multiline(&f.remark, REMARK_MAX)),
        };
        // GPUs need a model to be matched with nodes; a CPU-only spec needs none
        if v.gpu_count > 0 && v.gpu_model.is_empty() {
            e.add("gpu_model", "field.gpu_model_needed");
        }
        e.into_result(v)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_local_node_is_unlisted_and_takes_the_engines_capacity() {
        let n = NewNode::local(
            "unix:///var/run/docker.sock",
            16,
            62,
            480,
            "/var/lib/docker",
        );
        assert_eq!(
            (
                n.name.as_str(),
                n.cpu_cores,
                n.memory_gb,
                n.system_disk_gb,
                n.data_disk_gb
            ),
            ("local", 16, 62, 480, 480)
        );
        assert!(!n.listed && !n.use_tls && n.gpu_count == 0);
        assert!(n.remark.contains("/var/lib/docker"));
        let huge = NewNode::local("unix:///x", i64::MAX, -1, 0, "/");
        assert_eq!((huge.cpu_cores, huge.memory_gb), (i32::MAX, 0));
    }

    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGVCb2R5\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0w\n-----END PRIVATE KEY-----";

    fn node() -> NodeForm {
        NodeForm {
            name: "gpu-01".into(),
            public_ip: "203.0.113.5".into(),
            private_ip: "10.0.0.5".into(),
            ssh_port: "22".into(),
            docker_endpoint: "tcp://10.0.0.5:2376".into(),
            use_tls: Some("on".into()),
            ca_cert: CERT.into(),
            client_cert: CERT.into(),
            client_key: KEY.into(),
            listed: Some("on".into()),
            ..NodeForm::default()
        }
    }

    #[test]
    fn image_requires_name_and_valid_address() {
        let e = NewImage::parse(&ImageForm {
            address: "bad ref".into(),
            ..Default::default()
        })
        .expect_err("bad");
        assert_eq!(e.get("name"), Some("field.required"));
        assert_eq!(e.get("address"), Some("field.bad_image_ref"));
        let ok = NewImage::parse(&ImageForm {
            name: "CUDA".into(),
            address: "nvidia/cuda:12.4.1-runtime-ubuntu22.04".into(),
            listed: Some("on".into()),
            ..Default::default()
        })
        .expect("valid");
        assert!(ok.listed);
    }

    #[test]
    fn node_valid_with_tls() {
        let n = NewNode::parse(&node(), false).expect("valid");
        assert_eq!(n.client_key, SecretChange::Set(KEY.to_string()));
        assert!(n.use_tls, "TLS on a tcp:// endpoint is kept");
        assert_eq!(n.ssh_port, 22);
    }

    #[test]
    fn node_reports_every_bad_field() {
        let f = NodeForm {
            name: "".into(),
            public_ip: "1.2.3".into(),
            private_ip: "10.0.0".into(),
            ssh_port: "70000".into(),
            cpu_cores: "two".into(),
            docker_endpoint: "http://x".into(),
            ..node()
        };
        let e = NewNode::parse(&f, false).expect_err("bad");
        let mut got: Vec<_> = e.fields().collect();
        got.sort();
        assert_eq!(
            got,
            [
                "cpu_cores",
                "docker_endpoint",
                "name",
                "private_ip",
                "public_ip",
                "ssh_port"
            ]
        );
    }

    #[test]
    fn node_tls_material_checked_only_for_tcp_with_tls() {
        let bad = NodeForm {
            ca_cert: "not a cert".into(),
            client_key: "".into(),
            ..node()
        };
        let e = NewNode::parse(&bad, false).expect_err("bad");
        assert_eq!(e.get("ca_cert"), Some("field.bad_pem_cert"));
        assert_eq!(e.get("client_key"), Some("field.bad_pem_key"));
        // editing a node that already has a key: empty keeps it, so it is fine
        assert!(
            NewNode::parse(
                &NodeForm {
                    client_key: "".into(),
                    ..node()
                },
                true
            )
            .is_ok()
        );
        // clearing it while TLS needs it is not
        let clear = NodeForm {
            client_key: "".into(),
            clear_client_key: Some("on".into()),
            ..node()
        };
        assert!(NewNode::parse(&clear, true).is_err());
        // a unix socket needs no TLS material, and never uses TLS even when ticked
        let unix = NodeForm {
            docker_endpoint: " unix:///var/run/docker.sock".into(),
            ca_cert: "x".into(),
            ..node()
        };
        let n = NewNode::parse(&unix, false).expect("a unix socket is fine");
        assert!(!n.use_tls, "a unix socket saved with TLS");
        let plain = NodeForm {
            use_tls: None,
            ca_cert: "".into(),
            ..node()
        };
        assert!(NewNode::parse(&plain, false).is_ok());
    }

    #[test]
    fn endpoints() {
        for (s, ok) in [
            ("", true),
            ("unix:///var/run/docker.sock", true),
            ("tcp://10.0.0.5:2376", true),
            ("tcp://[::1]:2376", true),
            ("tcp://host", false),
            ("tcp://:2376", false),
            ("http://10.0.0.5:2376", false),
            ("unix://relative", false),
        ] {
            assert_eq!(docker_endpoint(s).is_ok(), ok, "{s}");
        }
    }

    #[test]
    fn pem_shapes() {
        assert!(is_pem(CERT, "CERTIFICATE"));
        assert!(
            is_pem(&format!("{CERT}{CERT}"), "CERTIFICATE"),
            "chains are fine"
        );
        assert!(is_pem(KEY, "PRIVATE KEY"));
        assert!(!is_pem(KEY, "CERTIFICATE"));
        assert!(!is_pem("-----BEGIN CERTIFICATE-----\nabc\n", "CERTIFICATE"));
        assert!(!is_pem("", "CERTIFICATE"));
    }

    #[test]
    fn spec_price() {
        let s = NewSpec::parse(&SpecForm {
            name: "4090x2".into(),
            gpu_model: "RTX 4090".into(),
            gpu_count: "2".into(),
            price_per_hour: "3.50".into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(s.price_per_hour_cents, 350);
        let e = NewSpec::parse(&SpecForm {
            gpu_count: "1".into(),
            price_per_hour: "3.555".into(),
            ..Default::default()
        })
        .expect_err("bad");
        assert_eq!(e.get("gpu_model"), Some("field.gpu_model_needed"));
        assert_eq!(e.get("price_per_hour"), Some("field.bad_money"));
    }

    #[test]
    fn a_cpu_only_spec_needs_no_gpu_model() {
        let form = |count: &str| SpecForm {
            name: "cpu".into(),
            gpu_count: count.into(),
            cpu_cores: "4".into(),
            memory_gb: "8".into(),
            system_disk_gb: "20".into(),
            data_disk_gb: "0".into(),
            price_per_hour: "0.5".into(),
            ..Default::default()
        };
        let s = NewSpec::parse(&form("0")).expect("valid");
        assert_eq!((s.gpu_model.as_str(), s.gpu_count), ("", 0));
        let e = NewSpec::parse(&form("2")).expect_err("needs a model");
        assert_eq!(e.get("gpu_model"), Some("field.gpu_model_needed"));
    }

    #[test]
    fn a_probe_needs_an_endpoint_and_checks_tls_only_when_used() {
        let e = ProbeTarget::parse(&NodeForm::default(), false).expect_err("no endpoint");
        assert_eq!(e.get("docker_endpoint"), Some("field.required"));
        let t = ProbeTarget::parse(
            &NodeForm {
                docker_endpoint: "unix:///var/run/docker.sock".into(),
                use_tls: Some("on".into()),
                ..Default::default()
            },
            false,
        )
        .expect("a socket has no TLS");
        assert_eq!(t.tls, None);
        let e = ProbeTarget::parse(
            &NodeForm {
                docker_endpoint: "tcp://10.0.0.5:2376".into(),
                use_tls: Some("on".into()),
                ca_cert: "junk".into(),
                ..Default::default()
            },
            false,
        )
        .expect_err("bad CA");
        assert_eq!(e.get("ca_cert"), Some("field.bad_pem_cert"));
        let keyless = NodeForm {
            use_tls: Some("on".into()),
            client_key: String::new(),
            ..node()
        };
        let t = ProbeTarget::parse(&keyless, true).expect("stored key");
        assert!(matches!(t.tls, Some((_, _, None))));
        let e = ProbeTarget::parse(&keyless, false).expect_err("a new node has none stored");
        assert_eq!(e.get("client_key"), Some("field.required"));
    }

    #[test]
    fn a_docker_only_node_needs_no_addresses_or_ssh() {
        let f = NodeForm {
            name: "gpu-1".into(),
            docker_endpoint: "tcp://10.0.0.5:2376".into(),
            ..Default::default()
        };
        let n = NewNode::parse(&f, false).expect("valid");
        assert_eq!(
            (n.public_ip.as_str(), n.private_ip.as_str(), n.ssh_port),
            ("", "", 22)
        );
        let e = NewNode::parse(
            &NodeForm {
                public_ip: "300.1.1.1".into(),
                ssh_port: "0".into(),
                ..f
            },
            false,
        )
        .expect_err("bad values are still refused");
        assert_eq!(e.get("public_ip"), Some("field.bad_ip"));
        assert_eq!(e.get("ssh_port"), Some("field.bad_port"));
    }
}

/// The three catalog modules, for the actions they share (toggle 上架, delete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Catalog {
    Images,
    Nodes,
    Specs,
}

impl Catalog {
    /// URL segment and i18n prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Catalog::Images => "images",
            Catalog::Nodes => "nodes",
            Catalog::Specs => "specs",
        }
    }
}
