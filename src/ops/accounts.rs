//! Logging in and out, password changes, the first admin, and the admin's user and
//! company management.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::audit::{self, Origin};
use super::{OpsError, logins};
use crate::crypto::random_token;
use crate::db::companies::{Company, CompanyListRow};
use crate::db::{self, users::User, users::UserListRow};
use crate::domain::access::Role;
use crate::domain::accounts::{CompanyFields, PasswordForm, UserFields};
use crate::domain::auth::{Claim, FailureWindow, Throttled};
use crate::domain::fields::FieldErrors;
use crate::domain::ids::{CompanyId, UserId};
use crate::domain::listing::Page;
use crate::ops::Context;

/// Why a login was refused. Unknown users, wrong passwords and locked accounts are told
/// the same (and take the same time: one bcrypt check each); only the right password of
/// a disabled account learns that it is disabled.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    #[error("bad credentials")]
    BadCredentials,
    #[error("account locked")]
    Locked,
    #[error("account disabled")]
    Disabled,
    /// too many failed logins from this source address: try again in so many seconds
    #[error("throttled")]
    Throttled(u64),
}

/// Why a login let no one in: refused (the client's failure, audited), or a failure of
/// ours (the database).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("login refused: {0}")]
    Refused(LoginRefused),
    #[error(transparent)]
    Ops(#[from] OpsError),
}

impl From<LoginRefused> for LoginError {
    fn from(why: LoginRefused) -> Self {
        LoginError::Refused(why)
    }
}

impl From<db::DbError> for LoginError {
    fn from(e: db::DbError) -> Self {
        LoginError::Ops(e.into())
    }
}

/// Failed logins per source address, shared by every door: at most
/// `security.login_failures_per_ip` per minute, counted as they start (see
/// `domain::auth::FailureWindow`), so that one address can neither burn the server's CPU
/// on bcrypt nor lock every account.
pub struct LoginThrottle {
    windows: Mutex<HashMap<IpAddr, FailureWindow>>,
    started: Instant,
    /// failed logins per address and minute
    max: usize,
}

/// One counted attempt, to be taken back when it succeeds.
pub struct Attempt {
    source: IpAddr,
    at: i64,
}

/// Windows kept before the idle ones are swept.
const THROTTLE_SWEEP_AT: usize = 4096;
const THROTTLE_WINDOW_MS: i64 = 60_000;

impl LoginThrottle {
    pub fn new(max_per_minute: usize) -> Self {
        LoginThrottle {
            windows: Mutex::default(),
            started: Instant::now(),
            max: max_per_minute,
        }
    }

