//! One SSH connection (russh `Handler`): password authentication against the panel's
//! users, then session channels, each run by `channel::run` on its own task, and `ssh
//! -L` forwards (direct-tcpip), each run by `forward::run` on its own task. Requests
//! on a channel (pty, env, shell, exec, window-change) reach that task through the
//! channel itself; here they are only acknowledged. Every other kind of forwarding
//! (`-R`, Unix sockets, X11, the agent) is refused here, with a line where the protocol
//! has room for one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use russh::server::{Auth, Handler, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};

use super::channel;
use super::forward;
use super::limits::{Limits, Slot};
use super::login::{Login, Shared, TERMINAL_ROUTE};
use crate::domain::access::Actor;
use crate::domain::jumpbox::split_login;
use crate::ops::Context;
use crate::ops::accounts::{LoginError, LoginRefused};
use crate::ops::audit::Origin;
use crate::ops::streams::Holder;

pub struct Connection {
    state: Arc<Context>,
    peer: SocketAddr,
    limits: Arc<Limits>,
    shared: Option<Arc<Shared>>,
    /// beyond the overall limit: only there to be told so, never to log in
    refusing: bool,
    /// set at login (the login grace time no longer applies)
    logged_in: Arc<AtomicBool>,
    /// held from accept until login
    pending: Option<Slot>,
    /// held while the connection lives
    _slot: Slot,
    _user_slot: Option<Slot>,
}

impl Connection {
    pub fn new(
        state: Arc<Context>,
        peer: SocketAddr,
        limits: Arc<Limits>,
        slot: Slot,
        pending: Option<Slot>,
    ) -> Self {
        Connection {
            state,
            peer,
            limits,
            shared: None,
            refusing: false,
            logged_in: Arc::default(),
            pending,
            _slot: slot,
            _user_slot: None,
        }
    }

    /// A connection beyond the overall limit, holding a refusal slot: every login is
    /// refused without looking at the password (no bcrypt, no lockout count).
    pub fn refusing(
        state: Arc<Context>,
        peer: SocketAddr,
        limits: Arc<Limits>,
        slot: Slot,
    ) -> Self {
        Connection {
            refusing: true,
            ..Connection::new(state, peer, limits, slot, None)
        }
    }

    /// Whether the connection has logged in (read by the login grace timer).
    pub fn logged_in(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.logged_in)
    }

    fn refuse(&self) -> Auth {
        if self.refusing {
            Auth::Reject {
                proceed_with_methods: Some(MethodSet::from(&[][..])),
                partial_success: false,
            }
        } else {
            try_again()
        }
    }
}

/// A line for the client's stderr (English: see forward.rs).
fn refusal_line(key: &str) -> String {
    format!("{}\r\n", crate::i18n::t(crate::i18n::Lang::En, key))
}

/// A refusal that lets the client ask for the password again.
fn try_again() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(&[MethodKind::Password][..])),
        partial_success: false,
    }
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(self.refuse())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.refusing {
            return Ok(self.refuse());
        }
        let ip = self.peer.ip().to_string();
        let (account, instance) = split_login(user);
        let u = match crate::ops::accounts::login(&self.state, account, password, &ip, "ssh").await
        {
            Ok(u) => u,
            Err(LoginError::Refused(LoginRefused::Throttled(_))) => {
                // the address spent its budget during this connection: no more tries
                // here; its next connection is told why (see `accept`)
                log::info!(ip = ip.as_str(); "jumpbox login refused: too many failures from this address");
                return Ok(Auth::Reject {
                    proceed_with_methods: Some(MethodSet::from(&[][..])),
                    partial_success: false,
                });
            }
            Err(LoginError::Refused(why)) => {
                log::info!(ip = ip.as_str(); "jumpbox login refused: {why}");
                return Ok(try_again());
            }
            Err(LoginError::Ops(e)) => {
                log::error!(ip = ip.as_str(); "jumpbox login failed: {e}");
                return Ok(try_again());
            }
        };
        let user_slot = self.limits.user(u.id);
        let login = Login {
            actor: Actor {
                user_id: u.id,
                role: u.role(),
                company_id: u.company_id,
            },
            username: u.username.clone(),
            instance: instance.map(String::from),
            holder: Holder {
                user_id: u.id,
                epoch: u.session_epoch,
                login_at: Utc::now().timestamp(),
                login_session: None,
                route: TERMINAL_ROUTE.to_string(),
            },
            origin: Origin::new(Some(u.id), u.username.as_str(), u.role.as_str(), ip, "ssh"),
            must_change_password: u.must_change_password,
            over_limit: user_slot.is_none(),
        };
        self._user_slot = user_slot;
        self.pending = None;
        self.logged_in.store(true, Ordering::Release);
        self.shared = Some(Arc::new(Shared {
            state: Arc::clone(&self.state),
            login,
            limits: Arc::clone(&self.limits),
        }));
        Ok(Auth::Accept)
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(try_again())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // russh opens channels only after authentication; dropping `reply` refuses
        let Some(shared) = self.shared.clone() else {
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(channel::run(shared, channel));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(shared) = self.shared.clone() else {
            return Ok(());
        };
        // checked and connected on its own task: a slow node must not hold up the
        // connection's other channels
        let to = forward::Asked {
            host: host_to_connect.to_string(),
            port: port_to_connect,
        };
        tokio::spawn(forward::run(shared, channel, reply, to));
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        forward::refuse_kind(reply, "forward.unix_socket").await;
        Ok(())
    }

    /// `ssh -R`: refused (OpenSSH says "remote port forwarding failed for listen port";
    /// a global request's failure carries no text).
    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        log::info!(ip:display = self.peer.ip(); "jumpbox refused remote forwarding of {address}:{port}");
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        _socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // before the shell starts: the line reaches the client's stderr first
        session.extended_data(channel, 1, refusal_line("forward.x11"))?;
        session.channel_failure(channel)
    }

    async fn agent_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        session.extended_data(channel, 1, refusal_line("forward.agent"))?;
        Ok(false)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // sftp only (the channel's task runs it); others are refused here and there
        if name == "sftp" {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }
}
