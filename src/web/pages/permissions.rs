//! API permission records (admin): routes × roles, toggled one cell at a time.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::domain::access::ROLE_LABELS;
use crate::domain::routes;
use crate::ops;
use crate::ops::Context;
use crate::ops::views::Permission;
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::render;

#[derive(Template)]
#[template(path = "permissions/index.html")]
struct PermissionsPage<'a> {
    l: &'a Ctx,
    rows: &'a [Permission],
    roles: [&'static str; 5],
}

#[derive(Template)]
#[template(path = "permissions/_row.html")]
struct PermissionRowPartial<'a> {
    l: &'a Ctx,
    p: &'a Permission,
    roles: [&'static str; 5],
}

pub async fn index(st: web::Data<Context>, ctx: Ctx) -> Result<HttpResponse, WebError> {
    let rows = ops::permissions::all(&st).await?;
    render(PermissionsPage {
        l: &ctx,
        rows: &rows,
        roles: ROLE_LABELS,
    })
}

pub async fn toggle(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, WebError> {
    let (id, role) = path.into_inner();
    let p = ops::permissions::toggle_role(&st, id, &role).await?;
    if ctx.hx {
        render(PermissionRowPartial {
            l: &ctx,
            p: &p,
            roles: ROLE_LABELS,
        })
    } else {
        Ok(crate::web::render::redirect(
            false,
            routes::GET_PERMISSIONS.pattern,
        ))
    }
}
