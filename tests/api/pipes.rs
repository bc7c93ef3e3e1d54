//! Nothing is lost through the exec bridge (ops/bridge.rs): big pipes through the
//! jumpbox with Debian's OpenSSH client into the busybox test container on the real
//! engine. Each side's bytes are hashed and compared; the session row counts what was
//! delivered. (Memory during these transfers is measured by scripts/bench_jumpbox.sh.)

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use ring::digest::{Context, SHA256};

use crate::helpers::{PASSWORD, TestApp};
use crate::instances::text_row;
use crate::jumpbox::mia_with_a_running_box;
use crate::ssh::ssh_command;

/// Pseudo-random bytes (xorshift64*), cheap enough for gigabytes.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `total` pseudo-random bytes into `w` and returns their SHA-256.
fn send_noise(mut w: impl Write, total: u64, seed: u64) -> String {
    let mut noise = Noise(seed);
    let mut ctx = Context::new(&SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = total;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap();
        noise.fill(&mut buf[..n]);
        ctx.update(&buf[..n]);
        w.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    hex(ctx.finish().as_ref())
}

/// `ssh … <instance> -- <command>` with `total` bytes of noise on its stdin: (the
/// noise's SHA-256, exit code, stdout, stderr).
async fn pipe_into(
    app: &Arc<TestApp>,
    name: &str,
    command: &str,
    total: u64,
) -> (String, i32, String, String) {
    let (app, args) = (
        Arc::clone(app),
        [name.to_string(), "--".into(), command.to_string()],
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = ssh_command(&app.data_dir, app.ssh_port, "mia", PASSWORD, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let sent = std::thread::spawn(move || send_noise(stdin, total, 0x9E37_79B9_7F4A_7C15));
        let out = child.wait_with_output().unwrap();
        (
            sent.join().unwrap(),
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn last_session_bytes_in(app: &TestApp, id: i64) -> String {
    text_row(
        app,
        &format!(
            "SELECT concat_ws('|', bytes_in, end_reason, exit_code) AS t FROM sessions
             WHERE instance_id = {id} ORDER BY id DESC LIMIT 1"
        ),
    )
}

/// 1 GiB through `ssh … -- sh -c 'cat > f'` arrives with the same SHA-256, and the
/// session row counts exactly what reached the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_piped_through_the_jumpbox_arrives_whole() {
    let (app, id, name, _cleanup) = mia_with_a_running_box("gib").await;
    const GIB: u64 = 1 << 30;
    let app = Arc::new(app);
    let command = "cat > /tmp/big && sha256sum /tmp/big && rm -f /tmp/big";
    let (sent, code, out, err) = pipe_into(&app, &name, command, GIB).await;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, format!("{sent}  /tmp/big\n"), "stderr: {err}");
    assert_eq!(last_session_bytes_in(&app, id), format!("{GIB}|exit|0"));
}

/// A program that does not read for a while makes the client wait: 20 MB (five times
/// what the old input queue held before it dropped the rest) all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_reads_late_still_gets_all_its_input() {
    let (app, id, name, _cleanup) = mia_with_a_running_box("late").await;
    let app = Arc::new(app);
    let command =
        "sleep 2; cat > /tmp/late && sha256sum /tmp/late && wc -c < /tmp/late && rm -f /tmp/late";
    let (sent, code, out, err) = pipe_into(&app, &name, command, 20_000_000).await;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out,
        format!("{sent}  /tmp/late\n20000000\n"),
        "stderr: {err}"
    );
    assert_eq!(last_session_bytes_in(&app, id), "20000000|exit|0");
}

/// Writes files of noise (and a few small ones) under `dir`; returns their total size.
fn make_tree(dir: &std::path::Path, big: &[u64]) -> u64 {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let mut total = 0;
    for (i, size) in big.iter().enumerate() {
        let f = std::fs::File::create(dir.join(format!("big-{i}.bin"))).unwrap();
        send_noise(std::io::BufWriter::new(f), *size, 7 + i as u64);
        total += size;
    }
    for i in 0..50 {
        let text = format!("small file {i}\n").repeat(i + 1);
        std::fs::write(dir.join("sub").join(format!("s{i}.txt")), &text).unwrap();
        total += text.len() as u64;
    }
    total
}

/// Every file under `dir` with its SHA-256, sorted by path.
fn digest_tree(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let mut ctx = Context::new(&SHA256);
            let mut f = std::fs::File::open(&p).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                ctx.update(&buf[..n]);
            }
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            out.push((rel, hex(ctx.finish().as_ref())));
        }
    }
    out.sort();
    out
}

/// `tar c | ssh … -- tar x` and back (`ssh … -- tar c | tar x`): 500 MB each way, every
/// file identical at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tar_round_trip_through_the_jumpbox_keeps_every_file() {
    let (app, id, name, _cleanup) = mia_with_a_running_box("tar").await;
    let app = Arc::new(app);
    let a = Arc::clone(&app);
    tokio::task::spawn_blocking(move || {
        let work = a.data_dir.join("tar");
        let (src, back) = (work.join("src"), work.join("back"));
        let total = make_tree(&src, &[200_000_000, 200_000_000, 100_000_000]);
        assert!(total >= 500_000_000);
        std::fs::create_dir_all(&back).unwrap();

        // up: tar c on this host, tar x in the container
        let mut pack = Command::new("tar")
            .args(["cf", "-", "-C"])
            .arg(&src)
            .arg(".")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let up = ssh_command(
            &a.data_dir,
            a.ssh_port,
            "mia",
            PASSWORD,
            &[
                &name,
                "--",
                "rm -rf /tmp/t && mkdir /tmp/t && tar xf - -C /tmp/t",
            ],
        )
        .stdin(Stdio::from(pack.stdout.take().unwrap()))
        .output()
        .unwrap();
        assert!(pack.wait().unwrap().success());
        assert_eq!(
            up.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );

        // down: tar c in the container, tar x on this host
        let mut down = ssh_command(
            &a.data_dir,
            a.ssh_port,
            "mia",
            PASSWORD,
            &[&name, "--", "tar cf - -C /tmp/t . && rm -rf /tmp/t"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let unpack = Command::new("tar")
            .args(["xf", "-", "-C"])
            .arg(&back)
            .stdin(Stdio::from(down.stdout.take().unwrap()))
            .output()
            .unwrap();
        let down = down.wait_with_output().unwrap();
        assert_eq!(
            down.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&down.stderr)
        );
        assert!(
            unpack.status.success(),
            "{}",
            String::from_utf8_lossy(&unpack.stderr)
        );

        let (want, got) = (digest_tree(&src), digest_tree(&back));
        assert_eq!(want.len(), 53);
        assert_eq!(got, want);
        std::fs::remove_dir_all(&work).unwrap();
    })
    .await
    .unwrap();
    // both sessions ended by exit 0
    assert_eq!(
        text_row(
            &app,
            &format!(
                "SELECT string_agg(concat_ws(':', end_reason, exit_code), ',' ORDER BY id) AS t
                 FROM sessions WHERE instance_id = {id}"
            )
        ),
        "exit:0,exit:0"
    );
}
