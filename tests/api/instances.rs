//! Instances against the real Docker engine of this machine (/var/run/docker.sock,
//! started by scripts/test.sh) and the busybox test image built there.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use crate::helpers::{Session, TestApp};

pub const TEST_IMAGE: &str = "suanli-test/busybox:1";
pub const LOCAL_DOCKER: &str = "unix:///var/run/docker.sock";

/// Inserts a listed image, returns its id.
pub fn image(app: &TestApp, name: &str, address: &str, listed: bool) -> i64 {
    app.count(&format!(
        "INSERT INTO images (name, address, listed) VALUES ('{name}', '{address}', {listed}) RETURNING id AS n"
    ))
}

/// (gpu_model, gpus, cpu, memory GB, system disk GB, data disk GB)
pub type Res<'a> = (&'a str, i32, i32, i32, i32, i32);

pub fn spec(app: &TestApp, name: &str, r: Res, listed: bool) -> i64 {
    let (model, g, c, m, s, d) = r;
    app.count(&format!(
        "INSERT INTO specs (name, gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb, price_per_hour_cents, listed)
         VALUES ('{name}', '{model}', {g}, {c}, {m}, {s}, {d}, 150, {listed}) RETURNING id AS n"
    ))
}

pub fn node(app: &TestApp, name: &str, r: Res, endpoint: &str, listed: bool) -> i64 {
    let (model, g, c, m, s, d) = r;
    app.count(&format!(
        "INSERT INTO nodes (name, region, cpu_cores, memory_gb, system_disk_gb, data_disk_gb, public_ip, private_ip,
                            gpu_model, gpu_count, docker_endpoint, use_tls, listed)
         VALUES ('{name}', 'test', {c}, {m}, {s}, {d}, '127.0.0.1', '127.0.0.1', '{model}', {g}, '{endpoint}', false, {listed})
         RETURNING id AS n"
    ))
}

/// The busybox image, a spec with `spec_res` and the local engine as a node with
/// `node_res`, all listed. Returns (image, spec, node).
pub fn local_catalog(app: &TestApp, spec_res: Res<'_>, node_res: Res<'_>) -> (i64, i64, i64) {
    let img = image(app, "busybox", TEST_IMAGE, true);
    let sp = spec(app, "small", spec_res, true);
    let nd = node(app, "local", node_res, LOCAL_DOCKER, true);
    (img, sp, nd)
}

/// The busybox image, a spec with `spec_res` and a node with `node_res` that has no
/// Docker endpoint yet ("fake"): the home of `fake_ready` rows. The status worker follows
/// only nodes with an endpoint, so it never reconciles these rows against a real engine
/// (where their made-up container would be 容器不存在) — their status stays what the
/// test says. Returns (image, spec, node).
pub fn fake_catalog(app: &TestApp, spec_res: Res<'_>, node_res: Res<'_>) -> (i64, i64, i64) {
    let img = image(app, "busybox", TEST_IMAGE, true);
    let sp = spec(app, "small", spec_res, true);
    let nd = node(app, "fake", node_res, "", true);
    (img, sp, nd)
}

/// A ready, "running" instance row whose container does not exist (for access tests
/// that never reach the engine), on a node with no engine the status worker could ask
/// about it (`fake_catalog`, or one that cannot be reached). Returns its id.
pub fn fake_ready(
    app: &TestApp,
    name: &str,
    (img, sp, nd): (i64, i64, i64),
    owner: i64,
    company: Option<i64>,
) -> i64 {
    let endpoint = text_row(
        app,
        &format!("SELECT docker_endpoint AS t FROM nodes WHERE id = {nd}"),
    );
    assert_ne!(
        endpoint, LOCAL_DOCKER,
        "a fake row on the real engine is marked missing by the status worker: use fake_catalog"
    );
    let company = company.map_or("NULL".to_string(), |c| c.to_string());
    app.count(&format!(
        "INSERT INTO instances (name, image_id, spec_id, node_id, owner_id, company_id, phase, status, container_id)
         VALUES ('{name}', {img}, {sp}, {nd}, {owner}, {company}, 'ready', 'running', 'not-a-real-container') RETURNING id AS n"
    ))
}

