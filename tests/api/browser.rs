//! End to end in a real browser: headless Chromium driven over WebDriver by a
//! chromedriver this test starts itself. Covers the first login (forced password
//! change) and the HTMX dialog round trip on the images page: open the "new" form
//! in the <dialog>, save it, and see the list refresh in place, without a reload.
//!
//! The WebDriver client below is a few lines of W3C WebDriver over reqwest (plain
//! HTTP on loopback). fantoccini is a dev-dependency, but with its default (TLS)
//! features off it offers no connector: `ClientBuilder::new` wants a hyper-util
//! connector, and hyper-util is not a dependency this crate can name.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The longest any single wait (driver start-up, page load, HTMX round trip) may take:
/// Chromium on a loaded 2-CPU machine is slow.
const WAIT: Duration = crate::helpers::PATIENCE;
const POLL: Duration = Duration::from_millis(100);
/// The W3C key under which WebDriver hands out element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver child process plus one browser session in it. Dropping it (also
/// while unwinding from a failed assertion) closes the browser, kills chromedriver
/// and removes the throw-away Chromium profile.
pub struct Browser {
    http: reqwest::Client,
    port: u16,
    session: Option<String>,
    /// Chromium's own pid, as reported by chromedriver: a fallback for cleanup.
    browser_pid: Option<u64>,
    chromedriver: Child,
    profile: PathBuf,
    /// console lines `goto` read (to look for a network change) and `console` still owes
    seen_console: std::sync::Mutex<Vec<String>>,
}

impl Browser {
    /// Starts chromedriver on a free loopback port, waits until it is ready and
    /// opens a headless Chromium session with a fresh profile.
    pub async fn launch() -> Self {
        Self::launch_with(&[]).await
    }

