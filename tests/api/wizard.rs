//! The 新增实例 wizard as a stepper (issue 17): the steps done, current and next; choices
//! as radio cards chosen by a click; the confirm step's cost per hour, day and month (in
//! both languages); a spec without GPUs offered any node with room, and created there on
//! the real local engine.

use std::collections::HashSet;

use serde_json::json;

use crate::browser::Browser;
use crate::browser_pages::{console_errors, eval, logged_in, open_wizard};
use crate::helpers::TestApp;
use crate::instances::{
    LOCAL_DOCKER, TEST_IMAGE, docker, fake_catalog, image, instance_id, labelled, node, settled,
    spec, submit, text_row, unique,
};
use crate::streams::Cleanup;

/// --primary in static/app.css: the border of the chosen card.
const PRIMARY: &str = "rgb(36, 99, 235)";

/// The stepper's states in order, as the page marks them.
const STATES: &str =
    "[...document.querySelectorAll('#wizard-steps li')].map((li) => li.dataset.state).join(' ')";

/// The stepper's marks in order (numbers, ✓ for the steps done).
const MARKS: &str = "[...document.querySelectorAll('#wizard-steps .step-mark')].map((m) => m.textContent).join(' ')";

#[tokio::test]
async fn the_confirm_step_shows_the_cost_per_hour_day_and_month_in_both_languages() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let (img, sp, nd) = fake_catalog(
        &app,
        ("A100", 1, 4, 16, 50, 100),
        ("A100", 8, 64, 256, 1000, 2000),
    );
    let cpu_only = spec(&app, "cpu-only", ("", 0, 2, 4, 20, 0), true);
    let chosen = format!("image_id={img}&spec_id={sp}&node_id={nd}&node_spec_id={sp}&name=train-1");

    // 150 fen an hour (the helper's price): ¥1.50, ¥36.00, ¥1,080.00
    let body = s
        .text_hx(&format!("/instances/new?step=confirm&{chosen}"))
        .await;
    for part in [
        "id=\"wizard-cost\"",
        "每小时",
        "每天",
        "每月（30 天）",
        "data-cost=\"hour\">¥1.50<",
        "data-cost=\"day\">¥36.00<",
        "data-cost=\"month\">¥1,080.00<",
    ] {
        assert!(body.contains(part), "{part} in {body}");
    }
    assert!(!body.contains("class=\"error\""), "{body}");

    // thousands are grouped; the spec's card shows the hour's price the same way
    app.sql(&format!(
        "UPDATE specs SET price_per_hour_cents = 123456 WHERE id = {sp}"
    ));
    let costs = [
        "data-cost=\"hour\">¥1,234.56<",
        "data-cost=\"day\">¥29,629.44<",
        "data-cost=\"month\">¥888,883.20<",
    ];
    let body = s
        .text_hx(&format!("/instances/new?step=confirm&{chosen}"))
        .await;
    for part in costs {
        assert!(body.contains(part), "{part} in {body}");
    }
    let cards = s
        .text_hx(&format!("/instances/new?step=spec&image_id={img}"))
        .await;
    assert!(
        cards.contains("<strong>¥1,234.56</strong> / 小时"),
        "{cards}"
    );
    assert!(
        cards.contains("A100 × 1") && cards.contains("无 GPU"),
        "{cards}"
    );

    // in English: the same amounts under English labels, nothing Chinese about the cost
    let r = s.get("/lang/en?next=/").await;
    assert_eq!(r.status(), 303, "the language switch");
    let body = s
        .text_hx(&format!("/instances/new?step=confirm&{chosen}"))
        .await;
    for part in costs
        .into_iter()
        .chain(["Cost", "Per hour", "Per day", "Per month (30 days)"])
    {
        assert!(body.contains(part), "{part} in {body}");
    }
    for chinese in ["每小时", "每天", "每月", "费用"] {
        assert!(!body.contains(chinese), "{chinese} in English: {body}");
    }
    let cards = s
        .text_hx(&format!("/instances/new?step=spec&image_id={img}"))
        .await;
    assert!(
        cards.contains("<strong>¥1,234.56</strong> / hour") && cards.contains("No GPU"),
        "{cards}"
    );

    // a spec without GPUs: its summary says so, and costs nothing when its price is 0
    app.sql(&format!(
        "UPDATE specs SET price_per_hour_cents = 0 WHERE id = {cpu_only}"
    ));
    let body = s
        .text_hx(&format!(
            "/instances/new?step=confirm&image_id={img}&spec_id={cpu_only}&node_id={nd}&node_spec_id={cpu_only}&name=cpu-1"
        ))
        .await;
    assert!(
        body.contains("No GPU") && body.contains("data-cost=\"month\">¥0.00<"),
        "{body}"
    );
}

