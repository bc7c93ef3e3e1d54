//! LXD containers (admin): the list with usage, SSH port and NAT rule count, with start,
//! stop, restart and delete; a container's page with its NAT rules (add, remove); the
//! ZJMF API tokens, masked, with a copy button; above the list, unfinished creates whose
//! container is still being removed (ops/recovery.rs). The work is ops/zjmf.rs, the same as the
//! plugin's /api/ calls; the gate audits every POST. The list is an HTMX partial
//! (`lxd/_list.html`): polled, and the answer to the row actions, with a notice.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::routes;
use crate::domain::zjmf::{self, PortRule, Refusal};
use crate::ops::Context;
use crate::ops::recovery::{self, PendingCreate};
use crate::ops::views::NatRule;
use crate::ops::zjmf::{self as ops, Overview, Power, Usage};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::middleware::session;
use crate::web::render::{redirect, render, render_422};

#[derive(Template)]
#[template(path = "lxd/index.html")]
struct IndexPage<'a> {
    l: &'a Ctx,
    list: ListPartial<'a>,
    /// (masked, full) API tokens
    tokens: Vec<(String, String)>,
}

/// The container list: on the page, polled, and the answer to the row actions.
#[derive(Template)]
#[template(path = "lxd/_list.html")]
struct ListPartial<'a> {
    l: &'a Ctx,
    rows: Vec<Overview>,
    /// unfinished creates whose container is not removed yet (ops/recovery.rs)
    cleanups: Vec<PendingCreate>,
    /// why the list could not be loaded (LXD down)
    problem: Option<String>,
    /// (succeeded, text) of the action just done
    notice: Option<(bool, String)>,
}

/// The containers as they are now (or why LXD could not say), with the outcome of an
/// action.
async fn list<'a>(st: &Context, ctx: &'a Ctx, notice: Option<(bool, String)>) -> ListPartial<'a> {
    let (rows, problem) = match ops::overview(st).await {
        Ok(rows) => (rows, None),
        Err(r) => (Vec::new(), Some(r.text(ctx.lang))),
    };
    let cleanups = match recovery::pending_creates(st).await {
        Ok(list) => list,
        Err(e) => {
            log::warn!("lxd page: cannot read the pending clean-ups: {e}");
            Vec::new()
        }
    };
    ListPartial {
        l: ctx,
        rows,
        cleanups,
        problem,
        notice,
    }
}

/// After an action: the list partial with its outcome (HTMX), else a flash message and
/// back to the page.
async fn answer(
    st: &Context,
    ctx: &Ctx,
    session: &Session,
    r: Result<(), Refusal>,
    done: &str,
) -> Result<HttpResponse, WebError> {
    let notice = match r {
        Ok(()) => (true, done.to_string()),
        Err(refusal) => (false, refusal.text(ctx.lang)),
    };
    if ctx.hx {
        return render(list(st, ctx, Some(notice)).await);
    }
    session::set_flash(session, &notice.1);
    Ok(redirect(false, routes::GET_LXD.pattern))
}

/// A container's page: its usage and its rules part.
#[derive(Template)]
#[template(path = "lxd/detail.html")]
struct DetailPage<'a> {
    l: &'a Ctx,
    u: &'a Usage,
    part: RulesPartial<'a>,
}

/// A container's NAT rules and the add form: on its page, and the answer to a change.
#[derive(Template)]
#[template(path = "lxd/_rules.html")]
struct RulesPartial<'a> {
    l: &'a Ctx,
    u: &'a Usage,
    rules: &'a [NatRule],
    /// (succeeded, text) of the rule change just done
    notice: Option<(bool, String)>,
    /// what the add form shows: empty, or what was refused
    entered: &'a PortForm,
}

