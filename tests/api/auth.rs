use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn login_ok_and_bad_password() {
    let app = TestApp::spawn().await;
    app.user("alice", "customer_member", None).await;
    let mut s = app.client();
    let bad = s.login("alice", "Wrong!pass1").await;
    assert_eq!(bad.status(), 401);
    assert!(bad.text().await.unwrap().contains("用户名或密码错误"));
    let unknown = s.login("nobody", "Wrong!pass1").await;
    assert_eq!(
        unknown.status(),
        401,
        "unknown users look like bad passwords"
    );
    let ok = s.login("alice", PASSWORD).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/");
    let home = s.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("alice"));
    let actions: Vec<String> = audit_actions(&app, "alice");
    assert!(
        actions.contains(&"login_failed".to_string())
            && actions.contains(&"login_success".to_string()),
        "{actions:?}"
    );
}

fn audit_actions(app: &TestApp, who: &str) -> Vec<String> {
    use diesel::prelude::*;
    use suanli::db::schema::audit_logs::dsl::*;
    audit_logs
        .filter(username.eq(who))
        .select(action)
        .order(id)
        .load(&mut app.db.conn())
        .unwrap()
}

#[tokio::test]
async fn lockout_after_five_failures_then_unlock_after_window() {
    let app = TestApp::spawn().await;
    app.user("bob", "customer_member", None).await;
    let mut s = app.client();
    for i in 1..=5 {
        let res = s.login("bob", "Wrong!pass1").await;
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    // locked now: even the right password is refused
    let res = s.login("bob", PASSWORD).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("锁定"));
    let actions = audit_actions(&app, "bob");
    assert_eq!(actions.iter().filter(|a| *a == "login_failed").count(), 5);
    assert!(
        actions.contains(&"account_locked".into()) && actions.contains(&"login_locked".into()),
        "{actions:?}"
    );
    // the window passes
    app.sql("UPDATE users SET locked_until = now() - interval '1 second' WHERE username = 'bob'");
    assert_eq!(s.login("bob", PASSWORD).await.status(), 303);
    assert_eq!(
        app.count("SELECT failed_logins::bigint AS n FROM users WHERE username = 'bob'"),
        0
    );
}

#[tokio::test]
async fn lockout_window_is_configurable() {
    let app = TestApp::spawn_with(|s| {
        s.security.lockout_threshold = 2;
        s.security.lockout_minutes = 60;
    })
    .await;
    app.user("carol", "customer_member", None).await;
    let mut s = app.client();
    s.login("carol", "Wrong!pass1").await;
    s.login("carol", "Wrong!pass1").await;
    assert_eq!(s.login("carol", PASSWORD).await.status(), 401);
    let mins = app.count("SELECT round(extract(epoch FROM locked_until - now()) / 60)::bigint AS n FROM users WHERE username = 'carol'");
    assert!((59..=60).contains(&mins), "{mins}");
}

#[tokio::test]
async fn first_login_forces_password_change() {
    let app = TestApp::spawn().await;
    let mode = std::fs::metadata(app.data_dir.join("initial-admin-password")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let mut s = app.client();
    let res = s.login("admin", &app.admin_password).await;
    assert_eq!(res.headers()["location"], "/password");
    // every other page sends back to /password until changed
    for path in ["/", "/images", "/users"] {
        let r = s.get(path).await;
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/password", "{path}");
    }
    // a weak password is refused with 422, nothing changes
    let weak = s
        .post_form(
            "/password",
            &[
                ("current", &app.admin_password),
                ("new", "weakpass"),
                ("confirm", "weakpass"),
            ],
        )
        .await;
    assert_eq!(weak.status(), 422);
    assert!(weak.text().await.unwrap().contains("data-field=\"new\""));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE must_change_password"),
        1
    );
    let ok = s.change_password(&app.admin_password, PASSWORD).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(
        s.get("/images").await.status(),
        200,
        "this session stays valid after the change"
    );
    // the old password no longer works
    assert_eq!(
        app.client()
            .login("admin", &app.admin_password)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn password_strength_rules_everywhere() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for (pw, why) in [
        ("Ab1!", "short"),
        ("abcdefgh", "one class"),
        ("abcdefg1", "two classes"),
    ] {
        let r = admin
            .post_hx(
                "/users",
                &[
                    ("username", "weakling"),
                    ("role", "customer_member"),
                    ("company_id", ""),
                    ("password", pw),
                ],
            )
            .await;
        assert_eq!(r.status(), 422, "{why}");
        assert!(
            r.text().await.unwrap().contains("data-field=\"password\""),
            "{why}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE username = 'weakling'"),
        0
    );
}

#[tokio::test]
async fn csrf_missing_or_wrong_is_403() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let r = admin
        .post_bare("/images", &[("name", "x"), ("address", "busybox")])
        .await;
    assert_eq!(r.status(), 403);
    let r = admin
        .post_bare(
            "/images",
            &[
                ("name", "x"),
                ("address", "busybox"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    // the login form is protected too
    let anon = app.client();
    assert_eq!(
        anon.post_bare("/login", &[("username", "admin"), ("password", "x")])
            .await
            .status(),
        403
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM images"), 0);
    // and the refusal is audited
    assert!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE path = '/images' AND status = 403")
            >= 2
    );
    // with the token it works
    assert_eq!(
        admin
            .post_form(
                "/images",
                &[("name", "x"), ("address", "busybox"), ("listed", "on")]
            )
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn disabled_user_is_refused_and_live_session_stops() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.user("dave", "customer_member", None).await;
    let dave = app.logged_in("dave").await;
    assert_eq!(dave.get("/").await.status(), 200);
    let r = admin
        .post_hx(&format!("/users/{id}/disabled"), &[("disabled", "1")])
        .await;
    assert_eq!(r.status(), 204);
    // the live session is gone: back to the login page
    let r = dave.get("/").await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    let mut again = app.client();
    let r = again.login("dave", PASSWORD).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("停用"));
    admin
        .post_hx(&format!("/users/{id}/disabled"), &[("disabled", "0")])
        .await;
    assert_eq!(again.login("dave", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn admin_reset_forces_change_and_ends_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.user("erin", "customer_member", None).await;
    let erin = app.logged_in("erin").await;
    let r = admin.post_hx(&format!("/users/{id}/password"), &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let new_pw = html
        .split("id=\"new-password\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(erin.get("/").await.status(), 303, "old session ended");
    let mut s = app.client();
    assert_eq!(s.login("erin", PASSWORD).await.status(), 401);
    let r = s.login("erin", &new_pw).await;
    assert_eq!(r.headers()["location"], "/password");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    app.user("frank", "customer_member", None).await;
    let s = app.logged_in("frank").await;
    assert_eq!(s.post_form("/logout", &[]).await.status(), 303);
    assert_eq!(s.get("/").await.status(), 303);
    assert!(audit_actions(&app, "frank").contains(&"logout".to_string()));
}

#[tokio::test]
async fn session_cookie_is_httponly_lax_and_encrypted() {
    let app = TestApp::spawn().await;
    let res = app.client().get("/login").await;
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("suanli_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "no TLS in tests");
    assert!(!cookie.contains("csrf"), "content is encrypted: {cookie}");
    // the panel behind a TLS proxy (its own TLS: security/tls.rs)
    let tls = TestApp::spawn_with(|s| s.server.tls_at_proxy = true).await;
    let cookie = tls.client().get("/login").await.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
}