#[tokio::test]
async fn a_spec_without_gpus_needs_no_model_and_runs_on_a_gpu_node() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let s = app.logged_in("mia").await;
    let img = image(&app, "busybox", TEST_IMAGE, true);
    let cpu_only = spec(&app, "cpu-only", ("", 0, 1, 1, 10, 0), true);
    let gpu = spec(&app, "h100-x1", ("H100", 1, 1, 1, 10, 0), true);
    let a100 = node(
        &app,
        "a100-local",
        ("A100", 2, 8, 16, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    node(
        &app,
        "no-memory",
        ("A100", 2, 8, 0, 100, 100),
        LOCAL_DOCKER,
        true,
    );
    node(
        &app,
        "unlisted",
        ("A100", 2, 8, 16, 100, 100),
        LOCAL_DOCKER,
        false,
    );
    let offered = |html: &str| -> HashSet<String> {
        html.split("data-node=\"")
            .skip(1)
            .filter_map(|p| p.split('"').next())
            .map(str::to_string)
            .collect()
    };

    // the node query: any listed model with room for a 0-GPU spec of model ""
    let nodes = s
        .text_hx(&format!("/instances/new/nodes?spec_id={cpu_only}"))
        .await;
    assert_eq!(
        offered(&nodes),
        HashSet::from(["a100-local".to_string()]),
        "{nodes}"
    );
    // a spec with GPUs still needs its model
    let nodes = s
        .text_hx(&format!("/instances/new/nodes?spec_id={gpu}"))
        .await;
    assert!(offered(&nodes).is_empty(), "{nodes}");
    // the wizard's node step offers the same node as a card with its free resources
    let step = s
        .text_hx(&format!(
            "/instances/new?step=node&image_id={img}&spec_id={cpu_only}"
        ))
        .await;
    assert!(
        step.contains("data-node=\"a100-local\"")
            && step.contains("空闲 GPU 2 × A100")
            && step.contains("区域 test"),
        "{step}"
    );

    // placed and created on the real engine, with no GPU request
    let name = unique("cpu");
    let r = submit(&s, img, cpu_only, a100, &name).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let id = instance_id(&app, &name);
    let (phase, message) = settled(&app, id).await;
    let container = text_row(
        &app,
        &format!("SELECT container_id AS t FROM instances WHERE id = {id}"),
    );
    let _cleanup = Cleanup(container.clone());
    assert_eq!(phase, "ready", "{message}");
    let (ok, requests) = docker(&[
        "inspect",
        "-f",
        "{{json .HostConfig.DeviceRequests}}",
        &container,
    ]);
    assert!(ok, "docker inspect {container}");
    assert_eq!(requests, "null", "no GPU request for a 0-GPU spec");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM instances WHERE id = {id} AND node_id = {a100} AND cardinality(gpu_indices) = 0"
        )),
        1
    );

    // deleted through the panel: container and volume gone
    let r = s.post_hx(&format!("/instances/{id}/delete"), &[]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(labelled("container", &name), "");
    assert_eq!(labelled("volume", &name), "");
}

