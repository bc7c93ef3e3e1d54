//! The dashboard, health checks and static files.

use std::path::{Component, Path};

use actix_files::NamedFile;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::ops::Context;
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::render;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    l: &'a Ctx,
}

pub async fn home(ctx: Ctx) -> Result<HttpResponse, WebError> {
    ctx.me()?;
    render(HomePage { l: &ctx })
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
