//! The home page (the admin's dashboard and first-run checklist, a customer's instances
//! and what they hold), health checks and static files.

use std::path::{Component, Path};

use actix_files::NamedFile;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::instances::{self, Can, Connect};
use crate::domain::listing::Page;
use crate::domain::routes;
use crate::ops::views::{AdminDashboard, CustomerDashboard, InstanceView};
use crate::ops::{self, Context};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::render;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    l: &'a Ctx,
    dash: &'a Dashboard,
    /// a customer's instances (their first page), when their role may list them
    page: Option<Page<InstanceView>>,
    can: Can,
    /// the jumpbox's menu, for customers (None when it is off)
    connect: Option<Connect>,
}

/// The dashboard part of the home page (polled).
#[derive(Template)]
#[template(path = "home/_dashboard.html")]
struct DashboardPartial<'a> {
    l: &'a Ctx,
    dash: &'a Dashboard,
}

/// The admin's view of the installation, or a customer's of their instances.
pub enum Dashboard {
    Admin(AdminDashboard),
    Customer(CustomerDashboard),
}

/// The admin's dashboard (with the first-run checklist), or a customer's instances with
/// what they hold, the create button and the SSH command; the dashboard alone for HTMX.
pub async fn home(
    st: web::Data<Context>,
    ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    let dash = if me.is_admin() {
        Dashboard::Admin(ops::dashboard::admin(&st).await?)
    } else {
        Dashboard::Customer(ops::dashboard::customer(&st, &me.actor()).await?)
    };
    if ctx.hx {
        return render(DashboardPartial {
            l: &ctx,
            dash: &dash,
        });
    }
    let (page, can, connect) = if me.is_admin() {
        (None, Can::default(), None)
    } else {
        let has = ops::permissions::permits(&st, me.role).await?;
        let page = if has(routes::GET_INSTANCES) {
            Some(ops::instances::list(&st, &me.actor(), 1).await?)
        } else {
            None
        };
        let connect = Connect::new(&st, &req, &me.username, None);
        (page, instances::can(&st, &ctx).await?, connect)
    };
    render(HomePage {
        l: &ctx,
        dash: &dash,
        page,
        can,
        connect,
    })
}

/// `/favicon.ico`, which browsers ask for when a page names no icon (a JSON answer, a
/// download): the panel's icon, static/favicon.svg.
pub async fn favicon() -> HttpResponse {
    let to = format!("{}favicon.svg", routes::GET_STATIC_FILE.fixed_prefix());
    HttpResponse::MovedPermanently()
        .insert_header((actix_web::http::header::LOCATION, to))
        .finish()
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"code": "ok", "msg": "up"}))
}

pub async fn readyz(st: web::Data<Context>) -> HttpResponse {
    match st.database_ready().await {
        Ok(_) => {
            HttpResponse::Ok().json(serde_json::json!({"code": "ok", "msg": "database reachable"}))
        }
        Err(e) => {
            log::warn!("readyz: {e}");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"code": "unavailable", "msg": "database unreachable"}))
        }
    }
}

pub async fn static_file(
    st: web::Data<Context>,
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let rel = Path::new(file.as_str());
    // SECURITY: plain relative paths only, no `..` escaping the static directory.
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(WebError::NotFound);
    }
    let f = NamedFile::open_async(st.settings.server.static_dir.join(rel))
        .await
        .map_err(|_| WebError::NotFound)?;
    let mut res = f.use_etag(true).prefer_utf8(true).into_response(&req);
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(res)
}
