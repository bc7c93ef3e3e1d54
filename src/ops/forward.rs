//! The jumpbox's port forwards (`ssh -L`, direct-tcpip, issue 18): which instance a
//! forward is for and whether it may go there (domain/forward.rs's rules, the user's
//! scope, the terminal's permission record), the container's address on its tenant
//! network, the connection to it — straight from this host, or through the node's SSH
//! (node_ssh.rs) when the node is another machine — and its `sessions` row (protocol
//! `tunnel`). The open forward runs in ops/tunnel.rs. The jumpbox only hands in the
//! client's channel and words the refusals.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::audit::Origin;
use super::sessions;
use super::streams::{self, Holder};
use super::tunnel::{Io, Tunnel};
use super::{Context, OpsError, instances, tenancy};
use crate::db::{self, instances::InstanceView};
use crate::docker::{self, network};
use crate::domain::access::Actor;
use crate::domain::forward::{self, Aim, NodeSsh, Route};
use crate::domain::ids::NodeId;
use crate::node_ssh::{self, Link, NodeSshError};

/// How long connecting to the container's port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Why a forward is refused: the i18n key of the reason, and the names it mentions.
#[derive(Debug, thiserror::Error)]
#[error("forward refused: {key}")]
pub struct Refused {
    pub key: &'static str,
    /// the instance asked for (empty when none was named)
    pub instance: String,
    pub node: String,
    /// the target refused the connection or did not answer (OpenSSH: "connect failed")
    pub connect_failed: bool,
}

impl Refused {
    fn new(key: &'static str) -> Self {
        Refused {
            key,
            instance: String::new(),
            node: String::new(),
            connect_failed: false,
        }
    }

    fn on(mut self, inst: &InstanceView) -> Self {
        self.instance = inst.name.clone();
        self.node = inst.node_name.clone();
        self
    }
}

/// What a forward asks for, and who asks.
pub struct Ask<'a> {
    pub actor: &'a Actor,
    pub holder: &'a Holder,
    pub origin: &'a Origin,
    /// the instance named at login (`mia@train-1@panel`)
    pub named: Option<&'a str>,
    /// the destination host and port as the client sent them
    pub host: &'a str,
    pub port: u32,
}

/// The panel's SSH connections to remote nodes, one per node while forwards use it.
#[derive(Default)]
pub struct Links(Mutex<HashMap<NodeId, (LinkKey, Weak<Link>)>>);

/// What a cached connection was made with: another address, user or password (the
/// node form was saved) needs a new one.
type LinkKey = (NodeSsh, Vec<u8>);

impl Links {
    fn get(&self, node: NodeId, key: &LinkKey) -> Option<Arc<Link>> {
        let map = self.0.lock().ok()?;
        let (k, weak) = map.get(&node)?;
        let link = weak.upgrade()?;
        (k == key && !link.is_closed()).then_some(link)
    }

    fn put(&self, node: NodeId, key: LinkKey, link: &Arc<Link>) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|_, (_, w)| w.strong_count() > 0);
            map.insert(node, (key, Arc::downgrade(link)));
        }
    }
}

/// Checks a forward and connects it: the port is allowed (`jumpbox.forward_ports`), the
/// destination is the instance itself, the instance is the user's (someone else's is
/// not found) and running, the user still has the terminal's permission record; then
/// the container's port answers. A session row is opened once it does.
pub async fn open(state: &Arc<Context>, ask: Ask<'_>) -> Result<Tunnel, Refused> {
    let allowed = state.settings.jumpbox.forward_port_set();
    if !allowed.is_some_and(|ports| ports.allows(ask.port)) {
        return Err(Refused::new("forward.port_closed"));
    }
    let port = u16::try_from(ask.port).map_err(|_| Refused::new("forward.port_closed"))?;
    // SECURITY: the destination names the instance itself, nothing else
    let inst = match forward::aim(ask.named, &forward::destination(ask.host)) {
        Aim::Outside => return Err(Refused::new("forward.outside")),
        Aim::Instance(name) => lookup(state, ask.actor, &name).await?,
        Aim::OnlyOne => only_one(state, ask.actor).await?,
    };
    // the same checks as a shell: the role still has the terminal route, the user is
    // enabled and in the same login epoch, the instance is in their scope
    match streams::still_allowed(state, ask.holder, inst.id).await {
        Ok(true) => {}
        Ok(false) => {
            log::warn!(user = ask.actor.user_id, instance = inst.id; "forward refused: terminal permission denied");
            return Err(Refused::new("forward.denied").on(&inst));
        }
        Err(e) => return Err(failed(&e).on(&inst)),
    }
    if let Err(e) = streams::is_running(&inst) {
        return Err(failed(&e).on(&inst));
    }
    let ip = address(state, &inst).await.map_err(|r| r.on(&inst))?;
    let (pipe, link) = connect(state, &inst, ip, port)
        .await
        .map_err(|r| r.on(&inst))?;
    let target = format!("{}:{}", ask.host, ask.port);
    let opened = sessions::begin(state, &ask.origin.through("tunnel"), &inst, &target)
        .await
        .map_err(|e| failed(&e).on(&inst))?;
    log::info!(user = ask.actor.user_id, instance = inst.id, session = opened.id; "jumpbox forward to port {port} opened");
    Ok(Tunnel::new(
        pipe,
        opened,
        ask.holder.clone(),
        inst.id,
        inst.name,
        link,
    ))
}

