//! What the ZJMF plugin's calls do to LXD (lxd/) and the store (db/zjmf.rs). Every
//! failure is a `Refusal`: a JSON code and a short Chinese message the plugin shows the
//! customer. A create that fails halfway removes what it made, or, when LXD does not let
//! go of the container in time, leaves its removal to ops/recovery.rs. The usage
//! arithmetic is in domain/zjmf/usage.rs, the JSON the plugin reads in web/api/wire.rs,
//! the sampling loop in workers/lxd_sampler.rs (it calls `sample`), the CPU samples in
//! ops/cpu_samples.rs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::audit::{self, Origin};
use super::{nat, port_isolation, recovery};
use crate::db;
use crate::domain::port_isolation::with_isolation;
pub use crate::domain::zjmf::usage::Usage;
use crate::domain::zjmf::{self, CreateRequest, PortRule, Refusal, ReinstallRequest, usage};
use crate::lxd::{Instance, InstanceState, LxdError, NewInstance, StateAction};
use crate::ops::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    Start,
    Stop,
    Restart,
}

/// How long a clean stop may take before the container is stopped by force.
const CLEAN_STOP: Duration = Duration::from_secs(10);
/// How long a created container may take to get its IPv4 address.
const ADDRESS_WAIT: Duration = Duration::from_secs(15);
/// How often its state is read meanwhile (one LXD call of a few ms).
const ADDRESS_POLL: Duration = Duration::from_millis(50);

fn timeout(state: &Context) -> Duration {
    Duration::from_secs(state.settings.zjmf.operation_timeout_secs)
}

fn not_found() -> Refusal {
    Refusal::new(404, "lxdapi.not_found")
}

fn lxd_failed(e: LxdError) -> Refusal {
    log::warn!("lxd: {e}");
    Refusal::new(500, "lxdapi.lxd_failed").with("e", e)
}

fn store_failed(e: db::DbError) -> Refusal {
    log::error!("zjmf store: {e}");
    Refusal::new(500, "lxdapi.store_failed")
}

/// Who calls: the ZJMF plugin through /api/ (`api_origin`) or an admin on the LXD pages.
pub fn api_origin(ip: &str) -> Origin {
    Origin::new(None, "zjmf", "zjmf", ip, "api")
}

async fn record(
    state: &Context,
    origin: &Origin,
    action: &str,
    hostname: &str,
    status: i32,
    detail: String,
) {
    let mut event = origin.event(action, status, detail);
    event.resource_type = "lxd_container".into();
    event.resource_id = hostname.to_string();
    audit::record(state, event).await;
}

/// Records a refused action in the audit log and hands the refusal back.
async fn refused(
    state: &Context,
    origin: &Origin,
    action: &str,
    hostname: &str,
    refusal: Refusal,
) -> Refusal {
    let (code, detail) = (i32::from(refusal.code), refusal.audit_detail());
    record(state, origin, action, hostname, code, detail).await;
    refusal
}

async fn existing(state: &Context, name: &str) -> Result<Instance, Refusal> {
    state
        .lxd
        .instance(name)
        .await
        .map_err(lxd_failed)?
        .ok_or_else(not_found)
}

/// The container's config and state: what LXD said less than `lxd::cache::MAX_AGE` ago,
/// else asked now (and kept).
async fn seen(state: &Context, name: &str) -> Result<(Instance, InstanceState), Refusal> {
    if let Some(hit) = state.lxd_cache.fresh(name, Instant::now()) {
        return Ok(hit);
    }
    let asked = Instant::now();
    let inst = existing(state, name).await?;
    let live = state
        .lxd
        .state(name)
        .await
        .map_err(lxd_failed)?
        .ok_or_else(not_found)?;
    state.lxd_cache.put(inst.clone(), live.clone(), asked);
    Ok((inst, live))
}

/// Drops the container's cached view (lxd/cache.rs) when an action on it ends, however it
/// ends: the next read asks LXD.
struct Changes<'a> {
    state: &'a Context,
    name: &'a str,
}

impl Drop for Changes<'_> {
    fn drop(&mut self) {
        self.state.lxd_cache.forget(self.name);
    }
}

