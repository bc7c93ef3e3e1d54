//! A gate in front of an HTTP server (the Docker engine's socket, the registry): every
//! request is forwarded as it is, except that the test can hold the answers to one kind
//! of request — the server has done the work (created the container, started it, sent
//! the first part of a layer), the client has not heard back — and learn that it
//! happened. That is where a test kills the panel: in a phase it has seen, with no timing
//! guess. A held answer stays held until `release`, or until its client goes away.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;

/// Where the gate forwards to.
#[derive(Clone, Debug)]
pub enum Upstream {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// Which answers to hold.
#[derive(Clone, Debug)]
struct Rule {
    method: String,
    /// a part of the request path
    path: String,
    /// bytes of the answer's body let through before it is held; None: the whole answer
    /// (status included) is held
    pass: Option<usize>,
}

type Body = BoxBody<Bytes, hyper::Error>;

pub struct Gate {
    pub addr: SocketAddr,
    rule: Arc<Mutex<Option<Rule>>>,
    /// answers held so far
    held: watch::Receiver<usize>,
    /// false → true lets every held answer go on
    released: watch::Sender<bool>,
}

impl Gate {
    pub async fn start(upstream: Upstream) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rule: Arc<Mutex<Option<Rule>>> = Arc::default();
        let (held_tx, held) = watch::channel(0usize);
        let (released, _) = watch::channel(false);
        let held_tx = Arc::new(held_tx);
        let shared = (Arc::clone(&rule), held_tx, released.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (rule, held, released) = shared.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        forward(
                            req,
                            upstream.clone(),
                            Arc::clone(&rule),
                            Arc::clone(&held),
                            released.subscribe(),
                        )
                    });
                    // a client that goes away (the panel killed) ends the connection
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Gate {
            addr,
            rule,
            held,
            released,
        }
    }

    /// From now on, holds the successful (2xx) answers to `method` requests whose path
    /// contains `path`, after `pass` bytes of their body (None: before anything of the
    /// answer).
    pub fn hold(&self, method: &str, path: &str, pass: Option<usize>) {
        let _ = self.released.send(false);
        *self.rule.lock().unwrap() = Some(Rule {
            method: method.to_string(),
            path: path.to_string(),
            pass,
        });
    }

    /// Holds nothing more and lets the held answers go on.
    pub fn release(&self) {
        *self.rule.lock().unwrap() = None;
        let _ = self.released.send(true);
    }

    /// Waits until an answer is being held.
    pub async fn reached(&self, within: Duration) {
        let mut held = self.held.clone();
        tokio::time::timeout(within, held.wait_for(|n| *n > 0))
            .await
            .unwrap_or_else(|_| panic!("no answer held within {within:?}"))
            .unwrap();
    }
}

async fn forward(
    req: Request<Incoming>,
    upstream: Upstream,
    rule: Arc<Mutex<Option<Rule>>>,
    held: Arc<watch::Sender<usize>>,
    mut released: watch::Receiver<bool>,
) -> Result<Response<Body>, hyper::Error> {
    let matching = rule.lock().unwrap().clone().filter(|r| {
        req.method().as_str() == r.method && req.uri().path().contains(r.path.as_str())
    });
    let res = match send(req, &upstream).await {
        Ok(res) => res,
        Err(e) => {
            let body = Full::new(Bytes::from(e))
                .map_err(|never| match never {})
                .boxed();
            let mut res = Response::new(body);
            *res.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            return Ok(res);
        }
    };
    // only what the server did: a refusal (say, of a storage option the engine retries
    // without) is no phase to stop in
    let Some(rule) = matching.filter(|_| res.status().is_success()) else {
        return Ok(res.map(BodyExt::boxed));
    };
    let Some(pass) = rule.pass else {
        // the whole answer: the client hears nothing
        held.send_modify(|n| *n += 1);
        let _ = released.wait_for(|r| *r).await;
        return Ok(res.map(BodyExt::boxed));
    };
    // the head and the first `pass` bytes go through, then the body stops
    let (parts, body) = res.into_parts();
    let frames = BodyStream::new(body);
    let stream = futures_util::stream::unfold(
        (frames, 0usize, false, held, released),
        move |(mut frames, mut sent, mut holding, held, mut released)| async move {
            if sent >= pass && !holding {
                holding = true;
                held.send_modify(|n| *n += 1);
                let _ = released.wait_for(|r| *r).await;
            }
            let frame = frames.next().await?;
            if let Ok(f) = &frame
                && let Some(data) = f.data_ref()
            {
                sent += data.len();
            }
            Some((frame, (frames, sent, holding, held, released)))
        },
    );
    let body: Body = BodyExt::boxed(StreamBody::new(stream));
    Ok(Response::from_parts(parts, body))
}

/// One request on a new connection to the upstream server.
async fn send(req: Request<Incoming>, upstream: &Upstream) -> Result<Response<Incoming>, String> {
    macro_rules! exchange {
        ($stream:expr) => {{
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            sender.send_request(req).await.map_err(|e| e.to_string())
        }};
    }
    match upstream {
        Upstream::Unix(path) => {
            let stream = UnixStream::connect(path).await.map_err(|e| e.to_string())?;
            exchange!(stream)
        }
        Upstream::Tcp(addr) => {
            let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            exchange!(stream)
        }
    }
}
