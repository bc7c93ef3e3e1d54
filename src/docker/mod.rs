//! The Docker Engine API of the compute nodes (bollard): connecting with the node's
//! endpoint and TLS material, the container an instance maps to, its lifecycle, and the
//! tenant networks it sits on.

pub mod connect;
pub mod container;
pub mod engine;
pub mod exec;
pub mod files;
pub mod logs;
pub mod network;

pub use connect::{Endpoint, TlsMaterial, connect};

/// What went wrong talking to an engine, worded for the operator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DockerError {
    /// the node's endpoint or TLS material cannot be used
    #[error("bad Docker endpoint or TLS material: {0}")]
    Config(String),
    /// no answer, refused connection, TLS handshake failure
    #[error("Docker engine unreachable: {0}")]
    Unreachable(String),
    /// the engine does not know the container, volume or image
    #[error("not found: {0}")]
    NotFound(String),
    /// the engine answered with an error (its own message)
    #[error("{0}")]
    Engine(String),
}

impl DockerError {
    pub fn from_bollard(e: bollard::errors::Error, url: &str) -> Self {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError {
                status_code: 404,
                message,
            } => DockerError::NotFound(message),
            B::DockerResponseServerError { message, .. } => DockerError::Engine(message),
            B::DockerStreamError { error } => DockerError::Engine(error),
            B::DockerContainerWaitError { error, .. } => DockerError::Engine(error),
            other => DockerError::Unreachable(format!("{url}: {}", chain(&other))),
        }
    }
}

/// An error and its sources on one line ("client error (Connect): invalid peer
/// certificate: UnknownIssuer"), skipping a source already contained in the line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = s.source();
    }
    line
}
