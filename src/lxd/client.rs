//! HTTP/1.1 to LXD's unix socket (hyper, one connection per request) and the calls Suanli
//! makes. Every request has a deadline — a stuck daemon must not hang a customer's call —
//! and a long call (`202 Accepted`) is awaited through `/1.0/operations/{id}/wait`.
//!
//! Why no connection pool: LXD 5.0 reads the first bytes of each accepted unix-socket
//! connection inside its accept loop (to tell TLS from plain HTTP), so a connection that is
//! open but silent stops the daemon from accepting any other client. A pool that connects
//! ahead and parks idle connections (hyper-util's does) froze the whole daemon; a
//! connection that writes its request at once cannot. Connecting to a unix socket costs
//! microseconds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::UnixStream;

use super::wire::{self, Operation, Outcome, Reply};
use super::{
    ExecResult, HostResources, Instance, InstanceState, LxdError, NewInstance, StateAction,
};

/// How long a request that LXD answers at once may take (reading a state runs code inside
/// the container and is slow on a loaded host).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The HTTP round trip of a `/wait` may take this much longer than LXD's own wait.
const WAIT_SLACK: Duration = Duration::from_secs(5);
/// A stop or restart gets this long beyond its clean-shutdown timeout (the start that
/// follows, state changes) before we stop waiting.
const STATE_SLACK: Duration = Duration::from_secs(10);
/// Larger replies (recorded exec output included) are refused.
const MAX_BODY: usize = 8 << 20;

/// A client for one LXD daemon; cheap to clone.
#[derive(Clone)]
pub struct Lxd {
    socket: PathBuf,
}

