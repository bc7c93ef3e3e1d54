//! The SSH jumpbox against `docker exec` on the same container, run by
//! scripts/bench_jumpbox.sh (which starts the release server with its jumpbox, creates a
//! running instance and writes the blob into its container). Three modes, one per
//! target of the jumpbox issue:
//!
//! - `throughput`: `cat` of the blob through `ssh … <instance> -- cat BLOB` (no pty),
//!   through `docker exec <container> cat BLOB` and, when BENCH_REF_SSH is given, through
//!   OpenSSH's sshd running `docker exec` (the same SSH hop without Suanli), each into a
//!   pipe this process reads and into a file, the order rotating per round; per run the
//!   time to the first byte (connection, login, exec set-up) and the streaming rate from
//!   the first byte to the end of output, which is what the ratios compare;
//! - `echo`: keystroke echo round-trip, one key at a time, clock stopped at its TTY echo
//!   (as examples/bench_terminal.rs): `ssh -tt … <instance>` and `docker exec -it
//!   <container> sh`, both on a pty made by `script`, plus the Engine API exec the
//!   server itself opens (the floor of the jumpbox path, no SSH hop); alternating rounds;
//! - `idle`: opens BENCH_SESSIONS `ssh -tt … <instance>` shells through the jumpbox,
//!   waits until each one's shell has answered, reads the server's VmRSS before and
//!   after, then closes them (half by typing `exit`, half by killing the client).
//!
//! Input (environment): BENCH_SSH (the ssh command up to and including user@host, split
//! on spaces; the password comes from its askpass environment), BENCH_INSTANCE_NAME,
//! BENCH_CONTAINER; throughput: BENCH_BLOB (path in the container), BENCH_BYTES (its
//! size), BENCH_ROUNDS (5), BENCH_SINK_FILE (the file sink's path), BENCH_REF_SSH (the
//! ssh command to the reference sshd up to user@host, optional); echo: BENCH_SAMPLES (per path and round, 300), BENCH_ROUNDS
//! (4), BENCH_DOCKER (engine URL, default unix:///var/run/docker.sock); idle:
//! BENCH_SESSIONS (100), BENCH_OPEN_PARALLEL (logins at a time, 10), BENCH_SERVER_PID.
//! Prints `BENCH …` lines of key=value figures.
// a benchmark reads top to bottom; the 80-line limit is for src/ (clippy.toml)
#![allow(clippy::too_many_lines)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "shared/echo.rs"]
mod echo;

use echo::{Api, Cli, env, env_or, percentile};

/// The ssh command line up to the destination, as words.
fn ssh_words() -> Vec<String> {
    env("BENCH_SSH")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 50)
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("throughput") => throughput(),
        Some("echo") => runtime().block_on(echo()),
        Some("idle") => runtime().block_on(idle()),
        _ => panic!("usage: bench_jumpbox throughput|echo|idle"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ------------------------------------------------------------------ throughput

/// One `cat` of the blob, timed.
#[derive(Clone, Copy)]
struct Cat {
    /// from the spawn to the first byte: connection, login, exec set-up
    first_byte_ms: f64,
    /// from the first byte to the end of output
    stream_mb_s: f64,
    /// from the spawn to the end of output
    overall_mb_s: f64,
    /// CPU seconds per GB streamed: the whole machine, the Suanli server, dockerd and the
    /// container's shim from the first byte on; the client process (ssh or docker, its key
    /// exchange included) over its whole life
    cpu: CpuPerGb,
}

#[derive(Clone, Copy, Default)]
struct CpuPerGb {
    machine: f64,
    server: f64,
    dockerd: f64,
    shim: f64,
    client: f64,
}

/// Clock ticks per second of /proc's CPU times.
fn ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// Busy ticks of all CPUs so far (/proc/stat: all but idle and iowait).
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<u64>() - fields.get(3).unwrap_or(&0) - fields.get(4).unwrap_or(&0)
}

