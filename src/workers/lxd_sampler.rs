//! Keeps the LXD side current for the ZJMF `/api/` and the admin's LXD pages: every
//! `every`, one read of every container's state (`ops::zjmf::sample`: CPU time samples,
//! so that getinfo answers CPU use at once, and the cached views), after reaping the
//! removed forwards' masked lines; the NAT rules are re-applied when a running
//! container's address changed (a restart, a reinstall).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::ops::{self, Context};

/// Starts the sampler (it runs until the process ends): first the isolation of the
/// containers' ports that exist already, then the samples.
pub fn spawn(state: Arc<Context>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        ops::port_isolation::isolate_existing(&state).await;
        run(state, every).await;
    })
}

async fn run(state: Arc<Context>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // the running containers' addresses when the rules were last applied
    let mut known: Option<HashMap<String, String>> = None;
    loop {
        ticks.tick().await;
        // removed forwards' masked lines go, many in one transaction
        if let Err(e) = ops::nat::reap(&state).await {
            log::error!("nat: reaping removed forwards failed: {e}");
        }
        let Some(addresses) = ops::zjmf::sample(&state).await else {
            continue;
        };
        // a container that got another address (restart, reinstall): its forwards follow
        if known.as_ref() != Some(&addresses) {
            match ops::nat::apply(&state).await {
                Ok(()) => known = Some(addresses),
                Err(e) => log::error!("nat: re-applying after an address change failed: {e}"),
            }
        }
    }
}
