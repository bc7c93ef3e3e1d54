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