/// User + system ticks of the processes whose command name starts with `comm`.
fn process_ticks(comm: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| {
            // "pid (comm) state …": comm may hold spaces, fields count after the ')'
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1;
            if !name.starts_with(comm) {
                return None;
            }
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// CPU seconds used so far by the children this process has waited for.
fn children_cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// (machine, server, dockerd, shim) ticks.
fn snapshot(server: &str) -> [u64; 4] {
    let server_ticks = std::fs::read_to_string(format!("/proc/{server}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    [
        machine_ticks(),
        server_ticks,
        process_ticks("dockerd"),
        process_ticks("containerd-shim"),
    ]
}

/// Where a `cat`'s output goes.
#[derive(Clone, Copy, PartialEq)]
enum Sink {
    /// a pipe that this process reads (64 KiB, Linux's default): as in `ssh … | tar x`
    Pipe,
    /// a file (BENCH_SINK_FILE, on tmpfs): as in `ssh … cat f > f`; the first byte is
    /// seen by watching the file's size every millisecond
    File,
}

impl Sink {
    fn name(self) -> &'static str {
        match self {
            Sink::Pipe => "pipe",
            Sink::File => "file",
        }
    }
}

fn cat_once(mut cmd: Command, bytes: u64, sink: Sink) -> Cat {
    let server = env("BENCH_SERVER_PID");
    let client_before = children_cpu_s();
    let (mut got, mut first, mut before) = (0u64, None, [0; 4]);
    // the processes' CPU from the first byte on: streaming, not the login
    let mut first_byte = || {
        before = snapshot(&server);
        Instant::now()
    };
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
    let start = Instant::now();
    let status = match sink {
        Sink::Pipe => {
            let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn");
            let mut out = child.stdout.take().unwrap();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = out.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                first.get_or_insert_with(&mut first_byte);
                got += n as u64;
            }
            child.wait().expect("wait")
        }
        Sink::File => {
            let path = env("BENCH_SINK_FILE");
            let file = std::fs::File::create(&path).expect("sink file");
            let mut child = cmd.stdout(file).spawn().expect("spawn");
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                if first.is_none() && std::fs::metadata(&path).map_or(0, |m| m.len()) > 0 {
                    first = Some(first_byte());
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            got = std::fs::metadata(&path).expect("sink file").len();
            std::fs::remove_file(&path).expect("sink file");
            status
        }
    };
    let end = Instant::now();
    let after = snapshot(&server);
    let gb = bytes as f64 / 1e9;
    let per_gb = |i: usize| (after[i] - before[i]) as f64 / ticks_per_s() / gb;
    let cpu = CpuPerGb {
        machine: per_gb(0),
        server: per_gb(1),
        dockerd: per_gb(2),
        shim: per_gb(3),
        client: (children_cpu_s() - client_before) / gb,
    };
    assert!(status.success(), "{cmd:?}: {status}");
    assert_eq!(got, bytes, "{cmd:?}: got {got} bytes, expected {bytes}");
    let first = first.expect("no output");
    let mb = bytes as f64 / 1e6;
    Cat {
        first_byte_ms: (first - start).as_secs_f64() * 1e3,
        stream_mb_s: mb / (end - first).as_secs_f64(),
        overall_mb_s: mb / (end - start).as_secs_f64(),
        cpu,
    }
}

/// The runs of one path into one sink.
struct Runs {
    sink: Sink,
    path: &'static str,
    cats: Vec<Cat>,
}

impl Runs {
    fn pick(&self, f: fn(&Cat) -> f64) -> Vec<f64> {
        self.cats.iter().map(f).collect()
    }

    fn stream(&self) -> f64 {
        median(&self.pick(|c| c.stream_mb_s))
    }

    /// `path=X` for the pipe (the target's figures), `path=file-X` for the file
    fn key(&self) -> String {
        match self.sink {
            Sink::Pipe => self.path.to_string(),
            Sink::File => format!("file-{}", self.path),
        }
    }

    fn print(&self) {
        println!(
            "BENCH path={} runs={} first_byte_ms={:.0} stream_mb_s={:.0} overall_mb_s={:.0} min_stream_mb_s={:.0} max_stream_mb_s={:.0}",
            self.key(),
            self.cats.len(),
            median(&self.pick(|c| c.first_byte_ms)),
            self.stream(),
            median(&self.pick(|c| c.overall_mb_s)),
            self.pick(|c| c.stream_mb_s)
                .into_iter()
                .fold(f64::INFINITY, f64::min),
            self.pick(|c| c.stream_mb_s).into_iter().fold(0.0, f64::max),
        );
        // CPU seconds per GB while streaming, medians; the stage that needs the most bounds
        // a path's rate on a host with a core per process
        println!(
            "BENCH cpu_{} machine_s_per_gb={:.2} server_s_per_gb={:.2} dockerd_s_per_gb={:.2} shim_s_per_gb={:.2} client_s_per_gb={:.2}",
            self.key(),
            median(&self.pick(|c| c.cpu.machine)),
            median(&self.pick(|c| c.cpu.server)),
            median(&self.pick(|c| c.cpu.dockerd)),
            median(&self.pick(|c| c.cpu.shim)),
            median(&self.pick(|c| c.cpu.client)),
        );
    }

    /// (ratio of the medians, median of the same round's ratios) of self to `other`
    fn against(&self, other: &Runs) -> (f64, f64) {
        let paired: Vec<f64> = self
            .cats
            .iter()
            .zip(&other.cats)
            .map(|(a, b)| a.stream_mb_s / b.stream_mb_s)
            .collect();
        (self.stream() / other.stream(), median(&paired))
    }
}

fn throughput() {
    let (name, container, blob) = (
        env("BENCH_INSTANCE_NAME"),
        env("BENCH_CONTAINER"),
        env("BENCH_BLOB"),
    );
    let bytes: u64 = env("BENCH_BYTES").parse().unwrap();
    let rounds = env_or("BENCH_ROUNDS", 5);
    let ssh = ssh_words();
    // OpenSSH's sshd on this host running `docker exec`: the SSH hop without Suanli
    let reference: Vec<String> = std::env::var("BENCH_REF_SSH")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let docker = vec!["docker".to_string()];
    let command = |path: &str| {
        let (words, tail): (&[String], Vec<&str>) = match path {
            "jumpbox" => (&ssh, vec![&name, "--", "cat", &blob]),
            "sshd" => (&reference, vec!["docker", "exec", &container, "cat", &blob]),
            _ => (&docker, vec!["exec", &container, "cat", &blob]),
        };
        let mut c = Command::new(&words[0]);
        c.args(&words[1..]).args(tail);
        c
    };
    let mut paths = vec!["jumpbox", "docker-exec"];
    if !reference.is_empty() {
        paths.push("sshd");
    }
    // warm-up (page cache, connections), untimed
    for path in &paths {
        cat_once(command(path), bytes, Sink::Pipe);
    }

    let mut runs: Vec<Runs> = [Sink::Pipe, Sink::File]
        .into_iter()
        .flat_map(|sink| paths.iter().map(move |&path| (sink, path)))
        .map(|(sink, path)| Runs {
            sink,
            path,
            cats: Vec::new(),
        })
        .collect();
    for round in 0..rounds {
        // who goes first rotates, so that a drift in the machine's load hits every path
        let n = paths.len();
        for sink in [Sink::Pipe, Sink::File] {
            for k in 0..n {
                let path = paths[(round + k) % n];
                let r = cat_once(command(path), bytes, sink);
                println!(
                    "run sink={} path={path} round={} first_byte_ms={:.0} stream_mb_s={:.0} overall_mb_s={:.0}",
                    sink.name(),
                    round + 1,
                    r.first_byte_ms,
                    r.stream_mb_s,
                    r.overall_mb_s
                );
                let runs = runs.iter_mut().find(|r| r.sink == sink && r.path == path);
                runs.unwrap().cats.push(r);
            }
        }
    }
    for r in &runs {
        r.print();
    }
    let of = |sink: Sink, path: &str| runs.iter().find(|r| r.sink == sink && r.path == path);
    for sink in [Sink::Pipe, Sink::File] {
        let direct = of(sink, "docker-exec").unwrap();
        let (ratio, paired) = of(sink, "jumpbox").unwrap().against(direct);
        let key = if sink == Sink::Pipe {
            "ratio"
        } else {
            "file_ratio"
        };
        println!("BENCH {key} stream_ratio={ratio:.2} paired_ratio_median={paired:.2}");
        if let Some(sshd) = of(sink, "sshd") {
            let (vs_direct, _) = sshd.against(direct);
            let (jumpbox_vs, paired) = of(sink, "jumpbox").unwrap().against(sshd);
            println!(
                "BENCH {}_reference sshd_vs_direct={vs_direct:.2} jumpbox_vs_sshd={jumpbox_vs:.2} jumpbox_vs_sshd_paired={paired:.2}",
                sink.name()
            );
        }
    }
}

// ------------------------------------------------------------------ echo

async fn echo() {
    let (name, container) = (env("BENCH_INSTANCE_NAME"), env("BENCH_CONTAINER"));
    let samples = env_or("BENCH_SAMPLES", 300);
    let rounds = env_or("BENCH_ROUNDS", 4);

    // the jumpbox, entered directly, with a terminal (as `ssh -t host name` from a user's)
    let mut ssh = Cli::spawn(&format!("{} -tt {name}", ssh_words().join(" ")));
    // docker exec -it on a pty, as a user at a terminal on the node would type
    let mut cli = Cli::spawn(&format!("docker exec -it {container} sh"));
    // the Engine API exec that the server opens for the jumpbox, without the SSH hop
    let mut api = Api::open(&container).await;
    echo::compare("jumpbox", &mut ssh, &mut cli, &mut api, samples, rounds).await;

    // leave nothing running: Ctrl-C, then (once the TTY has flushed its input) exit
    ssh.quit().await;
    cli.quit().await;
    api.quit().await;
}

// ------------------------------------------------------------------ idle

/// VmRSS of the process in MB.
fn rss_mb(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}

/// Shells (`sh` processes started by an exec) in the container, from the host's view.
fn shells(container: &str) -> usize {
    let out = Command::new("docker")
        .args(["top", container, "-o", "pid,args"])
        .output()
        .expect("docker top");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().skip(1).eq(["sh"]))
        .count()
}

/// One idle session: an ssh client whose shell answered.
struct Idle {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    /// keeps the client's output drained (so its pipe never fills)
    _reader: tokio::task::JoinHandle<()>,
}

/// Opens a shell through the jumpbox and waits until it has run a command.
async fn open_idle(ssh: &[String], name: &str) -> Idle {
    let mut child = tokio::process::Command::new(&ssh[0])
        .args(&ssh[1..])
        .args(["-tt", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ssh");
    let mut stderr = child.stderr.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin.write_all(b"echo ready-$((6*7))\r").await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let mut tx = Some(tx);
        let (mut seen, mut buf) = (Vec::new(), vec![0u8; 4096]);
        while let Ok(n @ 1..) = stdout.read(&mut buf).await {
            if tx.is_some() {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(8).any(|w| w == b"ready-42") {
                    let _ = tx.take().unwrap().send(());
                }
            }
        }
    });
    let answered = tokio::time::timeout(Duration::from_secs(120), rx)
        .await
        .expect("a shell did not answer within 120 s");
    if answered.is_err() {
        let mut said = String::new();
        let _ = stderr.read_to_string(&mut said).await;
        panic!("a client ended before its shell answered; it said: {said}");
    }
    // drained, so a chatty client never blocks on it
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink).await;
    });
    Idle {
        child,
        stdin,
        _reader: reader,
    }
}

