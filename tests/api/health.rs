use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz() {
    let app = TestApp::spawn().await;
    let s = app.client();
    assert_eq!(s.get("/healthz").await.status(), 200);
    let r = s.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "ok");
}

#[tokio::test]
async fn database_down_gives_503_and_recovers() {
    let app = TestApp::spawn().await;
    let s = app.client();
    // take the database away: refuse new connections and kill the pool's
    let server_sql = |q: String| {
        use diesel::RunQueryDsl;
        diesel::sql_query(q)
            .execute(&mut crate::helpers::admin_conn())
            .unwrap();
    };
    let db = app.db.name.clone();
    server_sql(format!(
        "ALTER DATABASE \"{db}\" WITH ALLOW_CONNECTIONS false"
    ));
    server_sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ));
    let r = s.get("/readyz").await;
    assert_eq!(r.status(), 503);
    let r = s.get("/login").await;
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("数据库"));
    server_sql(format!(
        "ALTER DATABASE \"{db}\" WITH ALLOW_CONNECTIONS true"
    ));
    // the pool reconnects by itself
    crate::helpers::eventually("the pool reconnects", async || {
        (s.get("/readyz").await.status() == 200).then_some(())
    })
    .await;
    assert_eq!(s.get("/login").await.status(), 200);
}

#[tokio::test]
async fn unreachable_database_at_start_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("suanli-nodb-{}", uuid::Uuid::new_v4().simple()));
    let mut s = crate::helpers::test_settings("postgres://postgres@127.0.0.1:1/none", &dir);
    s.database.connect_timeout_secs = 1;
    let err = suanli::startup::Application::build(s)
        .await
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("database"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn unknown_route_is_404_page() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let r = admin.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("不存在"));
    assert_eq!(admin.get("/images/999999/edit").await.status(), 404);
    assert_eq!(admin.get("/static/%2e%2e/Cargo.toml").await.status(), 404);
    assert_eq!(admin.get("/static/vendor/htmx.min.js").await.status(), 200);
}
