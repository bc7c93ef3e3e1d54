//! The admin pages in the UI's language (issue 17): the audit log's role, door, action
//! and detail in words with a door filter; the permission records grouped by module
//! with a module filter and their descriptions in both languages. Over HTTP, then the
//! filters in headless Chromium.

use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{PASSWORD, TestApp};
use crate::ssh::ssh_run;

/// The text of every `<td class="{class}">` of `html`, tags removed.
fn cells(html: &str, class: &str) -> Vec<String> {
    let open = format!("<td class=\"{class}\">");
    html.split(open.as_str())
        .skip(1)
        .map(|rest| {
            let cell = rest.split("</td>").next().unwrap_or_default();
            let mut text = String::new();
            let mut in_tag = false;
            for c in cell.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

/// How many rows of the list came through `door` (the rows' `data-door`).
fn rows_via(html: &str, door: &str) -> usize {
    html.matches(&format!("data-door=\"{door}\"")).count()
}

/// One event through each door: mia's wrong password on the web (a member), lee's on
/// the jumpbox, and a start by the ZJMF plugin (recorded as its /api/ call records it).
async fn events_through_every_door(app: &TestApp) {
    app.user("mia", "customer_member", None).await;
    app.user("lee", "customer_member", None).await;
    let mut web = app.client();
    assert_eq!(web.login("mia", "Wrong!pass1").await.status(), 401);
    let (dir, port) = (app.data_dir.clone(), app.ssh_port);
    let (code, _, err) =
        tokio::task::spawn_blocking(move || ssh_run(&dir, port, "lee", "Wrong!pass1", &[]))
            .await
            .unwrap();
    assert_eq!(code, 255, "{err}");
    let origin = suanli::ops::zjmf::api_origin("10.0.0.9");
    suanli::ops::audit::record(&app.state, origin.event("zjmf_boot", 200, "")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_reads_in_the_ui_language_with_a_door_filter() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    events_through_every_door(&app).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE door = 'ssh' AND username = 'lee' AND action = 'login_failed'"),
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_logs WHERE door = 'api' AND action = 'zjmf_boot'"
        ),
        1
    );

    // zh-CN: words, not codes
    let list = admin.text_hx("/audit?user=mia").await;
    assert_eq!(cells(&list, "door"), ["网页"], "{list}");
    assert_eq!(cells(&list, "action"), ["登录失败"]);
    assert_eq!(cells(&list, "detail"), ["密码错误"]);
    assert!(list.contains("<td>客户成员</td>"), "{list}");
    for code in ["login_failed", "bad password", "customer_member"] {
        assert!(!list.contains(code), "{code} shown: {list}");
    }
    let page = admin.text("/audit").await;
    for (door, words) in [("web", "网页"), ("ssh", "SSH"), ("api", "API")] {
        assert!(rows_via(&page, door) > 0, "{door}");
        assert!(
            page.contains(&format!("<option value=\"{door}\">{words}</option>")),
            "{door} in the filter"
        );
    }
    assert!(page.contains("<td>魔方财务 API 密钥</td>") && page.contains(">容器开机<"));
    // a request the gate recorded reads as its route (the admin's own password change)
    assert!(
        cells(&page, "action")
            .iter()
            .any(|a| a.starts_with("修改自己的密码"))
    );

    // the door filter narrows the rows, and the pager keeps it
    for door in ["web", "ssh", "api"] {
        let list = admin.text_hx(&format!("/audit?door={door}")).await;
        let others = ["web", "ssh", "api"].map(|d| (d, rows_via(&list, d)));
        for (d, n) in others {
            assert_eq!(n > 0, d == door, "door={door}: {d} has {n} rows");
        }
    }
    let ssh = admin.text_hx("/audit?door=ssh").await;
    assert_eq!(cells(&ssh, "action"), ["登录失败"]);
    assert_eq!(cells(&ssh, "door"), ["SSH"]);
    let nobody = admin.text_hx("/audit?door=ssh&user=mia").await;
    assert!(nobody.contains("暂无数据") && rows_via(&nobody, "web") == 0);
    let all = admin.text_hx("/audit?door=telnet").await;
    assert!(rows_via(&all, "web") > 0 && rows_via(&all, "ssh") == 1);

    // English
    admin.get("/lang/en?next=/").await;
    let list = admin.text_hx("/audit?user=mia").await;
    assert_eq!(cells(&list, "door"), ["Web"]);
    assert_eq!(cells(&list, "action"), ["Login failed"]);
    assert_eq!(cells(&list, "detail"), ["wrong password"]);
    assert!(list.contains("<td>Customer member</td>") && !list.contains("login_failed"));
    let page = admin.text("/audit?door=api").await;
    assert!(page.contains("<option value=\"api\" selected>API</option>"));
    assert_eq!(cells(&page, "action"), ["Start container"]);

    // an action the catalogue does not know shows its code
    app.sql("INSERT INTO audit_logs (username, role, ip, method, path, action, resource_type, status, detail, door) \
             VALUES ('ops', 'admin', '', 'WEB', '', 'brand_new_event', 'x', 200, 'some text', 'web')");
    let list = admin.text_hx("/audit?user=ops").await;
    assert!(list.contains("<code>brand_new_event</code>") && list.contains("some text"));
}

#[tokio::test]
async fn a_terminal_session_reads_in_words() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // rows as ops/sessions.rs writes them when a terminal opens and closes
    app.sql("INSERT INTO audit_logs (username, role, ip, method, path, action, resource_type, resource_id, status, detail, door) VALUES \
             ('mia', 'customer_member', '', 'SSH', '', 'connect', 'instance', '3', 200, 'session 12', 'ssh'), \
             ('mia', 'customer_member', '', 'SSH', '', 'disconnect', 'instance', '3', 200, 'session 12 gpu-box: idle, 6888896 bytes in, 512 bytes out', 'ssh')");
    let list = admin.text_hx("/audit?user=mia").await;
    assert_eq!(cells(&list, "action"), ["关闭终端", "打开终端"]);
    assert_eq!(
        cells(&list, "detail"),
        [
            "会话 12（gpu-box）结束：空闲超时；输入 6.6 MiB，输出 512 字节",
            "会话 12"
        ]
    );
    admin.get("/lang/en?next=/").await;
    let list = admin.text_hx("/audit?user=mia").await;
    assert_eq!(
        cells(&list, "detail"),
        [
            "session 12 (gpu-box) ended: idle timeout; 6.6 MiB in, 512 bytes out",
            "session 12"
        ]
    );
}

#[tokio::test]
async fn a_refused_plugin_call_reads_in_either_language() {
    let (app, _lxd) = crate::zjmf::lxd_app(|_| {}).await;
    let admin = app.admin().await;
    let name = crate::instances::unique("adm");
    let body = json!({"hostname": name, "system": "", "password": "Re!install789"});
    let (status, answer) = crate::zjmf::call(&app, "POST", "/api/reinstall", Some(body)).await;
    assert_eq!(
        (status, answer["msg"].as_str()),
        (404, Some("容器未找到")),
        "{answer}"
    );
    let list = admin.text_hx("/audit?door=api").await;
    assert_eq!(cells(&list, "action"), ["重装容器"]);
    assert_eq!(cells(&list, "detail"), ["容器未找到"]);
    admin.get("/lang/en?next=/").await;
    let list = admin.text_hx("/audit?door=api").await;
    assert_eq!(cells(&list, "action"), ["Reinstall container"]);
    assert_eq!(cells(&list, "detail"), ["Container not found"]);
}

/// The module ids of the groups (`<tbody … id="module-…">`) of a permissions list.
fn groups(html: &str) -> Vec<String> {
    html.split("id=\"module-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn permissions_group_by_module_with_a_filter_in_both_languages() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let page = admin.text("/permissions").await;
    assert_eq!(groups(&page), suanli::domain::routes::MODULES);
    assert!(
        page.contains("scope=\"rowgroup\">镜像库</th>"),
        "a heading per module"
    );
    let descriptions = cells(&page, "description");
    assert_eq!(
        descriptions.len() as i64,
        app.count("SELECT count(*) AS n FROM api_permissions")
    );
    for d in [
        "实例：单行（实时状态）",
        "镜像库：上架 / 下架",
        "魔方财务：API 连接测试",
    ] {
        assert!(descriptions.iter().any(|x| x == d), "{d}");
    }
    assert!(!page.contains("one row (live status)"));
    assert!(page.contains("<option value=\"instances\">实例</option>"));

    // the filter: one module's records alone (HTMX asks for the list)
    let list = admin.text_hx("/permissions?module=instances").await;
    assert!(!list.contains("<html"));
    assert_eq!(groups(&list), ["instances"]);
    assert_eq!(
        cells(&list, "description").len() as i64,
        app.count(
            "SELECT count(*) AS n FROM api_permissions WHERE path_pattern LIKE '/instances%'"
        )
    );
    let page = admin.text("/permissions?module=lxd").await;
    assert_eq!(groups(&page), ["lxd"]);
    assert!(page.contains("<option value=\"lxd\" selected>LXD 容器</option>"));
    let none = admin.text_hx("/permissions?module=nothing").await;
    assert!(groups(&none).is_empty() && none.contains("暂无数据"));

    // a toggle still asks first and keeps the words
    let id = app.count(
        "SELECT id AS n FROM api_permissions WHERE method = 'GET' AND path_pattern = '/specs'",
    );
    let row = admin
        .post_hx(&format!("/permissions/{id}/roles/customer_member"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("产品规格：列表")
            && row.contains("hx-confirm=\"更改该路由对此角色的权限： GET /specs · 客户成员\""),
        "{row}"
    );

    // English
    admin.get("/lang/en?next=/").await;
    let page = admin.text("/permissions").await;
    let descriptions = cells(&page, "description");
    for d in [
        "Instances: one row (live status)",
        "Images: list or unlist",
        "ZJMF: API connection test",
    ] {
        assert!(descriptions.iter().any(|x| x == d), "{d}");
    }
    assert!(page.contains("scope=\"rowgroup\">LXD containers</th>"));
    assert!(
        !descriptions.iter().any(|x| x.contains('：')),
        "no Chinese left"
    );

    // a record the catalogues do not know keeps its own text
    app.sql("INSERT INTO api_permissions (method, path_pattern, description, allowed_roles) VALUES ('GET', '/extra/{id}', 'hand-made', '{admin}')");
    let list = admin.text_hx("/permissions?module=extra").await;
    assert_eq!(groups(&list), ["extra"]);
    assert_eq!(cells(&list, "description"), ["hand-made"]);
}

/// Picks `value` in the filter's `select` as a user does (the change event).
async fn pick(b: &Browser, select: &str, value: &str) {
    b.execute(&format!(
        "const s = document.querySelector({sel}); s.value = {v}; s.dispatchEvent(new Event('change', {{bubbles: true}})); return true;",
        sel = json!(select),
        v = json!(value)
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filters_work_in_chromium() {
    let app = TestApp::spawn().await;
    app.admin().await; // the first password change, over HTTP
    events_through_every_door(&app).await;
    let b = Browser::launch().await;
    b.log_in(&app.base, "admin", PASSWORD).await;
    b.wait_for_page("/").await;

    b.goto(&format!("{}/audit", app.base)).await;
    b.wait_until("htmx", "typeof htmx !== 'undefined'").await;
    pick(&b, "select[name=door]", "ssh").await;
    let rows = "[...document.querySelectorAll('#list tr[data-door]')]";
    b.wait_until(
        "only the jumpbox's rows",
        &format!("{rows}.length > 0 && {rows}.every(r => r.dataset.door === 'ssh') && location.search.includes('door=ssh')"),
    )
    .await;
    assert_eq!(
        b.execute(&format!("return {rows}.map(r => [r.querySelector('.door').textContent, r.querySelector('.action').textContent.trim()]);")).await,
        json!([["SSH", "登录失败"]])
    );

    b.goto(&format!("{}/permissions", app.base)).await;
    b.wait_until("htmx", "typeof htmx !== 'undefined'").await;
    pick(&b, "select[name=module]", "images").await;
    let ids = "[...document.querySelectorAll('#list tbody.module')].map(t => t.id)";
    b.wait_until(
        "the images group alone",
        &format!("JSON.stringify({ids}) === '[\"module-images\"]'"),
    )
    .await;
    assert_eq!(
        b.execute("return document.querySelector('#list tr.module-head th').textContent;")
            .await,
        json!("镜像库")
    );

    b.goto(&format!("{}/lang/en?next=/permissions", app.base))
        .await;
    b.wait_for_page("/permissions").await;
    assert_eq!(
        b.execute("return document.querySelector('#module-images td.description').textContent;")
            .await,
        json!("Images: list")
    );
}
