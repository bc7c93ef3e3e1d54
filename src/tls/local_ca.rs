//! The panel's own certificate authority (Proxmox's pve-root-ca + pve-ssl): the files in
//! `<data_dir>/tls/`, made at first start and the server certificate issued again when it
//! no longer fits. Never replaces a CA that exists; writes each file whole or not at all.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use super::{CertError, TlsError, describe, fingerprint, host_name, info_for, parse};
use crate::domain::tls::{CaInfo, CertName, same_names};

/// Apple's platforms refuse TLS server certificates valid for longer (even from a
/// CA the user installed); Chromium and Firefox accept it from a local CA.
const SERVER_DAYS: i64 = 825;
const CA_DAYS: i64 = 3650;
/// A generated server certificate this close to its end is issued again at start.
const RENEW_DAYS: i64 = 30;

/// Why a certificate or key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("CA key: {0}")]
    CaKey(rcgen::Error),
    #[error("CA certificate: {0}")]
    CaCert(rcgen::Error),
    /// a name of `server.tls_names` rcgen does not take as a DNS name
    #[error("name {0}: {1}")]
    Name(String, rcgen::Error),
    #[error("server key: {0}")]
    ServerKey(rcgen::Error),
    #[error("server certificate: {0}")]
    ServerCert(rcgen::Error),
    /// what was just made does not read back
    #[error("{0}")]
    Pem(rustls_pki_types::pem::Error),
}

/// Why the existing server certificate must be issued again.
#[derive(Debug, thiserror::Error)]
enum Stale {
    #[error(transparent)]
    Unreadable(#[from] CertError),
    #[error("the names changed")]
    NamesChanged,
    #[error("it expires within {} days", RENEW_DAYS)]
    Expiring,
    #[error("it was not signed by ca.pem")]
    NotSignedByCa,
    #[error("server.key: {0}")]
    Key(rcgen::Error),
    #[error("server.key does not belong to it")]
    KeyMismatch,
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
pub(super) fn generated(dir: &Path, wanted: &[CertName]) -> Result<super::Served, TlsError> {
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
            let (cert, key) = new_ca()?;
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
    let (cert_pem, key_pem) = new_server_cert(&issuer, wanted)?;
    replace_file(&f.key, key_pem.as_bytes(), 0o600).map_err(|e| file_err(&f.key, e.to_string()))?;
    replace_file(&f.cert, cert_pem.as_bytes(), 0o644)
        .map_err(|e| file_err(&f.cert, e.to_string()))?;
    let names: Vec<String> = wanted.iter().map(ToString::to_string).collect();
    log::info!(
        "tls: issued the server certificate for {}",
        names.join(", ")
    );
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(GenerateError::Pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(GenerateError::Pem)?;
    Ok((vec![cert], key, info_for(&f.cert, Some(ca), true)))
}

/// Why the existing server certificate must be issued again, if it must.
fn still_good(cert: &[u8], key_pem: &str, ca: &[u8], wanted: &[CertName]) -> Result<(), Stale> {
    let described = describe(cert)?;
    if !same_names(&described.names, wanted) {
        return Err(Stale::NamesChanged);
    }
    if described.not_after - OffsetDateTime::now_utc() < Duration::days(RENEW_DAYS) {
        return Err(Stale::Expiring);
    }
    let parsed = parse(cert)?;
    let ca = parse(ca)?;
    parsed
        .verify_signature(Some(ca.public_key()))
        .map_err(|_| Stale::NotSignedByCa)?;
    let key = KeyPair::from_pem(key_pem).map_err(Stale::Key)?;
    if key.subject_public_key_info() != parsed.public_key().raw {
        return Err(Stale::KeyMismatch);
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
fn new_ca() -> Result<(String, String), GenerateError> {
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
    valid_for(&mut params, CA_DAYS);
    let key = KeyPair::generate().map_err(GenerateError::CaKey)?;
    let cert = params.self_signed(&key).map_err(GenerateError::CaCert)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A fresh serial, valid from a day back (clients whose clock runs a little behind still
/// accept it) for `days`.
fn valid_for(params: &mut CertificateParams, days: i64) {
    params.serial_number = Some(serial());
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(days);
}

/// A server certificate for `names` signed by `issuer`: (certificate PEM, key PEM).
fn new_server_cert(
    issuer: &Issuer<'_, KeyPair>,
    names: &[CertName],
) -> Result<(String, String), GenerateError> {
    let mut params = CertificateParams::default();
    for name in names {
        params.subject_alt_names.push(match name {
            CertName::Dns(n) => SanType::DnsName(
                n.clone()
                    .try_into()
                    .map_err(|e| GenerateError::Name(n.clone(), e))?,
            ),
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
    valid_for(&mut params, SERVER_DAYS);
    let key = KeyPair::generate().map_err(GenerateError::ServerKey)?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(GenerateError::ServerCert)?;
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
    use crate::domain::tls::parse_names;

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
}
