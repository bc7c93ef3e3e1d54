//! The gate every request passes, in this order: resolve the user from the session
//! (once per request), enforce the api_permissions record of the route (default deny;
//! /api/ routes go straight to their scope, which checks the apikey and the record),
//! send users who must change their password to /password, check CSRF on mutating
//! requests, then audit them after the handler ran.

pub mod audit;
pub mod csrf;
pub mod headers;
pub mod session;

use actix_session::SessionExt;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use super::error::WebError;
use super::extract::{Ctx, CurrentUser, is_hx};
use super::render::redirect;
use crate::domain::access::route_allows;
use crate::i18n::Lang;
use crate::ops::Context;

pub const LANG_COOKIE: &str = "lang";

/// Routes a user who must change their password may still use.
const FORCED_CHANGE_OPEN: &[&str] = &[
    "/password",
    "/logout",
    "/login",
    "/lang/{code}",
    "/static/{file:.*}",
    "/healthz",
    "/readyz",
];

// split in issue 16 section 2
#[allow(clippy::too_many_lines)]
pub async fn gate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(pattern) = req.match_pattern() else {
        // no route: let the default service answer 404
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // /api/ routes belong to the ZJMF plugin: no session and no CSRF token. The /api/
    // scope checks the apikey, then the route's permission record (web/api.rs `admit`).
    if pattern.starts_with("/api/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<Context>>().cloned() else {
        return Ok(req.error_response(WebError::Internal("no app state".into())));
    };
    let session = req.get_session();
    let method = req.method().clone();
    let hx = is_hx(req.request());
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();

    // 1. which roles the route allows (records in memory), and who: a database read only
    // when the request carries a login
    let allowed =
        match crate::ops::permissions::allowed_roles(&state, method.as_str(), &pattern).await {
            Ok(v) => v,
            Err(e) => return Ok(req.error_response(WebError::from(e))),
        };
    // SECURITY: the login session lives in Postgres; logout, a password change or
    // reset, disabling and an admin end it there, and the cookie stops working at once.
    let token = session::token_of(&session);
    let login = match &token {
        Some(t) => match crate::ops::logins::resolve(&state, t, &ip).await {
            Ok(l) => l,
            Err(e) => return Ok(req.error_response(WebError::from(e))),
        },
        None => None,
    };
    if token.is_some() && login.is_none() {
        session::end(&session);
    }
    let user = login.map(|(s, u)| CurrentUser {
        id: u.id,
        role: u.role(),
        username: u.username,
        display_name: u.display_name,
        company_id: u.company_id,
        must_change_password: u.must_change_password,
        session_id: s.id,
        epoch: u.session_epoch,
        login_at: s.created_at.timestamp(),
    });
    let uid = user.as_ref().map(|u| u.id);

    // 2. the route's permission record
    let role = user.as_ref().map(|u| u.role);
    let permitted = allowed.as_deref().is_some_and(|a| route_allows(a, role));
    if !permitted {
        if user.is_none() && allowed.is_some() {
            if method == actix_web::http::Method::GET {
                let next_url =
                    serde_urlencoded::to_string([("next", req.path())]).unwrap_or_default();
                return Ok(req.into_response(redirect(hx, &format!("/login?{next_url}"))));
            }
            return Ok(req.error_response(WebError::Unauthorized));
        }
        log::warn!(user = uid.unwrap_or_default(), ip = ip.as_str(); "route refused: {} {}", method, pattern);
        let res = req.error_response(WebError::Forbidden);
        record_if_mutating(&state, &res, user.as_ref(), &ip, &pattern).await;
        return Ok(res);
    }

    // 3. forced password change
    if user.as_ref().is_some_and(|u| u.must_change_password)
        && !FORCED_CHANGE_OPEN.contains(&pattern.as_str())
    {
        return Ok(req.into_response(redirect(hx, "/password")));
    }

    // 4. CSRF
    let token = session::csrf_token(&session);
    if !csrf::is_safe(&method) {
        let presented = csrf::presented_token(&mut req).await;
        if !csrf::matches(presented.as_deref(), &token) {
            log::warn!(user = uid.unwrap_or_default(), ip = ip.as_str(); "csrf refused: {} {}", method, pattern);
            let res = req.error_response(WebError::Csrf);
            record_if_mutating(&state, &res, user.as_ref(), &ip, &pattern).await;
            return Ok(res);
        }
    }

    let lang = req
        .cookie(LANG_COOKIE)
        .and_then(|c| Lang::from_code(c.value()))
        .unwrap_or_default();
    let ctx = Ctx {
        user: user.clone(),
        csrf: token,
        lang,
        hx,
        ip: ip.clone(),
        flash: if method == actix_web::http::Method::GET && !hx {
            session::take_flash(&session)
        } else {
            None
        },
        path: req.path().to_string(),
    };
    req.extensions_mut().insert(ctx);

    let res = next.call(req).await?.map_into_boxed_body();
    record_if_mutating(&state, &res, user.as_ref(), &ip, &pattern).await;
    Ok(res)
}

async fn record_if_mutating(
    state: &Context,
    res: &ServiceResponse<BoxBody>,
    user: Option<&CurrentUser>,
    ip: &str,
    pattern: &str,
) {
    let req = res.request();
    if csrf::is_safe(req.method()) || !audit::wants_record(pattern) {
        return;
    }
    let entry = audit::entry(
        user,
        ip,
        req.method().as_str(),
        req.path(),
        pattern,
        req.match_info().get("id"),
        res.status().as_u16(),
    );
    crate::ops::audit::record(&state.pool, entry).await;
}
