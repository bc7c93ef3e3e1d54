//! The SSH jumpbox (跳板机): an SSH server (russh) inside the panel's process, on its own
//! tasks. Users log in with their panel account (same bcrypt hashes and lockout counter
//! as the web login), pick an instance from a numbered menu (or name it in the exec
//! request) and land in a shell in its container: the same `docker exec` bridge as the
//! web terminal (docker/exec.rs, ops/streams.rs), the same ownership rules (the
//! instance is loaded with the user's scope) and the same permission record
//! (`GET /instances/{id}/terminal`). Every shell or command is a row in `sessions`.
//!
//! - `hostkey`: the ed25519 host key in the data directory;
//! - `limits`: concurrent connections overall and per user;
//! - `login`: who is logged in on a connection, as its channels need it;
//! - `conn`: one connection (russh `Handler`): authentication, channel set-up;
//! - `channel`: one session channel: the menu, direct entry, the exec bridge;
//! - `sftp`: the `sftp` subsystem of a session channel: the instances' files.
//! - `forward`: one `ssh -L` forward (direct-tcpip) onto ops/forward.rs.

mod channel;
mod conn;
mod forward;
pub mod hostkey;
mod limits;
mod login;
mod sftp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use russh::server::Config;
use russh::{MethodKind, MethodSet};
use tokio::net::TcpListener;

use crate::config::JumpboxSettings;
use crate::domain::jumpbox::Jumpbox;
use crate::ops::Context;
use limits::Limits;

/// The host key's file in the data directory.
pub const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

