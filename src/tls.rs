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
//! This module owns the files in `<data_dir>/tls/` and reads the operator's; it never
//! replaces a CA that exists, and never touches the network.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::config::ServerSettings;
use crate::domain::tls::{CertName, default_names, parse_names, same_names};

/// Apple's platforms refuse TLS server certificates valid for longer (even from a
/// CA the user installed); Chromium and Firefox accept it from a local CA.
const SERVER_DAYS: i64 = 825;
const CA_DAYS: i64 = 3650;
/// A generated server certificate this close to its end is issued again at start.
const RENEW_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// a file the operator named, or one of the generated ones, is missing or unusable
    #[error("`{key}` {path}: {why}")]
    File {
        key: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("{0}")]
    Generate(String),
}

/// The panel's HTTPS once it listens: what the settings page shows, and the port of the
/// plain-HTTP redirects (a port the NAT forwards must not take).
#[derive(Clone, Debug)]
pub struct Https {
    pub info: TlsInfo,
    /// where HTTPS listens (as bound)
    pub addr: std::net::SocketAddr,
    pub redirect: Option<std::net::SocketAddr>,
}

/// What the panel serves over HTTPS, and what the settings page and the log show of it.
pub struct Tls {
    pub config: ServerConfig,
    pub info: TlsInfo,
}

#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// the served certificate's SHA-256 (of its DER), `AB:CD:…` as browsers show it
    pub fingerprint: String,
    /// base64 SHA-256 of its public key (SPKI): what Chromium's
    /// `--ignore-certificate-errors-spki-list` and key pins take
    pub spki_sha256: String,
    /// its subject alternative names
    pub names: Vec<String>,
    /// the last day it is valid (UTC), `YYYY-MM-DD`
    pub not_after: String,
    pub cert_path: PathBuf,
    /// the local CA, when the certificate is generated
    pub ca: Option<CaInfo>,
    /// whether this start issued the server certificate (first start, names changed,
    /// expiring)
    pub issued: bool,
}

#[derive(Clone, Debug)]
pub struct CaInfo {
    pub path: PathBuf,
    pub fingerprint: String,
}

/// The certificate and rustls configuration for `server` (which has `tls` on).
pub fn load(server: &ServerSettings) -> Result<Tls, TlsError> {
    let (chain, key, mut info) = if server.tls_cert.as_os_str().is_empty() {
        let wanted = wanted_names(server);
        generated(&server.data_dir.join("tls"), &wanted)?
    } else {
        operator_files(&server.tls_cert, &server.tls_key)?
    };
    let leaf = chain.first().ok_or_else(|| TlsError::File {
        key: "server.tls_cert",
        path: info.cert_path.clone(),
        why: "no certificate".into(),
    })?;
    info.fingerprint = fingerprint(leaf);
    let described = describe(leaf).map_err(|why| TlsError::File {
        key: "server.tls_cert",
        path: info.cert_path.clone(),
        why,
    })?;
    info.spki_sha256 = described.spki_sha256;
    info.names = described.names.iter().map(ToString::to_string).collect();
    info.not_after = described.not_after.date().to_string();
    let cert_path = info.cert_path.clone();
    let config = server_config(chain, key).map_err(|why| TlsError::File {
        key: "server.tls_key",
        path: cert_path,
        why,
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
fn operator_files(
    cert: &Path,
    key: &Path,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        TlsInfo,
    ),
    TlsError,
> {
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
) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                "the key does not belong to the certificate (`server.tls_cert`)".to_string()
            }
            e => e.to_string(),
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

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| format!("not an X.509 certificate: {e}"))
}

