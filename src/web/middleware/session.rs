//! What the encrypted session cookie holds: the random id of the login session (its hash
//! is the `login_sessions` row, see ops/logins.rs), the CSRF token and a one-shot flash
//! message. Anonymous visitors get a cookie too (the login form's CSRF token).

use actix_session::Session;

use crate::crypto::random_token;

const SID: &str = "sid";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

/// The login session's random id, if the cookie carries one.
pub fn token_of(session: &Session) -> Option<String> {
    session.get::<String>(SID).ok().flatten()
}

/// Starts a fresh cookie for login session `token` (new cookie, new CSRF token: no
/// session fixation).
pub fn start(session: &Session, token: &str) {
    session.renew();
    session.clear();
    let _ = session.insert(SID, token);
    let _ = session.insert(CSRF, random_token(24));
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