/// `abcd…wxyz`: enough to tell tokens apart, not enough to use one.
fn masked(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 8 {
        return "…".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

pub async fn index(st: web::Data<Context>, ctx: Ctx) -> Result<HttpResponse, WebError> {
    ctx.me()?;
    let list = list(&st, &ctx, None).await;
    if ctx.hx {
        return render(list);
    }
    let tokens = st
        .settings
        .zjmf
        .tokens()
        .into_iter()
        .map(|t| (masked(t), t.to_string()))
        .collect();
    render(IndexPage {
        l: &ctx,
        list,
        tokens,
    })
}

fn hostname(raw: &str) -> Result<String, WebError> {
    zjmf::hostname(Some(raw)).map_err(|_| WebError::NotFound)
}

pub async fn power(
    st: web::Data<Context>,
    ctx: Ctx,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    let (name, action) = path.into_inner();
    let name = hostname(&name)?;
    let action = match action.as_str() {
        "start" => Power::Start,
        "stop" => Power::Stop,
        "restart" => Power::Restart,
        _ => return Err(WebError::NotFound),
    };
    let r = ops::power(&st, &me.origin(&ctx.ip), &name, action).await;
    let done = r.as_ref().map_or("", |key| ctx.t(key)).to_string();
    answer(&st, &ctx, &session, r.map(|_| ()), &done).await
}

pub async fn delete(
    st: web::Data<Context>,
    ctx: Ctx,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    let name = hostname(&path)?;
    let r = ops::delete(&st, &me.origin(&ctx.ip), &name).await;
    answer(&st, &ctx, &session, r, ctx.t("lxd.deleted")).await
}

pub async fn detail(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    ctx.me()?;
    let name = hostname(&path)?;
    let (u, rules) = ops::detail(&st, &name)
        .await
        .map_err(|_| WebError::NotFound)?;
    let entered = PortForm::default();
    let part = RulesPartial {
        l: &ctx,
        u: &u,
        rules: &rules,
        notice: None,
        entered: &entered,
    };
    render(DetailPage {
        l: &ctx,
        u: &u,
        part,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PortForm {
    dtype: String,
    dport: String,
    sport: String,
}

impl PortForm {
    fn rule(&self) -> Result<PortRule, Refusal> {
        PortRule::parse(|k| match k {
            "dtype" => Some(self.dtype.as_str()),
            "dport" => Some(self.dport.as_str()),
            "sport" => Some(self.sport.as_str()),
            _ => None,
        })
    }
}

/// Adds or removes a rule. HTMX gets the rules part again with the outcome (422 and the
/// entered values on a refusal); a plain form post goes back to the page, or gets the
/// page again with the message (422).
async fn change_port(
    st: &Context,
    ctx: &Ctx,
    name: &str,
    form: &PortForm,
    add: bool,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    let origin = me.origin(&ctx.ip);
    let result = match form.rule() {
        Ok(rule) if add => ops::add_port(st, &origin, name, rule).await,
        Ok(rule) => ops::remove_port(st, &origin, name, rule).await,
        Err(r) => Err(r),
    };
    if result.is_ok() && !ctx.hx {
        return Ok(redirect(
            false,
            &routes::GET_LXD_NAME.path(&[("name", name)]),
        ));
    }
    let (u, rules) = ops::detail(st, name)
        .await
        .map_err(|_| WebError::NotFound)?;
    let blank = PortForm::default();
    let ok = result.is_ok();
    let (notice, entered) = match result {
        Ok(()) => {
            let done = if add {
                "lxd.rule_added"
            } else {
                "lxd.rule_removed"
            };
            ((true, ctx.t(done).to_string()), &blank)
        }
        // a refused removal leaves the add form empty
        Err(refusal) => (
            (false, refusal.text(ctx.lang)),
            if add { form } else { &blank },
        ),
    };
    let part = RulesPartial {
        l: ctx,
        u: &u,
        rules: &rules,
        notice: Some(notice),
        entered,
    };
    match (ctx.hx, ok) {
        (true, true) => render(part),
        (true, false) => render_422(part),
        (false, _) => render_422(DetailPage {
            l: ctx,
            u: &u,
            part,
        }),
    }
}

pub async fn add_port(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<String>,
    form: web::Form<PortForm>,
) -> Result<HttpResponse, WebError> {
    let name = hostname(&path)?;
    change_port(&st, &ctx, &name, &form, true).await
}

pub async fn remove_port(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<String>,
    form: web::Form<PortForm>,
) -> Result<HttpResponse, WebError> {
    let name = hostname(&path)?;
    change_port(&st, &ctx, &name, &form, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked() {
        assert_eq!(masked("7215EE9C7D9DC229D2921A40E899EC5F"), "7215…EC5F");
        assert_eq!(masked("short"), "…");
    }
}
