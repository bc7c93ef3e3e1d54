//! Debian's `docker-registry` (the distribution registry, scripts/test.sh installs it) as
//! the test's own process on a loopback port, with its config and storage in a temporary
//! directory; no systemd. The engine trusts registries on 127.0.0.0/8 without TLS, so it
//! pulls from it (or from a gate before it) for real: layers, progress and all.
//!
//! `start` is idempotent: a registry already answering for this test process is reused,
//! and an image already pushed under a tag is not pushed again.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::instances::{TEST_IMAGE, docker};

/// The repository the test image is pushed to.
pub const REPO: &str = "suanli-test/busybox";

pub struct Registry {
    child: Mutex<Child>,
    pub addr: SocketAddr,
    dir: PathBuf,
}

/// The registry of this test process while some test holds it.
static RUNNING: Mutex<Weak<Registry>> = Mutex::new(Weak::new());

impl Registry {
    /// The running registry, or a new one on a free loopback port (it stops when its last
    /// holder drops it, or with the test process).
    pub async fn start() -> Arc<Registry> {
        if let Some(r) = RUNNING.lock().unwrap().upgrade() {
            return r;
        }
        let dir =
            std::env::temp_dir().join(format!("suanli-registry-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // a port nobody listens on now (bound and let go: the registry binds it at once)
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = spawn_for_process(cmd).expect(
            "docker-registry (Debian package docker-registry; scripts/test.sh installs it)",
        );
        let url = format!("http://{addr}/v2/");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = reqwest::get(&url).await
                && res.status() == 200
            {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
                panic!("docker-registry exited ({status}): {log}");
            }
            assert!(Instant::now() < deadline, "the registry did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = Arc::new(Registry {
            child: Mutex::new(child),
            addr,
            dir,
        });
        *RUNNING.lock().unwrap() = Arc::downgrade(&r);
        r
    }

    /// Pushes the test image with one more layer of `mib` MiB of random bytes under
    /// `REPO:tag` (unless the registry has that tag already). The layer is new to the
    /// engine, so a pull downloads it; the local copy goes again.
    pub async fn push_unique(&self, tag: &str, mib: usize) {
        let manifest = format!("http://{}/v2/{REPO}/manifests/{tag}", self.addr);
        let have = reqwest::Client::new()
            .head(&manifest)
            .header(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if have {
            return;
        }
        let local = format!("{}/{REPO}:{tag}", self.addr);
        let scratch = format!("suanli-push-{}", uuid::Uuid::new_v4().simple());
        let fill = format!("head -c {} /dev/urandom > /pad", mib << 20);
        let (ok, out) = docker(&[
            "run",
            "--name",
            &scratch,
            "--network",
            "none",
            TEST_IMAGE,
            "sh",
            "-c",
            &fill,
        ]);
        assert!(ok, "{out}");
        let (ok, out) = docker(&["commit", &scratch, &local]);
        docker(&["rm", "-f", &scratch]);
        assert!(ok, "{out}");
        let (ok, out) = docker(&["push", &local]);
        docker(&["rmi", &local]);
        assert!(ok, "push: {out}");
    }
}

/// Spawns `cmd` from a thread that lives as long as the test process: its
/// PR_SET_PDEATHSIG fires when the process ends (even by SIGKILL), not when the test
/// thread that asked for it does while another test still uses it.
fn spawn_for_process(mut cmd: Command) -> std::io::Result<Child> {
    type Order = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<std::sync::mpsc::Sender<Order>>> = OnceLock::new();
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let orders = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Order>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (reply, answer) = std::sync::mpsc::channel();
    orders.lock().unwrap().send((cmd, reply)).unwrap();
    answer.recv().unwrap()
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
