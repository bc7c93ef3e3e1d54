//! The ZJMF plugin's /api/ against the real LXD daemon of this machine (started by
//! scripts/test.sh with a dir pool, the lxdbr0 bridge and the busybox test image). The
//! calls are made as the PHP plugin makes them: `apikey` header, hostnames unencoded in
//! query strings, JSON bodies whose numbers may be strings or "".

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::TestApp;

pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const SECOND_TOKEN: &str = "second-token-0123456789";
pub const LXD_IMAGE: &str = "suanli-test/busybox-lxd";

/// LXD tests run one at a time: the shared LXD 5.0 daemon of this machine stopped
/// answering twice under several concurrent test apps (creates, execs, forced deletes and
/// a CPU sampler per app).
pub static LXD_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An app with the ZJMF API on (the test tokens), holding the LXD test lock.
pub async fn lxd_app(
    tweak: impl FnOnce(&mut suanli::config::Settings),
) -> (TestApp, tokio::sync::MutexGuard<'static, ()>) {
    let serial = LXD_SERIAL.lock().await;
    let app = TestApp::spawn_with(|s| {
        s.zjmf.api_tokens = suanli::config::Secret::new(format!("{TOKEN},{SECOND_TOKEN}"));
        tweak(s);
    })
    .await;
    (app, serial)
}

/// A unique container name for this test run (LXD is shared by all tests).
fn unique(prefix: &str) -> String {
    crate::instances::unique(prefix)
}

/// (HTTP status, JSON body) of a call with the test token.
pub async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call_with(app, Some(TOKEN), method, path, body).await
}

async fn call_with(
    app: &TestApp,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call_at(&app.base, key, method, path, body).await
}

/// (HTTP status, JSON) of an /api/ call to the panel at `base` (a server process of a
/// test's own, too).
pub async fn call_at(
    base: &str,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{base}{path}");
    let mut req = if method == "GET" {
        http.get(url)
    } else {
        http.post(url)
    };
    if let Some(key) = key {
        req = req.header("apikey", key);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, json)
}

