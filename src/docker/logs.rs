//! Container logs (`docker logs [--follow] [--tail N] [--timestamps]`) as a stream of
//! byte chunks, stdout and stderr interleaved as the engine delivers them. Knows nothing
//! of who reads them (web page, download, SSH).

use std::pin::Pin;

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{Stream, StreamExt};

use super::DockerError;

pub use crate::domain::container::{DEFAULT_TAIL, LogOptions, MAX_TAIL, Tail};

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
