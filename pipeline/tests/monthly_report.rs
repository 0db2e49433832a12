//! `folio report monthly`: on a fixture month, the report's figures equal
//! those counted from the store by hand here; the HTML holds its charts
//! as inline SVG; the PDF opens in `pdfinfo` and holds the same charts as
//! vector paths. The fixture: two batches worked by the real pipeline,
//! their timestamps moved into March 2025 (spread over days, one batch
//! named to an operator), and a third batch left in the present month,
//! which must not count.

mod util;

use serde_json::Value;
use sqlx::Row;
use std::path::Path;
use std::process::Command;
use util::harness::block;
use util::{Env, root};

const MONTH: &str = "2025-03";

/// A one-connection pool, made inside the runtime that uses it (a pool
/// outlives no runtime: its connection task dies with the one it was
/// made in).
async fn pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

fn exec(url: &str, sql: &str) {
    block(async {
        let p = pool(url).await;
        for stmt in sql.split(';').filter(|s| !s.trim().is_empty()) {
            sqlx::query(sqlx::AssertSqlSafe(stmt.to_string()))
                .execute(&p)
                .await
                .unwrap();
        }
        p.close().await;
    });
}

fn count(url: &str, sql: &str) -> i64 {
    block(async {
        let p = pool(url).await;
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&p)
            .await
            .unwrap()
            .get(0);
        p.close().await;
        n
    })
}

fn folio(env: &Env, url: &str, args: &[&str]) -> std::process::Output {
    env.folio(args)
        .env("FOLIO_DATABASE_URL", url)
        .output()
        .unwrap()
}

fn run_batch(env: &Env, url: &str, name: &str, files: &[&str]) -> String {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::copy(root().join("samples/batch-0001").join(f), dir.join(f)).unwrap();
    }
    let out = env.out();
    let o = folio(
        env,
        url,
        &[
            "run",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
            "--quiet",
        ],
    );
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    json["batch"]["id"].as_str().unwrap().to_string()
}

#[test]
fn the_monthly_report_counts_the_month_from_the_store_and_draws_its_charts() {
    let env = Env::new();
    monthly_report_on(&env, &env.db_url());
}

#[test]
fn the_monthly_report_counts_the_same_on_postgresql() {
    let env = Env::new();
    let db = util::pg::PgDb::create();
    monthly_report_on(&env, &db.url);
}

