//! The terminal WebSocket (protocol in the parent module's doc): keystrokes and resizes
//! from the page to a TTY exec, its output back, the exit code at the end, and a hang-up
//! when the page goes away.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, Message, MessageStream, Session};
use serde::Deserialize;

use super::{Due, Upkeep, fail, handshake, revoked, upgrade};
use crate::db::instances::InstanceView;
use crate::docker::exec::{InputQueue, Program, TermSize};
use crate::i18n::Lang;
use crate::ops;
use crate::ops::audit::Origin;
use crate::ops::sessions::Outcome;
use crate::ops::streams::Holder;
use crate::startup::AppState;
use crate::web::extract::Ctx;

/// Largest frame a client may send (a big paste).
const MAX_FRAME: usize = 1024 * 1024;
/// Keystroke bytes that may wait for a shell that does not read its terminal; beyond
/// this, input is dropped (and logged) rather than held without bound.
const INPUT_BACKLOG: usize = 4 * 1024 * 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TerminalWsQuery {
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
    let (r, holder) = handshake(&st, &ctx, &req, *path).await?;
    let size = match (q.cols.parse::<u16>(), q.rows.parse::<u16>()) {
        (Ok(c), Ok(rows)) => TermSize::clamped(c, rows),
        _ => TermSize::default(),
    };
    let (res, session, msgs) = upgrade(&req, body)?;
    let msgs = msgs.max_frame_size(MAX_FRAME);
    // Opening the shell is recorded (a sessions row and a "connect" audit event) once
    // it is open; its end too.
    let me = ctx.me()?;
    log::info!(user = me.id, instance = r.id, ip = ctx.ip.as_str(); "terminal opened");
    let origin = me.origin(&ctx.ip);
    let stream = Stream {
        r,
        holder,
        origin,
        lang: ctx.lang,
    };
    actix_web::rt::spawn(pump_terminal(st, stream, size, session, msgs));
    Ok(res)
}

/// A control message of the terminal protocol (text frames from the client).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Resize { cols: u16, rows: u16 },
    Input { data: String },
}

/// Who opened the terminal on which instance.
struct Stream {
    r: InstanceView,
    holder: Holder,
    origin: Origin,
    lang: Lang,
}

async fn pump_terminal(
    st: web::Data<AppState>,
    stream: Stream,
    size: TermSize,
    mut session: Session,
    mut msgs: MessageStream,
) {
    let Stream {
        r,
        holder,
        origin,
        lang,
    } = stream;
    let shell = match ops::streams::exec(&st, &r, Program::Shell, Some(size)).await {
        Ok(s) => s,
        Err(e) => return fail(session, lang, r.id, e).await,
    };
    let recorded = match ops::sessions::begin(&st, &origin, &r, "").await {
        Ok(recorded) => recorded,
        Err(e) => {
            let _ = shell.control.hang_up().await;
            return fail(session, lang, r.id, e).await;
        }
    };
    let mut counts = Outcome::default();
    let (keys, mut output, control) = (
        InputQueue::start(shell.input, INPUT_BACKLOG),
        shell.output,
        shell.control,
    );
    let mut upkeep = Upkeep::new(&st, holder, r.id);
    let end = loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(bytes)) => {
                    counts.bytes_out += bytes.len() as i64;
                    if session.binary(bytes).await.is_err() {
                        break End::ClientGone;
                    }
                }
                Some(Err(e)) => {
                    let _ = control.hang_up().await;
                    ops::sessions::end(&st, recorded, counts, "error").await;
                    return fail(session, lang, r.id, e.into()).await;
                }
                None => break End::ShellExited,
            },
            msg = msgs.recv() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    counts.bytes_in += bytes.len() as i64;
                    typed(&keys, bytes, r.id);
                }
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Control>(&text) {
                    Ok(Control::Resize { cols, rows }) => {
                        if let Err(e) = control.resize(TermSize::clamped(cols, rows)).await {
                            log::debug!(instance = r.id; "terminal resize failed: {e}");
                        }
                    }
                    Ok(Control::Input { data }) => {
                        counts.bytes_in += data.len() as i64;
                        typed(&keys, web::Bytes::from(data), r.id);
                    }
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
        let reason = match end {
            End::Revoked => "revoked",
            _ => "client",
        };
        ops::sessions::end(&st, recorded, counts, reason).await;
        if matches!(end, End::Revoked) {
            return revoked(session, lang, r.id).await;
        }
        let _ = session.close(None).await;
        log::info!(instance = r.id; "terminal closed by the client");
        return;
    }
    let code = ops::sessions::end_exited(&st, recorded, &control, counts).await;
    let msg = serde_json::json!({"type": "exit", "code": code});
    let _ = session.text(msg.to_string()).await;
    let _ = session.close(Some(CloseCode::Normal.into())).await;
    log::info!(instance = r.id; "terminal ended: exit code {code:?}");
}

fn typed(keys: &InputQueue, bytes: web::Bytes, instance: i64) {
    if !keys.send(bytes) {
        log::warn!(instance = instance; "terminal input dropped: the shell is not reading");
    }
}

enum End {
    ShellExited,
    ClientGone,
    Revoked,
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
