//! The panel's own HTTPS (`server.tls`, issue #14): the certificate it serves and the
//! rustls configuration (ring only; aws-lc-rs is never in the tree).
//!
//! Either the operator's PEM files (`server.tls_cert` + `server.tls_key`), or, when those
//! are empty, a certificate of its own, like Proxmox's pve-root-ca + pve-ssl: a local CA
//! made at first start in `<data_dir>/tls/` (ca.pem, ca.key 0600) and a server
//! certificate signed by it (server.pem, server.key 0600) for `server.tls_names`. At each
//! start the server certificate is reused unless its names differ from the configured
//! ones, it expires within 30 days, or it no longer matches its key or the CA: then it is
//! issued again by the same CA, so browsers that trust the CA keep trusting the panel.
//! This module owns the files in `<data_dir>/tls/` (local_ca.rs) and reads the
//! operator's; it never replaces a CA that exists, and never touches the network.

mod local_ca;

pub use local_ca::GenerateError;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::config::ServerSettings;
use crate::domain::tls::{CaInfo, CertName, TlsInfo, default_names, parse_names};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// a file the operator named, or one of the generated ones, is missing or unusable
    #[error("`{key}` {path}: {why}")]
    File {
        key: &'static str,
        path: PathBuf,
        why: String,
    },
    /// a certificate (the operator's or the generated one) that cannot be served
    #[error("`{key}` {path}: {source}")]
    Cert {
        key: &'static str,
        path: PathBuf,
        source: CertError,
    },
    #[error(transparent)]
    Generate(#[from] GenerateError),
}

/// Why a certificate cannot be read or served with its key.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("not an X.509 certificate: {0}")]
    NotX509(x509_parser::nom::Err<x509_parser::error::X509Error>),
    #[error("the key does not belong to the certificate (`server.tls_cert`)")]
    KeyMismatch,
    /// rustls refused the protocol versions, the certificate or the key
    #[error("{0}")]
    Refused(rustls::Error),
}

/// What the panel serves over HTTPS, and what the settings page and the log show of it.
pub struct Tls {
    pub config: ServerConfig,
    pub info: TlsInfo,
}

/// The certificate and rustls configuration for `server` (which has `tls` on).
pub fn load(server: &ServerSettings) -> Result<Tls, TlsError> {
    let (chain, key, mut info) = if server.tls_cert.as_os_str().is_empty() {
        let wanted = wanted_names(server);
        local_ca::generated(&server.data_dir.join("tls"), &wanted)?
    } else {
        operator_files(&server.tls_cert, &server.tls_key)?
    };
    let leaf = chain.first().ok_or_else(|| TlsError::File {
        key: "server.tls_cert",
        path: info.cert_path.clone(),
        why: "no certificate".into(),
    })?;
    info.fingerprint = fingerprint(leaf);
    let described = describe(leaf).map_err(|source| TlsError::Cert {
        key: "server.tls_cert",
        path: info.cert_path.clone(),
        source,
    })?;
    info.spki_sha256 = described.spki_sha256;
    info.names = described.names.iter().map(ToString::to_string).collect();
    info.not_after = described.not_after.date().to_string();
    let cert_path = info.cert_path.clone();
    let config = server_config(chain, key).map_err(|source| TlsError::Cert {
        key: "server.tls_key",
        path: cert_path,
        source,
    })?;
    Ok(Tls { config, info })
}

/// `server.tls_names`, or when empty the defaults (localhost, loopback addresses, this
/// host's name, the listen address).
pub fn wanted_names(server: &ServerSettings) -> Vec<CertName> {
    match parse_names(&server.tls_names) {
        Ok(names) if !names.is_empty() => names,
        // validate() refused a bad list already
        _ => default_names(
            host_name().as_deref(),
            server
                .listen
                .parse::<std::net::SocketAddr>()
                .ok()
                .map(|a| a.ip()),
        ),
    }
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The operator's certificate chain and key.
/// What the listener serves: the certificate chain, its key, and what the page shows.
pub(crate) type Served = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    TlsInfo,
);

fn operator_files(cert: &Path, key: &Path) -> Result<Served, TlsError> {
    let bad = |key, path: &Path, why: String| TlsError::File {
        key,
        path: path.to_path_buf(),
        why,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| bad("server.tls_cert", cert, e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("server.tls_cert", cert, format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(bad(
            "server.tls_cert",
            cert,
            "no `BEGIN CERTIFICATE` block".into(),
        ));
    }
    let key_pem = std::fs::read(key).map_err(|e| bad("server.tls_key", key, e.to_string()))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        bad(
            "server.tls_key",
            key,
            "no private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC)".into(),
        )
    })?;
    Ok((chain, private, info_for(cert, None, false)))
}

fn info_for(cert_path: &Path, ca: Option<CaInfo>, issued: bool) -> TlsInfo {
    TlsInfo {
        fingerprint: String::new(),
        spki_sha256: String::new(),
        names: Vec::new(),
        not_after: String::new(),
        cert_path: cert_path.to_path_buf(),
        ca,
        issued,
    }
}

/// The rustls configuration: ring, TLS 1.2 and 1.3, HTTP/1.1 (the server speaks no h2).
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, CertError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(CertError::Refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch,
            e => CertError::Refused(e),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `AB:CD:…`: SHA-256 of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    crate::crypto::sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What the panel reads of a certificate.
struct Described {
    names: Vec<CertName>,
    not_after: OffsetDateTime,
    spki_sha256: String,
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(CertError::NotX509)
}

fn describe(der: &[u8]) -> Result<Described, CertError> {
    let cert = parse(der)?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => names.extend(CertName::parse(n)),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => names.extend(<[u8; 4]>::try_from(*b).map(|a| CertName::Ip(a.into()))),
                    16 => names.extend(<[u8; 16]>::try_from(*b).map(|a| CertName::Ip(a.into()))),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(Described {
        names,
        not_after: cert.validity().not_after.to_datetime(),
        spki_sha256: base64::engine::general_purpose::STANDARD
            .encode(crate::crypto::sha256(cert.public_key().raw)),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_are_colon_hex() {
        let fp = super::fingerprint(b"x");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.starts_with("2D:71:16:42"), "{fp}");
    }
}
