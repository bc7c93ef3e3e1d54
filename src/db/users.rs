//! The users table: rows, inserts and every query on it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{companies, users};
use super::{DbError, found};
use crate::domain::access::Role;
use crate::domain::auth::Claim;
use crate::domain::ids::{CompanyId, UserId};
use crate::domain::listing::{Page, like_pattern};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub company_id: Option<CompanyId>,
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

    /// Minutes until the login lock lifts, None when not locked.
    pub fn lock_minutes_left(&self) -> Option<i64> {
        crate::domain::auth::lock_minutes_left(self.locked_until, Utc::now())
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub company_id: Option<CompanyId>,
    pub must_change_password: bool,
}

#[derive(AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserChanges<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub company_id: Option<CompanyId>,
}

/// A user row with its company name, for the admin list.
pub struct UserListRow {
    pub user: User,
    pub company: Option<String>,
}

pub fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn find(conn: &mut PgConnection, id: UserId) -> Result<User, DbError> {
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

pub fn insert(conn: &mut PgConnection, new: &NewUser) -> Result<User, DbError> {
    Ok(diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)?)
}

pub fn update(conn: &mut PgConnection, id: UserId, changes: &UserChanges) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set(changes)
        .execute(conn)?;
    found(n)
}

/// New password hash; every live session ends (the epoch moves).
pub fn set_password(
    conn: &mut PgConnection,
    id: UserId,
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

/// Every live stream of the user (terminals, jumpbox shells) ends at its next re-check.
pub fn bump_epoch(conn: &mut PgConnection, id: UserId) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set(users::session_epoch.eq(users::session_epoch + 1))
        .execute(conn)?;
    found(n)
}

pub fn set_disabled(conn: &mut PgConnection, id: UserId, disabled: bool) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::disabled.eq(disabled),
            users::session_epoch.eq(users::session_epoch + 1),
        ))
        .execute(conn)?;
    found(n)
}

/// Claims one password check of the account, in one statement: counted as a failure up
/// front (a success takes it back), and refused when the account is locked or
/// `threshold` checks are already counted (failed, or still running: Busy). An expired
/// lock starts a fresh count.
pub fn claim_attempt(
    conn: &mut PgConnection,
    id: UserId,
    threshold: i32,
) -> Result<Claim, DbError> {
    let claimed = diesel::sql_query(
        "UPDATE users SET \
           failed_logins = CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END, \
           locked_until = NULL \
         WHERE id = $1 \
           AND ((locked_until IS NULL AND failed_logins < $2) OR locked_until <= now())",
    )
    .bind::<diesel::sql_types::BigInt, _>(id)
    .bind::<diesel::sql_types::Integer, _>(threshold)
    .execute(conn)?;
    if claimed == 1 {
        return Ok(Claim::Claimed);
    }
    let locked: Option<Option<DateTime<Utc>>> = users::table
        .find(id)
        .select(users::locked_until)
        .first(conn)
        .optional()?;
    Ok(match locked {
        Some(Some(until)) if until > Utc::now() => Claim::Locked,
        // gone: nothing to wait for
        None => Claim::Locked,
        _ => Claim::Busy,
    })
}

/// A claimed check failed: once `threshold` are counted the account locks for
/// `window_secs`. True when this failure locked it.
pub fn fail_attempt(
    conn: &mut PgConnection,
    id: UserId,
    threshold: i32,
    window_secs: i64,
) -> Result<bool, DbError> {
    let locked = diesel::sql_query(
        "UPDATE users SET locked_until = now() + make_interval(secs => $3) \
         WHERE id = $1 AND failed_logins >= $2 AND locked_until IS NULL",
    )
    .bind::<diesel::sql_types::BigInt, _>(id)
    .bind::<diesel::sql_types::Integer, _>(threshold)
    .bind::<diesel::sql_types::Double, _>(window_secs as f64)
    .execute(conn)?;
    Ok(locked == 1)
}

/// A claimed check succeeded: the count starts again, unless the account locked
/// meanwhile (a success never lifts a lock). False: locked, refuse the login.
pub fn succeed_attempt(conn: &mut PgConnection, id: UserId) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id).filter(users::locked_until.is_null()))
        .set((
            users::failed_logins.eq(0),
            users::last_login_at.eq(Some(Utc::now())),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// An admin lifts a lock (and the failure count).
pub fn unlock(conn: &mut PgConnection, id: UserId) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    found(n)
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
