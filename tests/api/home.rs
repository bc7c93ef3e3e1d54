//! The home dashboards and the first-run checklist (issue 17), against the real database:
//! what the admin sees of the installation, what an owner and a member see of their own
//! instances, and the partial the page polls.

use crate::helpers::TestApp;
use crate::instances::{fake_ready, image, node, spec};

/// The checklist's steps that are ticked, in order.
fn ticked(home: &str) -> Vec<&str> {
    ["image", "spec", "node", "instance"]
        .into_iter()
        .filter(|step| home.contains(&format!("class=\"done\" data-step=\"{step}\"")))
        .collect()
}

#[tokio::test]
async fn a_fresh_install_shows_a_checklist_ticked_step_by_step() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let home = admin.text("/").await;
    assert!(home.contains("id=\"checklist\""), "{home}");
    for link in ["/images", "/specs", "/nodes", "/instances"] {
        assert!(home.contains(&format!("<a href=\"{link}\">")), "{link}");
    }
    assert_eq!(ticked(&home), Vec::<&str>::new());

    let img = image(&app, "busybox", "busybox:1", true);
    assert_eq!(ticked(&admin.text("/").await), ["image"]);
    let sp = spec(&app, "small", ("none", 0, 1, 1, 1, 0), true);
    // an unlisted node is not yet offered to anyone: not ticked
    let nd = node(&app, "n1", ("none", 0, 8, 16, 100, 100), "", false);
    assert_eq!(ticked(&admin.text("/").await), ["image", "spec"]);
    app.count(&format!(
        "WITH u AS (UPDATE nodes SET listed = true WHERE id = {nd} RETURNING 1) SELECT count(*) AS n FROM u"
    ));
    assert_eq!(ticked(&admin.text("/").await), ["image", "spec", "node"]);
    let me = app.count("SELECT id AS n FROM users WHERE username = 'admin'");
    fake_ready(&app, "first", (img, sp, nd), me, None);
    // all done: the checklist steps aside
    let home = admin.text("/").await;
    assert!(!home.contains("id=\"checklist\""), "{home}");
    assert!(home.contains("id=\"stat-nodes\""));
}

#[tokio::test]
async fn the_admin_sees_nodes_gpus_states_failures_and_audit() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.company("acme").await;
    let mia = app.user("mia", "customer_member", Some(acme)).await;
    let img = image(&app, "cuda", "cuda:12", true);
    let sp = spec(&app, "a100x2", ("A100", 2, 4, 16, 10, 0), true);
    let big = node(&app, "big", ("A100", 8, 64, 256, 1000, 1000), "", true);
    node(&app, "small", ("A100", 4, 32, 128, 500, 500), "", true);
    let down = node(&app, "down", ("RTX 4090", 2, 16, 64, 100, 100), "", false);
    app.count(&format!(
        "WITH u AS (UPDATE nodes SET docker_state = 'unreachable' WHERE id = {down} RETURNING 1) SELECT count(*) AS n FROM u"
    ));
    for name in ["a", "b"] {
        let id = fake_ready(&app, name, (img, sp, big), mia, Some(acme));
        app.count(&format!(
            "WITH u AS (UPDATE instances SET gpu_count = 2, cpu_cores = 4, memory_gb = 16 WHERE id = {id} RETURNING 1) SELECT count(*) AS n FROM u"
        ));
    }
    let failed = fake_ready(&app, "broken", (img, sp, big), mia, Some(acme));
    app.count(&format!(
        "WITH u AS (UPDATE instances SET phase = 'failed', status = '', message = 'image not found' WHERE id = {failed} RETURNING 1) SELECT count(*) AS n FROM u"
    ));

    let home = admin.text("/").await;
    let gpu_row = |model: &str| {
        let start = home
            .find(&format!("<tr data-model=\"{model}\">"))
            .unwrap_or_else(|| panic!("no {model} row in {home}"));
        home[start..start + home[start..].find("</tr>").unwrap()].to_string()
    };
    // A100: 8 + 4 on two nodes, 4 held by the two live instances (the failed one holds none)
    assert_eq!(
        gpu_row("A100"),
        "<tr data-model=\"A100\"><td>A100</td><td>12</td><td>4</td><td>8</td>"
    );
    assert_eq!(
        gpu_row("RTX 4090"),
        "<tr data-model=\"RTX 4090\"><td>RTX 4090</td><td>2</td><td>0</td><td>2</td>"
    );
    // nodes: 3, 2 listed, 1 unreachable
    let nodes = &home[home.find("id=\"stat-nodes\"").unwrap()..];
    let nodes = &nodes[..nodes.find("</a>").unwrap()];
    assert!(
        nodes.contains(">3<") && nodes.contains("已上架 2") && nodes.contains("不可达 1"),
        "{nodes}"
    );
    // instances by state, and what the live ones hold
    assert!(
        home.contains("data-state=\"status.running\">运行中 2</span>")
            && home.contains("data-state=\"phase.failed\">创建失败 1</span>"),
        "{home}"
    );
    assert!(home.contains("4 GPU · 8 核 · 32 GB"), "{home}");
    // the failure links to its page with its reason
    let failures = &home[home.find("id=\"recent-failures\"").unwrap()..];
    assert!(
        failures.contains(&format!("<a href=\"/instances/{failed}\">broken</a>"))
            && failures.contains("image not found"),
        "{failures}"
    );
    // the latest audit events (the admin's own login among them)
    let audit = &home[home.find("id=\"recent-audit\"").unwrap()..];
    assert!(audit.contains("admin"), "{audit}");

    // the page polls its dashboard alone
    let part = admin.text_hx("/").await;
    assert!(
        part.trim_start().starts_with("<div id=\"dashboard\"") && !part.contains("<html"),
        "{part}"
    );
    assert!(part.contains("<td>12</td>"));
}

