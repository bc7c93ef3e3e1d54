//! `next` (after login, after a language switch) only ever leads to a path on this
//! origin, whatever is sent: percent-encoded or raw, with control characters,
//! backslashes, extra slashes or non-ASCII text; and no input makes a 500.

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, LOCATION};

use crate::helpers::{PASSWORD, TestApp, scrape_csrf};

/// Each is sent twice: as the value itself (percent-encoded by the client, so the server
/// decodes exactly this), and typed raw into the query or form body (the server decodes
/// any `%xx` in it; a raw tab or newline goes through in a form body).
const NEXTS: &[&str] = &[
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\nLocation: //evil.example",
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0D%0A/evil.example",
    "%09//evil.example",
    "//evil.example",
    "///evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/ /evil.example",
    "/\u{3000}/evil.example",
    "/\u{2028}/evil.example",
    "//实例.example",
    "/／evil.example",
    "/实例?q=算力",
    "/%E5%AE%9E%E4%BE%8B",
    "/\0",
    "/%00",
    "",
    "/images?q=1&page=2",
];

/// Where a browser at `base` goes for this Location (it drops tabs and newlines and
/// reads `\` as `/`, as `Url::join` does): it must be a path on `base`'s origin.
fn assert_stays_home(base: &Url, location: &str, what: &str) {
    assert!(
        !location
            .chars()
            .any(|c| c.is_control() || c.is_whitespace()),
        "{what}: control character or whitespace in {location:?}"
    );
    let target = base
        .join(location)
        .unwrap_or_else(|e| panic!("{what}: {location:?} is no URL: {e}"));
    assert_eq!(
        target.origin(),
        base.origin(),
        "{what}: {location:?} leaves the origin ({target})"
    );
}

/// The hidden `next` field of the login form, unescaped.
fn hidden_next(html: &str) -> String {
    let marker = "name=\"next\" value=\"";
    let start = html.find(marker).expect("a next field") + marker.len();
    let raw = html[start..].split('"').next().unwrap_or_default();
    raw.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn raw_query(base: &Url, path: &str, next: &str) -> Url {
    Url::parse(&format!(
        "{base}{}?next={next}",
        path.trim_start_matches('/')
    ))
    .expect("url")
}

#[tokio::test]
async fn next_never_leaves_the_origin_and_never_fails() {
    let app = TestApp::spawn().await;
    app.user("nia", "customer_member", None).await;
    let base = Url::parse(&app.base).expect("base");
    let anon = app.client();

    for next in NEXTS {
        for (how, lang_url, login_url) in [
            (
                "encoded",
                {
                    let mut u = base.join("/lang/en").expect("url");
                    u.query_pairs_mut().append_pair("next", next);
                    u
                },
                {
                    let mut u = base.join("/login").expect("url");
                    u.query_pairs_mut().append_pair("next", next);
                    u
                },
            ),
            (
                "raw",
                raw_query(&base, "/lang/en", next),
                raw_query(&base, "/login", next),
            ),
        ] {
            let what = format!("GET /lang/en next={next:?} sent {how}");
            let res = anon.http.get(lang_url).send().await.expect("GET /lang");
            assert_eq!(res.status(), 303, "{what}");
            let loc = res.headers()[LOCATION].to_str().expect("ascii Location");
            assert_stays_home(&base, loc, &what);

            let what = format!("GET /login next={next:?} sent {how}");
            let res = anon.http.get(login_url).send().await.expect("GET /login");
            assert_eq!(res.status(), 200, "{what}");
            let field = hidden_next(&res.text().await.expect("body"));
            assert_stays_home(&base, &field, &what);
        }

        // the login form's post, encoded and with the raw bytes in the body
        for how in ["encoded", "raw"] {
            let what = format!("POST /login next={next:?} sent {how}");
            let mut s = app.client();
            s.refresh_csrf("/login").await;
            let req = s.http.post(format!("{}/login", app.base));
            let req = if how == "encoded" {
                req.form(&[
                    ("username", "nia"),
                    ("password", PASSWORD),
                    ("csrf_token", &s.csrf),
                    ("next", next),
                ])
            } else {
                req.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(format!(
                        "username=nia&password={PASSWORD}&csrf_token={}&next={next}",
                        s.csrf
                    ))
            };
            let res = req.send().await.expect("POST /login");
            assert_eq!(res.status(), 303, "{what}");
            let loc = res.headers()[LOCATION].to_str().expect("ascii Location");
            assert_stays_home(&base, loc, &what);
        }
    }

    // a plain local path still works, in all three places
    let res = anon
        .http
        .get(format!("{}/lang/en?next=/images%3Fq%3D1", app.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.headers()[LOCATION], "/images?q=1");
    let html = anon.text("/login?next=/instances").await;
    assert_eq!(hidden_next(&html), "/instances");
    assert!(scrape_csrf(&html).is_some());
}