/// The instance of that name in the actor's scope.
async fn lookup(state: &Context, actor: &Actor, name: &str) -> Result<InstanceView, Refused> {
    instances::lookup(state, actor, None, name)
        .await
        .map_err(|e| {
            let mut r = failed(&e);
            r.instance = name.to_string();
            r
        })
}

/// No instance named: the actor's only one, if they have exactly one.
async fn only_one(state: &Context, actor: &Actor) -> Result<InstanceView, Refused> {
    match instances::only_one(state, actor).await {
        Ok(Some(inst)) => Ok(inst),
        Ok(None) => Err(Refused::new("forward.which")),
        Err(e) => Err(failed(&e)),
    }
}

/// An ops error as a refusal (the cause is logged when it is not the user's doing).
fn failed(e: &OpsError) -> Refused {
    match e {
        OpsError::NotFound => Refused::new("forward.not_found"),
        OpsError::Refused("jumpbox.ambiguous") => Refused::new("forward.ambiguous"),
        OpsError::Refused("stream.not_running" | "instance.not_ready") => {
            Refused::new("forward.not_running")
        }
        e if e.engine_unreachable() => {
            log::warn!("forward: {e}");
            Refused::new("forward.unreachable")
        }
        other => {
            log::error!("forward failed: {other}");
            Refused::new("forward.failed")
        }
    }
}

/// The container's address on its tenant network.
async fn address(state: &Context, inst: &InstanceView) -> Result<IpAddr, Refused> {
    let ep = instances::endpoint(state, inst.node_id)
        .await
        .map_err(|e| failed(&e))?;
    let d = docker::connect(&ep).await.map_err(|e| failed(&e.into()))?;
    let net = tenancy::network_name(state, inst.tenant());
    match network::address_on(&d, &inst.container_id, &net).await {
        Ok(Some(ip)) => Ok(ip),
        Ok(None) | Err(docker::DockerError::NotFound(_)) => Err(Refused::new("forward.no_address")),
        Err(e) => Err(failed(&e.into())),
    }
}

/// Connects to `ip:port`: from this host when the node's engine runs here, else
/// through the node's SSH.
async fn connect(
    state: &Context,
    inst: &InstanceView,
    ip: IpAddr,
    port: u16,
) -> Result<(Box<dyn Io>, Option<Arc<Link>>), Refused> {
    let node = inst.node_id;
    let access = db::run(&state.pool, move |c| db::nodes::ssh_access(c, node))
        .await
        .map_err(|e| failed(&e.into()))?;
    let connect_failed = |why: String| {
        log::info!(instance = inst.id; "forward to port {port}: {why}");
        Refused {
            connect_failed: true,
            ..Refused::new("forward.connect_failed")
        }
    };
    match forward::route(&access.docker_endpoint) {
        Route::Here => {
            let tcp =
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((ip, port)))
                    .await
                    .map_err(|_| connect_failed("timed out".into()))?
                    .map_err(|e| connect_failed(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            Ok((Box::new(tcp), None))
        }
        Route::Remote => {
            let link = link(state, node, access).await?;
            let stream = link.open(ip, port).await.map_err(|e| match e {
                NodeSshError::Channel(why) => connect_failed(why),
                other => node_failed(node, &other),
            })?;
            Ok((Box::new(stream), Some(link)))
        }
    }
}

/// The node's SSH connection: the cached one, or a new one (its host key learnt on
/// first use, refused when it changed).
async fn link(
    state: &Context,
    node: NodeId,
    access: db::nodes::SshAccess,
) -> Result<Arc<Link>, Refused> {
    let ssh = forward::node_ssh(
        &access.public_ip,
        &access.private_ip,
        access.ssh_port,
        &access.username,
        access.password_enc.is_some(),
    )
    .ok_or_else(|| Refused::new("forward.node_no_ssh"))?;
    let sealed = access.password_enc.unwrap_or_default();
    let key = (ssh.clone(), sealed.clone());
    if let Some(link) = state.forward_links.get(node, &key) {
        return Ok(link);
    }
    let password = state
        .master
        .decrypt(&sealed)
        .map_err(|e| failed(&e.into()))?;
    let stored = access.ssh_host_key;
    let connected = node_ssh::connect(&ssh, &password, stored.as_deref())
        .await
        .map_err(|e| node_failed(node, &e))?;
    if stored.is_none() {
        let offered = connected.host_key.clone();
        let now = db::run(&state.pool, move |c| {
            db::nodes::learn_ssh_host_key(c, node, &offered)
        })
        .await
        .map_err(|e| failed(&e.into()))?;
        // two first connections at once: the one stored first wins, the other must match
        if forward::check_host_key(now.as_deref(), &connected.host_key)
            == forward::HostKeyCheck::Changed
        {
            return Err(node_failed(
                node,
                &NodeSshError::HostKeyChanged(connected.host_key),
            ));
        }
        log::info!(node = node; "learnt the node's SSH host key (trust on first use)");
    }
    let link = Arc::new(connected.link);
    state.forward_links.put(node, key, &link);
    Ok(link)
}

fn node_failed(node: NodeId, e: &NodeSshError) -> Refused {
    log::warn!(node = node; "forward through the node's SSH: {e}");
    Refused::new(match e {
        NodeSshError::HostKeyChanged(_) => "forward.host_key_changed",
        NodeSshError::AuthFailed => "forward.node_login_failed",
        NodeSshError::Unreachable(..) | NodeSshError::Channel(_) => "forward.node_unreachable",
    })
}