/// The usual cast: member "mia" logged in, the busybox image, a spec with `spec_res`
/// and the local engine as a node with `node_res`. Returns (session, image, spec, node).
pub async fn mia_on_local(
    app: &TestApp,
    spec_res: Res<'_>,
    node_res: Res<'_>,
) -> (Session, i64, i64, i64) {
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let (img, sp, nd) = local_catalog(app, spec_res, node_res);
    (s, img, sp, nd)
}

/// Submits the wizard's final form as the browser does (HTMX post).
pub async fn submit(
    s: &Session,
    image: i64,
    spec: i64,
    node: i64,
    name: &str,
) -> reqwest::Response {
    s.post_hx(
        "/instances",
        &[
            ("image_id", &image.to_string()),
            ("spec_id", &spec.to_string()),
            ("node_id", &node.to_string()),
            ("node_spec_id", &spec.to_string()),
            ("name", name),
            ("remark", "test"),
        ],
    )
    .await
}

pub fn instance_id(app: &TestApp, name: &str) -> i64 {
    app.count(&format!(
        "SELECT id AS n FROM instances WHERE name = '{name}'"
    ))
}

/// Waits until the instance has left the creating phase; returns (phase, message).
pub async fn settled(app: &TestApp, id: i64) -> (String, String) {
    settled_in(&app.db, id).await
}

/// `settled` in a database of its own (a panel in a separate process).
pub async fn settled_in(db: &crate::helpers::TestDb, id: i64) -> (String, String) {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    use diesel::RunQueryDsl;
    for _ in 0..300 {
        let row = diesel::sql_query(format!(
            "SELECT phase || '|' || message AS t FROM instances WHERE id = {id}"
        ))
        .get_result::<T>(&mut db.conn())
        .expect("row")
        .t;
        let (phase, message) = row.split_once('|').unwrap();
        if phase != "creating" {
            return (phase.to_string(), message.to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instance {id} still creating after 30 s");
}

/// What node_usage (kept by triggers) says the node's live instances hold, as
/// "gpus,cpu,memory,system disk,data disk"; checked against the instances themselves.
fn usage(app: &TestApp, node: i64) -> String {
    let kept = text_row(
        app,
        &format!(
            "SELECT concat_ws(',', gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb) AS t
             FROM node_usage WHERE node_id = {node}"
        ),
    );
    let summed = text_row(
        app,
        &format!(
            "SELECT concat_ws(',', coalesce(sum(gpu_count), 0), coalesce(sum(cpu_cores), 0),
                    coalesce(sum(memory_gb), 0), coalesce(sum(system_disk_gb), 0),
                    coalesce(sum(data_disk_gb), 0)) AS t
             FROM instances WHERE node_id = {node} AND phase IN ('creating', 'ready')"
        ),
    );
    assert_eq!(kept, summed, "node_usage agrees with the instances");
    kept
}

pub fn text_row(app: &TestApp, q: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query(q)
        .get_result::<T>(&mut app.db.conn())
        .expect("row")
        .t
}

pub fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success(), text)
}