    /// `launch` with more Chromium switches (e.g. which certificate to accept).
    pub async fn launch_with(extra_args: &[String]) -> Self {
        // Let the OS pick a free port, then release it for chromedriver to bind.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("bind a free port")
            .local_addr()
            .expect("local addr")
            .port();
        let profile =
            std::env::temp_dir().join(format!("suanli-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).expect("create the Chromium profile dir");
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (apt: chromium-driver)");
        // From here on the guard owns the child process, so every later panic cleans up.
        let mut b = Browser {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            port,
            session: None,
            browser_pid: None,
            chromedriver,
            profile,
            seen_console: Default::default(),
        };

        // Wait until chromedriver answers /status with ready: true.
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(v) = b.raw(Method::GET, "/status", None).await
                && v["ready"] == json!(true)
            {
                break;
            }
            if let Ok(Some(status)) = b.chromedriver.try_wait() {
                panic!("chromedriver exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on port {port} within {WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }

        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", b.profile.display()),
        ];
        args.extend_from_slice(extra_args);
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                // bounded waits for navigations and scripts instead of the 300 s default
                "timeouts": { "implicit": 0, "pageLoad": WAIT.as_millis() as u64, "script": WAIT.as_millis() as u64 },
                // keep the console log so failures can show it
                "goog:loggingPrefs": { "browser": "ALL" },
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": args,
                },
            }},
        });
        let created = b
            .raw(Method::POST, "/session", Some(caps))
            .await
            .unwrap_or_else(|e| panic!("new WebDriver session: {e}"));
        b.session = Some(
            created["sessionId"]
                .as_str()
                .expect("sessionId")
                .to_string(),
        );
        b.browser_pid = created["capabilities"]["goog:processID"].as_u64();
        // a desktop-sized window, so the dialog and its buttons are all on screen
        b.cmd(
            Method::POST,
            "/window/rect",
            json!({"width": 1280, "height": 1024}),
        )
        .await;
        b
    }

    /// One WebDriver request against chromedriver itself; the unwrapped `value`,
    /// or the WebDriver error as text.
    async fn raw(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut req = self
            .http
            .request(method, format!("http://127.0.0.1:{}{path}", self.port));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status();
        let v: Value = res.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{status}: {} {}",
                v["value"]["error"], v["value"]["message"]
            ))
        }
    }

    /// A request within the session; an error is a test failure.
    async fn cmd(&self, method: Method, path: &str, body: Value) -> Value {
        let session = self.session.as_deref().expect("session");
        self.raw(method, &format!("/session/{session}{path}"), Some(body))
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    /// A Chrome DevTools Protocol command through chromedriver (e.g.
    /// `Page.addScriptToEvaluateOnNewDocument`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            Method::POST,
            "/goog/cdp/execute",
            json!({ "cmd": cmd, "params": params }),
        )
        .await
    }

    /// Resizes the window (CSS pixels), e.g. to a phone's 390×844.
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            Method::POST,
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// The visible viewport as PNG bytes.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let session = self.session.as_deref().expect("session");
        let v = self
            .raw(Method::GET, &format!("/session/{session}/screenshot"), None)
            .await
            .unwrap_or_else(|e| panic!("WebDriver screenshot: {e}"));
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("PNG")
    }

    /// Loads `url` and waits for the load event (bounded by the pageLoad timeout).
    /// Chromium aborts what is loading when the host's interfaces change
    /// (`net::ERR_NETWORK_CHANGED`): other tests add and remove Docker and LXD bridges
    /// all the time, so a page that lost a script to that is loaded again (at most
    /// three loads; what the console said about an aborted load is dropped).
    pub async fn goto(&self, url: &str) {
        for _ in 0..3 {
            self.cmd(Method::POST, "/url", json!({ "url": url })).await;
            let lines = self.read_console().await;
            // Chromium's own error page: the load failed before any answer (a network
            // change as the suite's containers come and go, seen under stress-ng)
            let error_page = self
                .try_execute("return location.href.startsWith('chrome-error://');")
                .await
                == Ok(json!(true));
            if !error_page && !lines.iter().any(|l| l.contains("ERR_NETWORK_CHANGED")) {
                self.seen_console.lock().unwrap().extend(lines);
                return;
            }
            // the aborted load's lines are dropped: the next load reports its own
        }
    }

    /// Opens an instance's terminal page at `url`, waits for the shell's prompt, runs
    /// `echo <word>-$((6*7))` and waits for `<word>-42`. Returns the JS expression of the
    /// terminal's visible text, for further waits.
    pub async fn shell_answers(&self, url: &str, word: &str) -> &'static str {
        let rows = "((document.querySelector('.xterm-rows') || {}).textContent || '')";
        self.goto(url).await;
        self.wait_until("the shell's prompt", &format!("{rows}.includes('#')"))
            .await;
        self.type_into(
            ".xterm-helper-textarea",
            &format!("echo {word}-$((6*7))\u{E007}"),
        )
        .await;
        self.wait_until(
            "the command's output",
            &format!("{rows}.includes('{word}-42')"),
        )
        .await;
        rows
    }

    /// Runs a script (its body must `return` the result).
    pub async fn try_execute(&self, script: &str) -> Result<Value, String> {
        let session = self.session.as_deref().expect("session");
        self.raw(
            Method::POST,
            &format!("/session/{session}/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    pub async fn execute(&self, script: &str) -> Value {
        self.try_execute(script)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The element for a CSS selector (it must already be there: wait first).
    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element id for {css}: {v}"))
            .to_string()
    }

    /// Types into the element, like a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            Method::POST,
            &format!("/element/{el}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// A real (trusted) click: WebDriver scrolls to the element and checks it can be hit.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd(Method::POST, &format!("/element/{el}/click"), json!({}))
            .await;
    }

    /// Polls a JS expression until it is truthy, at most WAIT; returns its value.
    /// On timeout the test fails with a snapshot of the page.
    pub async fn wait_until(&self, what: &str, expr: &str) -> Value {
        let script = format!("return ({expr});");
        let deadline = Instant::now() + WAIT;
        loop {
            // while a navigation is under way the script may fail: just poll again
            let last = self.try_execute(&script).await;
            if let Ok(v) = &last
                && truthy(v)
            {
                return v.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {WAIT:?} waiting for {what}\n  `{expr}` was {last:?}\n{}",
                    self.diagnostics().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fills and submits the login form at `base`/login.
    pub async fn log_in(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.wait_until(
            "the login form",
            "document.querySelector('form#login-form')",
        )
        .await;
        self.type_into("#login-form input[name=username]", username)
            .await;
        self.type_into("#login-form input[name=password]", password)
            .await;
        self.click("#login-form button[type=submit]").await;
    }

    /// Waits until a full page load at `path` has finished.
    pub async fn wait_for_page(&self, path: &str) {
        let expr = format!(
            "location.pathname === {} && document.readyState === 'complete'",
            json!(path)
        );
        self.wait_until(&format!("the page {path}"), &expr).await;
    }

    /// The browser console since the last call (chromedriver's legacy log endpoint).
    pub async fn console(&self) -> Vec<String> {
        let mut lines = std::mem::take(&mut *self.seen_console.lock().unwrap());
        lines.extend(self.read_console().await);
        lines
    }

    async fn read_console(&self) -> Vec<String> {
        let session = self.session.as_deref().expect("session");
        match self
            .raw(
                Method::POST,
                &format!("/session/{session}/se/log"),
                Some(json!({ "type": "browser" })),
            )
            .await
        {
            Ok(Value::Array(entries)) => entries
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["level"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("?")
                    )
                })
                .collect(),
            Ok(other) => vec![format!("(unexpected log answer: {other})")],
            Err(e) => vec![format!("(no console log: {e})")],
        }
    }

    /// What a failing test prints: where the page is, the dialog, list and flash
    /// markup, the HTMX requests/events recorded, and the console.
    pub async fn diagnostics(&self) -> String {
        let page = self
            .try_execute(
                r#"const q = (s) => { const e = document.querySelector(s); return e ? e.outerHTML.slice(0, 3000) : null; };
                   const d = document.getElementById('dialog');
                   return {
                     url: location.href, readyState: document.readyState, title: document.title,
                     htmx: typeof htmx === 'undefined' ? null : htmx.version,
                     marker: window.__marker ?? null, dialogOpen: d ? d.open : null,
                     events: window.__events ?? null,
                     flash: q('#flash'), dialog: q('#dialog'), list: q('#list'),
                     main: document.getElementById('list') ? null : q('main'),
                   };"#,
            )
            .await;
        let page = match page {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Err(e) => format!("(page state unavailable: {e})"),
        };
        format!(
            "--- page ---\n{page}\n--- console ---\n{}",
            self.console().await.join("\n")
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session makes chromedriver quit Chromium; killing chromedriver
        // alone would leave the browser running. Drop cannot await, so this is one
        // blocking HTTP request over a plain socket.
        if let Some(session) = self.session.take() {
            let _ = delete_session_blocking(self.port, &session);
        }
        if let Some(pid) = self.browser_pid
            && std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            // the browser outlived its session: end it by its own pid
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn delete_session_blocking(port: u16, session: &str) -> std::io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.set_read_timeout(Some(WAIT))?;
    write!(
        s,
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // chromedriver answers once the browser is closed; it may keep the socket open
    // anyway, so read just the headers and the Content-Length bytes of the body
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                })
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return Ok(());
            }
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Records HTMX requests and the app's custom events into `window.__events`, so
/// the test can check what happened and a failure can show it.
const RECORDER: &str = r#"
window.__events = [];
const rec = (s) => window.__events.push(s);
document.body.addEventListener('htmx:afterRequest', (e) => {
  const verb = (e.detail.requestConfig?.verb ?? '?').toUpperCase();
  rec(`${verb} ${e.detail.pathInfo?.requestPath ?? '?'} -> ${e.detail.xhr?.status}`);
});
for (const name of ['htmx:responseError', 'htmx:sendError', 'htmx:swapError', 'htmx:targetError']) {
  document.body.addEventListener(name, () => rec(name));
}
for (const name of ['list-changed', 'close-dialog']) document.addEventListener(name, () => rec(name));
window.addEventListener('error', (e) => rec(`error: ${e.message}`));
return true;
"#;

#[tokio::test]
async fn first_login_then_new_image_via_dialog_without_reload() {
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let base = &app.base;

    // 1. Log in as admin with the initial random password.
    browser.log_in(base, "admin", &app.admin_password).await;

    // 2. The first login is forced to the change-password page.
    browser.wait_for_page("/password").await;
    browser
        .wait_until(
            "the password form",
            "document.querySelector('form#password-form')",
        )
        .await;
    browser
        .type_into("#password-form input[name=current]", &app.admin_password)
        .await;
    browser
        .type_into("#password-form input[name=new]", PASSWORD)
        .await;
    browser
        .type_into("#password-form input[name=confirm]", PASSWORD)
        .await;
    browser.click("#password-form button[type=submit]").await;
    browser.wait_for_page("/").await;
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM users WHERE username = 'admin' AND NOT must_change_password"
        ),
        1,
        "password change not stored"
    );

    // 3. The images page (镜像库) now opens instead of bouncing back to /password.
    browser.goto(&format!("{base}/images")).await;
    browser.wait_for_page("/images").await;
    browser
        .wait_until(
            "htmx, the new button and the list",
            "typeof htmx !== 'undefined' && document.getElementById('new-button') && document.getElementById('list')",
        )
        .await;
    let name = crate::instances::unique("browser");
    let address = "nvidia/cuda:12.4.1-runtime-ubuntu22.04";
    let row_js = format!(
        "[...document.querySelectorAll('#list tbody tr')].some((tr) => tr.textContent.includes({}))",
        json!(name)
    );
    assert_eq!(
        browser.execute(&format!("return {row_js};")).await,
        json!(false),
        "the image exists before it was created"
    );

    // A marker on this page's window: a full reload would wipe it.
    browser.execute("window.__marker = 42; return true;").await;
    browser.execute(RECORDER).await;

    // "新增" loads the form into the dialog and opens it (static/app.js, htmx:afterSwap).
    browser.click("#new-button").await;
    browser
        .wait_until(
            "the image form in an open dialog",
            "document.getElementById('dialog').open && document.querySelector('#dialog-body form input[name=address]')",
        )
        .await;
    browser
        .type_into("#dialog-body input[name=name]", &name)
        .await;
    browser
        .type_into("#dialog-body input[name=address]", address)
        .await;
    browser
        .click("#dialog-body button.primary[type=submit]")
        .await;

    // 4. The save answers 204 + HX-Trigger: the list re-fetches itself and shows the
    //    new row, and the dialog closes.
    browser
        .wait_until(&format!("a row for {name} in #list"), &row_js)
        .await;
    browser
        .wait_until(
            "the dialog to close",
            "!document.getElementById('dialog').open",
        )
        .await;

    // ... all on the same page: no navigation happened.
    let marker = browser.execute("return window.__marker ?? null;").await;
    assert_eq!(
        marker,
        json!(42),
        "window.__marker is gone: the page was reloaded\n{}",
        browser.diagnostics().await
    );
    assert_eq!(
        browser.execute("return location.pathname;").await,
        json!("/images")
    );
    let events = browser.execute("return window.__events;").await;
    let events: Vec<&str> = events
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        events.contains(&"POST /images -> 204"),
        "the save was not an HTMX 204: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("GET /images?") && e.ends_with("-> 200")),
        "#list did not re-fetch itself: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.starts_with("htmx:") || e.starts_with("error:")),
        "HTMX or script errors: {events:?}"
    );
    let row = browser
        .execute(&format!("return [...document.querySelectorAll('#list tbody tr')].find((tr) => tr.textContent.includes({})).textContent;", json!(name)))
        .await;
    assert!(
        row.as_str().unwrap_or_default().contains(address),
        "the row does not show the address: {row}"
    );

    // The database agrees.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM images WHERE name = '{name}'"
        )),
        1
    );

    // No uncaught script errors in the console along the way.
    let console = browser.console().await;
    println!(
        "browser console:\n{}\nevents: {events:?}",
        console.join("\n")
    );
    assert!(
        !console.iter().any(|l| l.contains("Uncaught")),
        "uncaught script errors: {console:#?}"
    );

    drop(browser);
    println!("browser test took {:?}", started.elapsed());
}

