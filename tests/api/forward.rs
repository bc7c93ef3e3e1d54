//! `ssh -L` through the jumpbox (direct-tcpip, issue 18) with Debian's OpenSSH client,
//! the real Docker engine and `busybox httpd` inside the test image's container; a
//! node on "another machine" is a second dockerd answering on this machine's own
//! non-loopback address, with a local OpenSSH sshd standing in for the node's SSH.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{PASSWORD, PATIENCE, TestApp, eventually_blocking};
use crate::instances::{
    TEST_IMAGE, docker, fake_catalog, fake_ready, image, instance_id, settled, spec, submit,
    text_row, tls_node, unique,
};
use crate::jumpbox::mia_with_a_running_box;
use crate::ssh::{ssh_command, ssh_command_logging, ssh_run};

const PAGE: &str = "hello-from-the-box";
const REQUEST: &str = "GET / HTTP/1.0\r\nHost: box\r\n\r\n";

/// Serves `PAGE` on port 8080 in the container (`busybox httpd` in the foreground of a
/// detached exec), on the main engine or the one at `host` (`-H`).
fn serve_page(host: Option<&str>, container: &str) {
    let mut args: Vec<&str> = Vec::new();
    if let Some(h) = host {
        args.extend(["-H", h]);
    }
    let script =
        format!("mkdir -p /www && echo {PAGE} > /www/index.html && exec httpd -f -p 8080 -h /www");
    args.extend(["exec", "-d", container, "sh", "-c", &script]);
    let (ok, out) = docker(&args);
    assert!(ok, "httpd in the container: {out}");
}

/// A port nobody listens on right now (the ssh client binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET / on 127.0.0.1:`port`: the whole answer, or None when the connection fails or
/// closes without one.
fn get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(REQUEST.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    (!answer.is_empty()).then_some(answer)
}

/// Polls GET until it answers with the page (the ssh client binds its port once logged in).
fn page_through(port: u16) -> String {
    eventually_blocking(&format!("the page through local port {port}"), || {
        get(port).filter(|a| a.contains(PAGE))
    })
}

/// A background `ssh -N … ARGS` whose stderr goes to a file; killed on drop.
struct Tunnel {
    child: Child,
    stderr: PathBuf,
}

impl Tunnel {
    fn spawn(app: &TestApp, user: &str, args: &[&str]) -> Tunnel {
        Self::spawn_in(&app.data_dir, app.ssh_port, user, args)
    }

