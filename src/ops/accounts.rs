//! Logging in and out, password changes, the first admin, and the admin's user and
//! company management.

use chrono::Utc;

use super::OpsError;
use super::audit::{self, Origin};
use crate::crypto::random_token;
use crate::db::{self, users::User};
use crate::domain::access::Role;
use crate::domain::accounts::{CompanyFields, PasswordForm, UserFields};
use crate::domain::fields::FieldErrors;
use crate::startup::AppState;

/// Why a login was refused. Bad user and bad password look the same to the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefused {
    BadCredentials,
    Locked,
    Disabled,
}

pub async fn hash_password(state: &AppState, password: &str) -> Result<String, OpsError> {
    let (pw, cost) = (password.to_string(), state.settings.security.bcrypt_cost);
    tokio::task::spawn_blocking(move || bcrypt::hash(pw, cost))
        .await
        .map_err(|e| OpsError::Hash(e.to_string()))?
        .map_err(|e| OpsError::Hash(e.to_string()))
}

async fn verify_password(password: &str, hash: &str) -> bool {
    let (pw, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

/// Checks a password against the account, counting failures and locking the account
/// after the configured number in a row (one counter for every door: the web login and
/// the SSH jumpbox). Every outcome is audited with the door ("web" or "ssh").
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    ip: &str,
    door: &'static str,
) -> Result<Result<User, LoginRefused>, OpsError> {
    let name = username.trim().to_string();
    let lookup = name.clone();
    let found = db::run(&state.pool, move |c| {
        db::users::find_by_username(c, &lookup)
    })
    .await?;
    let origin = |u: Option<&User>| Origin {
        user_id: u.map(|u| u.id),
        username: name.clone(),
        role: u.map(|u| u.role.clone()).unwrap_or_default(),
        ip: ip.to_string(),
        door,
    };
    let Some(user) = found else {
        // SECURITY: same bcrypt work for unknown names, so timing does not reveal accounts.
        verify_password(password, &state.dummy_hash).await;
        audit::record(
            &state.pool,
            origin(None).event("login_failed", 401, "unknown user"),
        )
        .await;
        return Ok(Err(LoginRefused::BadCredentials));
    };
    let now = Utc::now();
    if state.lockout.is_locked(user.locked_until, now) {
        audit::record(
            &state.pool,
            origin(Some(&user)).event("login_locked", 423, "account locked"),
        )
        .await;
        return Ok(Err(LoginRefused::Locked));
    }
    if !verify_password(password, &user.password_hash).await {
        let (id, policy) = (user.id, state.lockout);
        // Read-modify-write under a row lock so parallel failures all count.
        let after = db::transaction(&state.pool, move |c| {
            let row = db::users::find_for_update(c, id)?;
            let after = policy.after_failure(row.failed_logins, Utc::now());
            db::users::record_failure(c, id, after.failed_logins, after.locked_until)?;
            Ok(after)
        })
        .await?;
        audit::record(
            &state.pool,
            origin(Some(&user)).event("login_failed", 401, "bad password"),
        )
        .await;
        if after.locked_until.is_some() {
            log::warn!(user = user.id; "account locked after repeated login failures");
            audit::record(
                &state.pool,
                origin(Some(&user)).event("account_locked", 423, "too many failures"),
            )
            .await;
            return Ok(Err(LoginRefused::Locked));
        }
        return Ok(Err(LoginRefused::BadCredentials));
    }
    if user.disabled {
        audit::record(
            &state.pool,
            origin(Some(&user)).event("login_failed", 403, "account disabled"),
        )
        .await;
        return Ok(Err(LoginRefused::Disabled));
    }
    let id = user.id;
    db::run(&state.pool, move |c| db::users::record_success(c, id, now)).await?;
    audit::record(
        &state.pool,
        origin(Some(&user)).event("login_success", 200, ""),
    )
    .await;
    Ok(Ok(user))
}

pub async fn logout(state: &AppState, origin: Origin) {
    audit::record(&state.pool, origin.event("logout", 200, "")).await;
}

/// The user changes their own password (also the forced first-login change).
pub async fn change_password(
    state: &AppState,
    user_id: i64,
    form: &PasswordForm,
) -> Result<User, OpsError> {
    form.check()?;
    let user = db::run(&state.pool, move |c| db::users::find(c, user_id)).await?;
    if !verify_password(&form.current, &user.password_hash).await {
        let mut e = FieldErrors::default();
        e.add("current", "password.wrong_current");
        return Err(OpsError::Invalid(e));
    }
    let hash = hash_password(state, &form.new).await?;
    db::run(&state.pool, move |c| {
        db::users::set_password(c, user_id, &hash, false)?;
        db::users::find(c, user_id)
    })
    .await
    .map_err(OpsError::from)
}

/// On a database without users, creates `admin` with a random password that must be
/// changed at first login. Returns the password to show once.
pub async fn ensure_first_admin(state: &AppState) -> Result<Option<String>, OpsError> {
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
    state: &AppState,
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

pub async fn update_user(
    state: &AppState,
    me: i64,
    id: i64,
    fields: UserFields,
) -> Result<(), OpsError> {
    if id == me && fields.role != Role::Admin {
        // SECURITY: an admin cannot demote themselves and lock everybody out of admin pages.
        return Err(OpsError::Refused("user.cannot_demote_self"));
    }
    db::run(&state.pool, move |c| {
        let changes = db::users::UserChanges {
            username: &fields.username,
            display_name: &fields.display_name,
            role: fields.role.as_str(),
            company_id: fields.company_id,
        };
        db::users::update(c, id, &changes)
    })
    .await
    .map_err(company_or_username)
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
    state: &AppState,
    me: i64,
    id: i64,
    disabled: bool,
) -> Result<(), OpsError> {
    if id == me && disabled {
        return Err(OpsError::Refused("user.cannot_disable_self"));
    }
    db::run(&state.pool, move |c| {
        db::users::set_disabled(c, id, disabled)
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))
}

/// Sets a new random password that must be changed at next login; ends the user's
/// sessions. Returns the password to show once to the admin.
pub async fn reset_password(state: &AppState, id: i64) -> Result<(User, String), OpsError> {
    let password = initial_password();
    let hash = hash_password(state, &password).await?;
    let user = db::run(&state.pool, move |c| {
        db::users::set_password(c, id, &hash, true)?;
        db::users::find(c, id)
    })
    .await
    .map_err(|e| OpsError::from_write(e, "id"))?;
    Ok((user, password))
}

pub async fn reset_password_by_name(state: &AppState, username: &str) -> Result<String, OpsError> {
    let name = username.to_string();
    let user = db::run(&state.pool, move |c| db::users::find_by_username(c, &name))
        .await?
        .ok_or(OpsError::NotFound)?;
    Ok(reset_password(state, user.id).await?.1)
}

pub async fn save_company(
    state: &AppState,
    id: Option<i64>,
    fields: CompanyFields,
) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| match id {
        Some(id) => db::companies::update(c, id, &fields),
        None => db::companies::insert(c, &fields).map(drop),
    })
    .await
    .map_err(|e| OpsError::from_write(e, "name"))
}

pub async fn delete_company(state: &AppState, id: i64) -> Result<(), OpsError> {
    db::run(&state.pool, move |c| db::companies::delete(c, id))
        .await
        .map_err(|e| OpsError::from_write(e, "id"))
}
