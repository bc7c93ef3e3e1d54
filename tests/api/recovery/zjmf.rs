//! ZJMF creates on the real LXD cut off by SIGKILL. The create uses the slow test image
//! (scripts/lib.sh: thousands of files for LXD to unpack, DHCP only after 8 s), so a
//! create through the API lasts well beyond 6 s and each kill lands inside it. After the
//! restart the container, its port forward and its row must be gone — only once LXD no
//! longer knows the container — and the plugin's retry of the hostname must get 200.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Panel, PanelEnv, within};
use crate::zjmf::{Gone, LXD_IMAGE, LXD_SERIAL, TOKEN, create_body, lxc, run};

const SLOW_IMAGE: &str = "suanli-test/busybox-lxd-slow";

/// When the panel is killed, counted from the moment the create is sent.
#[derive(Clone, Copy, Debug)]
enum Kill {
    After(Duration),
    /// LXD runs the create operation of the container (unpacking the image)
    WhileLxdCreates,
    /// the container runs; the create waits for its address and sets the password
    WhileItBoots,
}

/// (HTTP status, JSON) of an /api/ call with the test token.
async fn api(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    crate::zjmf::call_at(base, Some(TOKEN), method, path, body).await
}

/// What LXD is doing about the container: descriptions of the operations running on it,
/// its status (None when LXD does not know it) and whether it has an IPv4 address.
fn lxd_view(name: &str) -> (Vec<String>, Option<String>, bool) {
    let (_, ops) = lxc(&["query", "/1.0/operations?recursion=1"]);
    let ops: Value = serde_json::from_str(&ops).unwrap_or(Value::Null);
    let me = [
        format!("/1.0/instances/{name}"),
        format!("/1.0/containers/{name}"),
    ];
    let mut running = Vec::new();
    for op in ops
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_array)
        .flatten()
    {
        let mine = op["resources"].as_object().is_some_and(|r| {
            r.values()
                .filter_map(Value::as_array)
                .flatten()
                .any(|p| me.iter().any(|m| p.as_str() == Some(m.as_str())))
        });
        if mine && op["status_code"].as_u64().is_some_and(|c| c < 200) {
            running.push(op["description"].as_str().unwrap_or_default().to_string());
        }
    }
    let (known, state) = lxc(&["query", &format!("/1.0/instances/{name}/state")]);
    if !known {
        return (running, None, false);
    }
    let state: Value = serde_json::from_str(&state).unwrap_or(Value::Null);
    let ip = state["network"]["eth0"]["addresses"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["family"] == "inet"));
    (running, state["status"].as_str().map(str::to_string), ip)
}

/// Nothing of the container is left: not in LXD, not in the store, not in iptables.
fn what_is_left(env: &PanelEnv, name: &str) -> Option<String> {
    let (ops, status, _) = lxd_view(name);
    if status.is_some() || !ops.is_empty() {
        return Some(format!("LXD still has {name}: {status:?}, running {ops:?}"));
    }
    for table in ["lxd_containers", "nat_rules", "cleanups"] {
        let n = env.count(&format!(
            "SELECT count(*) AS n FROM {table} WHERE hostname = '{name}'"
        ));
        if n > 0 {
            return Some(format!("{n} row(s) of {name} left in {table}"));
        }
    }
    let (_, nat) = run(&["iptables", "-w", "-t", "nat", "-S"]);
    let left: Vec<&str> = nat.lines().filter(|l| l.contains(name)).collect();
    if !left.is_empty() {
        return Some(format!("iptables rules of {name} left: {left:?}"));
    }
    None
}

/// Sends a create of `name` with the slow image, kills the panel as `kill` says, starts
/// it again, and checks that recovery leaves nothing and that the hostname creates again.
async fn killed_create(kill: Kill) {
    let _serial = LXD_SERIAL.lock().await;
    // the longest LXD wait allowed: a busy disk makes the slow image's create slower still
    let mut env = PanelEnv::new(&[("SUANLI__ZJMF__OPERATION_TIMEOUT_SECS", "28")]);
    let panel = env.start().await;
    let name = crate::instances::unique("zjkill");
    let _gone = Gone(name.clone());
    let mut body = create_body(&name);
    body["system"] = json!(SLOW_IMAGE);
    let sent = Instant::now();
    let url = format!("{}/api/create", panel.base);
    // answered only if the create finished before the kill (it must not)
    let create = tokio::spawn(async move {
        let res = reqwest::Client::new()
            .post(url)
            .header("apikey", TOKEN)
            .json(&body)
            .send()
            .await?;
        Ok::<_, reqwest::Error>((res.status().as_u16(), res.text().await?))
    });

    let deadline = sent + Duration::from_secs(120);
    loop {
        let (ops, status, ip) = lxd_view(&name);
        let now = match kill {
            Kill::After(t) => sent.elapsed() >= t,
            Kill::WhileLxdCreates => ops.iter().any(|d| d.contains("Creating")),
            Kill::WhileItBoots => status.as_deref() == Some("Running") && !ip,
        };
        if now {
            break;
        }
        if create.is_finished() {
            panic!(
                "the create ended before the kill ({kill:?}): {:?}",
                create.await
            );
        }
        assert!(Instant::now() < deadline, "{kill:?} not seen within 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panel.kill();
    let at = sent.elapsed();
    let seen = lxd_view(&name);
    if let Ok(Ok(answer)) = create.await {
        panic!("the create was answered before the kill: {answer:?}");
    }
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) AS n FROM lxd_containers WHERE hostname = '{name}' AND creating"
        )),
        1,
        "killed in the middle of the create"
    );
    eprintln!("{kill:?}: killed {at:?} into the create; LXD then: {seen:?}");

    let panel = env.start().await;
    within(240, || what_is_left(&env, &name)).await;
    assert!(
        panel
            .log_text()
            .contains(&format!("the create of {name} was cut off")),
        "the log says what recovery found"
    );
    created_again(&panel, &env, &name).await;
}

