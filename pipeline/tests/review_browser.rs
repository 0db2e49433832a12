//! The review screens in real headless Chromium: the sample batch runs
//! with every flag holding its document (`[review] hold`), so `folio run`
//! exits 4 and packages nothing that carries a flag; `folio serve` runs;
//! an operator signs in with the keyboard, opens the batch's review page
//! and works through every flag with the keyboard only — J/K to move,
//! A to keep, D to drop one page (typing a reason), R to ask for one
//! re-scan — and the held documents' packages appear on disk and pass
//! `folio verify`. Screenshots of the review page and the re-scan list
//! go to `docs/` for the README.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/setup`);
//! without them the test says SKIPPED loudly and passes.

mod util;

use fantoccini::key::Key;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use util::browser::{chromedriver, js, keys, no_browser, screenshot, session as browser, wait_js};
use util::station::Server;
use util::{Env, packages, root};

const PASSWORD: &str = "correct horse battery staple";
/// Every flag the review knows holds its document in this test.
const HOLD_ALL: &str =
    "hold = [\"blank\", \"rescan\", \"qc\", \"orientation\", \"deskew\", \"page_count\"]";

/// The project's settings with every flag holding, classes from the
/// project: `[review] hold` replaced (or added).
fn hold_config(env: &Env) -> PathBuf {
    let text = std::fs::read_to_string(root().join("config/folio.toml")).unwrap();
    let classes = root().join("config/classes");
    let mut out = String::new();
    let mut in_review = false;
    let mut replaced = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_review = t.starts_with("[review]");
        }
        if t.starts_with("classes_dir") {
            out.push_str(&format!("classes_dir = {:?}\n", classes.to_str().unwrap()));
        } else if in_review && t.starts_with("hold") {
            out.push_str(HOLD_ALL);
            out.push('\n');
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!("\n[review]\n{HOLD_ALL}\n"));
    }
    let path = env.dir.path().join("folio-hold.toml");
    std::fs::write(&path, out).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_through_every_flag_with_the_keyboard_and_the_packages_appear() {
    if no_browser("review_browser", "The review") {
        return;
    }
    let env = Env::new();
    let config = hold_config(&env);
    let samples = root().join("samples/batch-0001");
    let dir = env.dir.path().join("batch-0001");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&samples).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let folio = |args: &[&str]| {
        let mut c = env.folio(&["--config", config.to_str().unwrap()]);
        c.args(args);
        c
    };

    // `folio run` holds every flagged document: exit 4, naming them.
    let out = env.out();
    let (summary, stderr, code) = {
        let mut run = folio(&[
            "run",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
            "--quiet",
        ]);
        let mut add = folio(&[
            "user",
            "add",
            "olga",
            "--role",
            "operator",
            "--password-stdin",
        ]);
        tokio::task::spawn_blocking(move || {
            let o = run.output().unwrap();
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
            let summary: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
            (
                summary,
                String::from_utf8_lossy(&o.stderr).to_string(),
                o.status.code(),
            )
        })
        .await
        .unwrap()
    };
    assert_eq!(code, Some(4), "held documents: exit 4\n{stderr}\n{summary}");
    let id = summary["batch"]["id"].as_str().unwrap().to_string();
    let all_docs: BTreeSet<String> = summary["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let packaged_before = packages(&out).len();
    assert!(
        packaged_before < all_docs.len(),
        "flagged documents wait: {packaged_before} of {} packaged",
        all_docs.len()
    );

    let server = Server::start(folio(&["serve", "--listen", "127.0.0.1:0"]));
    let base = server.base.clone();
    let (_driver, port) = chromedriver();
    let c = browser(port).await;

    // Sign in with the keyboard → the console's batch list, which counts
    // what waits for review.
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
    let held = js(
        &c,
        "return Number(document.querySelector('#batches td[data-held]').dataset.held)",
    )
    .await;
    assert_eq!(
        held.as_u64().unwrap() as usize,
        all_docs.len() - packaged_before,
        "the batch list counts the held documents"
    );

    // The review page: thumbnails with badges, the first undecided flag
    // current and shown large.
    c.goto(&format!("{base}/console/batches/{id}/review"))
        .await
        .unwrap();
    let undecided_js = "return Number(document.getElementById('summary').dataset.undecided || -1)";
    let flagged = wait_js(&c, "the review grid", undecided_js, |v| {
        v.as_i64().unwrap_or(-1) > 0
    })
    .await
    .as_i64()
    .unwrap();
    assert!(
        flagged >= 3,
        "the sample batch has flags to keep, drop and re-scan: {flagged}"
    );
    wait_js(
        &c,
        "every thumbnail and the large view",
        "return [...document.images].every(i => i.complete && i.naturalWidth > 0)",
        |v| v == true,
    )
    .await;
    let badges = js(
        &c,
        "return document.querySelectorAll('#grid .badge').length",
    )
    .await;
    assert!(badges.as_i64().unwrap() >= flagged, "{badges}");
    screenshot(&c.screenshot().await.unwrap(), "console-review.png");

    // J and K move between flagged pages only.
    let current = "const li = document.querySelector('#grid li.current'); return [Number(li.dataset.index), li.dataset.flags]";
    let first = js(&c, current).await;
    assert_ne!(first[1], "", "starts on a flagged page");
    keys(&c, "j").await;
    let second = wait_js(&c, "J to move", current, |v| v[0] != first[0]).await;
    assert_ne!(second[1], "", "J stops on flagged pages: {second}");
    keys(&c, "k").await;
    wait_js(&c, "K to move back", current, |v| v[0] == first[0]).await;

    // Work through every flag: the first drop, the second a re-scan, the
    // rest kept. After each decision the next undecided flag is current.
    let current_page = "const li = document.querySelector('#grid li.current'); \
                        return [Number(li.dataset.pageId), li.dataset.decision]";
    let mut dropped = None;
    let mut rescanned = None;
    let mut left = flagged;
    while left > 0 {
        let page = js(&c, current_page).await;
        assert_eq!(page[1], "", "the current page is undecided: {page}");
        let page_id = page[0].as_i64().unwrap();
        // Drop a page of a document with more pages (dropping a one-page
        // document's only page leaves a package without a master).
        let siblings = js(
            &c,
            "return pages.filter(p => p.document_id === pages[at].document_id).length",
        )
        .await;
        if dropped.is_none() && siblings.as_i64().unwrap() > 1 {
            keys(&c, "d").await;
            wait_js(
                &c,
                "the reason box",
                "return document.activeElement.id",
                |v| v == "reason",
            )
            .await;
            keys(&c, &format!("speck on glass{}", Key::Enter)).await;
            dropped = Some(page_id);
        } else if rescanned.is_none() {
            keys(&c, "r").await;
            wait_js(
                &c,
                "the reason box",
                "return document.activeElement.id",
                |v| v == "reason",
            )
            .await;
            keys(&c, &format!("crooked, scan again{}", Key::Enter)).await;
            rescanned = Some(page_id);
        } else {
            keys(&c, "a").await;
        }
        left = wait_js(&c, "the decision", undecided_js, |v| {
            v.as_i64().unwrap_or(-1) == left - 1
        })
        .await
        .as_i64()
        .unwrap();
    }
    assert!(
        dropped.is_some(),
        "a page of a multi-page document was flagged"
    );
    let message = js(&c, "return document.getElementById('message').textContent").await;
    assert_eq!(message, "", "no error shown");
    let decided = js(
        &c,
        "return [...document.querySelectorAll('#grid li.flagged')].map(li => li.dataset.decision)",
    )
    .await;
    assert!(
        decided
            .as_array()
            .unwrap()
            .iter()
            .all(|d| ["keep", "drop", "rescan"].contains(&d.as_str().unwrap())),
        "{decided}"
    );
    let by = js(
        &c,
        "return document.querySelector('#grid li.decided .decided-by').textContent",
    )
    .await;
    assert!(by.as_str().unwrap().contains("user:olga"), "{by}");
    screenshot(&c.screenshot().await.unwrap(), "console-review-decided.png");

    // The re-scan list names the page, with the batch.toml lines.
    c.goto(&format!("{base}/console/batches/{id}/rescans"))
        .await
        .unwrap();
    let toml_text = wait_js(
        &c,
        "the re-scan list",
        "const p = document.getElementById('toml'); return p ? p.textContent : ''",
        |v| v.as_str().is_some_and(|s| !s.is_empty()),
    )
    .await;
    let parsed: toml::Value = toml::from_str(toml_text.as_str().unwrap()).unwrap();
    assert_eq!(parsed["rescan_of"].as_str(), Some(id.as_str()));
    assert_eq!(parsed["replaces"].as_array().unwrap().len(), 1);
    screenshot(&c.screenshot().await.unwrap(), "console-rescans.png");
    let _ = c.close().await;

    // Every document but the one waiting for its re-scan is packaged
    // (the server packaged them as their last hold was decided), and the
    // delivery verifies against the store.
    let review: Vec<Value> = {
        let client = util::station::Client::login(&base, "olga", PASSWORD).await;
        client
            .get(&format!("/api/v1/review/{id}"))
            .await
            .json()
            .await
            .unwrap()
    };
    let of = |page: i64| {
        review
            .iter()
            .find(|p| p["page_id"] == page)
            .map(|p| p["document_id"].as_str().unwrap().to_string())
    };
    let waiting = of(rescanned.unwrap()).expect("the re-scanned page is listed");
    let deadline = Instant::now() + Duration::from_secs(60);
    let want: BTreeSet<String> = all_docs
        .iter()
        .filter(|d| **d != waiting)
        .cloned()
        .collect();
    loop {
        let have: BTreeSet<String> = packages(&out)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        if have == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "packages: have {have:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let delivery = packages(&out)[0].parent().unwrap().to_path_buf();
    let verified = tokio::task::spawn_blocking({
        let mut v = folio(&["verify", delivery.to_str().unwrap()]);
        move || v.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        verified.status.success(),
        "folio verify: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    drop(server);
}
