//! What the encrypted session cookie holds (user id, the user's session epoch at
//! login, login time, CSRF token, a one-shot flash message) and its lifecycle.

use actix_session::Session;
use chrono::Utc;

use crate::crypto::random_token;
use crate::db::users::User;

const UID: &str = "uid";
const EPOCH: &str = "epoch";
const AT: &str = "at";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

pub struct Login {
    pub user_id: i64,
    pub epoch: i32,
    pub at: i64,
}

pub fn login_of(session: &Session) -> Option<Login> {
    let get = |k| session.get::<i64>(k).ok().flatten();
    Some(Login {
        user_id: get(UID)?,
        epoch: i32::try_from(get(EPOCH)?).ok()?,
        at: get(AT)?,
    })
}

/// Starts a fresh session (new cookie, new CSRF token: no session fixation).
pub fn start(session: &Session, user: &User) {
    session.renew();
    session.clear();
    let _ = session.insert(UID, user.id);
    let _ = session.insert(EPOCH, i64::from(user.session_epoch));
    let _ = session.insert(AT, Utc::now().timestamp());
    let _ = session.insert(CSRF, random_token(24));
}

/// The user's epoch moved (password changed here): keep this session alive.
pub fn refresh_epoch(session: &Session, user: &User) {
    let _ = session.insert(EPOCH, i64::from(user.session_epoch));
}

pub fn end(session: &Session) {
    session.purge();
}

/// The CSRF token of this session, created on first use (anonymous sessions too,
/// so the login form is protected).
pub fn csrf_token(session: &Session) -> String {
    match session.get::<String>(CSRF).ok().flatten() {
        Some(t) => t,
        None => {
            let t = random_token(24);
            let _ = session.insert(CSRF, &t);
            t
        }
    }
}

pub fn set_flash(session: &Session, message: &str) {
    let _ = session.insert(FLASH, message);
}

pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}
