//! Start-up recovery: what a server that stopped halfway (SIGKILL, power loss, OOM) left
//! is found from the store and undone, and undo that cannot finish now is retried until
//! it does. `at_start` is the one call start-up makes.
//!
//! - Terminal sessions it had open are closed.
//! - Instances it was creating become failed (capacity and GPUs given back); what their
//!   creation may have made on the node (container, data volume, tenant network) is
//!   removed by name. The failed row stays for its owner to see and delete.
//! - Instances it was deleting can be deleted again.
//! - ZJMF creates it had not finished: the LXD container is removed for sure
//!   (lxd/removal.rs waits out the create LXD carries on without us), then its port
//!   forwards and row. The row, which keeps the hostname taken, goes only once LXD no
//!   longer knows the container; until then the admin's LXD page lists it.
//!
//! Every such undo is a `cleanups` row (db/cleanups.rs), so a server that stops again
//! halfway through recovery finds it at its next start. One task works them off: at once,
//! then again with a backoff per row (2^attempts s, at most 5 min) while any is left, and
//! looks for new ones (a create whose own undo timed out hands its container over) every
//! `IDLE_TICK`. A periodic retry rather than waiting for the next reconcile: nothing else
//! revisits these hostnames (the status worker follows ready instances only, the LXD
//! sampler reads state), and a table read every few seconds costs nothing.
//! Must not: touch anything a live action of this process owns (a create in progress has
//! no cleanups row; an instance being deleted is left to that delete).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{OpsError, instances, nat, tenancy};
use crate::db::cleanups::{Cleanup, Due, Leftover};
use crate::db::{self, DbError};
use crate::docker::DockerError;
use crate::domain::ids::{InstanceId, NodeId};
use crate::lxd::LxdError;
use crate::ops::Context;

/// How long one try may wait for LXD to let go of a container (a create LXD carries on
/// after its client died, then the stop and the delete).
const LXD_BUDGET: Duration = Duration::from_secs(60);
/// How long a failed create's own undo waits before it leaves the container to the
/// clean-ups (the plugin gives up on its call at 30 s).
pub const UNDO_BUDGET: Duration = Duration::from_secs(10);
/// Leftovers count as gone only when a look at least this long after the clean-up was
/// recorded finds nothing: a request the stopped server had sent may still be on its way
/// through the engine.
const QUIET: Duration = Duration::from_secs(3);
/// How often the task looks again while clean-ups are left, and when none is.
const BUSY_TICK: Duration = Duration::from_secs(1);
const IDLE_TICK: Duration = Duration::from_secs(15);

/// The message of an instance whose creation a stopped server cut off.
const INTERRUPTED: &str = "interrupted: the server stopped while creating";
const REOPENED: &str = "interrupted: the server stopped while deleting; delete again";

/// Start-up: the store is put right before any door opens (sessions closed, cut-off
/// creations failed and their undo recorded, cut-off deletes reopened), then the undo
/// itself runs in the background.
pub async fn at_start(state: &Arc<Context>) -> Result<(), DbError> {
    let closed = db::run(&state.pool, |c| {
        db::sessions::close_unfinished(c, "server_stopped")
    })
    .await?;
    if closed > 0 {
        log::warn!("{closed} terminal session(s) were open when the server stopped: closed");
    }
    let (failed, reopened, abandoned) = db::transaction(&state.pool, |c| {
        let failed = db::instances::fail_interrupted(c, INTERRUPTED)?;
        let ids: Vec<InstanceId> = failed.iter().map(|(id, _, _)| *id).collect();
        db::cleanups::add_instances(c, &ids)?;
        let reopened = db::instances::reset_interrupted_deletes(c, REOPENED)?;
        let abandoned = db::cleanups::abandon_unfinished_creates(c)?;
        Ok((failed, reopened, abandoned))
    })
    .await?;
    if reopened > 0 {
        log::warn!(
            "{reopened} instance(s) were being deleted when the server stopped: delete them again"
        );
    }
    for (id, name, _) in &failed {
        log::warn!(instance = *id; "the creation of {name} was cut off by a stop of the server: marked failed, removing what it made");
    }
    for name in &abandoned {
        log::warn!("zjmf: the create of {name} was cut off by a stop of the server: removing it");
    }
    tokio::spawn(keep_cleaning(Arc::clone(state)));
    Ok(())
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// clean-ups finished (their leftovers gone)
    pub done: usize,
    /// clean-ups still pending after this pass
    pub left: usize,
}

