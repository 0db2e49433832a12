//! End to end: a batch whose page failed is put right without ingesting
//! it again. The original of one page goes missing from the object store
//! between ingest and work (a disk or share hiccup), so its document
//! fails; once the file is back, `folio batch retry` queues that document
//! again and the next worker packages it. Nothing else is read twice, the
//! failed attempt's folder is superseded, the delivery counts the
//! document as packaged, and the operator's retry is in the history with
//! the operator as actor. On SQLite and on PostgreSQL.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::pg::PgDb;
use util::*;

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Site {
    env: Env,
    url: String,
    _pg: Option<PgDb>,
}

impl Site {
    fn new(backend: Backend) -> Site {
        let env = Env::new();
        let (url, pg) = match backend {
            Backend::Sqlite => (env.db_url(), None),
            Backend::Postgres => {
                let db = PgDb::create();
                (db.url.clone(), Some(db))
            }
        };
        Site { env, url, _pg: pg }
    }

    fn folio(&self, args: &[&str]) -> Command {
        let mut c = self.env.folio(args);
        c.env("FOLIO_DATABASE_URL", &self.url)
            .env("FOLIO_USER", "ops-anna");
        c
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.folio(args).output().unwrap();
        assert!(
            out.status.success(),
            "folio {args:?}: {:?}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn status(&self) -> serde_json::Value {
        let out = self.ok(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Moves the object-store copy of `original` aside (a disk or share
    /// hiccup); returns where it was and where it is, to put it back.
    fn lose_original(&self, original: &Path) -> (PathBuf, PathBuf) {
        let sha = sha256(original);
        let object = self
            .env
            .data()
            .join("objects/sha256")
            .join(&sha[..2])
            .join(&sha[2..]);
        let aside = self.env.dir.path().join("aside");
        std::fs::rename(&object, &aside).unwrap();
        (object, aside)
    }

    /// Runs one statement on this site's store (to arrange a state the
    /// keying station would otherwise have to produce).
    fn exec(&self, sql: &str) {
        use sqlx::Connection;
        let url = self.url.clone();
        let sql = sql.to_string();
        util::harness::block(async move {
            if url.starts_with("sqlite:") {
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            } else {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        });
    }

    /// The first column of a one-row query on this site's store.
    fn number(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let url = self.url.clone();
        let sql = sql.to_string();
        util::harness::block(async move {
            if url.starts_with("sqlite:") {
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            } else {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            }
        })
    }
}

/// The folders a failed document's attempt leaves under `<out>/.failed`.
fn failed_folders(out: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(out.join(".failed"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn retry_story(backend: Backend) {
    let site = Site::new(backend);
    let samples = root().join("samples/batch-0001");
    let lost = samples.join("0001_phototest.tif");
    let batch = make_batch(
        &site.env,
        "box-17",
        &[
            (&lost, "0001_phototest.tif"),
            (&samples.join("0002_eurotext.tif"), "0002_eurotext.tif"),
        ],
    );
    let out = site.env.out();
    site.ok(&[
        "ingest",
        batch.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);

    // A name that is no batch: a clear error, nothing changed.
    let none = site.folio(&["batch", "retry", "box-99"]).output().unwrap();
    assert_eq!(none.status.code(), Some(3), "{none:?}");
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        err.contains("box-99") && err.contains("no such batch"),
        "{err}"
    );

    // The original of one page goes missing before any worker reads it.
    let (object, aside) = site.lose_original(&lost);
    let worked = site.folio(&["worker", "--until-idle"]).output().unwrap();
    assert!(
        matches!(worked.status.code(), Some(0 | 4)),
        "{worked:?}\n{}",
        String::from_utf8_lossy(&worked.stderr)
    );
    let s = site.status();
    let b = &s["batches"][0];
    assert_eq!(b["pages"]["failed"], 1, "{s}");
    assert_eq!(b["documents"]["failed"], 1, "{s}");
    assert_eq!(b["documents"]["packaged"], 1, "{s}");
    assert_eq!(failed_folders(&out).len(), 1, "the failed attempt is kept");
    assert_eq!(packages(&out).len(), 1);
    let read_once =
        site.number("SELECT COUNT(*) FROM events WHERE entity = 'page' AND to_state = 'done'");
    assert_eq!(read_once, 1);

    // The file is back. A failed document a keyer has already typed a
    // field of is not retried: that work would be discarded.
    std::fs::rename(&aside, &object).unwrap();
    site.exec(
        "INSERT INTO fields (document_id, name, confidence, status) \
         SELECT id, 'claim_no', 0.3, 'awaiting_keying' FROM documents WHERE state = 'failed'",
    );
    site.exec(
        "INSERT INTO tasks (document_id, field, kind, pass, state) \
         SELECT id, 'claim_no', 'key', 1, 'done' FROM documents WHERE state = 'failed'",
    );
    let kept = site.folio(&["batch", "retry", "box-17"]).output().unwrap();
    assert_eq!(kept.status.code(), Some(4), "{kept:?}");
    let err = String::from_utf8_lossy(&kept.stderr);
    assert!(
        err.contains("not retried") && err.contains("1 keying task(s)"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&kept.stdout).contains("no failed document to retry"),
        "{kept:?}"
    );
    assert_eq!(site.status()["batches"][0]["documents"]["failed"], 1);
    site.exec("DELETE FROM tasks");
    site.exec("DELETE FROM fields WHERE name = 'claim_no'");

    // Untouched, the operator retries the batch by its name.
    let retried = site.ok(&["batch", "retry", "box-17", "--reason", "object restored"]);
    let said = String::from_utf8_lossy(&retried.stdout);
    assert!(
        said.contains("1 document(s) and 1 failed page(s) queued again"),
        "{said}"
    );
    let s = site.status();
    assert_eq!(s["batches"][0]["state"], "processing", "{s}");
    assert_eq!(s["batches"][0]["pages"]["queued"], 1, "{s}");
    // A second retry finds nothing failed.
    let again = site.ok(&["batch", "retry", "box-17"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no failed document to retry"),
        "{again:?}"
    );

    // Any worker reads it; on SQLite, `folio run` of the folder again,
    // which says the work it did was queued before it.
    match backend {
        Backend::Postgres => {
            site.ok(&["worker", "--until-idle"]);
        }
        Backend::Sqlite => {
            let run = site.ok(&[
                "run",
                batch.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ]);
            let said = String::from_utf8_lossy(&run.stdout);
            assert!(
                said.contains("resumed: 1 page(s) and 1 document(s) of this batch worked")
                    && said.contains("2 page(s) done, 0 failed, 0 still queued")
                    && !said.contains("nothing new"),
                "{said}"
            );
        }
    }
    let s = site.status();
    let b = &s["batches"][0];
    assert_eq!(b["state"], "packaged", "{s}");
    assert_eq!(b["pages"]["done"], 2, "{s}");
    assert_eq!(b["pages"]["failed"], 0, "{s}");
    assert_eq!(b["documents"]["packaged"], 2, "{s}");
    assert!(
        failed_folders(&out).is_empty(),
        "superseded: {:?}",
        failed_folders(&out)
    );
    let pkgs = packages(&out);
    assert_eq!(pkgs.len(), 2);
    for p in &pkgs {
        bagit_validate(p);
    }
    // Only the failed page was read again.
    assert_eq!(
        site.number("SELECT COUNT(*) FROM events WHERE entity = 'page' AND to_state = 'done'"),
        2
    );
    // The delivery was written again and counts both documents.
    let delivery = pkgs[0].parent().unwrap();
    let d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(delivery.join("delivery.json")).unwrap()).unwrap();
    assert_eq!(
        (d["packaged"].as_i64(), d["failed"].as_i64()),
        (Some(2), Some(0)),
        "{d}"
    );
    site.ok(&["verify", delivery.to_str().unwrap()]);
    // The retry is in the history, by the operator, with the reason.
    assert_eq!(
        site.number(
            "SELECT COUNT(*) FROM events WHERE actor = 'user:ops-anna' AND from_state = 'failed' \
             AND to_state = 'queued' AND reason LIKE '%object restored%'"
        ),
        2,
        "the page and its document"
    );
}

#[test]
fn a_failed_document_is_retried_once_its_cause_is_fixed() {
    retry_story(Backend::Sqlite);
}

#[test]
fn a_failed_document_is_retried_once_its_cause_is_fixed_on_postgres() {
    retry_story(Backend::Postgres);
}

/// A failed document sends nothing to the keyers (it cannot be delivered
/// until retried); once retried, its finish reads its fields and they go
/// to keying like any other document's. A class whose threshold no read
/// can meet sends every field to keying, so the batch's other document
/// shows what the failed one would have cost.
#[test]
fn a_failed_document_sends_nothing_to_keying_until_retried() {
    let site = Site::new(Backend::Sqlite);
    let class = std::fs::read_to_string(root().join("config/classes/insurance_registration.toml"))
        .unwrap()
        .replace("confidence_threshold = 0.80", "confidence_threshold = 1.0")
        .replace("name = \"insurance_registration\"", "name = \"strict\"");
    let config = write_config(&site.env, "strict", &[("strict", class)]);
    let cfg = config.to_str().unwrap();
    let (first, second) = (
        shared("forms-zh/form_000.tif"),
        shared("forms-zh/form_004.jpg"),
    );
    let batch = make_batch(
        &site.env,
        "forms",
        &[(&first, "form_000.tif"), (&second, "form_004.jpg")],
    );
    let out = site.env.out();
    site.ok(&[
        "--config",
        cfg,
        "ingest",
        batch.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (object, aside) = site.lose_original(&first);
    let _ = site
        .folio(&["--config", cfg, "worker", "--until-idle"])
        .output()
        .unwrap();
    let tasks_of = |state: &str| {
        site.number(&format!(
            "SELECT COUNT(*) FROM tasks t JOIN documents d ON d.id = t.document_id WHERE d.state = '{state}'"
        ))
    };
    let fields_of = |state: &str| {
        site.number(&format!(
            "SELECT COUNT(*) FROM fields f JOIN documents d ON d.id = f.document_id WHERE d.state = '{state}'"
        ))
    };
    assert_eq!(
        tasks_of("awaiting_keying"),
        12,
        "6 fields, two blind passes each"
    );
    assert_eq!((fields_of("failed"), tasks_of("failed")), (0, 0));

    std::fs::rename(&aside, &object).unwrap();
    site.ok(&["--config", cfg, "batch", "retry", "forms"]);
    site.ok(&["--config", cfg, "worker", "--until-idle"]);
    let s = site.status();
    assert_eq!(s["batches"][0]["documents"]["awaiting_keying"], 2, "{s}");
    assert_eq!(tasks_of("awaiting_keying"), 24);
    assert_eq!(fields_of("awaiting_keying"), 12);
}
