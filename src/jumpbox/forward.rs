//! One `ssh -L` forward (a direct-tcpip channel) of a logged-in user: ops/forward.rs
//! decides and connects; here the channel is accepted, or refused with a line the
//! client prints (`channel 2: open failed: administratively prohibited: <why>`), and
//! handed to the tunnel as a byte stream. Refusals are in English: the client's
//! language is not known on this channel, and OpenSSH escapes non-ASCII there.

use std::sync::Arc;
use std::time::Duration;

use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelOpenFailure};

use super::login::{Barred, Shared};
use crate::i18n::{self, Lang};
use crate::ops::forward::{self, Ask, Refused};

/// What the client asked to reach.
pub struct Asked {
    pub host: String,
    pub port: u32,
}

/// Checks and connects the forward, then runs it on its own task's time until it ends.
pub async fn run(shared: Arc<Shared>, channel: Channel<Msg>, reply: ChannelOpenHandle, to: Asked) {
    let login = &shared.login;
    // the same refusals as a session channel's (in English: see `t`)
    match shared.barred() {
        Some(Barred::MustChangePassword) => {
            return refuse(reply, t("forward.must_change"), false).await;
        }
        Some(Barred::TooMany(n)) => {
            let text = t("forward.too_many").replace("{n}", &n.to_string());
            return refuse(reply, text, false).await;
        }
        None => {}
    }
    let ask = Ask {
        actor: &login.actor,
        holder: &login.holder,
        origin: &login.origin,
        named: login.instance.as_deref(),
        host: &to.host,
        port: to.port,
    };
    let tunnel = match forward::open(&shared.state, ask).await {
        Ok(tunnel) => tunnel,
        Err(r) => {
            log::info!(user = login.actor.user_id, ip = login.origin.ip.as_str(); "jumpbox forward to {}:{} refused: {}", to.host, to.port, r.key);
            let text = explain(&r, &to);
            return refuse(reply, text, r.connect_failed).await;
        }
    };
    reply.accept().await;
    let idle = Duration::from_secs(shared.state.settings.jumpbox.idle_timeout_secs);
    let session = tunnel.session_id();
    let ended = tunnel.run(&shared.state, channel.into_stream(), idle).await;
    log::info!(user = login.actor.user_id, session = session; "jumpbox forward ended: {ended:?}");
}

fn t(key: &str) -> String {
    i18n::t(Lang::En, key).to_string()
}

/// The refusal's line, its names filled in.
fn explain(r: &Refused, to: &Asked) -> String {
    t(r.key)
        .replace("{port}", &to.port.to_string())
        .replace("{host}", &to.host)
        .replace("{name}", &r.instance)
        .replace("{node}", &r.node)
}

/// Refuses the channel with `text` (OpenSSH prints it after "administratively
/// prohibited:" or "connect failed:").
async fn refuse(reply: ChannelOpenHandle, text: String, connect_failed: bool) {
    let code = if connect_failed {
        ChannelOpenFailure::ConnectFailed.code()
    } else {
        ChannelOpenFailure::AdministrativelyProhibited.code()
    };
    reply
        .reject(ChannelOpenFailure::Other { code, reason: text })
        .await;
}

/// Refuses a channel of a kind the jumpbox does not offer (direct-streamlocal, x11,
/// forwarded-tcpip) with the line for `key`.
pub async fn refuse_kind(reply: ChannelOpenHandle, key: &str) {
    refuse(reply, t(key), false).await;
}