/// `lxc` for what the tests check behind the API's back.
pub fn lxc(args: &[&str]) -> (bool, String) {
    let out = Command::new("lxc").args(args).output().expect("lxc CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// Removes the test's container however the test ends.
pub struct Gone(pub String);

impl Drop for Gone {
    fn drop(&mut self) {
        lxc(&["delete", "--force", &self.0]);
    }
}

/// Nothing of the container is left: not in LXD, not in the store, not in iptables.
fn assert_left_nothing(app: &TestApp, name: &str) {
    assert!(!lxc(&["info", name]).0, "{name} is still in LXD");
    for table in ["lxd_containers", "nat_rules"] {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE hostname = '{name}'");
        assert_eq!(app.count(&sql), 0, "{table}");
    }
    let chain = &app.state.settings.zjmf.nat_chain;
    for table in ["nat", "filter"] {
        let (_, rules) = run(&["iptables", "-w", "-t", table, "-S"]);
        let own = format!("-A {chain}-");
        let left: Vec<&str> = rules
            .lines()
            .filter(|l| l.starts_with(&own) && l.contains(name))
            .collect();
        assert!(left.is_empty(), "no rule left: {left:#?}");
    }
}

pub fn create_body(name: &str) -> Value {
    // as ZJMF sends text options: strings, and "" for unlimited
    json!({"hostname": name, "password": "Init!pass123", "cpu": "1", "disk": "512",
           "ram": "256", "system": LXD_IMAGE, "up": "", "down": "0", "ports": "3", "bandwidth": ""})
}

/// A container created through the API as the plugin creates it (code 200 asserted),
/// with its create reply; `Gone` removes it from LXD whatever the test did.
pub async fn created(app: &TestApp, prefix: &str) -> (String, Value, Gone) {
    let name = unique(prefix);
    let gone = Gone(name.clone());
    let (status, body) = call(app, "POST", "/api/create", Some(create_body(&name))).await;
    assert_eq!(status, 200, "{body}");
    (name, body, gone)
}

#[tokio::test]
async fn the_key_is_required_and_every_answer_is_json() {
    let (app, _serial) = lxd_app(|_| {}).await;
    let (status, body) = call(&app, "GET", "/api/check", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"code": 200, "msg": "API连接正常"}))
    );
    let (status, _) = call_with(&app, Some(SECOND_TOKEN), "GET", "/api/check", None).await;
    assert_eq!(status, 200, "a second token works (rotation)");
    let refused = json!({"code": 401, "msg": "认证失败或API密钥无效"});
    assert_eq!(
        call_with(&app, None, "GET", "/api/check", None).await,
        (401, refused.clone())
    );
    assert_eq!(
        call_with(
            &app,
            Some("wrong-token-0123456789abcdef"),
            "GET",
            "/api/getinfo?hostname=vm1",
            None
        )
        .await,
        (401, refused)
    );
    // parameters
    let (status, body) = call(&app, "GET", "/api/getinfo", None).await;
    assert_eq!(
        (status, body),
        (400, json!({"code": 400, "msg": "缺少参数 hostname"}))
    );
    let (status, body) = call(&app, "GET", "/api/getinfo?hostname=1bad", None).await;
    assert_eq!(
        (status, body),
        (400, json!({"code": 400, "msg": "参数 hostname 无效"}))
    );
    let (status, body) = call(&app, "GET", "/api/getinfo?hostname=no-such-box", None).await;
    assert_eq!(
        (status, body),
        (404, json!({"code": 404, "msg": "容器未找到"}))
    );
    let (status, body) = call(&app, "GET", "/api/boot?hostname=no-such-box", None).await;
    assert_eq!((status, body["msg"].as_str()), (404, Some("容器未找到")));
    let (status, body) = call(
        &app,
        "POST",
        "/api/create",
        Some(json!({"hostname": "vm1"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"code": 400, "msg": "缺少参数 password"}))
    );
    let mut bad = create_body("vm1");
    bad["ram"] = json!("lots");
    let (status, body) = call(&app, "POST", "/api/create", Some(bad)).await;
    assert_eq!(
        (status, body),
        (400, json!({"code": 400, "msg": "参数 ram 必须是整数"}))
    );
    // every route: the hostname missing, then unknown (natlist lists nothing, as the
    // plugin expects; delport finds no such rule)
    let form = |extra: &str| format!("dtype=tcp&dport=20001&sport=22{extra}");
    for (method, path, body) in [
        ("GET", "getinfo", None),
        ("GET", "delete", None),
        ("GET", "boot", None),
        ("GET", "stop", None),
        ("GET", "reboot", None),
        ("GET", "natlist", None),
        ("POST", "password", Some(json!({"password": "Pw!123456"}))),
        (
            "POST",
            "reinstall",
            Some(json!({"password": "Pw!123456", "system": ""})),
        ),
    ] {
        let (status, reply) = call(&app, method, &format!("/api/{path}"), body.clone()).await;
        assert_eq!(
            (status, reply),
            (400, json!({"code": 400, "msg": "缺少参数 hostname"})),
            "{path}"
        );
        let (path, body) = match body {
            None => (format!("/api/{path}?hostname=no-such-box"), None),
            Some(mut b) => {
                b["hostname"] = json!("no-such-box");
                (format!("/api/{path}"), Some(b))
            }
        };
        let (status, reply) = call(&app, method, &path, body).await;
        if path.contains("natlist") {
            assert_eq!((status, reply["data"].clone()), (200, json!([])));
        } else {
            assert_eq!(
                (status, reply["msg"].as_str()),
                (404, Some("容器未找到")),
                "{path}"
            );
        }
    }
    for (path, body, expected) in [
        ("addport", form(""), (400, "缺少参数 hostname")),
        (
            "addport",
            form("&hostname=no-such-box"),
            (404, "容器未找到"),
        ),
        (
            "delport",
            form("&hostname=no-such-box"),
            (404, "规则不存在"),
        ),
        (
            "addport",
            "hostname=no-such-box&dtype=tcp".into(),
            (400, "缺少参数 dport"),
        ),
        (
            "addport",
            form("&hostname=no-such-box").replace("tcp", "icmp"),
            (400, "参数 dtype 无效"),
        ),
    ] {
        let res = reqwest::Client::new()
            .post(format!("{}/api/{path}", app.base))
            .header("apikey", TOKEN)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let reply: Value = res.json().await.unwrap();
        assert_eq!(
            (status, reply["msg"].as_str()),
            (expected.0, Some(expected.1)),
            "{body}"
        );
    }
    let (status, body) = call(&app, "GET", "/api/nothing-here", None).await;
    assert_eq!((status, body["code"].clone()), (404, json!(404)));
    // not JSON at all
    let res = reqwest::Client::new()
        .post(format!("{}/api/create", app.base))
        .header("apikey", TOKEN)
        .body("hostname=vm1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], 400);
    // no session or CSRF token was needed, and the key never reaches the audit log
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_logs WHERE detail LIKE '%{TOKEN}%'"
        )),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_getinfo_power_password_delete_on_real_lxd() {
    let (app, _serial) = lxd_app(|_| {}).await;
    let (name, body, _gone) = created(&app, "zj").await;
    assert_eq!(body["code"], 200);
    assert_eq!(body["msg"], "容器创建成功");
    let ip = body["data"]["ip"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.99.0."), "{ip}");
    // the limits as LXD holds them; no rate keys for an unlimited product
    let (_, cpu) = lxc(&["config", "get", &name, "limits.cpu"]);
    let (_, mem) = lxc(&["config", "get", &name, "limits.memory"]);
    assert_eq!((cpu.as_str(), mem.as_str()), ("1", "256MB"));
    let (_, devices) = lxc(&["config", "device", "show", &name]);
    assert!(
        !devices.contains("limits.ingress") && !devices.contains("limits.egress"),
        "{devices}"
    );
    // the password was set with chpasswd
    let (_, shadow) = lxc(&["exec", &name, "--", "grep", "^root:", "/etc/shadow"]);
    assert!(shadow.starts_with("root:$6$"), "{shadow}");

    let (status, body) = call(&app, "POST", "/api/create", Some(create_body(&name))).await;
    assert_eq!(
        (status, body),
        (409, json!({"code": 409, "msg": "容器已存在"}))
    );

    let (status, info) = call(&app, "GET", &format!("/api/getinfo?hostname={name}"), None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["msg"], "获取成功");
    let d = &info["data"];
    assert_eq!(d["Hostname"], name.as_str());
    assert_eq!(d["Status"], "running");
    assert_eq!(d["CPUCores"], 1);
    assert_eq!(d["TotalRam"], 256);
    assert_eq!(d["TotalDisk"], 512);
    assert_eq!(d["IP"], ip.as_str());
    assert_eq!(
        d["Bandwidth"], 1_048_576,
        "the documented value for unlimited"
    );
    assert_eq!(d["ImageSourceAlias"], LXD_IMAGE);
    for key in ["UsedCPU", "UsedRam", "UsedDisk", "UseBandwidth"] {
        assert!(d[key].is_number(), "{key}: {d}");
    }

    // stop is idempotent, and the state follows
    for _ in 0..2 {
        let (status, body) = call(&app, "GET", &format!("/api/stop?hostname={name}"), None).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, info) = call(&app, "GET", &format!("/api/getinfo?hostname={name}"), None).await;
    assert_eq!(
        (info["data"]["Status"].as_str(), info["data"]["IP"].as_str()),
        (Some("stop"), Some("N/A"))
    );
    let body = json!({"hostname": name, "password": "New!pass456"});
    let (status, reply) = call(&app, "POST", "/api/password", Some(body.clone())).await;
    assert_eq!(
        (status, reply["msg"].as_str()),
        (400, Some("容器未运行，无法修改密码"))
    );
    for _ in 0..2 {
        let (status, body) = call(&app, "GET", &format!("/api/boot?hostname={name}"), None).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = call(&app, "GET", &format!("/api/reboot?hostname={name}"), None).await;
    assert_eq!(status, 200);
    let (_, state) = lxc(&["list", &name, "-c", "s", "--format", "csv"]);
    assert_eq!(state, "RUNNING");
    // the admin's LXD page: the container with its usage, the keys masked; its actions
    // are the same operations
    let admin = app.admin().await;
    let page = admin.text("/lxd").await;
    assert!(
        page.contains(&format!("id=\"lxd-{name}\" data-status=\"running\"")),
        "{page}"
    );
    assert!(page.contains("test…cdef") && page.contains(&format!("data-copy=\"{TOKEN}\"")));
    assert!(page.contains("0 GB / 不限"), "an unlimited flow: {page}");
    let r = admin
        .post_form(&format!("/lxd/{name}/power/stop"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let (_, state) = lxc(&["list", &name, "-c", "s", "--format", "csv"]);
    assert_eq!(state, "STOPPED");
    // from the page (HTMX): the action answers with the list and its notice; the list is
    // polled as a partial
    let r = admin
        .post_hx(&format!("/lxd/{name}/power/start"), &[])
        .await;
    assert_eq!(r.status(), 200);
    let list = r.text().await.unwrap();
    assert!(
        list.trim_start().starts_with("<div id=\"lxd-list\"")
            && list.contains("id=\"lxd-notice\"")
            && list.contains(&format!("id=\"lxd-{name}\" data-status=\"running\"")),
        "{list}"
    );
    let polled = admin.text_hx("/lxd").await;
    assert!(
        polled.trim_start().starts_with("<div id=\"lxd-list\"") && !polled.contains("lxd-notice"),
        "{polled}"
    );
    let detail = admin.text(&format!("/lxd/{name}")).await;
    assert!(
        detail.contains("id=\"nat-rules\"") && detail.contains("(SSH)"),
        "{detail}"
    );
    let r = admin
        .post_form(
            &format!("/lxd/{name}/ports"),
            &[("dtype", "tcp"), ("dport", "80"), ("sport", "80")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("参数 dport 无效"));
    // from the page (HTMX): adding and removing answer with the rules part and a notice;
    // a refusal is a 422 part that keeps what was typed
    let rule = [("dtype", "tcp"), ("dport", "41234"), ("sport", "8080")];
    let r = admin.post_hx(&format!("/lxd/{name}/ports"), &rule).await;
    assert_eq!(r.status(), 200);
    let part = r.text().await.unwrap();
    assert!(
        part.trim_start().starts_with("<div id=\"lxd-rules\">"),
        "{part}"
    );
    assert!(
        !part.contains("<html")
            && part.contains("id=\"rule-tcp-41234\"")
            && part.contains("转发规则已添加"),
        "{part}"
    );
    let r = admin
        .post_hx(
            &format!("/lxd/{name}/ports"),
            &[("dtype", "udp"), ("dport", "80"), ("sport", "53")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let part = r.text().await.unwrap();
    assert!(
        part.contains("参数 dport 无效")
            && part.contains("name=\"dport\" value=\"80\"")
            && part.contains("<option value=\"udp\" selected>")
            && part.contains("id=\"rule-tcp-41234\""),
        "{part}"
    );
    let r = admin
        .post_hx(&format!("/lxd/{name}/ports/delete"), &rule)
        .await;
    assert_eq!(r.status(), 200);
    let part = r.text().await.unwrap();
    assert!(
        !part.contains("rule-tcp-41234") && part.contains("转发规则已删除"),
        "{part}"
    );
    // in English, the refusal is in English too (the API's answers stay Chinese)
    admin.get("/lang/en").await;
    let r = admin
        .post_hx(
            &format!("/lxd/{name}/ports"),
            &[("dtype", "tcp"), ("dport", "80"), ("sport", "80")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let part = r.text().await.unwrap();
    assert!(part.contains("Invalid parameter dport"), "{part}");
    admin.get("/lang/zh-CN").await;

    let (status, reply) = call(&app, "POST", "/api/password", Some(body)).await;
    assert_eq!((status, reply["msg"].as_str()), (200, Some("密码修改成功")));
    let (_, after) = lxc(&["exec", &name, "--", "grep", "^root:", "/etc/shadow"]);
    assert_ne!(after, shadow, "the hash changed");

    let (status, body) = call(&app, "GET", &format!("/api/delete?hostname={name}"), None).await;
    assert_eq!(
        (status, body),
        (200, json!({"code": 200, "msg": "容器删除成功"}))
    );
    assert_left_nothing(&app, &name);
    let (status, _) = call(&app, "GET", &format!("/api/getinfo?hostname={name}"), None).await;
    assert_eq!(status, 404);
    let actions = app.count(&format!(
        "SELECT count(*) AS n FROM audit_logs WHERE resource_id = '{name}' AND method = 'API' AND action LIKE 'zjmf_%'"
    ));
    assert!(actions >= 8, "every action audited: {actions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_fails_halfway_leaves_nothing_and_can_be_retried() {
    let (app, _serial) = lxd_app(|_| {}).await;
    let name = unique("zjfail");
    let _gone = Gone(name.clone());
    // an image LXD does not have
    let mut body = create_body(&name);
    body["system"] = json!("no-such-image");
    let (status, reply) = call(&app, "POST", "/api/create", Some(body)).await;
    assert_eq!(status, 500, "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().starts_with("LXD 操作失败"),
        "{reply}"
    );
    // an upload limit (the container's egress) needs tc's police action, which this
    // kernel lacks (no act_police): LXD refuses to start the container
    let mut body = create_body(&name);
    body["up"] = json!("10");
    let (status, reply) = call(&app, "POST", "/api/create", Some(body)).await;
    assert_eq!(status, 500, "{reply}");
    assert_left_nothing(&app, &name);
    // the same name works afterwards, even past a stale row (its container was removed
    // behind the panel's back)
    app.sql(&format!(
        "INSERT INTO lxd_containers (hostname, cpu, disk_mb, ram_mb, image) VALUES ('{name}', 1, 512, 256, 'gone')"
    ));
    let (status, reply) = call(&app, "POST", "/api/create", Some(create_body(&name))).await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = call(&app, "GET", &format!("/api/delete?hostname={name}"), None).await;
    assert_eq!(status, 200);

    // a server that stops in the middle of a create: its row still says "creating", LXD
    // has the container, a forward is stored. The next start removes all of it.
    let cut = unique("zjcut");
    let _cut_gone = Gone(cut.clone());
    let (ok, out) = lxc(&["launch", LXD_IMAGE, &cut]);
    assert!(ok, "{out}");
    let ext = 40000 + (std::process::id() % 20000);
    app.sql(&format!(
        "INSERT INTO lxd_containers (hostname, cpu, disk_mb, ram_mb, image, creating) VALUES ('{cut}', 1, 512, 256, '{LXD_IMAGE}', true)"
    ));
    app.sql(&format!(
        "INSERT INTO nat_rules (hostname, proto, ext_port, int_port, is_ssh) VALUES ('{cut}', 'tcp', {ext}, 22, true)"
    ));
    let mut settings = crate::helpers::test_settings(&app.db.url, &app.data_dir);
    settings.zjmf.api_tokens = app.state.settings.zjmf.api_tokens.clone();
    settings.zjmf.nat_chain = app.state.settings.zjmf.nat_chain.clone();
    let _restarted = suanli::startup::Application::build(settings).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while lxc(&["info", &cut]).0
        || app.count(&format!(
            "SELECT count(*) AS n FROM lxd_containers WHERE hostname = '{cut}'"
        )) > 0
    {
        assert!(std::time::Instant::now() < deadline, "{cut} is still there");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_left_nothing(&app, &cut);
}

pub fn run(cmd: &[&str]) -> (bool, String) {
    let out = Command::new(cmd[0]).args(&cmd[1..]).output().expect(cmd[0]);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text.trim().to_string())
}

/// A client in a network namespace of its own that reaches this host over a veth pair
/// (addresses on this machine only), as a customer on the internet would.
pub struct ClientNet {
    ns: String,
    pub host_ip: String,
}

impl ClientNet {
    pub fn new() -> ClientNet {
        // one client network per test: the process id plus a counter
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = (std::process::id() + k) % 250 + 1;
        let ns = format!("suanli-nat-{n}");
        let (veth_host, veth_ns) = (format!("sln{n}h"), format!("sln{n}c"));
        let (host_ip, client_ip) = (format!("10.203.{n}.1"), format!("10.203.{n}.2"));
        let _ = run(&["ip", "netns", "del", &ns]);
        for cmd in [
            vec!["ip", "netns", "add", &ns],
            vec![
                "ip", "link", "add", &veth_host, "type", "veth", "peer", "name", &veth_ns,
            ],
            vec!["ip", "link", "set", &veth_ns, "netns", &ns],
            vec![
                "ip",
                "addr",
                "add",
                &format!("{host_ip}/30"),
                "dev",
                &veth_host,
            ],
            vec!["ip", "link", "set", &veth_host, "up"],
            vec![
                "ip",
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{client_ip}/30"),
                "dev",
                &veth_ns,
            ],
            vec![
                "ip", "netns", "exec", &ns, "ip", "link", "set", &veth_ns, "up",
            ],
            vec!["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"],
            vec![
                "ip", "netns", "exec", &ns, "ip", "route", "add", "default", "via", &host_ip,
            ],
        ] {
            let (ok, out) = run(&cmd);
            assert!(ok, "{cmd:?}: {out}");
        }
        ClientNet { ns, host_ip }
    }

    /// What a TCP connection to this host's `port` reads within 3 s.
    pub fn read(&self, port: u16) -> String {
        run(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "busybox",
            "nc",
            "-w",
            "3",
            &self.host_ip,
            &port.to_string(),
        ])
        .1
    }
}

impl Drop for ClientNet {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

/// Serves "pong" on the container's `port`, over and over.
pub fn pong_server(name: &str, port: u16) {
    let script = format!(
        "setsid sh -c 'while true; do echo pong | nc -l -p {port}; done' >/dev/null 2>&1 </dev/null &"
    );
    let (ok, out) = lxc(&["exec", name, "--", "sh", "-c", &script]);
    assert!(ok, "{out}");
}

/// The container's reachable forwards can take a moment to answer: the first read
/// retries while the listener starts.
fn pong_through(net: &ClientNet, port: u16) -> String {
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let got = net.read(port);
        if got.contains("pong") || std::time::Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// addport/delport as the plugin posts them (a form body), TCP.
pub async fn port(app: &TestApp, path: &str, name: &str, dport: u16, sport: u16) -> (u16, Value) {
    port_of(app, path, name, "tcp", dport, sport).await
}

/// addport/delport as the plugin posts them, with the protocol.
pub async fn port_of(
    app: &TestApp,
    path: &str,
    name: &str,
    proto: &str,
    dport: u16,
    sport: u16,
) -> (u16, Value) {
    let (dport, sport) = (dport.to_string(), sport.to_string());
    let fields = [
        ("hostname", name),
        ("dtype", proto),
        ("dport", &dport),
        ("sport", &sport),
    ];
    let res = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .header("apikey", TOKEN)
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forwards_reach_the_container_from_another_network_and_come_back_after_a_flush() {
    let net = ClientNet::new();
    let host_ip = net.host_ip.clone();
    let (app, _serial) = lxd_app(move |s| s.zjmf.nat_listen_ip = host_ip).await;
    let chain = app.state.settings.zjmf.nat_chain.clone();
    let (name, body, _gone) = created(&app, "zjnat").await;
    let ssh_port = body["data"]["ssh_port"].as_u64().unwrap();
    assert!((10000..=65535).contains(&ssh_port), "{body}");

    // the automatic SSH rule, listed as the plugin expects (all strings)
    let (_, list) = call(&app, "GET", &format!("/api/natlist?hostname={name}"), None).await;
    let rules = list["data"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{list}");
    assert_eq!(rules[0]["Dtype"], "TCP");
    assert_eq!(rules[0]["Dport"], ssh_port.to_string());
    assert_eq!(rules[0]["Sport"], "22");
    assert!(rules[0]["ID"].is_string());
    let (status, list) = call(&app, "GET", "/api/natlist?hostname=no-such-box", None).await;
    assert_eq!((status, list["data"].clone()), (200, json!([])));

    // a forward of our own, end to end from the client network (Docker's FORWARD policy
    // is DROP on this host: the accept rule must be there)
    let ext = 20000 + (std::process::id() % 20000) as u16;
    let (status, body) = port(&app, "/api/addport", &name, ext, 8080).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("端口转发添加成功")),
        "{body}"
    );
    pong_server(&name, 8080);
    assert_eq!(
        pong_through(&net, ext),
        "pong",
        "{}",
        run(&["iptables-save"]).1
    );
    let (_, filter) = run(&["iptables", "-w", "-S", "DOCKER-USER"]);
    assert!(filter.contains(&format!("-j {chain}-FWD")), "{filter}");

    // the same external port again: taken; the panel's and the jumpbox's own ports:
    // reserved; the rule limit (3, the automatic SSH rule not counted)
    let (status, body) = port(&app, "/api/addport", &name, ext, 9090).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (409, Some("外部端口已被占用"))
    );
    let panel_port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    for own in [panel_port, app.ssh_port] {
        let (status, body) = port(&app, "/api/addport", &name, own, 22).await;
        assert_eq!(
            (status, body["msg"].as_str()),
            (409, Some("外部端口为本服务器保留")),
            "port {own}"
        );
    }
    for (n, dport) in [ext + 1, ext + 2].into_iter().enumerate() {
        let (status, body) = port(&app, "/api/addport", &name, dport, 9091 + n as u16).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = port(&app, "/api/addport", &name, ext + 3, 9093).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (403, Some("端口转发数量已达上限（3）")),
        "{body}"
    );
    let (_, list) = call(&app, "GET", &format!("/api/natlist?hostname={name}"), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 4, "SSH + 3: {list}");
    let (status, _) = port(&app, "/api/delport", &name, ext + 1, 9091).await;
    assert_eq!(status, 200);
    let (status, body) = port(&app, "/api/delport", &name, ext + 1, 9091).await;
    assert_eq!((status, body["msg"].as_str()), (404, Some("规则不存在")));
    // one place left and five calls at once: exactly one gets it
    let racers = (0..5u16).map(|i| port(&app, "/api/addport", &name, ext + 10 + i, 7000 + i));
    let mut won: Vec<u16> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    won.sort();
    assert_eq!(won, [200, 403, 403, 403, 403]);
    let (status, body) = port(&app, "/api/addport", &name, 80, 80).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (400, Some("参数 dport 无效"))
    );

    // iptables forgets (a reboot): a restarted server puts the rules back
    let (ok, out) = run(&["iptables", "-w", "-t", "nat", "-F", &format!("{chain}-NAT")]);
    assert!(ok, "{out}");
    assert_ne!(net.read(ext), "pong");
    let mut settings = crate::helpers::test_settings(&app.db.url, &app.data_dir);
    settings.zjmf.api_tokens = app.state.settings.zjmf.api_tokens.clone();
    settings.zjmf.nat_listen_ip = net.host_ip.clone();
    settings.zjmf.nat_chain = chain.clone();
    let _restarted = suanli::startup::Application::build(settings).await.unwrap();
    assert_eq!(pong_through(&net, ext), "pong", "restored at start-up");

    // reinstall: a bad image fails with the old container untouched
    let (ok, out) = lxc(&["exec", &name, "--", "touch", "/root/old-root"]);
    assert!(ok, "{out}");
    let (_, shadow) = lxc(&["exec", &name, "--", "grep", "^root:", "/etc/shadow"]);
    let reinstall =
        |system: &str| json!({"hostname": name, "system": system, "password": "Re!install789"});
    let (status, body) = call(
        &app,
        "POST",
        "/api/reinstall",
        Some(reinstall("no-such-image")),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(lxc(&["exec", &name, "--", "test", "-e", "/root/old-root"]).0);
    let (_, all) = lxc(&["list", &format!("{name}-new"), "-c", "n", "--format", "csv"]);
    assert_eq!(all, "", "no scratch container left");
    // … and a good one rebuilds it: new root and password, same limits, same external
    // ports, the rules following the new address
    let (status, body) = call(&app, "POST", "/api/reinstall", Some(reinstall(""))).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("系统重装成功")),
        "{body}"
    );
    assert_eq!(body["data"]["ssh_port"].as_u64(), Some(ssh_port));
    assert!(!lxc(&["exec", &name, "--", "test", "-e", "/root/old-root"]).0);
    let (_, after) = lxc(&["exec", &name, "--", "grep", "^root:", "/etc/shadow"]);
    assert!(after.starts_with("root:$6$") && after != shadow, "{after}");
    let (_, mem) = lxc(&["config", "get", &name, "limits.memory"]);
    assert_eq!(mem, "256MB");
    let (_, list) = call(&app, "GET", &format!("/api/natlist?hostname={name}"), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 4, "SSH + 3: {list}");
    pong_server(&name, 8080);
    assert_eq!(
        pong_through(&net, ext),
        "pong",
        "the forward follows the new address"
    );

    // delete takes the rules with it
    let (status, _) = call(&app, "GET", &format!("/api/delete?hostname={name}"), None).await;
    assert_eq!(status, 200);
    assert_left_nothing(&app, &name);
}

/// A container the Flask backend made (plain `lxc launch`, limits in LXD's config, no row
/// of ours) and the Flask backend's rule file: after `suanli zjmf import` every route
/// serves the container and its forwards work end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_and_rules_from_the_flask_backend_are_served_after_import() {
    // the server and the import listen on the client network's address alike: the
    // server's own rewrites (an address changed) keep the imported forwards there
    let net = ClientNet::new();
    let host_ip = net.host_ip.clone();
    let (app, _serial) = lxd_app(move |s| s.zjmf.nat_listen_ip = host_ip).await;
    let chain = app.state.settings.zjmf.nat_chain.clone();
    let name = unique("zjold");
    let _gone = Gone(name.clone());
    let (ok, out) = lxc(&[
        "launch",
        LXD_IMAGE,
        &name,
        "-c",
        "limits.cpu=1",
        "-c",
        "limits.memory=128MB",
    ]);
    assert!(ok, "{out}");
    let info = crate::helpers::eventually("the imported container's address", async || {
        let info = call(&app, "GET", &format!("/api/getinfo?hostname={name}"), None)
            .await
            .1;
        info["data"]["IP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.99."))
            .then_some(info)
    })
    .await;
    let d = &info["data"];
    assert_eq!(d["Status"], "running", "{info}");
    assert_eq!(
        (d["CPUCores"].clone(), d["TotalRam"].clone()),
        (json!(1), json!(128))
    );
    assert!(d["TotalDisk"].as_i64().unwrap() > 0, "never 0: {info}");
    assert_eq!(d["Bandwidth"], 1_048_576);

    // the Flask backend's rule file: its own field names, unknown fields, a bad entry
    // and a port taken twice
    let ext = 30000 + (std::process::id() % 20000) as u16;
    let rules = json!([
        {"container_name": name, "protocol": "tcp", "external_port": ext,
         "internal_port": 8080, "created": "2025-01-01"},
        {"hostname": "1bad", "dtype": "tcp", "dport": ext + 1, "sport": 80},
        {"hostname": name, "dtype": "tcp", "dport": ext.to_string(), "sport": "9"}
    ]);
    let file = app.data_dir.join("iptables_rules.json");
    std::fs::write(&file, rules.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_suanli"))
        .args(["zjmf", "import", "--rules"])
        .arg(&file)
        .current_dir(&app.data_dir)
        .env("SUANLI__DATABASE__URL", &app.db.url)
        .env("SUANLI__SERVER__DATA_DIR", &app.data_dir)
        .env("SUANLI__ZJMF__NAT_CHAIN", &chain)
        .env("SUANLI__ZJMF__NAT_LISTEN_IP", &net.host_ip)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("imported 1 rule(s), applied"), "{stdout}");
    assert!(
        stdout.contains("skipped entry 1: bad container name"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "skipped entry 2: tcp port {ext} is already forwarded"
        )),
        "{stdout}"
    );
    pong_server(&name, 8080);
    assert_eq!(
        pong_through(&net, ext),
        "pong",
        "{}",
        run(&["iptables-save"]).1
    );

    // the other routes: no product limit on rules, power, password, delete
    let (_, list) = call(&app, "GET", &format!("/api/natlist?hostname={name}"), None).await;
    assert_eq!(list["data"][0]["Dport"], ext.to_string(), "{list}");
    let (status, _) = port(&app, "/api/addport", &name, ext + 2, 8081).await;
    assert_eq!(status, 200);
    for action in ["stop", "boot", "reboot"] {
        let (status, body) =
            call(&app, "GET", &format!("/api/{action}?hostname={name}"), None).await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    let body = json!({"hostname": name, "password": "Moved!pass123"});
    let (status, reply) = call(&app, "POST", "/api/password", Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = call(&app, "GET", &format!("/api/delete?hostname={name}"), None).await;
    assert_eq!(status, 200);
    assert_left_nothing(&app, &name);
}
