//! Secrets at rest: AES-256-GCM under the master key (random 96-bit nonce per value,
//! stored as `nonce || ciphertext+tag`), and loading or generating the key files
//! kept in the data directory with mode 0600. Never logs key material.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::config::Secret;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key `{0}` must be base64 of {1} bytes")]
    BadKey(&'static str, usize),
    #[error("key file {0}: {1}")]
    KeyFile(PathBuf, std::io::Error),
    #[error("stored secret cannot be decrypted (wrong master key or corrupt value)")]
    Decrypt,
}

/// The AES-256-GCM key that encrypts node passwords and TLS client keys.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key = Key::<Aes256Gcm>::try_from(bytes)
            .map_err(|_| CryptoError::BadKey("security.master_key", 32))?;
        Ok(Self(Aes256Gcm::new(&key)))
    }

    pub fn encrypt(&self, plain: &str) -> Vec<u8> {
        let nonce = Nonce::generate();
        // Encryption with a fresh nonce and an in-memory buffer cannot fail.
        let sealed = self.0.encrypt(&nonce, plain.as_bytes()).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        out
    }

    pub fn decrypt(&self, stored: &[u8]) -> Result<String, CryptoError> {
        if stored.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Decrypt)?;
        let plain = self
            .0
            .decrypt(&nonce, sealed)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }
}

/// Takes the key from the setting when given, else from `<dir>/<file>`, generating that
/// file (0600) with `len` random bytes on first start.
pub fn load_or_create_key(
    configured: &Secret,
    setting: &'static str,
    dir: &Path,
    file: &str,
    len: usize,
) -> Result<Vec<u8>, CryptoError> {
    let decode = |text: &str| {
        B64.decode(text.trim())
            .ok()
            .filter(|k| k.len() == len)
            .ok_or(CryptoError::BadKey(setting, len))
    };
    if !configured.is_empty() {
        return decode(configured.expose());
    }
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(text) => decode(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; len];
            rand::fill(&mut key[..]);
            write_private(&path, B64.encode(&key).as_bytes())
                .map_err(|e| CryptoError::KeyFile(path, e))?;
            Ok(key)
        }
        Err(e) => Err(CryptoError::KeyFile(path, e)),
    }
}

/// Creates the data directory (0700) if needed.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Writes a new file readable by the owner only; refuses to overwrite.
pub fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content)?;
    f.sync_all()
}

/// A random token for CSRF and generated passwords: URL-safe base64 of `bytes` bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

/// Hex SHA-256 of a token: what is stored of a login session's random id.
pub fn token_hash(token: &str) -> String {
    sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(token_hash("abd"), token_hash("abc"));
    }

    fn key() -> MasterKey {
        MasterKey::from_bytes(&[7u8; 32]).expect("key")
    }

    #[test]
    fn round_trip_with_fresh_nonce() {
        let k = key();
        let a = k.encrypt("s3cret-password");
        let b = k.encrypt("s3cret-password");
        assert_ne!(a, b, "nonce must differ per value");
        assert!(!a.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(k.decrypt(&a).expect("decrypt"), "s3cret-password");
    }

    #[test]
    fn wrong_key_or_tamper_fails() {
        let a = key().encrypt("x");
        let other = MasterKey::from_bytes(&[8u8; 32]).expect("key");
        assert!(other.decrypt(&a).is_err());
        let mut t = a.clone();
        if let Some(last) = t.last_mut() {
            *last ^= 1;
        }
        assert!(key().decrypt(&t).is_err());
        assert!(key().decrypt(&[1, 2, 3]).is_err());
    }

    #[test]
    fn key_file_is_generated_once_with_0600() {
        let dir = std::env::temp_dir().join(format!("suanli-key-{}", random_token(6)));
        ensure_private_dir(&dir).expect("dir");
        let a = load_or_create_key(&Secret::default(), "k", &dir, "master.key", 32).expect("gen");
        let b = load_or_create_key(&Secret::default(), "k", &dir, "master.key", 32).expect("load");
        assert_eq!(a, b);
        let mode = fs::metadata(dir.join("master.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(load_or_create_key(&Secret::new("bad"), "k", &dir, "x", 32).is_err());
        let _ = fs::remove_dir_all(dir);
    }
}
