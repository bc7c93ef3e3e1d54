//! A second, throw-away Docker engine that answers on tcp://127.0.0.1:PORT with mutual TLS
//! (certificates made by the `openssl` CLI in a fresh temp dir), and the tests of
//! `suanli::docker::connect` against it.
//!
//! Needs root, Debian's `dockerd` and a `docker` CLI, and the main engine on
//! /var/run/docker.sock holding `suanli-test/busybox:1` (scripts/lib.sh `ensure_docker`,
//! `ensure_test_image`): the image is copied into the new engine with save | load.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use suanli::docker::{DockerError, Endpoint, TlsMaterial, connect};

/// The image every test engine gets (loaded from the main engine).
pub const TEST_IMAGE: &str = "suanli-test/busybox:1";

/// How long the daemon may take to answer on its unix socket.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it may take to stop after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `dockerd --tlsverify` with its own data root, exec root, pid file and unix
/// socket under a temp dir; stopped and removed on drop.
pub struct TlsDockerd {
    pub port: u16,
    pub ca_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// a CA that signed nothing this engine knows
    pub wrong_ca_pem: String,
    child: Option<Child>,
    dir: PathBuf,
    /// another address of this machine it also answers on (see `start_also_on`)
    also_on: Option<String>,
}

impl TlsDockerd {
    /// The engine's own bridge, named like its directory (at most 15 characters).
    fn bridge(&self) -> String {
        self.dir.file_name().unwrap().to_string_lossy().into_owned()
    }

    fn make_bridge(&self) {
        let name = self.bridge();
        let net = 1 + (std::process::id() + self.port as u32) % 250;
        for args in [
            vec!["link", "add", "name", &name, "type", "bridge"],
            vec!["addr", "add", &format!("10.213.{net}.1/24"), "dev", &name],
        ] {
            let ok = Command::new("ip")
                .args(&args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?} failed");
        }
    }

    /// Makes the certificates, starts the engine (bounded wait) and loads the test image.
    /// Panics with the daemon's log tail if it does not come up.
    pub fn start() -> TlsDockerd {
        Self::start_with(None)
    }

    /// `start`, also answering with TLS on `ip` (a non-loopback address of this
    /// machine): to the panel, a node on another machine (`remote_url`).
    pub fn start_also_on(ip: &str) -> TlsDockerd {
        Self::start_with(Some(ip.to_string()))
    }

