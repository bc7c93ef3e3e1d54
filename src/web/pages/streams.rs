//! An instance's logs and browser terminal: the two pages, the log download and the two
//! WebSockets (actix-ws) that bridge the browser to `docker logs --follow` and to a TTY
//! `docker exec` (docker/exec.rs). No bollard here: ops/streams.rs opens the engine side.
//!
//! Before upgrading, every WebSocket loads the instance with the actor (someone else's
//! is 404), then checks what the gate does not check on a GET: the `Origin` header must
//! be this host's (403) and the session's CSRF token must come as the subprotocol
//! `suanli-csrf.<token>` beside `suanli` (403): `new WebSocket(url, ["suanli",
//! "suanli-csrf." + token])`. The server answers with the subprotocol `suanli`. (A
//! header, not a `?csrf=` parameter: query strings end up in proxy and access logs.)
//!
//! Logs socket `GET /instances/{id}/logs/ws?tail=N|all&timestamps=0|1`:
//! server → client binary frames carry raw log bytes (UTF-8 in practice, split anywhere);
//! text frames are JSON: `{"type":"end"}` when the container stops (then close 1000),
//! `{"type":"error","message":"…"}` (then close 1011). Messages from the client are
//! ignored; closing the socket stops the stream.
//!
//! Terminal socket `GET /instances/{id}/terminal/ws?cols=C&rows=R`:
//! - client → server, binary frame: keystrokes, written to the shell's TTY as they are;
//! - client → server, text frame: one JSON control message,
//!   `{"type":"resize","cols":C,"rows":R}` or `{"type":"input","data":"…"}` (text input
//!   for clients that cannot send binary); anything else is ignored;
//! - server → client, binary frame: terminal output;
//! - server → client, text frame: `{"type":"exit","code":N}` when the shell ends (N is
//!   null if the engine recorded none), then close 1000; `{"type":"error","message":"…"}`
//!   when the shell cannot be opened or the engine fails, then close 1011.
//!
//! A client that closes the socket hangs the shell up (SIGHUP to the session), as closing
//! a terminal window does. Both sockets ping every 30 s to keep proxies from timing out,
//! and every 10 s re-check what the gate checked at the handshake (user enabled, same
//! password epoch, session not expired, route and instance still allowed): when that no
//! longer holds they send `{"type":"error","message":"…"}` and close 1008 (the shell is
//! hung up).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use askama::Template;
use futures_util::StreamExt;
use serde::Deserialize;

use crate::domain::container::{DEFAULT_TAIL, LogOptions, Tail};
use crate::domain::ids::InstanceId;
use crate::i18n::{self, Lang};
use crate::ops::Context;
use crate::ops::streams::Holder;
use crate::ops::views::InstanceView;
use crate::ops::{self, OpsError};
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::middleware::{csrf, headers};
use crate::web::render::render_status;

mod terminal;
pub use terminal::terminal_ws;

/// Keeps idle sockets alive through proxies (nginx closes after 60 s of silence).
const PING_EVERY: Duration = Duration::from_secs(30);
/// How soon an open socket ends after its user is disabled, their password is reset or
/// they lose the route or the instance.
const RECHECK_EVERY: Duration = Duration::from_secs(10);

#[derive(Template)]
#[template(path = "instances/logs.html")]
struct LogsPage<'a> {
    l: &'a Ctx,
    r: &'a InstanceView,
    /// why nothing can be streamed (not ready), shown instead of the log
    problem: Option<&'a str>,
    tail: u32,
}

#[derive(Template)]
#[template(path = "instances/terminal.html")]
struct TerminalPage<'a> {
    l: &'a Ctx,
    r: &'a InstanceView,
    /// why no shell can be opened (not ready, not running)
    problem: Option<&'a str>,
    /// this response's CSP nonce for the `<style>` elements xterm.js inserts
    style_nonce: &'a str,
}

async fn load(st: &Context, ctx: &Ctx, id: InstanceId) -> Result<InstanceView, WebError> {
    let actor = ctx.me()?.actor();
    Ok(ops::instances::get(st, &actor, id).await?)
}

/// The page, or the page with the reason (409) when the instance cannot stream.
fn page(problem: Option<&str>, t: impl Template) -> Result<HttpResponse, WebError> {
    let status = match problem {
        Some(_) => actix_web::http::StatusCode::CONFLICT,
        None => actix_web::http::StatusCode::OK,
    };
    render_status(status, t)
}

fn refusal(lang: Lang, e: OpsError) -> String {
    match e {
        OpsError::Refused(key) => i18n::t(lang, key).to_string(),
        OpsError::Docker(d) => format!("{}{d}", i18n::t(lang, "stream.engine_error")),
        OpsError::NotFound => i18n::t(lang, "stream.gone").to_string(),
        other => {
            log::error!("stream failed: {other}");
            i18n::t(lang, "stream.failed").to_string()
        }
    }
}

pub async fn logs_page(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
) -> Result<HttpResponse, WebError> {
    let r = load(&st, &ctx, *path).await?;
    let problem = ops::streams::has_container(&r)
        .err()
        .map(|e| refusal(ctx.lang, e));
    page(
        problem.as_deref(),
        LogsPage {
            l: &ctx,
            r: &r,
            problem: problem.as_deref(),
            tail: DEFAULT_TAIL,
        },
    )
}