    fn now(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, FailureWindow>> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn claim(&self, source: IpAddr) -> Result<Attempt, Throttled> {
        let now = self.now();
        let mut windows = self.windows();
        if windows.len() >= THROTTLE_SWEEP_AT {
            windows.retain(|_, w| !w.is_idle(now, THROTTLE_WINDOW_MS));
        }
        windows
            .entry(source)
            .or_default()
            .claim(now, self.max, THROTTLE_WINDOW_MS)?;
        Ok(Attempt { source, at: now })
    }

    /// Seconds until `source` may try again, None when it may now (nothing is counted).
    pub fn retry_after(&self, source: IpAddr) -> Option<u64> {
        let now = self.now();
        self.windows()
            .get_mut(&source)?
            .retry_after(now, self.max, THROTTLE_WINDOW_MS)
    }

    pub fn release(&self, attempt: Attempt) {
        if let Some(w) = self.windows().get_mut(&attempt.source) {
            w.release(attempt.at);
        }
    }
}

pub async fn hash_password(state: &Context, password: &str) -> Result<String, OpsError> {
    let (pw, cost) = (password.to_string(), state.settings.security.bcrypt_cost);
    tokio::task::spawn_blocking(move || bcrypt::hash(pw, cost))
        .await
        .map_err(|e| OpsError::Hash(e.to_string()))?
        .map_err(|e| OpsError::Hash(e.to_string()))
}

/// One bcrypt check (counted in `Context::password_checks`).
async fn verify_password(state: &Context, password: &str, hash: &str) -> bool {
    state.password_checks.fetch_add(1, Ordering::Relaxed);
    let (pw, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

/// Checks a password against the account, for every door ("web" or "ssh"): first the
/// source address's failure budget, then one claimed check of the account (its failure
/// count and lock change atomically in Postgres, so that parallel attempts check at most
/// `security.lockout_threshold` passwords before the account locks). Every outcome is
/// audited with the door.
pub async fn login(
    state: &Context,
    username: &str,
    password: &str,
    ip: &str,
    door: &'static str,
) -> Result<User, LoginError> {
    let origin = Origin::new(None, username.trim(), "", ip, door);
    // a peer address always parses; without one, all such requests share one budget
    let source = ip
        .parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let attempt = match state.throttle.claim(source) {
        Ok(a) => a,
        Err(t) => {
            if t.first {
                log::warn!(ip = ip; "login refused: too many failed logins from this address");
                audit::record(
                    state,
                    origin.event(
                        "login_throttled",
                        429,
                        "too many failures from this address",
                    ),
                )
                .await;
            }
            return Err(LoginRefused::Throttled(t.retry_after_secs).into());
        }
    };
    let outcome = check_password(state, origin, password).await;
    if !matches!(outcome, Err(LoginError::Refused(_))) {
        // a success, or a failure of ours (database down): not the client's failure
        state.throttle.release(attempt);
    }
    outcome
}

async fn check_password(
    state: &Context,
    mut origin: Origin,
    password: &str,
) -> Result<User, LoginError> {
    let lookup = origin.username.clone();
    let found = db::run(&state.pool, move |c| {
        db::users::find_by_username(c, &lookup)
    })
    .await?;
    let Some(user) = found else {
        // SECURITY: the same bcrypt work for unknown names, so timing does not reveal accounts.
        verify_password(state, password, &state.dummy_hash).await;
        let event = origin.event("login_failed", 401, "unknown user");
        audit::record(state, event).await;
        return Err(LoginRefused::BadCredentials.into());
    };
    origin.user_id = Some(user.id);
    origin.role = user.role.clone();
    let (id, threshold) = (user.id, state.lockout.threshold);
    if !claim_check(state, id).await? {
        // SECURITY: locked (or every allowed check still running after a wait): the
        // account's password is not looked at, but the time spent is the same.
        verify_password(state, password, &state.dummy_hash).await;
        let event = origin.event("login_locked", 423, "account locked");
        audit::record(state, event).await;
        return Err(LoginRefused::Locked.into());
    }
    if !verify_password(state, password, &user.password_hash).await {
        let window = state.lockout.window.num_seconds();
        let locked_now = db::run(&state.pool, move |c| {
            db::users::fail_attempt(c, id, threshold, window)
        })
        .await?;
        let event = origin.event("login_failed", 401, "bad password");
        audit::record(state, event).await;
        if locked_now {
            log::warn!(user = id; "account locked after repeated login failures");
            let event = origin.event("account_locked", 423, "too many failures");
            audit::record(state, event).await;
        }
        return Err(LoginRefused::BadCredentials.into());
    }
    if user.disabled {
        let event = origin.event("login_failed", 403, "account disabled");
        audit::record(state, event).await;
        return Err(LoginRefused::Disabled.into());
    }
    if !db::run(&state.pool, move |c| db::users::succeed_attempt(c, id)).await? {
        // SECURITY: the account locked while this check ran; a success never lifts a lock
        let event = origin.event("login_locked", 423, "account locked");
        audit::record(state, event).await;
        return Err(LoginRefused::Locked.into());
    }
    audit::record(state, origin.event("login_success", 200, "")).await;
    Ok(user)
}

/// How long a login waits for one of its account's running password checks to end.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Claims one password check of account `id`. While the threshold's worth of checks run
/// (many right logins at once: a script, VS Code's parallel connections), it waits for
/// one to end rather than refusing; no more than the threshold ever run at once. False:
/// locked, or still busy after `BUSY_WAIT`.
async fn claim_check(state: &Context, id: UserId) -> Result<bool, OpsError> {
    let threshold = state.lockout.threshold;
    let started = tokio::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(20);
    loop {
        let claim = db::run(&state.pool, move |c| {
            db::users::claim_attempt(c, id, threshold)
        })
        .await?;
        match claim {
            Claim::Claimed => return Ok(true),
            Claim::Locked => return Ok(false),
            Claim::Busy if started.elapsed() >= BUSY_WAIT => return Ok(false),
            Claim::Busy => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(250));
            }
        }
    }
}

/// An admin lifts an account's lock.
pub async fn unlock(state: &Context, id: UserId) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| db::users::unlock(c, id))
        .await
        .map_err(|e| OpsError::from_write(e, "id"))
}

