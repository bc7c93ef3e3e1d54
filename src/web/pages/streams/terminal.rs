//! The terminal WebSocket (protocol in the parent module's doc): keystrokes and resizes
//! from the page to a TTY exec, its output back, the exit code at the end, and a hang-up
//! when the page goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, Message, MessageStream, Session};
use serde::Deserialize;

use super::{Due, Upkeep, fail, handshake, revoked};
use crate::db::instances::InstanceView;
use crate::docker::exec::{ShellInput, TermSize};
use crate::i18n::Lang;
use crate::ops;
use crate::ops::streams::Holder;
use crate::startup::AppState;
use crate::web::extract::Ctx;
use crate::web::middleware::audit;

/// Largest frame a client may send (a big paste).
const MAX_FRAME: usize = 1024 * 1024;
/// Keystroke bytes that may wait for a shell that does not read its terminal; beyond
/// this, input is dropped (and logged) rather than held without bound.
const INPUT_BACKLOG: usize = 4 * 1024 * 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TerminalWsQuery {
    csrf: String,
    cols: String,
    rows: String,
}

pub async fn terminal_ws(
    st: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<i64>,
    q: web::Query<TerminalWsQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let (r, holder) = handshake(&st, &ctx, &req, *path, &q.csrf).await?;
    let size = match (q.cols.parse::<u16>(), q.rows.parse::<u16>()) {
        (Ok(c), Ok(rows)) => TermSize::clamped(c, rows),
        _ => TermSize::default(),
    };
    let (res, session, msgs) = actix_ws::handle(&req, body)?;
    let msgs = msgs.max_frame_size(MAX_FRAME);
    // Opening a shell is recorded like a mutating request (the gate audits only those).
    let entry = audit::entry(
        ctx.user.as_ref(),
        &ctx.ip,
        "GET",
        req.path(),
        "/instances/{id}/terminal/ws",
        Some(&r.id.to_string()),
        101,
    );
    ops::audit::record(&st.pool, entry).await;
    log::info!(user = ctx.me()?.id, instance = r.id, ip = ctx.ip.as_str(); "terminal opened");
    actix_web::rt::spawn(pump_terminal(st, r, holder, size, session, msgs, ctx.lang));
    Ok(res)
}

/// A control message of the terminal protocol (text frames from the client).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Resize { cols: u16, rows: u16 },
    Input { data: String },
}

async fn pump_terminal(
    st: web::Data<AppState>,
    r: InstanceView,
    holder: Holder,
    size: TermSize,
    mut session: Session,
    mut msgs: MessageStream,
    lang: Lang,
) {
    let shell = match ops::streams::shell(&st, &r, size).await {
        Ok(s) => s,
        Err(e) => return fail(session, lang, r.id, e).await,
    };
    let (keys, mut output, control) = (Keys::start(shell.input, r.id), shell.output, shell.control);
    let mut upkeep = Upkeep::new(&st, holder, r.id);
    let end = loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(bytes)) => {
                    if session.binary(bytes).await.is_err() {
                        break End::ClientGone;
                    }
                }
                Some(Err(e)) => {
                    let _ = control.hang_up().await;
                    return fail(session, lang, r.id, e.into()).await;
                }
                None => break End::ShellExited,
            },
            msg = msgs.recv() => match msg {
                Some(Ok(Message::Binary(bytes))) => keys.send(bytes),
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Control>(&text) {
                    Ok(Control::Resize { cols, rows }) => {
                        if let Err(e) = control.resize(TermSize::clamped(cols, rows)).await {
                            log::debug!(instance = r.id; "terminal resize failed: {e}");
                        }
                    }
                    Ok(Control::Input { data }) => keys.send(web::Bytes::from(data)),
                    Err(_) => {}
                },
                Some(Ok(Message::Ping(p))) => {
                    let _ = session.pong(&p).await;
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break End::ClientGone,
                Some(Ok(_)) => {}
            },
            due = upkeep.next() => match due {
                Due::Ping => {
                    if session.ping(b"").await.is_err() {
                        break End::ClientGone;
                    }
                }
                Due::Revoked => break End::Revoked,
            },
        }
    };
    if !matches!(end, End::ShellExited) {
        drop(output);
        if let Err(e) = control.hang_up().await {
            log::warn!(instance = r.id; "terminal hang-up failed: {e}");
        }
        if matches!(end, End::Revoked) {
            return revoked(session, lang, r.id).await;
        }
        let _ = session.close(None).await;
        log::info!(instance = r.id; "terminal closed by the client");
        return;
    }
    let code = match control.exit_code().await {
        Ok(code) => code,
        Err(e) => {
            log::warn!(instance = r.id; "terminal exit code unknown: {e}");
            None
        }
    };
    let msg = serde_json::json!({"type": "exit", "code": code});
    let _ = session.text(msg.to_string()).await;
    let _ = session.close(Some(CloseCode::Normal.into())).await;
    log::info!(instance = r.id; "terminal ended: exit code {code:?}");
}

enum End {
    ShellExited,
    ClientGone,
    Revoked,
}

/// Keystrokes on their way to the shell. Their own task writes them, so a program that
/// stops reading its terminal (input buffer full) never stalls the output pump, nor the
/// detection of a closed page.
struct Keys {
    tx: tokio::sync::mpsc::UnboundedSender<web::Bytes>,
    queued: Arc<AtomicUsize>,
    instance: i64,
}

impl Keys {
    fn start(mut input: ShellInput, instance: i64) -> Keys {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<web::Bytes>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = Arc::clone(&queued);
        actix_web::rt::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                let written = input.write(&bytes).await;
                q.fetch_sub(bytes.len(), Ordering::Relaxed);
                // a failed write means the shell is going away: its output ends next
                if written.is_err() {
                    break;
                }
            }
        });
        Keys {
            tx,
            queued,
            instance,
        }
    }

    fn send(&self, bytes: web::Bytes) {
        let n = bytes.len();
        if self.queued.fetch_add(n, Ordering::Relaxed) + n > INPUT_BACKLOG {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            log::warn!(instance = self.instance; "terminal input dropped: the shell is not reading");
            return;
        }
        if self.tx.send(bytes).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages() {
        for (text, want) in [
            (
                r#"{"type":"resize","cols":100,"rows":30}"#,
                Some(Control::Resize {
                    cols: 100,
                    rows: 30,
                }),
            ),
            (
                r#"{"type":"input","data":"ls\r"}"#,
                Some(Control::Input {
                    data: "ls\r".into(),
                }),
            ),
            (r#"{"type":"resize","cols":-1,"rows":30}"#, None),
            (r#"{"type":"reboot"}"#, None),
            ("ls", None),
        ] {
            assert_eq!(serde_json::from_str::<Control>(text).ok(), want, "{text}");
        }
    }
}
