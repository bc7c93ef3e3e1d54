//! `/api/`: the backend the ZJMF (魔方财务) `lxdserver` plugin calls, on the panel's own
//! address. Every call carries `apikey: <token>` (one of `zjmf.api_tokens`, compared in
//! constant time, never logged); every answer is JSON `{"code", "msg", "data"?}` with the
//! HTTP status equal to `code` — the plugin reads only the JSON, other clients the status.
//!
//! No answer here comes from the framework: handlers take no extractor that can fail
//! (only the request, the raw payload and the state). Query strings and bodies are read
//! by `domain::zjmf` (strict UTF-8, bounded numbers), the body up to `BODY_MAX` (413);
//! a wrong method is 405 and an unknown /api/ path 404, all in the same JSON shape.
//!
//! The gate (web/middleware) lets /api/ routes through without a session or CSRF token;
//! `admit` here is their authentication and their permission record. Handlers are thin:
//! ops/zjmf.rs does the work, `wire` writes the JSON the plugin reads.

pub mod wire;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::method;
use crate::domain::access::API_KEY_ROLE;
use crate::domain::routes::{
    API_SCOPE, GET_API_BOOT, GET_API_CHECK, GET_API_DELETE, GET_API_GETINFO, GET_API_NATLIST,
    GET_API_REBOOT, GET_API_STOP, POST_API_ADDPORT, POST_API_CREATE, POST_API_DELPORT,
    POST_API_PASSWORD, POST_API_REINSTALL, Route,
};
use crate::domain::zjmf::{self, Refusal, query::Fields};
use crate::ops::Context;
use crate::ops::audit::Origin;
use crate::ops::permissions;
use crate::ops::zjmf::{self as ops, Power};
pub use wire::Reply;
use wire::said;

/// The largest body a call may send (a create is a few hundred bytes).
pub const BODY_MAX: usize = 64 * 1024;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::scope(API_SCOPE)
            .wrap(from_fn(admit))
            .route(at(GET_API_CHECK), method(GET_API_CHECK).to(check))
            .route(at(GET_API_GETINFO), method(GET_API_GETINFO).to(getinfo))
            .route(at(POST_API_CREATE), method(POST_API_CREATE).to(create))
            .route(at(GET_API_DELETE), method(GET_API_DELETE).to(delete))
            .route(at(GET_API_BOOT), method(GET_API_BOOT).to(boot))
            .route(at(GET_API_STOP), method(GET_API_STOP).to(stop))
            .route(at(GET_API_REBOOT), method(GET_API_REBOOT).to(reboot))
            .route(
                at(POST_API_PASSWORD),
                method(POST_API_PASSWORD).to(password),
            )
            .route(
                at(POST_API_REINSTALL),
                method(POST_API_REINSTALL).to(reinstall),
            )
            .route(at(GET_API_NATLIST), method(GET_API_NATLIST).to(natlist))
            .route(at(POST_API_ADDPORT), method(POST_API_ADDPORT).to(addport))
            .route(at(POST_API_DELPORT), method(POST_API_DELPORT).to(delport))
            .default_service(web::to(|| async {
                Reply::refused(Refusal::new(404, "lxdapi.no_route"))
            })),
    );
}

/// A route's pattern inside the /api scope.
fn at(r: Route) -> &'static str {
    r.within(API_SCOPE)
}

/// A route's method, for the router.
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

/// SECURITY: every /api/ call needs a configured token in the `apikey` header (a wrong
/// key is logged with the caller's address, never the key itself); then its route runs
/// only when the route's permission record for this method allows the pseudo role
/// `zjmf` (default deny). A path with records for other methods only is 405. A query
/// string that is not strictly UTF-8 URL encoding is 400 on every route.
async fn admit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(st) = req.app_data::<web::Data<Context>>().cloned() else {
        let res = Reply::refused(Refusal::new(500, "lxdapi.store_failed")).into_response();
        return Ok(req.into_response(res));
    };
    let presented = req
        .headers()
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if presented.is_empty() || !key_matches(presented, &st.settings.zjmf.tokens()) {
        let ip = req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        log::warn!(ip = ip.as_str(); "/api/ refused: missing or wrong apikey");
        let res = Reply::refused(Refusal::new(401, "lxdapi.bad_key")).into_response();
        return Ok(req.into_response(res));
    }
    let Some(pattern) = req.match_pattern() else {
        // no such path: the scope's default answers 404
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let method = req.method().as_str().to_string();
    let unavailable = |e: crate::ops::DbError| {
        log::error!("/api/ permission records: {e}");
        Reply::refused(Refusal::new(503, "lxdapi.store_failed")).into_response()
    };
    let closed = || Reply::refused(Refusal::new(403, "lxdapi.closed")).into_response();
    let res = match permissions::allowed_roles(&st, &method, &pattern).await {
        Ok(Some(roles)) if roles.iter().any(|r| r == API_KEY_ROLE) => {
            // every call's query string is read strictly, used by its route or not
            match query(req.request()) {
                Ok(_) => return Ok(next.call(req).await?.map_into_boxed_body()),
                Err(refusal) => Reply::refused(refusal).into_response(),
            }
        }
        Ok(Some(_)) => {
            log::warn!("/api/ route closed by its permission record: {method} {pattern}");
            closed()
        }
        Ok(None) => match permissions::methods_of(&st, &pattern).await {
            Ok(allowed) if !allowed.is_empty() => wrong_method(&method, &allowed),
            Ok(_) => closed(),
            Err(e) => unavailable(e),
        },
        Err(e) => unavailable(e),
    };
    Ok(req.into_response(res))
}

