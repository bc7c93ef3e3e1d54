//! WebError and the one table from errors to HTTP statuses. Pages get the error page in
//! the normal layout and the UI's language, every word of it from the i18n catalogues
//! (`error.*`); 5xx causes are logged once (in English) and shown as a generic message.

use actix_web::http::StatusCode as S;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::extract::Ctx;
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

/// The error page: the layout (header, and navigation for a logged-in user) around the
/// status and the message, in the UI's language.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    l: &'a Ctx,
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// The message alone (`#error-message`), for HTMX requests: base.html's responseHandling
/// shows it in #flash.
#[derive(Template)]
#[template(path = "_error.html")]
struct ErrorMessage<'a> {
    l: &'a Ctx,
    message: &'a str,
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

    /// What the error says, in `lang`.
    fn text(&self, lang: Lang) -> String {
        let (key, why) = self.message();
        let args: &[(&str, &str)] = match why {
            Some(why) => &[("why", why)],
            None => &[],
        };
        tf(lang, key, args)
    }

    /// The error's answer to the request of `l`: the error page in the user's layout and
    /// language, or to an HTMX request the message alone. The gate (middleware) answers
    /// every error it sees this way; `error_response` is the fallback without a request.
    pub fn page(&self, l: &Ctx) -> HttpResponse {
        let status = self.status_code();
        let message = self.text(l.lang);
        let title = match status {
            S::FORBIDDEN => "error.title_403",
            S::NOT_FOUND => "error.title_404",
            _ => "error.title",
        };
        let body = if l.hx {
            ErrorMessage {
                l,
                message: &message,
            }
            .render()
        } else {
            ErrorPage {
                l,
                status: status.as_u16(),
                title: t(l.lang, title),
                message: &message,
            }
            .render()
        };
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Vary", "HX-Request"))
            .body(body.unwrap_or(message))
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

    /// Without the request: an anonymous visitor's page in the default language (the
    /// gate puts the user's layout and language around it whenever it can).
    fn error_response(&self) -> HttpResponse {
        if self.status_code().is_server_error() {
            log::error!("{self}");
        }
        self.page(&Ctx::anonymous(Lang::default()))
    }
}