#[tokio::test]
async fn the_wizard_is_a_stepper_of_cards_ending_in_the_cost() {
    let app = TestApp::spawn().await;
    app.user("mia", "customer_member", None).await;
    let (img, sp, nd) = fake_catalog(
        &app,
        ("A100", 1, 4, 16, 50, 100),
        ("A100", 8, 64, 256, 1000, 2000),
    );
    let other = image(&app, "cuda", "nvidia/cuda:12.4.1-base", true);
    app.sql(&format!(
        "UPDATE images SET description = 'CUDA 12 base' WHERE id = {other}"
    ));
    let b = Browser::launch().await;
    logged_in(&b, &app.base, "mia").await;
    open_wizard(&b, &app.base).await;

    // step 1: current, the rest next; the image cards show description and address
    assert_eq!(eval(&b, STATES).await, json!("current next next next next"));
    assert_eq!(eval(&b, MARKS).await, json!("1 2 3 4 5"));
    assert_eq!(
        eval(
            &b,
            "document.querySelector('#wizard-steps li[aria-current=step]').dataset.state"
        )
        .await,
        json!("current")
    );
    let card = |name: &str| format!("label.choice-card[data-image='{name}']");
    let cuda_text = eval(
        &b,
        &format!("document.querySelector(\"{}\").innerText", card("cuda")),
    )
    .await;
    let cuda_text = cuda_text.as_str().unwrap_or_default();
    assert!(
        cuda_text.contains("CUDA 12 base") && cuda_text.contains("nvidia/cuda:12.4.1-base"),
        "{cuda_text}"
    );
    // a click on a card chooses it and marks it; another click moves the mark
    let look = |name: &str| {
        format!(
            "(() => {{ const c = document.querySelector(\"{}\"); return [c.querySelector('input').checked, getComputedStyle(c).borderTopColor]; }})()",
            card(name)
        )
    };
    b.click(&card("cuda")).await;
    assert_eq!(eval(&b, &look("cuda")).await, json!([true, PRIMARY]));
    assert_ne!(eval(&b, &look("busybox")).await[1], json!(PRIMARY));
    b.click(&card("busybox")).await;
    assert_eq!(eval(&b, &look("busybox")).await, json!([true, PRIMARY]));
    assert_eq!(eval(&b, &look("cuda")).await[0], json!(false));
    assert_ne!(eval(&b, &look("cuda")).await[1], json!(PRIMARY));
    // the cards are radios: the keyboard moves the choice
    b.type_into(&format!("input[name=image_id][value='{img}']"), "\u{E015}")
        .await;
    b.wait_until(
        "the arrow key to choose the next card",
        &format!("!document.querySelector(\"input[name=image_id][value='{img}']\").checked"),
    )
    .await;
    b.click(&card("busybox")).await;

    // step 2: the first step done (ticked), the spec cards with GPUs, resources and price
    b.click("#wizard-next").await;
    b.wait_until("step 2", "document.getElementById('spec-choices')")
        .await;
    assert_eq!(eval(&b, STATES).await, json!("done current next next next"));
    assert_eq!(eval(&b, MARKS).await, json!("✓ 2 3 4 5"));
    let spec_card = "label.choice-card[data-spec='small']";
    let text = eval(
        &b,
        &format!("document.querySelector(\"{spec_card}\").innerText"),
    )
    .await;
    let text = text.as_str().unwrap_or_default();
    for part in [
        "A100 × 1",
        "CPU 4 核",
        "内存 16 GB",
        "系统盘 50 GB",
        "数据盘 100 GB",
        "¥1.50",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    b.click(spec_card).await;

    // step 3: the node card with its free GPUs, CPU, memory and region
    b.click("#wizard-next").await;
    let node_card = "label.choice-card[data-node='fake']";
    b.wait_until(
        "step 3",
        &format!("document.querySelector(\"{node_card}\")"),
    )
    .await;
    assert_eq!(eval(&b, STATES).await, json!("done done current next next"));
    let text = eval(
        &b,
        &format!("document.querySelector(\"{node_card}\").innerText"),
    )
    .await;
    let text = text.as_str().unwrap_or_default();
    for part in ["空闲 GPU 8 × A100", "CPU 64 核", "内存 256 GB", "区域 test"] {
        assert!(text.contains(part), "{part} in {text}");
    }
    b.click(node_card).await;
    assert_eq!(
        eval(
            &b,
            &format!("document.querySelector(\"input[name=node_id][value='{nd}']\").checked")
        )
        .await,
        json!(true)
    );

    // step 4, then the confirm step: four steps done, the cost per hour, day and month
    b.click("#wizard-next").await;
    let name = "#wizard input[name=name]:not([type=hidden])";
    b.wait_until("step 4", &format!("document.querySelector('{name}')"))
        .await;
    b.type_into(name, "train-01").await;
    b.click("#wizard-next").await;
    b.wait_until("the summary", "document.getElementById('wizard-cost')")
        .await;
    assert_eq!(eval(&b, STATES).await, json!("done done done done current"));
    assert_eq!(eval(&b, MARKS).await, json!("✓ ✓ ✓ ✓ 5"));
    let cost = eval(
        &b,
        "[...document.querySelectorAll('#wizard-cost [data-cost]')].map((d) => d.dataset.cost + ' ' + d.textContent)",
    )
    .await;
    assert_eq!(cost, json!(["hour ¥1.50", "day ¥36.00", "month ¥1,080.00"]));
    let text = eval(&b, "document.getElementById('wizard-cost').innerText").await;
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("每小时") && text.contains("每天") && text.contains("每月（30 天）"),
        "{text}"
    );

    // a step done is a way back: the spec step, its card still chosen
    b.click("#wizard-steps li:nth-child(2) .step-back").await;
    b.wait_until(
        "back at step 2",
        &format!("document.querySelector(\"input[type=radio][name=spec_id][value='{sp}']\")"),
    )
    .await;
    assert_eq!(
        eval(
            &b,
            &format!(
                "document.querySelector(\"input[type=radio][name=spec_id][value='{sp}']\").checked"
            )
        )
        .await,
        json!(true)
    );
    assert_eq!(eval(&b, STATES).await, json!("done current next next next"));

    // a phone: the five steps on one row inside the screen, nothing scrolls sideways
    b.resize(390, 844).await;
    let chosen =
        format!("image_id={img}&spec_id={sp}&node_id={nd}&node_spec_id={sp}&name=train-01");
    b.goto(&format!("{}/instances/new?step=confirm&{chosen}", app.base))
        .await;
    b.wait_until("the confirm page", "document.getElementById('wizard-cost')")
        .await;
    let fit = eval(
        &b,
        "(() => { const li = [...document.querySelectorAll('#wizard-steps li')].map((l) => l.getBoundingClientRect());
           return { width: window.innerWidth, scroll: document.documentElement.scrollWidth,
                    tops: new Set(li.map((r) => Math.round(r.top))).size,
                    right: Math.max(...li.map((r) => r.right)), left: Math.min(...li.map((r) => r.left)),
                    steps: li.length, states: [...document.querySelectorAll('#wizard-steps li')].map((l) => l.dataset.state) }; })()",
    )
    .await;
    let width = fit["width"].as_f64().unwrap();
    assert!(width <= 390.0, "{fit}");
    assert!(
        fit["scroll"].as_f64().unwrap() <= width,
        "sideways scroll: {fit}"
    );
    assert_eq!(fit["steps"], json!(5), "{fit}");
    assert_eq!(fit["tops"], json!(1), "one row: {fit}");
    assert!(
        fit["left"].as_f64().unwrap() >= 0.0 && fit["right"].as_f64().unwrap() <= width,
        "{fit}"
    );
    assert_eq!(
        fit["states"],
        json!(["done", "done", "done", "done", "current"])
    );
    let errors = console_errors(&b, "", 0).await;
    assert!(errors.is_empty(), "{errors:#?}");
}
