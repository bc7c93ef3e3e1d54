//! The audit_logs table: append-only records of mutating requests and login events.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::audit_logs as al;
use crate::domain::audit::Door;
use crate::domain::ids::UserId;
use crate::domain::listing::{Page, like_pattern};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = al)]
pub struct AuditLog {
    pub id: i64,
    pub user_id: Option<UserId>,
    pub username: String,
    pub role: String,
    pub ip: String,
    pub method: String,
    pub path: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub status: i32,
    pub detail: String,
    pub created_at: DateTime<Utc>,
    /// `Door::code`: web, ssh or api
    pub door: String,
}

#[derive(Clone, Debug, Default, Insertable)]
#[diesel(table_name = al)]
pub struct NewAuditLog {
    pub user_id: Option<UserId>,
    pub username: String,
    pub role: String,
    pub ip: String,
    pub method: String,
    pub path: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub status: i32,
    pub detail: String,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// part of the username
    pub user: String,
    pub resource_type: String,
    pub door: Option<Door>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Writes `entry` with the door it came through (`Door::of` its method and path).
pub fn insert(conn: &mut PgConnection, entry: &NewAuditLog) -> Result<(), DbError> {
    let door = Door::of(&entry.method, &entry.path).code();
    diesel::insert_into(al::table)
        .values((entry, al::door.eq(door)))
        .execute(conn)?;
    Ok(())
}

pub fn list(
    conn: &mut PgConnection,
    f: &AuditFilter,
    page: i64,
    per_page: i64,
) -> Result<Page<AuditLog>, DbError> {
    let filtered = || {
        let mut q = al::table.into_boxed();
        if !f.user.is_empty() {
            q = q.filter(al::username.ilike(like_pattern(&f.user)));
        }
        if !f.resource_type.is_empty() {
            q = q.filter(al::resource_type.eq(f.resource_type.clone()));
        }
        if let Some(door) = f.door {
            q = q.filter(al::door.eq(door.code()));
        }
        if let Some(from) = f.from {
            q = q.filter(al::created_at.ge(from));
        }
        if let Some(to) = f.to {
            q = q.filter(al::created_at.lt(to));
        }
        q
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order((al::created_at.desc(), al::id.desc()))
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select(AuditLog::as_select())
        .load(conn)?;
    Ok(Page {
        rows,
        total,
        page,
        per_page,
    })
}

/// The resource types seen so far, for the filter's drop-down.
pub fn resource_types(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    Ok(al::table
        .filter(al::resource_type.ne(""))
        .select(al::resource_type)
        .distinct()
        .order(al::resource_type)
        .load(conn)?)
}
