//! The audit log (admin): filters by user, resource type and time range; paginated.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::domain::listing::Page;
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
            ("from", &self.from),
            ("to", &self.to),
            ("page", &p),
        ])
        .unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "audit/index.html")]
struct AuditPage<'a> {
    l: &'a Ctx,
    f: &'a AuditParams,
    types: &'a [String],
    page: &'a Page<AuditLog>,
}

#[derive(Template)]
#[template(path = "audit/_list.html")]
struct AuditListPartial<'a> {
    l: &'a Ctx,
    f: &'a AuditParams,
    page: &'a Page<AuditLog>,
}

pub async fn index(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<AuditParams>,
) -> Result<HttpResponse, WebError> {
    let (list, types) = ops::audit::list(&st, q.filter(), q.page()).await?;
    if ctx.hx {
        render(AuditListPartial {
            l: &ctx,
            f: &q,
            page: &list,
        })
    } else {
        render(AuditPage {
            l: &ctx,
            f: &q,
            types: &types,
            page: &list,
        })
    }
}
