//! What the ZJMF `lxdserver` plugin reads: the envelope of every answer
//! (`{"code", "msg", "data"?}`, the HTTP status equal to `code`), the `data` of getinfo,
//! create and reinstall, and natlist, and the messages of calls that worked (`said`).
//! Every message is an i18n key (`lxdapi.*`), answered in Chinese, the text the plugin
//! shows.

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde_json::{Value, json};

use crate::domain::zjmf::Refusal;
use crate::domain::zjmf::usage::Usage;
use crate::i18n::{self, Lang};
use crate::ops::views::NatRule;
use crate::ops::zjmf::Made;

/// The messages of calls that worked, as i18n keys (power actions say what
/// `ops::zjmf::power` did, `lxdapi.started` and the like).
pub mod said {
    pub const CONNECTED: &str = "lxdapi.connected";
    pub const FETCHED: &str = "lxdapi.fetched";
    pub const CREATED: &str = "lxdapi.created";
    pub const DELETED: &str = "lxdapi.deleted";
    pub const PASSWORD_SET: &str = "lxdapi.password_set";
    pub const REINSTALLED: &str = "lxdapi.reinstalled";
    pub const PORT_ADDED: &str = "lxdapi.port_added";
    pub const PORT_REMOVED: &str = "lxdapi.port_removed";
}

/// The JSON every /api/ call answers with.
pub struct Reply {
    code: u16,
    msg: String,
    data: Option<Value>,
}

impl Reply {
    /// A call that worked: the message of `key` (see `said`), and its data.
    pub fn ok(key: &str, data: Option<Value>) -> Self {
        Reply {
            code: 200,
            msg: i18n::t(Lang::Zh, key).to_string(),
            data,
        }
    }
    pub fn refused(r: Refusal) -> Self {
        Reply {
            code: r.code,
            msg: r.msg(),
            data: None,
        }
    }
    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({"code": self.code, "msg": self.msg});
        if let Some(data) = self.data {
            body["data"] = data;
        }
        HttpResponse::build(status).json(body)
    }
}

impl Responder for Reply {
    type Body = BoxBody;
    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        self.into_response()
    }
}

/// getinfo's `data`.
pub fn info(u: &Usage) -> Value {
    json!({
        "Hostname": u.name,
        "Status": u.status,
        "UsedCPU": u.cpu_percent,
        "CPUCores": u.cores,
        // the plugin divides by these: never 0
        "TotalRam": u.ram_total_mb.max(1),
        "UsedRam": u.ram_used_mb,
        "TotalDisk": u.disk_total_mb.max(1),
        "UsedDisk": u.disk_used_mb,
        "IP": u.ip.as_deref().unwrap_or("N/A"),
        "Bandwidth": u.flow_gb,
        "UseBandwidth": u.flow_used_gb,
        "ImageSourceAlias": u.image,
    })
}

/// The `data` of create and reinstall.
pub fn made(m: &Made) -> Value {
    json!({"hostname": m.hostname, "ip": m.ip, "ssh_port": m.ssh_port})
}

/// natlist's `data`: the container's rules, all values strings, Dtype upper-case.
pub fn nat_list(rules: &[NatRule]) -> Value {
    rules
        .iter()
        .map(|r| {
            json!({
                "Dtype": r.proto.to_uppercase(),
                "Dport": r.ext_port.to_string(),
                "Sport": r.int_port.to_string(),
                "ID": r.id.to_string(),
            })
        })
        .collect()
}
