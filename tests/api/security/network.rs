//! Issue #14, tenant isolation on the real Docker engine: tenants' containers cannot
//! reach each other (TCP, ping, no shared link), one tenant's can; every container is
//! hardened (PIDs limit, no NET_RAW, no-new-privileges); containers made before tenant
//! networks move onto theirs; creating a tenant network is race-safe; a failure halfway
//! leaves nothing behind. No fixed sleeps: every wait polls with a deadline.

use std::process::Command;
use std::time::{Duration, Instant};

use suanli::domain::tenancy::Tenant;

use crate::helpers::{Session, TestApp};
use crate::instances::{
    LOCAL_DOCKER, TEST_IMAGE, docker, image, instance_id, node, settled, spec, submit, text_row,
    unique,
};

const PORT: &str = "7777";

/// Submits the wizard and waits for the instance; returns (id, container id).
async fn ready(
    app: &TestApp,
    s: &Session,
    (img, sp, nd): (i64, i64, i64),
    name: &str,
) -> (i64, String) {
    let r = submit(s, img, sp, nd, name).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let id = instance_id(app, name);
    let (phase, message) = settled(app, id).await;
    assert_eq!(phase, "ready", "{message}");
    let cid = text_row(
        app,
        &format!("SELECT container_id AS t FROM instances WHERE id = {id}"),
    );
    (id, cid)
}

/// A 1-CPU, 1 GB spec without disks and a roomy local node, all listed.
fn catalog(app: &TestApp) -> (i64, i64, i64) {
    let img = image(app, "busybox", TEST_IMAGE, true);
    let sp = spec(app, "small", ("none", 0, 1, 1, 0, 0), true);
    let nd = node(
        app,
        "local",
        ("none", 0, 16, 64, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    (img, sp, nd)
}

/// The names of the networks a container is on, sorted.
fn networks(container: &str) -> Vec<String> {
    let (ok, out) = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        container,
    ]);
    assert!(ok, "inspect {container}");
    let mut v: Vec<String> = out.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

fn ip(container: &str) -> String {
    let (ok, out) = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container,
    ]);
    assert!(ok && !out.is_empty(), "address of {container}: {out}");
    out
}

