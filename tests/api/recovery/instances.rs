//! Instances on the real Docker engine whose creation is cut off by SIGKILL: while the
//! image is pulled (from the test's own registry, a gate holding the layer halfway), when
//! the engine has created the container, and when it has started it (a gate before the
//! engine's socket holding its answer). After the restart the instance shows a clear
//! failed state its owner can delete, nothing of it is left on the node (container,
//! volume, tenant network), its capacity and GPU are free, and the same name creates
//! again.

use std::time::Duration;

use super::gate::{Gate, Upstream};
use super::registry::{REPO, Registry};
use super::{PanelEnv, within};
use crate::instances::{docker, settled_in, submit};

/// Where the creation is when the panel is killed.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// the layer is half downloaded
    Pull,
    /// the engine has created the container; the panel has not heard back
    Create,
    /// the engine has started it; the panel has not heard back
    Start,
}

/// Containers, volumes and tenant networks of the instance named `name` (its labels are
/// unique per test) still on the engine, or None when there are none.
fn left_on_engine(env: &PanelEnv, name: &str) -> Option<String> {
    let filter = format!("label=suanli.name={name}");
    let (_, containers) = docker(&["ps", "-aq", "--filter", &filter]);
    let (_, volumes) = docker(&["volume", "ls", "-q", "--filter", &filter]);
    let (_, networks) = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("name={}", env.net_prefix),
    ]);
    (!(containers.is_empty() && volumes.is_empty() && networks.is_empty()))
        .then(|| format!("containers {containers:?}, volumes {volumes:?}, networks {networks:?}"))
}

