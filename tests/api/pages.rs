//! The pages around the lists (issue 17, "Broken today"), over HTTP: error pages in the
//! layout and the UI's language, the icon, a customer's home page and the wizard's
//! refusals. Their look in Chromium is tests/api/browser_pages.rs.

use crate::helpers::{Session, TestApp};
use crate::instances::{fake_catalog, fake_ready};

/// What only the navigation of a logged-in user has.
const NAV: &str = "<nav class=\"nav\">";

async fn in_english(s: &Session) {
    let r = s.get("/lang/en?next=/").await;
    assert_eq!(r.status(), 303, "the language switch");
}

#[tokio::test]
async fn error_pages_keep_the_layout_in_one_language() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let mia = app.logged_in("mia").await;

    // 404: the header, mia's navigation and name, Chinese only
    let r = mia.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    for want in [
        NAV,
        "href=\"/instances\"",
        "mia",
        "找不到页面",
        "页面或记录不存在",
        "id=\"error-message\"",
        "/static/app.css",
    ] {
        assert!(body.contains(want), "404 lacks {want}: {body}");
    }
    for english in ["Not found", "Page not found", "lang=\"en\"", "Home"] {
        assert!(
            !body.contains(english),
            "404 in zh-CN says {english}: {body}"
        );
    }
    // a path parameter that does not parse is the same 404
    let r = mia.get("/instances/not-a-number/logs").await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(body.contains(NAV) && body.contains("找不到页面"), "{body}");

    // 403: an admin page refused by the gate
    let r = mia.get("/images").await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        body.contains(NAV) && body.contains("没有权限执行此操作"),
        "{body}"
    );
    assert!(!body.contains("You are not allowed"), "{body}");
    // the admin entries stay hidden on it
    assert!(!body.contains("href=\"/nodes\""), "{body}");

    // to an HTMX request: the message alone, for #flash
    let r = mia.get_hx("/no/such/page").await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"error-message\"") && body.contains("页面或记录不存在"),
        "{body}"
    );
    assert!(
        !body.contains("<nav") && !body.contains("Not found"),
        "{body}"
    );

    // in English: English only
    in_english(&mia).await;
    let body = mia.text("/no/such/page").await;
    assert!(
        body.contains(NAV) && body.contains("Page not found"),
        "{body}"
    );
    assert!(
        !body.contains("不存在") && !body.contains("找不到"),
        "{body}"
    );
    let body = mia.text("/images").await;
    assert!(body.contains("You are not allowed to do this"), "{body}");
    assert!(!body.contains("没有权限"), "{body}");

    // a visitor: the header with the language switch, no navigation
    let anon = app.client();
    let r = anon.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("class=\"top\"") && body.contains("/lang/en"),
        "{body}"
    );
    assert!(!body.contains(NAV) && !body.contains("Not found"), "{body}");
}

#[tokio::test]
async fn the_icon_is_served() {
    let app = TestApp::spawn().await;
    let anon = app.client();
    let r = anon.get("/favicon.ico").await;
    assert_eq!(r.status(), 301);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, "/static/favicon.svg");
    let r = anon.get(&to).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let login = anon.text("/login").await;
    assert!(
        login.contains("rel=\"icon\" href=\"/static/favicon.svg\""),
        "{login}"
    );
}

