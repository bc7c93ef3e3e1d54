//! Security headers on every kind of answer: a page, a partial, a static file, a 404,
//! an error, a redirect and the ZJMF `/api/`; HSTS only when users come over HTTPS
//! (`server.tls` or `server.tls_at_proxy`).

use crate::helpers::TestApp;

const EVERYWHERE: &[(&str, &str)] = &[
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// The CSP's directives we rely on, whatever else it says.
const CSP_PARTS: &[&str] = &[
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
];

fn assert_secured(what: &str, res: &reqwest::Response, no_store: bool, hsts: bool) {
    let h = res.headers();
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    for (name, want) in EVERYWHERE {
        assert_eq!(get(name), *want, "{what} ({}): {name}", res.status());
    }
    let csp = get("content-security-policy");
    for part in CSP_PARTS {
        assert!(
            csp.split(';').any(|d| d.trim() == *part),
            "{what}: CSP lacks {part:?}: {csp:?}"
        );
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    if no_store {
        assert_eq!(get("cache-control"), "no-store", "{what}");
    }
    assert_eq!(
        h.contains_key("strict-transport-security"),
        hsts,
        "{what}: HSTS {}",
        get("strict-transport-security")
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let anon = app.client();

    let res = admin.get("/images").await;
    assert_eq!(res.status(), 200);
    assert_secured("a page", &res, true, false);
    let res = admin.get_hx("/images").await;
    assert_eq!(res.status(), 200);
    assert_secured("a partial", &res, true, false);
    let res = admin.get_hx("/images/new").await;
    assert_eq!(res.status(), 200);
    assert_secured("a dialog partial", &res, true, false);
    let res = admin.post_hx("/images", &[("name", "")]).await;
    assert_eq!(res.status(), 422);
    assert_secured("a 422 form", &res, true, false);
    let res = admin.get("/images/999999/edit").await;
    assert_eq!(res.status(), 404);
    assert_secured("a missing row", &res, true, false);
    let res = admin.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert_secured("a 404", &res, true, false);
    let res = admin.post_bare("/images", &[("name", "x")]).await;
    assert_eq!(res.status(), 403);
    assert_secured("a CSRF refusal", &res, true, false);

    let res = anon.get("/login").await;
    assert_eq!(res.status(), 200);
    assert_secured("the login page", &res, true, false);
    let res = anon.get("/instances").await;
    assert_eq!(res.status(), 303);
    assert_secured("a redirect to login", &res, true, false);
    let res = anon.get("/static/app.css").await;
    assert_eq!(res.status(), 200);
    assert_secured("a static file", &res, false, false);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age"),
        "static files stay cacheable"
    );
    let res = anon.get("/static/no-such-file.js").await;
    assert_eq!(res.status(), 404);
    assert_secured("a missing static file", &res, false, false);
    let res = anon.get("/api/check").await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json"),
        "an /api/ answer"
    );
    assert_secured("the ZJMF /api/", &res, true, false);
    let res = anon.get("/healthz").await;
    assert_secured("the health check", &res, true, false);
}

/// The terminal page admits the `<style>` elements xterm.js inserts by a nonce of its
/// own response, handed to its script; nothing else in its policy changes.
#[tokio::test]
async fn the_terminal_page_has_a_fresh_style_nonce() {
    let app = TestApp::spawn().await;
    let owner = app.user("mia", "customer_member", None).await;
    let mia = app.logged_in("mia").await;
    let cat =
        crate::instances::fake_catalog(&app, ("none", 0, 1, 1, 0, 1), ("none", 0, 8, 16, 100, 100));
    let id = crate::instances::fake_ready(&app, "noncy", cat, owner, None);
    let page_csp = mia.get("/instances").await.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let res = mia.get(&format!("/instances/{id}/terminal")).await;
        assert_eq!(res.status(), 200);
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let html = res.text().await.unwrap();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or_else(|| panic!("no nonce: {csp}"))
            .to_string();
        assert!(nonce.len() >= 22, "{nonce}");
        assert_eq!(
            csp.replace(&format!(" 'nonce-{nonce}'"), ""),
            page_csp,
            "only the style nonce is added"
        );
        assert!(
            csp.split(';')
                .any(|d| d.trim() == format!("style-src 'self' 'nonce-{nonce}'")),
            "{csp}"
        );
        assert!(
            html.contains(&format!("src=\"/static/terminal.js\" nonce=\"{nonce}\"")),
            "the script gets the nonce"
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a nonce per response");
}

/// Behind a TLS proxy (`tls_at_proxy`); the panel's own TLS sends it too (security/tls.rs).
#[tokio::test]
async fn hsts_only_when_tls_is_on() {
    let app = TestApp::spawn_with(|s| s.server.tls_at_proxy = true).await;
    let anon = app.client();
    for path in ["/login", "/static/app.css", "/api/check", "/nope"] {
        let res = anon.get(path).await;
        assert_secured(path, &res, path != "/static/app.css", true);
        let hsts = res.headers()["strict-transport-security"].to_str().unwrap();
        assert!(hsts.starts_with("max-age=31536000"), "{path}: {hsts}");
    }
}
