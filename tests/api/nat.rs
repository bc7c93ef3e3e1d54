//! Port forwards on the real iptables of this machine, a real LXD container and real host
//! sockets: a forward never takes a port a host process listens on, listens only on the
//! default route's addresses (never on a bridge's or loopback's), and one addport or
//! delport changes only its own lines. Each app has chains of its own (helpers.rs); these
//! tests read and change nothing else.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::TestApp;
use crate::zjmf::{call, created, lxc, lxd_app, pong_server, port_of, run};

/// How long anything below may take to come true.
const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `f` until it gives Some, at most DEADLINE; panics with `what` after that.
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port no process of this host listens on now (TCP or UDP), in the forwards' range.
fn free_port() -> u16 {
    loop {
        let p = TcpListener::bind("0.0.0.0:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p >= 10000 && UdpSocket::bind(("0.0.0.0", p)).is_ok() {
            return p;
        }
    }
}

/// The IPv4 addresses of an interface, as `ip` says.
fn addresses_of(interface: &str) -> Vec<Ipv4Addr> {
    let (ok, out) = run(&["ip", "-j", "-4", "addr", "show", "dev", interface]);
    assert!(ok, "{out}");
    let links: Vec<Value> = serde_json::from_str(&out).unwrap();
    links
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str()?.parse().ok())
        .collect()
}

/// The interface of this host's default route, as `ip route` says.
fn default_interface() -> String {
    let (ok, out) = run(&["ip", "-4", "route", "show", "default"]);
    assert!(ok, "{out}");
    let words: Vec<&str> = out.split_whitespace().collect();
    let dev = words
        .iter()
        .position(|w| *w == "dev")
        .expect("a default route");
    words[dev + 1].to_string()
}

/// Every rule line of the app's own chains (both tables), sorted.
fn our_lines(chain: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for table in ["nat", "filter"] {
        let (ok, out) = run(&["iptables", "-w", "-t", table, "-S"]);
        assert!(ok, "{out}");
        let own = format!("-A {chain}-");
        lines.extend(
            out.lines()
                .filter(|l| l.starts_with(&own))
                .map(|l| format!("{table} {l}")),
        );
    }
    lines.sort();
    lines
}

