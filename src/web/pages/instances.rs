//! Instances (实例): the list with live status, the step-by-step wizard (HTMX partials;
//! earlier choices travel as hidden fields), lifecycle actions and delete.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::container::Action;
use crate::domain::fields::FieldErrors;
use crate::domain::forward::{forward_command, ssh_config_block};
use crate::domain::ids::InstanceId;
use crate::domain::instances::{InstanceForm, NewInstance, WizardStep, id};
use crate::domain::jumpbox::ssh_command;
use crate::domain::listing::Page;
use crate::domain::routes;
use crate::domain::sftp::file_commands;
use crate::domain::wizard::Cost;
use crate::ops::Context;
use crate::ops::views::{Image, InstanceEvent, InstanceView, NodeChoice, Spec};
use crate::ops::{self, OpsError};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::{changed, render};

/// Which row buttons the user's role may use (the server refuses the others anyway).
#[derive(Clone, Copy, Debug, Default)]
pub struct Can {
    pub create: bool,
    pub start: bool,
    pub stop: bool,
    pub restart: bool,
    pub delete: bool,
    pub logs: bool,
    pub terminal: bool,
}

pub async fn can(st: &Context, ctx: &Ctx) -> Result<Can, WebError> {
    let has = crate::ops::permissions::permits(st, ctx.me()?.role).await?;
    Ok(Can {
        create: has(routes::POST_INSTANCES),
        start: has(routes::POST_INSTANCES_ID_START),
        stop: has(routes::POST_INSTANCES_ID_STOP),
        restart: has(routes::POST_INSTANCES_ID_RESTART),
        delete: has(routes::POST_INSTANCES_ID_DELETE),
        logs: has(routes::GET_INSTANCES_ID_LOGS),
        terminal: has(routes::GET_INSTANCES_ID_TERMINAL),
    })
}

#[derive(Template)]
#[template(path = "instances/index.html")]
struct InstancesPage<'a> {
    l: &'a Ctx,
    page: &'a Page<InstanceView>,
    can: Can,
}

#[derive(Template)]
#[template(path = "instances/_list.html")]
struct InstanceListPartial<'a> {
    l: &'a Ctx,
    page: &'a Page<InstanceView>,
    can: Can,
}

#[derive(Template)]
#[template(path = "instances/_row.html")]
struct InstanceRowPartial<'a> {
    l: &'a Ctx,
    r: &'a InstanceView,
    can: Can,
}

#[derive(Template)]
#[template(path = "instances/show.html")]
struct InstancePage<'a> {
    l: &'a Ctx,
    r: &'a InstanceView,
    events: &'a [InstanceEvent],
    can: Can,
    /// None when the jumpbox is off
    connect: Option<Connect>,
}

/// The instance page's live part (polled; the answer to an action taken on the page).
#[derive(Template)]
#[template(path = "instances/_live.html")]
struct InstanceLivePartial<'a> {
    l: &'a Ctx,
    r: &'a InstanceView,
    events: &'a [InstanceEvent],
    can: Can,
}

/// How to reach an instance (or the jumpbox's menu) over SSH; None when the jumpbox is off.
pub struct Connect {
    pub command: String,
    pub fingerprint: String,
    /// an instance's page: its port forwards and ~/.ssh/config block
    pub tools: Option<Tools>,
}

/// Ready-to-copy commands for working with an instance (issue 18).
pub struct Tools {
    pub sftp: String,
    pub scp: String,
    pub jupyter: String,
    pub tensorboard: String,
    pub ssh_config: String,
}