/// What LXD says of a container, as its usage reads it (domain/zjmf/usage.rs).
fn seen_by<'a>(inst: &'a Instance, live: &'a InstanceState) -> usage::Seen<'a> {
    usage::Seen {
        name: &inst.name,
        config: &inst.expanded_config,
        root_size: inst
            .expanded_devices
            .get("root")
            .and_then(|d| d.get("size"))
            .map(String::as_str),
        status: live.status,
        memory_bytes: live.memory_usage,
        disk_bytes: live.disk_usage_root,
        network_bytes: live.network_bytes(),
        ipv4: live.ipv4.as_deref(),
    }
}

fn usage_now(state: &Context, inst: &Instance, live: &InstanceState) -> Usage {
    usage::usage(
        &seen_by(inst, live),
        |cores| state.cpu.percent(&inst.name, cores),
        state.settings.zjmf.unlimited_bandwidth_gb,
    )
}

/// getinfo: the container's usage.
pub async fn info(state: &Context, name: &str) -> Result<Usage, Refusal> {
    let (inst, live) = seen(state, name).await?;
    Ok(usage_now(state, &inst, &live))
}

/// One container on the admin's LXD page.
#[derive(Clone, Debug)]
pub struct Overview {
    pub usage: Usage,
    pub ssh_port: Option<i32>,
    pub rules: usize,
}

/// Every LXD container (created by Suanli or not) with its usage and NAT rules.
pub async fn overview(state: &Context) -> Result<Vec<Overview>, Refusal> {
    let asked = Instant::now();
    let list = state.lxd.instances_with_state().await.map_err(lxd_failed)?;
    state.lxd_cache.replace_all(list.clone(), asked);
    let rules = db::run(&state.pool, db::zjmf::all_rules)
        .await
        .map_err(store_failed)?;
    let mut out = Vec::with_capacity(list.len());
    for (inst, live) in &list {
        let mine: Vec<_> = rules.iter().filter(|r| r.hostname == inst.name).collect();
        out.push(Overview {
            usage: usage_now(state, inst, live),
            ssh_port: mine.iter().find(|r| r.is_ssh).map(|r| r.ext_port),
            rules: mine.len(),
        });
    }
    Ok(out)
}

/// One container and its rules (the admin's detail page).
pub async fn detail(
    state: &Context,
    name: &str,
) -> Result<(Usage, Vec<db::zjmf::NatRule>), Refusal> {
    let (inst, live) = seen(state, name).await?;
    let u = usage_now(state, &inst, &live);
    let owned = name.to_string();
    let rules = db::run(&state.pool, move |c| db::zjmf::rules_of(c, &owned))
        .await
        .map_err(store_failed)?;
    Ok((u, rules))
}

/// What the LXD host has (asked each time: a create is rare, and a host can grow).
async fn host(state: &Context) -> Result<zjmf::bounds::Host, Refusal> {
    let r = state.lxd.resources().await.map_err(lxd_failed)?;
    Ok(zjmf::bounds::Host::new(r.cpu_threads, r.memory_bytes))
}

/// A container made (create) or made again (reinstall).
#[derive(Clone, Debug)]
pub struct Made {
    pub hostname: String,
    pub ip: String,
    pub ssh_port: u16,
}

