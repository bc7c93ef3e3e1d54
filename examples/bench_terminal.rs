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
//! BENCH_ROUNDS (4), BENCH_PASTE_MB (10). Prints one `BENCH path=… p50_ms=… p99_ms=…`
//! line per path, then `BENCH paste …`: a paste of that many MB of text lines into
//! `cat > file` as the page sends it (64 KiB frames) while the TTY echoes it, checked
//! with `wc -c` in the container (the script samples the server's memory meanwhile).
// a benchmark reads top to bottom; the 80-line limit is for src/ (clippy.toml)
#![allow(clippy::too_many_lines)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[path = "shared/echo.rs"]
mod echo;

use echo::{Api, Cli, Echo, env, env_or};

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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let base = env("BENCH_BASE");
    let container = env("BENCH_CONTAINER");
    let samples = env_or("BENCH_SAMPLES", 500);
    let rounds = env_or("BENCH_ROUNDS", 4);

    // our WebSocket, as the page opens it (Nagle off, as browsers do)
    let url = format!(
        "{}/instances/{}/terminal/ws?cols=120&rows=40",
        base.replacen("http://", "ws://", 1),
        env("BENCH_INSTANCE"),
    );
    let mut req = url.into_client_request().unwrap();
    let protocols = format!("suanli, suanli-csrf.{}", env("BENCH_CSRF"));
    req.headers_mut()
        .insert("Cookie", env("BENCH_COOKIE").parse().unwrap());
    req.headers_mut().insert("Origin", base.parse().unwrap());
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true)
        .await
        .expect("terminal websocket");
    let mut ws = Ws(ws);

    // docker exec -it on a pty
    let mut cli = Cli::spawn(&format!("docker exec -it {container} sh"));
    // the Engine API exec the server uses, without the WebSocket
    let mut api = Api::open(&container).await;
    echo::compare("websocket", &mut ws, &mut cli, &mut api, samples, rounds).await;

    // leave nothing running: Ctrl-C, then (once the TTY has flushed its input) a paste
    // and exit
    ws.send(b"\x03").await;
    echo::drain(&mut ws).await;
    paste(ws, env_or("BENCH_PASTE_MB", 10)).await;
    cli.quit().await;
    api.quit().await;
}

/// Pastes `mb` MB of 76-character lines into `cat > /tmp/paste` and waits for the shell
/// to report the file's size; prints the figures and exits the shell.
async fn paste(ws: Ws, mb: usize) {
    let (mut keys, mut screen) = ws.0.split();
    let line = [b'x'; 76].iter().chain(b"\r").copied().collect::<Vec<u8>>();
    let lines = mb * 1_000_000 / line.len();
    let text = line.repeat(lines);
    let started = std::time::Instant::now();
    let reader = tokio::spawn(async move {
        let mut tail = String::new();
        loop {
            match screen.next().await {
                Some(Ok(Message::Binary(b))) => {
                    tail.push_str(&String::from_utf8_lossy(&b));
                    if tail.len() > 4096 {
                        tail = tail[tail.len() - 2048..].to_string();
                    }
                    if let Some((_, rest)) = tail.split_once("\r\npasted=")
                        && let Some((n, _)) = rest.split_once(":end\r\n")
                    {
                        return n.trim().to_string();
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("websocket ended: {other:?}"),
            }
        }
    });
    keys.send(Message::binary(b"cat > /tmp/paste\r".to_vec()))
        .await
        .unwrap();
    for frame in text.chunks(64 * 1024) {
        keys.send(Message::binary(frame.to_vec())).await.unwrap();
    }
    keys.send(Message::binary(
        b"\x04echo \"pasted=$(wc -c < /tmp/paste):end\"; rm -f /tmp/paste\r".to_vec(),
    ))
    .await
    .unwrap();
    let stored = reader.await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let want = lines * line.len();
    println!(
        "BENCH paste sent_bytes={want} stored_bytes={stored} whole={} seconds={secs:.2} mb_s={:.1}",
        stored == want.to_string(),
        want as f64 / 1e6 / secs
    );
    keys.send(Message::binary(b"exit\r".to_vec()))
        .await
        .unwrap();
    let _ = keys.close().await;
}
