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

/// How many instances are in one state, as dashboards show it: a phase other than ready
/// (creating, failed, deleting), else the container's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateCount {
    /// the i18n key (`phase.failed`, `status.running`)
    pub key: String,
    /// the badge class (`phase-failed`, `st-running`)
    pub css: String,
    pub n: i64,
}

/// Counts of (phase, status) pairs folded into states, most first (then by key).
pub fn count_states(rows: impl IntoIterator<Item = (String, String, i64)>) -> Vec<StateCount> {
    let mut by_state: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for (phase, status, n) in rows {
        let state = if phase == Phase::Ready.as_str() {
            let s = crate::domain::container::State::from(status);
            (s.key().to_string(), format!("st-{}", s.css()))
        } else {
            (format!("phase.{phase}"), format!("phase-{phase}"))
        };
        *by_state.entry(state).or_default() += n;
    }
    let mut out: Vec<StateCount> = by_state
        .into_iter()
        .map(|((key, css), n)| StateCount { key, css, n })
        .collect();
    out.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.key.cmp(&b.key)));
    out
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

    #[test]
    fn states_fold_phases_and_statuses() {
        let rows = [
            ("ready", "running", 3),
            ("ready", "exited", 1),
            ("creating", "", 2),
            ("failed", "", 1),
            ("failed", "created", 1),
            ("ready", "weird", 1),
        ]
        .map(|(p, s, n)| (p.to_string(), s.to_string(), n));
        let got: Vec<(String, String, i64)> = count_states(rows)
            .into_iter()
            .map(|c| (c.key, c.css, c.n))
            .collect();
        let want = [
            ("status.running", "st-running", 3),
            ("phase.creating", "phase-creating", 2),
            ("phase.failed", "phase-failed", 2),
            ("status.exited", "st-exited", 1),
            ("status.unknown", "st-unknown", 1),
        ]
        .map(|(k, c, n)| (k.to_string(), c.to_string(), n));
        assert_eq!(got, want);
    }
}