impl std::fmt::Debug for Lxd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lxd")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Lxd {
    /// No IO yet: the socket is opened by the first call (Debian's lxd:
    /// /var/lib/lxd/unix.socket; snap: /var/snap/lxd/common/lxd/unix.socket).
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Lxd {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /1.0`: the daemon answers.
    pub async fn ping(&self) -> Result<(), LxdError> {
        self.call(Method::GET, "/1.0", None).await.map(drop)
    }

    /// `GET /1.0/resources`: the host's CPU threads and memory.
    pub async fn resources(&self) -> Result<HostResources, LxdError> {
        let m = sync(self.call(Method::GET, "/1.0/resources", None).await?)?;
        let figure = |v: &Value, what: &str| {
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| LxdError::Protocol(format!("no {what} in /1.0/resources")))
        };
        Ok(HostResources {
            cpu_threads: figure(&m["cpu"]["total"], "cpu.total")?,
            memory_bytes: figure(&m["memory"]["total"], "memory.total")?,
        })
    }

    /// `GET /1.0/instances/{name}`; None when LXD has no such instance.
    pub async fn instance(&self, name: &str) -> Result<Option<Instance>, LxdError> {
        match self.call(Method::GET, &instance_path(name), None).await {
            Ok(reply) => parse(sync(reply)?).map(Some),
            Err(LxdError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every container (virtual machines are left out), with its config and devices.
    pub async fn instances(&self) -> Result<Vec<Instance>, LxdError> {
        let reply = self
            .call(Method::GET, "/1.0/instances?recursion=1", None)
            .await?;
        let all: Vec<Instance> = parse(sync(reply)?)?;
        Ok(all
            .into_iter()
            .filter(|i| i.kind.is_empty() || i.kind == "container")
            .collect())
    }

    /// Every container with its state, in one call (`recursion=2`: LXD gathers the states
    /// itself, cheaper than one state call per container).
    pub async fn instances_with_state(&self) -> Result<Vec<(Instance, InstanceState)>, LxdError> {
        let reply = self
            .call(Method::GET, "/1.0/instances?recursion=2", None)
            .await?;
        let Value::Array(items) = sync(reply)? else {
            return Err(LxdError::Protocol("the instance list is not a list".into()));
        };
        let mut out = Vec::with_capacity(items.len());
        for mut item in items {
            let live = InstanceState::parse(&item["state"]);
            item["state"] = Value::Null;
            let inst: Instance = parse(item)?;
            if inst.kind.is_empty() || inst.kind == "container" {
                out.push((inst, live));
            }
        }
        Ok(out)
    }

    /// `GET /1.0/instances/{name}/state`; None when LXD has no such instance.
    pub async fn state(&self, name: &str) -> Result<Option<InstanceState>, LxdError> {
        let path = format!("{}/state", instance_path(name));
        match self.call(Method::GET, &path, None).await {
            Ok(reply) => Ok(Some(InstanceState::parse(&sync(reply)?))),
            Err(LxdError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates (does not start) a container from a local image alias and waits for it.
    /// A failed create leaves nothing behind in LXD (LXD reverts it).
    pub async fn create(&self, req: &NewInstance, timeout: Duration) -> Result<(), LxdError> {
        let reply = match self
            .call(Method::POST, "/1.0/instances", Some(&req.body()))
            .await
        {
            // LXD checks the alias before it answers 202: its 404 is about the image
            Err(LxdError::NotFound(m)) if m.to_ascii_lowercase().contains("image") => {
                return Err(LxdError::ImageNotFound(req.image_alias.clone()));
            }
            Err(LxdError::NotFound(m)) => return Err(LxdError::Lxd(m)),
            other => other?,
        };
        self.wait(reply, timeout).await.map(drop)
    }

    /// Start, stop or restart. Without `force`, stop and restart ask the container to
    /// shut down cleanly within `timeout` (whole seconds, at least 1; LXD reads 0 as
    /// "force") and fail when it does not; the whole operation may take `STATE_SLACK`
    /// longer. Starting a running container is an error from LXD ("already running").
    pub async fn set_state(
        &self,
        name: &str,
        action: StateAction,
        force: bool,
        timeout: Duration,
    ) -> Result<(), LxdError> {
        let body = json!({
            "action": action.as_str(),
            "force": force,
            "timeout": whole_secs(timeout),
            "stateful": false,
        });
        let path = format!("{}/state", instance_path(name));
        let reply = self.call(Method::PUT, &path, Some(&body)).await?;
        self.wait(reply, timeout + STATE_SLACK).await.map(drop)
    }

    /// Deletes a stopped instance (LXD refuses a running one) and waits for it.
    pub async fn delete(&self, name: &str, timeout: Duration) -> Result<(), LxdError> {
        let reply = self
            .call(Method::DELETE, &instance_path(name), None)
            .await?;
        self.wait(reply, timeout).await.map(drop)
    }

    /// Renames a stopped instance (LXD refuses a running one) and waits for it.
    pub async fn rename(
        &self,
        name: &str,
        new_name: &str,
        timeout: Duration,
    ) -> Result<(), LxdError> {
        let body = json!({ "name": new_name });
        let reply = self
            .call(Method::POST, &instance_path(name), Some(&body))
            .await?;
        self.wait(reply, timeout).await.map(drop)
    }

    /// Runs `command` in a running container without a terminal or stdin and returns its
    /// exit code and output. LXD records the output to files, read here and then deleted.
    /// After `timeout` the call gives up with `Timeout`; the command may still be running.
    pub async fn exec(
        &self,
        name: &str,
        command: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<ExecResult, LxdError> {
        // SECURITY: secrets (passwords) travel in `environment`, never in `command`, so
        // they appear in no process list; neither is ever logged or put in an error.
        let environment: BTreeMap<&str, &str> = env.iter().copied().collect();
        let body = json!({
            "command": command,
            "environment": environment,
            "wait-for-websocket": false,
            "interactive": false,
            "record-output": true,
        });
        let path = format!("{}/exec", instance_path(name));
        let reply = self.call(Method::POST, &path, Some(&body)).await?;
        let done = wire::exec_done(&self.wait(reply, timeout).await?);
        let stdout = self.take_log(done.stdout.as_deref()).await;
        let stderr = self.take_log(done.stderr.as_deref()).await;
        Ok(ExecResult {
            code: done.code,
            stdout: stdout?,
            stderr: stderr?,
        })
    }

    /// `PATCH /1.0/instances/{name}`: merges the given keys (e.g. `{"config": {…}}`, or
    /// `{"devices": {…}}` — a device given replaces that device whole).
    pub async fn patch(&self, name: &str, body: &Value) -> Result<(), LxdError> {
        let reply = self
            .call(Method::PATCH, &instance_path(name), Some(body))
            .await?;
        self.wait(reply, REQUEST_TIMEOUT).await.map(drop)
    }

    /// The operations LXD is still working on for this instance (a create, a start, an
    /// exec…), whoever started them: LXD carries an operation on when its client is gone.
    pub async fn operations_on(&self, name: &str) -> Result<Vec<Operation>, LxdError> {
        let reply = self
            .call(Method::GET, "/1.0/operations?recursion=1", None)
            .await?;
        Ok(wire::running_on(&sync(reply)?, &instance_path(name)))
    }

    /// Waits up to `timeout` for an operation: true once it is over (succeeded, failed,
    /// cancelled, or already forgotten by LXD), false while it still runs.
    pub async fn wait_operation(&self, id: &str, timeout: Duration) -> Result<bool, LxdError> {
        let secs = whole_secs(timeout);
        let path = format!("/1.0/operations/{}/wait?timeout={secs}", wire::segment(id));
        let deadline = Duration::from_secs(secs) + WAIT_SLACK;
        let (status, body) = self.send(Method::GET, &path, None, deadline).await?;
        let operation = match wire::reply(status, &body) {
            Ok(reply) => sync(reply)?,
            Err(LxdError::NotFound(_)) => return Ok(true),
            Err(e) => return Err(e),
        };
        match wire::outcome(&operation) {
            Ok(Outcome::Running) => Ok(false),
            Ok(Outcome::Done(_)) | Err(LxdError::Lxd(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Asks LXD to cancel an operation (only those it marks `may_cancel`); one already
    /// over is fine.
    pub async fn cancel_operation(&self, id: &str) -> Result<(), LxdError> {
        let path = format!("/1.0/operations/{}", wire::segment(id));
        match self.call(Method::DELETE, &path, None).await {
            Ok(_) | Err(LxdError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads a recorded exec output file (plain text, not JSON), then deletes it.
    async fn take_log(&self, path: Option<&str>) -> Result<String, LxdError> {
        let Some(path) = path else {
            return Ok(String::new());
        };
        let read = self.send(Method::GET, path, None, REQUEST_TIMEOUT).await;
        if let Err(e) = self.call(Method::DELETE, path, None).await {
            log::warn!("lxd: could not delete the exec log {path}: {e}");
        }
        let (status, body) = read?;
        if status != 200 {
            wire::reply(status, &body)?;
            return Err(LxdError::Protocol(format!("HTTP {status} for {path}")));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Waits for a reply's operation (if any) and returns its metadata.
    async fn wait(&self, reply: Reply, timeout: Duration) -> Result<Value, LxdError> {
        let op = match reply {
            Reply::Sync(metadata) => return Ok(metadata),
            Reply::Async(op) => op,
        };
        let secs = whole_secs(timeout);
        let path = format!("{op}/wait?timeout={secs}");
        let deadline = Duration::from_secs(secs) + WAIT_SLACK;
        let (status, body) = self.send(Method::GET, &path, None, deadline).await?;
        let operation = match wire::reply(status, &body) {
            Ok(reply) => sync(reply)?,
            // finished operations are kept a few seconds only
            Err(LxdError::NotFound(_)) => {
                return Err(LxdError::Protocol(format!("operation {op} has vanished")));
            }
            Err(e) => return Err(e),
        };
        match wire::outcome(&operation)? {
            Outcome::Done(metadata) => Ok(metadata),
            Outcome::Running => Err(LxdError::Timeout),
        }
    }

    /// One request whose reply is read as LXD's JSON envelope.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, LxdError> {
        let (status, bytes) = self.send(method, path, body, REQUEST_TIMEOUT).await?;
        wire::reply(status, &bytes)
    }

    /// One HTTP exchange within `deadline`: the status and the whole body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        deadline: Duration,
    ) -> Result<(u16, Bytes), LxdError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "lxd");
        let bytes = match body {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| LxdError::Protocol(e.to_string()))?;
        let exchange = async {
            let stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|e| self.unreachable(&e))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| self.unreachable(&e))?;
            // Drives the connection until the body is read; ends with it (an error then
            // also reaches `send_request` or the body, where it is reported).
            tokio::spawn(conn);
            let res = sender
                .send_request(req)
                .await
                .map_err(|e| self.unreachable(&e))?;
            let status = res.status().as_u16();
            let body = Limited::new(res.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<LengthLimitError>() {
                        LxdError::Protocol(format!("reply larger than {} MiB", MAX_BODY >> 20))
                    } else {
                        self.unreachable(e.as_ref())
                    }
                })?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| LxdError::Timeout)?
    }

    /// The socket and the innermost cause ("No such file or directory", "Connection
    /// refused", "Permission denied"): what an operator needs to fix it.
    fn unreachable(&self, e: &(dyn std::error::Error + 'static)) -> LxdError {
        let mut cause = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        LxdError::Unreachable(format!("{}: {cause}", self.socket.display()))
    }
}

pub(super) fn instance_path(name: &str) -> String {
    format!("/1.0/instances/{}", wire::segment(name))
}

/// A reply that must be synchronous.
fn sync(reply: Reply) -> Result<Value, LxdError> {
    match reply {
        Reply::Sync(metadata) => Ok(metadata),
        Reply::Async(op) => Err(LxdError::Protocol(format!("unexpected operation {op}"))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(metadata: Value) -> Result<T, LxdError> {
    serde_json::from_value(metadata).map_err(|e| LxdError::Protocol(e.to_string()))
}

/// LXD takes timeouts in whole seconds: rounded up, at least 1.
fn whole_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_in_whole_seconds() {
        for (d, secs) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (25_000, 25)] {
            assert_eq!(whole_secs(Duration::from_millis(d)), secs, "{d} ms");
        }
    }

    #[tokio::test]
    async fn missing_socket_is_unreachable() {
        let lxd = Lxd::new("/nonexistent/lxd/unix.socket");
        let e = lxd.instance("c1").await.unwrap_err();
        assert!(
            matches!(&e, LxdError::Unreachable(m) if m.contains("/nonexistent/lxd/unix.socket")),
            "{e:?}"
        );
        assert!(e.to_string().contains("No such file or directory"), "{e}");
    }
}