/// Works off every due clean-up once (concurrently; each bounded by `LXD_BUDGET` or the
/// engine's own timeouts).
pub async fn clean_up(state: &Context) -> Result<Pass, DbError> {
    let due = db::run(&state.pool, db::cleanups::due).await?;
    let results =
        futures_util::future::join_all(due.into_iter().map(|d| clean_one(state, d))).await;
    let done = results.iter().filter(|r| **r).count();
    Ok(Pass {
        done,
        left: results.len() - done,
    })
}

async fn keep_cleaning(state: Arc<Context>) {
    loop {
        let tick = match clean_up(&state).await {
            Ok(pass) if pass.left > 0 => BUSY_TICK,
            // clean-ups not due yet (backoff) count too
            Ok(_) => match db::run(&state.pool, db::cleanups::count).await {
                Ok(0) | Err(_) => IDLE_TICK,
                Ok(_) => BUSY_TICK,
            },
            Err(e) => {
                log::warn!("recovery: cannot read the pending clean-ups: {e}");
                IDLE_TICK
            }
        };
        tokio::time::sleep(tick).await;
    }
}

/// One try at one clean-up; true when it is finished.
async fn clean_one(state: &Context, due: Due) -> bool {
    let quiet = chrono::Duration::from_std(QUIET).unwrap_or_default();
    let settled = Utc::now() - due.since >= quiet;
    let outcome = match &due.leftover {
        Leftover::Lxd { hostname } => clean_lxd(state, hostname, settled).await,
        Leftover::Docker {
            instance_id,
            name,
            node_id,
            tenant,
        } => clean_instance(state, *instance_id, name, *node_id, *tenant, settled).await,
    };
    let what = match &due.leftover {
        Leftover::Lxd { hostname } => format!("LXD container {hostname}"),
        Leftover::Docker { name, .. } => format!("instance {name}"),
    };
    let recorded = match &outcome {
        Outcome::Finished => {
            log::info!("recovery: what is left of {what} is removed");
            // an LXD clean-up went with its row already
            db::run(&state.pool, move |c| db::cleanups::done(c, due.id)).await
        }
        // looked at again on the next tick, not counted as a try
        Outcome::Quiet => Ok(()),
        Outcome::Kept(why) => {
            log::warn!(
                "recovery: {what} kept, its leftovers cannot be removed yet (retrying): {why}"
            );
            let why = why.clone();
            db::run(&state.pool, move |c| db::cleanups::tried(c, due.id, &why)).await
        }
    };
    if let Err(e) = recorded {
        log::error!("recovery: cannot record the clean-up of {what}: {e}");
    }
    matches!(outcome, Outcome::Finished)
}

enum Outcome {
    Finished,
    /// nothing is left, but it was recorded too recently to be sure (`QUIET`)
    Quiet,
    /// still there, and why
    Kept(String),
}

/// The container of an unfinished ZJMF create: removed for sure, then its forwards, then
/// its row (which takes the clean-up with it).
async fn clean_lxd(state: &Context, name: &str, settled: bool) -> Outcome {
    // the forwards go first: none may point at a container that is going away
    let rules = drop_rules(state, name).await;
    let removed = state.lxd.remove(name, LXD_BUDGET).await;
    state.lxd_cache.forget(name);
    if let Err(e) = removed {
        return Outcome::Kept(e.to_string());
    }
    if let Err(why) = rules {
        return Outcome::Kept(why.to_string());
    }
    if !settled {
        return Outcome::Quiet;
    }
    let owned = name.to_string();
    match db::run(&state.pool, move |c| db::zjmf::forget(c, &owned)).await {
        Ok(()) => Outcome::Finished,
        Err(e) => Outcome::Kept(e.to_string()),
    }
}