/// Runs a command in the container; (success, stdout + stderr).
fn exec(container: &str, cmd: &str) -> (bool, String) {
    let out = Command::new("docker")
        .args(["exec", container, "sh", "-c", cmd])
        .output()
        .expect("docker exec");
    let mut text = String::from_utf8_lossy(&out.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Polls `f` until it returns Some, for at most `secs` seconds.
async fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs a command in the container's network namespace with the host's busybox (root,
/// every capability): tests what the network lets through, not what the container may.
fn in_netns(container: &str, args: &[&str]) -> (bool, String) {
    let (ok, pid) = docker(&["inspect", "-f", "{{.State.Pid}}", container]);
    assert!(ok && pid != "0", "{container} runs");
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-n", "busybox"])
        .args(args)
        .output()
        .expect("nsenter");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn pings(from: &str, to_ip: &str) -> bool {
    in_netns(from, &["ping", "-c", "1", "-W", "2", to_ip]).0
}

/// What a TCP connection from `from` to the listener at `to_ip` reads (its host name), or
/// "" when nothing connects within 3 s.
fn tcp(from: &str, to_ip: &str) -> String {
    exec(
        from,
        &format!("nc -w 3 {to_ip} {PORT} </dev/null 2>/dev/null"),
    )
    .1
    .trim()
    .to_string()
}

/// Starts a listener in the container that answers every connection with its host name,
/// and waits until the host reaches it.
async fn listen(container: &str, host_name: &str) {
    let (ok, _) = docker(&[
        "exec",
        "-d",
        container,
        "nc",
        "-ll",
        "-p",
        PORT,
        "-e",
        "/bin/hostname",
    ]);
    assert!(ok, "listener in {container}");
    let addr = ip(container);
    eventually(&format!("listener of {container}"), 30, || {
        let out = Command::new("busybox")
            .args(["nc", "-w", "2", &addr, PORT])
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        (String::from_utf8_lossy(&out.stdout).trim() == host_name).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_cannot_exchange_a_byte_and_one_tenants_containers_can() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    app.user("acme-a", "customer_member", Some(acme)).await;
    app.user("acme-b", "customer_member", Some(acme)).await;
    let mia = app.user("mia", "customer_member", None).await;
    let cat = catalog(&app);
    let (a, b, m) = (unique("acme-a"), unique("acme-b"), unique("mia"));
    let (_, ca) = ready(&app, &app.logged_in("acme-a").await, cat, &a).await;
    let (_, cb) = ready(&app, &app.logged_in("acme-b").await, cat, &b).await;
    let (_, cm) = ready(&app, &app.logged_in("mia").await, cat, &m).await;

    for (c, name) in [(&ca, &a), (&cb, &b), (&cm, &m)] {
        listen(c, name).await;
    }
    let (ia, ib, im) = (ip(&ca), ip(&cb), ip(&cm));

    // one tenant: TCP and ping both ways
    assert_eq!(tcp(&ca, &ib), *b);
    assert_eq!(tcp(&cb, &ia), *a);
    assert!(pings(&ca, &ib) && pings(&cb, &ia), "same-tenant ping works");

    // two tenants: not a byte, not a ping, both ways
    assert_eq!(tcp(&ca, &im), "", "acme reaches mia's listener");
    assert_eq!(tcp(&cm, &ia), "", "mia reaches acme's listener");
    assert_eq!(tcp(&cm, &ib), "", "mia reaches acme-b's listener");
    assert!(!pings(&ca, &im), "acme pings mia");
    assert!(!pings(&cm, &ia), "mia pings acme");

    // no shared link: the other tenant is only behind the gateway, never ARPed for
    let (_, route) = exec(&ca, &format!("ip route get {im}"));
    assert!(
        route.contains(" via "),
        "mia's address is not on acme's link: {route}"
    );
    let (_, neigh) = exec(&ca, "ip neigh");
    assert!(!neigh.contains(&format!("{im} ")), "{neigh}");
    let (_, neigh) = exec(&cm, "ip neigh");
    assert!(
        !neigh.contains(&format!("{ia} ")) && !neigh.contains(&format!("{ib} ")),
        "{neigh}"
    );

    // each tenant on its own labelled network, nobody on the default bridge
    let prefix = &app.state.settings.docker.tenant_network_prefix;
    let (net_acme, net_mia) = (format!("{prefix}c{acme}"), format!("{prefix}u{mia}"));
    assert_eq!(networks(&ca), vec![net_acme.clone()]);
    assert_eq!(networks(&cb), vec![net_acme.clone()]);
    assert_eq!(networks(&cm), vec![net_mia.clone()]);
    for (net, key) in [
        (&net_acme, format!("c{acme}")),
        (&net_mia, format!("u{mia}")),
    ] {
        let (_, label) = docker(&[
            "network",
            "inspect",
            "-f",
            "{{index .Labels \"suanli.tenant\"}}",
            net,
        ]);
        assert_eq!(label, key, "{net} is labelled as the tenant's");
    }

    // without NET_RAW the image's busybox ping cannot even open its socket
    let (ok, out) = exec(&ca, &format!("ping -c 1 -W 1 {ib}"));
    assert!(!ok && out.contains("permission denied"), "{out}");
}

/// The capability sets of /proc/self/status inside the container, as numbers.
fn caps(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_container_is_hardened_and_a_fork_bomb_stops_at_the_pids_limit() {
    let app = TestApp::spawn_with(|s| s.docker.pids_limit = 64).await;
    let mia = app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let cat = catalog(&app);
    let name = unique("hard");
    let (id, c) = ready(&app, &s, cat, &name).await;

    let (_, host) = docker(&["inspect", "-f", "{{json .HostConfig}}", &c]);
    let host: serde_json::Value = serde_json::from_str(&host).unwrap();
    assert_eq!(host["PidsLimit"], 64);
    assert_eq!(host["CapDrop"], serde_json::json!(["NET_RAW"]));
    assert_eq!(
        host["SecurityOpt"],
        serde_json::json!(["no-new-privileges"])
    );

    let (ok, status) = exec(&c, "cat /proc/self/status");
    assert!(ok, "{status}");
    const NET_RAW: u64 = 1 << 13;
    assert_eq!(caps(&status, "CapBnd:") & NET_RAW, 0, "{status}");
    assert_eq!(caps(&status, "CapEff:") & NET_RAW, 0, "{status}");
    assert!(
        caps(&status, "CapEff:") != 0,
        "root keeps its other capabilities"
    );
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["NoNewPrivs:", "1"]),
        "{status}"
    );

    // cgroup v1 mounts the pids controller apart; v2 has one tree
    let (_, max) = exec(
        &c,
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    );
    assert_eq!(max.trim(), "64");

    // the bomb: background sleeps until a fork fails; the shell dies of it
    let (ok, out) = exec(
        &c,
        "i=0; while [ $i -lt 1000 ]; do sleep 600 >/dev/null 2>&1 & i=$((i+1)); done; echo all-forked",
    );
    assert!(!ok && !out.contains("all-forked"), "{out}");
    assert!(out.contains("can't fork"), "{out}");
    let (ok, top) = docker(&["top", &c]);
    let procs = top.lines().count() - 1;
    assert!(ok && (32..=64).contains(&procs), "{procs} processes: {top}");

    // a full container is still deleted, and with it the tenant's now empty network
    let net = app.state.settings.docker.tenant_network_prefix.clone() + &format!("u{mia}");
    assert!(docker(&["network", "inspect", &net]).0);
    let r = s.post_hx(&format!("/instances/{id}/delete"), &[]).await;
    assert_eq!(r.status(), 204);
    assert!(!docker(&["inspect", &c]).0, "container removed");
    assert!(
        !docker(&["network", "inspect", &net]).0,
        "empty tenant network removed"
    );
}

/// Replaces an instance's container with one made as the code before tenant networks made
/// it (on the default bridge, no hardening), `started` or only created.
fn old_style_container(app: &TestApp, id: i64, name: &str, started: bool) -> String {
    let old = text_row(
        app,
        &format!("SELECT container_id AS t FROM instances WHERE id = {id}"),
    );
    assert!(docker(&["rm", "-f", &old]).0);
    let cname = format!("suanli-{id}-{name}");
    let (label_i, label_n) = (
        format!("suanli.instance={id}"),
        format!("suanli.name={name}"),
    );
    let mut args = vec![if started { "run" } else { "create" }];
    if started {
        args.push("-d");
    }
    args.extend([
        "--name",
        &cname,
        "--hostname",
        name,
        "--label",
        &label_i,
        "--label",
        &label_n,
        "--restart",
        "unless-stopped",
        TEST_IMAGE,
        "sleep",
        "3600",
    ]);
    let (ok, cid) = docker(&args);
    assert!(ok, "old-style container: {cid}");
    assert_eq!(networks(&cid), vec!["bridge".to_string()]);
    let status = if started { "running" } else { "created" };
    app.sql(&format!(
        "UPDATE instances SET container_id = '{cid}', status = '{status}' WHERE id = {id}"
    ));
    cid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_on_the_default_bridge_moves_to_its_tenant_network_at_its_next_start() {
    let app = TestApp::spawn_with(|s| s.docker.status_worker = false).await;
    let mia = app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let name = unique("old-start");
    let (id, _) = ready(&app, &s, catalog(&app), &name).await;
    let cid = old_style_container(&app, id, &name, false);

    let r = s.post_hx(&format!("/instances/{id}/start"), &[]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("data-status=\"running\""));
    let net = format!("{}u{mia}", app.state.settings.docker.tenant_network_prefix);
    assert_eq!(networks(&cid), vec![net]);
    s.post_hx(&format!("/instances/{id}/delete"), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_container_on_the_default_bridge_is_moved_by_the_reconcile() {
    let app = TestApp::spawn_with(|s| s.docker.reconcile_secs = 1).await;
    let acme = app.company("acme").await;
    app.user("acme-a", "customer_member", Some(acme)).await;
    let s = app.logged_in("acme-a").await;
    let name = unique("old-run");
    let (id, _) = ready(&app, &s, catalog(&app), &name).await;
    let cid = old_style_container(&app, id, &name, true);

    let net = format!("{}c{acme}", app.state.settings.docker.tenant_network_prefix);
    eventually("the reconcile moves the container", 60, || {
        (networks(&cid) == vec![net.clone()]).then_some(())
    })
    .await;
    let (_, state) = docker(&["inspect", "-f", "{{.State.Status}}", &cid]);
    assert_eq!(state, "running", "moved without a restart");
    s.post_hx(&format!("/instances/{id}/delete"), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_tenant_network_end_with_one_network() {
    let app = TestApp::spawn().await;
    let nd = node(
        &app,
        "local",
        ("none", 0, 16, 64, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    let d = suanli::docker::connect(&suanli::docker::Endpoint {
        url: LOCAL_DOCKER.into(),
        tls: None,
    })
    .await
    .unwrap();
    let exact = |name: &str| {
        let (_, out) = docker(&[
            "network",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &format!("name={name}"),
        ]);
        out.lines().filter(|l| *l == name).count()
    };

    // through the panel: one lock per tenant network, every caller gets the same id
    let tenant = Tenant::User(suanli::domain::ids::UserId(4242));
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (state, d) = (app.state.clone(), d.clone());
            tokio::spawn(async move {
                suanli::ops::tenancy::network(&state, &d, suanli::domain::ids::NodeId(nd), tenant)
                    .await
                    .map(|(_, id)| id)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        exact(&suanli::ops::tenancy::network_name(&app.state, tenant)),
        1
    );

    // straight at the engine (Docker 20.10 creates duplicates when creates race): once
    // the racers are done, the next caller settles on one network and removes the rest
    let name = format!("{}u4343", app.state.settings.docker.tenant_network_prefix);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (d, name) = (d.clone(), name.clone());
            tokio::spawn(async move { suanli::docker::network::ensure(&d, &name, "u4343").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    suanli::docker::network::ensure(&d, &name, "u4343")
        .await
        .unwrap();
    assert_eq!(exact(&name), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_halfway_leaves_no_container_volume_or_network() {
    let app = TestApp::spawn().await;
    let squatted = app.user("mia", "customer_member", None).await;
    let gpu_user = app.user("gus", "customer_member", None).await;
    let img = image(&app, "busybox", TEST_IMAGE, true);
    let sp = spec(&app, "small", ("none", 0, 1, 1, 0, 1), true);
    let nd = node(
        &app,
        "local",
        ("none", 0, 16, 64, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    let prefix = app.state.settings.docker.tenant_network_prefix.clone();
    let labelled = |name: &str| {
        let f = format!("label=suanli.name={name}");
        let (_, c) = docker(&["ps", "-aq", "--filter", &f]);
        let (_, v) = docker(&["volume", "ls", "-q", "--filter", &f]);
        c + &v
    };

    // someone else's network under the tenant's name: refused, never joined
    let net = format!("{prefix}u{squatted}");
    assert!(docker(&["network", "create", &net]).0);
    let s = app.logged_in("mia").await;
    let name = unique("squat");
    assert_eq!(submit(&s, img, sp, nd, &name).await.status(), 204);
    let id = instance_id(&app, &name);
    let (phase, message) = settled(&app, id).await;
    assert_eq!(phase, "failed");
    assert!(message.contains("not labelled"), "{message}");
    assert_eq!(labelled(&name), "", "no container, no volume");
    assert!(
        docker(&["network", "inspect", &net]).0,
        "the foreign network is left alone"
    );
    assert!(docker(&["network", "rm", &net]).0);

    // the network made, then the start fails (a GPU on this GPU-less engine)
    let gpu_spec = spec(&app, "gpu", ("A100", 1, 1, 1, 0, 1), true);
    let gpu_node = node(
        &app,
        "gpu-node",
        ("A100", 4, 16, 64, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    let s = app.logged_in("gus").await;
    let name = unique("gpu");
    assert_eq!(
        submit(&s, img, gpu_spec, gpu_node, &name).await.status(),
        204
    );
    let (phase, message) = settled(&app, instance_id(&app, &name)).await;
    assert_eq!(phase, "failed", "{message}");
    assert_eq!(labelled(&name), "", "no container, no volume");
    assert!(
        !docker(&["network", "inspect", &format!("{prefix}u{gpu_user}")]).0,
        "no network left that no instance uses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_network_stays_while_an_instance_of_the_tenant_is_on_the_node() {
    let app = TestApp::spawn_with(|s| s.docker.status_worker = false).await;
    let mia = app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let cat = catalog(&app);
    let (first, second) = (unique("keep-1"), unique("keep-2"));
    let (id1, _) = ready(&app, &s, cat, &first).await;
    let (id2, c2) = ready(&app, &s, cat, &second).await;
    let net = format!("{}u{mia}", app.state.settings.docker.tenant_network_prefix);
    // a stopped container is not attached as far as the engine knows: the panel's rows
    // keep its network
    let r = s.post_hx(&format!("/instances/{id2}/stop"), &[]).await;
    assert_eq!(r.status(), 200);

    assert_eq!(
        s.post_hx(&format!("/instances/{id1}/delete"), &[])
            .await
            .status(),
        204
    );
    assert!(
        docker(&["network", "inspect", &net]).0,
        "kept for the second instance"
    );
    let r = s.post_hx(&format!("/instances/{id2}/start"), &[]).await;
    assert!(r.text().await.unwrap().contains("data-status=\"running\""));
    assert_eq!(networks(&c2), vec![net.clone()]);

    assert_eq!(
        s.post_hx(&format!("/instances/{id2}/delete"), &[])
            .await
            .status(),
        204
    );
    assert!(
        !docker(&["network", "inspect", &net]).0,
        "removed with the last instance"
    );
}
