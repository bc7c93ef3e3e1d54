//! Keystroke echo round-trip of the browser terminal, run by scripts/bench_terminal.sh
//! (which starts the release server and creates a running instance). One key is sent,
//! the clock stops when the container's TTY echo of it arrives; `cat >/dev/null` runs in
//! the shell so the echo comes from the kernel's line discipline on every path.
//!
//! Paths, measured in alternating rounds on the same container:
//! - `websocket`: our `/instances/{id}/terminal/ws` (what the browser uses);
//! - `docker-cli`: `docker exec -it <container> sh` on a pty (made by `script`), as a user
//!   at a terminal would type;
//! - `engine-api`: the Engine API exec that the server itself opens (docker::exec), with
//!   no WebSocket hop: the floor of the WebSocket path.
//!
//! Input (environment): BENCH_BASE (http://host:port), BENCH_COOKIE (Cookie header),
//! BENCH_CSRF, BENCH_INSTANCE (id), BENCH_CONTAINER (id), BENCH_DOCKER (engine URL,
//! default unix:///var/run/docker.sock), BENCH_SAMPLES (per path and round, 500),
//! BENCH_ROUNDS (4). Prints one `BENCH path=… p50_ms=… p99_ms=…` line per path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use suanli::docker::exec::{self, ShellInput, ShellOutput, TermSize};
use suanli::docker::{self, Endpoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Keys between two untimed Enter presses (keeps the line buffer short).
const LINE: usize = 60;
const WAIT: Duration = Duration::from_secs(10);

/// One way to reach the container's TTY.
trait Echo {
    async fn send(&mut self, bytes: &[u8]);
    /// Output that arrived next (waits for some).
    async fn recv(&mut self) -> Vec<u8>;
}

struct Ws(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl Echo for Ws {
    async fn send(&mut self, bytes: &[u8]) {
        self.0.send(Message::binary(bytes.to_vec())).await.unwrap();
    }
    async fn recv(&mut self) -> Vec<u8> {
        loop {
            match self.0.next().await {
                Some(Ok(Message::Binary(b))) => return b.to_vec(),
                Some(Ok(Message::Text(t))) => panic!("websocket message: {t}"),
                Some(Ok(_)) => {}
                other => panic!("websocket ended: {other:?}"),
            }
        }
    }
}

struct Cli {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

impl Echo for Cli {
    async fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
    }
    async fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let n = self.stdout.read(&mut buf).await.unwrap();
        assert!(n > 0, "docker exec ended");
        buf.truncate(n);
        buf
    }
}

struct Api {
    input: ShellInput,
    output: ShellOutput,
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
async fn expect(t: &mut impl Echo, needle: &[u8]) {
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
async fn drain(t: &mut impl Echo) {
    while tokio::time::timeout(Duration::from_millis(300), t.recv())
        .await
        .is_ok()
    {}
}

/// Starts `cat` on the TTY: from here on every key comes straight back as its echo.
async fn prepare(t: &mut impl Echo) {
    drain(t).await;
    t.send(b"echo ready-$((6*7))\r").await;
    expect(t, b"ready-42").await;
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

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let base = env("BENCH_BASE");
    let container = env("BENCH_CONTAINER");
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);

    // our WebSocket, as the page opens it (Nagle off, as browsers do)
    let url = format!(
        "{}/instances/{}/terminal/ws?cols=120&rows=40&csrf={}",
        base.replacen("http://", "ws://", 1),
        env("BENCH_INSTANCE"),
        env("BENCH_CSRF")
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Cookie", env("BENCH_COOKIE").parse().unwrap());
    req.headers_mut().insert("Origin", base.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true)
        .await
        .expect("terminal websocket");
    let mut ws = Ws(ws);

    // docker exec -it on a pty
    let mut child = tokio::process::Command::new("script")
        .args([
            "-q",
            "-f",
            "-E",
            "never",
            "-c",
            &format!("docker exec -it {container} sh"),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("script(1)");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut cli = Cli {
        child,
        stdin,
        stdout,
    };

    // the Engine API exec the server uses, without the WebSocket
    let ep = Endpoint {
        url: std::env::var("BENCH_DOCKER").unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        tls: None,
    };
    let d = docker::connect(&ep).await.expect("engine");
    let shell = exec::open(
        &d,
        &container,
        exec::Program::Shell,
        Some(TermSize::default()),
    )
    .await
    .expect("exec");
    let hang_up = shell.control.clone();
    let mut api = Api {
        input: shell.input,
        output: shell.output,
    };

    prepare(&mut ws).await;
    prepare(&mut cli).await;
    prepare(&mut api).await;
    // warm-up, untimed
    measure(&mut ws, 100).await;
    measure(&mut cli, 100).await;
    measure(&mut api, 100).await;

    let (mut w, mut c, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        w.extend(measure(&mut ws, samples).await);
        c.extend(measure(&mut cli, samples).await);
        a.extend(measure(&mut api, samples).await);
    }

    let mut p50 = Vec::new();
    for (name, v) in [
        ("websocket", &mut w),
        ("docker-cli", &mut c),
        ("engine-api", &mut a),
    ] {
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let (m, n) = (percentile(v, 50) / 1000.0, percentile(v, 99) / 1000.0);
        p50.push(m);
        println!(
            "BENCH path={name} n={} p50_ms={m:.3} p90_ms={:.3} p99_ms={n:.3} mean_ms={:.3} max_ms={:.3}",
            v.len(),
            percentile(v, 90) / 1000.0,
            mean / 1000.0,
            v[v.len() - 1] / 1000.0
        );
    }
    println!(
        "BENCH added_p50_ms_vs_docker_cli={:.3} added_p50_ms_vs_engine_api={:.3}",
        p50[0] - p50[1],
        p50[0] - p50[2]
    );

    // leave nothing running: Ctrl-C + exit on every path
    ws.send(b"\x03exit\r").await;
    let _ = ws.0.close(None).await;
    cli.send(b"\x03exit\r").await;
    let _ = tokio::time::timeout(Duration::from_secs(5), cli.child.wait()).await;
    api.send(b"\x03exit\r").await;
    let _ = hang_up.hang_up().await;
}
