//! CSRF: every mutating request carries the session's token, in the `X-CSRF-Token`
//! header (HTMX, set by base.html) or the `csrf_token` form field (plain forms).

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::web::Bytes;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "X-CSRF-Token";
pub const FIELD: &str = "csrf_token";

pub fn is_safe(method: &actix_web::http::Method) -> bool {
    matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
}

/// Reads the token from the header or, for form posts, from the body (which is put
/// back for the handler).
pub async fn presented_token(req: &mut ServiceRequest) -> Option<String> {
    if let Some(v) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.to_string());
    }
    if req.content_type() != "application/x-www-form-urlencoded" {
        return None;
    }
    let body = req.extract::<Bytes>().await.ok()?;
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
    req.set_payload(Payload::from(body));
    token
}

pub fn matches(presented: Option<&str>, expected: &str) -> bool {
    // SECURITY: constant-time comparison; an empty expected token never matches.
    presented.is_some_and(|p| {
        !expected.is_empty() && bool::from(p.as_bytes().ct_eq(expected.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(matches(Some("abc"), "abc"));
        assert!(!matches(Some("abd"), "abc"));
        assert!(!matches(None, "abc"));
        assert!(!matches(Some(""), ""));
    }
}
