//! The console's review endpoints over HTTP, on a real run: who may see
//! and decide (operators and supervisors; keyers 403, no session 401, no
//! CSRF token 403), the thumbnail, the clear refusals (404 unknown page,
//! 422 unknown decision, 409 a page of a packaged document) that change
//! nothing, and the re-scan list as CSV and as a printable page.

mod util;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use util::harness::block;
use util::station::{Client, Server};
use util::{Env, packages, root};

const PASSWORD: &str = "correct horse";
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

/// A white A4 page at 150 dpi: blank.
fn blank_page(dest: &Path) {
    image::GrayImage::from_pixel(1240, 1754, image::Luma([255]))
        .save_with_format(dest, image::ImageFormat::Png)
        .unwrap();
}

struct Run {
    env: Env,
    config: PathBuf,
    batch: String,
    /// The batch's name (the re-scan list names batches by name).
    name: String,
    documents: Vec<String>,
}

impl Run {
    fn folio(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.env.folio(&["--config", self.config.to_str().unwrap()]);
        c.args(args);
        c
    }

    fn user(&self, name: &str, role: &str) {
        use std::io::Write;
        let mut child = self
            .folio(&["user", "add", name, "--role", role, "--password-stdin"])
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
        assert!(child.wait().unwrap().success(), "user add {name}");
    }
}