pub async fn terminal_page(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
) -> Result<HttpResponse, WebError> {
    let r = load(&st, &ctx, *path).await?;
    let problem = ops::streams::is_running(&r)
        .err()
        .map(|e| refusal(ctx.lang, e));
    let nonce = headers::new_nonce();
    let mut res = page(
        problem.as_deref(),
        TerminalPage {
            l: &ctx,
            r: &r,
            problem: problem.as_deref(),
            style_nonce: &nonce,
        },
    )?;
    let csp = header::HeaderValue::from_str(&headers::csp_with_style_nonce(&nonce))
        .map_err(|e| WebError::Internal(e.to_string()))?;
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, csp);
    Ok(res)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DownloadQuery {
    timestamps: String,
}

fn flag(s: &str) -> bool {
    matches!(s, "1" | "true" | "on")
}

/// The whole log as a text/plain attachment (not following), streamed from the engine.
pub async fn logs_download(
    st: web::Data<Context>,
    ctx: Ctx,
    path: web::Path<InstanceId>,
    q: web::Query<DownloadQuery>,
) -> Result<HttpResponse, WebError> {
    let r = load(&st, &ctx, *path).await?;
    let opts = LogOptions {
        follow: false,
        tail: Tail::All,
        timestamps: flag(&q.timestamps),
    };
    let mut logs = ops::streams::logs(&st, &r, opts).await?;
    // The first chunk decides between an error page and the attachment: once the
    // headers are out, an engine failure can only cut the body short.
    let first = match logs.next().await {
        Some(Err(e)) => return Err(OpsError::Docker(e).into()),
        Some(Ok(chunk)) => Some(Ok(chunk)),
        None => None,
    };
    let body = futures_util::stream::iter(first).chain(logs).map(|chunk| {
        chunk
            .map(web::Bytes::from)
            .map_err(|e| WebError::Engine(e.to_string()))
    });
    // instance names are host names ([A-Za-z][A-Za-z0-9-]*): safe in the header as is
    let file: String = r
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}.log\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

// ------------------------------------------------------------------ WebSockets

/// The subprotocol both sockets speak, and the prefix of the one carrying the CSRF token.
const WS_PROTOCOL: &str = "suanli";
const WS_CSRF_PREFIX: &str = "suanli-csrf.";

/// The CSRF token among the subprotocols a client offered (`Sec-WebSocket-Protocol`).
fn offered_csrf(protocols: &str) -> Option<&str> {
    protocols
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(WS_CSRF_PREFIX))
}

/// Upgrades to a WebSocket speaking `suanli` (the subprotocol the page asked for).
fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, Session, MessageStream), actix_web::Error> {
    let (mut res, session, msgs) = actix_ws::handle(req, body)?;
    res.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        header::HeaderValue::from_static(WS_PROTOCOL),
    );
    Ok((res, session, msgs))
}

/// Loads the instance for the actor (404), then checks Origin and the CSRF token.
/// Returns the instance and who holds the socket (with the route it was opened on).
async fn handshake(
    st: &Context,
    ctx: &Ctx,
    req: &HttpRequest,
    id: InstanceId,
) -> Result<(InstanceView, Holder), WebError> {
    let r = load(st, ctx, id).await?;
    // SECURITY: a WebSocket handshake is a GET that any site can make with the user's
    // cookies (SameSite=Lax lets it through): refuse a foreign Origin and require the
    // session's CSRF token, which another site cannot read.
    if !same_origin(req) {
        log::warn!(user = ctx.me()?.id, instance = id, ip = ctx.ip.as_str(); "websocket refused: foreign origin");
        return Err(WebError::Forbidden);
    }
    let token = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(offered_csrf);
    if !csrf::matches(token, &ctx.csrf) {
        log::warn!(user = ctx.me()?.id, instance = id, ip = ctx.ip.as_str(); "websocket refused: csrf");
        return Err(WebError::Csrf);
    }
    let me = ctx.me()?;
    let holder = Holder {
        user_id: me.id,
        epoch: me.epoch,
        login_at: me.login_at,
        login_session: Some(me.session_id),
        // the record the gate checked for this request, re-checked while the socket lives
        route: req.match_pattern().ok_or(WebError::NotFound)?,
    };
    Ok((r, holder))
}

/// The periodic duties of an open socket: a ping to keep proxies from timing it out, and
/// the verdict of its watcher (`watch`).
struct Upkeep {
    ping: tokio::time::Interval,
    revoked: tokio::sync::oneshot::Receiver<()>,
}

enum Due {
    Ping,
    Revoked,
}