#[derive(Debug, thiserror::Error)]
pub enum JumpboxError {
    #[error(transparent)]
    HostKey(#[from] hostkey::HostKeyError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

/// Loads (or creates) the host key, binds `jumpbox.listen` (port 0 picks one) and
/// accepts connections on a task of its own.
pub async fn start(state: Arc<Context>) -> Result<Jumpbox, JumpboxError> {
    let settings = &state.settings;
    let key = hostkey::load_or_create(&settings.server.data_dir.join(HOST_KEY_FILE))?;
    let fingerprint = hostkey::fingerprint(&key);
    let listen = settings.jumpbox.listen.clone();
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| JumpboxError::Bind(listen.clone(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| JumpboxError::Bind(listen, e))?;
    let config = Arc::new(config(key, &settings.jumpbox));
    let limits = Limits::with_spool(
        settings.jumpbox.max_sessions,
        settings.jumpbox.max_sessions_per_user,
        settings.jumpbox.max_unauthenticated,
        settings.jumpbox.max_unauthenticated_per_ip,
        settings.jumpbox.sftp_spool_gb.saturating_mul(1 << 30),
    );
    sftp::clear_spool(&settings.server.data_dir);
    tokio::spawn(accept(listener, config, state, limits));
    log::info!("jumpbox listening on ssh://{addr} (host key {fingerprint})");
    Ok(Jumpbox { addr, fingerprint })
}

fn config(key: russh::keys::PrivateKey, s: &JumpboxSettings) -> Config {
    // every cipher README and Settings.toml name, unless the settings choose some
    let ciphers: Vec<russh::cipher::Name> = s
        .cipher_list()
        .into_iter()
        .filter_map(|c| russh::cipher::Name::try_from(c).ok())
        .collect();
    let preferred = russh::Preferred {
        cipher: ciphers.into(),
        ..Default::default()
    };
    Config {
        preferred,
        server_id: russh::SshId::Standard("SSH-2.0-Suanli".into()),
        methods: MethodSet::from(&[MethodKind::Password][..]),
        // bcrypt takes ~0.3 s; every rejection takes at least this long
        auth_rejection_time: Duration::from_millis(500),
        // the client's first probe ("none") is answered at once
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        // Idle connections are closed by the channel (with a message); this is the
        // backstop for connections that never open one.
        inactivity_timeout: Some(Duration::from_secs(s.idle_timeout_secs + 30)),
        max_auth_attempts: 6,
        nodelay: true,
        ..Default::default()
    }
}

async fn accept(
    listener: TcpListener,
    config: Arc<Config>,
    state: Arc<Context>,
    limits: Arc<Limits>,
) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // out of file descriptors and the like: wait rather than spin
                log::warn!("jumpbox accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            log::debug!("jumpbox set_nodelay: {e}");
        }
        let ip = peer.ip();
        // English: OpenSSH escapes every non-ASCII byte of a disconnect message, and the
        // client's language is not known before login anyway
        let en = |key| crate::i18n::t(crate::i18n::Lang::En, key);
        let slot = match state.throttle.retry_after(ip) {
            Some(secs) => {
                log::info!(ip:display; "jumpbox connection refused: too many failed logins from this address");
                Err(en("login.throttled").replace("{n}", &secs.to_string()))
            }
            None => limits.connection().ok_or_else(|| {
                log::warn!(ip:display; "jumpbox connection refused: jumpbox.max_sessions reached");
                en("jumpbox.full").replace("{n}", &limits.max_total().to_string())
            }),
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(message) => {
                match limits.refusal() {
                    Some(slot) => {
                        let handler = conn::Connection::refusing(
                            Arc::clone(&state),
                            peer,
                            Arc::clone(&limits),
                            slot,
                        );
                        tokio::spawn(refuse(Arc::clone(&config), socket, handler, message));
                    }
                    None => {
                        log::warn!(ip:display; "jumpbox connection dropped: too many refusals at once")
                    }
                }
                continue;
            }
        };
        let Some(pending) = limits.pending(ip) else {
            // SECURITY: a flood of connections that do not log in (from one address, or
            // from everywhere) is closed at once, before it fills `max_sessions`
            log::debug!(ip:display; "jumpbox connection closed: too many not logged in yet");
            continue;
        };
        let handler = conn::Connection::new(
            Arc::clone(&state),
            peer,
            Arc::clone(&limits),
            slot,
            Some(pending),
        );
        let logged_in = handler.logged_in();
        let config = Arc::clone(&config);
        let grace = Duration::from_secs(state.settings.jumpbox.login_grace_secs);
        tokio::spawn(serve(config, socket, handler, logged_in, grace, peer));
    }
}

/// How long a connection past its login grace time may take to leave by itself.
const GRACE_GOODBYE: Duration = Duration::from_secs(1);

fn duplicate(
    socket: tokio::net::TcpStream,
) -> std::io::Result<(tokio::net::TcpStream, std::net::TcpStream)> {
    let socket = socket.into_std()?;
    let cut = socket.try_clone()?;
    Ok((tokio::net::TcpStream::from_std(socket)?, cut))
}

/// Runs one connection; one that has not logged in within `grace` (from accept,
/// including a client that never sends its version line) is closed.
async fn serve(
    config: Arc<Config>,
    socket: tokio::net::TcpStream,
    handler: conn::Connection,
    logged_in: Arc<AtomicBool>,
    grace: Duration,
    peer: SocketAddr,
) {
    // a second handle on the socket, to cut it off when russh cannot be stopped otherwise
    let (socket, cut) = match duplicate(socket) {
        Ok(pair) => pair,
        Err(e) => return log::warn!("jumpbox connection from {peer}: {e}"),
    };
    let deadline = tokio::time::Instant::now() + grace;
    let started =
        tokio::time::timeout_at(deadline, russh::server::run_stream(config, socket, handler)).await;
    let session = match started {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => return log::debug!("jumpbox handshake with {peer} failed: {e}"),
        Err(_) => return log::debug!("jumpbox connection from {peer}: no version line in time"),
    };
    let handle = session.handle();
    let mut session = std::pin::pin!(session);
    tokio::select! {
        ended = &mut session => {
            if let Err(e) = ended {
                log::debug!("jumpbox connection from {peer} ended: {e}");
            }
            return;
        }
        () = tokio::time::sleep_until(deadline) => {}
    }
    if !logged_in.load(Ordering::Acquire) {
        log::debug!("jumpbox connection from {peer}: login grace time over");
        let message = crate::i18n::t(crate::i18n::Lang::En, "jumpbox.grace_over");
        // the message goes out only once a key exchange is done: a client that stalls
        // before that is cut off
        let goodbye = async {
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    message.into(),
                    String::new(),
                )
                .await;
            let _ = (&mut session).await;
        };
        if tokio::time::timeout(GRACE_GOODBYE, goodbye).await.is_err() {
            let _ = cut.shutdown(std::net::Shutdown::Both);
        }
    }
    if let Err(e) = session.await {
        log::debug!("jumpbox connection from {peer} ended: {e}");
    }
}

/// How long a refused connection may take to read its refusal.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Tells a connection why it is refused (beyond `jumpbox.max_sessions`, or from an
/// address out of failed logins): key exchange, then an SSH disconnect "too many
/// connections" with the message, which OpenSSH prints as `Received disconnect from …:
/// <message>`.
async fn refuse(
    config: Arc<Config>,
    socket: tokio::net::TcpStream,
    handler: conn::Connection,
    message: String,
) {
    let told = async {
        let session = russh::server::run_stream(config, socket, handler).await?;
        // queued now, sent once the key exchange is done
        let _ = session
            .handle()
            .disconnect(
                russh::Disconnect::TooManyConnections,
                message,
                String::new(),
            )
            .await;
        session.await
    };
    match tokio::time::timeout(REFUSAL_TIMEOUT, told).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::debug!("jumpbox refusal: {e}"),
        Err(_) => log::debug!("jumpbox refusal timed out"),
    }
}
