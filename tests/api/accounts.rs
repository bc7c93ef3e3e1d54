use crate::helpers::TestApp;

#[tokio::test]
async fn users_roles_and_companies() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    assert_eq!(
        admin
            .post_hx("/companies", &[("name", "算力科技"), ("remark", "")])
            .await
            .status(),
        204
    );
    let company = app.count("SELECT id AS n FROM companies").to_string();

    // role/company rules
    let pw = crate::helpers::PASSWORD;
    let r = admin
        .post_hx(
            "/users",
            &[
                ("username", "own1"),
                ("role", "customer_owner"),
                ("company_id", ""),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 422, "owner needs a company");
    let r = admin
        .post_hx(
            "/users",
            &[
                ("username", "adm2"),
                ("role", "admin"),
                ("company_id", &company),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 422, "admins belong to no company");
    let r = admin
        .post_hx(
            "/users",
            &[
                ("username", "own1"),
                ("role", "customer_owner"),
                ("company_id", &company),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = admin
        .post_hx(
            "/users",
            &[
                ("username", "own1"),
                ("role", "customer_member"),
                ("company_id", ""),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 422, "unique username");
    let r = admin
        .post_hx(
            "/users",
            &[
                ("username", "m1"),
                ("role", "customer_member"),
                ("company_id", "999"),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 422, "unknown company");

    // a new user must change the password at first login
    let mut s = app.client();
    assert_eq!(s.login("own1", pw).await.headers()["location"], "/password");

    let list = admin.text("/users?q=own").await;
    assert!(list.contains("own1") && list.contains("算力科技") && list.contains("客户负责人"));

    // edit: move to member without company
    let id = app.count("SELECT id AS n FROM users WHERE username = 'own1'");
    let r = admin
        .post_hx(
            &format!("/users/{id}"),
            &[
                ("username", "own1"),
                ("display_name", "老王"),
                ("role", "customer_member"),
                ("company_id", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM users WHERE id = {id} AND company_id IS NULL AND role = 'customer_member'")), 1);

    // an admin cannot disable or demote themselves
    let me = app.count("SELECT id AS n FROM users WHERE username = 'admin'");
    assert_eq!(
        admin
            .post_hx(&format!("/users/{me}/disabled"), &[("disabled", "1")])
            .await
            .status(),
        409
    );
    let r = admin
        .post_hx(
            &format!("/users/{me}"),
            &[
                ("username", "admin"),
                ("role", "customer_member"),
                ("company_id", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn company_delete_refused_while_users_belong() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let c = app.company("busy").await;
    let u = app.user("worker", "customer_member", Some(c)).await;
    let r = admin.post_hx(&format!("/companies/{c}/delete"), &[]).await;
    assert_eq!(r.status(), 409);
    app.sql(&format!(
        "UPDATE users SET company_id = NULL WHERE id = {u}"
    ));
    assert_eq!(
        admin
            .post_hx(&format!("/companies/{c}/delete"), &[])
            .await
            .status(),
        204
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM companies"), 0);
}

#[tokio::test]
async fn audit_log_records_and_filters() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    admin
        .post_hx("/images", &[("name", "audited"), ("address", "busybox")])
        .await;
    let id = app.count("SELECT id AS n FROM images");
    admin
        .post_hx(&format!("/images/{id}/listed"), &[("listed", "0")])
        .await;
    let row = app.count(&format!(
        "SELECT count(*) AS n FROM audit_logs WHERE username = 'admin' AND role = 'admin' AND ip = '127.0.0.1' AND method = 'POST' \
         AND path = '/images/{id}/listed' AND resource_type = 'images' AND resource_id = '{id}' AND status = 204"
    ));
    assert_eq!(row, 1);
    // nothing secret is recorded
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_logs WHERE detail ILIKE '%pass%' AND action <> 'login_failed'"), 0);

    // the action in words (its route's description, 登录成功), the path beneath
    let page = admin.text("/audit?resource_type=images").await;
    assert!(
        page.contains(&format!(
            "镜像库：上架 / 下架<br><small>/images/{id}/listed</small>"
        )) && !page.contains("登录成功")
    );
    let page = admin.text("/audit?user=admin").await;
    assert!(page.contains("登录成功"));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let page = admin
        .text_hx(&format!("/audit?from={today}&to={today}"))
        .await;
    assert!(page.contains("登录成功") && !page.contains("<html"));
    let page = admin.text("/audit?from=2001-01-01&to=2001-01-02").await;
    assert!(page.contains("暂无数据"));
}