impl Upkeep {
    fn new(st: &web::Data<Context>, holder: Holder, instance: InstanceId) -> Self {
        let (tx, revoked) = tokio::sync::oneshot::channel();
        actix_web::rt::spawn(ops::streams::watch(
            st.clone().into_inner(),
            holder,
            instance,
            RECHECK_EVERY,
            tx,
        ));
        Upkeep {
            ping: tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY),
            revoked,
        }
    }

    /// The next duty. Cancel-safe (both arms are), so a busy stream that keeps another
    /// `select!` arm winning loses no re-check: those run in their own task.
    async fn next(&mut self) -> Due {
        tokio::select! {
            _ = self.ping.tick() => Due::Ping,
            // a watcher that died without a verdict also ends the stream (fail closed)
            _ = &mut self.revoked => Due::Revoked,
        }
    }
}

/// No Origin (not a browser: it cannot be tricked into sending the cookie and the token)
/// or one naming the host the request was sent to.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match (origin.to_str(), host) {
        (Ok(origin), Some(host)) => origin_matches(origin, host),
        _ => false,
    }
}

/// `http(s)://name[:port]` against the Host header. A Host without a port (a proxy
/// passing nginx's `$host`) matches on the name alone.
fn origin_matches(origin: &str, host: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (o_name, o_port) = split_port(authority);
    let (h_name, h_port) = split_port(host);
    !o_name.is_empty()
        && o_name.eq_ignore_ascii_case(h_name)
        && (h_port.is_none() || h_port == o_port)
}

/// `name[:port]` or `[v6]:port` → (name, port).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (authority, None),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LogsWsQuery {
    tail: String,
    timestamps: String,
}

pub async fn logs_ws(
    st: web::Data<Context>,
    ctx: Ctx,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<InstanceId>,
    q: web::Query<LogsWsQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let (r, holder) = handshake(&st, &ctx, &req, *path).await?;
    let opts = LogOptions {
        follow: true,
        tail: Tail::parse(&q.tail),
        timestamps: flag(&q.timestamps),
    };
    let (res, session, msgs) = upgrade(&req, body)?;
    actix_web::rt::spawn(pump_logs(st, r, holder, opts, session, msgs, ctx.lang));
    Ok(res)
}

async fn pump_logs(
    st: web::Data<Context>,
    r: InstanceView,
    holder: Holder,
    opts: LogOptions,
    mut session: Session,
    mut msgs: MessageStream,
    lang: Lang,
) {
    let mut logs = match ops::streams::logs(&st, &r, opts).await {
        Ok(l) => l,
        Err(e) => return fail(session, lang, r.id, e).await,
    };
    let mut upkeep = Upkeep::new(&st, holder, r.id);
    loop {
        tokio::select! {
            chunk = logs.next() => match chunk {
                Some(Ok(bytes)) => {
                    if session.binary(bytes).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => return fail(session, lang, r.id, e.into()).await,
                None => {
                    let _ = session.text(r#"{"type":"end"}"#).await;
                    let _ = session.close(Some(CloseCode::Normal.into())).await;
                    return;
                }
            },
            msg = msgs.recv() => match msg {
                Some(Ok(Message::Ping(p))) => {
                    let _ = session.pong(&p).await;
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    let _ = session.close(None).await;
                    return;
                }
                Some(Ok(_)) => {}
            },
            due = upkeep.next() => match due {
                Due::Ping => {
                    if session.ping(b"").await.is_err() {
                        return;
                    }
                }
                Due::Revoked => return revoked(session, lang, r.id).await,
            },
        }
    }
}

/// Tells the page why the stream could not go on, then closes (1011).
async fn fail(session: Session, lang: Lang, instance: InstanceId, e: OpsError) {
    log::warn!(instance = instance; "stream refused or failed: {e}");
    close_with(session, &refusal(lang, e), CloseCode::Error).await;
}

/// The holder may no longer stream: says so, then closes (1008).
async fn revoked(session: Session, lang: Lang, instance: InstanceId) {
    log::warn!(instance = instance; "stream closed: access revoked or session ended");
    close_with(session, i18n::t(lang, "stream.revoked"), CloseCode::Policy).await;
}

async fn close_with(mut session: Session, message: &str, code: CloseCode) {
    let msg = serde_json::json!({"type": "error", "message": message});
    let _ = session.text(msg.to_string()).await;
    let _ = session
        .close(Some(CloseReason {
            code,
            description: None,
        }))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_comes_as_a_subprotocol() {
        assert_eq!(offered_csrf("suanli, suanli-csrf.Ab-_9"), Some("Ab-_9"));
        assert_eq!(offered_csrf("suanli-csrf.x,suanli"), Some("x"));
        assert_eq!(offered_csrf("suanli"), None);
        assert_eq!(offered_csrf(""), None);
    }

    #[test]
    fn origins() {
        for (origin, host, ok) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080", true),
            ("https://Panel.Example.com", "panel.example.com", true),
            ("https://panel.example.com:8443", "panel.example.com", true),
            (
                "https://panel.example.com:8443",
                "panel.example.com:443",
                false,
            ),
            ("http://[::1]:8080", "[::1]:8080", true),
            ("https://evil.example", "panel.example.com", false),
            (
                "https://panel.example.com.evil.example",
                "panel.example.com",
                false,
            ),
            ("null", "panel.example.com", false),
            ("file://", "panel.example.com", false),
        ] {
            assert_eq!(origin_matches(origin, host), ok, "{origin} vs {host}");
        }
    }
}
