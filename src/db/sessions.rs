//! The sessions table: one row per shell or command on an instance, opened by the SSH
//! jumpbox or the browser terminal, closed with its byte counts and why it ended.

use chrono::Utc;
use diesel::prelude::*;

use super::schema::sessions;
use super::{DbError, found};
use crate::domain::ids::{InstanceId, UserId};

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession {
    pub user_id: Option<UserId>,
    pub username: String,
    pub source_ip: String,
    pub instance_id: Option<InstanceId>,
    pub instance_name: String,
    pub node_name: String,
    /// "ssh" or "web"
    pub protocol: String,
    pub command: String,
}

/// How a session went, written when it ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub exit_code: Option<i32>,
}

pub fn open(conn: &mut PgConnection, s: &NewSession) -> Result<i64, DbError> {
    Ok(diesel::insert_into(sessions::table)
        .values(s)
        .returning(sessions::id)
        .get_result(conn)?)
}

pub fn close(
    conn: &mut PgConnection,
    id: i64,
    outcome: Outcome,
    reason: &str,
) -> Result<(), DbError> {
    let n = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::ended_at.is_null()),
    )
    .set((
        sessions::ended_at.eq(Utc::now()),
        sessions::bytes_in.eq(outcome.bytes_in),
        sessions::bytes_out.eq(outcome.bytes_out),
        sessions::exit_code.eq(outcome.exit_code),
        sessions::end_reason.eq(reason),
    ))
    .execute(conn)?;
    found(n)
}

/// Sessions a stopped server left open end now (at start-up).
pub fn close_unfinished(conn: &mut PgConnection, reason: &str) -> Result<usize, DbError> {
    Ok(
        diesel::update(sessions::table.filter(sessions::ended_at.is_null()))
            .set((
                sessions::ended_at.eq(Utc::now()),
                sessions::end_reason.eq(reason),
            ))
            .execute(conn)?,
    )
}
