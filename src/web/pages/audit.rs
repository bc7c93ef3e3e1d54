//! The audit log (admin): filters by user, resource type, door and time range;
//! paginated. Role, door, action and detail read in the UI's language (domain::audit).

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::domain::audit::{self, Door};
use crate::domain::listing::Page;
use crate::i18n::Lang;
use crate::ops::views::{AuditFilter, AuditLog};
use crate::ops::{self, Context};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::render;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct AuditParams {
    user: String,
    resource_type: String,
    /// `Door::code`; empty or unknown: every door
    door: String,
    /// YYYY-MM-DD, inclusive
    from: String,
    /// YYYY-MM-DD, inclusive
    to: String,
    page: String,
}

impl AuditParams {
    fn filter(&self) -> AuditFilter {
        let day = |s: &str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        };
        AuditFilter {
            user: self.user.trim().chars().take(64).collect(),
            resource_type: self.resource_type.trim().chars().take(64).collect(),
            door: Door::parse(self.door.trim()),
            from: day(&self.from).map(|d| DateTime::<Utc>::from_naive_utc_and_offset(d, Utc)),
            to: day(&self.to).map(|d| {
                DateTime::<Utc>::from_naive_utc_and_offset(d, Utc) + chrono::Duration::days(1)
            }),
        }
    }
    fn page(&self) -> i64 {
        self.page
            .parse()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .unwrap_or(1)
    }
    pub fn with_page(&self, page: i64) -> String {
        let p = page.to_string();
        serde_urlencoded::to_string([
            ("user", self.user.as_str()),
            ("resource_type", &self.resource_type),
            ("door", &self.door),
            ("from", &self.from),
            ("to", &self.to),
            ("page", &p),
        ])
        .unwrap_or_default()
    }
}

/// A row as the page shows it: the record, and its words in the UI's language.
struct Line<'a> {
    r: &'a AuditLog,
    role: String,
    /// the door's i18n key
    door: &'static str,
    /// None: the catalogue does not know the action (shown as its code)
    action: Option<&'static str>,
    detail: String,
}

impl<'a> Line<'a> {
    fn of(lang: Lang, r: &'a AuditLog) -> Line<'a> {
        Line {
            r,
            role: audit::role(lang, &r.role),
            door: Door::parse(&r.door)
                .unwrap_or(Door::of(&r.method, &r.path))
                .label_key(),
            action: audit::action(lang, &r.action),
            detail: audit::detail(lang, &r.detail),
        }
    }
}

#[derive(Template)]
#[template(path = "audit/index.html")]
struct AuditPage<'a> {
    l: &'a Ctx,
    f: &'a AuditParams,
    types: &'a [String],
    doors: [Door; 3],
    page: &'a Page<AuditLog>,
    lines: &'a [Line<'a>],
}

#[derive(Template)]
#[template(path = "audit/_list.html")]
struct AuditListPartial<'a> {
    l: &'a Ctx,
    f: &'a AuditParams,
    page: &'a Page<AuditLog>,
    lines: &'a [Line<'a>],
}

pub async fn index(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<AuditParams>,
) -> Result<HttpResponse, WebError> {
    let (list, types) = ops::audit::list(&st, q.filter(), q.page()).await?;
    let lines: Vec<Line> = list.rows.iter().map(|r| Line::of(ctx.lang, r)).collect();
    if ctx.hx {
        render(AuditListPartial {
            l: &ctx,
            f: &q,
            page: &list,
            lines: &lines,
        })
    } else {
        render(AuditPage {
            l: &ctx,
            f: &q,
            types: &types,
            doors: Door::ALL,
            page: &list,
            lines: &lines,
        })
    }
}