/// Creates, starts, waits for the address and sets the password; the container is
/// recorded only when all of that worked, and removed when any of it failed. A product
/// larger than the host is refused first (400), before anything is made.
pub async fn create(state: &Context, origin: &Origin, r: CreateRequest) -> Result<Made, Refusal> {
    zjmf::bounds::fits_host(&r.product, &host(state).await?)?;
    let s = &state.settings.zjmf;
    let name = r.hostname.clone();
    let _changes = Changes { state, name: &name };
    let n = name.clone();
    // an earlier create of this hostname that a stopped server cut off is still being
    // removed (ops/recovery.rs): a retry works once it is gone
    if db::run(&state.pool, move |c| db::cleanups::lxd_pending(c, &n))
        .await
        .map_err(store_failed)?
    {
        return Err(Refusal::new(409, "lxdapi.cleaning"));
    }
    if state
        .lxd
        .instance(&name)
        .await
        .map_err(lxd_failed)?
        .is_some()
    {
        return Err(Refusal::new(409, "lxdapi.exists"));
    }
    let image = r.image.clone().unwrap_or_else(|| s.default_image.clone());
    let (mut config, devices) = zjmf::lxd_config(&r.product, &s.storage_pool, &s.bridge);
    config.insert(zjmf::meta("image"), image.clone());
    let req = NewInstance {
        name: name.clone(),
        image_alias: image.clone(),
        config,
        devices,
        profiles: Vec::new(),
    };
    let started = Instant::now();
    claim(state, &name, &r.product, &image).await?;
    let made = async {
        let address = build(state, &req, &r.password).await?;
        // the forwards are applied from LXD's view of the new container, not an older one
        state.lxd_cache.forget(&name);
        let ssh_port = nat::add_ssh(state, &name).await?;
        let n = name.clone();
        db::run(&state.pool, move |c| db::zjmf::created(c, &n))
            .await
            .map_err(store_failed)?;
        Ok::<_, Refusal>((address, ssh_port))
    }
    .await;
    let (address, ssh_port) = match made {
        Ok(made) => made,
        Err(refusal) => {
            undo(state, &name).await;
            return Err(refused(state, origin, "zjmf_create", &name, refusal).await);
        }
    };
    log::info!("zjmf: created {name} ({image}) in {:?}", started.elapsed());
    record(
        state,
        origin,
        "zjmf_create",
        &name,
        200,
        format!("image {image}, ip {address}, ssh port {ssh_port}"),
    )
    .await;
    Ok(Made {
        hostname: name.clone(),
        ip: address,
        ssh_port,
    })
}

/// The row first: a second create of the same name is refused at once, and a server
/// that stops halfway finds what to remove at its next start (ops/recovery.rs). A row
/// without its container (removed behind our back) is stale and goes; one still creating
/// is another call's.
async fn claim(
    state: &Context,
    name: &str,
    product: &zjmf::Product,
    image: &str,
) -> Result<(), Refusal> {
    let (n, p, img) = (name.to_string(), product.clone(), image.to_string());
    let claimed = db::transaction(&state.pool, move |c| {
        if let Some(row) = db::zjmf::find(c, &n)? {
            if row.creating {
                return Ok(false);
            }
            db::zjmf::forget(c, &n)?;
        }
        db::zjmf::insert(c, &n, &p, &img)?;
        Ok(true)
    })
    .await;
    match claimed {
        Ok(true) => Ok(()),
        Ok(false) | Err(db::DbError::Duplicate(_)) => Err(Refusal::new(409, "lxdapi.exists")),
        Err(e) => Err(store_failed(e)),
    }
}

/// The LXD side of a create; returns the container's IPv4 address.
async fn build(state: &Context, req: &NewInstance, password: &str) -> Result<String, Refusal> {
    let t = timeout(state);
    state.lxd.create(req, t).await.map_err(lxd_failed)?;
    state
        .lxd
        .set_state(&req.name, StateAction::Start, false, t)
        .await
        .map_err(lxd_failed)?;
    address_and_password(state, &req.name, password).await
}

/// Rebuilds the container from `image` under the same name, keeping its limits, metadata,
/// devices and NAT rules (re-pointed to its new address; the SSH rule keeps its external
/// port, or gets one if it had none), and sets the new password.
///
/// The new root is made first under a scratch name, so a bad image or a full pool fails
/// the call with the old container untouched; only then is the old one replaced. A start
/// that fails after that leaves the rebuilt container stopped under its name, with its
/// rules and row: a retry works.
pub async fn reinstall(
    state: &Context,
    origin: &Origin,
    r: ReinstallRequest,
) -> Result<Made, Refusal> {
    let name = r.hostname.clone();
    let _changes = Changes { state, name: &name };
    let image = r
        .image
        .clone()
        .unwrap_or_else(|| state.settings.zjmf.default_image.clone());
    let result = match existing(state, &name).await {
        Ok(old) => rebuild(state, &old, &image, &r.password).await,
        Err(refusal) => Err(refusal),
    };
    let address = match result {
        Ok(address) => address,
        Err(refusal) => {
            return Err(refused(state, origin, "zjmf_reinstall", &name, refusal).await);
        }
    };
    // the forwards follow the new address, not a view of the old container
    state.lxd_cache.forget(&name);
    let (n, img) = (name.clone(), image.clone());
    let rules = db::run(&state.pool, move |c| {
        db::zjmf::set_image(c, &n, &img)?;
        db::zjmf::rules_of(c, &n)
    })
    .await
    .map_err(store_failed)?;
    let ssh_port = match rules.iter().find(|r| r.is_ssh) {
        Some(rule) => {
            nat::apply(state).await.map_err(nat::refusal)?;
            u16::try_from(rule.ext_port).unwrap_or_default()
        }
        None => nat::add_ssh(state, &name).await?,
    };
    let detail = format!("image {image}, ip {address}, ssh port {ssh_port}");
    record(state, origin, "zjmf_reinstall", &name, 200, detail).await;
    Ok(Made {
        hostname: name.clone(),
        ip: address,
        ssh_port,
    })
}

