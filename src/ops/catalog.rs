//! Creating, editing, listing (上架/下架) and deleting catalog rows. Node secrets are
//! encrypted here, right before they are written, and never leave as plaintext.

use super::OpsError;
use crate::db::{self, images::Image, nodes::Node, nodes::SecretWrites, specs::Spec};
use crate::docker::engine::{self, EngineFacts};
use crate::docker::{DockerError, Endpoint, TlsMaterial};
use crate::domain::catalog::{Catalog, NewImage, NewNode, NewSpec, ProbeTarget, SecretChange};
use crate::domain::ids::NodeId;
use crate::domain::listing::{ListQuery, Page};
use crate::ops::Context;

pub async fn list_images(state: &Context, q: ListQuery) -> Result<Page<Image>, OpsError> {
    let per = state.settings.server.page_size;
    Ok(db::run(&state.pool, move |c| db::images::list(c, &q, per)).await?)
}

pub async fn list_nodes(state: &Context, q: ListQuery) -> Result<Page<Node>, OpsError> {
    let per = state.settings.server.page_size;
    Ok(db::run(&state.pool, move |c| db::nodes::list(c, &q, per)).await?)
}

pub async fn list_specs(state: &Context, q: ListQuery) -> Result<Page<Spec>, OpsError> {
    let per = state.settings.server.page_size;
    Ok(db::run(&state.pool, move |c| db::specs::list(c, &q, per)).await?)
}

pub async fn image(state: &Context, id: i64) -> Result<Image, OpsError> {
    db::run(&state.pool, move |c| db::images::find(c, id))
        .await
        .map_err(|e| OpsError::from_write(e, "id"))
}

pub async fn node(state: &Context, id: NodeId) -> Result<Node, OpsError> {
    db::run(&state.pool, move |c| db::nodes::find(c, id))
        .await
        .map_err(|e| OpsError::from_write(e, "id"))
}

pub async fn spec(state: &Context, id: i64) -> Result<Spec, OpsError> {
    db::run(&state.pool, move |c| db::specs::find(c, id))
        .await
        .map_err(|e| OpsError::from_write(e, "id"))
}

pub async fn save_image(state: &Context, id: Option<i64>, v: NewImage) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| match id {
        Some(id) => db::images::update(c, id, &v),
        None => db::images::insert(c, &v).map(drop),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "name"))
}

pub async fn save_spec(state: &Context, id: Option<i64>, v: NewSpec) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| match id {
        Some(id) => db::specs::update(c, id, &v),
        None => db::specs::insert(c, &v).map(drop),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "name"))
}

/// Saves a node (its secrets sealed with the master key; a `Keep` keeps the stored one).
pub async fn save_node(state: &Context, id: Option<NodeId>, v: NewNode) -> Result<(), OpsError> {
    let master = state.master.clone();
    let seal = |change: &SecretChange| match change {
        SecretChange::Keep => None,
        SecretChange::Clear => Some(None),
        SecretChange::Set(plain) => Some(Some(master.encrypt(plain))),
    };
    let secrets = SecretWrites {
        password_enc: seal(&v.password),
        client_key_enc: seal(&v.client_key),
    };
    db::run(&state.pool, move |c| match id {
        Some(id) => db::nodes::update(c, id, &v, secrets),
        // a new row has nothing to keep: "keep" means "none"
        None => db::nodes::insert(
            c,
            &v,
            SecretWrites {
                password_enc: Some(secrets.password_enc.flatten()),
                client_key_enc: Some(secrets.client_key_enc.flatten()),
            },
        )
        .map(drop),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "name"))
}

pub async fn set_listed(
    state: &Context,
    kind: Catalog,
    id: i64,
    listed: bool,
) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| match kind {
        Catalog::Images => db::images::set_listed(c, id, listed),
        Catalog::Nodes => db::nodes::set_listed(c, NodeId(id), listed),
        Catalog::Specs => db::specs::set_listed(c, id, listed),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))
}

/// Refused with `OpsError::InUse` while an instance references the row.
pub async fn delete(state: &Context, kind: Catalog, id: i64) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| match kind {
        Catalog::Images => db::images::delete(c, id),
        Catalog::Nodes => db::nodes::delete(c, NodeId(id)),
        Catalog::Specs => db::specs::delete(c, id),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))
}

/// On the first start: the engine at `docker.local_endpoint`, when it answers and no node
/// exists yet, becomes the unlisted node `local` with the capacity it reports (once; see
/// `db::nodes::local_node_pending`). Returns its name when it was registered.
pub async fn register_local_node(state: &Context) -> Result<Option<String>, OpsError> {
    if !state.settings.docker.local_node
        || !db::run(&state.pool, db::nodes::local_node_pending).await?
    {
        return Ok(None);
    }
    let endpoint = state.settings.docker.local_endpoint.clone();
    let ep = Endpoint {
        url: endpoint.clone(),
        tls: None,
    };
    let facts = match engine::facts(&ep).await {
        Ok(f) => f,
        Err(e) => {
            log::info!("no local node registered: {e}");
            return Ok(None);
        }
    };
    let disk_gb = engine::disk_gb(&facts.root_dir).await;
    let v = NewNode::local(
        &endpoint,
        facts.cpus,
        facts.memory_gb(),
        disk_gb,
        &facts.root_dir,
    );
    let node = db::run(&state.pool, move |c| db::nodes::insert_local(c, &v)).await?;
    Ok(node.map(|n| {
        log::info!(
            "registered the local Docker engine {} ({}, {} CPUs, {} GB memory) as the unlisted node `{}`",
            endpoint,
            facts.version,
            facts.cpus,
            facts.memory_gb(),
            n.name
        );
        n.name
    }))
}

/// 测试连接: the facts of the engine the node form names. A TLS form without a client
/// key uses the one stored for node `id` (an edit; `ProbeTarget::parse` refuses a new
/// node without one), decrypted in memory only.
pub async fn probe_node(
    state: &Context,
    target: ProbeTarget,
    id: Option<NodeId>,
) -> Result<EngineFacts, OpsError> {
    let tls = match target.tls {
        None => None,
        Some((ca_pem, cert_pem, key)) => Some(TlsMaterial {
            ca_pem,
            cert_pem,
            key_pem: match key {
                Some(k) => k,
                None => stored_client_key(state, id).await?,
            },
        }),
    };
    let ep = Endpoint {
        url: target.endpoint,
        tls,
    };
    Ok(engine::facts(&ep).await?)
}

/// The client key stored for node `id`, decrypted.
async fn stored_client_key(state: &Context, id: Option<NodeId>) -> Result<String, OpsError> {
    let sealed = match id {
        Some(id) => {
            db::run(&state.pool, move |c| db::nodes::docker_access(c, id))
                .await?
                .client_key_enc
        }
        None => None,
    };
    match sealed {
        Some(sealed) => Ok(state.master.decrypt(&sealed)?),
        None => Err(DockerError::Config("TLS needs the client key".into()).into()),
    }
}

/// The GPU models the nodes declare (the spec form offers them).
pub async fn gpu_models(state: &Context) -> Result<Vec<String>, OpsError> {
    Ok(db::run(&state.pool, db::nodes::gpu_models).await?)
}

/// 维护中 on or off: a node in maintenance leaves the wizard and placement; its running
/// instances are left alone.
pub async fn set_maintenance(state: &Context, id: NodeId, on: bool) -> Result<(), OpsError> {
    Ok(db::run(&state.pool, move |c| db::nodes::set_maintenance(c, id, on)).await?)
}