/// The plugin's retry of the hostname: 200 with a forward; then deleted, leaving nothing.
async fn created_again(panel: &Panel, env: &PanelEnv, name: &str) {
    let (status, body) = api(&panel.base, "POST", "/api/create", Some(create_body(name))).await;
    assert_eq!(status, 200, "the hostname creates again: {body}");
    assert!(body["data"]["ssh_port"].as_u64().is_some(), "{body}");
    let (status, body) = api(
        &panel.base,
        "GET",
        &format!("/api/delete?hostname={name}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(what_is_left(env, name), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zjmf_create_killed_after_1s_leaves_nothing_and_the_hostname_creates_again() {
    killed_create(Kill::After(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zjmf_create_killed_after_3s_leaves_nothing_and_the_hostname_creates_again() {
    killed_create(Kill::After(Duration::from_secs(3))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zjmf_create_killed_after_6s_leaves_nothing_and_the_hostname_creates_again() {
    killed_create(Kill::After(Duration::from_secs(6))).await;
}

/// The case the outside run hit: LXD carries its create operation on after the panel
/// died and refuses a delete meanwhile ("Instance is busy running a create operation").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zjmf_create_killed_while_lxd_creates_the_container_is_removed_once_lxd_is_done() {
    killed_create(Kill::WhileLxdCreates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zjmf_create_killed_while_the_container_boots_leaves_nothing() {
    killed_create(Kill::WhileItBoots).await;
}

/// A container LXD will not delete (here: `security.protection.delete`, as an operator
/// may set it) keeps its row, so the hostname stays taken: the log and the admin's LXD
/// page say so with LXD's reason, and the plugin's create is told it is being cleaned up.
/// Its port forward goes at once. Once LXD lets go, a later try removes it and the
/// hostname creates again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_lxd_will_not_delete_keeps_its_row_until_a_later_try_removes_it() {
    let _serial = LXD_SERIAL.lock().await;
    let mut env = PanelEnv::new(&[]);
    let name = crate::instances::unique("zjkept");
    let _gone = Gone(name.clone());
    // what a panel killed in the middle of a create leaves: the container, its row still
    // `creating`, its SSH forward
    let (ok, out) = lxc(&[
        "launch",
        LXD_IMAGE,
        &name,
        "-c",
        "security.protection.delete=true",
    ]);
    assert!(ok, "{out}");
    let ext = 40000 + (std::process::id() % 20000);
    env.sql(&format!(
        "INSERT INTO lxd_containers (hostname, cpu, disk_mb, ram_mb, image, creating) VALUES ('{name}', 1, 512, 256, '{LXD_IMAGE}', true)"
    ));
    env.sql(&format!(
        "INSERT INTO nat_rules (hostname, proto, ext_port, int_port, is_ssh) VALUES ('{name}', 'tcp', {ext}, 22, true)"
    ));

    let panel = env.start().await;
    let tried = format!(
        "SELECT count(*) AS n FROM cleanups WHERE hostname = '{name}' AND attempts > 0 AND last_error LIKE '%protected%'"
    );
    within(120, || {
        (env.count(&tried) == 0).then(|| format!("no failed try recorded for {name}"))
    })
    .await;
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) AS n FROM lxd_containers WHERE hostname = '{name}'"
        )),
        1,
        "the row stays while the container does"
    );
    assert!(lxc(&["info", &name]).0);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) AS n FROM nat_rules WHERE hostname = '{name}'"
        )),
        0,
        "its forwards go at once"
    );
    let (_, nat) = run(&["iptables", "-w", "-t", "nat", "-S"]);
    assert!(!nat.contains(&ext.to_string()), "{nat}");
    let log = panel.log_text();
    assert!(
        log.contains(&format!("LXD container {name} kept")) && log.contains("protected"),
        "{log}"
    );

    // the admin's LXD page lists it, in both languages, with LXD's reason
    let admin = env.admin(&panel).await;
    let page = admin.text("/lxd").await;
    assert!(
        page.contains("未清理完的创建")
            && page.contains(&format!("data-cleanup=\"{name}\""))
            && page.contains("Container is protected"),
        "{page}"
    );
    admin.get("/lang/en?next=/lxd").await;
    let page = admin.text("/lxd").await;
    assert!(
        page.contains("Unfinished creates being cleaned up") && page.contains("Tries"),
        "{page}"
    );

    // the plugin's retry is told to wait
    let (status, body) = api(&panel.base, "POST", "/api/create", Some(create_body(&name))).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (409, Some("该主机名上次未完成的创建仍在清理中，请稍后重试")),
        "{body}"
    );

    // LXD lets go: a later try (backoff: a few seconds) removes container and row
    let (ok, out) = lxc(&["config", "unset", &name, "security.protection.delete"]);
    assert!(ok, "{out}");
    within(120, || what_is_left(&env, &name)).await;
    let page = admin.text("/lxd").await;
    assert!(
        !page.contains(&format!("data-cleanup=\"{name}\"")),
        "{page}"
    );
    created_again(&panel, &env, &name).await;
}
