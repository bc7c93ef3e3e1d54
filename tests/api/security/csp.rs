//! The Content-Security-Policy in a real browser: every page, as admin and as a
//! customer, loads in headless Chromium with the policy in force (an inline script is
//! refused) and without a single CSP violation or console error; the dialog's cancel
//! button, the terminal's and the log's WebSockets (connect-src 'self') still work.

use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{PASSWORD, TestApp};
use crate::instances::{mia_on_local, settled, submit, unique};

/// Proves the policy is in force on the page: an inline script must not run.
const INLINE_PROBE: &str = r#"
window.__inline = false;
const s = document.createElement('script');
s.textContent = 'window.__inline = true;';
document.head.appendChild(s);
s.remove();
return window.__inline;
"#;

/// Opens `path`, waits for the load and for `ready` (a JS expression), and returns what
/// went wrong: console errors and CSP reports, the page unstyled, or inline script
/// allowed. `status` is the page's own HTTP status (its own 4xx is expected).
async fn problems(b: &Browser, base: &str, path: &str, ready: &str, status: u16) -> Vec<String> {
    b.goto(&format!("{base}{path}")).await;
    let expr = format!(
        "document.readyState === 'complete' && location.pathname + location.search === {} && ({ready})",
        json!(path)
    );
    b.wait_until(&format!("the page {path}"), &expr).await;
    let own_status = format!(
        "{base}{path} - Failed to load resource: the server responded with a status of {status}"
    );
    let mut found: Vec<String> = b
        .console()
        .await
        .into_iter()
        .filter(|l| {
            (l.starts_with("SEVERE") || l.contains("Refused") || l.contains("Content Security"))
                && !(status != 200 && l.contains(&own_status))
        })
        .collect();
    let styled = b
        .execute("return [...document.styleSheets].some((s) => s.href && s.href.endsWith('/static/app.css') && s.cssRules.length > 0);")
        .await;
    if styled != json!(true) {
        found.push("app.css not applied".into());
    }
    if b.execute(INLINE_PROBE).await != json!(false) {
        found.push("an inline script ran: no CSP in force".into());
    }
    // the probe's own refusal is expected
    b.console().await;
    found.into_iter().map(|l| format!("{path}: {l}")).collect()
}

/// The terminal page is ready once the shell's prompt shows (its socket is open).
const TERMINAL_READY: &str =
    "((document.querySelector('.xterm-rows') || {}).textContent || '').includes('#')";
/// The log page is ready once its socket follows the log.
const LOGS_READY: &str = "document.getElementById('log-state').textContent === document.getElementById('logs').dataset.msgFollowing";

#[tokio::test]
async fn no_page_violates_the_content_security_policy() {
    let app = TestApp::spawn().await;
    let base = &app.base;
    let admin = app.admin().await;
    let (mia, img, sp, nd) =
        mia_on_local(&app, ("none", 0, 1, 1, 0, 1), ("none", 0, 8, 16, 100, 100)).await;
    let name = unique("csp");
    assert_eq!(submit(&mia, img, sp, nd, &name).await.status(), 204);
    let id = crate::instances::instance_id(&app, &name);
    assert_eq!(settled(&app, id).await.0, "ready");
    let company = app.company("csp-co").await;
    let uid = app
        .count("SELECT id AS n FROM users WHERE username = 'mia'")
        .to_string();
    let (img, sp, nd, company) = (
        img.to_string(),
        sp.to_string(),
        nd.to_string(),
        company.to_string(),
    );
    let terminal = format!("/instances/{id}/terminal");
    let logs = format!("/instances/{id}/logs");
    let mut found = Vec::new();

    let browser = Browser::launch().await;
    found.extend(
        problems(
            &browser,
            base,
            "/login",
            "document.getElementById('login-form')",
            200,
        )
        .await,
    );
    browser.log_in(base, "admin", PASSWORD).await;
    browser.wait_for_page("/").await;
    let admin_pages: Vec<(String, &str, u16)> = vec![
        ("/".into(), "true", 200),
        ("/instances".into(), "document.getElementById('list')", 200),
        (
            "/instances/new".into(),
            "document.getElementById('wizard')",
            200,
        ),
        ("/images".into(), "document.getElementById('list')", 200),
        ("/images/new".into(), "true", 200),
        (format!("/images/{img}/edit"), "true", 200),
        ("/nodes".into(), "document.getElementById('list')", 200),
        ("/nodes/new".into(), "true", 200),
        (format!("/nodes/{nd}/edit"), "true", 200),
        ("/specs".into(), "document.getElementById('list')", 200),
        ("/specs/new".into(), "true", 200),
        (format!("/specs/{sp}/edit"), "true", 200),
        ("/users".into(), "document.getElementById('list')", 200),
        ("/users/new".into(), "true", 200),
        (format!("/users/{uid}/edit"), "true", 200),
        ("/companies".into(), "document.getElementById('list')", 200),
        ("/companies/new".into(), "true", 200),
        (format!("/companies/{company}/edit"), "true", 200),
        ("/permissions".into(), "true", 200),
        ("/audit".into(), "document.getElementById('list')", 200),
        ("/settings".into(), "true", 200),
        ("/lxd".into(), "true", 200),
        (
            "/password".into(),
            "document.getElementById('password-form')",
            200,
        ),
        ("/account/sessions".into(), "true", 200),
        (logs.clone(), LOGS_READY, 200),
        (terminal.clone(), TERMINAL_READY, 200),
        ("/no/such/page".into(), "true", 404),
    ];
    for (path, ready, status) in &admin_pages {
        found.extend(problems(&browser, base, path, ready, *status).await);
    }
    // a dialog opened by HTMX and closed by its cancel button (no inline onclick)
    browser.goto(&format!("{base}/images")).await;
    browser.wait_for_page("/images").await;
    browser
        .wait_until(
            "the new button",
            "typeof htmx !== 'undefined' && document.getElementById('new-button')",
        )
        .await;
    browser.click("#new-button").await;
    browser
        .wait_until(
            "the form in an open dialog",
            "document.getElementById('dialog').open && document.querySelector('#dialog-body [data-close-dialog]')",
        )
        .await;
    browser.click("#dialog-body [data-close-dialog]").await;
    browser
        .wait_until(
            "the dialog to close",
            "!document.getElementById('dialog').open",
        )
        .await;
    found.extend(
        browser
            .console()
            .await
            .into_iter()
            .filter(|l| l.starts_with("SEVERE") || l.contains("Refused"))
            .map(|l| format!("/images dialog: {l}")),
    );
    drop(browser);

    // the customer: a fresh browser
    let browser = Browser::launch().await;
    browser.log_in(base, "mia", PASSWORD).await;
    browser.wait_for_page("/").await;
    let member_pages: Vec<(String, &str, u16)> = vec![
        ("/".into(), "true", 200),
        ("/instances".into(), "document.getElementById('list')", 200),
        (
            "/instances/new".into(),
            "document.getElementById('wizard')",
            200,
        ),
        (
            "/password".into(),
            "document.getElementById('password-form')",
            200,
        ),
        ("/account/sessions".into(), "true", 200),
        ("/images".into(), "true", 403),
        (logs, LOGS_READY, 200),
        (terminal, TERMINAL_READY, 200),
    ];
    for (path, ready, status) in &member_pages {
        found.extend(problems(&browser, base, path, ready, *status).await);
    }
    drop(browser);

    assert_eq!(
        admin
            .post_hx(&format!("/instances/{id}/delete"), &[])
            .await
            .status(),
        204
    );
    assert!(found.is_empty(), "{found:#?}");
}
