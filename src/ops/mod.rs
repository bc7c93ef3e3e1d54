//! One async function per user action, shared by every door (the web pages, the ZJMF
//! `/api/`, the SSH jumpbox and the background workers). Owns transactions and the audit
//! events of its actions, and the `Context` every door hands in (context.rs).

pub mod accounts;
pub mod audit;
pub mod bridge;
pub mod catalog;
pub mod context;
pub mod cpu_samples;
pub mod dashboard;
pub mod files;
pub mod forward;
pub mod instances;
pub mod logins;
pub mod nat;
pub mod permissions;
pub mod port_isolation;
pub mod recovery;
pub mod sessions;
pub mod status;
pub mod streams;
pub mod tenancy;
pub mod tunnel;
pub mod views;
pub mod zjmf;

pub use context::Context;

use crate::crypto::CryptoError;
/// The store's error, part of `OpsError`'s contract (its `Db` variant).
pub use crate::db::DbError;
use crate::docker::DockerError;
use crate::domain::fields::FieldErrors;
use crate::domain::instances::PlacementError;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// a delete refused because other rows still reference this one
    #[error("still in use")]
    InUse,
    #[error("not found")]
    NotFound,
    /// refused by a rule, with the i18n key of the reason
    #[error("refused: {0}")]
    Refused(&'static str),
    /// an instance's node refused it (GPU model, capacity; an unavailable choice is an
    /// `Invalid` field instead); the i18n key of the reason is `PlacementError::key`
    #[error("refused: {}", .0.key())]
    Placement(PlacementError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("password hashing: {0}")]
    Hash(String),
    /// the node's Docker engine refused or could not be reached
    #[error(transparent)]
    Docker(#[from] DockerError),
}

impl OpsError {
    /// Maps a unique violation to a field error on `field` ("already taken"),
    /// a foreign key violation to InUse and a missing row to NotFound.
    pub fn from_write(e: DbError, field: &'static str) -> Self {
        match e {
            DbError::Duplicate(_) => {
                let mut errors = FieldErrors::default();
                errors.add(field, "field.taken");
                OpsError::Invalid(errors)
            }
            DbError::InUse(_) => OpsError::InUse,
            DbError::NotFound => OpsError::NotFound,
            other => OpsError::Db(other),
        }
    }
}

impl OpsError {
    /// The node's Docker engine could not be reached or its endpoint cannot be used (as
    /// opposed to an engine that answered with an error).
    pub fn engine_unreachable(&self) -> bool {
        matches!(
            self,
            OpsError::Docker(DockerError::Unreachable(_) | DockerError::Config(_))
        )
    }
}

impl From<FieldErrors> for OpsError {
    fn from(e: FieldErrors) -> Self {
        OpsError::Invalid(e)
    }
}
