//! The terminal WebSocket (protocol in the parent module's doc): the door's side of the
//! exec bridge (ops/bridge.rs). Keystrokes, pastes and resizes from the page go to a TTY
//! exec, its output back, the exit code at the end, and a hang-up when the page goes away.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, Message, MessageStream, Session};
use serde::Deserialize;

use super::{PING_EVERY, fail, handshake, revoked, upgrade};
use crate::domain::container::{Chunk, Program, TermSize};
use crate::domain::ids::InstanceId;
use crate::i18n::Lang;
use crate::ops::Context;
use crate::ops::audit::Origin;
use crate::ops::bridge::{self, ClientGone, ClientIn, ClientOut, Ended, FromClient};
use crate::ops::streams::Holder;
use crate::ops::views::InstanceView;
use crate::web::extract::Ctx;

/// Largest frame a client may send (the page sends big pastes in pieces of 64 KiB).
/// One frame at a time waits for the shell to read it: that is the input's backpressure.
const MAX_FRAME: usize = 1024 * 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TerminalWsQuery {
    cols: String,
    rows: String,
}

pub async fn terminal_ws(
    st: web::Data<Context>,
    ctx: Ctx,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<InstanceId>,
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
    st: web::Data<Context>,
    stream: Stream,
    size: TermSize,
    session: Session,
    msgs: MessageStream,
) {
    let Stream {
        r,
        holder,
        origin,
        lang,
    } = stream;
    let request = bridge::Request {
        inst: &r,
        origin: &origin,
        holder: &holder,
        program: Program::Shell,
        tty: Some(size),
    };
    let opened = match bridge::open(&st, request).await {
        Ok(opened) => opened,
        Err(e) => return fail(session, lang, r.id, e).await,
    };
    let keepalive = actix_web::rt::spawn(keep_alive(session.clone()));
    let mut keys = Keys {
        msgs,
        session: session.clone(),
    };
    let mut screen = Screen {
        session: session.clone(),
    };
    let state = st.clone().into_inner();
    let end = opened
        .run(&state, web::Bytes::new(), &mut keys, &mut screen, None)
        .await;
    keepalive.abort();
    match end {
        Ended::Exited(code) => {
            let msg = serde_json::json!({"type": "exit", "code": code});
            let mut session = session;
            let _ = session.text(msg.to_string()).await;
            let _ = session.close(Some(CloseCode::Normal.into())).await;
            log::info!(instance = r.id; "terminal ended: exit code {code:?}");
        }
        Ended::Revoked => revoked(session, lang, r.id).await,
        Ended::Engine(e) => fail(session, lang, r.id, e.into()).await,
        Ended::Client | Ended::Idle => {
            let _ = session.close(None).await;
            log::info!(instance = r.id; "terminal closed by the client");
        }
    }
}

/// Pings every `PING_EVERY` so that proxies keep an idle terminal open; stops once a
/// ping cannot be sent (the socket is closed: the reader sees that too).
async fn keep_alive(mut session: Session) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        ticks.tick().await;
        if session.ping(b"").await.is_err() {
            return;
        }
    }
}

/// The page's keystrokes, resizes and pastes, read one frame at a time.
struct Keys {
    msgs: MessageStream,
    /// to answer pings
    session: Session,
}

impl ClientIn for Keys {
    async fn next(&mut self) -> FromClient {
        loop {
            match self.msgs.recv().await {
                Some(Ok(Message::Binary(bytes))) => return FromClient::Data(bytes),
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Control>(&text) {
                    Ok(Control::Resize { cols, rows }) => {
                        return FromClient::Resize(TermSize::clamped(cols, rows));
                    }
                    Ok(Control::Input { data }) => return FromClient::Data(data.into()),
                    Err(_) => {}
                },
                Some(Ok(Message::Ping(p))) => {
                    let _ = self.session.pong(&p).await;
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return FromClient::Gone,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// The page's screen: terminal output as binary frames.
struct Screen {
    session: Session,
}

impl ClientOut for Screen {
    async fn write(&mut self, chunk: Chunk) -> Result<(), ClientGone> {
        let (Chunk::Out(bytes) | Chunk::Err(bytes)) = chunk;
        self.session.binary(bytes).await.map_err(|_| ClientGone)
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
