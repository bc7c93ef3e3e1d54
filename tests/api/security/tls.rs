//! The panel's own HTTPS (issue #14), with real TLS clients: reqwest (rustls with ring,
//! trusting only the CA the panel generated: nothing accepts an invalid certificate) and
//! headless Chromium, which logs in over https:// and uses the terminal's and the logs'
//! sockets over wss://. Also: the plain-HTTP port only redirects; HSTS and `Secure`
//! cookies; the certificate survives a restart of the real binary and is issued again by
//! the same CA when its names change; the operator's own files are served; bad ones stop
//! the start with a message naming the setting.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use serde_json::json;
use suanli::startup::Application;
use suanli::tls::fingerprint;

use crate::browser::Browser;
use crate::helpers::{PASSWORD, TestApp, TestDb, test_settings, trusting};

/// How long the binary may take to start (migrations included) or to stop.
const START: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(20);

/// An app serving HTTPS with a generated certificate, plain HTTP redirecting.
async fn tls_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.server.tls = true;
        s.server.http_redirect_listen = "127.0.0.1:0".into();
    })
    .await
}

fn https_addr(app: &TestApp) -> SocketAddr {
    app.base
        .strip_prefix("https://")
        .expect("an https base")
        .parse()
        .expect("addr")
}

/// A client trusting only `ca`, not following redirects, reporting the peer certificate.
fn client(ca: &str, resolve: Option<(&str, SocketAddr)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(Policy::none())
        .tls_info(true);
    if let Some((name, addr)) = resolve {
        b = b.resolve(name, addr);
    }
    trusting(b, ca).build().expect("client")
}

/// The DER of the certificate the server presented.
fn peer_cert(res: &reqwest::Response) -> Vec<u8> {
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("a TLS connection with a peer certificate")
        .to_vec()
}

/// The certificate's DNS names and IP addresses, as text.
fn sans(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("X.509");
    let san = cert
        .subject_alternative_name()
        .expect("SAN extension")
        .expect("has SANs");
    san.value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) if b.len() == 4 => {
                std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string()
            }
            GeneralName::IPAddress(b) => {
                std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string()
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The whole error chain, for matching the cause (rustls' reason sits deep in it).
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(&format!(" / {c}"));
        cause = c.source();
    }
    out
}