    fn start_with(also_on: Option<String>) -> TlsDockerd {
        // short: the unix socket path must stay under ~108 bytes
        let dir = PathBuf::from(format!(
            "/tmp/sltd-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = TlsDockerd {
            port: 0,
            ca_pem: String::new(),
            client_cert_pem: String::new(),
            client_key_pem: String::new(),
            wrong_ca_pem: String::new(),
            child: None,
            dir,
            also_on,
        };
        // from here on a panic drops `d`, which cleans up
        d.make_bridge();
        d.make_certificates();
        // a free port is found by binding :0; another process may take it before dockerd
        // binds it, so a daemon that exits at start is retried on a new port
        for attempt in 1..=3 {
            d.port = free_port();
            d.spawn_daemon();
            match d.wait_ready() {
                Ok(()) => break,
                Err(e) if attempt < 3 && d.child_exited() => {
                    eprintln!(
                        "tls dockerd: attempt {attempt} failed ({e}), retrying\n{}",
                        d.log_tail()
                    );
                    d.stop();
                }
                Err(e) => panic!("tls dockerd did not start: {e}\n{}", d.log_tail()),
            }
        }
        d.load_test_image();
        d
    }

    /// `unix:///tmp/sltd-…/docker.sock`, the same engine without TLS (for inspecting).
    pub fn unix_socket(&self) -> String {
        format!("unix://{}", self.sock_path().display())
    }

    /// `tcp://127.0.0.1:PORT`
    pub fn tcp_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// `tcp://IP:PORT` on the address given to `start_also_on`.
    pub fn remote_url(&self) -> String {
        let ip = self.also_on.as_deref().expect("started with start_also_on");
        format!("tcp://{ip}:{}", self.port)
    }

    /// The right CA and client certificate/key for this engine.
    pub fn material(&self) -> TlsMaterial {
        TlsMaterial {
            ca_pem: self.ca_pem.clone(),
            cert_pem: self.client_cert_pem.clone(),
            key_pem: self.client_key_pem.clone(),
        }
    }

    /// The TLS endpoint with the right material.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.tcp_url(),
            tls: Some(self.material()),
        }
    }

    fn sock_path(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    fn make_certificates(&mut self) {
        let dir = &self.dir;
        let ec_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "wrongca"] {
            let (key, pem, subj) = (
                format!("{ca}-key.pem"),
                format!("{ca}.pem"),
                format!("/CN=suanli test {ca}"),
            );
            let mut args = vec!["req", "-x509", "-new"];
            args.extend(ec_key);
            args.extend([
                "-keyout",
                &key,
                "-out",
                &pem,
                "-days",
                "2",
                "-subj",
                &subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(dir, &args);
        }
        let also = self
            .also_on
            .as_ref()
            .map_or(String::new(), |ip| format!(",IP:{ip}"));
        std::fs::write(
            dir.join("server.ext"),
            format!(
                "subjectAltName=IP:127.0.0.1,DNS:localhost{also}\nextendedKeyUsage=serverAuth\n\
                 basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("client.ext"),
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\n",
        )
        .unwrap();
        for (name, cn) in [("server", "127.0.0.1"), ("client", "suanli test client")] {
            let mut args = vec!["req", "-new"];
            args.extend(ec_key);
            let (key, csr, pem, ext) = (
                format!("{name}-key.pem"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            );
            let subj = format!("/CN={cn}");
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(dir, &args);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca-key.pem",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        self.ca_pem = read("ca.pem");
        self.client_cert_pem = read("client.pem");
        self.client_key_pem = read("client-key.pem");
        self.wrong_ca_pem = read("wrongca.pem");
    }

    fn spawn_daemon(&mut self) {
        let dir = &self.dir;
        // an empty config: nothing from /etc/docker/daemon.json
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let p = |f: &str| dir.join(f).display().to_string();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--config-file", &p("daemon.json")])
            .args([
                "--data-root",
                &p("data"),
                "--exec-root",
                &p("exec"),
                "--pidfile",
                &p("docker.pid"),
            ])
            .args(["-H", &self.unix_socket(), "-H", &self.tcp_url()])
            .args(
                self.also_on
                    .as_ref()
                    .map(|_| ["-H".to_string(), self.remote_url()])
                    .into_iter()
                    .flatten(),
            )
            .args(["--tlsverify", "--tlscacert", &p("ca.pem")])
            .args([
                "--tlscert",
                &p("server.pem"),
                "--tlskey",
                &p("server-key.pem"),
            ])
            // stay off the main engine's network set-up: our own bridge (with
            // --bridge=none dockerd deletes docker0, breaking the main engine), no
            // iptables rules
            .args([
                "--bridge",
                &self.bridge(),
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .args([
                "--ip-forward=false",
                "--userland-proxy=false",
                "--shutdown-timeout=2",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // its own process group: a Ctrl-C on the test run does not take it down half-way
            // (but a killed test binary leaves it running: see /tmp/sltd-*/docker.pid)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run dockerd: {e}"));
        self.child = Some(child);
    }

    /// Polls `GET /_ping` on the unix socket, then checks the TLS port accepts.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.child_exited() {
                return Err("dockerd exited".into());
            }
            if ping(&self.sock_path())
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no answer within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn child_exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    fn load_test_image(&self) {
        let mut save = Command::new("docker")
            .args(["-H", "unix:///var/run/docker.sock", "save", TEST_IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .args(["-H", &self.unix_socket(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        let saved = save.wait().unwrap();
        assert!(
            saved.success() && load.status.success(),
            "docker save {TEST_IMAGE} | docker load failed (is the main engine up with the image? \
             scripts/lib.sh ensure_docker, ensure_test_image): {}",
            String::from_utf8_lossy(&load.stderr)
        );
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, bounded wait, SIGKILL (and its containerd) if needed, reap.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            signal("TERM", child.id());
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("tls dockerd {} ignored SIGTERM, killing it", child.id());
                // the containerd it started would outlive it
                let pidfile = self.dir.join("exec/containerd/containerd.pid");
                if let Ok(pid) = std::fs::read_to_string(pidfile)
                    && let Ok(pid) = pid.trim().parse()
                {
                    signal("KILL", pid);
                }
                let _ = child.kill();
            }
        }
        let _ = child.wait();
    }

    /// Unmounts whatever the daemon left mounted under the temp dir, deepest first.
    fn unmount_leftovers(&self) {
        let prefix = format!("{}/", self.dir.display());
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        points.sort_by_key(|m| std::cmp::Reverse(m.len()));
        points.dedup();
        for m in points {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}

impl Drop for TlsDockerd {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge()])
            .status();
        self.unmount_leftovers();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("tls dockerd: cannot remove {}: {e}", self.dir.display());
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// true when the engine answers `GET /_ping` with OK on its unix socket
fn ping(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.") && resp.contains(" 200 ") && resp.ends_with("OK")
}

#[tokio::test]
async fn tls_node_connects_with_in_memory_material() {
    use bollard::models::ContainerCreateBody;
    use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

    let started = Instant::now();
    let engine = TlsDockerd::start();
    eprintln!("TlsDockerd::start took {:?}", started.elapsed());

    let docker = connect(&engine.endpoint()).await.unwrap();
    let version = docker.version().await.unwrap();
    assert!(version.api_version.is_some(), "{version:?}");
    assert!(
        version
            .version
            .as_deref()
            .unwrap_or_default()
            .starts_with("20.10"),
        "{version:?}"
    );

    // a container through the TLS connection
    let name = format!(
        "suanli-tls-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(TEST_IMAGE.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker.start_container(&created.id, None).await.unwrap();

    // seen running by the same engine on its plain unix socket
    let local = connect(&Endpoint {
        url: engine.unix_socket(),
        tls: None,
    })
    .await
    .unwrap();
    let inspect = local.inspect_container(&name, None).await.unwrap();
    assert_eq!(inspect.id.as_deref(), Some(created.id.as_str()));
    assert_eq!(inspect.state.and_then(|s| s.running), Some(true));

    let o = RemoveContainerOptionsBuilder::default().force(true).build();
    docker.remove_container(&created.id, Some(o)).await.unwrap();
    let gone = local.inspect_container(&name, None).await;
    assert!(
        matches!(
            gone,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        ),
        "{gone:?}"
    );
}

#[tokio::test]
async fn wrong_ca_is_refused_clearly() {
    let engine = TlsDockerd::start();

    // the engine's certificate is not signed by the CA we trust
    let mut material = engine.material();
    material.ca_pem = engine.wrong_ca_pem.clone();
    let ep = Endpoint {
        url: engine.tcp_url(),
        tls: Some(material),
    };
    match connect(&ep).await {
        Err(DockerError::Unreachable(msg)) => {
            eprintln!("wrong CA: {msg}");
            assert!(msg.contains("UnknownIssuer"), "{msg}");
            assert!(msg.contains(&engine.tcp_url()), "{msg}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }

    // a key that is not PEM at all: refused before any connection
    let mut material = engine.material();
    material.key_pem =
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".into();
    let garbage = Endpoint {
        url: engine.tcp_url(),
        tls: Some(material),
    };
    match connect(&garbage).await {
        Err(DockerError::Config(msg)) => {
            eprintln!("undecodable key: {msg}");
            assert!(msg.contains("private key"), "{msg}")
        }
        other => panic!("expected Config, got {other:?}"),
    }
    let mut material = engine.material();
    material.key_pem = "garbage".into();
    match connect(&Endpoint {
        url: engine.tcp_url(),
        tls: Some(material),
    })
    .await
    {
        Err(DockerError::Config(msg)) => {
            eprintln!("not PEM: {msg}");
            assert!(msg.contains("client key"), "{msg}")
        }
        other => panic!("expected Config, got {other:?}"),
    }

    // the right material still works on the same engine
    connect(&engine.endpoint())
        .await
        .unwrap()
        .ping()
        .await
        .unwrap();
}
