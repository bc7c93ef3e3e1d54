//! Writing audit records. A failed audit write is logged, never shown to the user:
//! the action it describes has already happened.

use super::{Context, OpsError};
use crate::db::audit::{AuditFilter, AuditLog};
use crate::db::{self, audit::NewAuditLog};
use crate::domain::ids::UserId;
use crate::domain::listing::Page;

pub async fn record(state: &Context, entry: NewAuditLog) {
    let action = entry.action.clone();
    if let Err(e) = db::run(&state.pool, move |conn| db::audit::insert(conn, &entry)).await {
        log::error!(action = action.as_str(); "audit write failed: {e}");
    }
}

/// A page of the audit log as `filter` narrows it, and every resource type recorded
/// (the filter's choices).
pub async fn list(
    state: &Context,
    filter: AuditFilter,
    page: i64,
) -> Result<(Page<AuditLog>, Vec<String>), OpsError> {
    let per = state.settings.server.page_size;
    Ok(db::run(&state.pool, move |c| {
        Ok((
            db::audit::list(c, &filter, page, per)?,
            db::audit::resource_types(c)?,
        ))
    })
    .await?)
}

/// Where a request came from and who made it, for events the ops record themselves.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub user_id: Option<UserId>,
    pub username: String,
    pub role: String,
    pub ip: String,
    /// the door the event came through ("ssh" for the jumpbox; web requests carry their
    /// own method and path)
    pub door: &'static str,
}

impl Origin {
    /// Who acts through `door`: a user (`user_id`), or a caller not known as one (a login
    /// attempt under the name it gave, the ZJMF plugin).
    pub fn new(
        user_id: Option<UserId>,
        username: impl Into<String>,
        role: impl Into<String>,
        ip: impl Into<String>,
        door: &'static str,
    ) -> Origin {
        Origin {
            user_id,
            username: username.into(),
            role: role.into(),
            ip: ip.into(),
            door,
        }
    }

    /// The same caller through another door of the same connection (the jumpbox's
    /// "sftp" and "tunnel" channels): sessions rows and audit events name it.
    pub fn through(&self, door: &'static str) -> Origin {
        Origin {
            door,
            ..self.clone()
        }
    }

    pub fn event(&self, action: &str, status: i32, detail: impl Into<String>) -> NewAuditLog {
        NewAuditLog {
            user_id: self.user_id,
            username: self.username.clone(),
            role: self.role.clone(),
            ip: self.ip.clone(),
            method: self.door.to_uppercase(),
            action: action.to_string(),
            resource_type: "session".into(),
            status,
            detail: detail.into(),
            ..NewAuditLog::default()
        }
    }
}
