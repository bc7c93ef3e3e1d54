//! The panel's own SSH connections to its nodes (a russh client): password login with
//! the node form's user and password, the node's host key checked against the one the
//! panel learnt on its first connection (trust on first use), and direct-tcpip channels
//! to a container's address, which the jumpbox's port forwards ride on for containers
//! on other machines. It decides nothing: ops/forward.rs says where to connect, which
//! key to expect, and stores a key learnt.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle, Msg};
use russh::keys::{HashAlg, PublicKey};
use russh::{ChannelStream, Disconnect};

use crate::domain::forward::{HostKeyCheck, NodeSsh, check_host_key};

/// How long connecting and logging in to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum NodeSshError {
    #[error("cannot reach the node's SSH at {0}: {1}")]
    Unreachable(String, String),
    /// the node shows another host key than the one learnt: refused
    #[error("the node's SSH host key changed (it now shows {0})")]
    HostKeyChanged(String),
    #[error("the node's SSH refused the user name or password of the node form")]
    AuthFailed,
    /// the node's sshd refused the channel (AllowTcpForwarding no, nothing listening)
    #[error("the node's SSH could not open the connection: {0}")]
    Channel(String),
}

/// Checks the node's host key during the key exchange and keeps what it saw.
struct Checker {
    stored: Option<String>,
    /// the key the node showed (OpenSSH form), with its SHA256 fingerprint
    seen: Arc<Mutex<Option<(String, String)>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key: PublicKey = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(c) => {
                PublicKey::from(c.public_key().clone())
            }
        };
        let Ok(text) = key.to_openssh() else {
            return Ok(false);
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let verdict = check_host_key(self.stored.as_deref(), &text);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((text, fingerprint));
        }
        // SECURITY: a node that shows another key than the one learnt is refused before
        // the password is sent
        Ok(verdict != HostKeyCheck::Changed)
    }
}

/// One logged-in SSH connection to a node; channels are opened on it as needed. The
/// connection ends when the last `Link` (and its channels) are dropped.
pub struct Link {
    handle: Handle<Checker>,
}

/// A connection, and the host key the node showed (to store when none was).
pub struct Connected {
    pub link: Link,
    pub host_key: String,
}

/// Connects to the node's SSH, checks its host key against `stored` (None: any key, to
/// be stored by the caller) and logs in with the password.
pub async fn connect(
    to: &NodeSsh,
    password: &str,
    stored: Option<&str>,
) -> Result<Connected, NodeSshError> {
    let addr = format!("{}:{}", to.host, to.port);
    let seen = Arc::new(Mutex::new(None));
    let checker = Checker {
        stored: stored.map(String::from),
        seen: Arc::clone(&seen),
    };
    let config = Arc::new(client::Config {
        // large windows: forwards stream bulk data (datasets, checkpoints)
        window_size: 8 * 1024 * 1024,
        nodelay: true,
        keepalive_interval: Some(Duration::from_secs(30)),
        ..Default::default()
    });
    let host = to.host.trim_start_matches('[').trim_end_matches(']');
    let target = (host.to_string(), to.port);
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut handle = client::connect(config, target, checker).await?;
        let auth = handle
            .authenticate_password(to.username.clone(), password)
            .await?;
        Ok::<_, russh::Error>((handle, auth.success()))
    })
    .await;
    let seen = seen.lock().ok().and_then(|s| s.clone());
    let (handle, ok) = match connected {
        Err(_) => return Err(NodeSshError::Unreachable(addr, "timed out".into())),
        Ok(Err(e)) => {
            if let (Some((text, fingerprint)), Some(_)) = (&seen, stored)
                && check_host_key(stored, text) == HostKeyCheck::Changed
            {
                return Err(NodeSshError::HostKeyChanged(fingerprint.clone()));
            }
            return Err(NodeSshError::Unreachable(addr, e.to_string()));
        }
        Ok(Ok(pair)) => pair,
    };
    if !ok {
        let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
        return Err(NodeSshError::AuthFailed);
    }
    let host_key = seen.map(|(text, _)| text).unwrap_or_default();
    Ok(Connected {
        link: Link { handle },
        host_key,
    })
}

impl Link {
    /// A stream to `ip:port` as the node sees it (direct-tcpip from the node's sshd).
    pub async fn open(&self, ip: IpAddr, port: u16) -> Result<ChannelStream<Msg>, NodeSshError> {
        let channel = self
            .handle
            .channel_open_direct_tcpip(ip.to_string(), u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|e| NodeSshError::Channel(e.to_string()))?;
        Ok(channel.into_stream())
    }

    /// The connection is gone (the node closed it, the network broke).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}
