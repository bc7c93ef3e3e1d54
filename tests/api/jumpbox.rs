//! The SSH jumpbox with Debian's OpenSSH client (tests/api/ssh.rs drives it) against the
//! real Docker engine of this machine and the busybox test image (no bash: sh).

use std::io::Write;
use std::process::Stdio;

use crate::helpers::{PASSWORD, TestApp, eventually_blocking, test_settings};
use crate::instances::{fake_catalog, fake_ready, text_row};
use crate::ssh::{Pty, ssh_command, ssh_command_logging, ssh_run};
use crate::streams::{Cleanup, running_instance};

const PROMPT: &str = "输入序号（或实例名称）连接，q 退出：";
const SIZE: (u16, u16) = (100, 30);

/// The menu lines the user is shown after logging in (between the header and the
/// prompt); quits with `q` and checks the client exits 0.
fn menu_of(app: &TestApp, user: &str) -> Vec<String> {
    let mut p = Pty::spawn(&app.data_dir, app.ssh_port, user, PASSWORD, &[], SIZE);
    let screen = p.expect(PROMPT);
    p.send("q\r");
    let (code, rest) = p.wait_exit();
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("再见"), "{rest}");
    let lines: Vec<&str> = screen.split("\r\n").collect();
    let header = lines
        .iter()
        .position(|l| l.contains("（序号 名称-容器ID-算力节点"))
        .unwrap_or_else(|| panic!("no header in {screen:?}"));
    lines[header + 1..]
        .iter()
        .filter(|l| !l.is_empty() && !l.contains(PROMPT))
        .map(|l| l.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_lists_exactly_what_each_role_sees() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let mia = app.user("mia", "customer_member", None).await;
    let olga = app.user("olga", "customer_owner", Some(acme)).await;
    let cai = app.user("cai", "customer_member", Some(acme)).await;
    app.admin().await;
    let cat = fake_catalog(
        &app,
        ("none", 0, 1, 1, 10, 0),
        ("none", 0, 64, 256, 1000, 1000),
    );
    fake_ready(&app, "mia-box", cat, mia, None);
    fake_ready(&app, "cai-box", cat, cai, Some(acme));
    fake_ready(&app, "olga-box", cat, olga, Some(acme));
    app.sql("UPDATE instances SET status = 'exited' WHERE name = 'olga-box'");

    // fake_ready's container id is "not-a-real-container": its first 12 characters
    assert_eq!(
        menu_of(&app, "mia"),
        ["1 mia-box-not-a-real-c-fake  运行中"]
    );
    assert_eq!(
        menu_of(&app, "cai"),
        ["1 cai-box-not-a-real-c-fake  运行中"]
    );
    assert_eq!(
        menu_of(&app, "olga"),
        [
            "1 cai-box-not-a-real-c-fake  运行中",
            "2 olga-box-not-a-real-c-fake  已停止"
        ]
    );
    assert_eq!(
        menu_of(&app, "admin"),
        [
            "1 mia-box-not-a-real-c-fake  运行中  mia",
            "2 cai-box-not-a-real-c-fake  运行中  cai",
            "3 olga-box-not-a-real-c-fake  已停止  olga"
        ]
    );
}

/// An app where member mia has a running busybox instance: (app, id, name, cleanup).
pub async fn mia_with_a_running_box(prefix: &str) -> (TestApp, i64, String, Cleanup) {
    mia_with_a_running_box_in(TestApp::spawn().await, prefix).await
}

