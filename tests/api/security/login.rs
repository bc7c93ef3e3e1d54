//! Login security on both doors (web and the SSH jumpbox, real OpenSSH client): a lockout
//! that holds under concurrency, one answer for unknown users, wrong passwords and locked
//! accounts, a failure budget per source address, and the admin's unlock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;

use crate::helpers::{PASSWORD, TestApp};
use crate::ssh::{ssh_command_logging, ssh_run};

const WRONG: &str = "Wrong!pass1";
/// A second client machine, as the server sees it.
const OTHER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn passwords_checked(app: &TestApp, who: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM audit_logs WHERE username = '{who}' \
         AND action = 'login_failed' AND detail = 'bad password'"
    ))
}

fn is_locked(app: &TestApp, who: &str) -> bool {
    app.count(&format!(
        "SELECT count(*) AS n FROM users WHERE username = '{who}' AND locked_until > now()"
    )) == 1
}

/// vic's wrong login through the web form; re-sent when the server answered 408 (its
/// 5 s for a request to arrive ran out: on a loaded machine, 150 connections opened at
/// once beside 50 SSH logins may not all get their request out in time — no password
/// was checked for it).
async fn wrong_login(web: &crate::helpers::Session) -> u16 {
    let mut status = 0;
    for _ in 0..5 {
        status = web
            .post_form("/login", &[("username", "vic"), ("password", WRONG)])
            .await
            .status()
            .as_u16();
        if status != 408 {
            break;
        }
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_wrong_logins_check_at_most_the_threshold() {
    let app = TestApp::spawn_with(|s| {
        // this test is about the account's lock, not the per-address budget
        s.security.login_failures_per_ip = 10_000;
        s.database.pool_size = 8;
    })
    .await;
    app.user("vic", "customer_member", None).await;
    let threshold = app.state.settings.security.lockout_threshold;

    let mut web = app.client();
    web.refresh_csrf("/login").await;
    let web = std::sync::Arc::new(web);
    let mut tasks = Vec::new();
    for _ in 0..150 {
        let web = std::sync::Arc::clone(&web);
        tasks.push(tokio::spawn(async move { wrong_login(&web).await }));
    }
    let ssh: Vec<_> = (0..50)
        .map(|_| {
            let (dir, port) = (app.data_dir.clone(), app.ssh_port);
            tokio::task::spawn_blocking(move || ssh_run(&dir, port, "vic", WRONG, &[]).0)
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    for t in ssh {
        assert_eq!(t.await.unwrap(), 255);
    }

    let checked = passwords_checked(&app, "vic");
    assert!(
        (1..=i64::from(threshold)).contains(&checked),
        "{checked} passwords checked, at most {threshold} allowed"
    );
    assert!(is_locked(&app, "vic"));
    // the right password during the lock: refused on both doors, and the lock stays
    let mut late = app.client();
    assert_eq!(late.login("vic", PASSWORD).await.status(), 401);
    let (code, _, err) = ssh_run(&app.data_dir, app.ssh_port, "vic", PASSWORD, &[]);
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(
        is_locked(&app, "vic"),
        "a right password must not lift the lock"
    );
    assert_eq!(passwords_checked(&app, "vic"), checked);
}

/// Many right logins of one account at once (a script's parallel scp, VS Code's several
/// connections) all get in, on both doors: beyond the threshold's worth of running checks
/// they wait for one to end instead of being refused as locked, and nothing is counted
/// against the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_right_logins_of_one_account_at_once_all_get_in() {
    // checks that take a while (~50 ms each), so that more than the threshold overlap
    let app = TestApp::spawn_with(|s| s.security.bcrypt_cost = 10).await;
    app.user("rae", "customer_member", None).await;
    let threshold = usize::try_from(app.state.settings.security.lockout_threshold).unwrap();
    let n = threshold * 2;
    let ssh: Vec<_> = (0..n)
        .map(|_| {
            let (dir, port) = (app.data_dir.clone(), app.ssh_port);
            tokio::task::spawn_blocking(move || ssh_run(&dir, port, "rae", PASSWORD, &[]))
        })
        .collect();
    let web: Vec<_> = (0..n)
        .map(|_| {
            let mut client = app.client();
            tokio::spawn(async move { client.login("rae", PASSWORD).await.status().as_u16() })
        })
        .collect();
    for t in ssh {
        let (code, _, err) = t.await.unwrap();
        assert!(!err.contains("Permission denied"), "ssh {code}: {err}");
    }
    for t in web {
        assert_eq!(t.await.unwrap(), 303);
    }
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_logs WHERE username = 'rae' AND action = 'login_success'"
        ),
        i64::try_from(2 * n).unwrap()
    );
    assert_eq!(passwords_checked(&app, "rae"), 0);
    assert!(!is_locked(&app, "rae"));
    assert_eq!(
        app.count("SELECT failed_logins::bigint AS n FROM users WHERE username = 'rae'"),
        0
    );
}

/// Equal time by equal work: every refusal (unknown user, wrong password, locked account)
/// costs exactly one bcrypt check of the configured cost and answers the same words.
/// Wall-clock medians vary by more than 10 % between runs on a loaded machine, so they
/// are measured by `scripts/bench.sh` (step "login refusals"), not here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_wrong_password_and_lock_look_the_same() {
    let app = TestApp::spawn_with(|s| {
        s.security.lockout_threshold = 1_000;
        s.security.login_failures_per_ip = 10_000;
    })
    .await;
    app.user("wendy", "customer_member", None).await;
    app.user("tim", "customer_member", None).await;
    app.sql("UPDATE users SET locked_until = now() + interval '1 hour' WHERE username = 'tim'");
    let cost = app.state.settings.security.bcrypt_cost;
    let hash_cost = |h: &str| h.split('$').nth(2).unwrap().parse::<u32>().unwrap();
    assert_eq!(hash_cost(&app.state.dummy_hash), cost);
    let stored: Vec<String> = {
        use diesel::prelude::*;
        use suanli::db::schema::users::dsl::*;
        users
            .select(password_hash)
            .load(&mut app.db.conn())
            .unwrap()
    };
    assert!(stored.iter().all(|h| hash_cost(h) == cost));

    let mut s = app.client();
    s.refresh_csrf("/login").await;
    let mut messages = Vec::new();
    for (user, password) in [("nobody", WRONG), ("wendy", WRONG), ("tim", PASSWORD)] {
        let checks = || app.state.password_checks.load(Ordering::SeqCst);
        let before = checks();
        let res = s
            .post_form("/login", &[("username", user), ("password", password)])
            .await;
        assert_eq!(res.status(), 401, "{user}");
        assert_eq!(checks() - before, 1, "{user}: one bcrypt check");
        let body = res.text().await.unwrap();
        let message = body
            .split("id=\"login-error\">")
            .nth(1)
            .and_then(|b| b.split('<').next())
            .unwrap_or_default()
            .to_string();
        assert!(message.contains("用户名或密码错误"), "{user}: {body}");
        messages.push(message);
    }
    assert!(messages.windows(2).all(|m| m[0] == m[1]), "{messages:?}");
    // the locked account's password was never checked
    assert_eq!(passwords_checked(&app, "tim"), 0);
    // and the jumpbox refuses all three alike
    for (user, password) in [("nobody", WRONG), ("wendy", WRONG), ("tim", PASSWORD)] {
        let (code, _, err) = ssh_run(&app.data_dir, app.ssh_port, user, password, &[]);
        assert_eq!(code, 255, "{user}");
        assert!(
            err.trim_end().ends_with("Permission denied (password)."),
            "{user}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_runs_out_of_failed_logins_on_both_doors() {
    let app = TestApp::spawn_with(|s| s.security.login_failures_per_ip = 3).await;
    app.user("xia", "customer_member", None).await;
    app.user("yan", "customer_member", None).await;
    let mut s = app.client();
    for user in ["xia", "yan", "nobody"] {
        assert_eq!(s.login(user, WRONG).await.status(), 401, "{user}");
    }
    // the budget is spent: refused before any password is checked, even the right one
    let res = s.login("yan", PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body = res.text().await.unwrap();
    assert!(body.contains("登录失败次数过多"), "{body}");
    // the jumpbox shares the budget and says so
    let out = ssh_command_logging("INFO", &app.data_dir, app.ssh_port, "xia", PASSWORD, &[])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(
        err.contains("Too many failed logins from your address"),
        "{err}"
    );
    assert_eq!(
        passwords_checked(&app, "xia") + passwords_checked(&app, "yan"),
        2
    );
    assert!(!is_locked(&app, "xia") && !is_locked(&app, "yan"));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE action = 'login_throttled'"),
        1,
        "one audit row per run of refusals, not one per request"
    );

    // another address is not affected, on either door
    let mut other = app.client_from(OTHER_ADDRESS);
    assert_eq!(other.login("yan", PASSWORD).await.status(), 303);
    let (code, _, err) = ssh_run(
        &app.data_dir,
        app.ssh_port,
        "xia",
        WRONG,
        &["-o", "BindAddress=127.0.0.2"],
    );
    assert_eq!(code, 255);
    assert!(err.contains("Permission denied"), "{err}");
}

#[tokio::test]
async fn admins_see_locked_accounts_and_unlock_them() {
    let app = TestApp::spawn().await;
    let uma = app.user("uma", "customer_member", None).await;
    app.user("ulf", "customer_member", None).await;
    let mut s = app.client();
    for _ in 0..5 {
        s.login("uma", WRONG).await;
    }
    assert!(is_locked(&app, "uma"));

    let admin = app.admin().await;
    let list = admin.text("/users").await;
    let row = list
        .split(&format!("data-id=\"{uma}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap()
        .to_string();
    assert!(row.contains("已锁定（剩余 15 分钟）"), "{row}");
    assert!(row.contains(&format!("/users/{uma}/unlock")), "{row}");

    // a customer cannot unlock anybody
    let ulf = app.logged_in("ulf").await;
    let path = format!("/users/{uma}/unlock");
    assert_eq!(ulf.post_form(&path, &[]).await.status(), 403);
    assert!(is_locked(&app, "uma"));

    assert_eq!(admin.post_form(&path, &[]).await.status(), 303);
    assert!(!is_locked(&app, "uma"));
    assert!(!admin.text("/users").await.contains("已锁定"));
    assert_eq!(s.login("uma", PASSWORD).await.status(), 303);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_logs WHERE username = 'admin' AND path = '{path}'"
        )),
        1
    );

    // an admin cannot disable themselves
    let me = app.count("SELECT id AS n FROM users WHERE username = 'admin'");
    let res = admin
        .post_form(&format!("/users/{me}/disabled"), &[("disabled", "1")])
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE username = 'admin' AND disabled"),
        0
    );
}
