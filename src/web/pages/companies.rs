//! Companies (tenants, admin): list, create, edit, delete (refused while in use).

use actix_web::{HttpResponse, web};
use askama::Template;

use super::catalog::form_response;
use crate::domain::accounts::{CompanyFields, CompanyForm};
use crate::domain::fields::FieldErrors;
use crate::domain::ids::CompanyId;
use crate::domain::listing::{ListParams, ListQuery, Page};
use crate::domain::routes;
use crate::ops::Context;
use crate::ops::views::CompanyListRow;
use crate::ops::{self, OpsError};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::{changed, render};

#[derive(Template)]
#[template(path = "companies/index.html")]
struct CompaniesPage<'a> {
    l: &'a Ctx,
    q: &'a str,
    page: &'a Page<CompanyListRow>,
}

#[derive(Template)]
#[template(path = "companies/_list.html")]
struct CompanyListPartial<'a> {
    l: &'a Ctx,
    q: &'a str,
    page: &'a Page<CompanyListRow>,
}

#[derive(Template)]
#[template(path = "companies/_form.html")]
struct CompanyFormPartial<'a> {
    l: &'a Ctx,
    id: Option<CompanyId>,
    form: &'a CompanyForm,
    errors: &'a FieldErrors,
}

pub async fn index(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let lq = ListQuery::parse(&q, &["name"]);
    let list = ops::accounts::list_companies(&st, lq.q.clone(), lq.page).await?;
    if ctx.hx {
        render(CompanyListPartial {
            l: &ctx,
            q: &lq.q,
            page: &list,
        })
    } else {
        render(CompaniesPage {
            l: &ctx,
            q: &lq.q,
            page: &list,
        })
    }
}

pub async fn new(ctx: Ctx) -> Result<HttpResponse, WebError> {
    form_response(
        &ctx,
        CompanyFormPartial {
            l: &ctx,
            id: None,
            form: &CompanyForm::default(),
            errors: &FieldErrors::default(),
        },
        false,
    )
}

pub async fn edit(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<CompanyId>,
) -> Result<HttpResponse, WebError> {
    let id = *id;
    let c = ops::accounts::company(&st, id).await?;
    let form = CompanyForm {
        name: c.name,
        remark: c.remark,
    };
    form_response(
        &ctx,
        CompanyFormPartial {
            l: &ctx,
            id: Some(id),
            form: &form,
            errors: &FieldErrors::default(),
        },
        false,
    )
}

pub async fn create(
    st: web::Data<Context>,
    ctx: Ctx,
    f: web::Form<CompanyForm>,
) -> Result<HttpResponse, WebError> {
    save(&st, &ctx, None, &f).await
}

pub async fn update(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<CompanyId>,
    f: web::Form<CompanyForm>,
) -> Result<HttpResponse, WebError> {
    save(&st, &ctx, Some(*id), &f).await
}

async fn save(
    st: &Context,
    ctx: &Ctx,
    id: Option<CompanyId>,
    f: &CompanyForm,
) -> Result<HttpResponse, WebError> {
    let outcome = match CompanyFields::parse(f) {
        Ok(fields) => ops::accounts::save_company(st, id, fields).await,
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => Ok(changed(ctx.hx, routes::GET_COMPANIES.pattern)),
        Err(OpsError::Invalid(errors)) => form_response(
            ctx,
            CompanyFormPartial {
                l: ctx,
                id,
                form: f,
                errors: &errors,
            },
            true,
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<CompanyId>,
) -> Result<HttpResponse, WebError> {
    ops::accounts::delete_company(&st, *id).await?;
    Ok(changed(ctx.hx, routes::GET_COMPANIES.pattern))
}
