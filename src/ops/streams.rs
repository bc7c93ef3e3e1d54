//! Logs and interactive shells of instances, shared by the web pages and the SSH
//! jumpbox (#5). The caller loads the instance with `instances::get` and the actor first
//! (someone else's instance is not found); these check its state and open the engine side.

use chrono::Utc;

use super::{OpsError, instances};
use crate::db::{self, DbError, instances::InstanceView};
use crate::docker::exec::{self, Program, Shell, TermSize};
use crate::docker::logs::{self, LogOptions, LogStream};
use crate::docker::{self, DockerError};
use crate::domain::access::{Actor, route_allows, scope};
use crate::domain::auth::session_holds;
use crate::domain::ids::{InstanceId, UserId};

/// Who holds a long-lived stream, as their session said at the handshake.
#[derive(Clone, Debug)]
pub struct Holder {
    pub user_id: UserId,
    /// the user's session epoch at login (a password change or reset moves it)
    pub epoch: i32,
    /// login time, unix seconds
    pub login_at: i64,
    /// the browser login session (None for the jumpbox: its connection is the session)
    pub login_session: Option<i64>,
    /// the route pattern the stream was opened on (its api_permissions record)
    pub route: String,
}

/// For a stream that outlives its handshake, what the gate checked then, again: the user
/// is still enabled, their password was not changed or reset since (epoch), the session
/// has not expired, their current role still has the route, and they still see the
/// instance.
pub async fn still_allowed(
    state: &crate::ops::Context,
    h: &Holder,
    instance_id: InstanceId,
) -> Result<bool, OpsError> {
    // SECURITY: disabling a user or resetting a password ends their open terminals too.
    let max_age = state.settings.security.session_hours * 3600;
    let (uid, epoch, login_at, login_session) = (h.user_id, h.epoch, h.login_at, h.login_session);
    let allowed = crate::ops::permissions::allowed_roles(state, "GET", &h.route).await?;
    Ok(db::run(&state.pool, move |c| {
        let u = match db::users::find(c, uid) {
            Ok(u) => u,
            Err(DbError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        let now = Utc::now().timestamp();
        if !session_holds(u.disabled, u.session_epoch, epoch, login_at, now, max_age) {
            return Ok(false);
        }
        // SECURITY: a logged-out or ended browser session closes its sockets too
        if let Some(id) = login_session
            && !db::login_sessions::is_live(c, id, max_age)?
        {
            return Ok(false);
        }
        let role = u.role();
        if !allowed.is_some_and(|a| route_allows(&a, Some(role))) {
            return Ok(false);
        }
        let actor = Actor {
            user_id: u.id,
            role,
            company_id: u.company_id,
        };
        match db::instances::find(c, scope(&actor), instance_id) {
            Ok(_) => Ok(true),
            Err(DbError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await?)
}

/// Re-checks the holder (`still_allowed`) every `every` until the stream ends (the
/// receiver of `verdict` is dropped) or the check fails, which it reports. A database
/// hiccup does not cut open sessions: the next check decides.
pub async fn watch(
    state: std::sync::Arc<crate::ops::Context>,
    holder: Holder,
    instance: InstanceId,
    every: std::time::Duration,
    mut verdict: tokio::sync::oneshot::Sender<()>,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = verdict.closed() => return,
            _ = ticks.tick() => match still_allowed(&state, &holder, instance).await {
                Ok(true) => {}
                Ok(false) => {
                    let _ = verdict.send(());
                    return;
                }
                Err(e) => log::warn!(instance = instance; "stream re-check failed: {e}"),
            },
        }
    }
}

/// The container exists: the instance is ready (its container may be stopped).
pub fn has_container(inst: &InstanceView) -> Result<(), OpsError> {
    if !inst.phase.is_ready() || inst.container_id.is_empty() {
        return Err(OpsError::Refused("instance.not_ready"));
    }
    Ok(())
}

/// A shell needs a running container (as far as the status worker last saw).
pub fn is_running(inst: &InstanceView) -> Result<(), OpsError> {
    has_container(inst)?;
    if !inst.status.is_running() {
        return Err(OpsError::Refused("stream.not_running"));
    }
    Ok(())
}

/// Opens bash (or sh), or one command, in the instance's container: on a TTY of that
/// size when `tty` is given.
pub async fn exec(
    state: &crate::ops::Context,
    inst: &InstanceView,
    program: Program<'_>,
    tty: Option<TermSize>,
) -> Result<Shell, OpsError> {
    is_running(inst)?;
    let ep = instances::endpoint(state, inst.node_id).await?;
    let d = docker::connect(&ep).await?;
    match exec::open(&d, &inst.container_id, program, tty).await {
        // the container stopped since the status worker last looked
        Err(DockerError::Engine(m)) if m.contains("is not running") || m.contains("is paused") => {
            Err(OpsError::Refused("stream.not_running"))
        }
        other => Ok(other?),
    }
}

/// The container's log (followed or not). Errors of the engine arrive on the stream.
pub async fn logs(
    state: &crate::ops::Context,
    inst: &InstanceView,
    opts: LogOptions,
) -> Result<LogStream, OpsError> {
    has_container(inst)?;
    let ep = instances::endpoint(state, inst.node_id).await?;
    let d = docker::connect(&ep).await?;
    Ok(logs::stream(&d, &inst.container_id, opts))
}
