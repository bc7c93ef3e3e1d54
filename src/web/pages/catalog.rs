//! The handlers the three catalog pages share, generic over `CatalogPage`: list
//! (page or HTMX partial), new/edit dialog, create/update (422 with the form on bad
//! input), 上架 toggle and delete. Each module supplies its templates and ops calls.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::FormPage;
use crate::domain::catalog::Catalog;
use crate::domain::fields::FieldErrors;
use crate::domain::listing::{ListParams, ListQuery, Page};
use crate::domain::routes::{self, CatalogRoutes};
use crate::ops::Context;
use crate::ops::{self, OpsError};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::{changed, render, render_422};

/// One list page with the query that produced it.
pub struct ListView<T> {
    pub q: ListQuery,
    pub page: Page<T>,
    pub base: &'static str,
}

impl<T> ListView<T> {
    pub fn link(&self, qs: String) -> String {
        format!("{}?{qs}", self.base)
    }
}

// Handlers run on actix's single-threaded workers: their futures need not be Send.
#[allow(async_fn_in_trait)]
pub trait CatalogPage: 'static {
    const KIND: Catalog;
    const SORTS: &'static [&'static str];
    /// The catalog's routes (web/mod.rs mounts them).
    const ROUTES: CatalogRoutes = match Self::KIND {
        Catalog::Images => routes::IMAGES,
        Catalog::Nodes => routes::NODES,
        Catalog::Specs => routes::SPECS,
    };
    type Row;
    type Form: DeserializeOwned + 'static;
    /// What the form offers besides its own values (the spec form's GPU models).
    type Extras;

    async fn list(st: &Context, q: ListQuery) -> Result<Page<Self::Row>, OpsError>;
    fn blank_form() -> Self::Form;
    async fn load_form(st: &Context, id: i64) -> Result<Self::Form, OpsError>;
    /// Parses and writes; `OpsError::Invalid` carries the bad fields.
    async fn save(st: &Context, id: Option<i64>, form: &Self::Form) -> Result<(), OpsError>;
    async fn extras(st: &Context) -> Result<Self::Extras, OpsError>;

    fn list_page<'a>(l: &'a Ctx, v: &'a ListView<Self::Row>) -> impl Template + 'a;
    fn list_partial<'a>(l: &'a Ctx, v: &'a ListView<Self::Row>) -> impl Template + 'a;
    /// `id` = None when creating.
    fn form_partial<'a>(
        l: &'a Ctx,
        id: Option<i64>,
        form: &'a Self::Form,
        errors: &'a FieldErrors,
        extras: &'a Self::Extras,
    ) -> impl Template + 'a;

    /// The list page, where changes lead back to.
    fn base() -> &'static str {
        Self::ROUTES.index.pattern
    }
}

pub async fn index<M: CatalogPage>(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let q = ListQuery::parse(&q, M::SORTS);
    let v = ListView {
        page: M::list(&st, q.clone()).await?,
        q,
        base: M::base(),
    };
    if ctx.hx {
        render(M::list_partial(&ctx, &v))
    } else {
        render(M::list_page(&ctx, &v))
    }
}

pub async fn new<M: CatalogPage>(
    st: web::Data<Context>,
    ctx: Ctx,
) -> Result<HttpResponse, WebError> {
    let form = M::blank_form();
    let extras = M::extras(&st).await?;
    form_response(
        &ctx,
        M::form_partial(&ctx, None, &form, &FieldErrors::default(), &extras),
        false,
    )
}

pub async fn edit<M: CatalogPage>(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let form = M::load_form(&st, *id).await?;
    let extras = M::extras(&st).await?;
    form_response(
        &ctx,
        M::form_partial(&ctx, Some(*id), &form, &FieldErrors::default(), &extras),
        false,
    )
}

pub async fn create<M: CatalogPage>(
    st: web::Data<Context>,
    ctx: Ctx,
    form: web::Form<M::Form>,
) -> Result<HttpResponse, WebError> {
    save::<M>(&st, &ctx, None, &form).await
}

pub async fn update<M: CatalogPage>(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<M::Form>,
) -> Result<HttpResponse, WebError> {
    save::<M>(&st, &ctx, Some(*id), &form).await
}

async fn save<M: CatalogPage>(
    st: &Context,
    ctx: &Ctx,
    id: Option<i64>,
    form: &M::Form,
) -> Result<HttpResponse, WebError> {
    match M::save(st, id, form).await {
        Ok(()) => Ok(changed(ctx.hx, M::base())),
        Err(OpsError::Invalid(errors)) => {
            let extras = M::extras(st).await?;
            form_response(ctx, M::form_partial(ctx, id, form, &errors, &extras), true)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ListedForm {
    /// the new state: "1" = 上架, anything else = 下架
    #[serde(default)]
    pub listed: String,
}

pub async fn listed<M: CatalogPage>(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<ListedForm>,
) -> Result<HttpResponse, WebError> {
    ops::catalog::set_listed(&st, M::KIND, *id, form.listed == "1").await?;
    Ok(changed(ctx.hx, M::base()))
}

pub async fn delete<M: CatalogPage>(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    ops::catalog::delete(&st, M::KIND, *id).await?;
    Ok(changed(ctx.hx, M::base()))
}

/// A dialog partial for HTMX, or the same partial inside a full page.
pub fn form_response(
    ctx: &Ctx,
    partial: impl Template,
    invalid: bool,
) -> Result<HttpResponse, WebError> {
    match (ctx.hx, invalid) {
        (true, false) => render(partial),
        (true, true) => render_422(partial),
        (false, false) => render(FormPage {
            l: ctx,
            body: partial.render()?,
        }),
        (false, true) => render_422(FormPage {
            l: ctx,
            body: partial.render()?,
        }),
    }
}