fn inspect(container: &str) -> serde_json::Value {
    let (ok, out) = docker(&["inspect", container]);
    assert!(ok, "docker inspect {container}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
}

/// Containers or volumes labelled with the instance name (unique per test; ids are not:
/// every test has its own database).
pub fn labelled(kind: &str, name: &str) -> String {
    let filter = format!("label=suanli.name={name}");
    let (_, out) = match kind {
        "container" => docker(&["ps", "-aq", "--filter", &filter]),
        _ => docker(&["volume", "ls", "-q", "--filter", &filter]),
    };
    out
}

/// Each test uses its own names: the engine is shared by parallel tests.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

#[tokio::test]
async fn wizard_offers_only_listed_choices_and_nodes_with_free_capacity() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let img = image(&app, "busybox", TEST_IMAGE, true);
    image(&app, "hidden-image", "x/hidden:1", false);
    let want = spec(&app, "a100-x2", ("A100", 2, 4, 16, 20, 50), true);
    spec(&app, "hidden-spec", ("A100", 1, 1, 1, 1, 1), false);
    let fits = node(
        &app,
        "fits",
        ("A100", 4, 8, 32, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    node(
        &app,
        "model-h100",
        ("H100", 8, 64, 256, 1000, 1000),
        LOCAL_DOCKER,
        true,
    );
    node(
        &app,
        "unlisted",
        ("A100", 8, 64, 256, 1000, 1000),
        LOCAL_DOCKER,
        false,
    );
    node(
        &app,
        "few-cpu",
        ("a100", 8, 3, 256, 1000, 1000),
        LOCAL_DOCKER,
        true,
    );
    node(
        &app,
        "few-mem",
        ("A100", 8, 64, 15, 1000, 1000),
        LOCAL_DOCKER,
        true,
    );
    node(
        &app,
        "few-sys",
        ("A100", 8, 64, 256, 19, 1000),
        LOCAL_DOCKER,
        true,
    );
    node(
        &app,
        "few-data",
        ("A100", 8, 64, 256, 1000, 49),
        LOCAL_DOCKER,
        true,
    );
    let busy = node(
        &app,
        "busy",
        ("A100", 4, 64, 256, 1000, 1000),
        LOCAL_DOCKER,
        true,
    );
    let owner = app.count("SELECT id AS n FROM users WHERE username = 'mia'");
    // an instance already on "busy" holds 3 of its 4 GPUs; a failed one holds nothing
    for (name, phase, gpus) in [("held", "ready", 3), ("gone", "failed", 4)] {
        app.sql(&format!(
            "INSERT INTO instances (name, image_id, spec_id, node_id, owner_id, phase, gpu_count, cpu_cores, memory_gb, gpu_indices)
             VALUES ('{name}', {img}, {want}, {busy}, {owner}, '{phase}', {gpus}, 1, 1, '{{}}')"
        ));
    }

    // step 1 and 2: only listed images and specs
    let step1 = s.text_hx("/instances/new").await;
    assert!(
        step1.contains("busybox") && !step1.contains("hidden-image"),
        "{step1}"
    );
    let step2 = s
        .text_hx(&format!("/instances/new?step=spec&image_id={img}"))
        .await;
    assert!(
        step2.contains("a100-x2") && !step2.contains("hidden-spec"),
        "{step2}"
    );
    assert!(
        step2.contains(&format!("name=\"image_id\" value=\"{img}\"")),
        "the image travels along"
    );

    // step 3 before a spec: no nodes at all
    let none = s.text_hx("/instances/new/nodes").await;
    assert!(none.contains("id=\"no-nodes\""), "{none}");
    // the node query: GPU model (case-insensitive), every resource, listed, free capacity
    let nodes = s
        .text_hx(&format!("/instances/new/nodes?spec_id={want}"))
        .await;
    let offered: HashSet<&str> = nodes
        .split("data-node=\"")
        .skip(1)
        .map(|p| p.split('"').next().unwrap())
        .collect();
    assert_eq!(offered, HashSet::from(["fits"]), "{nodes}");
    assert!(nodes.contains(&format!("value=\"{fits}\"")));

    // the wizard's node step shows the same; changing the spec clears the chosen node
    let step3 = s.text_hx(&format!("/instances/new?step=node&image_id={img}&spec_id={want}&node_id={fits}&node_spec_id={want}")).await;
    assert!(
        step3.contains(&format!("value=\"{fits}\" checked")),
        "{step3}"
    );
    let other = spec(&app, "a100-x1", ("A100", 1, 1, 1, 1, 1), true);
    let changed = s.text_hx(&format!("/instances/new?step=node&image_id={img}&spec_id={other}&node_id={fits}&node_spec_id={want}")).await;
    assert!(
        !changed.contains("checked"),
        "a new spec clears the node: {changed}"
    );
    // going back keeps the later choices as hidden fields
    let back = s.text_hx(&format!("/instances/new?step=spec&image_id={img}&spec_id={want}&node_id={fits}&node_spec_id={want}&name=keep-me")).await;
    assert!(
        back.contains(&format!("value=\"{want}\" checked")),
        "{back}"
    );
    assert!(back.contains("value=\"keep-me\""), "{back}");
    // skipping ahead is not possible: asking for the summary without a node shows step 3
    let skip = s
        .text_hx(&format!(
            "/instances/new?step=confirm&image_id={img}&spec_id={want}&name=x"
        ))
        .await;
    assert!(
        skip.contains("node-choices") && !skip.contains("wizard-summary"),
        "{skip}"
    );

    // a bad name is refused inline (422), nothing written
    let r = submit(&s, img, want, fits, "9-bad name").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("class=\"error\""));
    // choosing a node that does not fit is refused with 资源不足
    let r = submit(&s, img, want, busy, "too-big").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("资源不足"));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM instances WHERE name IN ('too-big', '9-bad name')"),
        0
    );
}