/// Phototest, the same page upside down (a re-scan), a blank page and
/// the two-page TIFF, run with every flag holding: exit 4.
fn held_run() -> Run {
    let env = Env::new();
    let config = hold_config(&env);
    let dir = env.dir.path().join("review-batch");
    std::fs::create_dir_all(&dir).unwrap();
    let samples = root().join("samples/batch-0001");
    for f in [
        "0001_phototest.tif",
        "0005_phototest-upside-down.png",
        "0008_two-page.tif",
    ] {
        std::fs::copy(samples.join(f), dir.join(f)).unwrap();
    }
    blank_page(&dir.join("0003_blank.png"));
    let run = Run {
        env,
        config,
        batch: String::new(),
        name: String::new(),
        documents: Vec::new(),
    };
    let out = run
        .folio(&[
            "run",
            dir.to_str().unwrap(),
            "--out",
            run.env.out().to_str().unwrap(),
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "held: exit 4\n{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let batch = summary["batch"]["id"].as_str().unwrap().to_string();
    let name = summary["batch"]["name"].as_str().unwrap().to_string();
    let documents = summary["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    run.user("olga", "operator");
    run.user("sam", "supervisor");
    run.user("kim", "keyer");
    Run {
        batch,
        name,
        documents,
        ..run
    }
}

async fn review(c: &Client, batch: &str) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/review/{batch}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

fn flagged(pages: &[Value]) -> Vec<&Value> {
    pages
        .iter()
        .filter(|p| !p["flags"].as_array().unwrap().is_empty())
        .collect()
}

#[test]
fn keyers_and_strangers_are_refused_and_change_nothing() {
    let run = held_run();
    let server = Server::start(run.folio(&["serve", "--listen", "127.0.0.1:0"]));
    block(async {
        let b = &run.batch;
        let op = Client::login(&server.base, "olga", PASSWORD).await;
        let keyer = Client::login(&server.base, "kim", PASSWORD).await;
        let nobody = Client::anonymous(&server.base);
        let before = review(&op, b).await;
        let page = flagged(&before)[0]["page_id"].as_i64().unwrap();
        let gets = [
            format!("/api/v1/review/{b}"),
            format!("/api/v1/review/{b}/rescans.csv"),
            format!("/api/v1/pages/{page}/thumbnail"),
        ];
        for path in &gets {
            assert_eq!(keyer.get(path).await.status(), 403, "keyer GET {path}");
            assert_eq!(
                nobody.get(path).await.status(),
                401,
                "no session GET {path}"
            );
        }
        for path in [
            format!("/console/batches/{b}/review"),
            format!("/console/batches/{b}/rescans"),
        ] {
            assert_eq!(keyer.get(&path).await.status(), 403, "keyer {path}");
            let r = nobody.get(&path).await;
            assert!(r.status().is_redirection(), "no session {path}");
            assert_eq!(r.headers()["location"], "/login");
        }
        let decide = format!("/api/v1/review/pages/{page}");
        let keep = serde_json::json!({"decision": "keep"});
        let r = keyer.post(&decide, keep.clone()).await;
        assert_eq!(r.status(), 403);
        // No CSRF token: 403 even for an operator.
        let r = op
            .http
            .post(format!("{}{decide}", server.base))
            .json(&keep)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = nobody.post(&decide, keep.clone()).await;
        assert_eq!(r.status(), 401);
        // Unknown page, unknown decision: clear errors.
        let r = op.post("/api/v1/review/pages/999999", keep.clone()).await;
        assert_eq!(r.status(), 404);
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains("999999"), "{e}");
        let r = op
            .post(&decide, serde_json::json!({"decision": "shred"}))
            .await;
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("keep, drop or rescan"),
            "{e}"
        );
        assert_eq!(op.get("/api/v1/review/no-such-batch").await.status(), 404);
        assert_eq!(op.get("/api/v1/pages/999999/thumbnail").await.status(), 404);
        // Nothing was decided, nothing packaged.
        let after = review(&op, b).await;
        assert_eq!(
            serde_json::to_string(&before).unwrap(),
            serde_json::to_string(&after).unwrap()
        );
        assert!(after.iter().all(|p| p["decision"].is_null()));
    });
    drop(server);
}

#[test]
fn decisions_package_documents_and_the_rescan_list_names_the_page() {
    let run = held_run();
    let out = run.env.out();
    let server = Server::start(run.folio(&["serve", "--listen", "127.0.0.1:0"]));
    block(async {
        let b = &run.batch;
        let op = Client::login(&server.base, "olga", PASSWORD).await;
        let sup = Client::login(&server.base, "sam", PASSWORD).await;
        let pages = review(&op, b).await;
        let flags = flagged(&pages);
        let held: std::collections::BTreeSet<&str> = pages
            .iter()
            .filter(|p| p["holds"] == true)
            .map(|p| p["document_id"].as_str().unwrap())
            .collect();
        assert!(flags.len() >= 2, "{pages:?}");
        assert!(
            flags.iter().any(|p| p["flags"][0]["flag"] == "blank"),
            "the white page is flagged blank: {pages:?}"
        );
        assert!(!held.is_empty());

        // A thumbnail: a PNG 200 px wide, cut from the derived page.
        let page0 = flags[0]["page_id"].as_i64().unwrap();
        let r = op.get(&format!("/api/v1/pages/{page0}/thumbnail")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(r.headers()["cache-control"], "private, max-age=300");
        let png = r.bytes().await.unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!(img.width(), 200);
        let r = sup
            .get(&format!("/api/v1/pages/{page0}/thumbnail?width=64"))
            .await;
        assert_eq!(r.status(), 200, "supervisors see thumbnails too");
        let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(img.width(), 64);

        // The review page and the batch list show the held work.
        let html = op
            .get(&format!("/console/batches/{b}/review"))
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("/assets/review.js") && html.contains("<kbd>D</kbd>"));
        let list = op.get("/console").await.text().await.unwrap();
        assert!(
            list.contains(&format!("data-held=\"{}\"", held.len())),
            "{list}"
        );

        // The first flagged page: a re-scan (supervisor, with a reason);
        // every other flag kept by the operator.
        let rescan = flags[0];
        let rescan_doc = rescan["document_id"].as_str().unwrap();
        let r = sup
            .post(
                &format!("/api/v1/review/pages/{}", rescan["page_id"]),
                serde_json::json!({"decision": "rescan", "reason": "torn, \"edge\""}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let d: Value = r.json().await.unwrap();
        assert_eq!(d["document_id"], rescan_doc);
        assert_eq!(d["packaged"], false, "a re-scan waits for its page");
        for p in &flags[1..] {
            let r = op
                .post(
                    &format!("/api/v1/review/pages/{}", p["page_id"]),
                    serde_json::json!({"decision": "keep"}),
                )
                .await;
            assert_eq!(r.status(), 200, "{p}");
        }
        let after = review(&op, b).await;
        for p in flagged(&after) {
            let by = if p["page_id"] == rescan["page_id"] {
                "user:sam"
            } else {
                "user:olga"
            };
            assert_eq!(p["decided_by"], by, "{p}");
            assert_eq!(p["holds"], false, "{p}");
        }
        let packaged: Vec<String> = packages(&out)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        let want: Vec<&String> = run
            .documents
            .iter()
            .filter(|d| d.as_str() != rescan_doc)
            .collect();
        for d in &want {
            assert!(packaged.contains(d), "{d} packaged: {packaged:?}");
        }
        assert!(!packaged.iter().any(|p| p == rescan_doc));

        // A page of a packaged document cannot be decided again: 409.
        let done = flags
            .iter()
            .find(|p| p["document_id"] != rescan_doc)
            .unwrap();
        let r = op
            .post(
                &format!("/api/v1/review/pages/{}", done["page_id"]),
                serde_json::json!({"decision": "drop"}),
            )
            .await;
        assert_eq!(r.status(), 409);
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains("packaged"), "{e}");
        assert_eq!(
            serde_json::to_string(&review(&op, b).await).unwrap(),
            serde_json::to_string(&after).unwrap(),
            "a refused decision changes nothing"
        );

        // The re-scan list: CSV with a header row, and the printable page.
        let r = op.get(&format!("/api/v1/review/{b}/rescans.csv")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = r.text().await.unwrap();
        let csv = csv.strip_prefix('\u{feff}').expect("a BOM for Excel");
        let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines[0],
            "batch,document_id,seq,original,file_page,reason,requested_by,requested_at,replaces"
        );
        assert_eq!(lines.len(), 2, "{csv}");
        let seq = rescan["seq"].as_i64().unwrap();
        assert!(
            lines[1].starts_with(&format!(
                "{},{rescan_doc},{seq},{},{},\"torn, \"\"edge\"\"\",user:sam,",
                run.name,
                rescan["original"].as_str().unwrap(),
                rescan["file_page"]
            )),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with(&format!(",{rescan_doc}:{seq}")));
        let html = op
            .get(&format!("/console/batches/{b}/rescans"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(&format!("rescan_of = &quot;{b}&quot;")),
            "{html}"
        );
        assert!(html.contains(&format!("&quot;{rescan_doc}:{seq}&quot;")));
        assert!(html.contains("@media print") || html.contains("station.css"));
    });
    drop(server);
}