    fn spawn_in(dir: &Path, port: u16, user: &str, args: &[&str]) -> Tunnel {
        let stderr = dir.join(format!("ssh-{}.err", uuid::Uuid::new_v4().simple()));
        let mut all = vec!["-N"];
        all.extend_from_slice(args);
        let child = ssh_command_logging("INFO", dir, port, user, PASSWORD, &all)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("ssh client");
        Tunnel { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until the client's stderr says `needle`.
    fn says(&self, needle: &str) -> String {
        eventually_blocking(&format!("ssh says {needle:?}"), || {
            Some(self.stderr()).filter(|e| e.contains(needle))
        })
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tunnel session rows: (command, bytes in, bytes out, ended).
fn tunnel_rows(app: &TestApp) -> Vec<(String, i64, i64, bool)> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        command: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes_in: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes_out: i64,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ended: bool,
    }
    diesel::sql_query(
        "SELECT command, bytes_in, bytes_out, ended_at IS NOT NULL AS ended FROM sessions
         WHERE protocol = 'tunnel' ORDER BY id",
    )
    .load::<Row>(&mut app.db.conn())
    .unwrap()
    .into_iter()
    .map(|r| (r.command, r.bytes_in, r.bytes_out, r.ended))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_forward_reaches_a_port_inside_the_instance_and_is_recorded() {
    let (app, _id, name, container) = mia_with_a_running_box("fw").await;
    serve_page(None, &container.0);
    let port = free_port();
    let spec = format!("{port}:localhost:8080");
    let login = format!("mia@{name}");
    let t = Tunnel::spawn(
        &app,
        &login,
        &["-o", "ExitOnForwardFailure=yes", "-L", &spec],
    );
    let answer = tokio::task::spawn_blocking(move || page_through(port))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1."), "{answer}");

    // one row per forward: protocol tunnel, what the client asked for, bytes each way,
    // ended once httpd closed the connection
    let rows = eventually_blocking("the forward's session row is closed", || {
        let rows = tunnel_rows(&app);
        rows.iter()
            .any(|r| r.3 && r.1 > 0 && r.2 > 0)
            .then_some(rows)
    });
    let (command, bytes_in, bytes_out, _) = rows.last().unwrap().clone();
    assert_eq!(command, "localhost:8080");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sessions WHERE protocol = 'tunnel' AND end_reason <> 'client'"),
        0,
        "closed by its ends, not by an error"
    );
    assert_eq!(bytes_in, REQUEST.len() as i64, "the request went in");
    assert!(
        bytes_out > PAGE.len() as i64,
        "the page came out: {bytes_out}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE method = 'TUNNEL' AND action = 'connect' AND door = 'ssh'"),
        rows.len() as i64,
        "a connect event per forward, through the ssh door"
    );
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_names_the_instance_and_nothing_else_is_reached() {
    let (app, _id, name, container) = mia_with_a_running_box("fwd").await;
    serve_page(None, &container.0);
    // bob's instance in another tenant: its name is not found for mia
    let bob = app.user("bob", "customer_member", None).await;
    let cat = fake_catalog(
        &app,
        ("none", 0, 1, 1, 10, 0),
        ("none", 0, 64, 256, 1000, 1000),
    );
    fake_ready(&app, "bob-box", cat, bob, None);

    let [by_name, only_one, named_login] = [free_port(), free_port(), free_port()];
    let [host, address, bobs, other_name, closed] = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    // no instance in the login: the destination names it, or mia's only instance
    let t = Tunnel::spawn(
        &app,
        "mia",
        &[
            "-L",
            &format!("{by_name}:{name}:8080"),
            "-L",
            &format!("{only_one}:localhost:8080"),
            "-L",
            &format!("{bobs}:bob-box:8080"),
            "-L",
            &format!("{address}:172.17.0.1:8080"),
        ],
    );
    let refused = Tunnel::spawn(
        &app,
        &format!("mia@{name}"),
        &[
            "-L",
            &format!("{named_login}:{name}:8080"),
            "-L",
            &format!("{host}:example.com:80"),
            "-L",
            &format!("{other_name}:bob-box:8080"),
            "-L",
            &format!("{closed}:localhost:8081"),
        ],
    );
    tokio::task::spawn_blocking(move || {
        page_through(by_name);
        page_through(only_one);
        page_through(named_login);
    })
    .await
    .unwrap();

    // each refused forward: the local connection closes without an answer, and the
    // client prints why
    for (port, t, why) in [
        (
            bobs,
            &t,
            "administratively prohibited: there is no instance named bob-box, or you may not access it",
        ),
        (
            address,
            &t,
            "administratively prohibited: only the instance itself can be reached",
        ),
        (
            host,
            &refused,
            "administratively prohibited: only the instance itself can be reached",
        ),
        (
            other_name,
            &refused,
            "administratively prohibited: only the instance itself can be reached",
        ),
        (
            closed,
            &refused,
            &format!("connect failed: nothing answers on port 8081 in instance {name}") as &str,
        ),
    ] {
        assert_eq!(get(port), None, "{why}");
        t.says(why);
    }
    let rows = tunnel_rows(&app);
    assert_eq!(
        rows.len(),
        3,
        "only the three allowed forwards were connected: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_outside_the_setting_an_unnamed_instance_and_a_first_password_are_refused() {
    let app = TestApp::spawn_with(|s| s.jumpbox.forward_ports = "22, 6000-6010".into()).await;
    let mia = app.user("mia", "customer_member", None).await;
    let cat = fake_catalog(
        &app,
        ("none", 0, 1, 1, 10, 0),
        ("none", 0, 64, 256, 1000, 1000),
    );
    fake_ready(&app, "box", cat, mia, None);
    let port = free_port();
    let t = Tunnel::spawn(&app, "mia@box", &["-L", &format!("{port}:localhost:8080")]);
    tokio::task::spawn_blocking(move || {
        eventually_blocking("the client listens", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })
    })
    .await
    .unwrap();
    assert_eq!(get(port), None);
    t.says("administratively prohibited: port 8080 is not open for forwarding on this jumpbox");

    // two instances and none named: the client is told how to name one
    fake_ready(&app, "box-2", cat, mia, None);
    let port = free_port();
    let t = Tunnel::spawn(&app, "mia", &["-L", &format!("{port}:localhost:22")]);
    tokio::task::spawn_blocking(move || {
        eventually_blocking("the client listens", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })
    })
    .await
    .unwrap();
    assert_eq!(get(port), None);
    t.says("administratively prohibited: name the instance: ssh -N -L 8888:localhost:8888 user@instance@host");

    // an account that must still change its first password: refused as shells are
    app.sql(&format!(
        "UPDATE users SET must_change_password = true WHERE id = {mia}"
    ));
    let port = free_port();
    let t = Tunnel::spawn(&app, "mia@box", &["-L", &format!("{port}:localhost:22")]);
    tokio::task::spawn_blocking(move || {
        eventually_blocking("the client listens", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })
    })
    .await
    .unwrap();
    assert_eq!(get(port), None);
    t.says("administratively prohibited: your password must be changed first");
    assert!(tunnel_rows(&app).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_forward_is_closed_and_a_disabled_user_loses_theirs() {
    let app = TestApp::spawn_with(|s| s.jumpbox.idle_timeout_secs = 3).await;
    let mia = app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let (_id, cid) = crate::streams::running_instance(&app, &s, "idle").await;
    let _cleanup = crate::streams::Cleanup(cid.clone());
    // two listeners that hold their connection open and never write
    for port in [9000, 9001] {
        let script = format!("sleep 3600 | nc -l -p {port}");
        let (ok, out) = docker(&["exec", "-d", &cid, "sh", "-c", &script]);
        assert!(ok, "{out}");
    }
    let name = text_row(&app, "SELECT name AS t FROM instances");
    let [idle, busy] = [free_port(), free_port()];
    let t = Tunnel::spawn(
        &app,
        &format!("mia@{name}"),
        &[
            "-L",
            &format!("{idle}:localhost:9000"),
            "-L",
            &format!("{busy}:localhost:9001"),
        ],
    );
    // the busy forward keeps talking (nc swallows it), the idle one says nothing
    let writer = std::thread::spawn(move || {
        let mut c = eventually_blocking("a forward to nc", || {
            TcpStream::connect(("127.0.0.1", busy)).ok()
        });
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let deadline = Instant::now() + 3 * PATIENCE;
        let mut buf = [0u8; 16];
        while Instant::now() < deadline {
            if c.write_all(b"ping\n").is_err() {
                return true;
            }
            match c.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        false
    });
    let idle_for = tokio::task::spawn_blocking(move || {
        let mut quiet = eventually_blocking("a forward to nc", || {
            TcpStream::connect(("127.0.0.1", idle)).ok()
        });
        quiet.set_read_timeout(Some(PATIENCE)).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let n = quiet.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "closed without a byte");
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(
        idle_for >= Duration::from_secs(2),
        "closed after the idle timeout: {idle_for:?}"
    );
    eventually_blocking("the idle forward's row says idle", || {
        (app.count(
            "SELECT count(*) AS n FROM sessions WHERE command = 'localhost:9000' AND end_reason = 'idle'",
        ) == 1)
            .then_some(())
    });
    // a forward that keeps talking outlives the idle timeout (it opened with the idle
    // one), until the user is disabled
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM sessions WHERE protocol = 'tunnel' AND ended_at IS NULL"
        ),
        1,
        "past the idle timeout, the busy forward is still open"
    );
    app.sql(&format!(
        "UPDATE users SET disabled = true WHERE id = {mia}"
    ));
    let closed = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    assert!(closed, "the forward of a disabled user is closed");
    eventually_blocking("the busy forward's row says revoked", || {
        (app.count("SELECT count(*) AS n FROM sessions WHERE protocol = 'tunnel' AND end_reason = 'revoked' AND bytes_in > 0") == 1)
            .then_some(())
    });
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_forwards_and_a_shell_share_one_multiplexed_connection() {
    let (app, _id, name, container) = mia_with_a_running_box("mux").await;
    serve_page(None, &container.0);
    let control = app.data_dir.join("mux.sock");
    let control_opt = format!("ControlPath={}", control.display());
    let login = format!("mia@{name}");
    let [a, b, c] = [free_port(), free_port(), free_port()];
    // the master: two -L on one command
    let master = Tunnel::spawn(
        &app,
        &login,
        &[
            "-o",
            "ControlMaster=yes",
            "-o",
            &control_opt,
            "-L",
            &format!("{a}:localhost:8080"),
            "-L",
            &format!("{b}:{name}:8080"),
        ],
    );
    tokio::task::spawn_blocking(move || {
        page_through(a);
        page_through(b);
    })
    .await
    .unwrap();
    // a third forward and a command through the same connection (no new login)
    let dir = app.data_dir.clone();
    let sp = app.ssh_port;
    let spec = format!("{c}:localhost:8080");
    let (code, _, err) = ssh_run(
        &dir,
        sp,
        &login,
        "wrong password: no login",
        &["-o", &control_opt, "-O", "forward", "-L", &spec],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = ssh_run(
        &dir,
        sp,
        &login,
        "wrong password: no login",
        &["-o", &control_opt, "echo", "shell-$((6*7))"],
    );
    assert_eq!((code, out.trim()), (0, "shell-42"), "{err}");
    tokio::task::spawn_blocking(move || {
        // the three forwards at once, while the connection also ran the command
        let threads: Vec<_> = [a, b, c]
            .into_iter()
            .map(|p| std::thread::spawn(move || page_through(p)))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    })
    .await
    .unwrap();
    assert!(app.count("SELECT count(*) AS n FROM sessions WHERE protocol = 'tunnel'") >= 5);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM sessions WHERE protocol = 'ssh' AND command LIKE 'echo%'"
        ),
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_logs WHERE action = 'login_success' AND method = 'SSH'"
        ),
        1,
        "one login: everything rode on the master's connection"
    );
    drop(master);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_agent_and_x11_forwarding_are_refused_with_a_message() {
    let (app, _id, name, _container) = mia_with_a_running_box("nofw").await;
    let login = format!("mia@{name}");
    let dir = app.data_dir.clone();
    let port = app.ssh_port;
    // -R: the global request fails (OpenSSH words it; the protocol has no room for ours)
    let (code, _, err) = ssh_run(
        &dir,
        port,
        &login,
        PASSWORD,
        &[
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "9999:localhost:80",
            "true",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("remote port forwarding failed for listen port 9999"),
        "{err}"
    );
    // -R with a Unix socket
    let sock = format!("{}:localhost:80", dir.join("r.sock").display());
    let (code, _, err) = ssh_run(
        &dir,
        port,
        &login,
        PASSWORD,
        &["-o", "ExitOnForwardFailure=yes", "-R", &sock, "true"],
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("remote port forwarding failed"), "{err}");
    // -L to a Unix socket
    let local = free_port();
    let t = Tunnel::spawn(
        &app,
        &login,
        &["-L", &format!("{local}:/var/run/docker.sock")],
    );
    tokio::task::spawn_blocking(move || {
        eventually_blocking("the client listens", || {
            TcpStream::connect(("127.0.0.1", local)).ok()
        })
    })
    .await
    .unwrap();
    assert_eq!(get(local), None);
    t.says(
        "administratively prohibited: forwarding to Unix sockets is not offered by this jumpbox",
    );

    // -A needs an agent to forward
    let agent_sock = dir.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&agent_sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    eventually_blocking("the agent listens", || agent_sock.exists().then_some(()));
    let out = ssh_command(&dir, port, &login, PASSWORD, &["-A", "echo", "ran"])
        .env("SSH_AUTH_SOCK", &agent_sock)
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ran",
        "the command still runs"
    );
    assert!(
        err.contains("Agent forwarding is not offered by this jumpbox."),
        "{err}"
    );

    // -X: OpenSSH asks (with made-up cookies when xauth is missing)
    let out = ssh_command_logging("INFO", &dir, port, &login, PASSWORD, &["-X", "echo", "ran"])
        .env("DISPLAY", ":0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ran");
    assert!(
        err.contains("X11 forwarding is not offered by this jumpbox."),
        "{err}"
    );
    assert!(err.contains("X11 forwarding request failed"), "{err}");
}

/// This machine's address towards the default route (a stand-in for a node's own
/// address: anything but loopback is "another machine" to the panel).
fn own_address() -> String {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("docker") && !l.contains("br-") && !l.contains("lxdbr"))
        .find_map(|l| {
            let after = l.split(" inet ").nth(1)?;
            Some(after.split('/').next()?.to_string())
        })
        .expect("a non-loopback IPv4 address on this machine")
}

/// A throw-away OpenSSH sshd on 127.0.0.1 standing in for a node's SSH: its own host key
/// and a throw-away user with a password. Stopped (and the user removed) on drop.
struct NodeSshd {
    dir: PathBuf,
    port: u16,
    user: String,
    child: Option<Child>,
}

impl NodeSshd {
    fn start(password: &str) -> NodeSshd {
        let dir = std::env::temp_dir().join(format!("slsshd-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let user = format!("slt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let ok = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", &user])
            .status()
            .unwrap()
            .success();
        assert!(ok, "useradd {user}");
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(chpasswd.stdin.take().unwrap(), "{user}:{password}").unwrap();
        assert!(chpasswd.wait().unwrap().success());
        let mut d = NodeSshd {
            dir,
            port: 0,
            user,
            child: None,
        };
        d.restart_with_new_key();
        d
    }

    /// (Re)starts it on a new port with a newly made host key: a reinstalled node.
    fn restart_with_new_key(&mut self) {
        self.stop();
        let key = self.dir.join("host_key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(self.dir.join("host_key.pub"));
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        std::fs::create_dir_all("/run/sshd").unwrap();
        for _ in 0..3 {
            self.port = free_port();
            let config = self.dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1:{}\nHostKey {}\nPidFile none\nPasswordAuthentication yes\n\
                     KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin no\nAllowUsers {}\n\
                     AllowTcpForwarding yes\nStrictModes no\n",
                    self.port,
                    key.display(),
                    self.user
                ),
            )
            .unwrap();
            let log = std::fs::File::create(self.dir.join("sshd.log")).unwrap();
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stderr(log)
                .spawn()
                .expect("sshd (openssh-server)");
            self.child = Some(child);
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                    break; // the port was taken meanwhile: another one
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.stop();
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NodeSshd {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("userdel").arg(&self.user).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_node_is_reached_through_its_ssh_with_its_host_key_pinned() {
    let ip = own_address();
    let engine = {
        let ip = ip.clone();
        tokio::task::spawn_blocking(move || crate::tls_dockerd::TlsDockerd::start_also_on(&ip))
            .await
            .unwrap()
    };
    let node_password = "Node!pass-4711";
    let mut sshd = tokio::task::spawn_blocking(move || NodeSshd::start(node_password))
        .await
        .unwrap();
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let img = image(&app, &unique("busybox"), TEST_IMAGE, true);
    let sp = spec(&app, &unique("small"), ("none", 0, 1, 1, 0, 1), true);
    let node = tls_node(&app, "far", &engine, &engine.ca_pem);
    // to the panel, another machine: its engine answers on a non-loopback address
    app.sql(&format!(
        "UPDATE nodes SET docker_endpoint = '{}', public_ip = '', private_ip = '' WHERE id = {node}",
        engine.remote_url()
    ));
    let name = unique("far");
    assert_eq!(submit(&s, img, sp, node, &name).await.status(), 204);
    let id = instance_id(&app, &name);
    let (phase, message) = settled(&app, id).await;
    assert_eq!(phase, "ready", "{message}");
    let cid = text_row(
        &app,
        &format!("SELECT container_id AS t FROM instances WHERE id = {id}"),
    );
    serve_page(Some(&engine.unix_socket()), &cid);
    let login = format!("mia@{name}");

    // no SSH address, user or password on the node form: refused, saying what to fill in
    let port = free_port();
    let t = Tunnel::spawn(&app, &login, &["-L", &format!("{port}:localhost:8080")]);
    tokio::task::spawn_blocking(move || {
        eventually_blocking("the client listens", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })
    })
    .await
    .unwrap();
    assert_eq!(get(port), None);
    t.says(&format!(
        "administratively prohibited: node far of instance {name} is another machine and the panel has no SSH access to it: an administrator must fill in the node's SSH address, user and password"
    ));
    drop(t);

    // with them (as the node form stores them): through the node's sshd
    let sealed: String = app
        .state
        .master
        .encrypt(node_password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    app.sql(&format!(
        "UPDATE nodes SET private_ip = '127.0.0.1', ssh_port = {}, username = '{}',
                          password_enc = decode('{sealed}', 'hex') WHERE id = {node}",
        sshd.port, sshd.user
    ));
    let port = free_port();
    let t = Tunnel::spawn(&app, &login, &["-L", &format!("{port}:localhost:8080")]);
    tokio::task::spawn_blocking(move || page_through(port))
        .await
        .unwrap();
    let learnt = text_row(
        &app,
        &format!("SELECT ssh_host_key AS t FROM nodes WHERE id = {node}"),
    );
    let on_disk = std::fs::read_to_string(sshd.dir.join("host_key.pub")).unwrap();
    assert_eq!(
        learnt.split_whitespace().take(2).collect::<Vec<_>>(),
        on_disk.split_whitespace().take(2).collect::<Vec<_>>(),
        "the node's host key is learnt on first use"
    );
    // curl too
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(PAGE),
        "{out:?}"
    );
    drop(t);
    eventually_blocking("both forwards closed", || {
        let rows = tunnel_rows(&app);
        (rows.len() == 2 && rows.iter().all(|r| r.3 && r.2 > 0)).then_some(())
    });

    // the node "reinstalled": another host key is refused, nothing is connected
    let sshd = tokio::task::spawn_blocking(move || {
        sshd.restart_with_new_key();
        sshd
    })
    .await
    .unwrap();
    app.sql(&format!(
        "UPDATE nodes SET ssh_port = {} WHERE id = {node}",
        sshd.port
    ));
    let port = free_port();
    let t = Tunnel::spawn(&app, &login, &["-L", &format!("{port}:localhost:8080")]);
    tokio::task::spawn_blocking(move || {
        eventually_blocking("the client listens", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })
    })
    .await
    .unwrap();
    assert_eq!(get(port), None);
    t.says("administratively prohibited: the SSH host key of node far differs from the one the panel learnt");
    assert_eq!(tunnel_rows(&app).len(), 2);
    assert_eq!(
        text_row(
            &app,
            &format!("SELECT ssh_host_key AS t FROM nodes WHERE id = {node}")
        ),
        learnt,
        "the learnt key stays"
    );
    drop(t);
    drop(engine);
}
