//! Who is logged in on a connection, as its channels need it: `conn` fills it in at login,
//! `channel` reads it for every shell.

use std::sync::Arc;

use crate::domain::access::Actor;
use crate::ops::Context;
use crate::ops::audit::Origin;
use crate::ops::streams::Holder;

/// The permission record a jumpbox shell needs: the web terminal's (one rule, two doors).
pub const TERMINAL_ROUTE: &str = crate::domain::routes::GET_INSTANCES_ID_TERMINAL.pattern;

/// Who is logged in on a connection, as the channels need it.
#[derive(Clone, Debug)]
pub struct Login {
    pub actor: Actor,
    pub username: String,
    /// the instance named in the login name (`ssh mia@train-1@panel`): no menu
    pub instance: Option<String>,
    /// what `ops::streams::still_allowed` re-checks while a shell is open
    pub holder: Holder,
    /// who did it, for the audit and the sessions rows
    pub origin: Origin,
    /// the account still has its initial password: the web panel must change it first
    pub must_change_password: bool,
    /// the user already holds `jumpbox.max_sessions_per_user` connections
    pub over_limit: bool,
}

/// What every channel of a connection shares.
pub struct Shared {
    pub state: Arc<Context>,
    pub login: Login,
    pub limits: Arc<super::limits::Limits>,
}

/// Why a login may open no channel at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Barred {
    /// the account still has its initial password
    MustChangePassword,
    /// the user already holds this many connections, the limit
    TooMany(usize),
}

impl Shared {
    /// Why this login may open no channel (shell, sftp or forward), if it may not.
    pub fn barred(&self) -> Option<Barred> {
        if self.login.must_change_password {
            return Some(Barred::MustChangePassword);
        }
        if self.login.over_limit {
            return Some(Barred::TooMany(self.limits.max_per_user()));
        }
        None
    }
}