async fn idle() {
    let (name, container, pid) = (
        env("BENCH_INSTANCE_NAME"),
        env("BENCH_CONTAINER"),
        env("BENCH_SERVER_PID"),
    );
    let n = env_or("BENCH_SESSIONS", 100);
    let parallel = env_or("BENCH_OPEN_PARALLEL", 10);
    let ssh = Arc::new(ssh_words());
    let name = Arc::new(name);
    let shells_before = shells(&container);
    let rss_before = rss_mb(&pid);

    let start = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut opening = Vec::new();
    for _ in 0..n {
        let (ssh, name, gate) = (Arc::clone(&ssh), Arc::clone(&name), Arc::clone(&gate));
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            open_idle(&ssh, &name).await
        }));
    }
    let mut open = Vec::new();
    for o in opening {
        open.push(o.await.expect("open task"));
    }
    let open_s = start.elapsed().as_secs_f64();
    // let the server settle (tasks parked, buffers returned) before reading its memory
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_open = rss_mb(&pid);
    let shells_open = shells(&container);
    println!(
        "BENCH open sessions={n} open_s={open_s:.1} rss_before_mb={rss_before:.1} rss_open_mb={rss_open:.1} rss_growth_mb={:.1} per_session_kb={:.0} shells_before={shells_before} shells_open={shells_open}",
        rss_open - rss_before,
        (rss_open - rss_before) * 1024.0 / n as f64
    );

    // close: even ones type `exit` (the shell ends), odd ones drop the connection
    let start = Instant::now();
    let (mut typed, mut killed) = (0, 0);
    for (i, s) in open.iter_mut().enumerate() {
        if i % 2 == 0 {
            s.stdin.write_all(b"exit\r").await.unwrap();
            typed += 1;
        } else {
            s.child.start_kill().unwrap();
            killed += 1;
        }
    }
    let mut exited = 0;
    for s in &mut open {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(30), s.child.wait()).await {
            exited += 1;
        }
    }
    println!(
        "BENCH close typed_exit={typed} killed={killed} clients_exited={exited} close_s={:.1}",
        start.elapsed().as_secs_f64()
    );
}