/// A member clicks through the 新增实例 wizard in Chromium; the instance appears in the
/// list and turns 运行中 by itself (list polling), all without a page reload.
#[tokio::test]
async fn member_creates_an_instance_through_the_wizard() {
    let app = TestApp::spawn().await;
    let (s, img, sp, nd) =
        crate::instances::mia_on_local(&app, ("none", 0, 1, 1, 0, 1), ("none", 0, 8, 16, 100, 100))
            .await;
    let name = crate::instances::unique("wiz");
    let browser = Browser::launch().await;
    let base = &app.base;

    browser.log_in(base, "mia", PASSWORD).await;
    browser.wait_for_page("/").await;
    browser.goto(&format!("{base}/instances")).await;
    browser.wait_for_page("/instances").await;
    browser
        .wait_until(
            "htmx and the new button",
            "typeof htmx !== 'undefined' && document.getElementById('new-button')",
        )
        .await;
    browser.execute("window.__marker = 7; return true;").await;

    browser.click("#new-button").await;
    browser
        .wait_until(
            "step 1 in an open dialog",
            "document.getElementById('dialog').open && document.getElementById('image-choices')",
        )
        .await;
    browser
        .click(&format!("input[name=image_id][value='{img}']"))
        .await;
    browser.click("#wizard-next").await;
    browser
        .wait_until("step 2", "document.getElementById('spec-choices')")
        .await;
    browser
        .click(&format!("input[name=spec_id][value='{sp}']"))
        .await;
    browser.click("#wizard-next").await;
    browser
        .wait_until(
            "step 3 with the node",
            &format!("document.querySelector(\"input[name=node_id][value='{nd}']\")"),
        )
        .await;
    browser
        .click(&format!("input[name=node_id][value='{nd}']"))
        .await;
    browser.click("#wizard-next").await;
    let name_input = "#wizard input[name=name]:not([type=hidden])";
    browser
        .wait_until("step 4", &format!("document.querySelector('{name_input}')"))
        .await;
    browser.type_into(name_input, &name).await;
    browser.click("#wizard-next").await;
    browser
        .wait_until("the summary", "document.getElementById('wizard-summary')")
        .await;
    let summary = browser
        .execute("return document.getElementById('wizard-summary').textContent;")
        .await;
    let summary = summary.as_str().unwrap_or_default();
    assert!(
        summary.contains("busybox")
            && summary.contains("small")
            && summary.contains("local")
            && summary.contains(&name),
        "{summary}"
    );
    browser.click("#wizard-submit").await;

    browser
        .wait_until(
            "the dialog to close",
            "!document.getElementById('dialog').open",
        )
        .await;
    let running = format!(
        "[...document.querySelectorAll('#list tbody tr')].some((tr) => tr.textContent.includes({}) && tr.dataset.status === 'running')",
        json!(name)
    );
    browser
        .wait_until("the new row to turn running", &running)
        .await;
    assert_eq!(
        browser.execute("return window.__marker ?? null;").await,
        json!(7),
        "no reload"
    );
    let id = crate::instances::instance_id(&app, &name);

    // its browser terminal: a shell over the WebSocket (the CSRF token offered as a
    // subprotocol, which Chromium only accepts when the server answers with one)
    let rows = browser
        .shell_answers(&format!("{base}/instances/{id}/terminal"), "hi")
        .await;
    // a 2 MB paste (more than one WebSocket frame may carry) reaches the shell whole
    browser
        .type_into(".xterm-helper-textarea", "cat > /tmp/paste\u{E007}")
        .await;
    browser
        .execute(
            "const dt = new DataTransfer();
             dt.setData('text/plain', ('x'.repeat(99) + '\\n').repeat(20000));
             document.querySelector('.xterm-helper-textarea').dispatchEvent(
               new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
             return null;",
        )
        .await;
    // Ctrl-D ends cat's input, then the file's size
    browser
        .type_into(".xterm-helper-textarea", "\u{E009}d\u{E000}")
        .await;
    browser
        .type_into(
            ".xterm-helper-textarea",
            "echo pasted-$(wc -c < /tmp/paste)\u{E007}",
        )
        .await;
    browser
        .wait_until(
            "the pasted file's size",
            &format!("{rows}.includes('pasted-2000000')"),
        )
        .await;
    // and its log page follows the log over the other socket
    browser.goto(&format!("{base}/instances/{id}/logs")).await;
    browser
        .wait_until(
            "the log socket to open",
            "document.getElementById('log-state').textContent === document.getElementById('logs').dataset.msgFollowing",
        )
        .await;

    // clean up the container through the panel
    assert_eq!(
        s.post_hx(&format!("/instances/{id}/delete"), &[])
            .await
            .status(),
        204
    );
}

/// The LXD list acts in place (HTMX): stopping a container from its row answers with the
/// list, the row turns stopped and a notice says so, without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lxd_list_stops_a_container_in_place() {
    use crate::zjmf::{call, created, lxc, lxd_app};
    let (app, _serial) = lxd_app(|_| {}).await;
    let (name, _, _gone) = created(&app, "zjweb").await;
    app.admin().await; // the first password change, done over HTTP
    let browser = Browser::launch().await;
    let base = &app.base;
    browser.log_in(base, "admin", PASSWORD).await;
    browser.wait_for_page("/").await;

    // its page: a forwarding rule added and a bad one refused, in place
    browser.goto(&format!("{base}/lxd/{name}")).await;
    browser
        .wait_until("the rules", "document.getElementById('nat-rules')")
        .await;
    browser.execute("window.__marker = 5; return true;").await;
    browser
        .type_into("#rule-add input[name=dport]", "41235")
        .await;
    browser
        .type_into("#rule-add input[name=sport]", "8080")
        .await;
    browser.click("#rule-add button").await;
    browser
        .wait_until(
            "the new rule's row",
            "document.getElementById('rule-tcp-41235')",
        )
        .await;
    let notice = "return (document.getElementById('lxd-rules-notice') || {}).textContent || null;";
    assert_eq!(browser.execute(notice).await, json!("转发规则已添加"));
    browser.type_into("#rule-add input[name=dport]", "80").await;
    browser.type_into("#rule-add input[name=sport]", "80").await;
    browser.click("#rule-add button").await;
    browser
        .wait_until(
            "the refusal",
            "(document.getElementById('lxd-rules-notice') || {}).textContent !== '转发规则已添加'",
        )
        .await;
    assert!(
        browser
            .execute(notice)
            .await
            .as_str()
            .is_some_and(|t| t.contains("参数 dport 无效")),
        "{}",
        browser.execute(notice).await
    );
    assert_eq!(
        browser
            .execute("return document.querySelector('#rule-add input[name=dport]').value;")
            .await,
        json!("80"),
        "what was typed is kept"
    );
    assert_eq!(
        browser.execute("return window.__marker ?? null;").await,
        json!(5),
        "no reload"
    );

    browser.goto(&format!("{base}/lxd")).await;
    let row = format!("document.getElementById('lxd-{name}')");
    browser.wait_until("the container's row", &row).await;
    browser.execute("window.__marker = 7; return true;").await;
    browser
        .click(&format!("form[action='/lxd/{name}/power/stop'] button"))
        .await;
    browser
        .wait_until(
            "the row to show the container stopped",
            &format!("({row} || {{ dataset: {{}} }}).dataset.status === 'stop'"),
        )
        .await;
    let notice = browser
        .execute("return (document.getElementById('lxd-notice') || {}).textContent || null;")
        .await;
    assert_eq!(notice, json!("容器关机成功"));
    assert_eq!(
        browser.execute("return window.__marker ?? null;").await,
        json!(7),
        "no reload"
    );
    let (_, state) = lxc(&["list", &name, "-c", "s", "--format", "csv"]);
    assert_eq!(state, "STOPPED");
    let (status, _) = call(&app, "GET", &format!("/api/delete?hostname={name}"), None).await;
    assert_eq!(status, 200);
}
