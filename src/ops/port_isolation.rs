//! Port isolation of the LXD containers the ZJMF `/api/` makes (issue #14): their
//! bridged NICs carry `security.port_isolation`, so customers on the shared bridge cannot
//! reach each other. New containers get it in their create body (domain::zjmf::lxd_config)
//! and keep it through a reinstall; this file brings it to containers made before, while
//! they are stopped. It must not touch a running container's NIC.

use serde_json::json;

use crate::db;
use crate::domain::port_isolation::missing_isolation;
use crate::lxd::{Instance, LxdError};
use crate::ops::Context;

// SECURITY: a stopped container's bridged NICs get `security.port_isolation` before it
// starts (issue #14). Only while stopped: LXD applies a NIC change to a running
// container by unplugging and re-plugging the NIC, and the customer's system would be
// left without its address. Returns whether anything was written.
pub async fn isolate(state: &Context, name: &str) -> Result<bool, LxdError> {
    match state.lxd.instance(name).await? {
        Some(inst) => isolate_read(state, name, &inst).await,
        None => Ok(false),
    }
}

/// `isolate` for a container already read from LXD.
async fn isolate_read(state: &Context, name: &str, inst: &Instance) -> Result<bool, LxdError> {
    if !inst.status.is_stopped() {
        return Ok(false);
    }
    let missing = missing_isolation(&inst.devices, &inst.expanded_devices);
    if missing.is_empty() {
        return Ok(false);
    }
    state
        .lxd
        .patch(name, &json!({ "devices": missing }))
        .await?;
    state.lxd_cache.forget(name);
    log::info!("zjmf: port isolation on for {name}");
    Ok(true)
}

/// Start-up: the API's containers made before port isolation get it now when stopped;
/// a running one gets it at its next start, restart or stop through the API (or its
/// reinstall), without cutting its network now (see `isolate`).
pub async fn isolate_existing(state: &Context) {
    let names = match db::run(&state.pool, db::zjmf::hostnames).await {
        Ok(names) => names,
        Err(e) => {
            log::error!("zjmf: cannot list the containers to isolate: {e}");
            return;
        }
    };
    let mut waiting = 0;
    for name in names {
        let inst = match state.lxd.instance(&name).await {
            Ok(Some(inst)) => inst,
            Ok(None) => continue,
            Err(e) => {
                log::error!("zjmf: cannot read {name} to isolate it: {e}");
                continue;
            }
        };
        if missing_isolation(&inst.devices, &inst.expanded_devices).is_empty() {
            continue;
        }
        if !inst.status.is_stopped() {
            waiting += 1;
            log::warn!(
                "zjmf: {name} runs without port isolation until its next start through the API"
            );
            continue;
        }
        if let Err(e) = isolate_read(state, &name, &inst).await {
            log::error!("zjmf: could not isolate the port of {name}: {e}");
        }
    }
    if waiting > 0 {
        log::warn!(
            "zjmf: {waiting} running container(s) get port isolation at their next boot or reboot through the API"
        );
    }
}
