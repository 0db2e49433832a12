//! The operator console in real headless Chromium: an operator signs in
//! with the keyboard, sees the batch list, works through a batch's
//! acceptance sample with the keyboard only (P passes, J/K move), the
//! verdict appears on the page and the acceptance record in the delivery
//! folder; then the monthly report page with its charts. Screenshots go
//! to `docs/` for the README.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/setup`);
//! without them the test says SKIPPED loudly and passes.

mod util;

use fantoccini::key::Key;
use serde_json::Value;
use std::process::Stdio;
use util::station::Server;
use util::{Env, root};

use util::browser::{chromedriver, js, keys, no_browser, screenshot, session as browser, wait_js};
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_inspects_a_sample_with_the_keyboard_and_the_record_appears() {
    if no_browser("console_browser", "The console") {
        return;
    }
    // A real batch through the real stages (derived page images exist).
    let env = Env::new();
    let dir = env.dir.path().join("delivery-0001");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "0001_phototest.tif",
        "0002_eurotext.tif",
        "0005_phototest-upside-down.png",
        "0006_eurotext-skew-3.tif",
        "0009_phototest-turned-left.png",
    ] {
        std::fs::copy(root().join("samples/batch-0001").join(f), dir.join(f)).unwrap();
    }
    let env_ref = &env;
    let dir_ref = &dir;
    let (id, plan) = tokio::task::spawn_blocking({
        let out = env_ref.out();
        let mut run = env_ref.folio(&[
            "run",
            dir_ref.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
            "--quiet",
        ]);
        let mut plan_cmd =
            env_ref.folio(&["accept", "plan", "delivery-0001", "--seed", "3", "--json"]);
        let mut add = env_ref.folio(&[
            "user",
            "add",
            "olga",
            "--role",
            "operator",
            "--password-stdin",
        ]);
        move || {
            let o = run.output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
            let o = plan_cmd.output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
            use std::io::Write;
            let mut child = add
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(PASSWORD.as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success());
            (summary["batch"]["id"].as_str().unwrap().to_string(), plan)
        }
    })
    .await
    .unwrap();
    let n = plan["items"].as_array().unwrap().len();
    assert_eq!((plan["code_letter"].as_str(), n), (Some("A"), 2), "{plan}");
    let record = || delivered_record(&env.out(), &id);
    assert!(!record().exists());

    let server = Server::start(env.folio(&["serve", "--listen", "127.0.0.1:0"]));
    let base = server.base.clone();
    let (_driver, port) = chromedriver();
    let c = browser(port).await;

    // Sign in with the keyboard: name, Enter, password, Enter → console.
    c.goto(&format!("{base}/login")).await.unwrap();
    wait_js(
        &c,
        "the sign-in form",
        "return document.activeElement.id",
        |v| v == "user",
    )
    .await;
    keys(&c, &format!("olga{}", Key::Enter)).await;
    wait_js(
        &c,
        "the password field",
        "return document.activeElement.id",
        |v| v == "password",
    )
    .await;
    keys(&c, &format!("{PASSWORD}{}", Key::Enter)).await;
    wait_js(&c, "the console", "return location.pathname", |v| {
        v == "/console"
    })
    .await;
    let listed = js(&c, "return document.getElementById('batches').innerText").await;
    assert!(
        listed.as_str().unwrap().contains("delivery-0001"),
        "{listed}"
    );
    screenshot(&c.screenshot().await.unwrap(), "console-batches.png");

    // The acceptance screen: P on each sampled page, J/K to move.
    c.goto(&format!("{base}/console/batches/{id}/acceptance"))
        .await
        .unwrap();
    let verdict = "return (document.getElementById('verdict').dataset.decision || '')";
    wait_js(&c, "the sample", verdict, |v| v == "pending").await;
    wait_js(
        &c,
        "the first page image",
        "const i = document.getElementById('page'); return i.complete && i.naturalWidth > 0",
        |v| v == true,
    )
    .await;
    screenshot(&c.screenshot().await.unwrap(), "console-acceptance.png");
    keys(&c, "p").await;
    wait_js(
        &c,
        "the first result",
        "return document.getElementById('verdict').textContent",
        |v| v.as_str().unwrap_or("").contains("1 of 2 inspected"),
    )
    .await;
    // K goes back to the first page, J forward again, then P.
    keys(&c, "kj").await;
    keys(&c, "p").await;
    wait_js(&c, "the verdict", verdict, |v| v == "accepted").await;
    screenshot(&c.screenshot().await.unwrap(), "console-accepted.png");
    let written: Value = serde_json::from_slice(&std::fs::read(record()).unwrap()).unwrap();
    assert_eq!(written["decision"], "accepted");
    assert!(
        written["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["result"] == "pass" && i["inspector"] == "user:olga"),
        "{written}"
    );

    // The monthly report page holds its charts.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    c.goto(&format!("{base}/reports/monthly?month={month}"))
        .await
        .unwrap();
    let svgs = wait_js(
        &c,
        "the report's charts",
        "return document.querySelectorAll('svg').length",
        |v| v.as_i64().unwrap_or(0) > 0,
    )
    .await;
    assert_eq!(svgs, 6);
    let pages = js(&c, "return document.getElementById('pages').textContent").await;
    assert_eq!(pages, "5", "five one-page files this month");
    screenshot(&c.screenshot().await.unwrap(), "report-monthly.png");
    let _ = c.close().await;
    drop(server);
}

/// Where `folio accept` wrote the batch's acceptance record: its delivery
/// folder under the output folder (`layout::delivery_dir`).
fn delivered_record(out: &std::path::Path, id: &str) -> std::path::PathBuf {
    let name = format!("acceptance-{id}.json");
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join(&name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| out.join("<no delivery folder holds it>").join(name))
}