#[tokio::test]
async fn creating_maps_the_spec_onto_the_container_and_delete_removes_everything() {
    let app = TestApp::spawn().await;
    let (s, img, sp, nd) =
        mia_on_local(&app, ("none", 0, 1, 1, 10, 5), ("none", 0, 8, 16, 100, 100)).await;
    let name = unique("box");

    let r = submit(&s, img, sp, nd, &name).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let id = instance_id(&app, &name);
    let (phase, message) = settled(&app, id).await;
    assert_eq!(phase, "ready", "{message}");
    let container = text_row(
        &app,
        &format!("SELECT container_id AS t FROM instances WHERE id = {id}"),
    );
    let volume = format!("suanli-{id}-{name}-data");

    let c = inspect(&container);
    let host = &c["HostConfig"];
    assert_eq!(host["NanoCpus"], 1_000_000_000i64);
    assert_eq!(host["Memory"], 1024i64 * 1024 * 1024);
    assert_eq!(host["RestartPolicy"]["Name"], "unless-stopped");
    assert!(
        host["DeviceRequests"].is_null(),
        "no GPU request for a 0-GPU spec"
    );
    let mounts = host["Mounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["Target"] == "/data" && m["Source"] == volume.as_str())
    );
    assert_eq!(c["Config"]["Labels"]["suanli.instance"], id.to_string());
    assert_eq!(c["Config"]["Labels"]["suanli.name"], name.as_str());
    let (_, vol_label) = docker(&[
        "volume",
        "inspect",
        "-f",
        "{{index .Labels \"suanli.name\"}}",
        &volume,
    ]);
    assert_eq!(vol_label, name);
    assert_eq!(c["Config"]["Hostname"], name.as_str());
    assert_eq!(c["Name"], format!("/suanli-{id}-{name}"));
    assert_eq!(c["State"]["Status"], "running");
    // overlay2 on ext4 refuses --storage-opt size: created again without it, and marked
    assert!(host["StorageOpt"].is_null());
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM instances WHERE id = {id} AND NOT disk_quota AND status = 'running'")), 1);
    // the warning is the operator's: the admin sees it, the customer does not
    let list = s.text("/instances").await;
    assert!(
        list.contains(&name) && !list.contains("系统盘未限额") && list.contains("运行中"),
        "{list}"
    );
    let list = app.admin().await.text("/instances").await;
    assert!(
        list.contains(&name) && list.contains("系统盘未限额") && list.contains("运行中"),
        "{list}"
    );
    let (ok, _) = docker(&["volume", "inspect", &volume]);
    assert!(ok, "the data volume exists");
    assert_eq!(usage(&app, nd), "0,1,1,10,5");

    // stop and start through the panel
    let r = s.post_hx(&format!("/instances/{id}/stop"), &[]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("data-status=\"exited\""));
    assert_eq!(inspect(&container)["State"]["Status"], "exited");
    let r = s.post_hx(&format!("/instances/{id}/start"), &[]).await;
    assert!(r.text().await.unwrap().contains("data-status=\"running\""));

    // delete: container and volume gone, then the row
    let r = s.post_hx(&format!("/instances/{id}/delete"), &[]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(labelled("container", &name), "");
    assert_eq!(labelled("volume", &name), "");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM instances WHERE id = {id}"
        )),
        0
    );
    assert_eq!(
        usage(&app, nd),
        "0,0,0,0,0",
        "the node's capacity is free again"
    );
}

