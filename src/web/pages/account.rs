//! The user's own account: their live browser login sessions (登录会话), each of which
//! they can end.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::domain::{device, routes};
use crate::ops::Context;
use crate::ops::views::LoginSession;
use crate::ops::{self, logins};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::{changed, render};

/// One row of the list, ready to show.
struct Row {
    id: i64,
    device: String,
    ip: String,
    created: String,
    last_seen: String,
    current: bool,
}

impl Row {
    fn new(s: &LoginSession, current: i64) -> Self {
        let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        Row {
            id: s.id,
            device: device::describe(&s.user_agent),
            ip: s.ip.clone(),
            created: at(s.created_at),
            last_seen: at(s.last_seen_at),
            current: s.id == current,
        }
    }
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage<'a> {
    l: &'a Ctx,
    rows: &'a [Row],
}

pub async fn sessions(st: web::Data<Context>, ctx: Ctx) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    let live = logins::list(&st, me.id).await?;
    let rows: Vec<Row> = live.iter().map(|s| Row::new(s, me.session_id)).collect();
    render(SessionsPage {
        l: &ctx,
        rows: &rows,
    })
}

/// Ends one of the user's own sessions (another user's is 404); ending the current one
/// is a logout.
pub async fn end_session(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    ops::logins::end(&st, me.id, *id, logins::reason::BY_USER).await?;
    let to = if *id == me.session_id {
        routes::GET_LOGIN.pattern
    } else {
        routes::GET_ACCOUNT_SESSIONS.pattern
    };
    Ok(changed(ctx.hx, to))
}