/// The LXD side of a reinstall; returns the new IPv4 address.
async fn rebuild(
    state: &Context,
    old: &Instance,
    image: &str,
    password: &str,
) -> Result<String, Refusal> {
    let t = timeout(state);
    let scratch = zjmf::scratch_name(&old.name, rand::random());
    let req = NewInstance {
        name: scratch.clone(),
        image_alias: image.to_string(),
        config: zjmf::rebuilt_config(&old.config, image),
        // a container made before port isolation gets it with its new root
        devices: with_isolation(&old.devices, &old.expanded_devices),
        profiles: old.profiles.clone(),
    };
    // LXD reverts a create that fails: nothing to clean up then
    state.lxd.create(&req, t).await.map_err(lxd_failed)?;
    if let Err(refusal) = swap(state, &old.name, &scratch).await {
        discard(state, &scratch).await;
        return Err(refusal);
    }
    state
        .lxd
        .set_state(&old.name, StateAction::Start, false, t)
        .await
        .map_err(lxd_failed)?;
    address_and_password(state, &old.name, password).await
}

/// The old container goes (stopped by force: its root is being replaced) and the scratch
/// one takes its name.
async fn swap(state: &Context, name: &str, scratch: &str) -> Result<(), Refusal> {
    let t = timeout(state);
    let lxd = &state.lxd;
    let old = existing(state, name).await?;
    if !old.status.is_stopped() {
        lxd.set_state(name, StateAction::Stop, true, t)
            .await
            .map_err(lxd_failed)?;
    }
    lxd.delete(name, t).await.map_err(lxd_failed)?;
    if let Err(e) = lxd.rename(scratch, name, t).await {
        // the old root is already gone; the caller removes the scratch container
        log::error!("zjmf: reinstall of {name}: renaming {scratch} failed: {e}");
        return Err(lxd_failed(e));
    }
    Ok(())
}

/// A started container's address (DHCP) and its password (chpasswd needs no network):
/// both at once, so the password costs no time of its own.
async fn address_and_password(
    state: &Context,
    name: &str,
    password: &str,
) -> Result<String, Refusal> {
    let (address, set) = tokio::join!(
        wait_for_address(state, name),
        chpasswd(state, name, password)
    );
    set?;
    address
}

/// Polls the container's state until eth0 has an IPv4 address (DHCP), without sleeping
/// longer than needed.
async fn wait_for_address(state: &Context, name: &str) -> Result<String, Refusal> {
    let deadline = Instant::now() + ADDRESS_WAIT;
    loop {
        let live = state
            .lxd
            .state(name)
            .await
            .map_err(lxd_failed)?
            .ok_or_else(not_found)?;
        if let Some(ip) = live.ipv4 {
            return Ok(ip);
        }
        if Instant::now() >= deadline {
            return Err(Refusal::new(500, "lxdapi.no_address"));
        }
        tokio::time::sleep(ADDRESS_POLL).await;
    }
}

