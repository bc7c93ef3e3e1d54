//! Removing an instance for sure, also one another client (a server that was killed) left
//! in the middle of an operation. LXD carries an operation on when its client is gone and
//! refuses to delete an instance while one runs ("Instance is busy running a create
//! operation"); a create still running when the delete is refused makes the container
//! afterwards. So the removal waits for (or cancels) what LXD runs on the instance, stops
//! it by force, deletes it, and only counts it gone once LXD neither knows the instance
//! nor runs anything on it.

use std::time::{Duration, Instant};

use super::{Lxd, LxdError, StateAction};

/// The longest single wait on LXD inside a removal (an operation's `/wait`, a stop, the
/// delete), so that the removal's own deadline holds.
const SLICE: Duration = Duration::from_secs(30);
/// Pauses between rounds that failed, doubling up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// Rounds in a row that LXD refuses while nothing runs on the instance before the removal
/// gives up early (a race with an operation that starts meanwhile gets past one).
const MAX_REFUSALS: u32 = 3;

/// What one round of a removal achieved.
enum Round {
    /// LXD knows no such instance and runs nothing on it
    Gone,
    /// something was waited for or removed: look again at once
    Progress,
}

impl Lxd {
    /// Removes instance `name` within `budget` and returns once LXD neither knows it nor
    /// runs an operation on it (a missing instance is removed already). After `budget`,
    /// or sooner when LXD keeps refusing while nothing runs on it, the last reason it is
    /// still there (e.g. `Busy` while a create still runs): the caller keeps its record of
    /// the instance and tries again later.
    pub async fn remove(&self, name: &str, budget: Duration) -> Result<(), LxdError> {
        let deadline = Instant::now() + budget;
        let mut pause = FIRST_PAUSE;
        let mut refused = 0;
        loop {
            let why = match self.removal_round(name, deadline).await {
                Ok(Round::Gone) => return Ok(()),
                Ok(Round::Progress) => None,
                Err(e) => Some(e),
            };
            // an operation to wait out is worth the whole budget; a refusal with nothing
            // running (a protected container, a broken storage pool) is not
            refused = match &why {
                Some(LxdError::Busy(_)) | None => 0,
                Some(_) => refused + 1,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || refused >= MAX_REFUSALS {
                return Err(why.unwrap_or(LxdError::Timeout));
            }
            if why.is_some() {
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(MAX_PAUSE);
            } else {
                pause = FIRST_PAUSE;
            }
        }
    }

    async fn removal_round(&self, name: &str, deadline: Instant) -> Result<Round, LxdError> {
        let slice = || {
            deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_secs(1), SLICE)
        };
        let ops = self.operations_on(name).await?;
        let inst = self.instance(name).await?;
        let Some(inst) = inst else {
            if ops.is_empty() {
                return Ok(Round::Gone);
            }
            // a create that has not written the instance yet: wait for it below
            return self.wait_out(&ops, slice()).await;
        };
        if !ops.is_empty() {
            // A forced stop ends what runs inside (an exec, an init that waits); LXD
            // refuses it while a create or a start holds the instance, which then has
            // to be waited for.
            if !inst.status.is_stopped() {
                let _ = self.set_state(name, StateAction::Stop, true, slice()).await;
            }
            return self.wait_out(&ops, slice()).await;
        }
        if !inst.status.is_stopped() {
            self.set_state(name, StateAction::Stop, true, slice())
                .await?;
        }
        match self.delete(name, slice()).await {
            Ok(()) | Err(LxdError::NotFound(_)) => Ok(Round::Progress),
            Err(e) => Err(e),
        }
    }

    /// Cancels what LXD lets be cancelled and waits for the rest, up to `wait` each.
    async fn wait_out(&self, ops: &[super::Operation], wait: Duration) -> Result<Round, LxdError> {
        for op in ops.iter().filter(|op| op.may_cancel) {
            if let Err(e) = self.cancel_operation(&op.id).await {
                log::debug!("lxd: cancelling operation {} failed: {e}", op.id);
            }
        }
        for op in ops {
            if !self.wait_operation(&op.id, wait).await? {
                return Err(LxdError::Busy(op.description.clone()));
            }
        }
        Ok(Round::Progress)
    }
}
