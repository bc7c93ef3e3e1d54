//! WebError and the one table from errors to HTTP statuses. Pages get the (bilingual)
//! error page, every word of it from the i18n catalogues (`error.*`); 5xx causes are
//! logged once (in English) and shown as a generic message.

use actix_web::http::StatusCode as S;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::domain::routes::GET_ROOT;
use crate::i18n::{Lang, t, tf};
use crate::ops::{DbError, OpsError};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("not logged in")]
    Unauthorized,
    /// a rule refused the action; the i18n key says why
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// a node's Docker engine failed or could not be reached; its message is shown
    #[error("docker: {0}")]
    Engine(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for WebError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => WebError::NotFound,
            DbError::Unavailable(why) => WebError::Unavailable(why),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<OpsError> for WebError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Db(db) => db.into(),
            OpsError::NotFound => WebError::NotFound,
            OpsError::InUse => WebError::Conflict("catalog.in_use"),
            OpsError::Refused(key) => WebError::Conflict(key),
            OpsError::Placement(why) => WebError::Conflict(why.key()),
            OpsError::Docker(e) => WebError::Engine(e.to_string()),
            // handlers render form errors themselves; reaching here is a handler bug
            OpsError::Invalid(_) => WebError::Internal("unrendered form errors".into()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    zh: &'a str,
    en: &'a str,
    /// the link back to the home page, and its text in both languages
    home: &'static str,
    home_zh: &'static str,
    home_en: &'static str,
}

impl WebError {
    /// The i18n key of what the error page says, and its `{why}`.
    fn message(&self) -> (&'static str, Option<&str>) {
        match self {
            WebError::NotFound => ("error.not_found", None),
            WebError::Forbidden => ("error.forbidden", None),
            WebError::Csrf => ("error.csrf", None),
            WebError::Unauthorized => ("error.unauthorized", None),
            WebError::Conflict(key) => (key, None),
            WebError::Unavailable(_) => ("error.unavailable", None),
            WebError::Engine(why) => ("error.engine", Some(why)),
            WebError::Internal(_) => ("error.internal", None),
        }
    }

    fn messages(&self) -> (String, String) {
        let (key, why) = self.message();
        let args: &[(&str, &str)] = match why {
            Some(why) => &[("why", why)],
            None => &[],
        };
        (tf(Lang::Zh, key, args), tf(Lang::En, key, args))
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> S {
        match self {
            WebError::NotFound => S::NOT_FOUND,
            WebError::Forbidden | WebError::Csrf => S::FORBIDDEN,
            WebError::Unauthorized => S::UNAUTHORIZED,
            WebError::Conflict(_) => S::CONFLICT,
            WebError::Unavailable(_) => S::SERVICE_UNAVAILABLE,
            WebError::Engine(_) => S::BAD_GATEWAY,
            WebError::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            log::error!("{self}");
        }
        let (zh, en) = self.messages();
        let body = ErrorPage {
            status: status.as_u16(),
            zh: &zh,
            en: &en,
            home: GET_ROOT.pattern,
            home_zh: t(Lang::Zh, "error.home"),
            home_en: t(Lang::En, "error.home"),
        }
        .render()
        .unwrap_or_else(|_| en.to_string());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}
