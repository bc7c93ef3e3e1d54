use std::collections::BTreeSet;

use crate::helpers::{PASSWORD, Session, TestApp};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    /// everyone, logged in or not
    Public,
    /// any logged-in role
    Users,
    /// admins only
    Admin,
    /// the ZJMF plugin with an apikey token (no session): 401 for every session
    ApiKey,
}
use Access::*;

/// Every route of the server: (method, pattern as registered, path to call, who may call it).
/// `{id}` paths use ids that exist (7 = a harmless target created below).
const ROUTES: &[(&str, &str, &str, Access)] = &[
    ("GET", "/healthz", "/healthz", Public),
    ("GET", "/readyz", "/readyz", Public),
    ("GET", "/static/{file:.*}", "/static/app.css", Public),
    ("GET", "/login", "/login", Public),
    ("POST", "/login", "/login", Public),
    ("GET", "/lang/{code}", "/lang/en", Public),
    ("GET", "/", "/", Users),
    ("GET", "/password", "/password", Users),
    ("POST", "/password", "/password", Users),
    ("GET", "/account/sessions", "/account/sessions", Users),
    (
        "POST",
        "/account/sessions/{id}/end",
        "/account/sessions/999999/end",
        Users,
    ),
    ("GET", "/images", "/images", Admin),
    ("GET", "/images/new", "/images/new", Admin),
    ("POST", "/images", "/images", Admin),
    ("GET", "/images/{id}/edit", "/images/1/edit", Admin),
    ("POST", "/images/{id}", "/images/1", Admin),
    ("POST", "/images/{id}/listed", "/images/1/listed", Admin),
    ("POST", "/images/{id}/delete", "/images/999/delete", Admin),
    ("GET", "/nodes", "/nodes", Admin),
    ("GET", "/nodes/new", "/nodes/new", Admin),
    ("POST", "/nodes", "/nodes", Admin),
    ("GET", "/nodes/{id}/edit", "/nodes/1/edit", Admin),
    ("POST", "/nodes/{id}", "/nodes/1", Admin),
    ("POST", "/nodes/{id}/listed", "/nodes/1/listed", Admin),
    ("POST", "/nodes/{id}/delete", "/nodes/999/delete", Admin),
    ("GET", "/specs", "/specs", Admin),
    ("GET", "/specs/new", "/specs/new", Admin),
    ("POST", "/specs", "/specs", Admin),
    ("GET", "/specs/{id}/edit", "/specs/1/edit", Admin),
    ("POST", "/specs/{id}", "/specs/1", Admin),
    ("POST", "/specs/{id}/listed", "/specs/1/listed", Admin),
    ("POST", "/specs/{id}/delete", "/specs/999/delete", Admin),
    ("GET", "/settings", "/settings", Admin),
    ("GET", "/lxd", "/lxd", Admin),
    ("GET", "/lxd/{name}", "/lxd/no-such-box", Admin),
    (
        "POST",
        "/lxd/{name}/power/{action}",
        "/lxd/no-such-box/power/start",
        Admin,
    ),
    (
        "POST",
        "/lxd/{name}/delete",
        "/lxd/no-such-box/delete",
        Admin,
    ),
    ("POST", "/lxd/{name}/ports", "/lxd/no-such-box/ports", Admin),
    (
        "POST",
        "/lxd/{name}/ports/delete",
        "/lxd/no-such-box/ports/delete",
        Admin,
    ),
    ("GET", "/api/check", "/api/check", ApiKey),
    ("GET", "/api/getinfo", "/api/getinfo?hostname=vm1", ApiKey),
    ("POST", "/api/create", "/api/create", ApiKey),
    ("GET", "/api/delete", "/api/delete?hostname=vm1", ApiKey),
    ("GET", "/api/boot", "/api/boot?hostname=vm1", ApiKey),
    ("GET", "/api/stop", "/api/stop?hostname=vm1", ApiKey),
    ("GET", "/api/reboot", "/api/reboot?hostname=vm1", ApiKey),
    ("POST", "/api/password", "/api/password", ApiKey),
    ("POST", "/api/reinstall", "/api/reinstall", ApiKey),
    ("GET", "/api/natlist", "/api/natlist?hostname=vm1", ApiKey),
    ("POST", "/api/addport", "/api/addport", ApiKey),
    ("POST", "/api/delport", "/api/delport", ApiKey),
    ("GET", "/users", "/users", Admin),
    ("GET", "/users/new", "/users/new", Admin),
    ("POST", "/users", "/users", Admin),
    ("GET", "/users/{id}/edit", "/users/{victim}/edit", Admin),
    ("POST", "/users/{id}", "/users/{victim}", Admin),
    (
        "POST",
        "/users/{id}/disabled",
        "/users/{victim}/disabled",
        Admin,
    ),
    (
        "POST",
        "/users/{id}/password",
        "/users/{victim}/password",
        Admin,
    ),
    (
        "POST",
        "/users/{id}/unlock",
        "/users/{victim}/unlock",
        Admin,
    ),
    (
        "POST",
        "/users/{id}/sessions/end",
        "/users/{victim}/sessions/end",
        Admin,
    ),
    ("GET", "/companies", "/companies", Admin),
    ("GET", "/companies/new", "/companies/new", Admin),
    ("POST", "/companies", "/companies", Admin),
    (
        "GET",
        "/companies/{id}/edit",
        "/companies/{company}/edit",
        Admin,
    ),
    ("POST", "/companies/{id}", "/companies/{company}", Admin),
    (
        "POST",
        "/companies/{id}/delete",
        "/companies/999/delete",
        Admin,
    ),
    ("GET", "/permissions", "/permissions", Admin),
    (
        "POST",
        "/permissions/{id}/roles/{role}",
        "/permissions/1/roles/nobody",
        Admin,
    ),
    ("GET", "/audit", "/audit", Admin),
    ("GET", "/instances", "/instances", Users),
    ("GET", "/instances/new", "/instances/new", Users),
    ("GET", "/instances/new/nodes", "/instances/new/nodes", Users),
    ("POST", "/instances", "/instances", Users),
    ("GET", "/instances/{id}/row", "/instances/1/row", Users),
    ("POST", "/instances/{id}/start", "/instances/1/start", Users),
    ("POST", "/instances/{id}/stop", "/instances/1/stop", Users),
    (
        "POST",
        "/instances/{id}/restart",
        "/instances/1/restart",
        Users,
    ),
    (
        "POST",
        "/instances/{id}/delete",
        "/instances/1/delete",
        Users,
    ),
    ("GET", "/instances/{id}/logs", "/instances/1/logs", Users),
    (
        "GET",
        "/instances/{id}/logs/ws",
        "/instances/1/logs/ws",
        Users,
    ),
    (
        "GET",
        "/instances/{id}/logs/download",
        "/instances/1/logs/download",
        Users,
    ),
    (
        "GET",
        "/instances/{id}/terminal",
        "/instances/1/terminal",
        Users,
    ),
    (
        "GET",
        "/instances/{id}/terminal/ws",
        "/instances/1/terminal/ws",
        Users,
    ),
    // last: it ends the session
    ("POST", "/logout", "/logout", Users),
];