/// Ends the login session `session_id` (its cookie no longer works anywhere).
pub async fn logout(state: &Context, session_id: i64, origin: Origin) -> Result<(), OpsError> {
    let user_id = origin.user_id.unwrap_or_default();
    match logins::end(state, user_id, session_id, logins::reason::LOGOUT).await {
        Ok(()) | Err(OpsError::NotFound) => {}
        Err(e) => return Err(e),
    }
    audit::record(state, origin.event("logout", 200, "")).await;
    Ok(())
}

/// The user changes their own password (also the forced first-login change); every
/// other login session of theirs ends, `keep` (the one they did it from) stays.
pub async fn change_password(
    state: &Context,
    user_id: UserId,
    keep: i64,
    form: &PasswordForm,
) -> Result<User, OpsError> {
    form.check()?;
    let user = db::run(&state.pool, move |c| db::users::find(c, user_id)).await?;
    if !verify_password(state, &form.current, &user.password_hash).await {
        let mut e = FieldErrors::default();
        e.add("current", "password.wrong_current");
        return Err(OpsError::Invalid(e));
    }
    let hash = hash_password(state, &form.new).await?;
    let changed = db::transaction(&state.pool, move |c| {
        db::users::set_password(c, user_id, &hash, false)?;
        let why = logins::reason::PASSWORD_CHANGED;
        db::login_sessions::end_all(c, user_id, Some(keep), why)?;
        db::users::find(c, user_id)
    })
    .await?;
    forget_initial_password(&state.settings.server.data_dir, &form.current).await;
    Ok(changed)
}

/// Where the first admin's generated password is written at first start.
pub fn initial_password_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("initial-admin-password")
}

// SECURITY: the generated first password stays on disk only until it stops working
// (issue #14): the file goes once the password it holds has been changed. Another user's
// password change leaves it, so a read of the file always matches who it is for.
async fn forget_initial_password(data_dir: &std::path::Path, old_password: &str) {
    let path = initial_password_file(data_dir);
    let Ok(held) = tokio::fs::read_to_string(&path).await else {
        return;
    };
    if held.trim_end_matches(['\n', '\r']) != old_password {
        return;
    }
    if let Err(e) = tokio::fs::remove_file(&path).await {
        log::warn!(path = path.display().to_string(); "could not remove the initial admin password file: {e}");
    }
}

