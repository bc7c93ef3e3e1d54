//! The admin's API permission table: toggling one role on one route.

use super::OpsError;
use crate::db::{self, permissions::Permission};
use crate::domain::access::ROLE_LABELS;
use crate::startup::AppState;

/// Routes that must stay open to admins, or nobody could undo a mistake.
const ADMIN_LIFELINES: &[&str] = &[
    "/permissions",
    "/permissions/{id}/roles/{role}",
    "/login",
    "/password",
    "/",
];

pub async fn toggle_role(state: &AppState, id: i64, role: &str) -> Result<Permission, OpsError> {
    if !ROLE_LABELS.contains(&role) {
        return Err(OpsError::NotFound);
    }
    let role = role.to_string();
    db::transaction(&state.pool, move |c| {
        let p = db::permissions::find(c, id)?;
        let mut roles = p.allowed_roles.clone();
        if let Some(i) = roles.iter().position(|r| *r == role) {
            if role == "admin" && ADMIN_LIFELINES.contains(&p.path_pattern.as_str()) {
                return Ok(Err(OpsError::Refused("permissions.lifeline")));
            }
            roles.remove(i);
        } else {
            roles.push(role);
        }
        Ok(Ok(db::permissions::set_roles(c, id, &roles)?))
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))?
}

pub async fn all(state: &AppState) -> Result<Vec<Permission>, OpsError> {
    Ok(db::run(&state.pool, db::permissions::all).await?)
}
