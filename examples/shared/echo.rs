//! Keystroke echo round-trips on a container's TTY, shared by the terminal and jumpbox
//! benchmarks (`#[path]`-included: not an example of its own). A path is anything that
//! can send keys and read output (`Echo`); `compare` times three paths in alternating
//! rounds and prints one `BENCH path=…` line per path and a `BENCH added …` line.

use std::process::Stdio;
use std::time::{Duration, Instant};

use suanli::docker::exec::{self, ShellControl, ShellInput, ShellOutput, TermSize};
use suanli::docker::{self, Endpoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Keys between two untimed Enter presses (keeps the line buffer short).
const LINE: usize = 60;
const WAIT: Duration = Duration::from_secs(30);

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// One way to reach the container's TTY.
pub trait Echo {
    async fn send(&mut self, bytes: &[u8]);
    /// Output that arrived next (waits for some).
    async fn recv(&mut self) -> Vec<u8>;
}

/// A command on a pty made by `script` (its stdin and stdout are our pipes).
pub struct Cli {
    pub child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

impl Cli {
    pub fn spawn(command: &str) -> Cli {
        let mut child = tokio::process::Command::new("script")
            .args(["-q", "-f", "-E", "never", "-c", command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("script(1)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        Cli {
            child,
            stdin,
            stdout,
        }
    }

    /// Ctrl-C, then `exit` once the TTY has flushed its input (an interrupt discards
    /// what follows it in the same write); waits for the end of output and the exit.
    pub async fn quit(&mut self) {
        self.send(b"\x03").await;
        drain(self).await;
        self.send(b"exit\r").await;
        let mut buf = vec![0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(1..) = self.stdout.read(&mut buf).await {}
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

impl Echo for Cli {
    async fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
    }
    async fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let n = self.stdout.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client ended");
        buf.truncate(n);
        buf
    }
}

/// The Engine API exec the server opens, without the server.
pub struct Api {
    input: ShellInput,
    output: ShellOutput,
    control: ShellControl,
}

impl Api {
    pub async fn open(container: &str) -> Api {
        let ep = Endpoint {
            url: std::env::var("BENCH_DOCKER")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
            tls: None,
        };
        let d = docker::connect(&ep).await.expect("engine");
        let shell = exec::open(
            &d,
            container,
            exec::Program::Shell,
            Some(TermSize::default()),
        )
        .await
        .expect("exec");
        Api {
            input: shell.input,
            output: shell.output,
            control: shell.control,
        }
    }

    /// Ctrl-C, `exit`, and a hang-up for whatever is left.
    pub async fn quit(&mut self) {
        self.send(b"\x03").await;
        drain(self).await;
        self.send(b"exit\r").await;
        let _ = self.control.hang_up().await;
    }
}

impl Echo for Api {
    async fn send(&mut self, bytes: &[u8]) {
        self.input.write(bytes).await.unwrap();
    }
    async fn recv(&mut self) -> Vec<u8> {
        self.output.next().await.unwrap().unwrap().to_vec()
    }
}

/// Waits until `needle` shows up in the output.
pub async fn expect(t: &mut impl Echo, needle: &[u8]) {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            seen.extend(t.recv().await);
            if seen.windows(needle.len()).any(|w| w == needle) {
                return;
            }
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "no {needle:?} in {:?}",
        String::from_utf8_lossy(&seen)
    );
}

/// Reads whatever arrives until the output is quiet for 300 ms.
pub async fn drain(t: &mut impl Echo) {
    while tokio::time::timeout(Duration::from_millis(300), t.recv())
        .await
        .is_ok()
    {}
}

/// Waits for the shell, then starts `cat` on the TTY: from here on every key comes
/// straight back as its echo (no prompt, no line editing).
async fn prepare(t: &mut impl Echo) {
    drain(t).await;
    t.send(b"echo ready-$((6*7))\r").await;
    expect(t, b"ready-42").await;
    drain(t).await;
    t.send(b"cat >/dev/null\r").await;
    drain(t).await;
}

/// `n` timed keystrokes; returns the round-trips in microseconds.
async fn measure(t: &mut impl Echo, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i % LINE == LINE - 1 {
            t.send(b"\r").await;
            expect(t, b"\n").await;
        }
        let key = b'a' + (i % 26) as u8;
        let start = Instant::now();
        t.send(&[key]).await;
        expect(t, &[key]).await;
        out.push(start.elapsed().as_secs_f64() * 1e6);
    }
    out
}

/// Times `ours` against `docker exec -it` (`cli`) and the bare Engine API exec (`api`):
/// prepared, warmed up, then `rounds` alternating rounds of `samples` keys each.
pub async fn compare(
    name: &str,
    ours: &mut impl Echo,
    cli: &mut impl Echo,
    api: &mut impl Echo,
    samples: usize,
    rounds: usize,
) {
    prepare(ours).await;
    prepare(cli).await;
    prepare(api).await;
    // warm-up, untimed
    measure(ours, 100).await;
    measure(cli, 100).await;
    measure(api, 100).await;
    let (mut o, mut c, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        o.extend(measure(ours, samples).await);
        c.extend(measure(cli, samples).await);
        a.extend(measure(api, samples).await);
    }
    let mut p50 = Vec::new();
    for (path, v) in [
        (name, &mut o),
        ("docker-cli", &mut c),
        ("engine-api", &mut a),
    ] {
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let m = percentile(v, 50) / 1000.0;
        p50.push(m);
        println!(
            "BENCH path={path} n={} p50_ms={m:.3} p90_ms={:.3} p99_ms={:.3} mean_ms={:.3} max_ms={:.3}",
            v.len(),
            percentile(v, 90) / 1000.0,
            percentile(v, 99) / 1000.0,
            mean / 1000.0,
            v[v.len() - 1] / 1000.0
        );
    }
    println!(
        "BENCH added added_p50_ms_vs_docker_cli={:.3} added_p50_ms_vs_engine_api={:.3}",
        p50[0] - p50[1],
        p50[0] - p50[2]
    );
}
