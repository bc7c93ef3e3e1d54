//! Security headers on every response (issue #14), set in one place around the whole
//! app: pages, partials, static files, errors, 404s and the ZJMF `/api/` alike. It owns
//! only headers; it never looks at the session or the body.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;

use crate::domain::routes::GET_STATIC_FILE;

/// Scripts, styles, images and connections from this origin only ('self' also covers
/// ws:/wss: to the same host in CSP 3, which the terminal and logs sockets use); no
/// inline script, style or event handler anywhere (they live in static/*.js, *.css).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The policy of a page that must insert `<style>` elements at run time: xterm.js's DOM
/// renderer writes its theme and cell sizes into them. The same policy, plus this
/// response's nonce for styles only (static/terminal.js puts it on those elements).
pub fn csp_with_style_nonce(nonce: &str) -> String {
    CSP.replace(
        "style-src 'self'",
        &format!("style-src 'self' 'nonce-{nonce}'"),
    )
}

/// A fresh nonce for one response: 128 random bits (base64url, which CSP accepts).
pub fn new_nonce() -> String {
    crate::crypto::random_token(16)
}

/// One year; no includeSubDomains: the panel's host name may share a parent domain
/// with services the operator still serves over plain HTTP.
const HSTS: &str = "max-age=31536000";

/// Adds the headers to whatever the inner services answer, error pages included. `tls` is
/// whether users reach the panel over HTTPS (`server.tls` or `server.tls_at_proxy`): only
/// then is Strict-Transport-Security sent.
pub async fn secure(
    tls: bool,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // static files are the same for everyone and may be cached; everything else may
    // carry a user's data, a CSRF token or a session's answer: never stored
    let cacheable = req.path().starts_with(GET_STATIC_FILE.fixed_prefix());
    // handlers' and the gate's errors arrive here as responses already
    let mut res = next.call(req).await?.map_into_boxed_body();
    let h = res.headers_mut();
    let set = |h: &mut header::HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    // a page with a policy of its own (a style nonce) keeps it
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(h, header::CONTENT_SECURITY_POLICY, CSP);
    }
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    if !cacheable {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    if tls {
        set(h, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    Ok(res)
}
