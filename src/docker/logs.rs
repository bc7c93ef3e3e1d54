//! Container logs (`docker logs [--follow] [--tail N] [--timestamps]`) as a stream of
//! byte chunks, stdout and stderr interleaved as the engine delivers them. Knows nothing
//! of who reads them (web page, download, SSH).

use std::pin::Pin;

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{Stream, StreamExt};

use super::DockerError;

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

    fn query(self) -> String {
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

pub type LogStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, DockerError>> + Send>>;

/// The container's log; a followed stream ends when the container stops.
pub fn stream(docker: &Docker, container: &str, opts: LogOptions) -> LogStream {
    let query = LogsOptionsBuilder::new()
        .follow(opts.follow)
        .stdout(true)
        .stderr(true)
        .timestamps(opts.timestamps)
        .tail(&opts.tail.query())
        .build();
    let name = container.to_string();
    Box::pin(docker.logs(container, Some(query)).map(move |item| {
        item.map(|out| out.into_bytes().to_vec())
            .map_err(|e| DockerError::from_bollard(e, &name))
    }))
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
