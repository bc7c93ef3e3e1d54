//! Plain values of a container's life that every door names: the lifecycle actions, a
//! program to exec and its output, terminal sizes, and what part of the log to read.
//! The Docker adapter (docker/) turns them into Engine API calls.

use bytes::Bytes;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "start" => Some(Action::Start),
            "stop" => Some(Action::Stop),
            "restart" => Some(Action::Restart),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

/// A container's state as the engine last reported it (Docker's `State.Status`), plus
/// `Missing` (the engine does not know the container) and `Unknown` (not seen yet, or a
/// state this build does not know). Stored as its text in `instances.status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Missing,
    #[default]
    Unknown,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Created,
        State::Running,
        State::Paused,
        State::Restarting,
        State::Removing,
        State::Exited,
        State::Dead,
        State::Missing,
        State::Unknown,
    ];

    /// The stored text (Docker's own word, lower case); `Unknown` is stored empty.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Missing => "missing",
            State::Unknown => "",
        }
    }

    /// Reads the engine's (or the store's) word; anything else is `Unknown`.
    pub fn parse(s: &str) -> State {
        State::ALL
            .into_iter()
            .find(|st| !s.is_empty() && st.as_str() == s)
            .unwrap_or(State::Unknown)
    }

    pub fn is_running(self) -> bool {
        self == State::Running
    }

    /// The i18n key that names it (`status.running`, `status.unknown`).
    pub fn key(self) -> &'static str {
        match self {
            State::Created => "status.created",
            State::Running => "status.running",
            State::Paused => "status.paused",
            State::Restarting => "status.restarting",
            State::Removing => "status.removing",
            State::Exited => "status.exited",
            State::Dead => "status.dead",
            State::Missing => "status.missing",
            State::Unknown => "status.unknown",
        }
    }

    /// The CSS class word of its badge (`unknown` for the empty one).
    pub fn css(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            other => other.as_str(),
        }
    }
}

impl From<String> for State {
    fn from(s: String) -> Self {
        State::parse(&s)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Terminal size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermSize {
    pub cols: u16,
    pub rows: u16,
}

impl TermSize {
    /// A size the engine accepts: each side within 1..=1000 cells.
    pub fn clamped(cols: u16, rows: u16) -> Self {
        TermSize {
            cols: cols.clamp(1, 1000),
            rows: rows.clamp(1, 1000),
        }
    }
}

impl Default for TermSize {
    fn default() -> Self {
        TermSize { cols: 80, rows: 24 }
    }
}

/// What runs in the exec.
#[derive(Clone, Copy, Debug)]
pub enum Program<'a> {
    /// bash, else sh
    Shell,
    /// one command line, run by `sh -c`
    Command(&'a str),
}

/// One piece of output. Without a TTY the engine keeps stdout and stderr apart; with one
/// everything is `Out`.
#[derive(Debug)]
pub enum Chunk {
    Out(Bytes),
    Err(Bytes),
}

/// Most lines a tail may ask for; "all" is the download's business.
pub const MAX_TAIL: u32 = 100_000;
/// Lines shown when the page asks for nothing else.
pub const DEFAULT_TAIL: u32 = 200;

/// How many of the existing lines come first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    All,
    Lines(u32),
}

impl Tail {
    /// `all`, or a line count (capped at MAX_TAIL); anything else is DEFAULT_TAIL.
    pub fn parse(s: &str) -> Tail {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Tail::All;
        }
        match s.parse::<u32>() {
            Ok(n) => Tail::Lines(n.min(MAX_TAIL)),
            Err(_) => Tail::Lines(DEFAULT_TAIL),
        }
    }

    /// The engine's `tail` query value.
    pub fn query(self) -> String {
        match self {
            Tail::All => "all".into(),
            Tail::Lines(n) => n.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// keep the stream open and deliver new output as the container prints it
    pub follow: bool,
    pub tail: Tail,
    /// prefix every line with the engine's RFC 3339 timestamp
    pub timestamps: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_text() {
        for st in State::ALL {
            assert_eq!(State::parse(st.as_str()), st);
            assert!(st.key().ends_with(st.css()));
        }
        assert_eq!(State::parse("RUNNING"), State::Unknown);
        assert_eq!(State::parse(""), State::Unknown);
        assert!(State::Running.is_running() && !State::Exited.is_running());
    }

    #[test]
    fn tail_parsing() {
        for (input, want) in [
            ("50", Tail::Lines(50)),
            (" 0 ", Tail::Lines(0)),
            ("all", Tail::All),
            ("ALL", Tail::All),
            ("", Tail::Lines(DEFAULT_TAIL)),
            ("-3", Tail::Lines(DEFAULT_TAIL)),
            ("9999999", Tail::Lines(MAX_TAIL)),
        ] {
            assert_eq!(Tail::parse(input), want, "{input:?}");
        }
    }
}
