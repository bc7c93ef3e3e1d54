//! The LXD REST client (src/lxd/) against the real daemon of this machine, which
//! scripts/test.sh starts with a dir pool, the lxdbr0 bridge and the busybox test image.
//! Containers get unique names and are removed (forced) when a test ends, even on panic.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use suanli::domain::zjmf::power::PowerState;
use suanli::lxd::{Lxd, LxdError, NewInstance, StateAction};

const SOCKET: &str = "/var/lib/lxd/unix.socket";
const IMAGE: &str = "suanli-test/busybox-lxd";
const T: Duration = Duration::from_secs(60);

/// A container name unique to this process and call; removed from LXD on drop.
struct Scratch(String);

impl Scratch {
    fn new(tag: &str) -> Self {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..6];
        Scratch(format!("lxdc-{tag}-{}-{id}", std::process::id()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // the CLI here: Drop cannot await the client
        let _ = Command::new("lxc")
            .args(["delete", "--force", &self.0])
            .output();
    }
}

fn limited(name: &str, profiles: &[&str]) -> NewInstance {
    NewInstance {
        name: name.to_string(),
        image_alias: IMAGE.to_string(),
        config: [
            ("limits.cpu".to_string(), "1".to_string()),
            ("limits.memory".to_string(), "256MB".to_string()),
        ]
        .into(),
        devices: Default::default(),
        profiles: profiles.iter().map(|p| p.to_string()).collect(),
    }
}

/// Polls the state until eth0 has an IPv4 address (DHCP from the bridge).
async fn wait_for_ipv4(lxd: &Lxd, name: &str) -> (Ipv4Addr, Duration) {
    let start = Instant::now();
    loop {
        let s = lxd
            .state(name)
            .await
            .unwrap()
            .expect("the container exists");
        if let Some(ip) = s.ipv4 {
            return (ip.parse().expect("an IPv4 address"), start.elapsed());
        }
        assert!(
            start.elapsed() < crate::helpers::PATIENCE,
            "no IPv4 address after {:?}",
            crate::helpers::PATIENCE
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether root's hash in /etc/shadow is that of `password` (given through the
/// environment, like the password itself).
async fn root_password_is(lxd: &Lxd, name: &str, password: &str) -> bool {
    let check = r#"h=$(grep '^root:' /etc/shadow | cut -d: -f2)
salt=$(echo "$h" | cut -d'$' -f3)
[ "$(printf '%s\n' "$P" | mkpasswd -m sha512 -S "$salt")" = "$h" ]"#;
    let r = lxd
        .exec(name, &["sh", "-c", check], &[("P", password)], T)
        .await
        .unwrap();
    r.code == 0
}

#[tokio::test]
async fn container_lifecycle_through_the_rest_api() {
    let _serial = crate::zjmf::LXD_SERIAL.lock().await;
    let lxd = Lxd::new(SOCKET);
    lxd.ping()
        .await
        .expect("LXD answers (scripts/test.sh starts it)");
    let c = Scratch::new("life");
    let name = c.0.as_str();

    // create: stopped, with the limits, the default profile's root disk and NIC
    let t0 = Instant::now();
    lxd.create(&limited(name, &["default"]), T).await.unwrap();
    let created = t0.elapsed();
    let inst = lxd.instance(name).await.unwrap().expect("created");
    assert_eq!(
        (inst.status, inst.kind.as_str()),
        (PowerState::Stopped, "container")
    );
    assert_eq!(inst.config["limits.cpu"], "1");
    assert_eq!(inst.config["limits.memory"], "256MB");
    assert_eq!(inst.expanded_config["limits.memory"], "256MB");
    assert_eq!(inst.profiles, ["default"]);
    assert_eq!(inst.expanded_devices["root"]["type"], "disk");
    assert_eq!(inst.expanded_devices["eth0"]["type"], "nic");
    let all = lxd.instances().await.unwrap();
    assert!(all.iter().any(|i| i.name == name), "listed");
    assert!(all.iter().all(|i| i.kind == "container"));

    // start → an address from the bridge's DHCP
    let t1 = Instant::now();
    lxd.set_state(name, StateAction::Start, false, T)
        .await
        .unwrap();
    let started = t1.elapsed();
    let (ip, dhcp) = wait_for_ipv4(&lxd, name).await;
    eprintln!("lxd: create {created:?}, start {started:?}, then IPv4 {ip} after {dhcp:?}");
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    let s = lxd.state(name).await.unwrap().unwrap();
    assert_eq!(s.status, PowerState::Running);
    assert!(s.cpu_usage_ns > 0 && s.memory_usage > 0, "{s:?}");
    assert!(
        s.network.contains_key("eth0") && s.network_bytes() > 0,
        "{s:?}"
    );

    // starting a running container: LXD's own message
    let again = lxd.set_state(name, StateAction::Start, false, T).await;
    assert!(
        matches!(&again, Err(LxdError::Lxd(m)) if m.contains("already running")),
        "{again:?}"
    );

    // exec: exit code, stdout and stderr apart, the recorded logs removed afterwards
    let r = lxd
        .exec(
            name,
            &["sh", "-c", "echo out; echo err >&2; exit 3"],
            &[],
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let logs = Command::new("lxc")
        .args(["query", &format!("/1.0/instances/{name}/logs")])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(!logs.contains("exec_"), "exec logs left behind: {logs}");
    let r = lxd.exec(name, &["no-such-command"], &[], T).await;
    assert!(
        matches!(&r, Err(LxdError::Lxd(m)) if m == "Command not found"),
        "{r:?}"
    );

    // chpasswd with the password only in the environment (spaces, quotes, colons, $)
    for password in ["Abc123", "p@ss w'rd:$HOME\"x"] {
        let set = r#"printf 'root:%s\n' "$SUANLI_PASSWORD" | chpasswd"#;
        let r = lxd
            .exec(
                name,
                &["sh", "-c", set],
                &[("SUANLI_PASSWORD", password)],
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.code, 0, "chpasswd: {r:?}");
        assert!(root_password_is(&lxd, name, password).await, "{password}");
    }
    assert!(!root_password_is(&lxd, name, "Abc123").await);

    // patch: a user key merged into the config
    lxd.patch(name, &json!({"config": {"user.suanli.test": "yes"}}))
        .await
        .unwrap();
    let inst = lxd.instance(name).await.unwrap().unwrap();
    assert_eq!(inst.config["user.suanli.test"], "yes");
    assert_eq!(inst.config["limits.cpu"], "1", "other keys kept");

    // a clean stop (SIGPWR to the image's init), quickly
    let t2 = Instant::now();
    lxd.set_state(name, StateAction::Stop, false, Duration::from_secs(20))
        .await
        .unwrap();
    let stopped = t2.elapsed();
    assert!(
        stopped < Duration::from_secs(10),
        "clean stop took {stopped:?}"
    );
    let s = lxd.state(name).await.unwrap().unwrap();
    assert_eq!((s.status, s.ipv4), (PowerState::Stopped, None));
    let dead = lxd.exec(name, &["true"], &[], T).await;
    assert!(matches!(dead, Err(LxdError::Lxd(_))), "{dead:?}");

    // start again, then a restart action: running with an address each time
    lxd.set_state(name, StateAction::Start, false, T)
        .await
        .unwrap();
    wait_for_ipv4(&lxd, name).await;
    let t3 = Instant::now();
    lxd.set_state(name, StateAction::Restart, false, Duration::from_secs(20))
        .await
        .unwrap();
    let restarted = t3.elapsed();
    wait_for_ipv4(&lxd, name).await;
    assert_eq!(
        lxd.state(name).await.unwrap().unwrap().status,
        PowerState::Running
    );
    eprintln!("lxd: clean stop {stopped:?}, restart {restarted:?}");

    // delete needs a stopped container
    let busy = lxd.delete(name, T).await;
    assert!(matches!(busy, Err(LxdError::Lxd(_))), "{busy:?}");
    lxd.set_state(name, StateAction::Stop, true, T)
        .await
        .unwrap();
    lxd.delete(name, T).await.unwrap();
    assert!(lxd.instance(name).await.unwrap().is_none());
    assert!(lxd.state(name).await.unwrap().is_none());
}

#[tokio::test]
async fn missing_instances_and_bad_requests_give_clear_errors() {
    let _serial = crate::zjmf::LXD_SERIAL.lock().await;
    let lxd = Lxd::new(SOCKET);
    let missing = Scratch::new("none");
    let name = missing.0.as_str();
    assert!(lxd.instance(name).await.unwrap().is_none());
    assert!(lxd.state(name).await.unwrap().is_none());
    for r in [
        lxd.set_state(name, StateAction::Start, false, T).await,
        lxd.delete(name, T).await,
        lxd.patch(name, &json!({"config": {}})).await,
        lxd.exec(name, &["true"], &[], T).await.map(drop),
    ] {
        assert!(matches!(r, Err(LxdError::NotFound(_))), "{r:?}");
    }
    // names that are no LXD name stay inside the instance's URL: not found or refused
    for odd in ["..", "a/b", "x?recursion=1"] {
        let r = lxd.instance(odd).await;
        assert!(
            matches!(&r, Ok(None) | Err(LxdError::Lxd(_))),
            "{odd}: {r:?}"
        );
    }

    // an image alias LXD does not have: said so, nothing created
    let c = Scratch::new("img");
    let mut req = limited(&c.0, &["default"]);
    req.image_alias = "suanli-test/no-such-image".into();
    let e = lxd.create(&req, T).await.unwrap_err();
    assert!(
        matches!(&e, LxdError::ImageNotFound(a) if a == "suanli-test/no-such-image"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "镜像不存在：suanli-test/no-such-image");
    assert!(lxd.instance(&c.0).await.unwrap().is_none());

    // no profile and no root disk: LXD's own reason, nothing left behind
    let c = Scratch::new("noroot");
    let e = lxd.create(&limited(&c.0, &[]), T).await.unwrap_err();
    assert!(
        matches!(&e, LxdError::Lxd(m) if m.contains("root")),
        "{e:?}"
    );
    assert!(lxd.instance(&c.0).await.unwrap().is_none());

    // an invalid config value is refused with LXD's message (which does not name the key)
    let c = Scratch::new("badkey");
    let mut req = limited(&c.0, &["default"]);
    req.config.insert("limits.memory".into(), "lots".into());
    let e = lxd.create(&req, T).await.unwrap_err();
    assert!(
        matches!(&e, LxdError::Lxd(m) if m.contains("Invalid value: lots")),
        "{e:?}"
    );
    assert!(lxd.instance(&c.0).await.unwrap().is_none());

    // a daemon that is not there
    let gone = Lxd::new("/nonexistent/lxd.socket");
    let e = gone.instances().await.unwrap_err();
    assert!(matches!(&e, LxdError::Unreachable(_)), "{e:?}");
}

/// LXD carries a create on after its client is gone and refuses a delete meanwhile
/// ("Instance is busy running a create operation"): `remove` waits it out and returns
/// only once LXD neither knows the container nor runs anything on it. The slow test image
/// (thousands of files to unpack) keeps the create running long enough to see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_waits_out_a_create_that_is_still_running() {
    let _serial = crate::zjmf::LXD_SERIAL.lock().await;
    let lxd = Lxd::new(SOCKET);
    let c = Scratch::new("busy");
    let mut req = limited(&c.0, &["default"]);
    req.image_alias = "suanli-test/busybox-lxd-slow".into();
    let creating = {
        let (lxd, req) = (lxd.clone(), req.clone());
        tokio::spawn(async move { lxd.create(&req, T).await })
    };
    let deadline = Instant::now() + T;
    let ops = loop {
        let ops = lxd.operations_on(&c.0).await.unwrap();
        if !ops.is_empty() {
            break ops;
        }
        assert!(!creating.is_finished(), "the create ended unseen");
        assert!(Instant::now() < deadline, "no operation on {} seen", c.0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        ops.iter()
            .any(|o| o.description == "Creating instance" && !o.may_cancel),
        "{ops:?}"
    );
    // what the panel did before: a plain delete, refused while LXD creates
    let refused = lxd.delete(&c.0, T).await;
    assert!(refused.is_err(), "{refused:?}");

    lxd.remove(&c.0, Duration::from_secs(120)).await.unwrap();
    assert!(lxd.instance(&c.0).await.unwrap().is_none());
    assert!(lxd.operations_on(&c.0).await.unwrap().is_empty());
    // the create itself is over, whichever way it ended
    let _ = creating.await.unwrap();
    assert!(
        lxd.instance(&c.0).await.unwrap().is_none(),
        "not made afterwards"
    );
}

/// `remove` of a missing container is done at once; of one LXD refuses to delete while
/// nothing runs on it, it gives LXD's reason after a few tries (the caller keeps its
/// record and tries again later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_gives_up_with_lxds_reason_after_its_budget() {
    let _serial = crate::zjmf::LXD_SERIAL.lock().await;
    let lxd = Lxd::new(SOCKET);
    let missing = Scratch::new("gone");
    lxd.remove(&missing.0, Duration::from_secs(5))
        .await
        .unwrap();

    let c = Scratch::new("prot");
    let mut req = limited(&c.0, &["default"]);
    req.config
        .insert("security.protection.delete".into(), "true".into());
    lxd.create(&req, T).await.unwrap();
    lxd.set_state(&c.0, StateAction::Start, false, T)
        .await
        .unwrap();
    let start = Instant::now();
    let e = lxd
        .remove(&c.0, Duration::from_secs(120))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LxdError::Lxd(m) if m.contains("protected")),
        "{e:?}"
    );
    // nothing runs on it to wait for: it gives up long before its budget
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert!(lxd.instance(&c.0).await.unwrap().is_some());
    lxd.patch(
        &c.0,
        &json!({"config": {"security.protection.delete": "false"}}),
    )
    .await
    .unwrap();
    lxd.remove(&c.0, Duration::from_secs(60)).await.unwrap();
    assert!(lxd.instance(&c.0).await.unwrap().is_none());
}
