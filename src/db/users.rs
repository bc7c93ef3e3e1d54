//! The users table: rows, inserts and every query on it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{companies, users};
use super::{DbError, found};
use crate::domain::access::Role;
use crate::domain::listing::{Page, like_pattern};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub company_id: Option<i64>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub session_epoch: i32,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// Unknown role strings cannot occur (foreign key to roles); treat as the least privilege.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::CustomerMember)
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub company_id: Option<i64>,
    pub must_change_password: bool,
}

#[derive(AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserChanges<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub company_id: Option<i64>,
}

/// A user row with its company name, for the admin list.
pub struct UserListRow {
    pub user: User,
    pub company: Option<String>,
}

pub fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<User, DbError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)?)
}

pub fn find_by_username(conn: &mut PgConnection, name: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .filter(users::username.eq(name))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Locks the row for the rest of the transaction (login counters are read-modify-write).
pub fn find_for_update(conn: &mut PgConnection, id: i64) -> Result<User, DbError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .for_update()
        .first(conn)?)
}

pub fn insert(conn: &mut PgConnection, new: &NewUser) -> Result<User, DbError> {
    Ok(diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)?)
}

pub fn update(conn: &mut PgConnection, id: i64, changes: &UserChanges) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set(changes)
        .execute(conn)?;
    found(n)
}

/// New password hash; every live session ends (the epoch moves).
pub fn set_password(
    conn: &mut PgConnection,
    id: i64,
    hash: &str,
    must_change: bool,
) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::must_change_password.eq(must_change),
            users::session_epoch.eq(users::session_epoch + 1),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    found(n)
}

pub fn set_disabled(conn: &mut PgConnection, id: i64, disabled: bool) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::disabled.eq(disabled),
            users::session_epoch.eq(users::session_epoch + 1),
        ))
        .execute(conn)?;
    found(n)
}

pub fn record_failure(
    conn: &mut PgConnection,
    id: i64,
    failed_logins: i32,
    locked_until: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(failed_logins),
            users::locked_until.eq(locked_until),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn record_success(conn: &mut PgConnection, id: i64, now: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<DateTime<Utc>>),
            users::last_login_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Admin list: search in username and display name, newest first.
pub fn list(
    conn: &mut PgConnection,
    q: &str,
    page: i64,
    per_page: i64,
) -> Result<Page<UserListRow>, DbError> {
    let filtered = || {
        let mut query = users::table.left_join(companies::table).into_boxed();
        if !q.is_empty() {
            let pat = like_pattern(q);
            query = query.filter(
                users::username
                    .ilike(pat.clone())
                    .or(users::display_name.ilike(pat)),
            );
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order(users::id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((User::as_select(), companies::name.nullable()))
        .load::<(User, Option<String>)>(conn)?
        .into_iter()
        .map(|(user, company)| UserListRow { user, company })
        .collect();
    Ok(Page {
        rows,
        total,
        page,
        per_page,
    })
}
