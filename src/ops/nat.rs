//! Port forwards (端口转发) to LXD containers. The store (`nat_rules`) is the source of
//! truth; iptables follows it (domain/nat has the chain layout, iptables.rs runs the
//! tools):
//!
//! - `apply` rewrites all of Suanli's chains from the store and the containers' current
//!   addresses in one transaction: at start-up, when a container's address changes (the
//!   sampler, workers/lxd_sampler.rs), after a container goes, and whenever one change could not be
//!   made on its own;
//! - `add` and `remove` change one forward's lines and nothing else: `remove` masks them
//!   (see domain/nat), and `reap` deletes what is masked in one transaction (the sampler
//!   calls it every few seconds; `add` first when it reuses a masked port).
//!
//! Both hold the lock of `Nat` from the store change to the iptables change, so a rewrite
//! never reads the store between the two; when iptables refuses a change, the store
//! change is undone. Forwards listen on `zjmf.nat_listen_ip`, else on the addresses of the
//! default route's interface found at start-up, never on every local address (a bridge's
//! or loopback's port stays the host's), and never on a port a host process listens on.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use tokio::sync::{Mutex, OnceCell};

use crate::db::{self, zjmf::NatRule};
use crate::domain::nat::{self, Forward, Host, Listen, NotARuleList, Proto, SkippedRule};
use crate::domain::zjmf::Refusal;
use crate::host_net::{self, HostNetError};
use crate::iptables::{self, IptablesError};
use crate::ops::Context;

/// What this process knows of iptables, and where forwards listen.
#[derive(Debug, Default)]
pub struct Nat {
    applied: Mutex<Applied>,
    listen: OnceCell<Listen>,
}

/// What this process last wrote. iptables is one per host and a rewrite reads the whole
/// store, so every change takes this lock.
#[derive(Debug, Default)]
struct Applied {
    /// a rewrite made the chains, and `forwards` is what it and the changes since wrote
    synced: bool,
    /// by rule id; a rule whose container had no address has none
    forwards: HashMap<i64, Forward>,
    /// removed forwards whose lines are still there, masked (reap deletes them)
    masked: Vec<Forward>,
}