/// 405 with the methods the path takes, in the `Allow` header and the message.
fn wrong_method(method: &str, allowed: &[String]) -> HttpResponse {
    let allow = allowed.join(", ");
    let refusal = Refusal::new(405, "lxdapi.wrong_method")
        .with("method", method)
        .with("allow", &allow);
    let mut res = Reply::refused(refusal).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// The query string's fields (strict: see `zjmf::query`).
fn query(req: &HttpRequest) -> Result<Fields, Refusal> {
    zjmf::query::parse(req.query_string().as_bytes())
}

/// The container a GET call names in its query string.
fn host_of(req: &HttpRequest) -> Result<String, Refusal> {
    zjmf::hostname(query(req)?.get("hostname"))
}

/// The whole body, at most `BODY_MAX` bytes (413 beyond; a declared length beyond it is
/// refused before anything is read).
async fn body(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, Refusal> {
    let too_large = || Refusal::new(413, "lxdapi.too_large").with("limit", BODY_MAX);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_MAX as u64) {
        return Err(too_large());
    }
    match payload.to_bytes_limited(BODY_MAX).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            log::warn!("/api/ body: {e}");
            Err(Refusal::new(400, "lxdapi.bad_body"))
        }
        Err(_) => Err(too_large()),
    }
}

/// The JSON body (the plugin sends JSON for create, password and reinstall, whatever
/// its Content-Type says): an object.
async fn json_body(req: &HttpRequest, payload: web::Payload) -> Result<Value, Refusal> {
    match serde_json::from_slice::<Value>(&body(req, payload).await?) {
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
    Reply::ok(said::CONNECTED, None)
}

async fn getinfo(st: web::Data<Context>, req: HttpRequest) -> Reply {
    reply(
        async {
            let usage = ops::info(&st, &host_of(&req)?).await?;
            Ok(Reply::ok(said::FETCHED, Some(wire::info(&usage))))
        }
        .await,
    )
}

async fn create(st: web::Data<Context>, req: HttpRequest, payload: web::Payload) -> Reply {
    reply(
        async {
            let r = zjmf::CreateRequest::parse(&json_body(&req, payload).await?)?;
            let made = ops::create(&st, &caller(&req), r).await?;
            Ok(Reply::ok(said::CREATED, Some(wire::made(&made))))
        }
        .await,
    )
}

async fn delete(st: web::Data<Context>, req: HttpRequest) -> Reply {
    reply(
        async {
            ops::delete(&st, &caller(&req), &host_of(&req)?).await?;
            Ok(Reply::ok(said::DELETED, None))
        }
        .await,
    )
}

async fn power(st: &Context, req: &HttpRequest, action: Power) -> Reply {
    reply(
        async {
            let done = ops::power(st, &caller(req), &host_of(req)?, action).await?;
            Ok(Reply::ok(done, None))
        }
        .await,
    )
}

async fn boot(st: web::Data<Context>, req: HttpRequest) -> Reply {
    power(&st, &req, Power::Start).await
}

async fn stop(st: web::Data<Context>, req: HttpRequest) -> Reply {
    power(&st, &req, Power::Stop).await
}

async fn reboot(st: web::Data<Context>, req: HttpRequest) -> Reply {
    power(&st, &req, Power::Restart).await
}

async fn password(st: web::Data<Context>, req: HttpRequest, payload: web::Payload) -> Reply {
    reply(
        async {
            let body = json_body(&req, payload).await?;
            let name = zjmf::json_hostname(&body)?;
            let password = zjmf::password(&body)?;
            ops::set_password(&st, &caller(&req), &name, &password).await?;
            Ok(Reply::ok(said::PASSWORD_SET, None))
        }
        .await,
    )
}

async fn reinstall(st: web::Data<Context>, req: HttpRequest, payload: web::Payload) -> Reply {
    reply(
        async {
            let r = zjmf::ReinstallRequest::parse(&json_body(&req, payload).await?)?;
            let made = ops::reinstall(&st, &caller(&req), r).await?;
            Ok(Reply::ok(said::REINSTALLED, Some(wire::made(&made))))
        }
        .await,
    )
}

async fn natlist(st: web::Data<Context>, req: HttpRequest) -> Reply {
    reply(
        async {
            let rules = ops::nat_list(&st, &host_of(&req)?).await?;
            Ok(Reply::ok(said::FETCHED, Some(wire::nat_list(&rules))))
        }
        .await,
    )
}

/// addport/delport: a form body `hostname=H&dtype=tcp&dport=D&sport=S` (any field may
/// also be in the query string; the body's wins).
async fn port_form(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(String, zjmf::PortRule), Refusal> {
    let (q, form) = (query(req)?, zjmf::query::parse(&body(req, payload).await?)?);
    let field = |k: &str| form.get(k).or_else(|| q.get(k));
    let name = zjmf::hostname(field("hostname"))?;
    Ok((name, zjmf::PortRule::parse(field)?))
}

async fn addport(st: web::Data<Context>, req: HttpRequest, payload: web::Payload) -> Reply {
    change_port(&st, &req, payload, true).await
}

async fn delport(st: web::Data<Context>, req: HttpRequest, payload: web::Payload) -> Reply {
    change_port(&st, &req, payload, false).await
}

async fn change_port(st: &Context, req: &HttpRequest, payload: web::Payload, add: bool) -> Reply {
    reply(
        async {
            let (name, rule) = port_form(req, payload).await?;
            if add {
                ops::add_port(st, &caller(req), &name, rule).await?;
                Ok(Reply::ok(said::PORT_ADDED, None))
            } else {
                ops::remove_port(st, &caller(req), &name, rule).await?;
                Ok(Reply::ok(said::PORT_REMOVED, None))
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
