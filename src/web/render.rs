//! askama glue and the few response shapes handlers use.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::error::WebError;

/// 200 with the rendered template.
pub fn render(t: impl Template) -> Result<HttpResponse, WebError> {
    render_status(StatusCode::OK, t)
}

/// 422 with the form re-rendered next to its errors (base.html lets HTMX swap it).
pub fn render_422(t: impl Template) -> Result<HttpResponse, WebError> {
    render_status(StatusCode::UNPROCESSABLE_ENTITY, t)
}

pub fn render_status(status: StatusCode, t: impl Template) -> Result<HttpResponse, WebError> {
    let body = t.render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Vary", "HX-Request"))
        .body(body))
}

/// A redirect that works for plain browser requests (303) and HTMX ones (HX-Redirect).
pub fn redirect(hx: bool, to: &str) -> HttpResponse {
    if hx {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", to))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header(("Location", to))
            .finish()
    }
}

/// After a successful change: HTMX gets 204 + events (lists refresh, dialog closes),
/// a plain form post is redirected back to `to`.
pub fn changed(hx: bool, to: &str) -> HttpResponse {
    if hx {
        HttpResponse::NoContent()
            .insert_header(("HX-Trigger", "list-changed, close-dialog"))
            .finish()
    } else {
        redirect(false, to)
    }
}