#[tokio::test]
async fn https_serves_the_panel_with_its_generated_certificate() {
    let app = tls_app().await;
    let https = app.state.https.get().expect("https is on");
    let ca = app.ca_pem.clone().expect("a generated CA");
    let addr = https_addr(&app);

    // a page over HTTPS, from the certificate the settings page names, with HSTS
    let res = client(&ca, None)
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("HTTPS with the generated CA");
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "strict-transport-security"),
        "max-age=31536000"
    );
    assert_eq!(header(&res, "x-frame-options"), "DENY");
    let der = peer_cert(&res);
    assert_eq!(fingerprint(&der), https.info.fingerprint);
    let names = sans(&der);
    for want in ["localhost", "127.0.0.1", "::1"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    if let Some(host) = suanli::domain::tls::CertName::parse(host.trim()) {
        assert!(names.contains(&host.to_string()), "{host} in {names:?}");
    }
    assert!(set_cookies(&res).iter().all(|c| c.contains("; Secure")));

    // by a name it carries; a name it does not carry is refused
    let res = client(&ca, Some(("localhost", addr)))
        .get(format!("https://localhost:{}/login", addr.port()))
        .send()
        .await
        .expect("localhost is one of its names");
    assert_eq!(res.status(), 200);
    let err = client(&ca, Some(("wrong.example", addr)))
        .get(format!("https://wrong.example:{}/login", addr.port()))
        .send()
        .await
        .expect_err("a name the certificate does not carry");
    let why = chain(&err);
    assert!(
        why.contains("NotValidForName") || why.contains("not valid for name"),
        "{why}"
    );
    // a client that does not trust the panel's CA refuses it
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let err = client(&stranger.cert.pem(), None)
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect_err("an untrusted issuer");
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
    // and the HTTPS port speaks no plain HTTP
    let plain = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let res = plain.get(format!("http://{addr}/login")).send().await;
    assert!(
        res.as_ref().map_or(true, |r| r.status() != 200),
        "plain HTTP on the HTTPS port: {res:?}"
    );

    // logging in sets Secure cookies only; the language cookie too
    let mut s = app.client();
    let res = s.login("admin", &app.admin_password).await;
    assert_eq!(res.status(), 303);
    let cookies = set_cookies(&res);
    assert!(!cookies.is_empty());
    for c in &cookies {
        assert!(
            c.contains("; Secure") && c.contains("HttpOnly"),
            "login cookie: {c}"
        );
    }
    let res = s.get("/lang/en?next=/login").await;
    assert_eq!(res.status(), 303);
    let lang = set_cookies(&res);
    assert!(
        lang.iter()
            .any(|c| c.starts_with("lang=en") && c.contains("; Secure")),
        "{lang:?}"
    );

    // the settings page shows the certificate and the CA, as the log does
    let admin = app.admin().await;
    let page = admin.text("/settings").await;
    assert!(
        page.contains(&format!(
            "<code id=\"tls-fingerprint\" class=\"fingerprint\">{}</code>",
            https.info.fingerprint
        )),
        "{page}"
    );
    let ca_info = https.info.ca.as_ref().expect("generated");
    let ca_der = rustls_pki_types::pem::PemObject::from_pem_slice(ca.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec());
    assert_eq!(fingerprint(&ca_der.unwrap()), ca_info.fingerprint);
    assert!(page.contains(&ca_info.fingerprint), "CA fingerprint shown");
    // the redirect port is never given to a port forward
    let redirect = https.redirect.expect("redirects on").port().to_string();
    let reserved = page
        .split("<code id=\"reserved-ports\">")
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .expect("the reserved ports");
    assert!(
        reserved.split(", ").any(|p| p == redirect),
        "{redirect} in {reserved}"
    );
    assert!(
        page.contains(&format!("<code>https://{addr}</code>")),
        "the address"
    );
}

