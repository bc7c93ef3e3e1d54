//! An LXD instance's power state as LXD reports it (`Running`, `Stopped`, `Frozen`, …),
//! and the word the ZJMF plugin shows for it.

use serde::Deserialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "String")]
pub enum Power {
    Running,
    Stopped,
    Frozen,
    /// anything else LXD says (Error, Starting, …) or nothing
    #[default]
    Other,
}

impl Power {
    pub fn parse(s: &str) -> Power {
        match s {
            "Running" => Power::Running,
            "Stopped" => Power::Stopped,
            "Frozen" => Power::Frozen,
            _ => Power::Other,
        }
    }

    pub fn is_running(self) -> bool {
        self == Power::Running
    }

    pub fn is_stopped(self) -> bool {
        self == Power::Stopped
    }

    /// `Status` as the plugin knows it: `running` and `stop`; `frozen`, else `unknown`.
    pub fn plugin_word(self) -> &'static str {
        match self {
            Power::Running => "running",
            Power::Stopped => "stop",
            Power::Frozen => "frozen",
            Power::Other => "unknown",
        }
    }
}

impl From<String> for Power {
    fn from(s: String) -> Self {
        Power::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lxd_words_and_plugin_words() {
        for (lxd, power, word) in [
            ("Running", Power::Running, "running"),
            ("Stopped", Power::Stopped, "stop"),
            ("Frozen", Power::Frozen, "frozen"),
            ("Error", Power::Other, "unknown"),
            ("", Power::Other, "unknown"),
            ("running", Power::Other, "unknown"),
        ] {
            assert_eq!(Power::parse(lxd), power, "{lxd}");
            assert_eq!(power.plugin_word(), word);
        }
        let p: Power = serde_json::from_value(serde_json::json!("Stopped")).unwrap_or_default();
        assert!(p.is_stopped() && !p.is_running());
    }
}
