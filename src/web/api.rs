//! `/api/`: the backend the ZJMF (魔方财务) `lxdserver` plugin calls, on the panel's own
//! address. Every call carries `apikey: <token>` (one of `zjmf.api_tokens`, compared in
//! constant time, never logged); every answer is JSON `{"code", "msg", "data"?}` with the
//! HTTP status equal to `code` — the plugin reads only the JSON, other clients the status.
//! Bad JSON, a bad query string or an unknown /api/ path answer in the same shape.
//!
//! The gate (web/middleware) lets /api/ routes through without a session or CSRF token
//! when their api_permissions record allows the pseudo role `zjmf`; `require_key` here is
//! their authentication. Handlers are thin: ops/zjmf.rs does the work.

use std::collections::HashMap;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Next, from_fn};
use actix_web::web::{self, ServiceConfig, get, post};
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::domain::zjmf::{self, Refusal};
use crate::ops::audit::Origin;
use crate::ops::zjmf::{self as ops, Power};
use crate::startup::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(require_key))
            .app_data(web::QueryConfig::default().error_handler(|_, _| bad_request("hostname")))
            .app_data(web::PayloadConfig::new(64 * 1024))
            .app_data(web::FormConfig::default().error_handler(|_, _| bad_request("form")))
            .route("/check", get().to(check))
            .route("/getinfo", get().to(getinfo))
            .route("/create", post().to(create))
            .route("/delete", get().to(delete))
            .route("/boot", get().to(boot))
            .route("/stop", get().to(stop))
            .route("/reboot", get().to(reboot))
            .route("/password", post().to(password))
            .route("/reinstall", post().to(reinstall))
            .route("/natlist", get().to(natlist))
            .route("/addport", post().to(addport))
            .route("/delport", post().to(delport))
            .default_service(web::to(|| async {
                Reply::refused(Refusal::new(404, "lxdapi.no_route"))
            })),
    );
}

fn bad_request(field: &str) -> actix_web::Error {
    let r = Reply::refused(Refusal::invalid(field));
    actix_web::error::InternalError::from_response(field.to_string(), r.into_response()).into()
}

/// The JSON every /api/ call answers with.
pub struct Reply {
    code: u16,
    msg: String,
    data: Option<Value>,
}