fn describe(der: &[u8]) -> Result<Described, String> {
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

/// The files of the generated certificate.
struct Files {
    ca_cert: PathBuf,
    ca_key: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// The local CA and its server certificate for `wanted` in `dir`, made or re-issued as
/// needed.
fn generated(
    dir: &Path,
    wanted: &[CertName],
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        TlsInfo,
    ),
    TlsError,
> {
    let file_err = |path: &Path, why: String| TlsError::File {
        key: "server.data_dir",
        path: path.to_path_buf(),
        why,
    };
    crate::crypto::ensure_private_dir(dir).map_err(|e| file_err(dir, e.to_string()))?;
    let f = Files {
        ca_cert: dir.join("ca.pem"),
        ca_key: dir.join("ca.key"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    let read = |p: &Path| match std::fs::read_to_string(p) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_err(p, e.to_string())),
    };
    let (ca_pem, ca_key) = match (read(&f.ca_cert)?, read(&f.ca_key)?) {
        (Some(cert), key) => (cert, key),
        (None, None) => {
            let (cert, key) = new_ca().map_err(TlsError::Generate)?;
            replace_file(&f.ca_key, key.as_bytes(), 0o600)
                .map_err(|e| file_err(&f.ca_key, e.to_string()))?;
            replace_file(&f.ca_cert, cert.as_bytes(), 0o644)
                .map_err(|e| file_err(&f.ca_cert, e.to_string()))?;
            log::info!(
                "tls: created a local certificate authority in {}",
                f.ca_cert.display()
            );
            (cert, Some(key))
        }
        (None, Some(_)) => {
            return Err(file_err(
                &f.ca_cert,
                "missing while ca.key exists: restore ca.pem, or remove ca.key to create a new CA"
                    .into(),
            ));
        }
    };
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| file_err(&f.ca_cert, format!("not a PEM certificate: {e}")))?;
    let ca = CaInfo {
        path: f.ca_cert.clone(),
        fingerprint: fingerprint(&ca_der),
    };

    if let (Some(cert_pem), Some(key_pem)) = (read(&f.cert)?, read(&f.key)?)
        && let Ok(cert) = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        && let Ok(key) = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
    {
        match still_good(&cert, &key_pem, &ca_der, wanted) {
            Ok(()) => return Ok((vec![cert], key, info_for(&f.cert, Some(ca), false))),
            Err(why) => log::info!("tls: issuing the server certificate again: {why}"),
        }
    }

    let ca_key = ca_key.ok_or_else(|| {
        file_err(
            &f.ca_key,
            "missing, so the server certificate cannot be issued (first start, names changed \
             or expiring): restore ca.key, or remove ca.pem to create a new CA"
                .into(),
        )
    })?;
    let ca_key =
        KeyPair::from_pem(&ca_key).map_err(|e| file_err(&f.ca_key, format!("not a key: {e}")))?;
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key)
        .map_err(|e| file_err(&f.ca_cert, format!("cannot use it as the issuer: {e}")))?;
    let (cert_pem, key_pem) = new_server_cert(&issuer, wanted).map_err(TlsError::Generate)?;
    replace_file(&f.key, key_pem.as_bytes(), 0o600).map_err(|e| file_err(&f.key, e.to_string()))?;
    replace_file(&f.cert, cert_pem.as_bytes(), 0o644)
        .map_err(|e| file_err(&f.cert, e.to_string()))?;
    let names: Vec<String> = wanted.iter().map(ToString::to_string).collect();
    log::info!(
        "tls: issued the server certificate for {}",
        names.join(", ")
    );
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((vec![cert], key, info_for(&f.cert, Some(ca), true)))
}

/// Why the existing server certificate must be issued again, if it must.
fn still_good(cert: &[u8], key_pem: &str, ca: &[u8], wanted: &[CertName]) -> Result<(), String> {
    let described = describe(cert)?;
    if !same_names(&described.names, wanted) {
        return Err("the names changed".into());
    }
    if described.not_after - OffsetDateTime::now_utc() < Duration::days(RENEW_DAYS) {
        return Err(format!("it expires within {RENEW_DAYS} days"));
    }
    let parsed = parse(cert)?;
    let ca = parse(ca)?;
    parsed
        .verify_signature(Some(ca.public_key()))
        .map_err(|_| "it was not signed by ca.pem".to_string())?;
    let key = KeyPair::from_pem(key_pem).map_err(|e| format!("server.key: {e}"))?;
    if key.subject_public_key_info() != parsed.public_key().raw {
        return Err("server.key does not belong to it".into());
    }
    Ok(())
}