impl Connect {
    pub fn new(
        st: &Context,
        req: &HttpRequest,
        user: &str,
        instance: Option<&str>,
    ) -> Option<Connect> {
        st.jumpbox.get().map(|j| {
            let (port, host) = (j.addr.port(), req.connection_info().host().to_string());
            Connect {
                command: ssh_command(port, user, &host, instance),
                fingerprint: j.fingerprint.clone(),
                tools: instance.map(|name| {
                    let (sftp, scp) = file_commands(port, user, &host, name);
                    Tools {
                        sftp,
                        scp,
                        jupyter: forward_command(port, user, &host, name, 8888),
                        tensorboard: forward_command(port, user, &host, name, 6006),
                        ssh_config: ssh_config_block(port, user, &host, name),
                    }
                }),
            }
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PageParam {
    page: String,
}

/// `?view=page`: an action taken on the instance page (the answer is its live part).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ViewParam {
    view: String,
}

impl ViewParam {
    fn on_page(&self) -> bool {
        self.view == "page"
    }
}

pub async fn index(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<PageParam>,
) -> Result<HttpResponse, WebError> {
    let page = id(&q.page).unwrap_or(1).min(1_000_000);
    let actor = ctx.me()?.actor();
    let list = ops::instances::list(&st, &actor, page).await?;
    let can = can(&st, &ctx).await?;
    if ctx.hx {
        render(InstanceListPartial {
            l: &ctx,
            page: &list,
            can,
        })
    } else {
        render(InstancesPage {
            l: &ctx,
            page: &list,
            can,
        })
    }
}

pub async fn row(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
) -> Result<HttpResponse, WebError> {
    let actor = ctx.me()?.actor();
    let r = ops::instances::get(&st, &actor, *path).await?;
    let can = can(&st, &ctx).await?;
    render(InstanceRowPartial {
        l: &ctx,
        r: &r,
        can,
    })
}

/// The instance page; its live part alone for HTMX (the poll).
pub async fn page(
    st: web::Data<Context>,
    ctx: Ctx,
    req: HttpRequest,
    path: web::Path<InstanceId>,
) -> Result<HttpResponse, WebError> {
    let me = ctx.me()?;
    let (r, events) = ops::instances::with_events(&st, &me.actor(), *path).await?;
    let can = can(&st, &ctx).await?;
    if ctx.hx {
        return render(InstanceLivePartial {
            l: &ctx,
            r: &r,
            events: &events,
            can,
        });
    }
    let connect = Connect::new(&st, &req, &me.username, Some(&r.name));
    render(InstancePage {
        l: &ctx,
        r: &r,
        events: &events,
        can,
        connect,
    })
}

pub async fn start(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
    q: web::Query<ViewParam>,
) -> Result<HttpResponse, WebError> {
    act(&st, &ctx, *path, Action::Start, &q).await
}

pub async fn stop(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
    q: web::Query<ViewParam>,
) -> Result<HttpResponse, WebError> {
    act(&st, &ctx, *path, Action::Stop, &q).await
}

pub async fn restart(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
    q: web::Query<ViewParam>,
) -> Result<HttpResponse, WebError> {
    act(&st, &ctx, *path, Action::Restart, &q).await
}

/// Runs the action and answers with the updated row or page part (HTMX) or back to the
/// list.
async fn act(
    st: &Context,
    ctx: &Ctx,
    id: InstanceId,
    action: Action,
    q: &ViewParam,
) -> Result<HttpResponse, WebError> {
    let actor = ctx.me()?.actor();
    let r = ops::instances::act(st, &actor, id, action).await?;
    if !ctx.hx {
        return Ok(changed(false, routes::GET_INSTANCES.pattern));
    }
    let can = can(st, ctx).await?;
    if q.on_page() {
        let (r, events) = ops::instances::with_events(st, &actor, id).await?;
        render(InstanceLivePartial {
            l: ctx,
            r: &r,
            events: &events,
            can,
        })
    } else {
        render(InstanceRowPartial { l: ctx, r: &r, can })
    }
}

pub async fn delete(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
    q: web::Query<ViewParam>,
) -> Result<HttpResponse, WebError> {
    let actor = ctx.me()?.actor();
    ops::instances::delete(&st, &actor, *path).await?;
    if ctx.hx && q.on_page() {
        // the page of an instance being deleted: back to the list
        return Ok(HttpResponse::NoContent()
            .insert_header(("HX-Redirect", routes::GET_INSTANCES.pattern))
            .finish());
    }
    Ok(changed(ctx.hx, routes::GET_INSTANCES.pattern))
}

// ------------------------------------------------------------------ the wizard

/// The wizard's query: the choices so far plus the step the user asks for.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct WizardParams {
    #[serde(flatten)]
    pub form: InstanceForm,
    /// image | spec | node | details | confirm
    pub step: String,
    /// the spec the chosen node was matched against: another spec clears the node
    pub node_spec_id: String,
}

/// (state, label key, step name) of every step for the stepper: "done" before the
/// current step, "current", then "next".
fn trail(step: WizardStep) -> Vec<(&'static str, &'static str, &'static str)> {
    WizardStep::ORDER
        .iter()
        .map(|s| {
            let state = match s.number().cmp(&step.number()) {
                std::cmp::Ordering::Less => "done",
                std::cmp::Ordering::Equal => "current",
                std::cmp::Ordering::Greater => "next",
            };
            (state, s.label(), s.name())
        })
        .collect()
}

#[derive(Template)]
#[template(path = "instances/_wizard.html")]
struct WizardPartial<'a> {
    l: &'a Ctx,
    step: WizardStep,
    trail: Vec<(&'static str, &'static str, &'static str)>,
    form: &'a InstanceForm,
    errors: &'a FieldErrors,
    /// a refusal shown above the step (资源不足, …)
    problem: Option<&'a str>,
    images: &'a [Image],
    specs: &'a [Spec],
    nodes: &'a [NodeChoice],
    image: Option<&'a Image>,
    spec: Option<&'a Spec>,
    node: Option<&'a NodeChoice>,
    /// what the chosen spec costs per hour, day and month (the confirm step)
    cost: Option<Cost>,
}

#[derive(Template)]
#[template(path = "instances/_nodes.html")]
struct NodesPartial<'a> {
    l: &'a Ctx,
    form: &'a InstanceForm,
    nodes: &'a [NodeChoice],
}

pub async fn wizard(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<WizardParams>,
) -> Result<HttpResponse, WebError> {
    let mut form = q.form.clone();
    if form.node_id.trim() != "" && q.node_spec_id.trim() != form.spec_id.trim() {
        form.node_id.clear();
    }
    // 下一步 without a choice (or with a bad name) stays on its step and says why: a 200,
    // as for any step (asking for one submits nothing; a 4xx would be a console error)
    let (step, errors) = form.shown(WizardStep::parse(&q.step));
    wizard_response(&st, &ctx, step, &form, &errors, None, false).await
}

async fn wizard_response(
    st: &Context,
    ctx: &Ctx,
    step: WizardStep,
    form: &InstanceForm,
    errors: &FieldErrors,
    problem: Option<&str>,
    invalid: bool,
) -> Result<HttpResponse, WebError> {
    let (images, specs) = ops::instances::offer(st).await?;
    let nodes = match id(&form.spec_id) {
        Some(spec_id) if step.number() >= WizardStep::Node.number() => {
            ops::instances::nodes_for_spec(st, spec_id).await?
        }
        _ => Vec::new(),
    };
    let image = id(&form.image_id).and_then(|i| images.iter().find(|x| x.id == i));
    let spec = id(&form.spec_id).and_then(|i| specs.iter().find(|x| x.id == i));
    let node = id(&form.node_id).and_then(|i| nodes.iter().find(|x| x.id.get() == i));
    let partial = WizardPartial {
        l: ctx,
        step,
        trail: trail(step),
        form,
        errors,
        problem,
        images: &images,
        specs: &specs,
        nodes: &nodes,
        image,
        spec,
        node,
        cost: spec.map(|s| Cost::of(s.price_per_hour_cents)),
    };
    super::catalog::form_response(ctx, partial, invalid)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NodesParams {
    #[serde(flatten)]
    form: InstanceForm,
}

/// The node query: listed nodes with the spec's GPU model and enough free capacity.
pub async fn nodes(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<NodesParams>,
) -> Result<HttpResponse, WebError> {
    let nodes = match id(&q.form.spec_id) {
        Some(spec_id) => ops::instances::nodes_for_spec(&st, spec_id).await?,
        None => Vec::new(),
    };
    render(NodesPartial {
        l: &ctx,
        form: &q.form,
        nodes: &nodes,
    })
}

pub async fn create(
    st: web::Data<Context>,
    ctx: Ctx,
    f: web::Form<InstanceForm>,
) -> Result<HttpResponse, WebError> {
    let actor = ctx.me()?.actor();
    let state = st.clone().into_inner();
    let outcome = match NewInstance::parse(&f) {
        Ok(v) => ops::instances::create(&state, &actor, v).await,
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(_) => Ok(changed(ctx.hx, routes::GET_INSTANCES.pattern)),
        Err(OpsError::Invalid(errors)) => {
            let step = WizardStep::of_errors(&errors);
            wizard_response(&st, &ctx, step, &f, &errors, None, true).await
        }
        Err(OpsError::Placement(why)) => {
            let mut form = f.into_inner();
            form.node_id.clear();
            wizard_response(
                &st,
                &ctx,
                WizardStep::Node,
                &form,
                &FieldErrors::default(),
                Some(ctx.t(why.key())),
                true,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
