//! Login, logout, changing one's own password, and the language switch.

use actix_session::Session;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::accounts::PasswordForm;
use crate::domain::fields::FieldErrors;
use crate::domain::redirect::local_path;
use crate::domain::routes::{GET_LOGIN, GET_PASSWORD, GET_ROOT};
use crate::i18n::Lang;
use crate::ops::Context;
use crate::ops::accounts::{LoginError, LoginRefused};
use crate::ops::{self, OpsError};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::middleware::{LANG_COOKIE, session};
use crate::web::render::{redirect, render, render_422, render_status};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    l: &'a Ctx,
    username: &'a str,
    next: &'a str,
    /// the refusal, in the page's language
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextParam {
    next: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login_page(ctx: Ctx, q: web::Query<NextParam>) -> Result<HttpResponse, WebError> {
    if ctx.user.is_some() {
        return Ok(redirect(false, GET_ROOT.pattern));
    }
    render(LoginPage {
        l: &ctx,
        username: "",
        next: &local_path(&q.next),
        error: None,
    })
}

pub async fn login(
    st: web::Data<Context>,
    ctx: Ctx,
    session: Session,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    match ops::accounts::login(&st, &form.username, &form.password, &ctx.ip, "web").await {
        Ok(user) => {
            let agent = req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let token = ops::logins::start(&st, user.id, &ctx.ip, agent).await?;
            session::start(&session, &token);
            let to = if user.must_change_password {
                GET_PASSWORD.pattern.into()
            } else {
                local_path(&form.next)
            };
            Ok(redirect(false, &to))
        }
        Err(LoginError::Ops(e)) => Err(e.into()),
        Err(LoginError::Refused(why)) => {
            let (status, error) = match why {
                // SECURITY: one message for unknown users, wrong passwords and locks
                LoginRefused::BadCredentials | LoginRefused::Locked => (
                    StatusCode::UNAUTHORIZED,
                    ctx.t("login.bad_credentials").into(),
                ),
                LoginRefused::Disabled => {
                    (StatusCode::UNAUTHORIZED, ctx.t("login.disabled").into())
                }
                LoginRefused::Throttled(secs) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    ctx.t("login.throttled").replace("{n}", &secs.to_string()),
                ),
            };
            let page = LoginPage {
                l: &ctx,
                username: form.username.trim(),
                next: &local_path(&form.next),
                error: Some(error),
            };
            let mut res = render_status(status, page)?;
            if let LoginRefused::Throttled(secs) = why {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            }
            Ok(res)
        }
    }
}

pub async fn logout(
    st: web::Data<Context>,
    ctx: Ctx,
    session: Session,
) -> Result<HttpResponse, WebError> {
    if let Some(u) = &ctx.user {
        ops::accounts::logout(&st, u.session_id, u.origin(&ctx.ip)).await?;
    }
    session::end(&session);
    Ok(redirect(ctx.hx, GET_LOGIN.pattern))
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    l: &'a Ctx,
    errors: &'a FieldErrors,
    forced: bool,
}

pub async fn password_page(ctx: Ctx) -> Result<HttpResponse, WebError> {
    let forced = ctx.me()?.must_change_password;
    render(PasswordPage {
        l: &ctx,
        errors: &FieldErrors::default(),
        forced,
    })
}

pub async fn change_password(
    st: web::Data<Context>,
    ctx: Ctx,
    session: Session,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    match ops::accounts::change_password(&st, me.id, me.session_id, &form).await {
        Ok(_) => {
            // this session stays valid; every other session of the user ends
            session::set_flash(&session, ctx.t("password.changed"));
            Ok(redirect(ctx.hx, GET_ROOT.pattern))
        }
        Err(OpsError::Invalid(errors)) => render_422(PasswordPage {
            l: &ctx,
            errors: &errors,
            forced: me.must_change_password,
        }),
        Err(e) => Err(e.into()),
    }
}

pub async fn set_lang(
    st: web::Data<Context>,
    code: web::Path<String>,
    q: web::Query<NextParam>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_code(&code).ok_or(WebError::NotFound)?;
    let cookie = Cookie::build(LANG_COOKIE, lang.code())
        // the whole site
        .path("/")
        .same_site(SameSite::Lax)
        .secure(st.settings.security_cookie_secure())
        .max_age(actix_web::cookie::time::Duration::days(365))
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, local_path(&q.next).as_ref()))
        .finish())
}