impl Reply {
    pub fn ok(msg: &str, data: Option<Value>) -> Self {
        Reply {
            code: 200,
            msg: msg.to_string(),
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
    fn into_response(self) -> HttpResponse {
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

fn reply(result: Result<Reply, Refusal>) -> Reply {
    result.unwrap_or_else(Reply::refused)
}

/// A token's SHA-256: what `key_matches` compares, so that every comparison is of 32 bytes
/// whatever the lengths of the presented and configured tokens.
fn token_digest(token: &str) -> [u8; 32] {
    crate::crypto::sha256(token.as_bytes())
}

/// Whether `presented` is one of the configured tokens.
// SECURITY: `ct_eq` on two byte strings answers at once when their lengths differ, which
// tells a caller timing the 401s how long the token is (issue #14). Comparing fixed-size
// digests in constant time, and every configured token each time, leaks neither its
// length nor its content nor which of several tokens matched.
pub fn key_matches(presented: &str, tokens: &[&str]) -> bool {
    let presented = token_digest(presented);
    let mut ok = 0u8;
    for t in tokens {
        ok |= presented.ct_eq(&token_digest(t)).unwrap_u8();
    }
    ok == 1
}

/// SECURITY: every /api/ call needs a configured token in the `apikey` header. A wrong
/// key is logged with the caller's address, never the key itself.
async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let tokens_ok = req.app_data::<web::Data<AppState>>().is_some_and(|st| {
        let presented = req
            .headers()
            .get("apikey")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        !presented.is_empty() && key_matches(presented, &st.settings.zjmf.tokens())
    });
    if !tokens_ok {
        let ip = req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        log::warn!(ip = ip.as_str(); "/api/ refused: missing or wrong apikey");
        let res = Reply::refused(Refusal::new(401, "lxdapi.bad_key")).into_response();
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[derive(Deserialize)]
pub struct Host {
    hostname: Option<String>,
}

impl Host {
    fn name(&self) -> Result<String, Refusal> {
        zjmf::hostname(self.hostname.as_deref())
    }
}

/// The JSON body (the plugin sends JSON for create, password and reinstall).
fn json_body(body: &web::Bytes) -> Result<Value, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Refusal::new(400, "lxdapi.bad_json")),
    }
}

fn caller(req: &HttpRequest) -> Origin {
    ops::api_origin(
        &req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
    )
}

async fn check() -> Reply {
    Reply::ok("API连接正常", None)
}

async fn getinfo(st: web::Data<AppState>, q: web::Query<Host>) -> Reply {
    reply(
        async {
            Ok(Reply::ok(
                "获取成功",
                Some(ops::info(&st, &q.name()?).await?),
            ))
        }
        .await,
    )
}

async fn create(st: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Reply {
    reply(
        async {
            let r = zjmf::CreateRequest::parse(&json_body(&body)?)?;
            let data = ops::create(&st, &caller(&req), r).await?;
            Ok(Reply::ok("容器创建成功", Some(data)))
        }
        .await,
    )
}

async fn delete(st: web::Data<AppState>, req: HttpRequest, q: web::Query<Host>) -> Reply {
    reply(
        async {
            ops::delete(&st, &caller(&req), &q.name()?).await?;
            Ok(Reply::ok("容器删除成功", None))
        }
        .await,
    )
}

async fn power(st: &AppState, req: &HttpRequest, q: &Host, action: Power) -> Reply {
    reply(
        async {
            let done = ops::power(st, &caller(req), &q.name()?, action).await?;
            Ok(Reply::ok(crate::i18n::t(crate::i18n::Lang::Zh, done), None))
        }
        .await,
    )
}

async fn boot(st: web::Data<AppState>, req: HttpRequest, q: web::Query<Host>) -> Reply {
    power(&st, &req, &q, Power::Start).await
}

async fn stop(st: web::Data<AppState>, req: HttpRequest, q: web::Query<Host>) -> Reply {
    power(&st, &req, &q, Power::Stop).await
}

async fn reboot(st: web::Data<AppState>, req: HttpRequest, q: web::Query<Host>) -> Reply {
    power(&st, &req, &q, Power::Restart).await
}

async fn password(st: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Reply {
    reply(
        async {
            let body = json_body(&body)?;
            let name = zjmf::hostname(body.get("hostname").and_then(Value::as_str))?;
            let password = zjmf::password(&body)?;
            ops::set_password(&st, &caller(&req), &name, &password).await?;
            Ok(Reply::ok("密码修改成功", None))
        }
        .await,
    )
}

async fn reinstall(st: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Reply {
    reply(
        async {
            let r = zjmf::ReinstallRequest::parse(&json_body(&body)?)?;
            let data = ops::reinstall(&st, &caller(&req), r).await?;
            Ok(Reply::ok("系统重装成功", Some(data)))
        }
        .await,
    )
}

async fn natlist(st: web::Data<AppState>, q: web::Query<Host>) -> Reply {
    reply(
        async {
            Ok(Reply::ok(
                "获取成功",
                Some(ops::nat_list(&st, &q.name()?).await?),
            ))
        }
        .await,
    )
}

/// addport/delport: a form body `hostname=H&dtype=tcp&dport=D&sport=S` (the hostname may
/// also be in the query string).
fn port_form(
    q: &web::Query<HashMap<String, String>>,
    form: &web::Form<HashMap<String, String>>,
) -> Result<(String, zjmf::PortRule), Refusal> {
    let field = |k: &str| form.get(k).or_else(|| q.get(k)).map(String::as_str);
    let name = zjmf::hostname(field("hostname"))?;
    Ok((name, zjmf::PortRule::parse(field)?))
}

async fn addport(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
    form: web::Form<HashMap<String, String>>,
) -> Reply {
    change_port(&st, &req, &q, &form, true).await
}

async fn delport(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
    form: web::Form<HashMap<String, String>>,
) -> Reply {
    change_port(&st, &req, &q, &form, false).await
}

async fn change_port(
    st: &AppState,
    req: &HttpRequest,
    q: &web::Query<HashMap<String, String>>,
    form: &web::Form<HashMap<String, String>>,
    add: bool,
) -> Reply {
    reply(
        async {
            let (name, rule) = port_form(q, form)?;
            if add {
                ops::add_port(st, &caller(req), &name, rule).await?;
                Ok(Reply::ok("端口转发添加成功", None))
            } else {
                ops::remove_port(st, &caller(req), &name, rule).await?;
                Ok(Reply::ok("端口转发删除成功", None))
            }
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_any_configured_token_exactly() {
        let tokens = ["first-token-0123456789", "second-token-0123456789"];
        assert!(key_matches("first-token-0123456789", &tokens));
        assert!(key_matches("second-token-0123456789", &tokens));
        assert!(!key_matches("first-token-012345678", &tokens));
        assert!(!key_matches("", &tokens));
        assert!(!key_matches("first-token-0123456789", &[]));
        assert!(!key_matches("first-token-01234567890", &tokens), "longer");
        assert!(!key_matches("FIRST-token-0123456789", &tokens));
    }

    #[test]
    fn tokens_are_compared_as_digests_of_one_size() {
        // the same 32 bytes whatever the length, so the comparison cannot stop early
        for token in ["", "a", "first-token-0123456789", &"x".repeat(4096)] {
            assert_eq!(token_digest(token).len(), 32, "{token}");
        }
        // SHA-256 ("abc"), FIPS 180-2 appendix B.1
        assert_eq!(
            token_digest("abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256, not a truncation or padding of the token"
        );
        assert_ne!(token_digest("abc"), token_digest("abc\0"));
    }
}