fn monthly_report_on(env: &Env, url: &str) {
    let a = run_batch(
        env,
        url,
        "march-a",
        &["0001_phototest.tif", "0002_eurotext.tif"],
    );
    let b = run_batch(
        env,
        url,
        "march-b",
        &["0005_phototest-upside-down.png", "0008_two-page.tif"],
    );
    let now = run_batch(env, url, "november", &["0009_phototest-turned-left.png"]);

    // Move batches a and b into March 2025: a's pages on the 3rd, b's on
    // the 10th and 11th; arrivals the day before; b was scanned by "lin".
    exec(
        url,
        &format!(
            "UPDATE documents SET created_at = '2025-03-02T08:00:00.000Z', finished_at = '2025-03-03T17:00:00.000Z' WHERE batch_id = '{a}';
             UPDATE pages SET done_at = '2025-03-03T16:00:00.000Z' WHERE document_id IN (SELECT id FROM documents WHERE batch_id = '{a}');
             UPDATE documents SET created_at = '2025-03-09T08:00:00.000Z', finished_at = '2025-03-11T17:00:00.000Z' WHERE batch_id = '{b}';
             UPDATE pages SET done_at = '2025-03-10T12:00:00.000Z' WHERE document_id IN (SELECT id FROM documents WHERE batch_id = '{b}');
             UPDATE pages SET done_at = '2025-03-11T12:00:00.000Z' WHERE id = (SELECT MAX(p.id) FROM pages p JOIN documents d ON d.id = p.document_id WHERE d.batch_id = '{b}');
             UPDATE pages SET qc_pass = FALSE WHERE id = (SELECT MIN(p.id) FROM pages p JOIN documents d ON d.id = p.document_id WHERE d.batch_id = '{b}');
             UPDATE pages SET rescan_of = 'x' WHERE id = (SELECT MIN(p.id) FROM pages p JOIN documents d ON d.id = p.document_id WHERE d.batch_id = '{a}');
             INSERT INTO intakes (id, folder, source_name, watcher, state, batch_id, operator) VALUES ('i1', '/w', 'march-b', 'w', 'done', '{b}', 'lin');"
        ),
    );

    // By hand, from the store.
    let in_month =
        "p.done_at >= '2025-03-01' AND p.done_at < '2025-04-01' AND p.state IN ('done', 'failed')";
    let pages = count(
        url,
        &format!("SELECT COUNT(*) FROM pages p WHERE {in_month}"),
    );
    let documents = count(
        url,
        "SELECT COUNT(*) FROM documents WHERE finished_at >= '2025-03-01' AND finished_at < '2025-04-01'",
    );
    let pages_of = |batch: &str| {
        count(
            url,
            &format!(
                "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.document_id WHERE d.batch_id = '{batch}'"
            ),
        )
    };
    let (pa, pb) = (pages_of(&a), pages_of(&b));
    assert_eq!(pages, pa + pb, "the present batch is outside the month");
    assert!(pa >= 2 && pb >= 3, "fixture pages: a {pa}, b {pb}");
    assert!(pages_of(&now) >= 1);
    let qc_failed_lin = count(
        url,
        &format!(
            "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.document_id WHERE d.batch_id = '{b}' AND (p.state = 'failed' OR NOT p.qc_pass)"
        ),
    );
    let rescans_none = count(
        url,
        &format!(
            "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.document_id WHERE d.batch_id = '{a}' AND p.rescan_of IS NOT NULL"
        ),
    );

    let dir = env.dir.path().join("report");
    let o = folio(
        env,
        url,
        &[
            "report",
            "monthly",
            "--month",
            MONTH,
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["pages"], pages);
    assert_eq!(r["documents"], documents);
    assert_eq!(r["batches"], 2);
    let ops = r["operators"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{ops:?}");
    let none = ops.iter().find(|o| o["operator"] == "").unwrap();
    let lin = ops.iter().find(|o| o["operator"] == "lin").unwrap();
    assert_eq!(none["pages"], pa);
    assert_eq!(lin["pages"], pb);
    assert_eq!(none["rescans"], rescans_none);
    assert_eq!(rescans_none, 1);
    assert_eq!(lin["qc_failed"], qc_failed_lin);
    assert!(qc_failed_lin >= 1);
    let rate = lin["qc_failure_rate"].as_f64().unwrap();
    assert!((rate - qc_failed_lin as f64 / pb as f64).abs() < 1e-9);
    // Throughput per day: every day of March, pages on the 3rd, 10th, 11th.
    let t = r["throughput"].as_array().unwrap();
    assert_eq!(t.len(), 31);
    let on = |day: &str| {
        t.iter()
            .find(|d| d["day"] == day)
            .map(|d| d["pages"].as_i64().unwrap())
            .unwrap()
    };
    assert_eq!(on("2025-03-03"), pa);
    assert_eq!(on("2025-03-10"), pb - 1);
    assert_eq!(on("2025-03-11"), 1);
    assert_eq!(
        t.iter().map(|d| d["pages"].as_i64().unwrap()).sum::<i64>(),
        pages
    );
    // Queue depth: a's pages wait from the 2nd to the 3rd, b's from the 9th.
    let q = r["queue_depth"].as_array().unwrap();
    let depth = |day: &str| {
        q.iter().find(|d| d["day"] == day).unwrap()["pages"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(depth("2025-03-01"), 0);
    assert_eq!(depth("2025-03-02"), pa);
    assert_eq!(depth("2025-03-03"), 0);
    assert_eq!(depth("2025-03-09"), pb);
    assert_eq!(depth("2025-03-10"), 1);
    assert_eq!(depth("2025-03-31"), 0);

    // HTML: the counts and six inline SVG charts with a bar per operator.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains(&format!("<td id=\"pages\">{pages}</td>")));
    assert!(html.contains("Pages scanned per operator"));

    // PDF: pdfinfo opens it; the chart titles are its text; its pages
    // hold the bars as filled rectangles and the queue as a line.
    let pdf = dir.join("report.pdf");
    let info = Command::new("pdfinfo")
        .arg(&pdf)
        .output()
        .expect("pdfinfo (poppler-utils) is installed by scripts/setup");
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Pages:"), "{info}");
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for title in [
        "Pages scanned per operator",
        "QC-failure rate per operator",
        "Throughput: pages finished per day",
        "Queue depth at the end of each day",
    ] {
        assert!(
            text.contains(title),
            "{title} missing from the PDF text:\n{text}"
        );
    }
    let bars = pdf_rectangles(&pdf);
    // 3 operator charts × 2 bars + 31 day bars (zero-height ones too).
    assert_eq!(bars, 3 * 2 + 31, "filled bars in the PDF");
}

/// Filled rectangles (`re f`) across the PDF's content streams.
fn pdf_rectangles(pdf: &Path) -> usize {
    let doc = lopdf::Document::load(pdf).unwrap();
    doc.get_pages()
        .values()
        .map(|id| {
            let content = doc.get_page_content(*id);
            String::from_utf8_lossy(&content).matches(" re f").count()
        })
        .sum()
}
