//! The jumpbox's ed25519 host key: generated on first start into the data directory
//! (mode 0600, OpenSSH format), read back on every later start so clients see the same
//! fingerprint.

use std::path::Path;

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("host key {0}: {1}")]
    Io(String, std::io::Error),
    #[error("host key {0}: {1}")]
    Key(String, String),
}

/// Reads the key at `path`, or creates it when the file does not exist.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => PrivateKey::from_openssh(text.trim())
            .map_err(|e| HostKeyError::Key(shown, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
                .map_err(|e| HostKeyError::Key(shown.clone(), e.to_string()))?;
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| HostKeyError::Key(shown.clone(), e.to_string()))?;
            crate::crypto::write_private(path, text.as_bytes())
                .map_err(|e| HostKeyError::Io(shown.clone(), e))?;
            log::info!("jumpbox: generated the host key {shown}");
            Ok(key)
        }
        Err(e) => Err(HostKeyError::Io(shown, e)),
    }
}

/// `SHA256:…`, as `ssh-keygen -lf` and the client's first-connection prompt show it.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("suanli-hostkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ssh_host_ed25519_key");
        let _ = std::fs::remove_file(&path);
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(&path).unwrap();
        assert_eq!(fingerprint(&first), fingerprint(&again));
        assert!(fingerprint(&first).starts_with("SHA256:"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
