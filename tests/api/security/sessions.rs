//! Browser login sessions (登录会话) kept in Postgres: each user lists and ends their own,
//! admins end all of a user's, and a password change, reset or disable ends them at once.
//! (A replayed cookie after logout, and open sockets of an ended session: streams.rs.)

use crate::helpers::{PASSWORD, Session, TestApp};

async fn is_in(s: &Session) -> bool {
    let res = s.get("/").await;
    match res.status().as_u16() {
        200 => true,
        303 => {
            assert!(
                res.headers()["location"]
                    .to_str()
                    .unwrap()
                    .starts_with("/login")
            );
            false
        }
        other => panic!("GET / → {other}"),
    }
}

fn session_ids(app: &TestApp, user: &str) -> Vec<i64> {
    use diesel::prelude::*;
    use suanli::db::schema::{login_sessions, users};
    login_sessions::table
        .inner_join(users::table)
        .filter(users::username.eq(user))
        .filter(login_sessions::ended_at.is_null())
        .order(login_sessions::id)
        .select(login_sessions::id)
        .load(&mut app.db.conn())
        .unwrap()
}

#[tokio::test]
async fn users_list_and_end_their_own_sessions_only() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    app.user("bob", "customer_member", None).await;
    let a = app.logged_in("mia").await;
    let b = app.logged_in("mia").await;
    let bob = app.logged_in("bob").await;
    let ids = session_ids(&app, "mia");
    assert_eq!(ids.len(), 2);

    let page = a.text("/account/sessions").await;
    for id in &ids {
        assert!(page.contains(&format!("data-id=\"{id}\"")), "{page}");
    }
    assert_eq!(page.matches("本设备").count(), 1);
    assert!(page.contains("127.0.0.1"));
    // only the hash of the cookie's id is stored
    assert_eq!(
        app.count("SELECT count(*) AS n FROM login_sessions WHERE token_hash ~ '^[0-9a-f]{64}$'"),
        3
    );

    // somebody else's session is not found, and stays
    let res = bob
        .post_form(&format!("/account/sessions/{}/end", ids[0]), &[])
        .await;
    assert_eq!(res.status(), 404);
    assert!(is_in(&a).await && is_in(&b).await);

    // mia ends her other browser from the first: it is out at its next request
    let res = a
        .post_form(&format!("/account/sessions/{}/end", ids[1]), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert!(is_in(&a).await);
    assert!(!is_in(&b).await);
    assert_eq!(session_ids(&app, "mia"), vec![ids[0]]);
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let a = app.logged_in("mia").await;
    let b = app.logged_in("mia").await;
    let res = a.change_password(PASSWORD, "N3w!password").await;
    assert_eq!(res.status(), 303);
    assert!(is_in(&a).await);
    assert!(!is_in(&b).await);
}

#[tokio::test]
async fn disable_reset_and_the_admin_end_every_session() {
    let app = TestApp::spawn().await;
    let mia = app.user("mia", "customer_member", None).await;
    let admin = app.admin().await;
    for action in ["sessions/end", "password", "disabled"] {
        let (a, b) = (app.logged_in("mia").await, app.logged_in("mia").await);
        assert!(is_in(&a).await && is_in(&b).await);
        let epoch = || {
            app.count(&format!(
                "SELECT session_epoch::bigint AS n FROM users WHERE id = {mia}"
            ))
        };
        let before = epoch();
        let res = admin
            .post_form(&format!("/users/{mia}/{action}"), &[("disabled", "1")])
            .await;
        assert!(
            res.status().is_success() || res.status() == 303,
            "{action}: {}",
            res.status()
        );
        assert!(!is_in(&a).await && !is_in(&b).await, "{action}");
        assert!(session_ids(&app, "mia").is_empty(), "{action}");
        // terminals and jumpbox shells follow the epoch
        assert_eq!(epoch(), before + 1, "{action}");
        // put the account back for the next round
        app.sql(&format!(
            "UPDATE users SET disabled = false, must_change_password = false WHERE id = {mia}"
        ));
        // (a reset set a random password: give mia PASSWORD back, the admin's hash)
        app.sql(&format!(
            "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'admin') WHERE id = {mia}"
        ));
    }
}