async fn call(s: &Session, method: &str, path: &str, login_as: Option<&str>) -> reqwest::Response {
    let url = format!("{}{path}", s.base);
    if method == "GET" {
        return s.http.get(url).send().await.unwrap();
    }
    let mut form = vec![("csrf_token", s.csrf.clone())];
    if path == "/login" {
        form.push(("username", login_as.unwrap_or("nobody").to_string()));
        form.push(("password", PASSWORD.to_string()));
    }
    s.http
        .post(url)
        .header("X-CSRF-Token", &s.csrf)
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_route_for_every_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let company = app.company("acme").await;
    let victim = app.user("victim", "customer_member", None).await;
    app.user("member", "customer_member", Some(company)).await;
    app.user("owner", "customer_owner", Some(company)).await;
    admin
        .post_form("/images", &[("name", "img"), ("address", "busybox")])
        .await;

    // the table covers exactly the registered routes
    use diesel::prelude::*;
    use suanli::db::schema::api_permissions::dsl::*;
    let registered: BTreeSet<(String, String)> = api_permissions
        .select((method, path_pattern))
        .load::<(String, String)>(&mut app.db.conn())
        .unwrap()
        .into_iter()
        .collect();
    let tested: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        registered, tested,
        "every registered route is in the matrix and vice versa"
    );

    let mut anon = app.client();
    anon.refresh_csrf("/login").await;
    let mut sessions: Vec<(&str, Session)> = vec![
        ("anonymous", anon),
        ("customer_member", app.logged_in("member").await),
        ("customer_owner", app.logged_in("owner").await),
        ("admin", admin),
    ];

    let mut failures = Vec::new();
    for (role, s) in sessions.iter_mut() {
        for (m, _, raw, access) in ROUTES {
            let path = raw
                .replace("{victim}", &victim.to_string())
                .replace("{company}", &company.to_string());
            let login_as = match *role {
                "customer_member" => Some("member"),
                "customer_owner" => Some("owner"),
                "admin" => Some("admin"),
                _ => None,
            };
            let res = call(s, m, &path, login_as).await;
            let status = res.status().as_u16();
            if path == "/login" && status == 303 {
                // logging in again starts a new session with a new CSRF token
                s.refresh_csrf("/").await;
            }
            let to_login = res
                .headers()
                .get("location")
                .is_some_and(|l| l.to_str().unwrap_or("").starts_with("/login"));
            let allowed = match (access, *role) {
                (Public, _) => true,
                (Users, r) => r != "anonymous",
                (Admin, r) => r == "admin",
                (ApiKey, _) => false,
            };
            let ok = if matches!(access, ApiKey) {
                status == 401
            } else if allowed {
                status != 403 && status != 401 && (!to_login || path == "/logout")
                    || (path == "/login" && *role == "anonymous")
            } else if *role == "anonymous" {
                if *m == "GET" {
                    status == 303 && to_login
                } else {
                    status == 401
                }
            } else {
                status == 403
            };
            if !ok {
                failures.push(format!("{role} {m} {path} → {status} (allowed: {allowed})"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn route_without_record_is_denied_and_toggles_apply() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    assert_eq!(admin.get("/images").await.status(), 200);
    app.sql("DELETE FROM api_permissions WHERE method = 'GET' AND path_pattern = '/images'");
    assert_eq!(
        admin.get("/images").await.status(),
        403,
        "no record → deny, even for admins"
    );

    // the admin page toggles a role on a route, through HTMX
    app.user("mia", "customer_member", None).await;
    let mia = app.logged_in("mia").await;
    assert_eq!(mia.get("/specs").await.status(), 403);
    let id = app.count(
        "SELECT id AS n FROM api_permissions WHERE method = 'GET' AND path_pattern = '/specs'",
    );
    let r = admin
        .post_hx(&format!("/permissions/{id}/roles/customer_member"), &[])
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(&format!("perm-{id}")));
    assert_eq!(mia.get("/specs").await.status(), 200);
    admin
        .post_hx(&format!("/permissions/{id}/roles/customer_member"), &[])
        .await;
    assert_eq!(mia.get("/specs").await.status(), 403);

    // admins cannot lock themselves out of the permissions page
    let own = app.count("SELECT id AS n FROM api_permissions WHERE method = 'GET' AND path_pattern = '/permissions'");
    assert_eq!(
        admin
            .post_hx(&format!("/permissions/{own}/roles/admin"), &[])
            .await
            .status(),
        409
    );
    assert_eq!(admin.get("/permissions").await.status(), 200);
}
