//! The phase of an instance's life as the panel drives it (the container's own state,
//! as the engine reports it, is its status): created `Creating`, then `Ready` or
//! `Failed`; `Deleting` until its container and volume are gone.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Creating,
    Ready,
    Failed,
    Deleting,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Creating,
        Phase::Ready,
        Phase::Failed,
        Phase::Deleting,
    ];

    /// The stored text (the column's CHECK constraint names the same four).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Creating => "creating",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Deleting => "deleting",
        }
    }

    pub fn is_ready(self) -> bool {
        self == Phase::Ready
    }

    /// Only a settled instance may be deleted (not one still being made or removed).
    pub fn can_delete(self) -> bool {
        matches!(self, Phase::Ready | Phase::Failed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored phase this build does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown instance phase {0:?}")]
pub struct UnknownPhase(pub String);

impl TryFrom<String> for Phase {
    type Error = UnknownPhase;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(UnknownPhase(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_their_text() {
        for p in Phase::ALL {
            assert_eq!(Phase::try_from(p.to_string()).ok(), Some(p));
        }
        assert!(Phase::try_from("READY".to_string()).is_err());
        assert!(Phase::Failed.can_delete() && !Phase::Deleting.can_delete());
    }
}