#[tokio::test]
async fn a_customers_home_shows_their_instances_and_the_create_button() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let mia = app.user("mia", "customer_member", Some(acme)).await;
    app.user("olga", "customer_owner", Some(acme)).await;
    let catalog = fake_catalog(&app, ("none", 0, 1, 1, 0, 1), ("none", 0, 8, 16, 100, 100));
    fake_ready(&app, "mias-box", catalog, mia, Some(acme));

    let s = app.logged_in("mia").await;
    let home = s.text("/").await;
    for want in [
        "我的实例",
        "id=\"new-button\"",
        "href=\"/instances\"",
        "mias-box",
        "id=\"list\"",
    ] {
        assert!(
            home.contains(want),
            "the member's home lacks {want}: {home}"
        );
    }
    assert!(!home.contains("即将上线"), "{home}");
    // stopping and restarting ask first, naming the instance
    for want in [
        "hx-confirm=\"确定关闭实例 mias-box？\"",
        "hx-confirm=\"确定重启实例 mias-box？\"",
    ] {
        assert!(
            home.contains(want),
            "the member's home lacks {want}: {home}"
        );
    }

    let owner = app.logged_in("olga").await;
    let home = owner.text("/").await;
    assert!(
        home.contains("公司的实例") && home.contains("mias-box"),
        "{home}"
    );

    // English
    in_english(&s).await;
    let home = s.text("/").await;
    assert!(
        home.contains("My instances") && home.contains("New instance"),
        "{home}"
    );

    // a role whose record no longer lists instances gets no list and no button
    app.sql(
        "UPDATE api_permissions SET allowed_roles = array_remove(allowed_roles, 'customer_member')
         WHERE path_pattern = '/instances'",
    );
    let home = s.text("/").await;
    assert!(
        !home.contains("id=\"list\"") && !home.contains("id=\"new-button\""),
        "{home}"
    );
}

#[tokio::test]
async fn next_without_a_choice_stays_and_says_why() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let (img, sp, nd) = fake_catalog(&app, ("none", 0, 1, 1, 0, 1), ("none", 0, 8, 16, 100, 100));

    // a 200 (asking for a step submits nothing), the same step, the reason on it
    let r = s.get_hx("/instances/new?step=spec").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"image-choices\"") && body.contains("请选择一个镜像"),
        "{body}"
    );
    let body = s
        .text_hx(&format!("/instances/new?step=node&image_id={img}"))
        .await;
    assert!(
        body.contains("id=\"spec-choices\"") && body.contains("请选择一个产品规格"),
        "{body}"
    );
    let body = s
        .text_hx(&format!(
            "/instances/new?step=details&image_id={img}&spec_id={sp}&node_spec_id={sp}"
        ))
        .await;
    assert!(
        body.contains("id=\"node-choices\"") && body.contains("请选择一个算力节点"),
        "{body}"
    );
    // the summary without a name: the details step, the name required (once, in red)
    let chosen = format!("image_id={img}&spec_id={sp}&node_id={nd}&node_spec_id={sp}");
    let r = s
        .get_hx(&format!("/instances/new?step=confirm&{chosen}"))
        .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert_eq!(body.matches("class=\"error\"").count(), 1, "{body}");
    assert!(body.contains("必填"), "{body}");
    // a bad name: the rule once, as the error (not again as the hint)
    let body = s
        .text_hx(&format!("/instances/new?step=confirm&{chosen}&name=bad-"))
        .await;
    assert_eq!(body.matches("不以连字符结尾</small>").count(), 1, "{body}");
    assert!(body.contains("class=\"error\""), "{body}");
    // a good one reaches the summary; going back needs no choice
    let body = s
        .text_hx(&format!("/instances/new?step=confirm&{chosen}&name=good-1"))
        .await;
    assert!(
        body.contains("wizard-summary") && !body.contains("class=\"error\""),
        "{body}"
    );
    let r = s
        .get_hx(&format!("/instances/new?step=image&{chosen}"))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_pager_says_page_and_total_in_words_and_a_user_never_logged_in_shows_a_dash() {
    let app = TestApp::spawn().await;
    app.user("never", "customer_member", None).await;
    let admin = app.admin().await;
    let n = app.count("SELECT count(*) AS n FROM users");

    let body = admin.get("/users").await.text().await.unwrap();
    assert!(
        body.contains(&format!("第 1/1 页 · 共 {n} 条")),
        "the users pager in zh-CN: {body}"
    );
    let row = body
        .split("<tr")
        .find(|r| r.contains(">never<"))
        .unwrap_or_default();
    assert!(row.contains(">—</td>"), "never logged in: {row}");

    in_english(&admin).await;
    let body = admin.get("/images").await.text().await.unwrap();
    assert!(
        body.contains("Page 1 of 1 · 0 in all"),
        "the images pager in English: {body}"
    );
}