/// Sets the container user's password with `chpasswd` inside the container. The
/// password travels in the exec's environment, never on a command line.
async fn chpasswd(state: &Context, name: &str, password: &str) -> Result<(), Refusal> {
    let user = state.settings.zjmf.container_user.as_str();
    let script = r#"printf '%s:%s\n' "$SUANLI_USER" "$SUANLI_PASSWORD" | chpasswd"#;
    let out = state
        .lxd
        .exec(
            name,
            &["sh", "-c", script],
            &[("SUANLI_USER", user), ("SUANLI_PASSWORD", password)],
            timeout(state),
        )
        .await
        .map_err(lxd_failed)?;
    if out.code != 0 {
        let why = out.stderr.trim();
        return Err(Refusal::new(500, "lxdapi.password_failed").with("why", why));
    }
    Ok(())
}

/// Removes a reinstall's scratch container (best effort: logged when it fails; it has no
/// row, and its name is not the customer's).
async fn discard(state: &Context, name: &str) {
    if let Err(e) = state.lxd.remove(name, recovery::UNDO_BUDGET).await {
        log::error!("zjmf: could not remove the scratch container {name}: {e}");
    }
}

/// Undoes a create that failed halfway: the container is removed for sure (waiting out
/// what LXD still runs on it, see lxd/removal.rs), then its forwards and row. A container
/// LXD does not let go of within `recovery::UNDO_BUDGET` keeps its row, and the hostname
/// stays taken, until the clean-ups have removed it.
async fn undo(state: &Context, name: &str) {
    match state.lxd.remove(name, recovery::UNDO_BUDGET).await {
        Ok(()) => forget(state, name).await,
        Err(e) => recovery::hand_over_lxd(state, name, &e).await,
    }
}

/// Stops (by force: it is going away) and deletes the container, waiting out what LXD
/// still runs on it, then its row and rules.
pub async fn delete(state: &Context, origin: &Origin, name: &str) -> Result<(), Refusal> {
    let _changes = Changes { state, name };
    existing(state, name).await?;
    // waits out what LXD still runs on it (a boot, an exec) instead of failing on "busy"
    state
        .lxd
        .remove(name, timeout(state))
        .await
        .map_err(lxd_failed)?;
    let owned = name.to_string();
    db::run(&state.pool, move |c| db::zjmf::forget(c, &owned))
        .await
        .map_err(store_failed)?;
    if let Err(e) = nat::apply(state).await {
        log::error!("zjmf: rules of {name} removed from the store, iptables not yet: {e}");
    }
    record(state, origin, "zjmf_delete", name, 200, String::new()).await;
    Ok(())
}

/// Drops the row and rules of a container that could not be made, and their iptables
/// rules (best effort: logged).
async fn forget(state: &Context, name: &str) {
    let owned = name.to_string();
    if let Err(e) = db::run(&state.pool, move |c| db::zjmf::forget(c, &owned)).await {
        log::error!("zjmf: could not forget {name}: {e}");
    }
    if let Err(e) = nat::apply(state).await {
        log::error!("zjmf: could not re-apply the NAT rules: {e}");
    }
}

/// natlist: the container's rules; an unknown container has none (the plugin expects []).
pub async fn nat_list(state: &Context, name: &str) -> Result<Vec<db::zjmf::NatRule>, Refusal> {
    let owned = name.to_string();
    db::run(&state.pool, move |c| db::zjmf::rules_of(c, &owned))
        .await
        .map_err(store_failed)
}

/// addport: within the product's rule limit (the automatic SSH rule does not count), on
/// a free external port that is neither this server's own nor one a host process
/// listens on.
pub async fn add_port(
    state: &Context,
    origin: &Origin,
    name: &str,
    rule: PortRule,
) -> Result<(), Refusal> {
    // the sampler keeps every container's view fresh: no LXD call on this path
    seen(state, name).await?;
    nat::check_host_port(state, rule.proto, rule.ext_port).await?;
    let new = nat::NewRule {
        hostname: name,
        proto: rule.proto,
        ext_port: rule.ext_port,
        int_port: rule.int_port,
        ssh: false,
    };
    nat::add(state, new).await.map_err(nat::AddError::refusal)?;
    let detail = format!(
        "{} {} -> {}",
        rule.proto.as_str(),
        rule.ext_port,
        rule.int_port
    );
    record(state, origin, "zjmf_addport", name, 200, detail).await;
    Ok(())
}