#[tokio::test]
async fn a_gpu_container_fails_on_this_gpu_less_engine_and_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let (s, img, sp, nd) =
        mia_on_local(&app, ("A100", 2, 1, 1, 10, 5), ("A100", 4, 8, 16, 100, 100)).await;
    let name = unique("gpu");

    let r = submit(&s, img, sp, nd, &name).await;
    assert_eq!(r.status(), 204);
    let id = instance_id(&app, &name);
    let (phase, message) = settled(&app, id).await;
    assert_eq!(phase, "failed");
    assert!(
        message.contains("could not select device driver"),
        "{message}"
    );
    assert_eq!(labelled("container", &name), "", "no container left");
    assert_eq!(labelled("volume", &name), "", "no volume left");
    // its GPUs and capacity are free again: the node is offered with all 4 GPUs
    let nodes = s
        .text_hx(&format!("/instances/new/nodes?spec_id={sp}"))
        .await;
    assert!(nodes.contains("GPU 4"), "{nodes}");
    assert_eq!(usage(&app, nd), "0,0,0,0,0");
    // the failed row shows the engine's message and can be deleted
    let list = s.text("/instances").await;
    assert!(list.contains("创建失败") && list.contains("could not select device driver"));
    let r = s.post_hx(&format!("/instances/{id}/delete"), &[]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(usage(&app, nd), "0,0,0,0,0");
}