/// On a database without users, creates `admin` with a random password that must be
/// changed at first login. Returns the password to show once.
pub async fn ensure_first_admin(state: &Context) -> Result<Option<String>, OpsError> {
    if db::run(&state.pool, db::users::count).await? > 0 {
        return Ok(None);
    }
    let password = initial_password();
    let hash = hash_password(state, &password).await?;
    let created = db::run(&state.pool, move |c| {
        let new = db::users::NewUser {
            username: "admin",
            display_name: "Administrator",
            password_hash: &hash,
            role: Role::Admin.as_str(),
            company_id: None,
            must_change_password: true,
        };
        db::users::insert(c, &new)
    })
    .await;
    match created {
        Ok(_) => Ok(Some(password)),
        // another process won the race: it printed the password
        Err(db::DbError::Duplicate(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A random password that satisfies the strength rule (all four classes present).
pub fn initial_password() -> String {
    format!("Sl-{}9a", random_token(12))
}

pub async fn create_user(
    state: &Context,
    fields: UserFields,
    password: String,
) -> Result<User, OpsError> {
    let hash = hash_password(state, &password).await?;
    db::run(&state.pool, move |c| {
        let new = db::users::NewUser {
            username: &fields.username,
            display_name: &fields.display_name,
            password_hash: &hash,
            role: fields.role.as_str(),
            company_id: fields.company_id,
            must_change_password: true,
        };
        db::users::insert(c, &new)
    })
    .await
    .map_err(company_or_username)
}

/// Saves a user. A member moved to another company (or out of one) takes their instances
/// along in the same transaction: the old company's owner loses them, the new one gains
/// them (audited as `instances_moved`).
pub async fn update_user(
    state: &Context,
    me: &Origin,
    id: UserId,
    fields: UserFields,
) -> Result<(), OpsError> {
    if Some(id) == me.user_id && fields.role != Role::Admin {
        // SECURITY: an admin cannot demote themselves and lock everybody out of admin pages.
        return Err(OpsError::Refused("user.cannot_demote_self"));
    }
    let company = fields.company_id;
    let moved = db::transaction(&state.pool, move |c| {
        let changes = db::users::UserChanges {
            username: &fields.username,
            display_name: &fields.display_name,
            role: fields.role.as_str(),
            company_id: fields.company_id,
        };
        db::users::update(c, id, &changes)?;
        db::instances::move_owner_to(c, id, company)
    })
    .await
    .map_err(|e| match e {
        db::DbError::Duplicate(index) if index == db::instances::TENANT_NAME_INDEX => {
            let mut errors = FieldErrors::default();
            errors.add("company_id", "field.instances_clash");
            OpsError::Invalid(errors)
        }
        other => company_or_username(other),
    })?;
    if moved > 0 {
        let detail = format!(
            "{moved} instance(s) of user {id} moved to company {}",
            company.map_or("-".to_string(), |c| c.to_string())
        );
        audit::record(state, me.event("instances_moved", 200, detail)).await;
    }
    Ok(())
}

fn company_or_username(e: db::DbError) -> OpsError {
    match e {
        db::DbError::InUse(_) => {
            let mut errors = FieldErrors::default();
            errors.add("company_id", "field.bad_company");
            OpsError::Invalid(errors)
        }
        other => OpsError::from_write(other, "username"),
    }
}

pub async fn set_disabled(
    state: &Context,
    me: UserId,
    id: UserId,
    disabled: bool,
) -> Result<(), OpsError> {
    if id == me && disabled {
        return Err(OpsError::Refused("user.cannot_disable_self"));
    }
    db::transaction(&state.pool, move |c| {
        db::users::set_disabled(c, id, disabled)?;
        if disabled {
            db::login_sessions::end_all(c, id, None, logins::reason::DISABLED)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))
}

/// Sets a new random password that must be changed at next login; ends the user's
/// sessions. Returns the password to show once to the admin.
pub async fn reset_password(state: &Context, id: UserId) -> Result<(User, String), OpsError> {
    let password = initial_password();
    let hash = hash_password(state, &password).await?;
    let user = db::transaction(&state.pool, move |c| {
        db::users::set_password(c, id, &hash, true)?;
        db::login_sessions::end_all(c, id, None, logins::reason::PASSWORD_RESET)?;
        db::users::find(c, id)
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))?;
    Ok((user, password))
}

pub async fn reset_password_by_name(state: &Context, username: &str) -> Result<String, OpsError> {
    let name = username.to_string();
    let user = db::run(&state.pool, move |c| db::users::find_by_username(c, &name))
        .await?
        .ok_or(OpsError::NotFound)?;
    Ok(reset_password(state, user.id).await?.1)
}

pub async fn save_company(
    state: &Context,
    id: Option<CompanyId>,
    fields: CompanyFields,
) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| match id {
        Some(id) => db::companies::update(c, id, &fields),
        None => db::companies::insert(c, &fields).map(drop),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "name"))
}

pub async fn delete_company(state: &Context, id: CompanyId) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| db::companies::delete(c, id))
        .await
        .map_err(|e| OpsError::from_write(e, "id"))
}

/// A page of companies whose name matches `q`, with their member counts.
pub async fn list_companies(
    state: &Context,
    q: String,
    page: i64,
) -> Result<Page<CompanyListRow>, OpsError> {
    let per = state.settings.server.page_size;
    Ok(db::run(&state.pool, move |c| db::companies::list(c, &q, page, per)).await?)
}

pub async fn company(state: &Context, id: CompanyId) -> Result<Company, OpsError> {
    Ok(db::run(&state.pool, move |c| db::companies::find(c, id)).await?)
}

/// Every company, by name (the choices of the user form).
pub async fn companies(state: &Context) -> Result<Vec<Company>, OpsError> {
    Ok(db::run(&state.pool, db::companies::all).await?)
}

/// A page of users whose username or display name matches `q`, newest first.
pub async fn list_users(
    state: &Context,
    q: String,
    page: i64,
) -> Result<Page<UserListRow>, OpsError> {
    let per = state.settings.server.page_size;
    Ok(db::run(&state.pool, move |c| db::users::list(c, &q, page, per)).await?)
}

pub async fn user(state: &Context, id: UserId) -> Result<User, OpsError> {
    Ok(db::run(&state.pool, move |c| db::users::find(c, id)).await?)
}
