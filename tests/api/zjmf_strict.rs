//! The plugin API is strict and always answers `{"code","msg"}` JSON with a Chinese
//! message, framework-level refusals included: a wrong method (405), an unknown path
//! (404), a body over the limit (413, with and without a declared length), bad query or
//! form encoding, malformed JSON, non-string passwords and numbers out of bounds (400,
//! naming the field). Real server, real HTTP (raw sockets where reqwest cannot send the
//! request); the numbers' ceilings against the real LXD host.

use std::io::{Read, Write};

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::zjmf::{Gone, LXD_IMAGE, TOKEN, lxc, lxd_app};

/// An app with the API on; no LXD lock: nothing here makes a container.
async fn api_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.zjmf.api_tokens = suanli::config::Secret::new(TOKEN);
    })
    .await
}

/// The host as LXD counts it: (CPU threads, memory in LXD's MB).
fn host() -> (u64, u64) {
    let (ok, out) = lxc(&["query", "/1.0/resources"]);
    assert!(ok, "lxc query /1.0/resources");
    let r: Value = serde_json::from_str(&out).unwrap();
    (
        r["cpu"]["total"].as_u64().unwrap(),
        r["memory"]["total"].as_u64().unwrap() / 1_000_000,
    )
}

/// One answer: its status, Allow header and JSON body — which must be `{"code","msg"}`
/// with `code` equal to the status and a message in Chinese.
#[derive(Debug)]
struct Answer {
    status: u16,
    allow: Option<String>,
    json: Value,
}

impl Answer {
    fn new(status: u16, content_type: &str, allow: Option<String>, body: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(body);
        assert!(
            content_type.starts_with("application/json"),
            "{status}: content-type {content_type:?}: {text}"
        );
        let json: Value =
            serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        assert_eq!(json["code"], json!(status), "code = status: {json}");
        let msg = json["msg"].as_str().unwrap_or_default();
        assert!(
            msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "a Chinese message: {json}"
        );
        Answer {
            status,
            allow,
            json,
        }
    }

    fn msg(&self) -> &str {
        self.json["msg"].as_str().unwrap_or_default()
    }
}

/// A call through reqwest; `body` is sent as is (no Content-Type unless given).
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base))
        .header("apikey", TOKEN);
    if let Some(t) = content_type {
        req = req.header("content-type", t);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (ctype, allow) = (header("content-type").unwrap_or_default(), header("allow"));
    let bytes = res.bytes().await.unwrap();
    Answer::new(status, &ctype, allow, &bytes)
}

