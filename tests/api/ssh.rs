//! Driving Debian's OpenSSH client against the jumpbox: one-shot runs (`ssh … -- cmd`)
//! with their exit status and output, and interactive sessions on a pseudo-terminal we
//! own (an expect-style driver: send keys, wait for text, resize the window). The
//! password comes from an askpass script (`SSH_ASKPASS_REQUIRE=force`), so the client
//! never needs a human.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// An askpass script printing `$SUANLI_TEST_PASSWORD`, written once per test app.
pub fn askpass(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("askpass.sh");
    if !path.exists() {
        std::fs::write(
            &path,
            "#!/bin/sh\nprintf '%s\\n' \"$SUANLI_TEST_PASSWORD\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

/// `ssh -p PORT user@127.0.0.1 ARGS…` with the password given, no host key checks and
/// no other authentication method; only errors logged.
pub fn ssh_command(dir: &Path, port: u16, user: &str, password: &str, args: &[&str]) -> Command {
    ssh_command_logging("ERROR", dir, port, user, password, args)
}

/// `ssh_command` at another log level (INFO, OpenSSH's default, shows what the server
/// said when it disconnected).
pub fn ssh_command_logging(
    level: &str,
    dir: &Path,
    port: u16,
    user: &str,
    password: &str,
    args: &[&str],
) -> Command {
    let mut c = openssh("ssh", level, dir, port, password);
    c.arg(format!("{user}@127.0.0.1")).args(args);
    c
}

/// One of OpenSSH's clients (`ssh`, `sftp`, `scp`) aimed at `port` with the password
/// given, no host key checks and no other authentication method; the caller adds the
/// destination.
pub fn openssh(program: &str, level: &str, dir: &Path, port: u16, password: &str) -> Command {
    let mut c = Command::new(program);
    let port_flag = if program == "ssh" { "-p" } else { "-P" };
    c.args([
        port_flag,
        &port.to_string(),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        &format!("LogLevel={level}"),
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "NumberOfPasswordPrompts=1",
        "-o",
        "ConnectTimeout=10",
        // before sftp's own -b turns it on: the password comes from askpass
        "-o",
        "BatchMode=no",
    ])
    .env("SSH_ASKPASS", askpass(dir))
    .env("SSH_ASKPASS_REQUIRE", "force")
    .env("SUANLI_TEST_PASSWORD", password)
    .env("LANG", "C.UTF-8")
    .stdin(Stdio::null());
    c
}

/// Runs to the end: (exit code, stdout, stderr).
pub fn ssh_run(
    dir: &Path,
    port: u16,
    user: &str,
    password: &str,
    args: &[&str],
) -> (i32, String, String) {
    let out: Output = ssh_command(dir, port, user, password, args)
        .output()
        .expect("ssh client");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An ssh client on a pseudo-terminal of ours.
pub struct Pty {
    master: std::fs::File,
    child: Child,
    output: Receiver<Vec<u8>>,
    /// what arrived and was not consumed by `expect` yet
    pub seen: String,
}

fn winsize(cols: u16, rows: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Pty {
    /// Starts `ssh` (with `args` after the destination) on a terminal of cols×rows.
    pub fn spawn(
        dir: &Path,
        port: u16,
        user: &str,
        password: &str,
        args: &[&str],
        (cols, rows): (u16, u16),
    ) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let ws = winsize(cols, rows);
        // SAFETY: openpty writes two descriptors we own from here on.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: fresh descriptors from openpty, owned exactly once.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = ssh_command(dir, port, user, password, args);
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("ssh client");
        drop(slave);
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().unwrap();
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            master,
            child,
            output,
            seen: String::new(),
        }
    }

    pub fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    /// Waits for `needle`; returns what came before it (and it), consuming both.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, WAIT).unwrap_or_else(|| {
            panic!(
                "timed out waiting for {needle:?}; output so far: {:?}",
                self.seen
            )
        })
    }

    /// `expect` for at most `within`: None when `needle` has not come by then (what
    /// came meanwhile is kept for the next wait).
    pub fn expect_within(&mut self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.seen.find(needle) {
                let end = at + needle.len();
                let before = self.seen[..end].to_string();
                self.seen.drain(..end);
                return Some(before);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("ssh ended before {needle:?}; output: {:?}", self.seen)
                }
            }
        }
    }

    /// Everything until the client exits, and its exit code.
    pub fn wait_exit(&mut self) -> (i32, String) {
        let deadline = Instant::now() + WAIT;
        while let Ok(bytes) = self
            .output
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), std::mem::take(&mut self.seen))
    }

    /// Resizes the terminal: the kernel signals SIGWINCH to ssh, which tells the server.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let ws = winsize(cols, rows);
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(rc, 0, "TIOCSWINSZ");
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
