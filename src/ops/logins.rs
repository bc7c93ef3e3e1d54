//! Browser login sessions (登录会话), kept server-side in `login_sessions`: started at
//! login, resolved by the gate on every request, ended by logout, by the user from their
//! session list, by an admin, and by a password change (the others), reset or disable
//! (all of them). The cookie carries a random id; only its SHA-256 is stored.

use super::OpsError;
use crate::crypto::{random_token, token_hash};
use crate::db::{self, login_sessions::LoginSession, users::User};
use crate::domain::ids::UserId;
use crate::ops::Context;

/// How stale `last_seen_at` may get before a request writes it again (one write per
/// session and minute at most, not one per request).
const TOUCH_AFTER_SECS: i64 = 60;

/// Why sessions end, as stored in `end_reason`.
pub mod reason {
    pub const LOGOUT: &str = "logout";
    pub const BY_USER: &str = "ended_by_user";
    pub const BY_ADMIN: &str = "ended_by_admin";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const DISABLED: &str = "disabled";
}

fn max_age(state: &Context) -> i64 {
    state.settings.security.session_hours * 3600
}

/// Starts a session of `user_id`; the random id for the cookie.
pub async fn start(
    state: &Context,
    user_id: UserId,
    ip: &str,
    user_agent: &str,
) -> Result<String, OpsError> {
    let token = random_token(32);
    let (hash, ip, agent) = (token_hash(&token), ip.to_string(), clip(user_agent, 512));
    db::run(&state.pool, move |c| {
        db::login_sessions::prune(c, user_id)?;
        db::login_sessions::insert(c, &hash, user_id, &ip, &agent)
    })
    .await?;
    Ok(token)
}

/// The live session a cookie's id names, with its user (None: ended, expired, unknown,
/// or the user is disabled).
pub async fn resolve(
    state: &Context,
    token: &str,
    ip: &str,
) -> Result<Option<(LoginSession, User)>, OpsError> {
    let (hash, max_age, ip) = (token_hash(token), max_age(state), ip.to_string());
    Ok(db::run(&state.pool, move |c| {
        let Some((session, user)) = db::login_sessions::find_live(c, &hash, max_age)? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let stale = (chrono::Utc::now() - session.last_seen_at).num_seconds() >= TOUCH_AFTER_SECS;
        if stale || session.ip != ip {
            db::login_sessions::touch(c, session.id, &ip)?;
        }
        Ok(Some((session, user)))
    })
    .await?)
}

/// Is session `id` still live (for sockets that outlive their handshake)?
pub async fn is_live(state: &Context, id: i64) -> Result<bool, OpsError> {
    let max_age = max_age(state);
    Ok(db::run(&state.pool, move |c| {
        db::login_sessions::is_live(c, id, max_age)
    })
    .await?)
}

/// The live sessions of a user, most recently used first.
pub async fn list(state: &Context, user_id: UserId) -> Result<Vec<LoginSession>, OpsError> {
    let max_age = max_age(state);
    Ok(db::run(&state.pool, move |c| {
        db::login_sessions::live_of(c, user_id, max_age)
    })
    .await?)
}

/// Ends session `id` of `user_id`; someone else's session is not found.
pub async fn end(
    state: &Context,
    user_id: UserId,
    id: i64,
    why: &'static str,
) -> Result<(), OpsError> {
    let ended = db::run(&state.pool, move |c| {
        db::login_sessions::end(c, id, user_id, why)
    })
    .await?;
    if ended {
        Ok(())
    } else {
        Err(OpsError::NotFound)
    }
}

/// An admin ends every session of a user: browser sessions at once, and (the epoch
/// moves) open terminals and jumpbox shells at their next re-check.
pub async fn end_all_of(state: &Context, user_id: UserId) -> Result<usize, OpsError> {
    db::transaction(&state.pool, move |c| {
        db::users::bump_epoch(c, user_id)?;
        db::login_sessions::end_all(c, user_id, None, reason::BY_ADMIN)
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clip_keeps_characters_whole() {
        assert_eq!(clip("abc", 2), "ab");
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("算力", 4), "算");
        assert_eq!(clip("", 4), "");
    }
}
