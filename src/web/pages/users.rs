//! Users (admin): list, create, edit, disable/enable, reset password.

use actix_session::Session;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::catalog::form_response;
use crate::domain::access::Role;
use crate::domain::accounts::{UserFields, UserForm};
use crate::domain::fields::FieldErrors;
use crate::domain::ids::UserId;
use crate::domain::listing::{ListParams, Page};
use crate::domain::routes;
use crate::ops::Context;
use crate::ops::views::{Company, UserListRow};
use crate::ops::{self, OpsError};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::middleware::session;
use crate::web::render::{changed, render};

#[derive(Template)]
#[template(path = "users/index.html")]
struct UsersPage<'a> {
    l: &'a Ctx,
    q: &'a str,
    page: &'a Page<UserListRow>,
}

#[derive(Template)]
#[template(path = "users/_list.html")]
struct UserListPartial<'a> {
    l: &'a Ctx,
    q: &'a str,
    page: &'a Page<UserListRow>,
}

#[derive(Template)]
#[template(path = "users/_form.html")]
struct UserFormPartial<'a> {
    l: &'a Ctx,
    id: Option<UserId>,
    form: &'a UserForm,
    errors: &'a FieldErrors,
    companies: &'a [Company],
    roles: [Role; 3],
}

pub async fn index(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let lq = crate::domain::listing::ListQuery::parse(&q, &["id"]);
    let list = ops::accounts::list_users(&st, lq.q.clone(), lq.page).await?;
    if ctx.hx {
        render(UserListPartial {
            l: &ctx,
            q: &lq.q,
            page: &list,
        })
    } else {
        render(UsersPage {
            l: &ctx,
            q: &lq.q,
            page: &list,
        })
    }
}

async fn form(
    st: &Context,
    ctx: &Ctx,
    id: Option<UserId>,
    form: &UserForm,
    errors: &FieldErrors,
    invalid: bool,
) -> Result<HttpResponse, WebError> {
    let companies = ops::accounts::companies(st).await?;
    form_response(
        ctx,
        UserFormPartial {
            l: ctx,
            id,
            form,
            errors,
            companies: &companies,
            roles: Role::ALL,
        },
        invalid,
    )
}

pub async fn new(st: web::Data<Context>, ctx: Ctx) -> Result<HttpResponse, WebError> {
    let blank = UserForm {
        role: Role::CustomerMember.as_str().into(),
        ..UserForm::default()
    };
    form(&st, &ctx, None, &blank, &FieldErrors::default(), false).await
}

pub async fn edit(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<UserId>,
) -> Result<HttpResponse, WebError> {
    let id = *id;
    let u = ops::accounts::user(&st, id).await?;
    let f = UserForm {
        username: u.username,
        display_name: u.display_name,
        role: u.role,
        company_id: u.company_id.map(|c| c.to_string()).unwrap_or_default(),
        password: String::new(),
    };
    form(&st, &ctx, Some(id), &f, &FieldErrors::default(), false).await
}

pub async fn create(
    st: web::Data<Context>,
    ctx: Ctx,
    f: web::Form<UserForm>,
) -> Result<HttpResponse, WebError> {
    let outcome = match UserFields::parse(&f, true) {
        Ok((fields, password)) => ops::accounts::create_user(&st, fields, password)
            .await
            .map(drop),
        Err(e) => Err(e.into()),
    };
    answer(&st, &ctx, None, &f, outcome).await
}

pub async fn update(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<UserId>,
    f: web::Form<UserForm>,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?.origin(&ctx.ip);
    let outcome = match UserFields::parse(&f, false) {
        Ok((fields, _)) => ops::accounts::update_user(&st, &me, *id, fields).await,
        Err(e) => Err(e.into()),
    };
    answer(&st, &ctx, Some(*id), &f, outcome).await
}

async fn answer(
    st: &Context,
    ctx: &Ctx,
    id: Option<UserId>,
    f: &UserForm,
    outcome: Result<(), OpsError>,
) -> Result<HttpResponse, WebError> {
    match outcome {
        Ok(()) => Ok(changed(ctx.hx, routes::GET_USERS.pattern)),
        Err(OpsError::Invalid(errors)) => form(st, ctx, id, f, &errors, true).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DisabledForm {
    #[serde(default)]
    disabled: String,
}

pub async fn set_disabled(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<UserId>,
    f: web::Form<DisabledForm>,
) -> Result<HttpResponse, WebError> {
    ops::accounts::set_disabled(&st, ctx.me()?.id, *id, f.disabled == "1").await?;
    Ok(changed(ctx.hx, routes::GET_USERS.pattern))
}

pub async fn unlock(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<UserId>,
) -> Result<HttpResponse, WebError> {
    ops::accounts::unlock(&st, *id).await?;
    Ok(changed(ctx.hx, routes::GET_USERS.pattern))
}

/// Ends every login session of the user, their open terminals and jumpbox shells.
pub async fn end_sessions(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<UserId>,
) -> Result<HttpResponse, WebError> {
    ops::logins::end_all_of(&st, *id).await?;
    Ok(changed(ctx.hx, routes::GET_USERS.pattern))
}

#[derive(Template)]
#[template(path = "users/_password.html")]
struct ResetDonePartial<'a> {
    l: &'a Ctx,
    username: &'a str,
    password: &'a str,
}

/// The new password is shown once, in the dialog (or as a flash message without HTMX).
pub async fn reset_password(
    st: web::Data<Context>,
    ctx: Ctx,
    session: Session,
    id: web::Path<UserId>,
) -> Result<HttpResponse, WebError> {
    let (user, password) = ops::accounts::reset_password(&st, *id).await?;
    if ctx.hx {
        let mut res = render(ResetDonePartial {
            l: &ctx,
            username: &user.username,
            password: &password,
        })?;
        // the row now says 待改密
        res.headers_mut().insert(
            HeaderName::from_static("hx-trigger"),
            HeaderValue::from_static("list-changed"),
        );
        return Ok(res);
    }
    session::set_flash(
        &session,
        &format!(
            "{} {}: {}",
            ctx.t("user.new_password"),
            user.username,
            password
        ),
    );
    Ok(changed(false, routes::GET_USERS.pattern))
}
