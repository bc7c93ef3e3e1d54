//! The jumpbox before login: connections that do not log in have caps of their own (per
//! source address and overall) and a login grace time, so a flood of silent TCP
//! connections cannot keep real users out.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::helpers::{PASSWORD, TestApp};
use crate::ssh::ssh_run;

/// Reads until the server closes the connection (true) or `within` passes (false).
fn closed_within(mut stream: &TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Whether the server has closed this non-blocking stream (what it sent is read away).
fn is_closed(mut stream: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_hundred_silent_connections_do_not_keep_a_real_user_out() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let port = app.ssh_port;
    let per_ip = app.state.settings.jumpbox.max_unauthenticated_per_ip;
    let silent = tokio::task::spawn_blocking(move || {
        (0..1100)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    // a user on another address logs in at once
    let (dir, user) = (app.data_dir.clone(), "mia");
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        ssh_run(
            &dir,
            port,
            user,
            PASSWORD,
            &["-o", "BindAddress=127.0.0.2", "no-such-box"],
        )
    })
    .await
    .unwrap();
    assert!(
        format!("{out}{err}").contains("没有名为 no-such-box 的实例"),
        "exit {code}: {out} {err}"
    );

    // all but the allowed few of the silent ones are closed by the server (as it gets to
    // accept them: a loaded machine takes its time; the wait is for all of them at once)
    tokio::task::spawn_blocking(move || {
        let mut open: Vec<TcpStream> = silent;
        for s in &open {
            s.set_nonblocking(true).unwrap();
        }
        crate::helpers::eventually_blocking(
            &format!("all but {per_ip} of 1100 silent connections closed"),
            || {
                open.retain(|s| !is_closed(s));
                (open.len() <= per_ip).then_some(())
            },
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_do_not_log_in_are_closed_after_the_grace_time() {
    let app = TestApp::spawn_with(|s| s.jumpbox.login_grace_secs = 1).await;
    let port = app.ssh_port;
    tokio::task::spawn_blocking(move || {
        // one says nothing at all, the other its version line and nothing more
        let mute = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
        half.write_all(b"SSH-2.0-Silent_1.0\r\n").unwrap();
        assert!(closed_within(&mute, Duration::from_secs(20)), "mute");
        assert!(
            closed_within(&half, Duration::from_secs(20)),
            "version line only"
        );
    })
    .await
    .unwrap();
}
