//! The gate every request passes, in this order: resolve the user from the session
//! (once per request), enforce the api_permissions record of the route (default deny;
//! /api/ routes go straight to their scope, which checks the apikey and the record),
//! send users who must change their password to /password, check CSRF on mutating
//! requests, then audit them after the handler ran.

pub mod audit;
pub mod csrf;
pub mod headers;
pub mod session;

use actix_session::{Session, SessionExt};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};

use super::error::WebError;
use super::extract::{Ctx, CurrentUser, is_hx};
use super::render::redirect;
use crate::domain::access::route_allows;
use crate::domain::routes::{self, API_SCOPE, Route};
use crate::i18n::Lang;
use crate::ops::Context;
use crate::ops::views::{LoginSession, User};

pub const LANG_COOKIE: &str = "lang";

/// Routes a user who must change their password may still use (whatever the method).
const FORCED_CHANGE_OPEN: &[Route] = &[
    routes::GET_PASSWORD,
    routes::POST_PASSWORD,
    routes::POST_LOGOUT,
    routes::GET_LOGIN,
    routes::POST_LOGIN,
    routes::GET_LANG_CODE,
    routes::GET_STATIC_FILE,
    routes::GET_FAVICON_ICO,
    routes::GET_HEALTHZ,
    routes::GET_READYZ,
];

pub async fn gate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(pattern) = req.match_pattern() else {
        // no route: the default service answers 404, in the visitor's layout
        return unrouted(req, next).await;
    };
    // /api/ routes belong to the ZJMF plugin: no session and no CSRF token. The /api/
    // scope checks the apikey, then the route's permission record (web/api.rs `admit`).
    if is_api(&pattern) {
        return pass(req, next).await;
    }
    let Some(state) = req.app_data::<web::Data<Context>>().cloned() else {
        return Ok(req.error_response(WebError::Internal("no app state".into())));
    };
    let visit = Visit::of(&req, pattern);

    // 1. which roles the route allows, and who asks
    let (allowed, user) = match identify(&state, &visit).await {
        Ok(found) => found,
        Err(e) => return Ok(shown(req, &visit, None, &e)),
    };
    let uid = user.as_ref().map(|u| u.id);
    let ip = visit.ip.as_str();

    // 2. the route's permission record
    match verdict(allowed.as_deref(), user.as_ref(), &visit.method) {
        Verdict::Permitted => {}
        Verdict::LogInFirst => {
            let to = login_then_back_to(req.path());
            return Ok(req.into_response(redirect(visit.hx, &to)));
        }
        Verdict::Unauthorized => return Ok(shown(req, &visit, None, &WebError::Unauthorized)),
        Verdict::Forbidden => {
            log::warn!(user = uid.unwrap_or_default(), ip = ip; "route refused: {} {}", visit.method, visit.pattern);
            return Ok(refuse(req, &state, &visit, user.as_ref(), WebError::Forbidden).await);
        }
    }

    // 3. forced password change
    if must_change_password_first(user.as_ref(), &visit.pattern) {
        return Ok(req.into_response(redirect(visit.hx, routes::GET_PASSWORD.pattern)));
    }

    // 4. CSRF
    let Some(csrf) = csrf_checked(&mut req, &visit).await else {
        log::warn!(user = uid.unwrap_or_default(), ip = ip; "csrf refused: {} {}", visit.method, visit.pattern);
        return Ok(refuse(req, &state, &visit, user.as_ref(), WebError::Csrf).await);
    };

    // 5. what the handler reads of the request, then the audit record
    let ctx = context(&req, &visit, user.clone(), csrf);
    req.extensions_mut().insert(ctx);
    let res = in_layout(next.call(req).await?.map_into_boxed_body());
    record_if_mutating(&state, &res, user.as_ref(), &visit.ip, &visit.pattern).await;
    Ok(res)
}

