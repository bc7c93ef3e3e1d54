//! An LXD instance's power state as LXD reports it (`Running`, `Stopped`, `Frozen`, …),
//! and the word the ZJMF plugin shows for it.

use serde::Deserialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "String")]
pub enum PowerState {
    Running,
    Stopped,
    Frozen,
    /// anything else LXD says (Error, Starting, …) or nothing
    #[default]
    Other,
}

impl PowerState {
    pub fn parse(s: &str) -> PowerState {
        match s {
            "Running" => PowerState::Running,
            "Stopped" => PowerState::Stopped,
            "Frozen" => PowerState::Frozen,
            _ => PowerState::Other,
        }
    }

    pub fn is_running(self) -> bool {
        self == PowerState::Running
    }

    pub fn is_stopped(self) -> bool {
        self == PowerState::Stopped
    }

    /// `Status` as the plugin knows it: `running` and `stop`; `frozen`, else `unknown`.
    pub fn plugin_word(self) -> &'static str {
        match self {
            PowerState::Running => "running",
            PowerState::Stopped => "stop",
            PowerState::Frozen => "frozen",
            PowerState::Other => "unknown",
        }
    }
}

impl From<String> for PowerState {
    fn from(s: String) -> Self {
        PowerState::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lxd_words_and_plugin_words() {
        for (lxd, power, word) in [
            ("Running", PowerState::Running, "running"),
            ("Stopped", PowerState::Stopped, "stop"),
            ("Frozen", PowerState::Frozen, "frozen"),
            ("Error", PowerState::Other, "unknown"),
            ("", PowerState::Other, "unknown"),
            ("running", PowerState::Other, "unknown"),
        ] {
            assert_eq!(PowerState::parse(lxd), power, "{lxd}");
            assert_eq!(power.plugin_word(), word);
        }
        let p: PowerState =
            serde_json::from_value(serde_json::json!("Stopped")).unwrap_or_default();
        assert!(p.is_stopped() && !p.is_running());
    }
}
