use std::collections::BTreeSet;

use suanli::domain::routes::{self, *};

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

/// Every route of the server (`domain::routes`), the path to call and who may call it.
/// `{id}` paths use ids that exist (7 = a harmless target created below).
const ROUTES: &[(Route, &str, Access)] = &[
    (GET_HEALTHZ, "/healthz", Public),
    (GET_READYZ, "/readyz", Public),
    (GET_STATIC_FILE, "/static/app.css", Public),
    (GET_FAVICON_ICO, "/favicon.ico", Public),
    (GET_LOGIN, "/login", Public),
    (POST_LOGIN, "/login", Public),
    (GET_LANG_CODE, "/lang/en", Public),
    (GET_ROOT, "/", Users),
    (GET_PASSWORD, "/password", Users),
    (POST_PASSWORD, "/password", Users),
    (GET_ACCOUNT_SESSIONS, "/account/sessions", Users),
    (
        POST_ACCOUNT_SESSIONS_ID_END,
        "/account/sessions/999999/end",
        Users,
    ),
    (GET_IMAGES, "/images", Admin),
    (GET_IMAGES_NEW, "/images/new", Admin),
    (POST_IMAGES, "/images", Admin),
    (GET_IMAGES_ID_EDIT, "/images/1/edit", Admin),
    (POST_IMAGES_ID, "/images/1", Admin),
    (POST_IMAGES_ID_LISTED, "/images/1/listed", Admin),
    (POST_IMAGES_ID_DELETE, "/images/999/delete", Admin),
    (GET_NODES, "/nodes", Admin),
    (GET_NODES_NEW, "/nodes/new", Admin),
    (POST_NODES, "/nodes", Admin),
    (GET_NODES_ID_EDIT, "/nodes/1/edit", Admin),
    (POST_NODES_ID, "/nodes/1", Admin),
    (POST_NODES_ID_LISTED, "/nodes/1/listed", Admin),
    (POST_NODES_ID_DELETE, "/nodes/999/delete", Admin),
    (POST_NODES_PROBE, "/nodes/probe", Admin),
    (POST_NODES_ID_MAINTENANCE, "/nodes/1/maintenance", Admin),
    (GET_SPECS, "/specs", Admin),
    (GET_SPECS_NEW, "/specs/new", Admin),
    (POST_SPECS, "/specs", Admin),
    (GET_SPECS_ID_EDIT, "/specs/1/edit", Admin),
    (POST_SPECS_ID, "/specs/1", Admin),
    (POST_SPECS_ID_LISTED, "/specs/1/listed", Admin),
    (POST_SPECS_ID_DELETE, "/specs/999/delete", Admin),
    (GET_SETTINGS, "/settings", Admin),
    (GET_LXD, "/lxd", Admin),
    (GET_LXD_NAME, "/lxd/no-such-box", Admin),
    (
        POST_LXD_NAME_POWER_ACTION,
        "/lxd/no-such-box/power/start",
        Admin,
    ),
    (POST_LXD_NAME_DELETE, "/lxd/no-such-box/delete", Admin),
    (POST_LXD_NAME_PORTS, "/lxd/no-such-box/ports", Admin),
    (
        POST_LXD_NAME_PORTS_DELETE,
        "/lxd/no-such-box/ports/delete",
        Admin,
    ),
    (GET_API_CHECK, "/api/check", ApiKey),
    (GET_API_GETINFO, "/api/getinfo?hostname=vm1", ApiKey),
    (POST_API_CREATE, "/api/create", ApiKey),
    (GET_API_DELETE, "/api/delete?hostname=vm1", ApiKey),
    (GET_API_BOOT, "/api/boot?hostname=vm1", ApiKey),
    (GET_API_STOP, "/api/stop?hostname=vm1", ApiKey),
    (GET_API_REBOOT, "/api/reboot?hostname=vm1", ApiKey),
    (POST_API_PASSWORD, "/api/password", ApiKey),
    (POST_API_REINSTALL, "/api/reinstall", ApiKey),
    (GET_API_NATLIST, "/api/natlist?hostname=vm1", ApiKey),
    (POST_API_ADDPORT, "/api/addport", ApiKey),
    (POST_API_DELPORT, "/api/delport", ApiKey),
    (GET_USERS, "/users", Admin),
    (GET_USERS_NEW, "/users/new", Admin),
    (POST_USERS, "/users", Admin),
    (GET_USERS_ID_EDIT, "/users/{victim}/edit", Admin),
    (POST_USERS_ID, "/users/{victim}", Admin),
    (POST_USERS_ID_DISABLED, "/users/{victim}/disabled", Admin),
    (POST_USERS_ID_PASSWORD, "/users/{victim}/password", Admin),
    (POST_USERS_ID_UNLOCK, "/users/{victim}/unlock", Admin),
    (
        POST_USERS_ID_SESSIONS_END,
        "/users/{victim}/sessions/end",
        Admin,
    ),
    (GET_COMPANIES, "/companies", Admin),
    (GET_COMPANIES_NEW, "/companies/new", Admin),
    (POST_COMPANIES, "/companies", Admin),
    (GET_COMPANIES_ID_EDIT, "/companies/{company}/edit", Admin),
    (POST_COMPANIES_ID, "/companies/{company}", Admin),
    (POST_COMPANIES_ID_DELETE, "/companies/999/delete", Admin),
    (GET_PERMISSIONS, "/permissions", Admin),
    (
        POST_PERMISSIONS_ID_ROLES_ROLE,
        "/permissions/1/roles/nobody",
        Admin,
    ),
    (GET_AUDIT, "/audit", Admin),
    (GET_INSTANCES, "/instances", Users),
    (GET_INSTANCES_NEW, "/instances/new", Users),
    (GET_INSTANCES_NEW_NODES, "/instances/new/nodes", Users),
    (POST_INSTANCES, "/instances", Users),
    (GET_INSTANCES_ID, "/instances/1", Users),
    (GET_INSTANCES_ID_ROW, "/instances/1/row", Users),
    (POST_INSTANCES_ID_START, "/instances/1/start", Users),
    (POST_INSTANCES_ID_STOP, "/instances/1/stop", Users),
    (POST_INSTANCES_ID_RESTART, "/instances/1/restart", Users),
    (POST_INSTANCES_ID_DELETE, "/instances/1/delete", Users),
    (GET_INSTANCES_ID_LOGS, "/instances/1/logs", Users),
    (GET_INSTANCES_ID_LOGS_WS, "/instances/1/logs/ws", Users),
    (
        GET_INSTANCES_ID_LOGS_DOWNLOAD,
        "/instances/1/logs/download",
        Users,
    ),
    (GET_INSTANCES_ID_TERMINAL, "/instances/1/terminal", Users),
    (
        GET_INSTANCES_ID_TERMINAL_WS,
        "/instances/1/terminal/ws",
        Users,
    ),
    // last: it ends the session
    (POST_LOGOUT, "/logout", Users),
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
        .map(|(r, _, _)| (r.method.as_str().to_string(), r.pattern.to_string()))
        .collect();
    let all: BTreeSet<(String, String)> = routes::ALL
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.pattern.to_string()))
        .collect();
    assert_eq!(
        registered, all,
        "the api_permissions rows of the migrations are the routes of domain::routes"
    );
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
        for (route, raw, access) in ROUTES {
            let m = route.method.as_str();
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
                if m == "GET" {
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
    let row = r.text().await.unwrap();
    assert!(row.contains(&format!("perm-{id}")));
    // each toggle asks first, naming the route and the role
    assert!(
        row.contains("hx-confirm=\"更改该路由对此角色的权限： GET /specs · 客户成员\""),
        "{row}"
    );
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
