//! The one bridge between a client and a program in an instance's container, used by
//! both doors: the browser terminal (a WebSocket) and the SSH jumpbox (a session
//! channel). It opens the `docker exec`, records the `sessions` row, and pumps both ways
//! until one side ends: input with backpressure, output, resizes, end of input, hang-up,
//! the exit code, and byte counts of what was delivered.
//!
//! Backpressure: the input pump reads the client's next message only once the previous
//! one has been written to the program, so a program that reads slowly makes the client
//! wait (the WebSocket's reader, the SSH channel's queue and then its TCP window) and
//! nothing is dropped or queued without bound. The output pump runs beside it, so a
//! program that writes while its input waits is never stuck behind its own input.
//! The doors give the bridge their client as two halves, `ClientIn` and `ClientOut`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::OpsError;
use super::audit::Origin;
use super::sessions::{self, Opened, Outcome};
use super::streams::{self, Holder};
use crate::db::instances::InstanceView;
use crate::docker::DockerError;
use crate::docker::exec::{Chunk, Program, ShellControl, ShellInput, ShellOutput, TermSize};
use crate::domain::ids::InstanceId;
use crate::ops::Context;

/// How soon an open bridge ends after its user is disabled, logs out or loses the
/// instance (or the route).
const RECHECK_EVERY: Duration = Duration::from_secs(10);

/// What the client sent.
#[derive(Debug)]
pub enum FromClient {
    /// input for the program
    Data(Bytes),
    /// the client's terminal changed size
    Resize(TermSize),
    /// end of input: the program reads end-of-file
    Eof,
    /// the client went away
    Gone,
}

/// The client's side towards the program. `next` is awaited only when the program has
/// taken the previous input: a door should read its transport in `next` (no queue of
/// its own that grows without bound). Not `Send`: the web door's reader lives on one
/// thread (the jumpbox's halves are `Send`, and so is its bridge).
pub trait ClientIn {
    fn next(&mut self) -> impl Future<Output = FromClient>;
}

/// The program's output towards the client; Err when the client is gone.
pub trait ClientOut {
    fn write(&mut self, chunk: Chunk) -> impl Future<Output = Result<(), ClientGone>>;
}

/// The client cannot be written to any more.
#[derive(Debug)]
pub struct ClientGone;

/// What runs, for whom, where.
pub struct Request<'a> {
    pub inst: &'a InstanceView,
    pub origin: &'a Origin,
    pub holder: &'a Holder,
    pub program: Program<'a>,
    /// the client's terminal, when it has one
    pub tty: Option<TermSize>,
}

/// An open program with its session row, ready to `run`.
pub struct Bridge {
    input: ShellInput,
    output: ShellOutput,
    control: ShellControl,
    opened: Opened,
    holder: Holder,
    instance: InstanceId,
}

/// How a bridge ended (its session row is closed by then).
#[derive(Debug)]
pub enum Ended {
    /// the program ended, with its exit code when the engine recorded one
    Exited(Option<i64>),
    /// the client went away (the program was hung up)
    Client,
    /// nothing moved either way for the idle time (the program was hung up)
    Idle,
    /// the user may no longer use the instance (the program was hung up)
    Revoked,
    /// the engine failed mid-way (the program was hung up)
    Engine(DockerError),
}

/// Opens the program in the instance's running container and records the session
/// (`command` is empty for a shell). Nothing is left running when this fails.
pub async fn open(state: &Context, req: Request<'_>) -> Result<Bridge, OpsError> {
    let shell = streams::exec(state, req.inst, req.program, req.tty).await?;
    let command = match req.program {
        Program::Shell => "",
        Program::Command(line) => line,
    };
    let opened = match sessions::begin(state, req.origin, req.inst, command).await {
        Ok(opened) => opened,
        Err(e) => {
            let _ = shell.control.hang_up().await;
            return Err(e);
        }
    };
    Ok(Bridge {
        input: shell.input,
        output: shell.output,
        control: shell.control,
        opened,
        holder: req.holder.clone(),
        instance: req.inst.id,
    })
}

impl Bridge {
    /// The session row's id.
    pub fn session_id(&self) -> i64 {
        self.opened.id
    }

