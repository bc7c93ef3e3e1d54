//! An open `ssh -L` forward (ops/forward.rs opens it): the bytes copied both ways
//! between the client's channel and the container's port, each way through one buffer
//! (a slow reader holds the writer back), until both sides close, nothing moves for the
//! idle timeout, or the user may no longer use it; then its `sessions` row is closed
//! with the byte counts and the reason.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::Context;
use super::sessions::{self, Outcome};
use super::streams::{self, Holder};
use crate::domain::ids::InstanceId;
use crate::node_ssh::Link;

/// How often an open forward re-checks that its user may still use it.
const RECHECK_EVERY: Duration = Duration::from_secs(10);
/// The copy buffer, each way.
const BUFFER: usize = 64 * 1024;

/// Either end of the container side: a TCP connection from this host, or a channel of
/// the node's SSH.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open forward: the connection to the container's port and its session row.
pub struct Tunnel {
    pipe: Box<dyn Io>,
    opened: sessions::Opened,
    holder: Holder,
    instance: InstanceId,
    pub instance_name: String,
    /// keeps the node's SSH connection open while the forward runs
    _link: Option<Arc<Link>>,
}

impl Tunnel {
    pub(super) fn new(
        pipe: Box<dyn Io>,
        opened: sessions::Opened,
        holder: Holder,
        instance: InstanceId,
        instance_name: String,
        link: Option<Arc<Link>>,
    ) -> Tunnel {
        Tunnel {
            pipe,
            opened,
            holder,
            instance,
            instance_name,
            _link: link,
        }
    }
}

/// How a forward ended.
#[derive(Debug)]
pub enum Ended {
    /// both sides closed (or one closed and the other followed)
    Closed,
    /// nothing moved either way for the idle timeout
    Idle,
    /// the user may no longer use it (disabled, password reset, permission removed)
    Revoked,
    /// a side failed
    Failed(std::io::Error),
}

impl Tunnel {
    /// The session row's id.
    pub fn session_id(&self) -> i64 {
        self.opened.id
    }

    /// Copies both ways until both sides have closed (a side's EOF is passed on and the
    /// other direction carries on), nothing moved for `idle`, or the user may no longer
    /// use it; then closes the session row with the byte counts. Each direction holds
    /// one buffer: a slow reader holds the writer back (no unbounded buffering).
    pub async fn run<C>(self, state: &Arc<Context>, client: C, idle: Duration) -> Ended
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Tunnel {
            pipe,
            opened,
            holder,
            instance,
            ..
        } = self;
        let (verdict, mut revoked) = tokio::sync::oneshot::channel();
        tokio::spawn(streams::watch(
            Arc::clone(state),
            holder,
            instance,
            RECHECK_EVERY,
            verdict,
        ));
        let activity = Arc::new(Activity::new());
        let bytes_in = Arc::new(AtomicU64::new(0));
        let bytes_out = Arc::new(AtomicU64::new(0));
        let mut client = Metered::new(client, &bytes_in, &activity);
        let mut pipe = Metered::new(pipe, &bytes_out, &activity);
        let end = tokio::select! {
            copied = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut pipe, BUFFER, BUFFER) => {
                match copied {
                    Ok(_) => Ended::Closed,
                    Err(e) => Ended::Failed(e),
                }
            }
            _ = &mut revoked => Ended::Revoked,
            () = activity.idle(idle) => Ended::Idle,
        };
        drop(revoked);
        let count = |n: &AtomicU64| i64::try_from(n.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        let outcome = Outcome {
            bytes_in: count(&bytes_in),
            bytes_out: count(&bytes_out),
            ..Outcome::default()
        };
        let reason = match &end {
            Ended::Closed => "client",
            Ended::Idle => "idle",
            Ended::Revoked => "revoked",
            Ended::Failed(e) => {
                log::info!(instance = instance; "forward ended: {e}");
                "error"
            }
        };
        sessions::end(state, opened, outcome, reason).await;
        end
    }
}

/// When anything last moved either way.
struct Activity {
    start: Instant,
    /// milliseconds after `start`
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Returns once nothing moved for `idle`.
    async fn idle(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A stream that counts the bytes read from it and notes the activity.
struct Metered<S> {
    inner: S,
    read: Arc<AtomicU64>,
    activity: Arc<Activity>,
}

impl<S> Metered<S> {
    fn new(inner: S, read: &Arc<AtomicU64>, activity: &Arc<Activity>) -> Self {
        Metered {
            inner,
            read: Arc::clone(read),
            activity: Arc::clone(activity),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            self.read.fetch_add(n as u64, Ordering::Relaxed);
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