/// `a` less `b` (each line as often as it is in `a` more than in `b`).
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut rest = b.to_vec();
    a.iter()
        .filter(|l| match rest.iter().position(|r| r == *l) {
            Some(i) => {
                rest.remove(i);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

/// A host process listening on `addr:port`: answers "host" to every connection.
struct HostListener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostListener {
    fn bind(addr: IpAddr, port: u16) -> HostListener {
        let listener =
            TcpListener::bind((addr, port)).unwrap_or_else(|e| panic!("bind {addr}:{port}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.write_all(b"host\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HostListener {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a TCP connection from this host to `addr:port` reads (empty when refused).
async fn read_from(addr: IpAddr, port: u16) -> String {
    tokio::task::spawn_blocking(move || {
        let Ok(mut s) =
            TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(3))
        else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        got.trim().to_string()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addport_refuses_a_port_a_host_process_listens_on_until_it_closes() {
    let (app, _serial) = lxd_app(|_| {}).await;
    let (name, _, _gone) = created(&app, "natbusy").await;
    let p = free_port();

    // a TCP listener on any address takes the port for TCP, not for UDP
    let tcp = TcpListener::bind(("0.0.0.0", p)).unwrap();
    let (status, body) = port_of(&app, "/api/addport", &name, "tcp", p, 8080).await;
    assert_eq!(
        (status, body["code"].as_u64(), body["msg"].as_str()),
        (
            409,
            Some(409),
            Some(format!("外部端口 {p}（TCP）已被本机进程监听，不能转发").as_str())
        ),
        "{body}"
    );
    let (status, body) = port_of(&app, "/api/addport", &name, "udp", p, 8080).await;
    assert_eq!(status, 200, "UDP {p} is free: {body}");

    // a bound UDP socket takes the port for UDP
    let q = free_port();
    let udp = UdpSocket::bind(("0.0.0.0", q)).unwrap();
    let (status, body) = port_of(&app, "/api/addport", &name, "udp", q, 53).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (
            409,
            Some(format!("外部端口 {q}（UDP）已被本机进程监听，不能转发").as_str())
        ),
        "{body}"
    );
    // an IPv6 listener ([::], dual-stack) too, where this host has IPv6
    let r = free_port();
    if let Ok(v6) = TcpListener::bind(("::", r)) {
        let (status, body) = port_of(&app, "/api/addport", &name, "tcp", r, 8080).await;
        assert_eq!(status, 409, "[::]:{r}: {body}");
        drop(v6);
    }
    let rows = |p: u16| {
        app.count(&format!(
            "SELECT count(*) AS n FROM nat_rules WHERE ext_port = {p}"
        ))
    };
    assert_eq!(
        (rows(p), rows(q)),
        (1, 0),
        "the refused rules were not stored"
    );

    // closed, the ports can be forwarded
    drop(tcp);
    drop(udp);
    for (proto, ext) in [("tcp", p), ("udp", q)] {
        eventually(
            &format!("addport {proto} {ext} after the socket closed"),
            async || {
                let (status, body) = port_of(&app, "/api/addport", &name, proto, ext, 9000).await;
                assert!(status == 200 || status == 409, "{body}");
                (status == 200).then_some(())
            },
        )
        .await;
    }
    let (_, list) = call(&app, "GET", &format!("/api/natlist?hostname={name}"), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 4, "SSH + 3: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_listen_on_the_default_route_address_and_never_on_a_bridge() {
    let (app, _serial) = lxd_app(|_| {}).await;
    assert!(app.state.settings.zjmf.nat_listen_ip.is_empty());
    let public = addresses_of(&default_interface());
    assert!(
        !public.is_empty(),
        "this host's default route interface has an IPv4 address"
    );
    let listen = suanli::ops::nat::listen(&app.state).await;
    assert_eq!(listen.addresses(), public, "{listen:?}");

    // the settings page says so
    let admin = app.admin().await;
    let page = admin.text("/settings").await;
    let shown = public
        .iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        page.contains(&format!("<code id=\"nat-listen-addresses\">{shown}</code>"))
            && page.contains(&format!("<code>{}</code>", default_interface())),
        "{page}"
    );

    let (name, _, _gone) = created(&app, "natbr").await;
    pong_server(&name, 8080);
    let ext = free_port();
    let (status, body) = port_of(&app, "/api/addport", &name, "tcp", ext, 8080).await;
    assert_eq!(status, 200, "{body}");

    // host processes on the bridges' and loopback's address of that port keep it
    let mut bridges: Vec<Ipv4Addr> = addresses_of("docker0");
    bridges.extend(addresses_of(&app.state.settings.zjmf.bridge));
    assert!(
        bridges.len() >= 2,
        "docker0 and the LXD bridge have addresses: {bridges:?}"
    );
    let mut own: Vec<Ipv4Addr> = bridges.clone();
    own.push(Ipv4Addr::LOCALHOST);
    let listeners: Vec<HostListener> = own
        .iter()
        .map(|a| HostListener::bind((*a).into(), ext))
        .collect();
    for addr in &own {
        assert_eq!(
            read_from((*addr).into(), ext).await,
            "host",
            "{addr}:{ext} from this host"
        );
    }
    // … from a Docker container and from the LXD container too (PREROUTING)
    let (docker0, lxdbr) = (
        bridges[0].to_string(),
        bridges[bridges.len() - 1].to_string(),
    );
    let (ok, out) = run(&[
        "docker",
        "run",
        "--rm",
        "suanli-test/busybox:1",
        "nc",
        "-w",
        "3",
        &docker0,
        &ext.to_string(),
    ]);
    assert_eq!(
        (ok, out.as_str()),
        (true, "host"),
        "{docker0}:{ext} from a Docker container"
    );
    let (ok, out) = lxc(&[
        "exec",
        &name,
        "--",
        "nc",
        "-w",
        "3",
        &lxdbr,
        &ext.to_string(),
    ]);
    assert_eq!(
        (ok, out.as_str()),
        (true, "host"),
        "{lxdbr}:{ext} from the LXD container"
    );

    // … while the default route's address is the container's
    for addr in &public {
        let got = eventually(&format!("pong on {addr}:{ext}"), async || {
            let got = read_from((*addr).into(), ext).await;
            (got == "pong").then_some(got)
        })
        .await;
        assert_eq!(got, "pong");
    }

    // a delport stops the forward at once (its lines are masked; nothing listens on the
    // host's side of that address), and the port forwarded again reaches the container
    // at once (the masked lines are reaped first, or they would mask the new ones)
    drop(listeners);
    let (status, body) = port_of(&app, "/api/delport", &name, "tcp", ext, 8080).await;
    assert_eq!(status, 200, "{body}");
    for addr in &public {
        assert_eq!(
            read_from((*addr).into(), ext).await,
            "",
            "{addr}:{ext} after delport"
        );
    }
    let (status, body) = port_of(&app, "/api/addport", &name, "tcp", ext, 8080).await;
    assert_eq!(status, 200, "{body}");
    for addr in &public {
        assert_eq!(
            read_from((*addr).into(), ext).await,
            "pong",
            "{addr}:{ext} re-added"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_addport_or_delport_changes_only_its_own_lines() {
    let (app, _serial) = lxd_app(|_| {}).await;
    let chain = app.state.settings.zjmf.nat_chain.clone();
    let (name, _, _gone) = created(&app, "natinc").await;
    let addrs = suanli::ops::nat::listen(&app.state).await.addresses().len();
    let (a, b) = (free_port(), free_port());
    let (status, body) = port_of(&app, "/api/addport", &name, "tcp", a, 8080).await;
    assert_eq!(status, 200, "{body}");

    let before = our_lines(&chain);
    let (status, body) = port_of(&app, "/api/addport", &name, "tcp", b, 8081).await;
    assert_eq!(status, 200, "{body}");
    let after = our_lines(&chain);
    assert_eq!(minus(&before, &after), Vec::<String>::new(), "no line went");
    let added = minus(&after, &before);
    assert_eq!(
        added.len(),
        addrs,
        "a DNAT line per listen address, nothing else: {added:#?}"
    );
    assert!(
        added.iter().all(|l| l.contains(&format!("suanli:{name}:"))),
        "{added:#?}"
    );
    let dnat = added
        .iter()
        .filter(|l| l.contains(&format!("--dport {b} ")) && l.contains("DNAT"))
        .count();
    assert_eq!(dnat, addrs, "{added:#?}");
    let (status, _) = port_of(&app, "/api/delport", &name, "tcp", b, 8081).await;
    assert_eq!(status, 200);
    let masked = our_lines(&chain);
    assert_eq!(
        minus(&before, &masked),
        Vec::<String>::new(),
        "no line went"
    );
    let masks = minus(&masked, &after);
    assert_eq!(masks.len(), addrs, "a mask per listen address: {masks:#?}");
    assert!(
        masks.iter().all(|l| l.contains(&format!("--dport {b} "))
            && l.contains(&format!("suanli-gone:{name}:"))
            && l.ends_with("-j RETURN")),
        "{masks:#?}"
    );
    // the reap (the sampler's, every few seconds; here called) takes them with the lines
    suanli::ops::nat::reap(&app.state).await.unwrap();
    assert_eq!(
        our_lines(&chain),
        before,
        "the delport took exactly its lines"
    );

    // a shard chain gone behind the server's back: the next add rewrites every chain
    let k = b / 1024;
    let (lo, hi) = (u32::from(k) * 1024, u32::from(k) * 1024 + 1023);
    let shard = format!("{chain}-N{k}");
    for args in [
        vec![
            "-D",
            &format!("{chain}-NAT"),
            "-m",
            "conntrack",
            "--ctorigdstport",
            &format!("{lo}:{hi}"),
            "-j",
            &shard,
        ],
        vec!["-F", &shard],
        vec!["-X", &shard],
    ] {
        let (ok, out) = run(&[&["iptables", "-w", "-t", "nat"][..], &args].concat());
        assert!(ok, "{args:?}: {out}");
    }
    let (status, body) = port_of(&app, "/api/addport", &name, "tcp", b, 8081).await;
    assert_eq!(status, 200, "{body}");
    // the same lines, the re-added rule under its new id
    let without_ids = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| match l.split_once(&format!("suanli:{name}:")) {
                Some((head, tail)) => {
                    format!("{head}{}", tail.trim_start_matches(char::is_numeric))
                }
                None => l,
            })
            .collect()
    };
    let again = our_lines(&chain);
    assert_eq!(
        without_ids(again.clone()),
        without_ids(after),
        "rewritten from the store"
    );
    let added = minus(&again, &before);
    // its line gone behind the server's back: the reap after the delport rewrites
    let line = added.iter().find(|l| l.contains("DNAT")).unwrap();
    let rule: Vec<&str> = line
        .trim_start_matches("nat -A ")
        .split_whitespace()
        .collect();
    let rule: Vec<String> = rule
        .iter()
        .map(|w| w.trim_matches('"').to_string())
        .collect();
    let mut args = vec!["iptables", "-w", "-t", "nat", "-D"];
    args.extend(rule.iter().map(String::as_str));
    let (ok, out) = run(&args);
    assert!(ok, "{out}");
    let (status, _) = port_of(&app, "/api/delport", &name, "tcp", b, 8081).await;
    assert_eq!(status, 200);
    suanli::ops::nat::reap(&app.state).await.unwrap();
    assert_eq!(our_lines(&chain), before);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM nat_rules WHERE ext_port = {b}"
        )),
        0
    );
}

/// The settings page in a real browser, in both languages, on a desktop and a phone: it
/// says where forwards listen (the default route's interface and its addresses) and
/// nothing of it runs off the side. The PNGs go to $SUANLI_SCREENSHOTS when it is set.
#[tokio::test]
async fn the_settings_page_shows_where_forwards_listen_in_a_browser() {
    let app = TestApp::spawn().await;
    app.admin().await; // the forced password change, done
    let browser = crate::browser::Browser::launch().await;
    browser
        .log_in(&app.base, "admin", crate::helpers::PASSWORD)
        .await;
    browser.wait_for_page("/").await;
    let interface = default_interface();
    let shown = addresses_of(&interface)
        .iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let shots = std::env::var_os("SUANLI_SCREENSHOTS").map(std::path::PathBuf::from);
    for (lang, says) in [
        ("zh-CN", "默认路由网卡"),
        ("en", "the default route's interface"),
    ] {
        browser
            .goto(&format!("{}/lang/{lang}?next=/settings", app.base))
            .await;
        browser.wait_for_page("/settings").await;
        for (width, height) in [(1440, 900), (390, 844)] {
            browser.resize(width, height).await;
            let text = browser
                .wait_until(
                    "the NAT facts",
                    "document.getElementById('nat-listen')?.innerText",
                )
                .await;
            let text = text.as_str().unwrap_or_default();
            assert!(
                text.contains(&shown) && text.contains(&interface) && text.contains(says),
                "{lang} {width}: {text}"
            );
            // nothing of the ZJMF facts runs past the right edge
            let wide = browser
                .execute(
                    "return [...document.querySelectorAll('#zjmf-settings, #zjmf-settings *')]\
                     .filter((e) => e.getBoundingClientRect().right > window.innerWidth)\
                     .map((e) => e.tagName + ' ' + e.textContent.trim().slice(0, 40));",
                )
                .await;
            assert_eq!(
                wide,
                serde_json::json!([]),
                "{lang} {width}: past the right edge"
            );
            browser
                .execute("document.getElementById('zjmf-settings').scrollIntoView(); return true;")
                .await;
            if let Some(dir) = &shots {
                std::fs::create_dir_all(dir).unwrap();
                let png = browser.screenshot().await;
                std::fs::write(
                    dir.join(format!("settings-{lang}-{width}x{height}.png")),
                    png,
                )
                .unwrap();
            }
        }
    }
}
