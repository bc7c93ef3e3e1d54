//! SFTP and scp through the jumpbox with Debian's OpenSSH clients, into a busybox
//! container of the real engine (no sftp-server in the image: the jumpbox serves the
//! files through the Engine API).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::helpers::{PASSWORD, TestApp, eventually_blocking};
use crate::instances::{docker, fake_catalog, fake_ready};
use crate::jumpbox::{mia_with_a_running_box, mia_with_a_running_box_in};
use crate::ssh::openssh;
use crate::streams::{Cleanup, running_instance_of};

/// `sftp -b -` as mia, running: commands go to its stdin (kept open by the caller).
fn sftp_spawn(app: &TestApp, target: &str) -> std::process::Child {
    let mut c = openssh("sftp", "ERROR", &app.data_dir, app.ssh_port, PASSWORD);
    c.args(["-b", "-"])
        .arg(format!("{target}@127.0.0.1"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("sftp client")
}

/// The uploads in progress in the app's spool: (files, bytes).
fn spooled(app: &TestApp) -> (usize, u64) {
    let Ok(dir) = std::fs::read_dir(app.data_dir.join("sftp-spool")) else {
        return (0, 0);
    };
    dir.flatten().fold((0, 0), |(n, b), e| {
        (n + 1, b + e.metadata().map_or(0, |m| m.len()))
    })
}

/// `sftp -b -` with `commands` as mia (`target` is the login name: `mia` or
/// `mia@<instance>`); (exit code, stdout, stderr).
fn sftp(app: &TestApp, target: &str, commands: &str) -> (i32, String, String) {
    let mut child = sftp_spawn(app, target);
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), commands.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file of `mib` MiB of varied bytes in the app's directory; (path, sha256).
fn local_file(app: &TestApp, name: &str, mib: usize) -> (PathBuf, String) {
    let path = app.data_dir.join(name);
    let size = (mib << 20) + 12_345;
    let mut data = Vec::with_capacity(size + 4);
    let mut x: u32 = 2_463_534_242;
    while data.len() < size {
        // xorshift: cheap bytes that do not compress
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
    std::fs::write(&path, &data).unwrap();
    let sum = sha(&path);
    (path, sum)
}

fn sha(path: &Path) -> String {
    let digest = suanli::crypto::sha256(&std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256sum of a file inside the container.
fn sha_inside(container: &str, path: &str) -> String {
    let (ok, out) = docker(&["exec", container, "sha256sum", path]);
    assert!(ok, "sha256sum {path}: {out}");
    out.split_whitespace().next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_puts_gets_lists_renames_and_removes_in_the_named_instance() {
    let (app, id, name, container) = mia_with_a_running_box("sftp").await;
    let (up, sum) = local_file(&app, "up.bin", 5);
    let back = app.data_dir.join("back.bin");
    let commands = format!(
        "pwd\nput {up} a.bin\nls -l\nget a.bin {back}\nmkdir d\nrename a.bin d/b.bin\nls d\nchmod 600 d/b.bin\nls -l d\n",
        up = up.display(),
        back = back.display()
    );
    let (code, out, err) = sftp(&app, &format!("mia@{name}"), &commands);
    assert_eq!(code, 0, "{out}\n{err}");
    // the home is /root, where the upload landed whole
    assert!(out.contains("Remote working directory: /root"), "{out}");
    assert!(out.contains("a.bin"), "{out}");
    assert_eq!(sha(&back), sum, "what came back is what went up");
    assert_eq!(sha_inside(&container.0, "/root/d/b.bin"), sum);
    assert!(out.contains("-rw-------"), "chmod reached the file: {out}");

    // an existing target is not replaced; a missing file is said to be missing
    let (code, _, err) = sftp(
        &app,
        &format!("mia@{name}"),
        "put /etc/hostname d/b.bin.2\nrename d/b.bin.2 d/b.bin\n",
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("already exists") || err.contains("Failure"),
        "{err}"
    );
    let (code, _, err) = sftp(&app, &format!("mia@{name}"), "get nothing-here /tmp/x\n");
    assert_ne!(code, 0);
    assert!(
        err.contains("not found") || err.contains("No such file"),
        "{err}"
    );

    let (code, out, err) = sftp(
        &app,
        &format!("mia@{name}"),
        "rm d/b.bin\nrm d/b.bin.2\nrmdir d\nls\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let (ok, _) = docker(&["exec", &container.0, "test", "-e", "/root/d"]);
    assert!(!ok, "the directory is gone");

    // records: one sftp row per connection, with the bytes each way, closed
    eventually_blocking("the sftp rows are closed", || {
        (app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE instance_id = {id} AND protocol = 'sftp' AND ended_at IS NULL"
        )) == 0)
            .then_some(())
    });
    let size = std::fs::metadata(&up).unwrap().len() as i64;
    let rows = crate::instances::text_row(
        &app,
        &format!(
            "SELECT string_agg(concat_ws(' ', bytes_in, bytes_out, end_reason), '; ') AS t FROM sessions WHERE instance_id = {id}"
        ),
    );
    assert!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE instance_id = {id} AND protocol = 'sftp'
             AND bytes_in >= {size} AND bytes_out >= {size} AND end_reason = 'client'"
        )) == 1,
        "the first connection counted the upload and the download: {rows}"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_logs WHERE action = 'sftp_write' AND status = 200
             AND detail LIKE '%:/root/a.bin 5255225 bytes'"
        ),
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_logs WHERE action = 'sftp_remove' AND status = 200
             AND (detail LIKE '%:/root/d/b.bin' OR detail LIKE '%:/root/d')"
        ),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_copies_both_ways() {
    let (app, _id, name, container) = mia_with_a_running_box("scp").await;
    let (up, sum) = local_file(&app, "scp-up.bin", 3);
    let back = app.data_dir.join("scp-back.bin");
    let run = |args: &[&str]| {
        let out = openssh("scp", "ERROR", &app.data_dir, app.ssh_port, PASSWORD)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scp {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let remote = format!("mia@{name}@127.0.0.1");
    run(&[up.to_str().unwrap(), &format!("{remote}:/tmp/scp.bin")]);
    assert_eq!(sha_inside(&container.0, "/tmp/scp.bin"), sum);
    // a relative path is taken from the home, /root
    run(&[up.to_str().unwrap(), &format!("{remote}:rel.bin")]);
    assert_eq!(sha_inside(&container.0, "/root/rel.bin"), sum);
    run(&[&format!("{remote}:/tmp/scp.bin"), back.to_str().unwrap()]);
    assert_eq!(sha(&back), sum);
    // mia has one instance: the login name needs no suffix
    run(&[up.to_str().unwrap(), "mia@127.0.0.1:only.bin"]);
    assert_eq!(sha_inside(&container.0, "/root/only.bin"), sum);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_lists_only_the_users_instances_and_others_are_refused() {
    let (app, _id, name, container) = mia_with_a_running_box("root").await;
    let olga = app.user("olga", "customer_member", None).await;
    let cat = fake_catalog(
        &app,
        ("none", 0, 1, 1, 10, 0),
        ("none", 0, 64, 256, 1000, 1000),
    );
    fake_ready(&app, "olga-box", cat, olga, None);
    // two instances: the root lists them (with one, sftp would go straight into it)
    let mia = app.count("SELECT id AS n FROM users WHERE username = 'mia'");
    fake_ready(&app, "mia-spare", cat, mia, None);
    docker(&[
        "exec",
        &container.0,
        "sh",
        "-c",
        "echo mine > /root/mine.txt",
    ]);

    let (code, out, err) = sftp(
        &app,
        "mia",
        &format!(
            "ls /\nls /{name}/root\nget /{name}/root/mine.txt {}\n",
            app.data_dir.join("mine.txt").display()
        ),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&name) && out.contains("mia-spare"), "{out}");
    assert!(
        !out.contains("olga-box"),
        "someone else's instance is not listed: {out}"
    );
    assert!(out.contains("mine.txt"), "{out}");
    assert_eq!(
        std::fs::read_to_string(app.data_dir.join("mine.txt")).unwrap(),
        "mine\n"
    );

    // by name, by path and through `..`: not found, as if it did not exist
    for tricky in [
        "ls /olga-box".to_string(),
        "get /olga-box/etc/hostname /tmp/x".to_string(),
        format!("get /{name}/../olga-box/etc/hostname /tmp/x"),
        format!("cd /{name}/root\nget ../../../olga-box/etc/hostname /tmp/x"),
    ] {
        let (code, out, err) = sftp(&app, "mia", &format!("{tricky}\n"));
        assert_ne!(code, 0, "{tricky}: {out}");
        assert!(
            err.contains("no instance named olga-box")
                || err.contains("not found")
                || err.contains("No such file"),
            "{tricky}: {err}"
        );
    }
    // the root holds instances only
    let (code, _, err) = sftp(&app, "mia", "put /etc/hostname /x\n");
    assert_ne!(code, 0);
    assert!(err.contains("No such file"), "{err}");
    // as the login name: someone else's instance does not exist for mia
    let (code, _, err) = sftp(&app, "mia@olga-box", "get /etc/hostname /tmp/x\n");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upload_changes_nothing_and_leaves_nothing_behind() {
    let (app, id, name, container) = mia_with_a_running_box("broken").await;
    docker(&["exec", &container.0, "sh", "-c", "echo old > /root/big.bin"]);
    let (up, _) = local_file(&app, "big.bin", 256);
    let mut client = sftp_spawn(&app, &format!("mia@{name}"));
    let commands = format!("put {} /root/big.bin\n", up.display());
    let mut stdin = client.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, commands.as_bytes()).unwrap();
    // killed halfway: once the spool holds part of it
    eventually_blocking("the upload is under way", || {
        (spooled(&app).1 > 1 << 20).then_some(())
    });
    client.kill().unwrap();
    client.wait().unwrap();
    eventually_blocking("the spool is emptied", || {
        (spooled(&app) == (0, 0)).then_some(())
    });
    let (ok, out) = docker(&["exec", &container.0, "cat", "/root/big.bin"]);
    assert!(ok && out == "old", "the file is as it was: {out:.40}");
    eventually_blocking("the sftp row is closed", || {
        (app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE instance_id = {id} AND protocol = 'sftp' AND ended_at IS NOT NULL"
        )) == 1)
            .then_some(())
    });
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_logs WHERE action = 'sftp_write'"),
        0,
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_beyond_the_spool_budget_are_refused_and_idle_channels_close() {
    let app = TestApp::spawn_with(|s| {
        s.jumpbox.sftp_spool_gb = 0;
        s.jumpbox.idle_timeout_secs = 2;
    })
    .await;
    let (app, id, name, container) = mia_with_a_running_box_in(app, "budget").await;
    let (code, out, err) = sftp(&app, &format!("mia@{name}"), "put /etc/hostname /root/h\n");
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("Failure") || err.contains("write"), "{err}");
    let (ok, _) = docker(&["exec", &container.0, "test", "-e", "/root/h"]);
    assert!(!ok, "nothing reached the container");
    assert_eq!(spooled(&app), (0, 0));
    // reads need no spool
    let (code, out, err) = sftp(
        &app,
        &format!("mia@{name}"),
        "get /etc/hostname /dev/null\n",
    );
    assert_eq!(code, 0, "{out}{err}");

    // an sftp channel idle for 2 s is closed, its row says why (sftp -b itself notices
    // only at its next command: its input is closed once the server has acted)
    let mut client = sftp_spawn(&app, &format!("mia@{name}"));
    let mut stdin = client.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"pwd\n").unwrap();
    eventually_blocking("the idle row is closed", || {
        (app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE instance_id = {id} AND protocol = 'sftp' AND end_reason = 'idle'"
        )) == 1)
            .then_some(())
    });
    drop(stdin);
    let out = client.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Remote working directory: /root"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_permission_record_applies_to_files_too() {
    let (app, _id, name, _container) = mia_with_a_running_box("perm").await;
    app.sql("UPDATE api_permissions SET allowed_roles = '{admin}' WHERE method = 'GET' AND path_pattern = '/instances/{id}/terminal'");
    // OpenSSH's sftp prints the status of a failed open (its stat failures all read
    // "not found"): put shows it
    let (code, _, err) = sftp(&app, &format!("mia@{name}"), "put /etc/hostname /root/x\n");
    assert_ne!(code, 0);
    assert!(err.contains("Permission denied"), "{err}");
    let (code, _, err) = sftp(&app, "mia", &format!("put /etc/hostname /{name}/root/x\n"));
    assert_ne!(code, 0);
    assert!(err.contains("Permission denied"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_scp_and_rsync_run_through_exec_when_the_image_has_them() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let (id, cid) = running_instance_of(&app, &s, "tools", "suanli-test/tools:1").await;
    let _cleanup = Cleanup(cid.clone());
    let name = crate::instances::text_row(
        &app,
        &format!("SELECT name AS t FROM instances WHERE id = {id}"),
    );
    let (up, sum) = local_file(&app, "legacy.bin", 2);
    let remote = format!("mia@{name}@127.0.0.1");

    // scp -O: the old protocol, `scp -t` inside the container
    let out = openssh("scp", "ERROR", &app.data_dir, app.ssh_port, PASSWORD)
        .arg("-O")
        .args([up.to_str().unwrap(), &format!("{remote}:/root/old.bin")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha_inside(&cid, "/root/old.bin"), sum);

    // rsync over the jumpbox as its remote shell, both ways
    let ssh = openssh("ssh", "ERROR", &app.data_dir, app.ssh_port, PASSWORD);
    let mut shell = vec!["ssh".to_string()];
    shell.extend(ssh.get_args().map(|a| a.to_string_lossy().into_owned()));
    let rsync = |from: &str, to: &str| {
        let mut c = std::process::Command::new("rsync");
        c.args(["-a", "-e", &shell.join(" "), from, to]);
        for (k, v) in ssh.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        let out = c.stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "rsync {from} {to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    rsync(up.to_str().unwrap(), &format!("{remote}:/root/synced.bin"));
    assert_eq!(sha_inside(&cid, "/root/synced.bin"), sum);
    let back = app.data_dir.join("synced-back.bin");
    rsync(
        &format!("{remote}:/root/synced.bin"),
        back.to_str().unwrap(),
    );
    assert_eq!(sha(&back), sum);
}