async fn killed_creation(phase: Phase) {
    let mut env = PanelEnv::new(&[]);
    let panel = env.start().await;
    let engine = Gate::start(Upstream::Unix("/var/run/docker.sock".into())).await;
    let name = crate::instances::unique("cut");

    // the image: the busybox test image, from the registry for the pull (a layer of its
    // own, so the engine has to download it), local otherwise
    let (_registry, registry_gate, image) = match phase {
        Phase::Pull => {
            let registry = Registry::start().await;
            let tag = format!("pull-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            registry.push_unique(&tag, 8).await;
            let gate = Gate::start(Upstream::Tcp(registry.addr)).await;
            let image = format!("{}/{REPO}:{tag}", gate.addr);
            (Some(registry), Some(gate), image)
        }
        Phase::Create | Phase::Start => (None, None, crate::instances::TEST_IMAGE.to_string()),
    };
    let _pulled = RemoveImage(image.clone());
    let img = env.count(&format!(
        "INSERT INTO images (name, address, listed) VALUES ('busybox', '{image}', true) RETURNING id AS n"
    ));
    let spec = |name: &str, gpus: i32| {
        env.count(&format!(
            "INSERT INTO specs (name, gpu_model, gpu_count, cpu_cores, memory_gb, system_disk_gb, data_disk_gb, price_per_hour_cents, listed)
             VALUES ('{name}', 'A100', {gpus}, 1, 1, 10, 1, 150, true) RETURNING id AS n"
        ))
    };
    let (gpu_spec, cpu_spec) = (spec("a100-x1", 1), spec("cpu-only", 0));
    let node = env.count(&format!(
        "INSERT INTO nodes (name, region, cpu_cores, memory_gb, system_disk_gb, data_disk_gb, public_ip, private_ip,
                            gpu_model, gpu_count, docker_endpoint, use_tls, listed)
         VALUES ('local', 'test', 8, 16, 100, 100, '127.0.0.1', '127.0.0.1', 'A100', 1, 'tcp://{}', false, true)
         RETURNING id AS n",
        engine.addr
    ));
    // a GPU instance; killed while starting, one without a GPU, so that its container
    // really runs on this GPU-less engine
    let killed_spec = match phase {
        Phase::Start => cpu_spec,
        Phase::Pull | Phase::Create => gpu_spec,
    };
    match phase {
        Phase::Pull => registry_gate
            .as_ref()
            .unwrap()
            .hold("GET", "/blobs/", Some(1 << 20)),
        Phase::Create => engine.hold("POST", "/containers/create", None),
        Phase::Start => engine.hold("POST", "/start", None),
    }

    let admin = env.admin(&panel).await;
    let r = submit(&admin, img, killed_spec, node, &name).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let id = env.count(&format!(
        "SELECT id AS n FROM instances WHERE name = '{name}'"
    ));
    match phase {
        Phase::Pull => {
            registry_gate
                .as_ref()
                .unwrap()
                .reached(Duration::from_secs(120))
                .await;
            // the panel shows the engine's progress of the download that is held
            let progress = format!(
                "SELECT count(*) AS n FROM instances WHERE id = {id} AND message LIKE 'pulling %Downloading%'"
            );
            within(60, || {
                (env.count(&progress) == 0).then(|| "no download progress shown".to_string())
            })
            .await;
        }
        Phase::Create | Phase::Start => engine.reached(Duration::from_secs(120)).await,
    }
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) AS n FROM instances WHERE id = {id} AND phase = 'creating'"
        )),
        1
    );
    panel.kill();
    let container = format!("suanli-{id}-{name}");
    let (made, state) = docker(&["inspect", "-f", "{{.State.Status}}", &container]);
    match phase {
        Phase::Pull => assert!(!made, "no container before the image is there"),
        Phase::Create => assert!(made && state == "created", "{state}"),
        Phase::Start => assert!(made && state == "running", "{state}"),
    }
    eprintln!("{phase:?}: killed; container {container}: {state:?}");
    engine.release();
    if let Some(g) = &registry_gate {
        g.release();
    }

    let panel = env.start().await;
    within(120, || {
        let row = env.text(&format!(
            "SELECT phase || '|' || message AS t FROM instances WHERE id = {id}"
        ));
        let pending = env.count(&format!(
            "SELECT count(*) AS n FROM cleanups WHERE instance_id = {id}"
        ));
        match row.as_deref().and_then(|r| r.split_once('|')) {
            Some(("failed", m)) if m.contains("interrupted") && pending == 0 => {
                left_on_engine(&env, &name)
            }
            other => Some(format!(
                "instance {id}: {other:?}, clean-up pending: {pending}"
            )),
        }
    })
    .await;
    assert_eq!(
        env.text(&format!(
            "SELECT concat_ws(',', gpu_count, cpu_cores, memory_gb) AS t FROM node_usage WHERE node_id = {node}"
        ))
        .as_deref(),
        Some("0,0,0"),
        "its capacity and GPU are free again"
    );

    // the owner sees it failed, with why, and deletes it
    let admin = env.admin(&panel).await;
    let list = admin.text("/instances").await;
    assert!(
        list.contains(&name)
            && list.contains("创建失败")
            && list.contains("interrupted")
            && list.contains(&format!("hx-post=\"/instances/{id}/delete\"")),
        "{list}"
    );
    let r = admin.post_hx(&format!("/instances/{id}/delete"), &[]).await;
    assert_eq!(r.status(), 204);

    // the same name creates again (without a GPU: this engine has none) and is deleted
    let r = submit(&admin, img, cpu_spec, node, &name).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let again = env.count(&format!(
        "SELECT id AS n FROM instances WHERE name = '{name}'"
    ));
    let (phase_now, message) = settled_in(&env.db, again).await;
    assert_eq!(phase_now, "ready", "{message}");
    let r = admin
        .post_hx(&format!("/instances/{again}/delete"), &[])
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(left_on_engine(&env, &name), None);
    drop(panel);
}

/// Removes an image from the local engine when the test ends.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        if self.0 != crate::instances::TEST_IMAGE {
            docker(&["rmi", "-f", &self.0]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_while_its_image_is_pulled_fails_cleanly_and_creates_again() {
    killed_creation(Phase::Pull).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_once_its_container_is_created_leaves_nothing_and_creates_again() {
    killed_creation(Phase::Create).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_once_its_container_is_started_leaves_nothing_and_creates_again() {
    killed_creation(Phase::Start).await;
}