#[tokio::test]
async fn the_engine_stores_the_gpu_request_with_the_assigned_indices() {
    // What provisioning sends for a GPU spec, created (not started) on the real engine.
    use suanli::docker::container::ContainerPlan;
    let plan = ContainerPlan {
        instance_id: suanli::domain::ids::InstanceId(
            900_000_000 + i64::from(std::process::id() % 1000),
        ),
        name: unique("gpu-body"),
        image: TEST_IMAGE.into(),
        cpu_cores: 2,
        memory_gb: 4,
        system_disk_gb: 0,
        data_disk_gb: 0,
        gpu_indices: vec![1, 3],
        network: "bridge".into(),
        pids_limit: 4096,
    };
    let docker = suanli::docker::connect(&suanli::docker::Endpoint {
        url: LOCAL_DOCKER.into(),
        tls: None,
    })
    .await
    .unwrap();
    let created = docker
        .create_container(
            Some(
                bollard::query_parameters::CreateContainerOptionsBuilder::default()
                    .name(&plan.container_name())
                    .build(),
            ),
            plan.create_body(false),
        )
        .await
        .unwrap();
    let c = inspect(&created.id);
    suanli::docker::container::remove(&docker, &created.id, None)
        .await
        .unwrap();
    let req = &c["HostConfig"]["DeviceRequests"][0];
    assert_eq!(req["Driver"], "nvidia");
    assert_eq!(req["DeviceIDs"], serde_json::json!(["1", "3"]));
    assert_eq!(req["Capabilities"], serde_json::json!([["gpu"]]));
    assert_eq!(c["HostConfig"]["NanoCpus"], 2_000_000_000i64);
    assert_eq!(c["HostConfig"]["Memory"], 4i64 * 1024 * 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creations_for_four_gpus_place_exactly_four() {
    let app = TestApp::spawn().await;
    // A node whose engine accepts connections but never answers: the placed instances
    // stay "creating" (holding their GPUs) for the whole test, so only placement decides.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", silent.local_addr().unwrap());
    let img = image(&app, "busybox", TEST_IMAGE, true);
    let sp = spec(&app, "a100-x1", ("A100", 1, 1, 1, 1, 1), true);
    let nd = node(
        &app,
        "four-gpus",
        ("A100", 4, 64, 256, 1000, 1000),
        &endpoint,
        true,
    );
    let mut sessions = Vec::new();
    for i in 0..20 {
        let u = format!("racer{i}");
        app.user(&u, "customer_member", None).await;
        sessions.push(app.logged_in(&u).await);
    }
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            tokio::spawn(async move {
                let r = submit(&s, img, sp, nd, &format!("race-{i}")).await;
                let status = r.status().as_u16();
                (status, r.text().await.unwrap())
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            204 => won += 1,
            422 => assert!(body.contains("资源不足"), "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won, 4);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM instances WHERE node_id = {nd}"
        )),
        4
    );
    let gpus = text_row(
        &app,
        &format!(
            "SELECT string_agg(g::text, ',' ORDER BY g) AS t FROM instances, unnest(gpu_indices) g WHERE node_id = {nd}"
        ),
    );
    assert_eq!(gpus, "0,1,2,3", "disjoint GPU indices");
    assert_eq!(usage(&app, nd), "4,4,4,4,4");
    drop(silent);
}

#[tokio::test]
async fn nobody_reaches_an_instance_outside_their_scope() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let other = app.company("other").await;
    let a = app.user("member-a", "customer_member", Some(acme)).await;
    let b = app.user("member-b", "customer_member", Some(acme)).await;
    app.user("owner-acme", "customer_owner", Some(acme)).await;
    app.user("owner-other", "customer_owner", Some(other)).await;
    let catalog = fake_catalog(&app, ("none", 0, 1, 1, 1, 0), ("none", 0, 8, 16, 100, 100));
    let of_a = fake_ready(&app, "inst-of-a", catalog, a, Some(acme));
    let of_b = fake_ready(&app, "inst-of-b", catalog, b, Some(acme));

    let sa = app.logged_in("member-a").await;
    let list = sa.text("/instances").await;
    assert!(list.contains("inst-of-a") && !list.contains("inst-of-b"));
    assert!(
        list.contains(&format!("/instances/{of_a}/stop")),
        "a running instance offers 关闭"
    );

    for path in [format!("/instances/{of_b}/row")] {
        assert_eq!(sa.get_hx(&path).await.status(), 404, "{path}");
    }
    for action in ["start", "stop", "restart", "delete"] {
        let r = sa
            .post_hx(&format!("/instances/{of_b}/{action}"), &[])
            .await;
        assert_eq!(r.status(), 404, "{action}");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM instances WHERE id = {of_b} AND phase = 'ready'"
        )),
        1
    );

    // an action whose permission record no longer allows the role: button hidden, call refused
    app.sql(
        "UPDATE api_permissions SET allowed_roles = array_remove(allowed_roles, 'customer_member')
         WHERE path_pattern = '/instances/{id}/stop'",
    );
    let list = sa.text("/instances").await;
    assert!(
        !list.contains(&format!("/instances/{of_a}/stop")),
        "no 关闭 button without the permission"
    );
    assert!(list.contains(&format!("/instances/{of_a}/restart")));
    assert_eq!(
        sa.post_hx(&format!("/instances/{of_a}/stop"), &[])
            .await
            .status(),
        403
    );
    let owner = app.logged_in("owner-acme").await;
    let list = owner.text("/instances").await;
    assert!(list.contains("inst-of-a") && list.contains("inst-of-b"));
    assert_eq!(
        owner
            .get_hx(&format!("/instances/{of_b}/row"))
            .await
            .status(),
        200
    );

    let stranger = app.logged_in("owner-other").await;
    let list = stranger.text("/instances").await;
    assert!(!list.contains("inst-of-a") && !list.contains("inst-of-b"));
    assert_eq!(
        stranger
            .get_hx(&format!("/instances/{of_a}/row"))
            .await
            .status(),
        404
    );

    let admin = app.admin().await;
    let list = admin.text("/instances").await;
    assert!(list.contains("inst-of-a") && list.contains("inst-of-b") && list.contains("member-b"));
}

