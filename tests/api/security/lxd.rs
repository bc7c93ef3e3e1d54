//! LXD containers made through the ZJMF `/api/` share one bridge: two customers'
//! containers cannot reach each other (TCP and ping, both ways), while each still reaches
//! the bridge's gateway and a port forward still reaches its container. On this
//! machine's real LXD with the busybox test image.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::zjmf::{ClientNet, call, created, lxc, lxd_app, port, run};

/// Long enough for a listener to start or a forward to be applied, also under load.
const DEADLINE: Duration = crate::helpers::PATIENCE;
const LISTEN_PORT: u16 = 7777;

fn ip(create_reply: &Value) -> String {
    create_reply["data"]["ip"].as_str().unwrap().to_string()
}

/// Serves "pong" to every connection on the container's `port` (busybox `nc -ll`: one
/// listener that never closes, so no connection can fall between two listeners).
fn pong_server(name: &str, port: u16) {
    let script = format!("setsid nc -ll -p {port} -e echo pong >/dev/null 2>&1 </dev/null &");
    let (ok, out) = lxc(&["exec", name, "--", "sh", "-c", &script]);
    assert!(ok, "{out}");
}

/// Polls `read` until it answers "pong"; what it read last otherwise.
fn pong_within(what: &str, read: impl Fn() -> String) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = read();
        if got.contains("pong") || Instant::now() >= deadline {
            assert!(
                got.contains("pong"),
                "{what}: no pong within {DEADLINE:?}: {got}"
            );
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What a TCP connection from inside `from` to `to_ip` reads (busybox nc, 3 s timeout).
fn read_from(from: &str, to_ip: &str, port: u16) -> String {
    let port = port.to_string();
    let (_, out) = lxc(&["exec", from, "--", "nc", "-w", "3", to_ip, &port]);
    out
}

fn pings(from: &str, to_ip: &str) -> bool {
    lxc(&["exec", from, "--", "ping", "-c", "2", "-W", "2", to_ip]).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_customers_lxd_containers_cannot_reach_each_other_but_keep_gateway_and_forwards() {
    let net = ClientNet::new();
    let host_ip = net.host_ip.clone();
    let (app, _serial) = lxd_app(move |s| s.zjmf.nat_listen_ip = host_ip).await;
    let (a, reply_a, _gone_a) = created(&app, "isoa").await;
    let (b, reply_b, _gone_b) = created(&app, "isob").await;
    let (ip_a, ip_b) = (ip(&reply_a), ip(&reply_b));

    // LXD holds the setting on each container's own NIC, on the configured bridge
    let bridge = app.state.settings.zjmf.bridge.clone();
    for name in [&a, &b] {
        for (key, want) in [
            ("security.port_isolation", "true"),
            ("parent", bridge.as_str()),
        ] {
            let (_, got) = lxc(&["config", "device", "get", name, "eth0", key]);
            assert_eq!(got, want, "{name} eth0 {key}");
        }
    }

    // both listen; the host reaches each listener over the bridge
    for (name, ip) in [(&a, &ip_a), (&b, &ip_b)] {
        pong_server(name, LISTEN_PORT);
        pong_within(&format!("host to {name}"), || {
            run(&["busybox", "nc", "-w", "3", ip, &LISTEN_PORT.to_string()]).1
        });
    }

    // each still reaches its gateway, the bridge's own address
    let (_, cidr) = lxc(&["network", "get", &bridge, "ipv4.address"]);
    let gateway = cidr.split('/').next().unwrap().to_string();
    for name in [&a, &b] {
        assert!(pings(name, &gateway), "{name} pings the gateway {gateway}");
    }

    // SECURITY: across customers nothing, both ways
    for (from, to, to_ip) in [(&a, &b, &ip_b), (&b, &a, &ip_a)] {
        let got = read_from(from, to_ip, LISTEN_PORT);
        assert!(!got.contains("pong"), "{from} read {to}'s listener: {got}");
        assert!(!pings(from, to_ip), "{from} pings {to}");
    }

    // a port forward to one of them still works from another network
    let ext = 30000 + (std::process::id() % 20000) as u16;
    let (status, body) = port(&app, "/api/addport", &b, ext, LISTEN_PORT).await;
    assert_eq!(status, 200, "{body}");
    pong_within("forward from the client network", || net.read(ext));
    // the listener on the host side is still up: the refusal above was the isolation
    pong_within("host to b again", || {
        run(&["busybox", "nc", "-w", "3", &ip_b, &LISTEN_PORT.to_string()]).1
    });
}

fn isolation(name: &str) -> String {
    lxc(&[
        "config",
        "device",
        "get",
        name,
        "eth0",
        "security.port_isolation",
    ])
    .1
}

/// Polls until the container's eth0 carries the isolation.
fn isolated_within(what: &str, name: &str) {
    let deadline = Instant::now() + DEADLINE;
    while isolation(name) != "true" {
        assert!(
            Instant::now() < deadline,
            "{what}: {name} not isolated within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Makes the container as it was made before port isolation (the key removed).
fn as_made_before(name: &str) {
    let (ok, out) = lxc(&[
        "config",
        "device",
        "unset",
        name,
        "eth0",
        "security.port_isolation",
    ]);
    assert!(ok, "{out}");
    assert_eq!(isolation(name), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_made_before_get_isolation_while_stopped_and_keep_it_through_reinstall() {
    let (app, _serial) = lxd_app(|_| {}).await;
    // names sort as the start-up goes through them: the running one first
    let (running, _, _gone_r) = created(&app, "isoarun").await;
    let (stopped, _, _gone_s) = created(&app, "isobstop").await;
    let (ok, out) = lxc(&["stop", "--force", &stopped]);
    assert!(ok, "{out}");
    as_made_before(&running);
    as_made_before(&stopped);

    // a restarted server isolates the stopped one and leaves the running one's NIC alone
    let mut settings = crate::helpers::test_settings(&app.db.url, &app.data_dir);
    settings.zjmf.api_tokens = app.state.settings.zjmf.api_tokens.clone();
    settings.zjmf.nat_chain = app.state.settings.zjmf.nat_chain.clone();
    let _restarted = suanli::startup::Application::build(settings).await.unwrap();
    isolated_within("start-up", &stopped);
    assert_eq!(isolation(&running), "", "a running NIC is not re-plugged");

    // the running one gets it when stopped through the API, and boots with it
    let (status, body) = call(&app, "GET", &format!("/api/stop?hostname={running}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(isolation(&running), "true", "isolated once stopped");
    as_made_before(&running);
    let (status, body) = call(&app, "GET", &format!("/api/boot?hostname={running}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(isolation(&running), "true", "isolated before its boot");
    let (_, state) = lxc(&["list", &running, "-c", "s", "--format", "csv"]);
    assert_eq!(state, "RUNNING");

    // a reinstall of a container made before gives it, and keeps it
    let (status, body) = call(&app, "GET", &format!("/api/boot?hostname={stopped}"), None).await;
    assert_eq!(status, 200, "{body}");
    for round in ["made before", "isolated"] {
        if round == "made before" {
            as_made_before(&stopped);
        }
        let body = json!({"hostname": stopped, "system": "", "password": "Re!install789"});
        let (status, reply) = call(&app, "POST", "/api/reinstall", Some(body)).await;
        assert_eq!(status, 200, "{round}: {reply}");
        assert_eq!(isolation(&stopped), "true", "{round}");
    }
}