/// A request no route matches: the default service's 404 in the visitor's layout (their
/// header and navigation, their language). The ZJMF plugin's paths keep their scope's
/// answer.
async fn unrouted(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<Context>>().cloned();
    let Some(state) = state.filter(|_| !is_api(req.path())) else {
        return pass(req, next).await;
    };
    let visit = Visit::of(&req, String::new());
    // the page is a 404 whatever this says: a failed look-up shows it to a visitor
    let user = identify(&state, &visit)
        .await
        .ok()
        .and_then(|(_, user)| user);
    let ctx = context(&req, &visit, user, session::csrf_token(&visit.session));
    req.extensions_mut().insert(ctx);
    Ok(in_layout(next.call(req).await?.map_into_boxed_body()))
}

/// An error answer again, in the layout and language of the request's context: a
/// `WebError`, or actix's own 404 (a path parameter that does not parse) and 403. Other
/// answers, and requests without a context, are left as they are.
fn in_layout(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let Some(error) = res.response().error() else {
        return res;
    };
    let Some(ctx) = res.request().extensions().get::<Ctx>().cloned() else {
        return res;
    };
    let page = match error.as_error::<WebError>() {
        Some(e) => e.page(&ctx),
        None => match res.status() {
            StatusCode::NOT_FOUND => WebError::NotFound.page(&ctx),
            StatusCode::FORBIDDEN => WebError::Forbidden.page(&ctx),
            _ => return res,
        },
    };
    let (req, _) = res.into_parts();
    ServiceResponse::new(req, page)
}

/// The gate's own refusal (before any handler), in the visitor's layout.
fn shown(
    req: ServiceRequest,
    visit: &Visit,
    user: Option<CurrentUser>,
    error: &WebError,
) -> ServiceResponse<BoxBody> {
    if error.status_code().is_server_error() {
        log::error!("{error}");
    }
    let ctx = context(&req, visit, user, session::csrf_token(&visit.session));
    req.into_response(error.page(&ctx))
}

