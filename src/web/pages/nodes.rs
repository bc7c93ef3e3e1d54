//! 算力节点 nodes: templates and ops for the shared catalog handlers. Secrets are
//! never put back into the form: it only shows whether one is stored.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::catalog::{CatalogPage, ListView};
use crate::domain::catalog::{Catalog, NewNode, NodeForm, ProbeTarget};
use crate::domain::fields::FieldErrors;
use crate::domain::ids::NodeId;
use crate::domain::listing::{ListQuery, Page};
use crate::domain::routes;
use crate::ops::Context;
use crate::ops::views::{EngineFacts, NODE_SORTS, Node};
use crate::ops::{self, OpsError};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::{changed, render, render_422};

pub struct Nodes;

#[derive(Template)]
#[template(path = "nodes/index.html")]
struct NodesPage<'a> {
    l: &'a Ctx,
    v: &'a ListView<Node>,
}

#[derive(Template)]
#[template(path = "nodes/_list.html")]
struct NodeListPartial<'a> {
    l: &'a Ctx,
    v: &'a ListView<Node>,
}

#[derive(Template)]
#[template(path = "nodes/_form.html")]
struct NodeFormPartial<'a> {
    l: &'a Ctx,
    id: Option<i64>,
    form: &'a NodeForm,
    errors: &'a FieldErrors,
}

fn flag(b: bool) -> String {
    if b { "1".into() } else { String::new() }
}

impl CatalogPage for Nodes {
    const KIND: Catalog = Catalog::Nodes;
    const SORTS: &'static [&'static str] = NODE_SORTS;
    type Row = Node;
    type Form = NodeForm;
    type Extras = ();

    async fn list(st: &Context, q: ListQuery) -> Result<Page<Node>, OpsError> {
        ops::catalog::list_nodes(st, q).await
    }

    async fn extras(_st: &Context) -> Result<(), OpsError> {
        Ok(())
    }

    fn blank_form() -> NodeForm {
        NodeForm {
            ssh_port: "22".into(),
            // off: the usual first node is the local socket, which has no TLS (#17)
            use_tls: None,
            listed: Some("on".into()),
            ..NodeForm::default()
        }
    }

    async fn load_form(st: &Context, id: i64) -> Result<NodeForm, OpsError> {
        let n = ops::catalog::node(st, NodeId(id)).await?;
        Ok(NodeForm {
            name: n.name,
            region: n.region,
            cpu_cores: n.cpu_cores.to_string(),
            memory_gb: n.memory_gb.to_string(),
            system_disk_gb: n.system_disk_gb.to_string(),
            data_disk_gb: n.data_disk_gb.to_string(),
            public_ip: n.public_ip,
            private_ip: n.private_ip,
            ssh_port: n.ssh_port.to_string(),
            username: n.username,
            gpu_model: n.gpu_model,
            gpu_count: n.gpu_count.to_string(),
            docker_endpoint: n.docker_endpoint,
            use_tls: n.use_tls.then(|| "on".into()),
            ca_cert: n.ca_cert,
            client_cert: n.client_cert,
            listed: n.listed.then(|| "on".into()),
            remark: n.remark,
            had_password: flag(n.has_password),
            had_client_key: flag(n.has_client_key),
            ..NodeForm::default()
        })
    }

    async fn save(st: &Context, id: Option<i64>, form: &NodeForm) -> Result<(), OpsError> {
        // an empty secret field keeps the stored value, so TLS validation must know
        // whether a key is stored
        let had_key = match id {
            Some(id) => ops::catalog::node(st, NodeId(id)).await?.has_client_key,
            None => false,
        };
        ops::catalog::save_node(st, id.map(NodeId), NewNode::parse(form, had_key)?).await
    }

    fn list_page<'a>(l: &'a Ctx, v: &'a ListView<Node>) -> impl Template + 'a {
        NodesPage { l, v }
    }
    fn list_partial<'a>(l: &'a Ctx, v: &'a ListView<Node>) -> impl Template + 'a {
        NodeListPartial { l, v }
    }
    fn form_partial<'a>(
        l: &'a Ctx,
        id: Option<i64>,
        form: &'a NodeForm,
        errors: &'a FieldErrors,
        _extras: &'a (),
    ) -> impl Template + 'a {
        NodeFormPartial {
            l,
            id,
            form,
            errors,
        }
    }
}

/// 测试连接's answer: the engine's facts with an offer to fill the capacity fields, or
/// why it could not be reached.
#[derive(Template)]
#[template(path = "nodes/_probe.html")]
struct ProbePartial<'a> {
    l: &'a Ctx,
    facts: Option<&'a EngineFacts>,
    problem: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProbeParam {
    /// the node being edited (its stored client key is used when none is typed)
    id: Option<i64>,
}

/// POST /nodes/probe (the node form's 测试连接): a field error is a 422 with the message
/// in the result box, an engine that does not answer is a 200 saying why.
pub async fn probe(
    st: web::Data<Context>,
    ctx: Ctx,
    q: web::Query<ProbeParam>,
    form: web::Form<NodeForm>,
) -> Result<HttpResponse, WebError> {
    let target = match ProbeTarget::parse(&form, q.id.is_some()) {
        Ok(t) => t,
        Err(errors) => {
            let why = errors
                .fields()
                .map(|f| {
                    let key = errors.get(f).unwrap_or_default();
                    format!("{} · {}", ctx.t(&format!("node.{f}")), ctx.t(key))
                })
                .collect::<Vec<_>>()
                .join(" / ");
            return render_422(ProbePartial {
                l: &ctx,
                facts: None,
                problem: Some(why),
            });
        }
    };
    match ops::catalog::probe_node(&st, target, q.id.map(NodeId)).await {
        Ok(facts) => render(ProbePartial {
            l: &ctx,
            facts: Some(&facts),
            problem: None,
        }),
        Err(OpsError::Docker(e)) => render(ProbePartial {
            l: &ctx,
            facts: None,
            problem: Some(e.to_string()),
        }),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MaintenanceForm {
    /// "1" on, anything else off
    on: String,
}

/// POST /nodes/{id}/maintenance: 维护中 on or off; the list refreshes.
pub async fn maintenance(
    st: web::Data<Context>,
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<MaintenanceForm>,
) -> Result<HttpResponse, WebError> {
    ops::catalog::set_maintenance(&st, NodeId(*id), form.on == "1").await?;
    Ok(changed(ctx.hx, routes::GET_NODES.pattern))
}
