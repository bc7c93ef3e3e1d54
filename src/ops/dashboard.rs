//! The home dashboards: the admin's view of the whole installation, a customer's of
//! their instances (an owner's company, a member's own).

use super::OpsError;
use crate::db::audit::{AuditFilter, AuditLog};
use crate::db::dashboard::{Checklist, Failure, GpuModel, NodeCounts};
use crate::db::instances::{self, Held};
use crate::db::{self, dashboard};
use crate::domain::access::{Actor, Scope, scope};
use crate::domain::lifecycle::StateCount;
use crate::ops::Context;

/// How many recent failures and audit events the admin's home shows.
pub const RECENT: i64 = 6;

pub struct AdminDashboard {
    pub checklist: Checklist,
    pub nodes: NodeCounts,
    pub gpus: Vec<GpuModel>,
    pub states: Vec<StateCount>,
    pub held: Held,
    pub failures: Vec<Failure>,
    pub audit: Vec<AuditLog>,
}

pub struct CustomerDashboard {
    pub states: Vec<StateCount>,
    pub held: Held,
}

pub async fn admin(state: &Context) -> Result<AdminDashboard, OpsError> {
    Ok(db::run(&state.pool, |c| {
        Ok(AdminDashboard {
            checklist: dashboard::checklist(c)?,
            nodes: dashboard::node_counts(c)?,
            gpus: dashboard::gpu_models(c)?,
            states: instances::states(c, Scope::All)?,
            held: instances::held(c, Scope::All)?,
            failures: dashboard::failures(c, RECENT)?,
            audit: db::audit::list(c, &AuditFilter::default(), 1, RECENT)?.rows,
        })
    })
    .await?)
}

pub async fn customer(state: &Context, actor: &Actor) -> Result<CustomerDashboard, OpsError> {
    let scope = scope(actor);
    Ok(db::run(&state.pool, move |c| {
        Ok(CustomerDashboard {
            states: instances::states(c, scope)?,
            held: instances::held(c, scope)?,
        })
    })
    .await?)
}