/// Lets the request through untouched.
async fn pass(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Whether `pattern` is one of the ZJMF plugin's (under `/api/`).
fn is_api(pattern: &str) -> bool {
    pattern
        .strip_prefix(API_SCOPE)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// What the gate reads of a request before it decides.
struct Visit {
    pattern: String,
    method: Method,
    hx: bool,
    ip: String,
    session: Session,
}

impl Visit {
    fn of(req: &ServiceRequest, pattern: String) -> Visit {
        Visit {
            pattern,
            method: req.method().clone(),
            hx: is_hx(req.request()),
            ip: req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            session: req.get_session(),
        }
    }
}

/// The roles the route's permission record allows (None: no record), read from the
/// records in memory; then who is logged in, a database read only when the request
/// carries a login.
async fn identify(
    state: &Context,
    visit: &Visit,
) -> Result<(Option<Vec<String>>, Option<CurrentUser>), WebError> {
    let allowed =
        crate::ops::permissions::allowed_roles(state, visit.method.as_str(), &visit.pattern)
            .await?;
    // SECURITY: the login session lives in Postgres; logout, a password change or
    // reset, disabling and an admin end it there, and the cookie stops working at once.
    let Some(token) = session::token_of(&visit.session) else {
        return Ok((allowed, None));
    };
    let login = crate::ops::logins::resolve(state, &token, &visit.ip).await?;
    if login.is_none() {
        session::end(&visit.session);
    }
    Ok((allowed, login.map(current_user)))
}

fn current_user((s, u): (LoginSession, User)) -> CurrentUser {
    CurrentUser {
        id: u.id,
        role: u.role(),
        username: u.username,
        display_name: u.display_name,
        company_id: u.company_id,
        must_change_password: u.must_change_password,
        session_id: s.id,
        epoch: u.session_epoch,
        login_at: s.created_at.timestamp(),
    }
}

/// What the permission record says of a request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Permitted,
    /// anonymous on a route with a record: a page (GET) sends the visitor to log in
    LogInFirst,
    /// anonymous on a route with a record, for anything but a page
    Unauthorized,
    /// no record (default deny), or one that does not allow the user's role
    Forbidden,
}

fn verdict(allowed: Option<&[String]>, user: Option<&CurrentUser>, method: &Method) -> Verdict {
    let role = user.map(|u| u.role);
    match allowed {
        Some(a) if route_allows(a, role) => Verdict::Permitted,
        Some(_) if user.is_none() && method == Method::GET => Verdict::LogInFirst,
        Some(_) if user.is_none() => Verdict::Unauthorized,
        _ => Verdict::Forbidden,
    }
}

/// The login page, which sends the visitor back to `path` afterwards.
fn login_then_back_to(path: &str) -> String {
    let next = serde_urlencoded::to_string([("next", path)]).unwrap_or_default();
    format!("{}?{next}", routes::GET_LOGIN.pattern)
}

fn must_change_password_first(user: Option<&CurrentUser>, pattern: &str) -> bool {
    user.is_some_and(|u| u.must_change_password)
        && !FORCED_CHANGE_OPEN.iter().any(|r| r.pattern == pattern)
}

/// The session's CSRF token (created on first use), or None when a mutating request
/// does not present it.
async fn csrf_checked(req: &mut ServiceRequest, visit: &Visit) -> Option<String> {
    let token = session::csrf_token(&visit.session);
    if !csrf::is_safe(&visit.method) {
        let presented = csrf::presented_token(req).await;
        if !csrf::matches(presented.as_deref(), &token) {
            return None;
        }
    }
    Some(token)
}

/// Refuses the request with `error`, recorded when it would have changed something.
async fn refuse(
    req: ServiceRequest,
    state: &Context,
    visit: &Visit,
    user: Option<&CurrentUser>,
    error: WebError,
) -> ServiceResponse<BoxBody> {
    let res = shown(req, visit, user.cloned(), &error);
    record_if_mutating(state, &res, user, &visit.ip, &visit.pattern).await;
    res
}

/// The request's context for the handler: the user, the CSRF token, the language
/// (cookie), and on plain page loads the flash message.
fn context(req: &ServiceRequest, visit: &Visit, user: Option<CurrentUser>, csrf: String) -> Ctx {
    let lang = req
        .cookie(LANG_COOKIE)
        .and_then(|c| Lang::from_code(c.value()))
        .unwrap_or_default();
    Ctx {
        user,
        csrf,
        lang,
        hx: visit.hx,
        ip: visit.ip.clone(),
        flash: if visit.method == Method::GET && !visit.hx {
            session::take_flash(&visit.session)
        } else {
            None
        },
        path: req.path().to_string(),
    }
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
    crate::ops::audit::record(state, entry).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: crate::domain::access::Role) -> CurrentUser {
        CurrentUser {
            id: crate::domain::ids::UserId(1),
            username: "u".into(),
            display_name: String::new(),
            role,
            company_id: None,
            must_change_password: true,
            session_id: 1,
            epoch: 0,
            login_at: 0,
        }
    }

    #[test]
    fn the_permission_record_decides() {
        use crate::domain::access::Role;
        let admins = vec![Role::Admin.as_str().to_string()];
        let (admin, other) = (user(Role::Admin), user(Role::CustomerMember));
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            verdict(Some(&admins), Some(&admin), &post),
            Verdict::Permitted
        );
        assert_eq!(
            verdict(Some(&admins), Some(&other), &get),
            Verdict::Forbidden
        );
        assert_eq!(verdict(Some(&admins), None, &get), Verdict::LogInFirst);
        assert_eq!(verdict(Some(&admins), None, &post), Verdict::Unauthorized);
        assert_eq!(verdict(None, Some(&admin), &get), Verdict::Forbidden);
        assert_eq!(verdict(None, None, &get), Verdict::Forbidden);
    }

    #[test]
    fn the_forced_change_leaves_its_way_out_open() {
        let u = user(crate::domain::access::Role::CustomerMember);
        assert!(!must_change_password_first(Some(&u), "/password"));
        assert!(!must_change_password_first(Some(&u), "/static/{file:.*}"));
        assert!(must_change_password_first(Some(&u), "/instances"));
        assert!(!must_change_password_first(None, "/instances"));
        assert!(is_api("/api/check") && !is_api("/apis") && !is_api("/"));
        assert_eq!(login_then_back_to("/users/1"), "/login?next=%2Fusers%2F1");
    }
}