/// Why a container's port forwards are not removed yet.
#[derive(Debug, thiserror::Error)]
enum DropRulesError {
    /// not removed from the store
    #[error(transparent)]
    Db(#[from] DbError),
    /// removed from the store, not yet from iptables
    #[error(transparent)]
    Apply(#[from] nat::NatError),
}

/// Removes the container's port forwards from the store and from iptables.
async fn drop_rules(state: &Context, name: &str) -> Result<(), DropRulesError> {
    let owned = name.to_string();
    let removed = db::run(&state.pool, move |c| db::zjmf::forget_rules(c, &owned)).await?;
    if removed > 0 {
        nat::apply(state).await?;
    }
    Ok(())
}

/// A failed create whose container could not be removed within `UNDO_BUDGET`: its
/// forwards go now, its row stays (the hostname stays taken) and the clean-ups finish
/// the removal.
pub async fn hand_over_lxd(state: &Context, name: &str, why: &LxdError) {
    log::warn!(
        "zjmf: the half-created container {name} cannot be removed yet ({why}): kept, the clean-up retries"
    );
    if let Err(e) = drop_rules(state, name).await {
        log::error!("zjmf: the forwards of {name} are not removed yet: {e}");
    }
    let (owned, why) = (name.to_string(), why.to_string());
    if let Err(e) = db::run(&state.pool, move |c| {
        db::cleanups::hand_over_lxd(c, &owned, &why)
    })
    .await
    {
        log::error!("zjmf: cannot record the clean-up of {name}: {e}");
    }
}

/// What the cut-off creation of a failed instance may have left on its node: container
/// and data volume (by the names provisioning gives them), then the tenant network when
/// nothing else of the tenant uses it.
async fn clean_instance(
    state: &Context,
    id: InstanceId,
    name: &str,
    node_id: NodeId,
    tenant: crate::domain::tenancy::Tenant,
    settled: bool,
) -> Outcome {
    let removed = match instances::remove_leftovers(state, node_id, id, name).await {
        // a node no connection can even be configured for cannot hold anything
        Ok(()) | Err(OpsError::Docker(DockerError::Config(_))) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = removed {
        let line = format!("{INTERRUPTED}; leftovers not removed yet ({e})");
        let _ = db::run(&state.pool, move |c| {
            db::instances::set_message(c, id, &line)
        })
        .await;
        return Outcome::Kept(e.to_string());
    }
    if let Ok(ep) = instances::endpoint(state, node_id).await
        && let Ok(d) = crate::docker::connect(&ep).await
    {
        tenancy::prune(state, &d, node_id, tenant, id).await;
    }
    if !settled {
        return Outcome::Quiet;
    }
    let line = format!("{INTERRUPTED}; nothing of it is left on the node");
    let _ = db::run(&state.pool, move |c| {
        db::instances::set_message(c, id, &line)
    })
    .await;
    Outcome::Finished
}

/// An unfinished ZJMF create whose container is not removed yet.
#[derive(Clone, Debug)]
pub struct PendingCreate {
    pub hostname: String,
    pub since: DateTime<Utc>,
    pub attempts: i32,
    /// why the last try did not remove it (empty before the first try)
    pub last_error: String,
}

/// The LXD containers whose clean-up is pending, oldest first (the admin's LXD page).
pub async fn pending_creates(state: &Context) -> Result<Vec<PendingCreate>, DbError> {
    let rows = db::run(&state.pool, db::cleanups::lxd_list).await?;
    Ok(rows
        .into_iter()
        .filter_map(|c: Cleanup| {
            Some(PendingCreate {
                hostname: c.hostname?,
                since: c.since,
                attempts: c.attempts,
                last_error: c.last_error,
            })
        })
        .collect())
}
