//! The admin's API permission table: toggling one role on one route; and the records as
//! the gate, the buttons of the instance pages and open terminals read them, held in
//! memory (`Records`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::OpsError;
use crate::db::{self, DbError, permissions::Permission};
use crate::domain::access::{ROLE_LABELS, Role, route_allows};
use crate::domain::routes::{self, Route};
use crate::ops::Context;

/// Routes that must stay open to admins, or nobody could undo a mistake.
const ADMIN_LIFELINES: &[&str] = &[
    routes::GET_PERMISSIONS.pattern,
    routes::POST_PERMISSIONS_ID_ROLES_ROLE.pattern,
    routes::GET_LOGIN.pattern,
    routes::GET_PASSWORD.pattern,
    routes::GET_ROOT.pattern,
];

pub async fn toggle_role(state: &Context, id: i64, role: &str) -> Result<Permission, OpsError> {
    if !ROLE_LABELS.contains(&role) {
        return Err(OpsError::NotFound);
    }
    let role = role.to_string();
    let written = |e| OpsError::from_write(e, "id");
    let changed = db::transaction_with(&state.pool, move |c| {
        let p = db::permissions::find(c, id).map_err(written)?;
        let mut roles = p.allowed_roles.clone();
        if let Some(i) = roles.iter().position(|r| *r == role) {
            if role == "admin" && ADMIN_LIFELINES.contains(&p.path_pattern.as_str()) {
                return Err(OpsError::Refused("permissions.lifeline"));
            }
            roles.remove(i);
        } else {
            roles.push(role);
        }
        db::permissions::set_roles(c, id, &roles).map_err(written)
    })
    .await?;
    state.routes.forget();
    Ok(changed)
}

pub async fn all(state: &Context) -> Result<Vec<Permission>, OpsError> {
    Ok(db::run(&state.pool, db::permissions::all).await?)
}

/// The records of one module (`routes::module`), for the permissions page.
#[derive(Debug)]
pub struct Group {
    pub module: String,
    pub rows: Vec<Permission>,
}

/// The records grouped by module, `module`'s alone when given; and every module that
/// has records (the filter's choices).
pub async fn grouped(
    state: &Context,
    module: Option<&str>,
) -> Result<(Vec<Group>, Vec<String>), OpsError> {
    let groups = by_module(all(state).await?);
    let modules = groups.iter().map(|g| g.module.clone()).collect();
    let shown = groups
        .into_iter()
        .filter(|g| module.is_none_or(|m| g.module == m))
        .collect();
    Ok((shown, modules))
}

/// Groups `rows` (in path order) by module: the modules in `routes::MODULES` order, any
/// other (a record added by hand) after them by name.
fn by_module(rows: Vec<Permission>) -> Vec<Group> {
    let rank = |m: &str| {
        routes::MODULES
            .iter()
            .position(|known| *known == m)
            .unwrap_or(routes::MODULES.len())
    };
    let mut groups: Vec<Group> = Vec::new();
    for p in rows {
        let module = routes::module(&p.path_pattern).to_string();
        match groups.iter_mut().find(|g| g.module == module) {
            Some(g) => g.rows.push(p),
            None => groups.push(Group {
                module,
                rows: vec![p],
            }),
        }
    }
    groups.sort_by(|a, b| (rank(&a.module), &a.module).cmp(&(rank(&b.module), &b.module)));
    groups
}

/// How long the gate serves records read from the table. A change made on the admin page
/// applies at once; one made another way (SQL by hand) within this time.
const RECORDS_TTL: Duration = Duration::from_secs(2);

/// The allowed roles by method, then route pattern: looked up with the request's `&str`s,
/// so the gate allocates nothing for it.
#[derive(Debug, Default)]
struct Table(HashMap<String, HashMap<String, Vec<String>>>);

impl Table {
    fn get(&self, method: &str, pattern: &str) -> Option<&Vec<String>> {
        self.0.get(method)?.get(pattern)
    }
}

impl FromIterator<Permission> for Table {
    fn from_iter<I: IntoIterator<Item = Permission>>(rows: I) -> Self {
        let mut t = Table::default();
        for p in rows {
            t.0.entry(p.method)
                .or_default()
                .insert(p.path_pattern, p.allowed_roles);
        }
        t
    }
}

/// The api_permissions records in memory, so that a request costs the gate no database
/// round trip (an /api/ call or an anonymous page none at all). Read whole when missing or
/// older than `RECORDS_TTL`; `forget` after every change.
#[derive(Debug, Default)]
pub struct Records(Mutex<RecordsInner>);