#[tokio::test]
async fn customers_see_only_their_instances_and_the_ssh_command() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let other = app.company("other").await;
    let mia = app.user("mia", "customer_member", Some(acme)).await;
    let max = app.user("max", "customer_member", Some(acme)).await;
    app.user("olga", "customer_owner", Some(acme)).await;
    let zed = app.user("zed", "customer_member", Some(other)).await;
    let img = image(&app, "cuda", "cuda:12", true);
    let sp = spec(&app, "a100", ("A100", 1, 2, 8, 10, 0), true);
    let nd = node(&app, "big", ("A100", 8, 64, 256, 1000, 1000), "", true);
    for (name, owner, company) in [
        ("m1", mia, acme),
        ("m2", mia, acme),
        ("x1", max, acme),
        ("z1", zed, other),
    ] {
        let id = fake_ready(&app, name, (img, sp, nd), owner, Some(company));
        app.count(&format!(
            "WITH u AS (UPDATE instances SET gpu_count = 1, cpu_cores = 2, memory_gb = 8 WHERE id = {id} RETURNING 1) SELECT count(*) AS n FROM u"
        ));
    }

    let mia_s = app.logged_in("mia").await;
    let home = mia_s.text("/").await;
    assert!(
        home.contains("data-state=\"status.running\">运行中 2</span>"),
        "{home}"
    );
    assert!(home.contains("2 GPU · 4 核 · 16 GB"), "{home}");
    assert!(!home.contains("id=\"checklist\"") && !home.contains("gpu-models"));
    assert!(
        home.contains(&format!("ssh -p {} mia@127.0.0.1</code>", app.ssh_port)),
        "{home}"
    );
    // the owner sees the company's three, not the other company's
    let home = app.logged_in("olga").await.text("/").await;
    assert!(
        home.contains("运行中 3</span>") && home.contains("3 GPU · 6 核 · 24 GB"),
        "{home}"
    );
    // polled: the customer's part only
    let part = mia_s.text_hx("/").await;
    assert!(
        part.contains("运行中 2</span>") && !part.contains("<html"),
        "{part}"
    );
}

#[tokio::test]
async fn the_first_start_registers_the_local_engine_as_an_unlisted_node_once() {
    let app = TestApp::spawn_with(|s| s.docker.local_node = true).await;
    let (_, ncpu) = crate::instances::docker(&["info", "--format", "{{.NCPU}}"]);
    let (_, mem) = crate::instances::docker(&["info", "--format", "{{.MemTotal}}"]);
    let mem_gb = mem.trim().parse::<i64>().unwrap() / (1 << 30);
    let row = crate::instances::text_row(
        &app,
        "SELECT concat_ws(',', name, listed, cpu_cores, memory_gb, docker_endpoint, use_tls, system_disk_gb > 0) AS t FROM nodes",
    );
    assert_eq!(
        row,
        format!(
            "local,f,{},{mem_gb},unix:///var/run/docker.sock,f,t",
            ncpu.trim()
        )
    );
    // the checklist leaves "list a node" to the admin
    let admin = app.admin().await;
    assert_eq!(ticked(&admin.text("/").await), Vec::<&str>::new());

    // deleted, it is not made again by a later start — nor by five at once
    app.count("WITH d AS (DELETE FROM nodes RETURNING 1) SELECT count(*) AS n FROM d");
    let again = suanli::ops::catalog::register_local_node(&app.state)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(app.count("SELECT count(*) AS n FROM nodes"), 0);
    app.count("WITH d AS (DELETE FROM first_run RETURNING 1) SELECT count(*) AS n FROM d");
    let runs = (0..5).map(|_| suanli::ops::catalog::register_local_node(&app.state));
    let made: Vec<_> = futures_util::future::join_all(runs).await;
    assert_eq!(
        made.iter()
            .filter(|r| r.as_ref().unwrap().is_some())
            .count(),
        1,
        "{made:?}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM nodes WHERE name = 'local'"),
        1
    );
}

#[tokio::test]
async fn no_engine_no_local_node_and_existing_nodes_are_left_alone() {
    // nothing answers at the endpoint: the start goes on, no node, asked again next time
    let app = TestApp::spawn_with(|s| {
        s.docker.local_node = true;
        s.docker.local_endpoint = "unix:///nonexistent/docker.sock".into();
    })
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM nodes"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM first_run"), 0);
    // an admin added a node first: the local engine is not offered any more
    node(&app, "mine", ("none", 0, 8, 16, 100, 100), "", true);
    let r = suanli::ops::catalog::register_local_node(&app.state)
        .await
        .unwrap();
    assert_eq!(r, None);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM first_run WHERE step = 'local_node'"),
        1
    );
}
