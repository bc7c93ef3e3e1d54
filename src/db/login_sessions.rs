//! The login_sessions table: browser logins kept server-side. The cookie holds a random
//! id; rows hold only its hash. A session is live while it has not ended and is younger
//! than the configured maximum age.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{login_sessions, users};
use super::users::User;
use crate::domain::ids::UserId;

/// Ended and expired rows are kept this long (for the user's own review), then pruned.
const KEEP_DAYS: i64 = 30;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = login_sessions)]
pub struct LoginSession {
    pub id: i64,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
}

fn born_after(max_age_secs: i64) -> DateTime<Utc> {
    Utc::now() - Duration::seconds(max_age_secs)
}

/// A new session of `user_id`; its id.
pub fn insert(
    conn: &mut PgConnection,
    token_hash: &str,
    user_id: UserId,
    ip: &str,
    user_agent: &str,
) -> Result<i64, DbError> {
    Ok(diesel::insert_into(login_sessions::table)
        .values((
            login_sessions::token_hash.eq(token_hash),
            login_sessions::user_id.eq(user_id),
            login_sessions::ip.eq(ip),
            login_sessions::user_agent.eq(user_agent),
        ))
        .returning(login_sessions::id)
        .get_result(conn)?)
}

/// The live session whose cookie id hashes to `token_hash`, with its user.
pub fn find_live(
    conn: &mut PgConnection,
    token_hash: &str,
    max_age_secs: i64,
) -> Result<Option<(LoginSession, User)>, DbError> {
    Ok(login_sessions::table
        .inner_join(users::table)
        .filter(login_sessions::token_hash.eq(token_hash))
        .filter(login_sessions::ended_at.is_null())
        .filter(login_sessions::created_at.gt(born_after(max_age_secs)))
        .select((LoginSession::as_select(), User::as_select()))
        .first(conn)
        .optional()?)
}

/// Is session `id` still live?
pub fn is_live(conn: &mut PgConnection, id: i64, max_age_secs: i64) -> Result<bool, DbError> {
    let n: i64 = login_sessions::table
        .filter(login_sessions::id.eq(id))
        .filter(login_sessions::ended_at.is_null())
        .filter(login_sessions::created_at.gt(born_after(max_age_secs)))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

/// Notes that session `id` was just used (from `ip`).
pub fn touch(conn: &mut PgConnection, id: i64, ip: &str) -> Result<(), DbError> {
    diesel::update(login_sessions::table.find(id))
        .set((
            login_sessions::last_seen_at.eq(Utc::now()),
            login_sessions::ip.eq(ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends session `id` of `user_id` (a row of someone else is not found: false).
pub fn end(
    conn: &mut PgConnection,
    id: i64,
    user_id: UserId,
    reason: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(
        login_sessions::table
            .find(id)
            .filter(login_sessions::user_id.eq(user_id))
            .filter(login_sessions::ended_at.is_null()),
    )
    .set((
        login_sessions::ended_at.eq(Some(Utc::now())),
        login_sessions::end_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Ends every live session of `user_id` but `keep`; how many ended.
pub fn end_all(
    conn: &mut PgConnection,
    user_id: UserId,
    keep: Option<i64>,
    reason: &str,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        login_sessions::table
            .filter(login_sessions::user_id.eq(user_id))
            .filter(login_sessions::ended_at.is_null())
            .filter(login_sessions::id.ne(keep.unwrap_or(0))),
    )
    .set((
        login_sessions::ended_at.eq(Some(Utc::now())),
        login_sessions::end_reason.eq(reason),
    ))
    .execute(conn)?)
}

/// The live sessions of `user_id`, most recently used first.
pub fn live_of(
    conn: &mut PgConnection,
    user_id: UserId,
    max_age_secs: i64,
) -> Result<Vec<LoginSession>, DbError> {
    Ok(login_sessions::table
        .filter(login_sessions::user_id.eq(user_id))
        .filter(login_sessions::ended_at.is_null())
        .filter(login_sessions::created_at.gt(born_after(max_age_secs)))
        .order(login_sessions::last_seen_at.desc())
        .select(LoginSession::as_select())
        .load(conn)?)
}

/// Forgets `user_id`'s sessions that ended or started more than `KEEP_DAYS` ago.
pub fn prune(conn: &mut PgConnection, user_id: UserId) -> Result<(), DbError> {
    let cutoff = Utc::now() - Duration::days(KEEP_DAYS);
    diesel::delete(
        login_sessions::table
            .filter(login_sessions::user_id.eq(user_id))
            .filter(
                login_sessions::created_at
                    .lt(cutoff)
                    .or(login_sessions::ended_at.lt(cutoff)),
            ),
    )
    .execute(conn)?;
    Ok(())
}