    /// Pumps until one side ends; `typeahead` is input the client sent before the program
    /// opened. `idle`: end after that long without a byte either way (None: never).
    /// Hangs the program up unless it ended by itself, and closes the session row.
    pub async fn run(
        self,
        state: &Arc<Context>,
        typeahead: Bytes,
        client_in: &mut impl ClientIn,
        client_out: &mut impl ClientOut,
        idle: Option<Duration>,
    ) -> Ended {
        let Bridge {
            mut input,
            mut output,
            control,
            opened,
            holder,
            instance,
        } = self;
        let (verdict, mut revoked) = tokio::sync::oneshot::channel();
        tokio::spawn(streams::watch(
            Arc::clone(state),
            holder,
            instance,
            RECHECK_EVERY,
            verdict,
        ));
        let activity = Activity::new();
        let mut bytes_in = 0i64;
        let mut bytes_out = 0i64;
        let end = {
            let inbound = pump_in(
                &mut input,
                &control,
                client_in,
                typeahead,
                &mut bytes_in,
                &activity,
                instance,
            );
            let outbound = pump_out(&mut output, client_out, &mut bytes_out, &activity);
            tokio::select! {
                end = outbound => end,
                end = inbound => end,
                _ = &mut revoked => Ended::Revoked,
                end = activity.idle(idle) => end,
            }
        };
        drop(revoked);
        let counts = Outcome {
            bytes_in,
            bytes_out,
            ..Outcome::default()
        };
        if let Ended::Exited(_) = end {
            let code = sessions::end_exited(state, opened, &control, counts).await;
            return Ended::Exited(code);
        }
        drop(output);
        if let Err(e) = control.hang_up().await {
            log::warn!(instance = instance; "hang-up failed: {e}");
        }
        let reason = match &end {
            Ended::Client => "client",
            Ended::Idle => "idle",
            Ended::Revoked => "revoked",
            Ended::Engine(e) => {
                log::warn!(instance = instance; "exec failed: {e}");
                "error"
            }
            Ended::Exited(_) => "exit",
        };
        sessions::end(state, opened, counts, reason).await;
        end
    }
}

/// Client → program, one message at a time. Returns only when the client is gone.
async fn pump_in(
    input: &mut ShellInput,
    control: &ShellControl,
    client: &mut impl ClientIn,
    typeahead: Bytes,
    delivered: &mut i64,
    activity: &Activity,
    instance: InstanceId,
) -> Ended {
    // once the program stops taking input (it closed it or is ending), what the client
    // still sends is read and discarded, as sshd does: its output decides the end
    let mut open = true;
    if !typeahead.is_empty() {
        open = deliver(input, &typeahead, delivered).await;
    }
    loop {
        match client.next().await {
            FromClient::Data(bytes) => {
                activity.touch();
                if open {
                    open = deliver(input, &bytes, delivered).await;
                }
            }
            FromClient::Resize(size) => {
                if let Err(e) = control.resize(size).await {
                    log::debug!(instance = instance; "resize failed: {e}");
                }
            }
            FromClient::Eof => {
                if open {
                    open = false;
                    let _ = input.close().await;
                }
            }
            FromClient::Gone => return Ended::Client,
        }
    }
}

/// Writes input to the program and counts it; false once the program no longer takes it.
async fn deliver(input: &mut ShellInput, bytes: &[u8], delivered: &mut i64) -> bool {
    match input.write(bytes).await {
        Ok(()) => {
            *delivered += bytes.len() as i64;
            true
        }
        Err(e) => {
            log::debug!("program input closed: {e}");
            false
        }
    }
}

/// Program → client, until the program ends, the engine fails or the client is gone.
async fn pump_out(
    output: &mut ShellOutput,
    client: &mut impl ClientOut,
    delivered: &mut i64,
    activity: &Activity,
) -> Ended {
    loop {
        match output.next_chunk().await {
            Some(Ok(chunk)) => {
                activity.touch();
                let n = match &chunk {
                    Chunk::Out(b) | Chunk::Err(b) => b.len() as i64,
                };
                if client.write(chunk).await.is_err() {
                    return Ended::Client;
                }
                *delivered += n;
            }
            Some(Err(e)) => return Ended::Engine(e),
            None => return Ended::Exited(None),
        }
    }
}

/// When a byte last moved either way, for the idle time-out.
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

    /// Resolves once nothing moved for `idle` (never when None).
    async fn idle(&self, idle: Option<Duration>) -> Ended {
        let Some(idle) = idle else {
            return std::future::pending().await;
        };
        loop {
            let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return Ended::Idle;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}