/// A request written byte for byte on a socket (for what reqwest refuses to send: raw
/// non-ASCII bytes in the target, a chunked body of our own making).
fn raw(app: &TestApp, head: &[u8], body: &[u8]) -> Answer {
    let addr = app.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut req = head.to_vec();
    req.extend_from_slice(
        format!("\r\nHost: {addr}\r\napikey: {TOKEN}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    s.write_all(&req).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let body = &out[split + 4..];
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    Answer::new(
        status,
        &header("content-type").unwrap_or_default(),
        header("allow"),
        body,
    )
}

/// The status of a raw request whose answer may not be JSON.
fn raw_status(app: &TestApp, head: &[u8]) -> u16 {
    let addr = app.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(head).unwrap();
    s.write_all(format!("\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let head = String::from_utf8_lossy(&out);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A chunked body: `data` in chunks of 4 KiB, then the last chunk.
fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(4096) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A create body as the plugin sends it, with `field` set to `value`.
fn create_with(name: &str, field: &str, value: Value) -> Vec<u8> {
    let mut b = json!({"hostname": name, "password": "Init!pass123", "cpu": "1", "disk": "512",
        "ram": "256", "system": LXD_IMAGE, "up": "", "down": "0", "ports": "3", "bandwidth": ""});
    b[field] = value;
    b.to_string().into_bytes()
}

/// (why, method, path, content type, body, status, message, Allow)
type Case<'a> = (
    &'a str,
    &'a str,
    String,
    Option<&'a str>,
    Option<Vec<u8>>,
    u16,
    String,
    Option<&'a str>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_json_with_a_chinese_message_naming_the_problem() {
    let app = api_app().await;
    let name = crate::instances::unique("strict");
    let over = vec![b' '; suanli::web::api::BODY_MAX + 1];
    let form = "application/x-www-form-urlencoded";
    let port_form = |extra: &str| format!("dtype=tcp&dport=20001&sport=22{extra}").into_bytes();
    let cases: Vec<Case> = vec![
        (
            "GET on a POST route",
            "GET",
            "/api/create".into(),
            None,
            None,
            405,
            "此接口不接受 GET 请求，请使用 POST".into(),
            Some("POST"),
        ),
        (
            "POST on a GET route",
            "POST",
            "/api/check".into(),
            None,
            Some(b"{}".to_vec()),
            405,
            "此接口不接受 POST 请求，请使用 GET".into(),
            Some("GET"),
        ),
        (
            "PUT",
            "PUT",
            "/api/getinfo?hostname=vm1".into(),
            None,
            None,
            405,
            "此接口不接受 PUT 请求，请使用 GET".into(),
            Some("GET"),
        ),
        (
            "DELETE",
            "DELETE",
            "/api/delete?hostname=vm1".into(),
            None,
            None,
            405,
            "此接口不接受 DELETE 请求，请使用 GET".into(),
            Some("GET"),
        ),
        (
            "OPTIONS",
            "OPTIONS",
            "/api/addport".into(),
            None,
            None,
            405,
            "此接口不接受 OPTIONS 请求，请使用 POST".into(),
            Some("POST"),
        ),
        (
            "unknown path",
            "GET",
            "/api/nothing-here".into(),
            None,
            None,
            404,
            "接口不存在".into(),
            None,
        ),
        (
            "unknown path, POST",
            "POST",
            "/api/nothing-here".into(),
            None,
            None,
            404,
            "接口不存在".into(),
            None,
        ),
        (
            "the scope itself",
            "GET",
            "/api".into(),
            None,
            None,
            404,
            "接口不存在".into(),
            None,
        ),
        (
            "below a route",
            "GET",
            "/api/check/more".into(),
            None,
            None,
            404,
            "接口不存在".into(),
            None,
        ),
        (
            "a body one byte over",
            "POST",
            "/api/create".into(),
            Some("application/json"),
            Some(over.clone()),
            413,
            "请求体过大（上限 65536 字节）".into(),
            None,
        ),
        (
            "a form one byte over",
            "POST",
            "/api/addport".into(),
            Some(form),
            Some(over.clone()),
            413,
            "请求体过大（上限 65536 字节）".into(),
            None,
        ),
        (
            "a password body 1 MiB over",
            "POST",
            "/api/password".into(),
            None,
            Some(vec![b'x'; 1 << 20]),
            413,
            "请求体过大（上限 65536 字节）".into(),
            None,
        ),
        (
            "a bad UTF-8 byte in the query",
            "GET",
            "/api/getinfo?hostname=%FF".into(),
            None,
            None,
            400,
            "参数 hostname 不是有效的 UTF-8 URL 编码".into(),
            None,
        ),
        (
            "a broken UTF-8 sequence in an unused field",
            "GET",
            "/api/check?x=%C3%28".into(),
            None,
            None,
            400,
            "参数 x 不是有效的 UTF-8 URL 编码".into(),
            None,
        ),
        (
            "a bad escape",
            "GET",
            "/api/natlist?hostname=vm%zz".into(),
            None,
            None,
            400,
            "参数 hostname 不是有效的 UTF-8 URL 编码".into(),
            None,
        ),
        (
            "a field twice",
            "GET",
            "/api/boot?hostname=a&hostname=b".into(),
            None,
            None,
            400,
            "参数 hostname 重复".into(),
            None,
        ),
        (
            "bad UTF-8 in a form body",
            "POST",
            "/api/addport".into(),
            Some(form),
            Some(port_form("&hostname=%FF")),
            400,
            "参数 hostname 不是有效的 UTF-8 URL 编码".into(),
            None,
        ),
        (
            "bad UTF-8 in the query of a form call",
            "POST",
            "/api/delport?hostname=%FE".into(),
            Some(form),
            Some(port_form("")),
            400,
            "参数 hostname 不是有效的 UTF-8 URL 编码".into(),
            None,
        ),
        (
            "truncated JSON",
            "POST",
            "/api/create".into(),
            Some("application/json"),
            Some(br#"{"hostname": "#.to_vec()),
            400,
            "请求体不是有效的 JSON 对象".into(),
            None,
        ),
        (
            "a JSON list",
            "POST",
            "/api/create".into(),
            Some("application/json"),
            Some(b"[1]".to_vec()),
            400,
            "请求体不是有效的 JSON 对象".into(),
            None,
        ),
        (
            "no body",
            "POST",
            "/api/reinstall".into(),
            None,
            None,
            400,
            "请求体不是有效的 JSON 对象".into(),
            None,
        ),
        (
            "a form where JSON is expected",
            "POST",
            "/api/password".into(),
            Some(form),
            Some(b"hostname=vm1&password=x".to_vec()),
            400,
            "请求体不是有效的 JSON 对象".into(),
            None,
        ),
        (
            "JSON under a form content type is read (as the plugin may send it)",
            "POST",
            "/api/password".into(),
            Some(form),
            Some(br#"{"hostname": "vm1"}"#.to_vec()),
            400,
            "缺少参数 password".into(),
            None,
        ),
        (
            "a number as password (create)",
            "POST",
            "/api/create".into(),
            Some("application/json"),
            Some(create_with(&name, "password", json!(12345678))),
            400,
            "参数 password 必须是字符串".into(),
            None,
        ),
        (
            "a number as password",
            "POST",
            "/api/password".into(),
            Some("application/json"),
            Some(br#"{"hostname": "vm1", "password": 12345678}"#.to_vec()),
            400,
            "参数 password 必须是字符串".into(),
            None,
        ),
        (
            "a list as password (reinstall)",
            "POST",
            "/api/reinstall".into(),
            Some("application/json"),
            Some(br#"{"hostname": "vm1", "password": ["x"], "system": ""}"#.to_vec()),
            400,
            "参数 password 必须是字符串".into(),
            None,
        ),
        (
            "a number as hostname",
            "POST",
            "/api/password".into(),
            Some("application/json"),
            Some(br#"{"hostname": 7, "password": "x"}"#.to_vec()),
            400,
            "参数 hostname 必须是字符串".into(),
            None,
        ),
    ];
    let (cores, ram_mb) = host();
    let numbers: Vec<(&str, &str, Value, String)> = vec![
        (
            "cpu beyond the host",
            "cpu",
            json!(cores + 1),
            format!("参数 cpu 超过宿主机的 CPU 核数（{cores}）"),
        ),
        (
            "cpu beyond the host, as text",
            "cpu",
            json!((cores + 1).to_string()),
            format!("参数 cpu 超过宿主机的 CPU 核数（{cores}）"),
        ),
        (
            "cpu 1e30",
            "cpu",
            json!(1e30),
            "参数 cpu 超出范围（应为 1 到 8192 之间的整数）".into(),
        ),
        (
            "cpu \"1e30\"",
            "cpu",
            json!("1e30"),
            "参数 cpu 必须是整数".into(),
        ),
        (
            "cpu u64::MAX",
            "cpu",
            json!(u64::MAX),
            "参数 cpu 超出范围（应为 1 到 8192 之间的整数）".into(),
        ),
        (
            "cpu 0",
            "cpu",
            json!("0"),
            "参数 cpu 超出范围（应为 1 到 8192 之间的整数）".into(),
        ),
        ("cpu NaN", "cpu", json!("NaN"), "参数 cpu 必须是整数".into()),
        ("cpu 1.5", "cpu", json!(1.5), "参数 cpu 必须是整数".into()),
        (
            "ram beyond the host",
            "ram",
            json!(ram_mb + 1),
            format!("参数 ram 超过宿主机的内存（{ram_mb} MB）"),
        ),
        (
            "ram 1e20",
            "ram",
            json!(1e20),
            "参数 ram 超出范围（应为 32 到 1073741824 之间的整数）".into(),
        ),
        (
            "ram negative",
            "ram",
            json!(-1024),
            "参数 ram 超出范围（应为 32 到 1073741824 之间的整数）".into(),
        ),
        (
            "disk 1e20",
            "disk",
            json!(1e20),
            "参数 disk 超出范围（应为 64 到 1073741824 之间的整数）".into(),
        ),
        (
            "disk as a 30-digit string",
            "disk",
            json!("100000000000000000000000000000"),
            "参数 disk 超出范围（应为 64 到 1073741824 之间的整数）".into(),
        ),
        (
            "bandwidth 1e20",
            "bandwidth",
            json!(1e20),
            "参数 bandwidth 超出范围（应为 0 到 1073741824 之间的整数）".into(),
        ),
        (
            "bandwidth Infinity",
            "bandwidth",
            json!("Infinity"),
            "参数 bandwidth 必须是整数".into(),
        ),
        (
            "up 1e20",
            "up",
            json!(1e20),
            "参数 up 超出范围（应为 0 到 100000 之间的整数）".into(),
        ),
        (
            "down -1",
            "down",
            json!("-1"),
            "参数 down 超出范围（应为 0 到 100000 之间的整数）".into(),
        ),
        (
            "ports 65536",
            "ports",
            json!(65536),
            "参数 ports 超出范围（应为 0 到 65535 之间的整数）".into(),
        ),
        (
            "ports true",
            "ports",
            json!(true),
            "参数 ports 必须是整数".into(),
        ),
    ];
    let mut failures = Vec::new();
    let mut check = |why: &str, a: Answer, status: u16, msg: &str, allow: Option<&str>| {
        if (a.status, a.msg(), a.allow.as_deref()) != (status, msg, allow) {
            failures.push(format!("{why}: {a:?}"));
        }
    };
    for (why, method, path, ctype, body, status, msg, allow) in cases {
        check(
            why,
            send(&app, method, &path, ctype, body).await,
            status,
            &msg,
            allow,
        );
    }
    for (why, field, value, msg) in numbers {
        let a = send(
            &app,
            "POST",
            "/api/create",
            Some("application/json"),
            Some(create_with(&name, field, value)),
        )
        .await;
        check(why, a, 400, &msg, None);
    }
    // what reqwest will not send: a body without a length
    let too_big = chunked(&vec![b'x'; 200_000]);
    let a = raw(
        &app,
        b"POST /api/create HTTP/1.1\r\nTransfer-Encoding: chunked",
        &too_big,
    );
    check(
        "a chunked body over the limit",
        a,
        413,
        "请求体过大（上限 65536 字节）",
        None,
    );
    let a = raw(
        &app,
        b"POST /api/create HTTP/1.1\r\nTransfer-Encoding: chunked",
        &chunked(b"{\"hostname\": \"vm1\"}"),
    );
    check(
        "a small chunked body is read",
        a,
        400,
        "缺少参数 password",
        None,
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // Raw bytes above 0x7F in the request line (valid UTF-8 or not) are not HTTP: the
    // parser (httparse) refuses the request with a bare 400 before any code of ours sees
    // it; there is no hook to shape that answer. Percent-encoded, they are ours (above).
    for target in [
        &b"/api/getinfo?hostname=vm\xff1"[..],
        "/api/getinfo?hostname=算力".as_bytes(),
    ] {
        let mut line = b"GET ".to_vec();
        line.extend_from_slice(target);
        line.extend_from_slice(b" HTTP/1.1");
        assert_eq!(
            raw_status(&app, &line),
            400,
            "{}",
            String::from_utf8_lossy(target)
        );
    }

    // none of it made anything
    assert!(!lxc(&["info", &name]).0, "{name} in LXD");
    assert_eq!(app.count("SELECT count(*) AS n FROM lxd_containers"), 0);
}

#[tokio::test]
async fn the_key_comes_before_the_method_and_closed_routes_stay_closed() {
    let app = api_app().await;
    let res = reqwest::Client::new()
        .post(format!("{}/api/check", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "without the key nothing is told");
    let json: Value = res.json().await.unwrap();
    assert_eq!(json, json!({"code": 401, "msg": "认证失败或API密钥无效"}));
    // the admin takes the API's role off a route: 403 in the same shape
    app.sql("UPDATE api_permissions SET allowed_roles = '{}' WHERE path_pattern = '/api/getinfo'");
    let a = send(&app, "GET", "/api/getinfo?hostname=vm1", None, None).await;
    assert_eq!((a.status, a.msg()), (403, "该接口已被管理员关闭"));
    // a route with no record at all is denied (not 405: no other method has one either)
    app.sql("DELETE FROM api_permissions WHERE path_pattern = '/api/natlist'");
    let a = send(&app, "GET", "/api/natlist?hostname=vm1", None, None).await;
    assert_eq!((a.status, a.msg()), (403, "该接口已被管理员关闭"));
    let a = send(&app, "GET", "/api/check", None, None).await;
    assert_eq!((a.status, a.msg()), (200, "API连接正常"));
}

/// The largest product the bounds allow is one LXD takes: every core and all the memory
/// of the host, the largest disk, download rate (the upload rate needs the kernel's
/// `act_police`, which this machine lacks), ports and flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_product_the_bounds_allow_is_created_by_lxd() {
    let (app, _serial) = lxd_app(|_| {}).await;
    let (cores, ram_mb) = host();
    let name = crate::instances::unique("largest");
    let _gone = Gone(name.clone());
    let body = json!({"hostname": name, "password": "Init!pass123", "cpu": cores,
        "ram": ram_mb.to_string(), "disk": 1u64 << 30, "system": LXD_IMAGE, "up": "",
        "down": 100_000, "ports": "65535", "bandwidth": 1u64 << 30});
    let (status, reply) = crate::zjmf::call(&app, "POST", "/api/create", Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    let (status, info) =
        crate::zjmf::call(&app, "GET", &format!("/api/getinfo?hostname={name}"), None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["data"]["CPUCores"], json!(cores), "{info}");
    assert_eq!(info["data"]["Bandwidth"], json!(1u64 << 30), "{info}");
    let (status, reply) =
        crate::zjmf::call(&app, "GET", &format!("/api/delete?hostname={name}"), None).await;
    assert_eq!(status, 200, "{reply}");
}