#[derive(Debug, Default)]
struct RecordsInner {
    table: Option<(Instant, Arc<Table>)>,
    /// bumped by `forget`: a read that began before it is not kept
    generation: u64,
}

impl Records {
    fn inner(&self) -> std::sync::MutexGuard<'_, RecordsInner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn forget(&self) {
        let mut inner = self.inner();
        inner.table = None;
        inner.generation += 1;
    }

    fn fresh(&self, now: Instant) -> Result<Arc<Table>, u64> {
        let inner = self.inner();
        match &inner.table {
            Some((read, table)) if now.saturating_duration_since(*read) < RECORDS_TTL => {
                Ok(Arc::clone(table))
            }
            _ => Err(inner.generation),
        }
    }

    fn keep(&self, table: Arc<Table>, read: Instant, generation: u64) {
        let mut inner = self.inner();
        if inner.generation == generation {
            inner.table = Some((read, table));
        }
    }
}

/// The records, from memory unless missing or too old.
async fn table(state: &Context) -> Result<Arc<Table>, DbError> {
    let read = Instant::now();
    match state.routes.fresh(read) {
        Ok(table) => Ok(table),
        Err(generation) => {
            let rows = db::run(&state.pool, db::permissions::all).await?;
            let table: Arc<Table> = Arc::new(rows.into_iter().collect());
            state.routes.keep(Arc::clone(&table), read, generation);
            Ok(table)
        }
    }
}

/// The roles allowed on a route; None when the route has no record (deny).
pub async fn allowed_roles(
    state: &Context,
    method: &str,
    pattern: &str,
) -> Result<Option<Vec<String>>, DbError> {
    Ok(table(state).await?.get(method, pattern).cloned())
}

/// The methods that have a record for `pattern`, sorted (what a 405 offers instead).
pub async fn methods_of(state: &Context, pattern: &str) -> Result<Vec<String>, DbError> {
    let table = table(state).await?;
    let mut methods: Vec<String> = table
        .0
        .iter()
        .filter(|(_, routes)| routes.contains_key(pattern))
        .map(|(method, _)| method.clone())
        .collect();
    methods.sort();
    Ok(methods)
}

/// What `role` may call, decided as the gate decides it: a test of (method, pattern),
/// for hiding the buttons of actions it would be refused.
pub async fn permits(
    state: &Context,
    role: Role,
) -> Result<impl Fn(Route) -> bool + use<>, DbError> {
    let table = table(state).await?;
    Ok(move |route: Route| {
        table
            .get(route.method.as_str(), route.pattern)
            .is_some_and(|allowed| route_allows(allowed, Some(role)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_group_by_module_in_page_order() {
        let p = |method: &str, path: &str| Permission {
            id: 0,
            method: method.into(),
            path_pattern: path.into(),
            description: String::new(),
            allowed_roles: Vec::new(),
        };
        let rows = vec![
            p("GET", "/audit"),
            p("GET", "/images"),
            p("POST", "/images/{id}"),
            p("GET", "/instances"),
            p("GET", "/login"),
            p("GET", "/zzz"),
            p("GET", "/"),
            p("GET", "/extra"),
        ];
        let groups = by_module(rows);
        let shape: Vec<(&str, usize)> = groups
            .iter()
            .map(|g| (g.module.as_str(), g.rows.len()))
            .collect();
        assert_eq!(
            shape,
            [
                ("general", 1),
                ("account", 1),
                ("instances", 1),
                ("images", 2),
                ("audit", 1),
                ("extra", 1),
                ("zzz", 1)
            ]
        );
    }

    fn table(roles: &[&str]) -> Arc<Table> {
        let roles = roles.iter().map(|r| r.to_string()).collect();
        Arc::new(Table([("GET".into(), [("/".into(), roles)].into())].into()))
    }

    #[test]
    fn records_are_served_until_too_old_or_forgotten() {
        let r = Records::default();
        let t0 = Instant::now();
        let generation = r.fresh(t0).unwrap_err();
        r.keep(table(&["admin"]), t0, generation);
        assert!(r.fresh(t0 + Duration::from_secs(1)).is_ok());
        assert!(r.fresh(t0 + RECORDS_TTL).is_err(), "too old");
        r.forget();
        assert!(r.fresh(t0).is_err(), "forgotten");
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let r = Records::default();
        let t0 = Instant::now();
        let generation = r.fresh(t0).unwrap_err();
        r.forget(); // an admin's change lands while the read is under way
        r.keep(table(&["admin"]), t0, generation);
        assert!(r.fresh(t0).is_err());
    }
}