#[tokio::test]
async fn plain_http_only_redirects_to_https() {
    let app = tls_app().await;
    let https = app.state.https.get().unwrap();
    let redirect = https.redirect.expect("the redirect port");
    let port = https_addr(&app).port();
    let plain = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let at = |path: &str| format!("http://{redirect}{path}");

    // path and query kept, the request's own host, the HTTPS port; no page, no cookie
    for (path, host, want) in [
        (
            "/instances?page=2&q=a%20b",
            None,
            format!("https://127.0.0.1:{port}/instances?page=2&q=a%20b"),
        ),
        ("/", None, format!("https://127.0.0.1:{port}/")),
        (
            "/login",
            Some("localhost"),
            format!("https://localhost:{port}/login"),
        ),
        (
            "//evil.example/x",
            Some("Panel.Example:8080"),
            format!("https://panel.example:{port}//evil.example/x"),
        ),
        (
            "/api/check",
            Some("[::1]:80"),
            format!("https://[::1]:{port}/api/check"),
        ),
    ] {
        let mut req = plain.get(at(path));
        if let Some(h) = host {
            req = req.header("host", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 301, "{path}");
        assert_eq!(header(&res, "location"), want, "{path} {host:?}");
        assert!(set_cookies(&res).is_empty(), "{path}: no session over HTTP");
    }
    // other methods keep theirs (and their body) with 308
    let res = plain
        .post(at("/login?next=/x"))
        .form(&[("username", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        header(&res, "location"),
        format!("https://127.0.0.1:{port}/login?next=/x")
    );
    // a Host that is not a plain name or address: no redirect at all
    for host in ["evil.example@127.0.0.1", "a/b", "x:1:2", "[nope]", "a b"] {
        let res = plain.get(at("/")).header("host", host).send().await;
        if let Ok(res) = res {
            assert_eq!(res.status(), 400, "{host}");
            assert!(res.headers().get("location").is_none(), "{host}");
        }
    }

    // a client that follows ends on the HTTPS login page
    let ca = app.ca_pem.clone().unwrap();
    let follow = trusting(reqwest::Client::builder(), &ca).build().unwrap();
    let res = follow.get(at("/instances?x=1")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.url()
            .as_str()
            .starts_with(&format!("https://127.0.0.1:{port}/login?next=")),
        "{}",
        res.url()
    );
}

/// The operator's certificate and key files are served as they are; nothing is generated.
#[tokio::test]
async fn given_certificate_files_are_served() {
    let dir =
        std::env::temp_dir().join(format!("suanli-own-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_pem, leaf_pem, key_pem) = own_ca_and_leaf(&["localhost", "127.0.0.1"]);
    let (cert, key) = (dir.join("panel.pem"), dir.join("panel.key"));
    std::fs::write(&cert, &leaf_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let (c, k) = (cert.clone(), key.clone());
    let mut app = TestApp::spawn_with(move |s| {
        s.server.tls = true;
        s.server.tls_cert = c;
        s.server.tls_key = k;
    })
    .await;
    assert!(
        !app.data_dir.join("tls").exists(),
        "nothing generated when files are given"
    );
    app.ca_pem = Some(ca_pem.clone());
    let https = app.state.https.get().unwrap();
    assert!(https.info.ca.is_none() && https.redirect.is_none());
    let res = client(&ca_pem, None)
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("served with the given certificate");
    assert_eq!(res.status(), 200);
    let leaf_der: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(leaf_pem.as_bytes()).unwrap();
    assert_eq!(fingerprint(&peer_cert(&res)), fingerprint(&leaf_der));
    assert_eq!(https.info.fingerprint, fingerprint(&leaf_der));
    let page = app.admin().await.text("/settings").await;
    assert!(page.contains(&https.info.fingerprint), "fingerprint shown");
    assert!(page.contains(&cert.display().to_string()), "file shown");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bad certificate settings stop the start with the setting and the file named.
#[tokio::test]
async fn bad_certificate_files_stop_the_start_with_a_clear_error() {
    let dir =
        std::env::temp_dir().join(format!("suanli-bad-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, leaf, key) = own_ca_and_leaf(&["localhost"]);
    let (_, _, other_key) = own_ca_and_leaf(&["localhost"]);
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (leaf, key, other_key, junk) = (
        write("leaf.pem", &leaf),
        write("leaf.key", &key),
        write("other.key", &other_key),
        write("junk.pem", "not a certificate\n"),
    );
    let missing = dir.join("missing.pem");
    let db = TestDb::from_template();
    for (why, cert, key, want) in [
        (
            "a missing certificate",
            &missing,
            &key,
            format!(
                "https: `server.tls_cert` {}: No such file",
                missing.display()
            ),
        ),
        (
            "a missing key",
            &leaf,
            &missing,
            format!(
                "https: `server.tls_key` {}: No such file",
                missing.display()
            ),
        ),
        (
            "no PEM certificate",
            &junk,
            &key,
            format!(
                "`server.tls_cert` {}: no `BEGIN CERTIFICATE` block",
                junk.display()
            ),
        ),
        (
            "no PEM key",
            &leaf,
            &junk,
            format!("`server.tls_key` {}: no private key", junk.display()),
        ),
        (
            "another certificate's key",
            &leaf,
            &other_key,
            "the key does not belong to the certificate".to_string(),
        ),
    ] {
        let mut s = test_settings(&db.url, &dir.join("data"));
        s.jumpbox.enabled = false;
        s.server.tls = true;
        s.server.tls_cert = cert.clone();
        s.server.tls_key = key.clone();
        match Application::build(s).await {
            Ok(_) => panic!("{why}: started"),
            Err(e) => assert!(e.to_string().contains(&want), "{why}: {e}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A CA of the test's own and a leaf for `names`: (CA PEM, leaf PEM, leaf key PEM).
fn own_ca_and_leaf(names: &[&str]) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "test operator CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = CertificateParams::new(names).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// The real binary, serving HTTPS from `data_dir`; its stderr collected.
struct Served {
    child: Child,
    addr: SocketAddr,
    log: String,
}

impl Served {
    fn start(db: &TestDb, data_dir: &Path, env: &[(&str, &str)]) -> Result<Served, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_suanli"));
        cmd.current_dir(data_dir)
            .env("RUST_LOG", "info")
            .env("SUANLI__DATABASE__URL", &db.url)
            .env("SUANLI__SERVER__DATA_DIR", data_dir)
            .env("SUANLI__SERVER__LISTEN", "127.0.0.1:0")
            .env("SUANLI__SERVER__TLS", "true")
            .env("SUANLI__SECURITY__BCRYPT_COST", "4")
            .env("SUANLI__JUMPBOX__ENABLED", "false")
            .env("SUANLI__DOCKER__STATUS_WORKER", "false")
            .env("SUANLI__DOCKER__LOCAL_NODE", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the suanli binary");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START;
        let mut log = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    log.push_str(&line);
                    log.push('\n');
                    if let Some(addr) = line.split("panel listening on https://").nth(1) {
                        let addr = addr.trim().parse().expect("the address in the log");
                        return Ok(Served { child, addr, log });
                    }
                }
                // stderr closed: the process ended
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    return Err(log);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(_)) = child.try_wait() {
                        // what it wrote before exiting: read to the pipe's end (the
                        // reader thread may not have sent it yet)
                        log.extend(rx.iter().map(|l| l + "\n"));
                        return Err(log);
                    }
                    if Instant::now() >= deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("the binary did not start within {START:?}:\n{log}");
                    }
                }
            }
        }
    }

    /// SIGTERM, then SIGKILL if it has not stopped in time.
    fn stop(mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The certificate a started binary presents to a client trusting `ca` by `name`.
async fn presented(served: &Served, ca: &str, name: &str) -> Vec<u8> {
    let res = client(ca, Some((name, served.addr)))
        .get(format!("https://{name}:{}/healthz", served.addr.port()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("https://{name}: {}\n{}", chain(&e), served.log));
    assert_eq!(res.status(), 200);
    peer_cert(&res)
}

#[tokio::test]
async fn the_certificate_survives_restarts_and_follows_its_names() {
    let db = TestDb::from_template();
    let data_dir = std::env::temp_dir().join(format!(
        "suanli-tls-restart-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&data_dir).unwrap();
    let names = ("SUANLI__SERVER__TLS_NAMES", "localhost, 127.0.0.1");

    // first start: a CA and a certificate, both in the log
    let first = Served::start(&db, &data_dir, &[names]).unwrap_or_else(|log| panic!("{log}"));
    let ca = std::fs::read_to_string(data_dir.join("tls/ca.pem")).unwrap();
    let cert1 = presented(&first, &ca, "localhost").await;
    let fp1 = fingerprint(&cert1);
    assert!(
        first
            .log
            .contains(&format!("https certificate sha256 {fp1}")),
        "{}",
        first.log
    );
    assert!(
        first.log.contains("issued the server certificate"),
        "{}",
        first.log
    );
    assert!(first.log.contains("https local CA sha256"), "{}", first.log);
    let mode = |f: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(data_dir.join("tls").join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!((mode("ca.key"), mode("server.key")), (0o600, 0o600));
    first.stop();

    // restarted with the same names: the same certificate
    let second = Served::start(&db, &data_dir, &[names]).unwrap_or_else(|log| panic!("{log}"));
    assert_eq!(
        fingerprint(&presented(&second, &ca, "127.0.0.1").await),
        fp1
    );
    assert!(
        !second.log.contains("issued the server certificate"),
        "{}",
        second.log
    );
    second.stop();

    // a name more: issued again, by the same CA (the client still trusts the old ca.pem)
    let third = Served::start(
        &db,
        &data_dir,
        &[(
            "SUANLI__SERVER__TLS_NAMES",
            "localhost, 127.0.0.1, panel.test",
        )],
    )
    .unwrap_or_else(|log| panic!("{log}"));
    assert!(third.log.contains("the names changed"), "{}", third.log);
    let cert3 = presented(&third, &ca, "panel.test").await;
    assert_ne!(fingerprint(&cert3), fp1);
    assert_eq!(
        std::fs::read_to_string(data_dir.join("tls/ca.pem")).unwrap(),
        ca,
        "the CA is kept"
    );
    let mut got = sans(&cert3);
    got.sort();
    assert_eq!(got, ["127.0.0.1", "localhost", "panel.test"]);
    third.stop();

    // bad settings: the binary says which and exits 1
    for (env, want) in [
        (
            vec![
                ("SUANLI__SERVER__TLS_CERT", "/nonexistent/panel.pem"),
                ("SUANLI__SERVER__TLS_KEY", "/nonexistent/panel.key"),
            ],
            "suanli: https: `server.tls_cert` /nonexistent/panel.pem: No such file or directory",
        ),
        (
            vec![("SUANLI__SERVER__TLS_CERT", "/etc/ssl/panel.pem")],
            "suanli: invalid setting `server.tls_cert`: set both",
        ),
        (
            vec![("SUANLI__SERVER__TLS_NAMES", "localhost, bad name")],
            "suanli: invalid setting `server.tls_names`: `bad name`",
        ),
    ] {
        match Served::start(&db, &data_dir, &env) {
            Ok(served) => panic!("started with {env:?}:\n{}", served.log),
            Err(log) => assert!(log.contains(want), "{env:?}: {log}"),
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// Chromium, trusting only this certificate's key (no blanket ignoring of certificate
/// errors): the plain-HTTP port sends it to HTTPS, it logs in, and the terminal's and
/// the logs' sockets work over wss://.
#[tokio::test]
async fn chromium_logs_in_over_https_and_uses_wss() {
    let app = tls_app().await;
    let https = app.state.https.get().unwrap();
    let redirect = https.redirect.unwrap();
    let port = https_addr(&app).port();
    app.admin().await;
    app.user("mia", "customer_member", None).await;
    let mia = app.logged_in("mia").await;
    let (id, cid) = crate::streams::running_instance(&app, &mia, "tlsterm").await;
    let _cleanup = crate::streams::Cleanup(cid);

    let browser = Browser::launch_with(&[format!(
        "--ignore-certificate-errors-spki-list={}",
        https.info.spki_sha256
    )])
    .await;
    // every socket a page opens is recorded before its scripts run
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": "window.__sockets = []; const W = window.WebSocket; \
                window.WebSocket = function (url, p) { window.__sockets.push(String(url)); return new W(url, p); }; \
                window.WebSocket.prototype = W.prototype; Object.assign(window.WebSocket, W);" }),
        )
        .await;
    browser
        .goto(&format!("http://{redirect}/login?next=/instances"))
        .await;
    browser
        .wait_until(
            "the HTTPS login page",
            &format!(
                "location.href === 'https://127.0.0.1:{port}/login?next=/instances' && document.querySelector('form#login-form')"
            ),
        )
        .await;
    browser.log_in(&app.base, "mia", PASSWORD).await;
    browser.wait_for_page("/").await;
    assert_eq!(
        browser.execute("return location.protocol;").await,
        json!("https:")
    );

    browser
        .shell_answers(&format!("{}/instances/{id}/terminal", app.base), "tls")
        .await;
    let sockets = browser.execute("return window.__sockets;").await;
    let want = format!("wss://127.0.0.1:{port}/instances/{id}/terminal");
    assert!(
        sockets
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.starts_with(&want))),
        "{sockets}"
    );

    browser
        .goto(&format!("{}/instances/{id}/logs", app.base))
        .await;
    browser
        .wait_until(
            "the log socket to follow",
            "document.getElementById('log-state').textContent === document.getElementById('logs').dataset.msgFollowing",
        )
        .await;
    let sockets = browser.execute("return window.__sockets;").await;
    assert!(
        !sockets.as_array().unwrap().is_empty()
            && sockets.as_array().unwrap().iter().all(|s| s
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("wss://127.0.0.1:{port}/")))),
        "{sockets}"
    );
    let errors: Vec<String> = browser
        .console()
        .await
        .into_iter()
        .filter(|l| l.starts_with("SEVERE"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    drop(browser);
    assert_eq!(
        mia.post_hx(&format!("/instances/{id}/delete"), &[])
            .await
            .status(),
        204
    );
}
