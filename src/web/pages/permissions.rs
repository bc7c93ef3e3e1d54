//! API permission records (admin): routes × roles, toggled one cell at a time, grouped
//! by module (domain::routes::module) and filtered to one.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::access::ROLE_LABELS;
use crate::domain::routes;
use crate::ops;
use crate::ops::Context;
use crate::ops::permissions::Group;
use crate::ops::views::Permission;
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::render;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PermissionParams {
    /// a module (`routes::module`); empty: every module
    module: String,
}

#[derive(Template)]
#[template(path = "permissions/index.html")]
struct PermissionsPage<'a> {
    l: &'a Ctx,
    module: &'a str,
    modules: &'a [String],
    groups: &'a [Group],
    roles: [&'static str; 5],
}

#[derive(Template)]
#[template(path = "permissions/_list.html")]
struct PermissionListPartial<'a> {
    l: &'a Ctx,
    groups: &'a [Group],
    roles: [&'static str; 5],
}

#[derive(Template)]
#[template(path = "permissions/_row.html")]
struct PermissionRowPartial<'a> {
    l: &'a Ctx,
    p: &'a Permission,
    roles: [&'static str; 5],
}

pub async fn index(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<PermissionParams>,
) -> Result<HttpResponse, WebError> {
    let module = q.module.trim();
    let only = Some(module).filter(|m| !m.is_empty());
    let (groups, modules) = ops::permissions::grouped(&st, only).await?;
    if ctx.hx {
        render(PermissionListPartial {
            l: &ctx,
            groups: &groups,
            roles: ROLE_LABELS,
        })
    } else {
        render(PermissionsPage {
            l: &ctx,
            module,
            modules: &modules,
            groups: &groups,
            roles: ROLE_LABELS,
        })
    }
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
