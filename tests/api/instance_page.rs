//! The instance page `/instances/{id}` (issue 17): what the instance is, how to connect
//! through the jumpbox, what happened to it (events written by a trigger, whoever made the
//! change), its actions answered in place, and nobody else's instance.

use crate::helpers::TestApp;
use crate::instances::{labelled, mia_on_local, settled, submit, unique};
use crate::streams::{Cleanup, running_instance};

#[tokio::test]
async fn the_instance_page_shows_the_instance_how_to_connect_and_its_events() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    app.user("zoe", "customer_member", None).await;
    let mia = app.logged_in("mia").await;
    let (id, cid) = running_instance(&app, &mia, "page").await;
    let _cleanup = Cleanup(cid.clone());
    let name = crate::instances::text_row(
        &app,
        &format!("SELECT name AS t FROM instances WHERE id = {id}"),
    );

    // the list links the name to the page
    let list = mia.text("/instances").await;
    assert!(
        list.contains(&format!("<a href=\"/instances/{id}\">{name}</a>")),
        "{list}"
    );

    let page = mia.text(&format!("/instances/{id}")).await;
    for expected in [
        format!("<h1>{name}</h1>"),
        "busybox".to_string(),
        "运行中".to_string(),
        // the jumpbox command names the panel's host (not its port), the user and the instance
        format!("ssh -p {} -t mia@127.0.0.1 {name}", app.ssh_port),
        format!(
            "data-copy=\"ssh -p {} -t mia@127.0.0.1 {name}\"",
            app.ssh_port
        ),
        "SHA256:".to_string(),
        // ready-to-copy sftp, scp, port forwards and a ~/.ssh/config block (issue 18)
        format!("sftp -P {} mia@{name}@127.0.0.1", app.ssh_port),
        format!(
            "scp -P {} data.tar mia@{name}@127.0.0.1:/root/",
            app.ssh_port
        ),
        format!(
            "ssh -p {} -N -L 8888:localhost:8888 mia@{name}@127.0.0.1",
            app.ssh_port
        ),
        format!(
            "ssh -p {} -N -L 6006:localhost:6006 mia@{name}@127.0.0.1",
            app.ssh_port
        ),
        format!(
            "Host {name}\n    HostName 127.0.0.1\n    Port {}\n    User mia@{name}\n",
            app.ssh_port
        ),
        // created, then ready, then its container running: newest first
        "data-kind=\"created\"".to_string(),
        "data-kind=\"phase\" data-value=\"ready\"".to_string(),
        "data-kind=\"status\" data-value=\"running\"".to_string(),
        format!("/instances/{id}/terminal"),
        format!("/instances/{id}/logs"),
        cid[..12].to_string(),
    ] {
        assert!(page.contains(&expected), "{expected} missing in {page}");
    }
    // a member is not shown the owner column, nor operator-only warnings
    assert!(
        !page.contains("所有者") && !page.contains("系统盘未限额"),
        "{page}"
    );
    let running = page.find("data-value=\"running\"").unwrap();
    let created = page.find("data-kind=\"created\"").unwrap();
    assert!(running < created, "newest first");

    // stop from the page: the answer is the page's live part, with the new event
    let r = mia
        .post_hx(&format!("/instances/{id}/stop?view=page"), &[])
        .await;
    assert_eq!(r.status(), 200);
    let live = r.text().await.unwrap();
    assert!(live.starts_with("<div id=\"instance-live\"") || live.contains("id=\"instance-live\""));
    assert!(
        live.contains("data-kind=\"status\" data-value=\"exited\"") && live.contains("已停止"),
        "{live}"
    );
    assert!(!live.contains("<html"), "a partial, not a page");
    // the poll gets the same part
    let polled = mia.text_hx(&format!("/instances/{id}")).await;
    assert!(polled.contains("id=\"instance-live\"") && !polled.contains("<html"));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM instance_events WHERE instance_id = {id} AND kind = 'status' AND value = 'exited'"
        )),
        1,
        "one event per change"
    );

    // another tenant's member, and a guess at an id, get 404 (the page and its poll)
    let zoe = app.logged_in("zoe").await;
    assert_eq!(zoe.get(&format!("/instances/{id}")).await.status(), 404);
    let r = zoe
        .post_hx(&format!("/instances/{id}/start?view=page"), &[])
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(mia.get("/instances/999999999").await.status(), 404);

    // the admin sees it with its owner, in English too
    let admin = app.admin().await;
    let page = admin.text(&format!("/instances/{id}")).await;
    assert!(page.contains("mia") && page.contains("所有者"), "{page}");
    admin.get("/lang/en?next=/").await;
    let page = admin.text(&format!("/instances/{id}")).await;
    assert!(
        page.contains("Events") && page.contains("SSH command") && page.contains("Stopped"),
        "{page}"
    );

    // delete from the page: back to the list, and the events go with the instance
    let r = mia
        .post_hx(&format!("/instances/{id}/delete?view=page"), &[])
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["HX-Redirect"], "/instances");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM instance_events WHERE instance_id = {id}"
        )),
        0
    );
}

#[tokio::test]
async fn a_failed_creation_is_an_event_with_its_reason() {
    let app = TestApp::spawn().await;
    let (s, img, sp, nd) =
        mia_on_local(&app, ("A100", 1, 1, 1, 10, 0), ("A100", 2, 8, 16, 100, 100)).await;
    let name = unique("fails");
    assert_eq!(submit(&s, img, sp, nd, &name).await.status(), 204);
    let id = crate::instances::instance_id(&app, &name);
    let (phase, _) = settled(&app, id).await;
    assert_eq!(phase, "failed");
    assert_eq!(labelled("container", &name), "");

    let page = s.text(&format!("/instances/{id}")).await;
    let failed = page
        .split("<tr ")
        .find(|row| row.contains("data-value=\"failed\""))
        .unwrap_or_else(|| panic!("no failure event in {page}"));
    assert!(
        failed.contains("创建失败") && failed.contains("could not select device driver"),
        "{failed}"
    );
    // a failed instance offers delete only
    assert!(page.contains(&format!("/instances/{id}/delete?view=page")));
    assert!(!page.contains(&format!("/instances/{id}/start")));
}