/// 128 random bits, positive (the top bit clear, as DER integers want).
fn serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// A new CA: (certificate PEM, key PEM). Its name carries this host's name and a random
/// tag, so two panels' CAs are told apart in a browser's list.
fn new_ca() -> Result<(String, String), String> {
    let mut tag = [0u8; 4];
    rand::fill(&mut tag[..]);
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let host = host_name().unwrap_or_else(|| "panel".into());
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("Suanli local CA {host} {tag}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Suanli");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(serial());
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(CA_DAYS);
    let key = KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("CA certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A server certificate for `names` signed by `issuer`: (certificate PEM, key PEM).
fn new_server_cert(
    issuer: &Issuer<'_, KeyPair>,
    names: &[CertName],
) -> Result<(String, String), String> {
    let mut params = CertificateParams::default();
    for name in names {
        params.subject_alt_names.push(match name {
            CertName::Dns(n) => {
                SanType::DnsName(n.clone().try_into().map_err(|e| format!("name {n}: {e}"))?)
            }
            CertName::Ip(ip) => SanType::IpAddress(*ip),
        });
    }
    let cn = names
        .first()
        .map_or_else(|| "localhost".to_string(), ToString::to_string);
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Suanli");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial());
    let now = OffsetDateTime::now_utc();
    // a day back: clients whose clock runs a little behind still accept it
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(SERVER_DAYS);
    let key = KeyPair::generate().map_err(|e| format!("server key: {e}"))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|e| format!("server certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `path` whole or not at all (a temporary file renamed over it), with `mode`.
fn replace_file(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &str) -> Vec<CertName> {
        parse_names(list).unwrap()
    }

    fn temp_dir() -> PathBuf {
        let mut tag = [0u8; 8];
        rand::fill(&mut tag[..]);
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        std::env::temp_dir().join(format!("suanli-tls-unit-{tag}"))
    }

    #[test]
    fn the_server_certificate_is_reused_and_issued_again_when_names_change() {
        let dir = temp_dir();
        let (chain, _, first) = generated(&dir, &names("localhost, 127.0.0.1")).unwrap();
        assert!(first.issued);
        let ca = first.ca.clone().unwrap();
        let described = describe(&chain[0]).unwrap();
        assert!(same_names(&described.names, &names("127.0.0.1, localhost")));
        let mode = |f: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777
        };
        assert_eq!((mode("ca.key"), mode("server.key")), (0o600, 0o600));

        let (again, _, second) = generated(&dir, &names("127.0.0.1, localhost")).unwrap();
        assert!(!second.issued, "same names: reused");
        assert_eq!(fingerprint(&again[0]), fingerprint(&chain[0]));

        let (third, _, info) = generated(&dir, &names("localhost, panel.example")).unwrap();
        assert!(info.issued, "names changed: issued again");
        assert_ne!(fingerprint(&third[0]), fingerprint(&chain[0]));
        assert_eq!(info.ca.unwrap().fingerprint, ca.fingerprint, "same CA");
        let ca_der = CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap();
        let key = std::fs::read_to_string(dir.join("server.key")).unwrap();
        still_good(&third[0], &key, &ca_der, &names("panel.example, localhost")).unwrap();

        // without the CA key, a certificate that still fits is served; a new one cannot
        // be issued
        std::fs::remove_file(dir.join("ca.key")).unwrap();
        generated(&dir, &names("localhost, panel.example")).unwrap();
        let err = generated(&dir, &names("localhost"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ca.key") && err.contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_certificate_from_another_ca_is_replaced() {
        let (a, b) = (temp_dir(), temp_dir());
        let wanted = names("localhost");
        generated(&a, &wanted).unwrap();
        generated(&b, &wanted).unwrap();
        std::fs::copy(b.join("server.pem"), a.join("server.pem")).unwrap();
        std::fs::copy(b.join("server.key"), a.join("server.key")).unwrap();
        let (_, _, info) = generated(&a, &wanted).unwrap();
        assert!(info.issued, "not signed by this CA");
        // a key that is not the certificate's
        std::fs::copy(b.join("server.key"), a.join("server.key")).unwrap();
        let (_, _, info) = generated(&a, &wanted).unwrap();
        assert!(info.issued, "key mismatch");
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn fingerprints_are_colon_hex() {
        let fp = fingerprint(b"x");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.starts_with("2D:71:16:42"), "{fp}");
    }
}
