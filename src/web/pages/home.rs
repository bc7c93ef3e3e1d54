//! The home page (the admin's tiles, a customer's instances), health checks and static
//! files.

use std::path::{Component, Path};

use actix_files::NamedFile;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::instances::{self, Can};
use crate::domain::listing::Page;
use crate::domain::routes;
use crate::ops::views::InstanceView;
use crate::ops::{self, Context};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::render;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    l: &'a Ctx,
    /// a customer's instances (their first page), when their role may list them
    page: Option<Page<InstanceView>>,
    can: Can,
}

/// The admin's tiles, or a customer's instances with the create button.
pub async fn home(st: web::Data<Context>, ctx: Ctx) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    let (page, can) = if me.is_admin() {
        (None, Can::default())
    } else {
        let has = ops::permissions::permits(&st, me.role).await?;
        let page = if has(routes::GET_INSTANCES) {
            Some(ops::instances::list(&st, &me.actor(), 1).await?)
        } else {
            None
        };
        (page, instances::can(&st, &ctx).await?)
    };
    render(HomePage { l: &ctx, page, can })
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
