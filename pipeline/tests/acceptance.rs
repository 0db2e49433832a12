//! `folio accept`: the seeded acceptance sample of a batch's pages (ISO
//! 2859-1 level II), recorded once per seed, and the verdict that follows
//! the inspector's recorded results, written into the batch's delivery.
//! Batches are ingested only (no stage work): the lot is the batch's
//! pages as the store lists them.

mod util;

use folio::store::Store;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use util::Env;
use util::harness::block;

/// A small grey page with `n` stamped into its pixels (a unique SHA-256).
fn page_png(n: u32, dest: &Path) {
    let mut img = image::GrayImage::from_pixel(96, 64, image::Luma([230]));
    for bit in 0..32 {
        let v = if n >> bit & 1 == 1 { 0 } else { 255 };
        img.put_pixel(8 + bit, 30, image::Luma([v]));
    }
    img.save_with_format(dest, image::ImageFormat::Png).unwrap();
}

/// A batch folder of `pages` one-page files numbered from `first`.
fn batch(env: &Env, name: &str, first: u32, pages: u32) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for k in 0..pages {
        page_png(first + k, &dir.join(format!("p{:04}.png", first + k)));
    }
    dir
}

fn ingest(env: &Env, dir: &Path) -> Value {
    let out = env.out();
    let o = env
        .folio(&[
            "ingest",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ingest failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn folio(env: &Env, args: &[&str]) -> (i32, Value, String) {
    let o = env.folio(args).output().unwrap();
    let json = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (
        o.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn plan(env: &Env, key: &str, extra: &[&str]) -> Value {
    let mut args = vec!["accept", "plan", key, "--json"];
    args.extend_from_slice(extra);
    let (code, json, err) = folio(env, &args);
    assert_eq!(code, 0, "accept plan {extra:?}: {err}");
    json
}

/// Every (document, page) of the batch, from the store itself.
fn lot(env: &Env, batch_id: &str) -> BTreeSet<(String, i64)> {
    block(async {
        let store = Store::open(&env.db_url()).await.unwrap();
        let lot = store.lot(batch_id).await.unwrap();
        store.close().await;
        lot.into_iter().map(|p| (p.document, p.page)).collect()
    })
}

fn items(plan: &Value) -> Vec<(String, i64)> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["document"].as_str().unwrap().to_string(),
                i["page"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_sample_size_follows_the_standard_table_for_several_batch_sizes() {
    let env = Env::new();
    // (pages, code letter, sample size, items): ISO 2859-1 level II.
    let cases = [
        (1u32, "A", 2, 1),
        (9, "B", 3, 3),
        (26, "D", 8, 8),
        (51, "E", 13, 13),
    ];
    let mut first = 1;
    for (pages, letter, n, count) in cases {
        let dir = batch(&env, &format!("lot-{pages}"), first, pages);
        first += pages;
        let intake = ingest(&env, &dir);
        let id = intake["batch"]["id"].as_str().unwrap().to_string();
        // By source folder, as `folio qc` takes it.
        let p = plan(&env, dir.to_str().unwrap(), &["--seed", "20261128"]);
        assert_eq!(p["lot_size"], pages, "{p}");
        assert_eq!(p["code_letter"], letter, "lot {pages}");
        assert_eq!(p["sample_size"], n, "lot {pages}");
        let drawn = items(&p);
        assert_eq!(drawn.len(), count, "lot {pages}");
        let distinct: BTreeSet<_> = drawn.iter().cloned().collect();
        assert_eq!(distinct.len(), count, "no page drawn twice");
        let lot = lot(&env, &id);
        assert_eq!(lot.len(), pages as usize);
        assert!(
            distinct.is_subset(&lot),
            "every item is a page of the batch"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_sample_recorded_once_with_its_actor() {
    let env = Env::new();
    let dir = batch(&env, "seeded", 100, 60);
    let intake = ingest(&env, &dir);
    let id = intake["batch"]["id"].as_str().unwrap().to_string();
    let name = intake["batch"]["name"].as_str().unwrap().to_string();

    let a = plan(&env, &id, &["--seed", "7"]);
    assert_eq!(
        (a["code_letter"].as_str(), a["sample_size"].as_i64()),
        (Some("E"), Some(13))
    );
    // By name too; same seed, same plan.
    let again = plan(&env, &name, &["--seed", "7"]);
    assert_eq!(items(&a), items(&again));
    let other = plan(&env, &id, &["--seed", "8"]);
    assert_ne!(items(&a), items(&other), "another seed, another sample");

    // The batch grows (a second ingest of the folder): seed 7 still
    // answers with its recorded plan; a new seed samples the new lot.
    for k in 0..40 {
        page_png(1000 + k, &dir.join(format!("late{k:03}.png")));
    }
    ingest(&env, &dir);
    let later = plan(&env, &id, &["--seed", "7"]);
    assert_eq!(later["lot_size"], 60);
    assert_eq!(items(&later), items(&a));
    let grown = plan(&env, &id, &["--seed", "9"]);
    assert_eq!(grown["lot_size"], 100);
    assert_eq!(grown["code_letter"], "F");
    assert_eq!(items(&grown).len(), 20);

    // Drawn once per seed, each with its actor.
    let events = block(async {
        let store = Store::open(&env.db_url()).await.unwrap();
        let e = store.events("batch", &id).await.unwrap();
        store.close().await;
        e
    });
    let drawn: Vec<_> = events.iter().filter(|e| e.to == "sample_drawn").collect();
    assert_eq!(drawn.len(), 3, "seeds 7, 8, 9: {drawn:?}");
    assert!(
        drawn.iter().all(|e| e.actor.starts_with("user:")),
        "{drawn:?}"
    );
    assert!(drawn[0].reason.contains("seed 7"), "{}", drawn[0].reason);
}

#[test]
fn bad_requests_are_refused_clearly_and_change_nothing() {
    let env = Env::new();
    let dir = batch(&env, "bad", 500, 12);
    let intake = ingest(&env, &dir);
    let id = intake["batch"]["id"].as_str().unwrap().to_string();

    let (code, _, err) = folio(&env, &["accept", "plan", "no-such-batch", "--json"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no such batch"), "{err}");

    let (code, _, err) = folio(&env, &["accept", "plan", &id, "--aql", "3.3", "--json"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AQL 3.3"), "{err}");

    let first = plan(&env, &id, &["--seed", "1", "--aql", "1.0"]);
    let (code, _, err) = folio(
        &env,
        &[
            "accept", "plan", &id, "--seed", "1", "--aql", "2.5", "--json",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot change"), "{err}");
    assert_eq!(items(&plan(&env, &id, &["--seed", "1"])), items(&first));

    // A page outside the sample, and a failure without a reason.
    let sampled: BTreeSet<_> = items(&first).into_iter().collect();
    let outside = lot(&env, &id)
        .into_iter()
        .find(|p| !sampled.contains(p))
        .unwrap();
    let page = outside.1.to_string();
    let (code, _, err) = folio(
        &env,
        &[
            "accept",
            "inspect",
            &id,
            "--seed",
            "1",
            "--document",
            &outside.0,
            "--page",
            &page,
            "--pass",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not in the sample"), "{err}");
    let (d, p) = items(&first)[0].clone();
    let p = p.to_string();
    let (code, _, err) = folio(
        &env,
        &[
            "accept",
            "inspect",
            &id,
            "--seed",
            "1",
            "--document",
            &d,
            "--page",
            &p,
            "--fail",
            " ",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a reason"), "{err}");
    let (code, v, _) = folio(&env, &["accept", "verdict", &id, "--json"]);
    assert_eq!(code, 4);
    assert_eq!(v["verdict"]["inspected"], 0, "nothing was recorded: {v}");
    assert_eq!(v["decision"], "pending");
}

#[test]
fn the_verdict_follows_the_recorded_results_and_goes_into_the_delivery() {
    let env = Env::new();
    let dir = batch(&env, "judged", 2000, 51);
    let intake = ingest(&env, &dir);
    let id = intake["batch"]["id"].as_str().unwrap().to_string();
    // Letter E (13 items); AQL 2.5 is an arrow cell for E: the DA/T 31
    // pass rate (≥ 95 %) decides, so one failure in 13 rejects.
    let p = plan(&env, &id, &["--seed", "42", "--aql", "2.5"]);
    let drawn = items(&p);
    assert_eq!(drawn.len(), 13);
    let record = || delivered_record(&env.out(), &id);

    let inspect = |(d, page): &(String, i64), verdict: &[&str]| {
        let page = page.to_string();
        let mut args = vec![
            "accept",
            "inspect",
            &id,
            "--document",
            d,
            "--page",
            &page,
            "--json",
        ];
        args.extend_from_slice(verdict);
        let (code, v, err) = folio(&env, &args);
        assert_eq!(code, 0, "{err}");
        v
    };
    for it in &drawn[..12] {
        let v = inspect(it, &["--pass"]);
        assert_eq!(v["decision"], "pending");
    }
    assert!(!record().exists(), "no record while items are pending");
    let (code, v, _) = folio(&env, &["accept", "verdict", &id, "--json"]);
    assert_eq!((code, v["verdict"]["pending"].as_i64()), (4, Some(1)));

    let v = inspect(&drawn[12], &["--pass"]);
    assert_eq!(v["decision"], "accepted");
    let written: Value = serde_json::from_slice(&std::fs::read(record()).unwrap()).unwrap();
    assert_eq!(written["decision"], "accepted");
    assert_eq!(written["verdict"]["passed"], 13);
    assert_eq!(written["seed"], "42");
    let (code, _, _) = folio(&env, &["accept", "verdict", &id]);
    assert_eq!(code, 0);

    // The inspector changes one page to a failure: rejected, and the
    // record in the delivery says so, with the reason.
    let v = inspect(&drawn[3], &["--fail", "page cut off at the bottom"]);
    assert_eq!(v["decision"], "rejected");
    let written: Value = serde_json::from_slice(&std::fs::read(record()).unwrap()).unwrap();
    assert_eq!(written["decision"], "rejected");
    assert_eq!(written["verdict"]["failed"], 1);
    let failed: Vec<_> = written["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["result"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["reason"], "page cut off at the bottom");
    assert!(
        failed[0]["inspector"]
            .as_str()
            .unwrap()
            .starts_with("user:")
    );
    let (code, _, _) = folio(&env, &["accept", "verdict", &id]);
    assert_eq!(code, 4);

    // Both results of that page are in its history, with the actor.
    let (doc, page) = &drawn[3];
    let history: Vec<(String, String, Option<String>)> = block(async {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect(&env.db_url())
            .await
            .unwrap();
        let rows = sqlx::query_as(
            "SELECT e.to_state, e.actor, e.from_state FROM events e JOIN pages p \
             ON e.entity = 'page' AND e.entity_id = CAST(p.id AS TEXT) \
             WHERE p.document_id = ? AND p.seq = ? AND e.to_state LIKE 'inspection_%' ORDER BY e.id",
        )
        .bind(doc)
        .bind(page)
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows
    });
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].0, "inspection_pass");
    assert_eq!(history[1].0, "inspection_fail");
    assert_eq!(history[1].2.as_deref(), Some("pass"));
    assert!(history.iter().all(|h| h.1.starts_with("user:")));
}

#[test]
fn the_console_records_results_for_operators_only() {
    use util::station::{Client, Server};
    let env = Env::new();
    let dir = batch(&env, "console", 3000, 20);
    let intake = ingest(&env, &dir);
    let id = intake["batch"]["id"].as_str().unwrap().to_string();
    let add = |name: &str, role: &str| {
        use std::io::Write;
        let mut child = env
            .folio(&["user", "add", name, "--role", role, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"correct horse")
            .unwrap();
        assert!(child.wait().unwrap().success(), "user add {role}");
    };
    add("olga", "operator");
    add("kim", "keyer");
    let server = Server::start(env.folio(&["serve", "--listen", "127.0.0.1:0"]));
    block(async {
        let op = Client::login(&server.base, "olga", "correct horse").await;
        let keyer = Client::login(&server.base, "kim", "correct horse").await;
        let rec = format!("/api/v1/acceptance/{id}");
        assert_eq!(op.get(&rec).await.status(), 404, "no plan drawn yet");
        assert_eq!(keyer.get(&rec).await.status(), 403);
        assert_eq!(keyer.get("/console").await.status(), 403);
        // An operator keys nothing.
        assert!(op.next().await.is_none());

        let p = plan(&env, &id, &["--seed", "5"]);
        let drawn = items(&p);
        assert_eq!(drawn.len(), 5, "20 pages: letter C, 5 items");
        let body = |i: usize, pass: bool, reason: &str| serde_json::json!({"document": drawn[i].0, "page": drawn[i].1, "pass": pass, "reason": reason});
        let inspect = format!("/api/v1/acceptance/{id}/inspect");
        // No CSRF token: 403, nothing recorded.
        let r = op
            .http
            .post(format!("{}{inspect}", server.base))
            .json(&body(0, true, ""))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(keyer.post(&inspect, body(0, true, "")).await.status(), 403);
        let r = op.post(&inspect, body(0, false, "")).await;
        assert_eq!(r.status(), 422, "a failure needs a reason");
        let v: Value = op.get(&rec).await.json().await.unwrap();
        assert_eq!(v["verdict"]["inspected"], 0);

        for i in 0..5 {
            let r = op.post(&inspect, body(i, true, "")).await;
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            let want = if i < 4 { "pending" } else { "accepted" };
            assert_eq!(v["decision"], want, "after {} result(s)", i + 1);
        }
        let v: Value = op.get(&rec).await.json().await.unwrap();
        assert_eq!(v["items"][0]["inspector"], "user:olga");
        assert!(delivered_record(&env.out(), &id).is_file());

        let page = op.get("/console").await;
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("console"));
        let page = op.get(&format!("/console/batches/{id}/acceptance")).await;
        assert_eq!(page.status(), 200);
        let report = op.get("/reports/monthly?month=2026-11").await;
        assert_eq!(report.status(), 200);
        assert!(report.text().await.unwrap().contains("<svg"));
        assert_eq!(op.get("/reports/monthly?month=11-2026").await.status(), 422);
    });
    drop(server);
}

#[test]
fn plans_and_verdicts_are_the_same_on_postgresql() {
    let env = Env::new();
    let db = util::pg::PgDb::create();
    let dir = batch(&env, "pg", 4000, 26);
    let run = |args: &[&str]| {
        let o = env
            .folio(args)
            .env("FOLIO_DATABASE_URL", &db.url)
            .output()
            .unwrap();
        let json = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (
            o.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let out = env.out();
    let (code, intake, err) = run(&[
        "ingest",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = intake["batch"]["id"].as_str().unwrap().to_string();
    let (code, p, err) = run(&["accept", "plan", &id, "--seed", "11", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (
            p["lot_size"].as_i64(),
            p["code_letter"].as_str(),
            p["sample_size"].as_i64()
        ),
        (Some(26), Some("D"), Some(8))
    );
    let (_, again, _) = run(&["accept", "plan", &id, "--seed", "11", "--json"]);
    assert_eq!(items(&p), items(&again));
    // The draw depends on the seed alone: SQLite draws the same pages'
    // positions for the same lot.
    let sqlite_dir = batch(&env, "sq", 4000, 26);
    ingest(&env, &sqlite_dir);
    let sq = plan(&env, sqlite_dir.to_str().unwrap(), &["--seed", "11"]);
    let pages = |v: &Value| items(v).into_iter().map(|(_, p)| p).collect::<Vec<_>>();
    assert_eq!(pages(&sq), pages(&p));
    for (d, page) in items(&p) {
        let page = page.to_string();
        let (code, _, err) = run(&[
            "accept",
            "inspect",
            &id,
            "--document",
            &d,
            "--page",
            &page,
            "--pass",
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, v, err) = run(&["accept", "verdict", &id, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["decision"], "accepted");
    assert_eq!(v["verdict"]["passed"], 8);
}

#[test]
fn a_batch_without_pages_cannot_be_sampled_and_nothing_is_recorded() {
    let env = Env::new();
    let dir = env.dir.path().join("broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("scan.png"), b"not an image at all").unwrap();
    let out = env.out();
    let (code, intake, err) = folio(
        &env,
        &[
            "ingest",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 4, "the only file is quarantined: {err}");
    let id = intake["batch"]["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let (code, _, err) = folio(&env, &["accept", "plan", &id, "--seed", "1", "--json"]);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("lot is empty"), "{err}");
    }
    let (code, _, err) = folio(&env, &["accept", "verdict", &id]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no acceptance plan yet"), "{err}");
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