pub async fn remove_port(
    state: &Context,
    origin: &Origin,
    name: &str,
    rule: PortRule,
) -> Result<(), Refusal> {
    let removed = nat::remove(state, name, rule.proto, rule.ext_port, rule.int_port)
        .await
        .map_err(nat::refusal)?;
    if !removed {
        return Err(Refusal::new(404, "lxdapi.no_rule"));
    }
    let detail = format!(
        "{} {} -> {}",
        rule.proto.as_str(),
        rule.ext_port,
        rule.int_port
    );
    record(state, origin, "zjmf_delport", name, 200, detail).await;
    Ok(())
}

/// Start, stop or restart; idempotent (starting a running container succeeds). Stop is
/// clean first, forced after `CLEAN_STOP`. Gives the i18n key of what was done.
pub async fn power(
    state: &Context,
    origin: &Origin,
    name: &str,
    action: Power,
) -> Result<&'static str, Refusal> {
    let _changes = Changes { state, name };
    let inst = existing(state, name).await?;
    let t = timeout(state);
    let running = inst.status.is_running();
    let lxd = &state.lxd;
    let msg = match action {
        Power::Start => {
            if !running {
                port_isolation::isolate(state, name)
                    .await
                    .map_err(lxd_failed)?;
                lxd.set_state(name, StateAction::Start, false, t)
                    .await
                    .map_err(lxd_failed)?;
            }
            "lxdapi.started"
        }
        Power::Stop => {
            if !inst.status.is_stopped() {
                stop(state, name).await?;
            }
            // so that its next start, by whatever means, is isolated
            if let Err(e) = port_isolation::isolate(state, name).await {
                log::warn!("zjmf: could not isolate the port of stopped {name}: {e}");
            }
            "lxdapi.stopped"
        }
        Power::Restart => {
            if running {
                stop(state, name).await?;
            }
            port_isolation::isolate(state, name)
                .await
                .map_err(lxd_failed)?;
            lxd.set_state(name, StateAction::Start, false, t)
                .await
                .map_err(lxd_failed)?;
            "lxdapi.restarted"
        }
    };
    let action = match action {
        Power::Start => "zjmf_boot",
        Power::Stop => "zjmf_stop",
        Power::Restart => "zjmf_reboot",
    };
    record(state, origin, action, name, 200, String::new()).await;
    Ok(msg)
}

async fn stop(state: &Context, name: &str) -> Result<(), Refusal> {
    let clean = state
        .lxd
        .set_state(name, StateAction::Stop, false, CLEAN_STOP)
        .await;
    if let Err(e) = clean {
        log::info!("zjmf: clean stop of {name} failed ({e}), forcing");
        state
            .lxd
            .set_state(name, StateAction::Stop, true, timeout(state))
            .await
            .map_err(lxd_failed)?;
    }
    Ok(())
}

pub async fn set_password(
    state: &Context,
    origin: &Origin,
    name: &str,
    password: &str,
) -> Result<(), Refusal> {
    let inst = existing(state, name).await?;
    if !inst.status.is_running() {
        return Err(Refusal::new(400, "lxdapi.not_running"));
    }
    chpasswd(state, name, password).await?;
    record(state, origin, "zjmf_password", name, 200, String::new()).await;
    Ok(())
}

/// Reads every container's state (one LXD call): CPU time samples and the cached views
/// for getinfo and the admin pages (workers/lxd_sampler.rs calls it every few seconds).
/// Gives the running containers' addresses by name; None when LXD did not answer.
pub async fn sample(state: &Context) -> Option<HashMap<String, String>> {
    let asked = Instant::now();
    let list = match state.lxd.instances_with_state().await {
        Ok(list) => list,
        Err(e) => {
            log::debug!("lxd sampler: {e}");
            return None;
        }
    };
    let mut running = Vec::new();
    let mut addresses = HashMap::new();
    for (inst, live) in &list {
        if !live.status.is_running() {
            continue;
        }
        running.push(inst.name.clone());
        state.cpu.record(&inst.name, live.cpu_usage_ns, asked);
        if let Some(ip) = &live.ipv4 {
            addresses.insert(inst.name.clone(), ip.clone());
        }
    }
    state.cpu.keep_only(&running);
    state.lxd_cache.replace_all(list, asked);
    Some(addresses)
}