/// A node row reaching `engine` over TLS, the client key encrypted like the form does.
pub fn tls_node(
    app: &TestApp,
    name: &str,
    engine: &crate::tls_dockerd::TlsDockerd,
    ca_pem: &str,
) -> i64 {
    let key_hex: String = app
        .state
        .master
        .encrypt(&engine.client_key_pem)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    app.count(&format!(
        "INSERT INTO nodes (name, public_ip, private_ip, gpu_model, gpu_count, cpu_cores, memory_gb,
                            system_disk_gb, data_disk_gb, docker_endpoint, use_tls, ca_cert, client_cert, client_key_enc)
         VALUES ('{name}', '127.0.0.1', '127.0.0.1', 'none', 0, 8, 16, 100, 100, '{}', true, '{ca_pem}', '{}',
                 decode('{key_hex}', 'hex')) RETURNING id AS n",
        engine.tcp_url(),
        engine.client_cert_pem,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_node_runs_instances_and_a_wrong_ca_fails_clearly() {
    let engine = tokio::task::spawn_blocking(crate::tls_dockerd::TlsDockerd::start)
        .await
        .unwrap();
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let img = image(&app, "busybox", TEST_IMAGE, true);
    let sp = spec(&app, "small", ("none", 0, 1, 1, 0, 1), true);
    let good = tls_node(&app, "tls-good", &engine, &engine.ca_pem);
    let bad = tls_node(&app, "tls-wrong-ca", &engine, &engine.wrong_ca_pem);

    assert_eq!(submit(&s, img, sp, good, "over-tls").await.status(), 204);
    let id = instance_id(&app, "over-tls");
    let (phase, message) = settled(&app, id).await;
    assert_eq!(phase, "ready", "{message}");
    let cid = text_row(
        &app,
        &format!("SELECT container_id AS t FROM instances WHERE id = {id}"),
    );
    let (ok, state) = docker(&[
        "-H",
        &engine.unix_socket(),
        "inspect",
        "-f",
        "{{.State.Status}}",
        &cid,
    ]);
    assert!(
        ok && state == "running",
        "the container runs on the TLS engine: {state}"
    );
    assert_eq!(
        s.post_hx(&format!("/instances/{id}/delete"), &[])
            .await
            .status(),
        204
    );
    let (_, left) = docker(&["-H", &engine.unix_socket(), "ps", "-aq"]);
    assert_eq!(left, "", "deleted on the TLS engine");

    assert_eq!(submit(&s, img, sp, bad, "wrong-ca").await.status(), 204);
    let id = instance_id(&app, "wrong-ca");
    let (phase, message) = settled(&app, id).await;
    assert_eq!(phase, "failed");
    assert!(
        message.contains("UnknownIssuer"),
        "a clear certificate error: {message}"
    );
}

#[tokio::test]
async fn an_image_the_node_cannot_pull_fails_with_the_engines_message() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    // not on the engine, and no registry is reachable from here: the pull fails
    let img = image(&app, "missing", "suanli-test/not-built-here:1", true);
    let sp = spec(&app, "small", ("none", 0, 1, 1, 0, 1), true);
    let nd = node(
        &app,
        "local",
        ("none", 0, 8, 16, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    let name = unique("nopull");
    assert_eq!(submit(&s, img, sp, nd, &name).await.status(), 204);
    let id = instance_id(&app, &name);
    let (phase, message) = settled(&app, id).await;
    assert_eq!(phase, "failed");
    assert!(
        message.contains("registry") || message.contains("pull"),
        "{message}"
    );
    assert_eq!(labelled("volume", &name), "", "nothing was created");
    assert_eq!(labelled("container", &name), "");
}