/// How many masked forwards may wait for the next reap before a change reaps them first.
const MASKED_MAX: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum NatError {
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    #[error("iptables: {0}")]
    Iptables(#[from] IptablesError),
    /// this host's sockets could not be read
    #[error(transparent)]
    Host(#[from] HostNetError),
}

pub fn refusal(e: NatError) -> Refusal {
    log::error!("nat: {e}");
    match e {
        NatError::Db(_) => Refusal::new(500, "lxdapi.store_failed"),
        NatError::Iptables(m) => Refusal::new(500, "lxdapi.nat_failed").with("m", m),
        NatError::Host(m) => Refusal::new(500, "lxdapi.nat_failed").with("m", m),
    }
}

/// Where forwards listen, found once (at start-up: `startup` asks first).
pub async fn listen(state: &Context) -> &Listen {
    state
        .nat
        .listen
        .get_or_init(|| detect(&state.settings.zjmf.nat_listen_ip))
        .await
}

async fn detect(configured: &str) -> Listen {
    if !configured.is_empty() {
        return match configured.parse() {
            Ok(addr) => Listen::Configured(addr),
            // config::validate refuses it first
            Err(_) => Listen::Missing(format!(
                "zjmf.nat_listen_ip {configured:?} is not an IPv4 address"
            )),
        };
    }
    let listen = match host_net::default_route_interface().await {
        Ok(interface) => {
            let addresses = host_net::ipv4_addresses(&interface).await;
            Listen::detected(interface, addresses)
        }
        Err(why) => Listen::Missing(why.to_string()),
    };
    match &listen {
        Listen::Detected { interface, .. } => log::info!(
            "nat: forwards listen on {} (the default route's interface {interface})",
            listen.list()
        ),
        Listen::Missing(why) => log::warn!(
            "nat: zjmf.nat_listen_ip is empty and no address to listen on was found ({why}): port forwards capture nothing until zjmf.nat_listen_ip is set"
        ),
        Listen::Configured(_) => {}
    }
    listen
}

async fn host(state: &Context) -> Host {
    let z = &state.settings.zjmf;
    Host {
        chain: z.nat_chain.clone(),
        listen: listen(state).await.addresses(),
        main_interface: z.main_interface.clone(),
        subnet: z.container_subnet.clone(),
        bridge: z.bridge.clone(),
    }
}

/// The containers' current IPv4 addresses (containers without one are left out: their
/// rules come back when they get one). A container's view that the cache holds fresh is
/// used as it is (the sampler refreshes every view every few seconds and re-applies when
/// an address changes); only the others cost LXD a call. Callers that just changed a
/// container drop its view first.
pub async fn addresses(state: &Context, hostnames: Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let unique: std::collections::BTreeSet<String> = hostnames.into_iter().collect();
    let now = Instant::now();
    for h in unique {
        let ipv4 = match state.lxd_cache.fresh(&h, now) {
            Some((_, live)) => live.ipv4,
            None => match state.lxd.state(&h).await {
                Ok(Some(s)) => s.ipv4,
                _ => None,
            },
        };
        if let Some(ip) = ipv4 {
            out.insert(h, ip);
        }
    }
    out
}

/// The rule as iptables gets it, when its container has an address.
fn forward(r: &NatRule, ips: &BTreeMap<String, String>) -> Option<Forward> {
    Some(Forward {
        id: r.id,
        hostname: r.hostname.clone(),
        proto: Proto::parse(&r.proto)?,
        ext_port: u16::try_from(r.ext_port).ok()?,
        int_port: u16::try_from(r.int_port).ok()?,
        container_ip: ips.get(&r.hostname)?.clone(),
    })
}

/// Makes iptables hold exactly the stored rules (every chain rewritten).
pub async fn apply(state: &Context) -> Result<(), NatError> {
    let mut applied = state.nat.applied.lock().await;
    rewrite(state, &mut applied).await
}

async fn rewrite(state: &Context, applied: &mut Applied) -> Result<(), NatError> {
    let started = Instant::now();
    let rules = db::run(&state.pool, db::zjmf::all_rules).await?;
    let host = host(state).await;
    let hostnames: Vec<String> = rules.iter().map(|r| r.hostname.clone()).collect();
    let ips = addresses(state, hostnames).await;
    let forwards: Vec<Forward> = rules.iter().filter_map(|r| forward(r, &ips)).collect();
    if forwards.is_empty() && !iptables::chain_exists("nat", &host.chains().0).await {
        // nothing to forward and nothing applied yet (or removed by whoever made the chains
        // before): leave iptables alone
        return Ok(());
    }
    // a failed restore changes nothing, but what it left is no longer this process's to know
    applied.synced = false;
    // the chains are declared (flushed) below: masks and masked lines go with them
    applied.masked.clear();
    iptables::restore(&nat::restore_script(&host, &forwards)).await?;
    let docker_user = iptables::chain_exists("filter", "DOCKER-USER").await;
    for (table, parent, chain) in host.jumps(docker_user) {
        iptables::ensure_jump(table, parent, &chain, nat::COMMENT).await?;
    }
    log::info!(
        "nat: rewrote the chains with {} forward(s) of {} rule(s) in {} ms",
        forwards.len(),
        rules.len(),
        started.elapsed().as_millis()
    );
    applied.forwards = forwards.into_iter().map(|f| (f.id, f)).collect();
    applied.synced = true;
    Ok(())
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A rule to add.
#[derive(Clone, Debug)]
pub struct NewRule<'a> {
    pub hostname: &'a str,
    pub proto: Proto,
    pub ext_port: u16,
    pub int_port: u16,
    /// the automatic SSH rule (not counted against the product's limit)
    pub ssh: bool,
}

/// Why `add` added nothing.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("the external port is taken")]
    Taken,
    #[error("the product's limit of {0} rule(s) is reached")]
    OverLimit(i32),
    #[error(transparent)]
    Nat(#[from] NatError),
}

impl AddError {
    pub fn refusal(self) -> Refusal {
        match self {
            AddError::Taken => Refusal::new(409, "lxdapi.port_taken"),
            AddError::OverLimit(limit) => {
                Refusal::new(403, "lxdapi.rule_limit").with("limit", limit)
            }
            AddError::Nat(e) => refusal(e),
        }
    }
}

/// Adds a rule to the store (the customer's within the product's limit) and its lines to
/// iptables; both or neither.
pub async fn add(state: &Context, new: NewRule<'_>) -> Result<NatRule, AddError> {
    let started = Instant::now();
    let mut applied = state.nat.applied.lock().await;
    let locked = started.elapsed();
    let (h, proto) = (new.hostname.to_string(), new.proto.as_str());
    let (ext, int) = (i32::from(new.ext_port), i32::from(new.int_port));
    let stored = if new.ssh {
        db::run(&state.pool, move |c| {
            db::zjmf::add_rule(c, &h, proto, ext, int, true)
        })
        .await
    } else {
        match db::run(&state.pool, move |c| {
            db::zjmf::add_within_limit(c, &h, proto, ext, int)
        })
        .await
        {
            Ok(db::zjmf::Added::Rule(row)) => Ok(row),
            Ok(db::zjmf::Added::OverLimit(limit)) => return Err(AddError::OverLimit(limit)),
            Err(e) => Err(e),
        }
    };
    let row = match stored {
        Ok(row) => row,
        Err(db::DbError::Duplicate(_)) => return Err(AddError::Taken),
        Err(e) => return Err(NatError::Db(e).into()),
    };
    let stored = started.elapsed();
    if let Err(e) = write_added(state, &mut applied, &row).await {
        let id = row.id;
        if let Err(undo) = db::run(&state.pool, move |c| db::zjmf::delete_rule(c, id)).await {
            log::error!("nat: rule {id} is stored but not in iptables, and stays stored: {undo}");
        }
        return Err(e.into());
    }
    log::debug!(
        "nat: added rule {} in {:.1} ms (lock {:.1} ms, store {:.1} ms, iptables {:.1} ms)",
        row.id,
        ms(started.elapsed()),
        ms(locked),
        ms(stored - locked),
        ms(started.elapsed() - stored)
    );
    Ok(row)
}

async fn write_added(
    state: &Context,
    applied: &mut Applied,
    row: &NatRule,
) -> Result<(), NatError> {
    if !applied.synced {
        return rewrite(state, applied).await;
    }
    // a masked forward on this port would mask the new one too
    let reused = applied
        .masked
        .iter()
        .any(|m| m.proto.as_str() == row.proto && i32::from(m.ext_port) == row.ext_port);
    if reused || applied.masked.len() >= MASKED_MAX {
        reap_locked(state, applied).await?;
    }
    let ips = addresses(state, vec![row.hostname.clone()]).await;
    // no address yet: no lines until it has one (the sampler re-applies then)
    let Some(f) = forward(row, &ips) else {
        return Ok(());
    };
    match iptables::restore(&nat::add_script(&host(state).await, &f)).await {
        Ok(()) => {
            applied.forwards.insert(f.id, f);
            Ok(())
        }
        Err(e) => {
            log::warn!(
                "nat: adding rule {} alone failed ({e}): rewriting the chains",
                f.id
            );
            rewrite(state, applied).await
        }
    }
}

/// Deletes the lines of removed forwards (masked since) in one transaction.
pub async fn reap(state: &Context) -> Result<(), NatError> {
    let mut applied = state.nat.applied.lock().await;
    reap_locked(state, &mut applied).await
}

async fn reap_locked(state: &Context, applied: &mut Applied) -> Result<(), NatError> {
    if applied.masked.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let script = nat::reap_script(&host(state).await, &applied.masked);
    match iptables::restore(&script).await {
        Ok(()) => {
            log::debug!(
                "nat: reaped {} removed forward(s) in {:.1} ms",
                applied.masked.len(),
                ms(started.elapsed())
            );
            applied.masked.clear();
            Ok(())
        }
        Err(e) => {
            log::warn!("nat: reaping removed forwards failed ({e}): rewriting the chains");
            rewrite(state, applied).await
        }
    }
}

/// Removes the container's rule (proto, ext_port, int_port) from the store and its lines
/// from iptables; both or neither. False when there is no such rule.
pub async fn remove(
    state: &Context,
    hostname: &str,
    proto: Proto,
    ext_port: u16,
    int_port: u16,
) -> Result<bool, NatError> {
    let started = Instant::now();
    let mut applied = state.nat.applied.lock().await;
    let locked = started.elapsed();
    let (h, p) = (hostname.to_string(), proto.as_str());
    let (ext, int) = (i32::from(ext_port), i32::from(int_port));
    let unstore = db::run(&state.pool, move |c| {
        db::zjmf::remove_rule(c, &h, p, ext, int)
    });
    // The lines this process wrote for that rule, when it knows them: they are masked
    // beside the store's row (and deleted by the next reap).
    let written = applied
        .forwards
        .values()
        .find(|f| {
            f.hostname == hostname
                && f.proto == proto
                && f.ext_port == ext_port
                && f.int_port == int_port
        })
        .filter(|_| applied.synced)
        .cloned();
    let (unstored, masked) = match &written {
        Some(f) => {
            let script = nat::mask_script(&host(state).await, f);
            let (unstored, masked) = tokio::join!(unstore, iptables::restore(&script));
            (unstored, Some(masked))
        }
        None => (unstore.await, None),
    };
    let row = match (unstored, masked) {
        (Ok(Some(row)), Some(Ok(()))) if written.as_ref().is_some_and(|f| f.id == row.id) => {
            if let Some(f) = applied.forwards.remove(&row.id) {
                applied.masked.push(f);
            }
            row
        }
        (Ok(Some(row)), masked) => {
            // iptables refused, or this process never wrote the rule (no address then, or
            // another process such as `suanli zjmf import` did): certainly gone only after a
            // rewrite from the store, which no longer holds it
            if let Some(Err(e)) = masked {
                log::warn!(
                    "nat: masking rule {} failed ({e}): rewriting the chains",
                    row.id
                );
            }
            if let Err(e) = rewrite(state, &mut applied).await {
                let (id, back) = (row.id, row.clone());
                if let Err(undo) =
                    db::run(&state.pool, move |c| db::zjmf::restore_rule(c, &back)).await
                {
                    log::error!("nat: rule {id} is still in iptables but no longer stored: {undo}");
                }
                return Err(e);
            }
            row
        }
        (Ok(None), masked) => {
            if matches!(masked, Some(Ok(()))) {
                // lines without a row (the lock makes this unlikely): the store decides
                rewrite(state, &mut applied).await?;
            }
            return Ok(false);
        }
        (Err(e), masked) => {
            if matches!(masked, Some(Ok(()))) {
                // the row stayed: its lines come back
                if let Err(undo) = rewrite(state, &mut applied).await {
                    log::error!("nat: a stored rule's lines are gone from iptables: {undo}");
                }
            }
            return Err(e.into());
        }
    };
    log::debug!(
        "nat: removed rule {} in {:.1} ms (lock {:.1} ms, store and iptables {:.1} ms)",
        row.id,
        ms(started.elapsed()),
        ms(locked),
        ms(started.elapsed() - locked)
    );
    Ok(true)
}

/// The TCP ports of the panel (and the `/api/`), of its plain-HTTP redirects to HTTPS
/// and of the jumpbox when they run: as configured and as bound (a configured port 0
/// binds a free one).
pub fn reserved_ports(state: &Context) -> Vec<u16> {
    let s = &state.settings;
    let jumpbox = s.jumpbox.enabled.then_some(s.jumpbox.listen.as_str());
    let mut ports = nat::reserved_ports(std::iter::once(s.server.listen.as_str()).chain(jumpbox));
    ports.extend(state.http_port.get().copied());
    ports.extend(state.jumpbox.get().map(|j| j.addr.port()));
    ports.extend(state.https.get().and_then(|h| h.redirect).map(|a| a.port()));
    ports
}

/// Refuses (409) an external port that this server or another process of this host
/// listens on: a forward would take it from them on the addresses forwards listen on.
pub async fn check_host_port(state: &Context, proto: Proto, port: u16) -> Result<(), Refusal> {
    if proto == Proto::Tcp && reserved_ports(state).contains(&port) {
        return Err(Refusal::new(409, "lxdapi.reserved_port"));
    }
    match host_net::listening_ports(proto).await {
        Ok(ports) if ports.contains(&port) => Err(Refusal::new(409, "lxdapi.host_port")
            .with("port", port)
            .with("proto", proto.as_str().to_uppercase())),
        Ok(_) => Ok(()),
        Err(e) => Err(refusal(NatError::Host(e))),
    }
}

/// Maps a random free external port to the container's port 22 (drawing again when
/// another call took the port first) and applies. Returns the external port.
pub async fn add_ssh(state: &Context, hostname: &str) -> Result<u16, Refusal> {
    let reserved = reserved_ports(state);
    for _ in 0..20 {
        let stored = db::run(&state.pool, |c| db::zjmf::used_ports(c, "tcp"))
            .await
            .map_err(|e| refusal(e.into()))?;
        let host_ports = host_net::listening_ports(Proto::Tcp)
            .await
            .map_err(|e| refusal(NatError::Host(e)))?;
        let used: Vec<u16> = stored
            .into_iter()
            .filter_map(|p| u16::try_from(p).ok())
            .chain(reserved.iter().copied())
            .chain(host_ports)
            .collect();
        let draws = (0..64).map(|_| rand::random_range(nat::EXT_MIN..=nat::EXT_MAX));
        let Some(port) = nat::pick_port(draws, &used) else {
            continue;
        };
        let new = NewRule {
            hostname,
            proto: Proto::Tcp,
            ext_port: port,
            int_port: 22,
            ssh: true,
        };
        match add(state, new).await {
            Ok(_) => return Ok(port),
            // taken in the meantime: draw again
            Err(AddError::Taken) => continue,
            Err(e) => return Err(e.refusal()),
        }
    }
    Err(Refusal::new(500, "lxdapi.no_free_port"))
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    /// (position in the file, why)
    pub skipped: Vec<(usize, ImportSkip)>,
}

/// Why an entry of the rule file was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportSkip {
    #[error(transparent)]
    Unreadable(#[from] SkippedRule),
    /// a TCP port of this server (the panel, its redirect or the jumpbox)
    #[error("tcp port {0} is this server's own")]
    OwnPort(u16),
    #[error("{proto} port {port} is in use by a process of this host", proto = .0.as_str(), port = .1)]
    HostPort(Proto, u16),
    #[error("{proto} port {port} is already forwarded", proto = .0.as_str(), port = .1)]
    Forwarded(Proto, u16),
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] NotARuleList),
    #[error(transparent)]
    Host(#[from] HostNetError),
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// the rules are stored; applying them failed
    #[error(transparent)]
    Apply(#[from] NatError),
}

/// `suanli zjmf import --rules FILE`: the Flask backend's rules into the store, then
/// applied. A rule whose external port is already taken (by another rule, this server or
/// a process of this host) is skipped and reported.
pub async fn import(state: &Context, text: &str) -> Result<ImportReport, ImportError> {
    let (rules, unreadable) = nat::parse_flask_rules(text)?;
    let mut skipped: Vec<(usize, ImportSkip)> = unreadable
        .into_iter()
        .map(|(i, why)| (i, why.into()))
        .collect();
    let mut imported = 0;
    let reserved = reserved_ports(state);
    let tcp = host_net::listening_ports(Proto::Tcp).await?;
    let udp = host_net::listening_ports(Proto::Udp).await?;
    for (i, r) in rules {
        if r.proto == Proto::Tcp && reserved.contains(&r.ext_port) {
            skipped.push((i, ImportSkip::OwnPort(r.ext_port)));
            continue;
        }
        let host = if r.proto == Proto::Tcp { &tcp } else { &udp };
        if host.contains(&r.ext_port) {
            skipped.push((i, ImportSkip::HostPort(r.proto, r.ext_port)));
            continue;
        }
        let (ext, int) = (i32::from(r.ext_port), i32::from(r.int_port));
        let is_ssh = r.int_port == 22;
        let (h, proto) = (r.hostname.clone(), r.proto.as_str());
        match db::run(&state.pool, move |c| {
            db::zjmf::add_rule(c, &h, proto, ext, int, is_ssh)
        })
        .await
        {
            Ok(_) => imported += 1,
            Err(db::DbError::Duplicate(_)) => {
                skipped.push((i, ImportSkip::Forwarded(r.proto, r.ext_port)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    apply(state).await?;
    Ok(ImportReport { imported, skipped })
}
