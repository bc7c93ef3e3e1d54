//! The node form's 测试连接 (issue 17): POST /nodes/probe reads the facts of the engine the
//! form names — the real local engine, a real TLS engine with the key typed in or the one
//! stored for the node being edited — and says clearly why when it cannot.

use crate::helpers::TestApp;
use crate::instances::docker;

fn probe_form<'a>(endpoint: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("docker_endpoint", endpoint)];
    f.extend_from_slice(extra);
    f
}

#[tokio::test]
async fn the_local_engine_answers_with_its_facts() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let r = admin
        .post_hx(
            "/nodes/probe",
            &probe_form("unix:///var/run/docker.sock", &[]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let (_, version) = docker(&["version", "--format", "{{.Server.Version}}"]);
    let (_, ncpu) = docker(&["info", "--format", "{{.NCPU}}"]);
    let (_, driver) = docker(&["info", "--format", "{{.Driver}}"]);
    let (_, mem) = docker(&["info", "--format", "{{.MemTotal}}"]);
    let mem_gb = mem.trim().parse::<i64>().unwrap() / (1 << 30);
    for expected in [
        format!("Docker {}", version.trim()),
        format!("<dd data-fact=\"cpus\">{}</dd>", ncpu.trim()),
        format!("<dd data-fact=\"memory_gb\">{mem_gb}</dd>"),
        format!("<dd>{}</dd>", driver.trim()),
        // this machine has no NVIDIA toolkit
        "data-fact=\"nvidia\"><span class=\"badge warn\">未安装".to_string(),
        format!("\"cpu_cores\": \"{}\"", ncpu.trim()),
    ] {
        assert!(html.contains(&expected), "{expected} missing in {html}");
    }
    // nothing was saved
    assert_eq!(app.count("SELECT count(*) AS n FROM nodes"), 0);
}

#[tokio::test]
async fn bad_input_and_a_dead_endpoint_say_why() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // no endpoint, a malformed one: 422 naming the field
    let r = admin.post_hx("/nodes/probe", &probe_form("", &[])).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"probe-problem\"") && html.contains("必填"),
        "{html}"
    );
    let r = admin
        .post_hx("/nodes/probe", &probe_form("http://x", &[]))
        .await;
    assert_eq!(r.status(), 422);
    // TLS ticked with a junk CA on a tcp:// endpoint: the CA is named before any connection
    let r = admin
        .post_hx(
            "/nodes/probe",
            &probe_form(
                "tcp://127.0.0.1:1",
                &[("use_tls", "on"), ("ca_cert", "junk")],
            ),
        )
        .await;
    assert_eq!(r.status(), 422);
    // nothing listens: 200 with the reason, in the result box
    let r = admin
        .post_hx("/nodes/probe", &probe_form("tcp://127.0.0.1:1", &[]))
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("连接失败：") && html.contains("unreachable"),
        "{html}"
    );
    // a customer may not probe (it would let them scan the panel's network)
    app.user("mia", "customer_member", None).await;
    let mia = app.logged_in("mia").await;
    let r = mia
        .post_hx(
            "/nodes/probe",
            &probe_form("unix:///var/run/docker.sock", &[]),
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_engine_with_the_typed_key_or_the_stored_one() {
    let engine = tokio::task::spawn_blocking(crate::tls_dockerd::TlsDockerd::start)
        .await
        .unwrap();
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let url = engine.tcp_url();
    let typed = probe_form(
        &url,
        &[
            ("use_tls", "on"),
            ("ca_cert", &engine.ca_pem),
            ("client_cert", &engine.client_cert_pem),
            ("client_key", &engine.client_key_pem),
        ],
    );
    let html = admin
        .post_hx("/nodes/probe", &typed)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"probe-facts\""), "{html}");

    // editing a stored TLS node: the key is not sent back, the stored one is used
    let id = crate::instances::tls_node(&app, "tls", &engine, &engine.ca_pem);
    let stored = probe_form(
        &url,
        &[
            ("use_tls", "on"),
            ("ca_cert", &engine.ca_pem),
            ("client_cert", &engine.client_cert_pem),
        ],
    );
    let html = admin
        .post_hx(&format!("/nodes/probe?id={id}"), &stored)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"probe-facts\""), "{html}");
    // a new node without a key: told the key is needed
    let r = admin.post_hx("/nodes/probe", &stored).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("客户端私钥 · 必填"), "{html}");
    // the wrong CA: the certificate error
    let wrong = probe_form(
        &url,
        &[
            ("use_tls", "on"),
            ("ca_cert", &engine.wrong_ca_pem),
            ("client_cert", &engine.client_cert_pem),
            ("client_key", &engine.client_key_pem),
        ],
    );
    let html = admin
        .post_hx("/nodes/probe", &wrong)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("UnknownIssuer"), "{html}");
}
