//! What the gate middleware resolved once per request, handed to handlers:
//! `Ctx` (user if any, CSRF token, language, HTMX or not) and `Me` (a logged-in user).

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};

use super::error::WebError;
use crate::domain::access::{Actor, Role};
use crate::domain::ids::{CompanyId, UserId};
use crate::domain::routes::GET_ROOT;
use crate::i18n::{self, Lang};
use crate::ops::audit::Origin;

#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub company_id: Option<CompanyId>,
    pub must_change_password: bool,
    /// the login session (login_sessions row) of this request
    pub session_id: i64,
    /// the user's session epoch now, and when this login started (unix seconds): what
    /// a socket that outlives its handshake re-checks
    pub epoch: i32,
    pub login_at: i64,
}

impl CurrentUser {
    /// The display name, else the user name.
    pub fn shown_name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.username
        } else {
            &self.display_name
        }
    }
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id,
            role: self.role,
            company_id: self.company_id,
        }
    }
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    /// Who did it, for events the ops record themselves.
    pub fn origin(&self, ip: &str) -> Origin {
        Origin::new(
            Some(self.id),
            self.username.as_str(),
            self.role.as_str(),
            ip,
            "web",
        )
    }
}

/// Per-request context. Also the layout data every template gets as `l`.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub user: Option<CurrentUser>,
    pub csrf: String,
    pub lang: Lang,
    /// an HTMX request that wants a partial (not a history restore)
    pub hx: bool,
    pub ip: String,
    pub flash: Option<String>,
    /// the current path, for the active navigation entry
    pub path: String,
}

impl Ctx {
    /// A visitor nothing is known of (no user, no CSRF token, no path), in `lang`.
    pub fn anonymous(lang: Lang) -> Ctx {
        Ctx {
            user: None,
            csrf: String::new(),
            lang,
            hx: false,
            ip: String::new(),
            flash: None,
            path: String::new(),
        }
    }
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        i18n::t(self.lang, key)
    }
    /// The message for `key`, or `fallback` when the catalogue has none.
    pub fn t_or<'a>(&self, key: &str, fallback: &'a str) -> &'a str {
        i18n::lookup(self.lang, key).unwrap_or(fallback)
    }
    /// The pager's text: 第 1/3 页 · 共 52 条.
    pub fn pager_text(
        &self,
        page: impl std::fmt::Display,
        pages: impl std::fmt::Display,
        total: impl std::fmt::Display,
    ) -> String {
        let (page, pages, total) = (page.to_string(), pages.to_string(), total.to_string());
        i18n::tf(
            self.lang,
            "list.pager",
            &[("page", &page), ("pages", &pages), ("total", &total)],
        )
    }
    /// A confirmation question naming its object: `key`'s text with `{name}` filled in.
    pub fn ask(&self, key: &str, name: &str) -> String {
        i18n::tf(self.lang, key, &[("name", name)])
    }
    /// An audit event's action in the UI's language, else its code.
    pub fn audit_action<'a>(&self, code: &'a str) -> &'a str {
        crate::domain::audit::action(self.lang, code).unwrap_or(code)
    }
    /// A duration in words in the UI's language (30 分钟, "2 hours").
    pub fn duration(&self, secs: impl std::borrow::Borrow<i64>) -> String {
        i18n::duration(self.lang, u64::try_from(*secs.borrow()).unwrap_or(0))
    }
    pub fn other_lang(&self) -> &'static str {
        self.lang.other().code()
    }
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(CurrentUser::is_admin)
    }
    pub fn is_customer_member(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| u.role == Role::CustomerMember)
    }
    /// Navigation highlighting: does the current path start with `prefix`?
    pub fn at(&self, prefix: &str) -> bool {
        let root = GET_ROOT.pattern;
        if prefix == root {
            self.path == root
        } else {
            self.path.starts_with(prefix)
        }
    }
    /// The translated message of a bad form field, if any.
    pub fn err(&self, errors: &crate::domain::fields::FieldErrors, field: &str) -> Option<&str> {
        errors.get(field).map(|k| self.t(k))
    }
    pub fn me(&self) -> Result<&CurrentUser, WebError> {
        self.user.as_ref().ok_or(WebError::Unauthorized)
    }
}

impl FromRequest for Ctx {
    type Error = WebError;
    type Future = Ready<Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Ctx>()
                .cloned()
                .ok_or(WebError::Internal("no request context".into())),
        )
    }
}

pub fn is_hx(req: &HttpRequest) -> bool {
    let h = |name| req.headers().get(name).is_some_and(|v| v == "true");
    h("HX-Request") && !h("HX-History-Restore-Request")
}
