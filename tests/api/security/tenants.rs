//! Tenancy of instances: names are unique within a tenant only (another company's names
//! are neither taken nor revealed), the jumpbox resolves a name within what the user may
//! see, and a member moved to another company takes their instances along.

use crate::helpers::{Session, TestApp};
use crate::instances::{TEST_IMAGE, fake_ready, image, node, spec, submit};
use crate::ssh::ssh_run;

/// A node whose engine cannot be reached: instances submitted to it fail at once, with
/// nothing made anywhere (these tests are about rows and names).
fn catalog(app: &TestApp) -> (i64, i64, i64) {
    let img = image(app, "busybox", TEST_IMAGE, true);
    let sp = spec(app, "small", ("none", 0, 1, 1, 10, 0), true);
    let nd = node(
        app,
        "nowhere",
        ("none", 0, 8, 16, 100, 100),
        "tcp://127.0.0.1:9",
        true,
    );
    (img, sp, nd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_names_are_unique_within_a_tenant_only() {
    let app = TestApp::spawn().await;
    let (acme, globex) = (app.company("acme").await, app.company("globex").await);
    let ann = app.user("ann", "customer_member", Some(acme)).await;
    app.user("amy", "customer_member", Some(acme)).await;
    app.user("gus", "customer_member", Some(globex)).await;
    let cat = catalog(&app);
    fake_ready(&app, "train-1", cat, ann, Some(acme));
    let (img, sp, nd) = cat;

    // another company may use the name, and is told nothing about acme's
    let gus = app.logged_in("gus").await;
    let res = submit(&gus, img, sp, nd, "train-1").await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM instances WHERE name = 'train-1'"),
        2
    );
    // within acme the name is taken
    let amy = app.logged_in("amy").await;
    let res = submit(&amy, img, sp, nd, "train-1").await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("class=\"error\"") && body.contains("名称已存在"),
        "{body}"
    );

    // the jumpbox: gus enters his own train-1; an admin seeing both is asked for the number
    let (dir, port) = (app.data_dir.clone(), app.ssh_port);
    let out = tokio::task::spawn_blocking(move || {
        let gus = ssh_run(
            &dir,
            port,
            "gus",
            crate::helpers::PASSWORD,
            &["train-1", "--", "true"],
        );
        (gus, dir)
    })
    .await
    .unwrap();
    let ((_, gus_out, gus_err), dir) = out;
    let gus_said = format!("{gus_out}{gus_err}");
    assert!(!gus_said.contains("有多个实例"), "{gus_said}");
    let _admin = app.admin().await;
    let (_, out, err) = tokio::task::spawn_blocking(move || {
        ssh_run(
            &dir,
            port,
            "admin",
            crate::helpers::PASSWORD,
            &["train-1", "--", "true"],
        )
    })
    .await
    .unwrap();
    assert!(
        format!("{out}{err}").contains("有多个实例使用这个名称，请在菜单中输入序号进入"),
        "{out}{err}"
    );
}

/// The admin's edit form, saved with the member in `company`.
async fn move_member(admin: &Session, id: i64, name: &str, company: i64) -> reqwest::Response {
    let company = company.to_string();
    let fields = [
        ("username", name),
        ("display_name", ""),
        ("role", "customer_member"),
        ("company_id", company.as_str()),
    ];
    admin.post_form(&format!("/users/{id}"), &fields).await
}

#[tokio::test]
async fn a_member_moved_to_another_company_takes_their_instances_along() {
    let app = TestApp::spawn().await;
    let (acme, globex) = (app.company("acme").await, app.company("globex").await);
    let ann = app.user("ann", "customer_member", Some(acme)).await;
    app.user("oda", "customer_owner", Some(acme)).await;
    app.user("ole", "customer_owner", Some(globex)).await;
    let cat = catalog(&app);
    let box1 = fake_ready(&app, "box-1", cat, ann, Some(acme));
    let oda = app.logged_in("oda").await;
    let ole = app.logged_in("ole").await;
    let page = |id| format!("/instances/{id}/row");
    assert_eq!(oda.get(&page(box1)).await.status(), 200);
    assert_eq!(ole.get(&page(box1)).await.status(), 404);

    let admin = app.admin().await;
    let res = move_member(&admin, ann, "ann", globex).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        oda.get(&page(box1)).await.status(),
        404,
        "the old owner loses it"
    );
    assert_eq!(
        ole.get(&page(box1)).await.status(),
        200,
        "the new owner gains it"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE action = 'instances_moved'"),
        1
    );

    // a name clash in the new company refuses the move, and nothing changes
    let ole_id = app.count("SELECT id AS n FROM users WHERE username = 'ole'");
    fake_ready(&app, "box-2", cat, ole_id, Some(globex));
    let box2 = fake_ready(&app, "box-2", cat, ann, None);
    app.sql(&format!(
        "UPDATE instances SET company_id = {acme} WHERE id = {box2}"
    ));
    app.sql(&format!(
        "UPDATE users SET company_id = {acme} WHERE id = {ann}"
    ));
    app.sql(&format!(
        "UPDATE instances SET company_id = {acme} WHERE owner_id = {ann}"
    ));
    let res = move_member(&admin, ann, "ann", globex).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("重名"));
    assert_eq!(
        app.count(&format!(
            "SELECT company_id AS n FROM users WHERE id = {ann}"
        )),
        acme
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM instances WHERE owner_id = {ann} AND company_id = {acme}"
        )),
        2
    );
}
