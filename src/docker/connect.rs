//! Connecting to a node's Docker engine: a unix socket, plain tcp://, or tcp:// with TLS
//! whose CA, client certificate and (decrypted) client key stay in memory. bollard's own
//! TLS constructor reads key files on every handshake, so TLS goes through a rustls
//! connector handed to `connect_with_custom_transport`.

use std::sync::Arc;

use bollard::{BollardRequest, ClientVersion, Docker};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::DockerError;

/// Seconds a single engine request may take (image pulls stream within it).
const TIMEOUT_SECS: u64 = 600;

/// The oldest Engine API we speak (Docker 20.10); `negotiate_version` raises it.
const MIN_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// The node's TLS material, the key decrypted from the database (never written to disk).
#[derive(Clone)]
pub struct TlsMaterial {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial { .. }")
    }
}

/// Where a node's engine answers and how to authenticate.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `unix:///path` or `tcp://host:port`
    pub url: String,
    /// Some = tcp:// with mutual TLS
    pub tls: Option<TlsMaterial>,
}

/// Connects and agrees on the API version with the engine (one `/version` call).
pub async fn connect(ep: &Endpoint) -> Result<Docker, DockerError> {
    let docker = client(ep)?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| DockerError::from_bollard(e, &ep.url))
}

fn client(ep: &Endpoint) -> Result<Docker, DockerError> {
    let bad = |m: String| DockerError::Config(format!("{}: {m}", ep.url));
    if let Some(path) = ep.url.strip_prefix("unix://") {
        if ep.tls.is_some() {
            return Err(bad("TLS needs a tcp:// endpoint".into()));
        }
        return Docker::connect_with_unix(path, TIMEOUT_SECS, &MIN_API)
            .map_err(|e| bad(e.to_string()));
    }
    let Some(addr) = ep.url.strip_prefix("tcp://") else {
        return Err(bad("expected unix:///path or tcp://host:port".into()));
    };
    match &ep.tls {
        None => {
            Docker::connect_with_http(addr, TIMEOUT_SECS, &MIN_API).map_err(|e| bad(e.to_string()))
        }
        Some(tls) => {
            let config = tls_config(tls).map_err(|e| bad(e.to_string()))?;
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_only()
                .enable_http1()
                .build();
            let http =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build(https);
            let http = Arc::new(http);
            Docker::connect_with_custom_transport(
                move |req: BollardRequest| {
                    let http = Arc::clone(&http);
                    async move {
                        http.request(req)
                            .await
                            .map_err(bollard::errors::Error::from)
                    }
                },
                Some(format!("https://{addr}")),
                TIMEOUT_SECS,
                &MIN_API,
            )
            .map_err(|e| bad(e.to_string()))
        }
    }
}

/// Why a node's TLS material cannot be used.
#[derive(Debug, thiserror::Error)]
enum TlsMaterialError {
    #[error("CA certificate: {0}")]
    CaPem(pem::Error),
    #[error("CA certificate: {0}")]
    CaRefused(rustls::Error),
    #[error("CA certificate: no PEM certificate found")]
    NoCa,
    #[error("client certificate: {0}")]
    CertPem(pem::Error),
    #[error("client certificate: no PEM certificate found")]
    NoCert,
    #[error("client key: {0}")]
    KeyPem(pem::Error),
    /// the TLS versions of the crypto provider
    #[error("{0}")]
    Versions(rustls::Error),
    #[error("client certificate/key: {0}")]
    CertKey(rustls::Error),
}

/// A rustls client configuration trusting only the node's CA and presenting its client
/// certificate and key.
fn tls_config(tls: &TlsMaterial) -> Result<rustls::ClientConfig, TlsMaterialError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.ca_pem.as_bytes()) {
        let cert = cert.map_err(TlsMaterialError::CaPem)?;
        roots.add(cert).map_err(TlsMaterialError::CaRefused)?;
    }
    if roots.is_empty() {
        return Err(TlsMaterialError::NoCa);
    }
    let chain = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsMaterialError::CertPem)?;
    if chain.is_empty() {
        return Err(TlsMaterialError::NoCert);
    }
    let key =
        PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).map_err(TlsMaterialError::KeyPem)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsMaterialError::Versions)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(TlsMaterialError::CertKey)
}
