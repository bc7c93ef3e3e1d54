//! Terminal sessions on instances, from either door (the SSH jumpbox, the browser
//! terminal): a `sessions` row while one lasts, and audit events when it starts and ends.

use super::OpsError;
use super::audit::{self, Origin};
use crate::db::{self, instances::InstanceView, sessions::NewSession};
use crate::docker::exec::ShellControl;
use crate::domain::ids::InstanceId;
use crate::ops::Context;

pub use crate::db::sessions::Outcome;

/// An open session, to be ended with `end`.
#[derive(Debug)]
pub struct Opened {
    pub id: i64,
    origin: Origin,
    instance_id: InstanceId,
    instance_name: String,
}

/// Records the start of a shell (`command` empty) or a one-shot command on `inst`.
pub async fn begin(
    state: &Context,
    origin: &Origin,
    inst: &InstanceView,
    command: &str,
) -> Result<Opened, OpsError> {
    let row = NewSession {
        user_id: origin.user_id,
        username: origin.username.clone(),
        source_ip: origin.ip.clone(),
        instance_id: Some(inst.id),
        instance_name: inst.name.clone(),
        node_name: inst.node_name.clone(),
        protocol: origin.door.to_string(),
        command: command.to_string(),
    };
    let id = db::run(&state.pool, move |c| db::sessions::open(c, &row)).await?;
    let mut event = origin.event("connect", 200, format!("session {id}"));
    event.resource_type = "instance".into();
    event.resource_id = inst.id.to_string();
    audit::record(state, event).await;
    Ok(Opened {
        id,
        origin: origin.clone(),
        instance_id: inst.id,
        instance_name: inst.name.clone(),
    })
}

/// The program ended by itself: its exit code (when the engine recorded one) goes on
/// the row with the counts, reason "exit". Returns the code.
pub async fn end_exited(
    state: &Context,
    s: Opened,
    control: &ShellControl,
    mut outcome: Outcome,
) -> Option<i64> {
    let code = match control.exit_code().await {
        Ok(code) => code,
        Err(e) => {
            log::warn!(session = s.id; "exit code unknown: {e}");
            None
        }
    };
    outcome.exit_code = code.and_then(|c| i32::try_from(c).ok());
    end(state, s, outcome, "exit").await;
    code
}

/// Records the end: byte counts, exit code and why (exit, client, idle, revoked, error,
/// limit). A failed write is logged: the session is over either way.
pub async fn end(state: &Context, s: Opened, outcome: Outcome, reason: &'static str) {
    let id = s.id;
    if let Err(e) = db::run(&state.pool, move |c| {
        db::sessions::close(c, id, outcome, reason)
    })
    .await
    {
        log::error!(session = id; "closing the session row failed: {e}");
    }
    let detail = format!(
        "session {id} {}: {reason}, {} bytes in, {} bytes out",
        s.instance_name, outcome.bytes_in, outcome.bytes_out
    );
    let mut event = s.origin.event("disconnect", 200, detail);
    event.resource_type = "instance".into();
    event.resource_id = s.instance_id.to_string();
    audit::record(state, event).await;
}
