//! Shells and commands in containers: `docker exec [-it]` through the Engine API. Opens
//! bash (sh when the image has no bash) or one `sh -c` command, with or without a TTY,
//! and hands back three parts that can be driven from different tasks: input in, output
//! out, and a control handle for resize, the exit code and hanging up. Shared by the web
//! terminal and the SSH jumpbox, so it knows nothing of HTTP, WebSockets or SSH.

use std::pin::Pin;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::ResizeExecOptionsBuilder;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::DockerError;

/// bash when the image has it, else sh; `exec` so that the shell's exit code is the
/// exec's. Deciding inside the container costs no extra round-trip.
const SHELL: &str = "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh";

/// The environment variable that marks every process of one shell session (children
/// inherit it), so that `hang_up` finds them.
const MARKER: &str = "SUANLI_SESSION";

/// Sends SIGHUP to every process whose environment carries `MARKER=$1`. The engine has no
/// call to end an exec, and closing its attach stream leaves the shell running (moby
/// keeps TTY execs alive when the client goes away).
const HANG_UP: &str = r#"for p in /proc/[0-9]*; do
  case "$(tr '\0' '\n' < "$p/environ" 2>/dev/null)" in
    *"SUANLI_SESSION=$1"*) kill -HUP "${p#/proc/}" 2>/dev/null ;;
  esac
done
exit 0"#;

/// The attach stream's read buffer. bollard's default (8 KiB) reads the engine's 32 KiB
/// frames in pieces, a 1-byte read between two (twice the syscalls, and the engine blocks
/// on a full socket more often: `cat` of 200 MiB cost dockerd 1.6 CPU-s/GB instead of
/// 0.9). Pages are only touched as output arrives, so an idle shell keeps little of it.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// How long `exit_code` waits for the engine to record the end of the process.
const EXIT_WAIT: Duration = Duration::from_secs(3);

pub use crate::domain::container::{Chunk, Program, TermSize};

/// An open shell: give `input` and `output` to whichever tasks pump them.
pub struct Shell {
    pub input: ShellInput,
    pub output: ShellOutput,
    pub control: ShellControl,
}

/// The shell's terminal input (keystrokes, pasted text).
pub struct ShellInput {
    writer: Pin<Box<dyn AsyncWrite + Send>>,
}

/// The terminal output, as the engine delivers it (no framing: arbitrary chunks).
pub struct ShellOutput {
    stream: Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
}

/// Resize, exit code and hang-up; cheap to clone.
#[derive(Clone)]
pub struct ShellControl {
    docker: Docker,
    container: String,
    exec_id: String,
    marker: String,
}

/// Opens `program` in a running container, on a TTY of that size when `tty` is given.
pub async fn open(
    docker: &Docker,
    container: &str,
    program: Program<'_>,
    tty: Option<TermSize>,
) -> Result<Shell, DockerError> {
    let marker = crate::crypto::random_token(18);
    let mut env = vec![format!("{MARKER}={marker}")];
    if tty.is_some() {
        env.push("TERM=xterm-256color".to_string());
    }
    let script = match program {
        Program::Shell => SHELL,
        Program::Command(line) => line,
    };
    let created = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(tty.is_some()),
                env: Some(env),
                cmd: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| engine(e, container))?;
    let started = docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: tty.is_some(),
                output_capacity: Some(OUTPUT_BUFFER),
            }),
        )
        .await
        .map_err(|e| engine(e, container))?;
    let StartExecResults::Attached { output, input } = started else {
        return Err(DockerError::Engine("exec started detached".into()));
    };
    let control = ShellControl {
        docker: docker.clone(),
        container: container.to_string(),
        exec_id: created.id,
        marker,
    };
    // The engine only resizes a started exec; the shell reads the size when it prompts,
    // which races this call: `resize` again once the client knows its real size.
    if let Some(size) = tty {
        control.resize(size).await?;
    }
    Ok(Shell {
        input: ShellInput { writer: input },
        output: ShellOutput { stream: output },
        control,
    })
}

impl ShellInput {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), DockerError> {
        let io = |e: std::io::Error| DockerError::Unreachable(format!("exec input: {e}"));
        self.writer.write_all(bytes).await.map_err(io)?;
        self.writer.flush().await.map_err(io)
    }

    /// End of input (the client sent EOF): the program reads end-of-file.
    pub async fn close(&mut self) -> Result<(), DockerError> {
        self.writer
            .shutdown()
            .await
            .map_err(|e| DockerError::Unreachable(format!("exec input: {e}")))
    }
}

impl ShellOutput {
    /// The next chunk of output, stdout and stderr alike; None once the program has
    /// ended (or the engine went away).
    pub async fn next(&mut self) -> Option<Result<Bytes, DockerError>> {
        Some(self.next_chunk().await?.map(|c| match c {
            Chunk::Out(b) | Chunk::Err(b) => b,
        }))
    }

    /// The next chunk, telling stderr apart (without a TTY).
    pub async fn next_chunk(&mut self) -> Option<Result<Chunk, DockerError>> {
        match self.stream.next().await? {
            Ok(LogOutput::StdErr { message }) => Some(Ok(Chunk::Err(message))),
            Ok(out) => Some(Ok(Chunk::Out(out.into_bytes()))),
            Err(e) => Some(Err(DockerError::from_bollard(e, "exec output"))),
        }
    }
}

impl ShellControl {
    pub async fn resize(&self, size: TermSize) -> Result<(), DockerError> {
        let opts = ResizeExecOptionsBuilder::new()
            .w(i32::from(size.cols))
            .h(i32::from(size.rows))
            .build();
        self.docker
            .resize_exec(&self.exec_id, opts)
            .await
            .map_err(|e| engine(e, &self.container))
    }

    /// The shell's exit code, once the output has ended. None when the engine still
    /// reports it running after a short wait (or never recorded one).
    pub async fn exit_code(&self) -> Result<Option<i64>, DockerError> {
        let deadline = tokio::time::Instant::now() + EXIT_WAIT;
        loop {
            let inspect = self
                .docker
                .inspect_exec(&self.exec_id)
                .await
                .map_err(|e| engine(e, &self.container))?;
            // The attach stream can end a moment before the engine records the exit.
            if inspect.running != Some(true) {
                return Ok(inspect.exit_code);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ends the session from our side (the user closed the page, the SSH channel went
    /// away): SIGHUP to the shell and everything it started, as a closing terminal does.
    pub async fn hang_up(&self) -> Result<(), DockerError> {
        let created = self
            .docker
            .create_exec(
                &self.container,
                CreateExecOptions::<String> {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        HANG_UP.into(),
                        "sh".into(),
                        self.marker.clone(),
                    ]),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| engine(e, &self.container))?;
        let started = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| engine(e, &self.container))?;
        if let StartExecResults::Attached { mut output, .. } = started {
            while output.next().await.is_some() {}
        }
        Ok(())
    }
}

fn engine(e: bollard::errors::Error, container: &str) -> DockerError {
    DockerError::from_bollard(e, container)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_clamped_to_what_the_engine_accepts() {
        for (why, cols, rows, want) in [
            ("usual", 120, 40, (120, 40)),
            ("zero", 0, 0, (1, 1)),
            ("huge", 5000, 2000, (1000, 1000)),
        ] {
            let s = TermSize::clamped(cols, rows);
            assert_eq!((s.cols, s.rows), want, "{why}");
        }
    }
}