/// `mia_with_a_running_box` in an app of the caller's (e.g. with other settings).
pub async fn mia_with_a_running_box_in(
    app: TestApp,
    prefix: &str,
) -> (TestApp, i64, String, Cleanup) {
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let (id, cid) = running_instance(&app, &s, prefix).await;
    let name = text_row(
        &app,
        &format!("SELECT name AS t FROM instances WHERE id = {id}"),
    );
    (app, id, name, Cleanup(cid))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_opens_a_shell_with_the_clients_size_and_exit_returns_to_the_list() {
    let (app, id, name, container) = mia_with_a_running_box("jb").await;

    let mut p = Pty::spawn(&app.data_dir, app.ssh_port, "mia", PASSWORD, &[], SIZE);
    let menu = p.expect(PROMPT);
    assert!(
        menu.contains(&format!("1 {name}-{}-", &container.0[..12])),
        "{menu}"
    );
    // bad input: a clear line, then the list again
    p.send("7\r");
    p.expect("序号 7 不在列表中");
    p.expect(PROMPT);
    p.send("hello world\r");
    p.expect("无效输入「hello world」");
    p.expect(PROMPT);

    p.send("1\r");
    p.expect(&format!("已连接实例 {name}"));
    // the window size reaches the container, and so does a later resize
    p.send("stty size\r");
    p.expect("\r\n30 100\r\n");
    p.resize(120, 40);
    // the new size travels (SIGWINCH, ssh, the server, the engine) while keys may
    // overtake it: ask until the container tells the new size
    eventually_blocking("the resize reaches the container", || {
        p.send("stty size\r");
        p.expect_within("\r\n40 120\r\n", std::time::Duration::from_millis(500))
    });
    // Ctrl-C reaches the foreground program in the container: sent once `sleep` is
    // about to run (the echoed command line reads st""arted, its output started), and
    // again until the shell answers (on a loaded machine the first may come before
    // `sleep` runs; a later one flushes what waited in the line); `sleep 60` outlasts
    // the patience, so an answer means a Ctrl-C stopped it
    p.send("echo st\"\"arted; sleep 60\r");
    p.expect("\r\nstarted\r\n");
    eventually_blocking("Ctrl-C stops sleep", || {
        p.send("\x03");
        p.send("echo in$((6*7))t\r");
        p.expect_within("\r\nin42t\r\n", std::time::Duration::from_millis(500))
    });
    p.send("echo $((6*7)); exit\r");
    p.expect("\r\n42\r\n");
    p.expect(&format!("已离开实例 {name}，退出码 0"));
    let again = p.expect(PROMPT);
    assert!(
        again.contains(&format!("1 {name}-")),
        "the list again: {again}"
    );
    p.send("q\r");
    let (code, _) = p.wait_exit();
    assert_eq!(code, 0);

    let row = text_row(
        &app,
        &format!(
            "SELECT concat_ws('|', username, source_ip, protocol, instance_name, end_reason, exit_code,
                    bytes_in > 0, bytes_out > 0, ended_at IS NOT NULL) AS t
             FROM sessions WHERE instance_id = {id}"
        ),
    );
    assert_eq!(row, format!("mia|127.0.0.1|ssh|{name}|exit|0|t|t|t"));
    for action in ["login_success", "connect", "disconnect"] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM audit_logs WHERE method = 'SSH' AND username = 'mia' AND action = '{action}'"
            )),
            1,
            "{action}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_entry_and_one_shot_commands_return_the_exit_status() {
    let (app, id, name, _cleanup) = mia_with_a_running_box("direct").await;
    let (dir, port) = (&app.data_dir, app.ssh_port);

    // one command, no terminal: stdout and stderr apart, the exit status passed on
    let (code, out, err) = ssh_run(
        dir,
        port,
        "mia",
        PASSWORD,
        &[&name, "--", "echo out; echo err >&2; exit 3"],
    );
    assert_eq!((code, out.as_str()), (3, "out\n"), "stderr: {err}");
    assert!(err.contains("err"), "{err}");
    // input reaches the command, and its end (EOF) too
    let mut child = ssh_command(dir, port, "mia", PASSWORD, &[&name, "--", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\ndone\n");
    assert_eq!(out.status.code(), Some(0));

    // straight into a shell on a terminal; its exit status is ssh's
    let mut p = Pty::spawn(dir, port, "mia", PASSWORD, &["-tt", &name], SIZE);
    p.send("echo $((40+2))\r");
    p.expect("\r\n42\r\n");
    p.send("exit 7\r");
    let (code, rest) = p.wait_exit();
    assert_eq!(code, 7, "{rest}");
    assert!(
        !rest.contains(PROMPT),
        "direct entry never shows the menu: {rest}"
    );

    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE instance_id = {id} AND protocol = 'ssh' AND end_reason = 'exit'"
        )),
        3
    );
    assert_eq!(
        text_row(
            &app,
            &format!(
                "SELECT string_agg(exit_code::text, ',' ORDER BY id) AS t FROM sessions WHERE instance_id = {id}"
            )
        ),
        "3,0,7"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_reaches_another_members_instance_and_stopped_ones_say_so() {
    let app = TestApp::spawn().await;
    let mia = app.user("mia", "customer_member", None).await;
    let max = app.user("max", "customer_member", None).await;
    let cat = fake_catalog(
        &app,
        ("none", 0, 1, 1, 10, 0),
        ("none", 0, 64, 256, 1000, 1000),
    );
    fake_ready(&app, "mia-box", cat, mia, None);
    fake_ready(&app, "max-box", cat, max, None);
    let (dir, port) = (&app.data_dir, app.ssh_port);
    // `ssh max@… <instance> -- id`, refused: what it said on stderr
    let max_runs_id_in =
        |name: &str| refused(ssh_run(dir, port, "max", PASSWORD, &[name, "--", "id"]));

    // by name, directly
    let err = max_runs_id_in("mia-box");
    assert!(
        err.contains("没有名为 mia-box 的实例，或你无权访问该实例"),
        "{err}"
    );
    // by name or number at the menu: only his own is listed
    let mut p = Pty::spawn(dir, port, "max", PASSWORD, &[], SIZE);
    let menu = p.expect(PROMPT);
    assert!(
        menu.contains("1 max-box-") && !menu.contains("mia-box"),
        "{menu}"
    );
    p.send("mia-box\r");
    p.expect("没有名为 mia-box 的实例");
    p.expect(PROMPT);
    p.send("2\r");
    p.expect("序号 2 不在列表中");
    p.send("q\r");
    p.wait_exit();
    assert_eq!(app.count("SELECT count(*) AS n FROM sessions"), 0);

    // a stopped instance: a clear line, no session
    app.sql("UPDATE instances SET status = 'exited' WHERE name = 'max-box'");
    let err = max_runs_id_in("max-box");
    assert!(err.contains("实例 max-box 未运行（已停止）"), "{err}");
    // a node that cannot be reached: its error, named
    app.sql("UPDATE instances SET status = 'running' WHERE name = 'max-box'");
    app.sql("UPDATE nodes SET docker_endpoint = 'tcp://127.0.0.1:1'");
    let err = max_runs_id_in("max-box");
    assert!(
        err.contains("无法连接实例 max-box 所在的算力节点 fake"),
        "{err}"
    );
    // a role without the terminal's permission record gets no shell either
    app.sql("UPDATE api_permissions SET allowed_roles = '{admin}' WHERE method = 'GET' AND path_pattern = '/instances/{id}/terminal'");
    let err = max_runs_id_in("max-box");
    assert!(
        err.contains("权限不足：你不能打开实例 max-box 的终端"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_account_for_ssh_and_web_alike() {
    let app = TestApp::spawn().await;
    app.user("lee", "customer_member", None).await;
    let (dir, port) = (&app.data_dir, app.ssh_port);
    for _ in 0..5 {
        let (code, _, err) = ssh_run(dir, port, "lee", "Wrong!pass1", &[]);
        assert_eq!(code, 255);
        assert!(err.contains("Permission denied"), "{err}");
    }
    // the right password no longer opens either door
    let (code, _, _) = ssh_run(dir, port, "lee", PASSWORD, &[]);
    assert_eq!(code, 255);
    let mut web = app.client();
    let r = web.login("lee", PASSWORD).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("锁定"));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE method = 'SSH' AND username = 'lee' AND action = 'login_failed'"),
        5
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM users WHERE username = 'lee' AND locked_until > now()"
        ),
        1
    );
}

/// `SHA256:…` of the host key the server presents, as the client computes it.
fn scanned_fingerprint(port: u16) -> String {
    let scan = std::process::Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", &port.to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    let mut keygen = std::process::Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    keygen
        .stdin
        .take()
        .unwrap()
        .write_all(&scan.stdout)
        .unwrap();
    let out = String::from_utf8(keygen.wait_with_output().unwrap().stdout).unwrap();
    out.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {out:?}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_key_survives_a_restart_and_the_settings_page_shows_it() {
    let app = TestApp::spawn().await;
    let first = scanned_fingerprint(app.ssh_port);
    assert!(first.starts_with("SHA256:"), "{first}");
    let key = app.data_dir.join("ssh_host_ed25519_key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let admin = app.admin().await;
    let page = admin.text("/settings").await;
    assert!(page.contains(&first), "{page}");
    // and the ports no forward may take: the panel's and the jumpbox's, as bound
    let panel: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let (lo, hi) = (panel.min(app.ssh_port), panel.max(app.ssh_port));
    assert!(
        page.contains(&format!("<code id=\"reserved-ports\">{lo}, {hi}</code>")),
        "{page}"
    );

    // a second server on the same data directory (the restart): the same key
    let again = suanli::startup::Application::build(test_settings(&app.db.url, &app.data_dir))
        .await
        .unwrap();
    let port = again.jumpbox_addr().unwrap().port();
    assert_ne!(port, app.ssh_port);
    assert_eq!(scanned_fingerprint(port), first);
}

/// A refusal of the jumpbox: exit status 255, nothing on stdout; returns what it said on
/// stderr (where OpenSSH's own errors go too).
fn refused((code, out, err): (i32, String, String)) -> String {
    assert_eq!((code, out.as_str()), (255, ""), "stderr: {err}");
    err
}

/// `ssh … no-such-box` as `user` until the server has given a closed connection's slot
/// back (it does when it sees the connection end, a moment after the client exits).
fn once_a_slot_is_free(app: &TestApp, user: &str) -> String {
    eventually_blocking("a closed connection's slot is given back", || {
        let out = ssh_run(
            &app.data_dir,
            app.ssh_port,
            user,
            PASSWORD,
            &["no-such-box"],
        )
        .2;
        (!out.is_empty() && !out.contains("达到上限")).then_some(out)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_idle_timeout_and_first_password_are_enforced_with_a_message() {
    // the per-user limit, with the default idle time: the first session must outlive a
    // second login however slow that is on a loaded machine
    let app = TestApp::spawn_with(|s| s.jumpbox.max_sessions_per_user = 1).await;
    app.user("mia", "customer_member", None).await;
    let (dir, port) = (&app.data_dir, app.ssh_port);
    let mut first = Pty::spawn(dir, port, "mia", PASSWORD, &[], SIZE);
    first.expect(PROMPT);
    let err = refused(ssh_run(dir, port, "mia", PASSWORD, &[]));
    assert!(err.contains("你已打开 1 个跳板机会话，达到上限"), "{err}");
    first.send("q\r");
    first.wait_exit();
    // the slot is free again
    let out = once_a_slot_is_free(&app, "mia");
    assert!(out.contains("没有名为 no-such-box 的实例"), "{out}");

    // the idle time, on a server of its own
    let app = TestApp::spawn_with(|s| {
        s.jumpbox.idle_timeout_secs = 2;
        s.jumpbox.max_sessions_per_user = 1;
    })
    .await;
    let mia = app.user("mia", "customer_member", None).await;
    let (dir, port) = (&app.data_dir, app.ssh_port);
    let mut first = Pty::spawn(dir, port, "mia", PASSWORD, &[], SIZE);
    first.expect(PROMPT);
    // nothing typed for 2 s: closed with a line, and the slot is given back
    first.expect("空闲超过 2 秒，连接已关闭。");
    first.wait_exit();
    let out = once_a_slot_is_free(&app, "mia");
    assert!(out.contains("没有名为 no-such-box 的实例"), "{out}");

    app.sql(&format!(
        "UPDATE users SET must_change_password = true WHERE id = {mia}"
    ));
    let err = refused(ssh_run(dir, port, "mia", PASSWORD, &[]));
    assert!(err.contains("请先登录网页面板修改密码"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_overall_limit_are_refused() {
    let app = TestApp::spawn_with(|s| s.jumpbox.max_sessions = 1).await;
    app.user("mia", "customer_member", None).await;
    app.user("max", "customer_member", None).await;
    let (dir, port) = (&app.data_dir, app.ssh_port);
    let mut first = Pty::spawn(dir, port, "mia", PASSWORD, &[], SIZE);
    first.expect(PROMPT);
    // told so over SSH, as OpenSSH prints it at its default level
    let out = ssh_command_logging("INFO", dir, port, "max", PASSWORD, &[])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(
        err.contains("Received disconnect from 127.0.0.1")
            && err.contains("The jumpbox already holds 1 connections, its limit: try again later."),
        "{err}"
    );
    // nothing was tried with the password: no failed login on max's account
    assert_eq!(
        app.count("SELECT failed_logins::bigint AS n FROM users WHERE username = 'max'"),
        0
    );
    first.send("q\r");
    first.wait_exit();
    let out = once_a_slot_is_free(&app, "max");
    assert!(out.contains("没有名为 no-such-box 的实例"), "{out}");
}

/// `jumpbox.ciphers` is what the server offers: the client takes one of those or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_configured_ciphers_are_offered() {
    let app = TestApp::spawn_with(|s| s.jumpbox.ciphers = "aes256-gcm@openssh.com".into()).await;
    let port = app.ssh_port.to_string();
    // the key exchange only: no password is given (BatchMode), so the login then fails
    let negotiate = |extra: &[&str]| {
        let out = std::process::Command::new("ssh")
            .args(["-v", "-p", &port, "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"])
            .args(extra)
            .args(["nobody@127.0.0.1", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let log = negotiate(&[]);
    assert!(
        log.contains("kex: server->client cipher: aes256-gcm@openssh.com"),
        "{log}"
    );
    let log = negotiate(&["-c", "chacha20-poly1305@openssh.com"]);
    assert!(log.contains("no matching cipher found"), "{log}");
}

/// By default the jumpbox offers every cipher that README.md and Settings.toml name, and
/// OpenSSH can log in and run a command with each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_cipher_is_offered_by_default() {
    let documented = suanli::config::JUMPBOX_CIPHERS;
    let readme = std::fs::read_to_string(crate::helpers::checkout().join("README.md")).unwrap();
    let settings =
        std::fs::read_to_string(crate::helpers::checkout().join("Settings.toml")).unwrap();
    for c in documented {
        assert!(readme.contains(&format!("`{c}`")), "README names {c}");
        assert!(settings.contains(c), "Settings.toml names {c}");
    }
    let (app, _id, name, _cleanup) = mia_with_a_running_box("cipher").await;
    let (dir, port) = (app.data_dir.clone(), app.ssh_port);
    tokio::task::spawn_blocking(move || {
        for c in documented {
            let out = ssh_command_logging("DEBUG", &dir, port, "mia", PASSWORD, &["-c", c])
                .args([name.as_str(), "--", "echo via-cipher"])
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{c}: {log}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "via-cipher\n", "{c}");
            assert!(
                log.contains(&format!("kex: server->client cipher: {c}")),
                "{c}: {log}"
            );
        }
    })
    .await
    .unwrap();
}

/// Issue 18 (first slice): the instance rides on the login name, `ssh mia@<instance>@host`,
/// as non-interactive clients (scp, sftp, rsync, VS Code) need: no menu, the whole exec
/// request is the command, a terminal opens a shell; another tenant's name is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_named_in_the_login_name_opens_without_the_menu() {
    let (app, id, name, _cleanup) = mia_with_a_running_box("named").await;
    let (dir, port) = (&app.data_dir, app.ssh_port);
    let login = format!("mia@{name}");

    let (code, out, err) = ssh_run(dir, port, &login, PASSWORD, &["echo $((6*7)); exit 4"]);
    assert_eq!((code, out.as_str()), (4, "42\n"), "stderr: {err}");

    let mut p = Pty::spawn(dir, port, &login, PASSWORD, &["-tt"], SIZE);
    p.send("hostname\r");
    p.expect(&format!("\r\n{name}\r\n"));
    p.send("exit 7\r");
    let (code, rest) = p.wait_exit();
    assert_eq!(code, 7, "{rest}");
    assert!(!rest.contains(PROMPT), "no menu: {rest}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE instance_id = {id} AND protocol = 'ssh'"
        )),
        2
    );

    // the name is looked up in the user's own scope: max cannot reach mia's box this way
    app.user("max", "customer_member", None).await;
    let err = refused(ssh_run(
        dir,
        port,
        &format!("max@{name}"),
        PASSWORD,
        &["id"],
    ));
    assert!(
        err.contains(&format!("没有名为 {name} 的实例，或你无权访问该实例")),
        "{err}"
    );
    // a wrong password under the composite name counts against the account itself
    let (code, _, _) = ssh_run(dir, port, &login, "Wrong!pass1", &["id"]);
    assert_ne!(code, 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE action = 'login_failed' AND username = 'mia'"),
        1
    );
}
