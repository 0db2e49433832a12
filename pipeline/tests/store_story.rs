//! One story through the store's work queue, told on SQLite and on
//! PostgreSQL: the same code must behave the same on both. Leases expire,
//! are taken over, late results are refused, each document is finished
//! once, and every change is an event with its actor.

mod util;

use folio::batch::BatchState;
use folio::store::*;
use std::time::Duration;
use util::pg::PgDb;
use util::*;

/// One document per file, as the `file` split rule does.
struct PerFile;

impl Planner for PerFile {
    fn groups(&self, files: &[FileRow]) -> Vec<Vec<PageRef>> {
        files
            .iter()
            .enumerate()
            .map(|(file, f)| {
                (0..f.pages as usize)
                    .map(|file_page| PageRef { file, file_page })
                    .collect()
            })
            .collect()
    }
    fn document_id(&self, batch: &BatchRow, seq: i64) -> String {
        format!(
            "{}-{}-{seq:04}",
            batch.name,
            &batch.id[batch.id.len() - 6..]
        )
    }
}

fn file(sha: char, name: &str, pages: i64) -> FileRow {
    FileRow {
        sha256: sha.to_string().repeat(64),
        batch_id: String::new(),
        original_name: name.into(),
        bytes: 1000,
        pages,
        state: FileState::Arrived,
        reason: None,
        pixels: 0,
    }
}

fn request(source: &str, files: Vec<FileRow>) -> IngestRequest {
    IngestRequest {
        source: source.into(),
        name: "box17".into(),
        class: "general".into(),
        out_dir: "/out".into(),
        quarantine_dir: "/q".into(),
        files,
        quarantined: vec![FileRow {
            state: FileState::Quarantined,
            reason: Some("not a supported image format".into()),
            ..file('c', "notes.txt", 0)
        }],
    }
}

fn result(text: &str) -> PageResult {
    PageResult {
        width: 100,
        height: 200,
        dpi: Some(300.0),
        color: "bilevel".into(),
        qc_pass: true,
        qc_reasons: "[]".into(),
        phash: "[1,2]".into(),
        report: r#"{"ms":1.0}"#.into(),
        ocr_text: text.into(),
        ocr_confidence: 90.0,
        words: "[]".into(),
        derived_path: Some("derived/x.png".into()),
        ..PageResult::default()
    }
}

fn outcome() -> DocumentOutcome {
    DocumentOutcome {
        state: DocState::Packaged,
        package_path: "/out/doc".into(),
        fields: vec![FieldRow {
            name: "archive_no".into(),
            value: Some("DA-98-0035".into()),
            confidence: 0.97,
            page: Some(1),
            bbox: Some("[1,2,3,4]".into()),
            status: "accepted".into(),
            reason: None,
            final_value: Some("DA-98-0035".into()),
            outcome: Some("value".into()),
            source: Some("ocr".into()),
            keyers: None,
            qa_sample: false,
        }],
        rescans: vec![],
        rekeyed: false,
    }
}

async fn story(url: &str) {
    let store = Store::open(url).await.unwrap();
    let again = Store::open(url).await.unwrap();
    again.close().await;
    let alice = Actor("user:alice".into());
    let (a, b, c) = (
        Actor("worker:host-a/1/t".into()),
        Actor("worker:host-b/2/t".into()),
        Actor("worker:host-c/3/t".into()),
    );

    let files = vec![file('a', "页 1.tif", 2), file('b', "2.tif", 1)];
    let got = store
        .ingest(&request("/scans/box17", files.clone()), &PerFile, &alice)
        .await
        .unwrap();
    assert!(got.created);
    assert_eq!(got.batch.state, BatchState::Processing);
    assert_eq!(got.new_files.len(), 2);
    assert_eq!(
        got.documents
            .iter()
            .map(|d| (d.seq, d.pages))
            .collect::<Vec<_>>(),
        [(1, 2), (2, 1)]
    );
    let batch = got.batch.id.clone();
    // The same folder again: same batch, nothing new, numbers not reused.
    let again = store
        .ingest(&request("/scans/box17", files), &PerFile, &alice)
        .await
        .unwrap();
    assert_eq!(again.batch.id, batch);
    assert!(again.documents.is_empty() && again.new_files.is_empty());
    assert_eq!(again.known.len(), 3);
    let (pages, docs) = store.batch_counts(&batch).await.unwrap();
    assert_eq!((pages.queued, docs.queued), (3, 2));

    // Worker A claims everything with a one-second lease.
    let claims = store.claim_pages(&a, 10, 1.0, None).await.unwrap();
    assert_eq!(claims.len(), 3);
    assert!(
        store
            .claim_pages(&b, 10, 1.0, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .complete_page(&claims[0], &result("one"), &a, 1.0)
            .await
            .unwrap(),
        PageCommit::Recorded
    );
    let status = store.status(Some(&batch)).await.unwrap();
    assert_eq!(status[0].pages.leased, 2);
    assert_eq!(status[0].leases[0].host, "host-a");

    // A stops renewing; after the lease runs out B takes the rest.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let taken = store.claim_pages(&b, 10, 5.0, Some(&batch)).await.unwrap();
    assert_eq!(
        taken.iter().map(|t| t.page_id).collect::<Vec<_>>(),
        [claims[1].page_id, claims[2].page_id]
    );
    assert_eq!(taken[0].attempts, 2);
    // A's late result is refused and changes nothing.
    assert_eq!(
        store
            .complete_page(&claims[1], &result("late"), &a, 1.0)
            .await
            .unwrap(),
        PageCommit::Stale
    );
    let doc1 = match store
        .complete_page(&taken[0], &result("two"), &b, 5.0)
        .await
        .unwrap()
    {
        PageCommit::DocumentReady(d) => d,
        other => panic!("the last page hands over the document, got {other:?}"),
    };
    let work = store.document_work(&doc1.document_id).await.unwrap();
    assert_eq!(work.pages.len(), 2);
    assert_eq!(
        work.pages[1].result.ocr_text, "two",
        "B's result, not A's late one"
    );
    assert_eq!(work.files[0].original_name, "页 1.tif");
    assert!(store.finish_document(&doc1, &outcome(), &b).await.unwrap());
    assert!(
        !store.finish_document(&doc1, &outcome(), &b).await.unwrap(),
        "a document is finished once"
    );
    // jsonb keeps the box as JSON, not as the text written.
    let bbox = |f: &[FieldRow]| -> serde_json::Value {
        serde_json::from_str(f[0].bbox.as_deref().unwrap()).unwrap()
    };
    let stored = store.fields(&doc1.document_id).await.unwrap();
    assert_eq!(bbox(&stored), bbox(&outcome().fields));
    assert_eq!(
        FieldRow {
            bbox: None,
            ..stored[0].clone()
        },
        FieldRow {
            bbox: None,
            ..outcome().fields[0].clone()
        }
    );

    // B commits the last page, then dies before finishing: C takes the
    // document over once the lease runs out; B's late commit is refused.
    let doc2 = match store
        .complete_page(&taken[1], &result("three"), &b, 1.0)
        .await
        .unwrap()
    {
        PageCommit::DocumentReady(d) => d,
        other => panic!("{other:?}"),
    };
    assert!(store.claim_document(&c, 5.0, None).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let doc2c = store.claim_document(&c, 5.0, None).await.unwrap().unwrap();
    assert_eq!(doc2c.document_id, doc2.document_id);
    assert!(!store.finish_document(&doc2, &outcome(), &b).await.unwrap());
    assert!(store.finish_document(&doc2c, &outcome(), &c).await.unwrap());
    assert!(store.idle(None).await.unwrap());
    assert_eq!(
        store.batch(&batch).await.unwrap().unwrap().state,
        BatchState::Packaged
    );

    // Every page was completed exactly once; every move has its actor.
    for (page, n) in store.completions_per_page(&batch).await.unwrap() {
        assert_eq!(n, 1, "page {page} completed {n} times");
    }
    let moves: Vec<(String, String)> = store
        .events("batch", &batch)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.to, e.actor))
        .collect();
    assert_eq!(
        moves,
        [
            ("received".to_string(), alice.to_string()),
            ("processing".to_string(), alice.to_string()),
            ("packaged".to_string(), c.to_string()),
        ]
    );
    let page2: Vec<(String, String)> = store
        .events("page", &claims[1].page_id.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.to, e.actor))
        .collect();
    assert_eq!(
        page2,
        [
            ("queued".to_string(), alice.to_string()),
            ("leased".to_string(), a.to_string()),
            ("leased".to_string(), b.to_string()),
            ("done".to_string(), b.to_string()),
        ]
    );
    let quarantined = store.file(&"c".repeat(64)).await.unwrap().unwrap();
    assert_eq!(quarantined.state, FileState::Quarantined);

    // A stopping worker gives its leases back at once.
    let more = store
        .ingest(
            &request("/scans/box18", vec![file('d', "x.tif", 2)]),
            &PerFile,
            &alice,
        )
        .await
        .unwrap();
    let held = store.claim_pages(&a, 1, 60.0, None).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(store.release(&a, "stopped").await.unwrap(), 1);
    let (pages, _) = store.batch_counts(&more.batch.id).await.unwrap();
    assert_eq!((pages.queued, pages.leased), (2, 0));
    assert_eq!(
        store
            .complete_page(&held[0], &result("x"), &a, 1.0)
            .await
            .unwrap(),
        PageCommit::Stale,
        "a released lease cannot be used"
    );
    store.close().await;
}

/// Longest job first: of the oldest claimable pages, the dearest (by its
/// share of the original's pixels, not bytes: a Group 4 text page is
/// small on disk and long to read) are claimed first, so a batch does not
/// end with one worker on a long page while the others idle; a later
/// batch's dear page waits until the older batch's window is taken.
async fn dearest_pages_first(url: &str) {
    let store = Store::open(url).await.unwrap();
    let alice = Actor("user:alice".into());
    let w = Actor("worker:host-a/1/t".into());
    let sized = |i: usize, bytes: i64, pixels: i64, pages: i64| FileRow {
        sha256: format!("{i:064x}"),
        bytes,
        pixels,
        ..file('x', &format!("{i}.tif"), pages)
    };
    // Megapixels a page: 1; 3 (x3); 5, in few bytes; 0.01, in many.
    let files = vec![
        sized(1, 500_000, 1_000_000, 1),
        sized(2, 900_000, 9_000_000, 3),
        sized(3, 60_000, 5_000_000, 1),
        sized(4, 2_000_000, 10_000, 1),
    ];
    let first = store
        .ingest(&request("/scans/dear", files), &PerFile, &alice)
        .await
        .unwrap();
    let mp = |c: &PageClaim| match c.file_sha256.as_str() {
        s if s == format!("{:064x}", 1) => 1.0,
        s if s == format!("{:064x}", 2) => 3.0,
        s if s == format!("{:064x}", 3) => 5.0,
        _ => 0.01,
    };
    let mut order = Vec::new();
    loop {
        let got = store.claim_pages(&w, 1, 60.0, None).await.unwrap();
        let Some(c) = got.first() else { break };
        order.push(mp(c));
    }
    assert_eq!(order, [5.0, 3.0, 3.0, 3.0, 1.0, 0.01]);
    let (pages, _) = store.batch_counts(&first.batch.id).await.unwrap();
    assert_eq!(pages.leased, 6);

    // Two batches: a full window of small pages, then a large one later.
    let small: Vec<FileRow> = (0..70).map(|i| sized(100 + i, 100, 100, 1)).collect();
    let older = store
        .ingest(&request("/scans/small", small), &PerFile, &alice)
        .await
        .unwrap();
    store
        .ingest(
            &request("/scans/late", vec![sized(500, 100, 50_000_000, 1)]),
            &PerFile,
            &alice,
        )
        .await
        .unwrap();
    let got = store.claim_pages(&w, 3, 60.0, None).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|c| c.batch_id == older.batch.id),
        "the older batch's pages come before a newer batch's large page"
    );
    assert!(
        got.windows(2).all(|p| p[0].page_id < p[1].page_id),
        "page order"
    );
    store.close().await;
}

#[test]
fn dearest_pages_first_on_sqlite() {
    let env = Env::new();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(dearest_pages_first(&env.db_url()));
}

#[test]
fn dearest_pages_first_on_postgres() {
    let db = PgDb::create();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(dearest_pages_first(&db.url));
}

#[test]
fn store_story_on_sqlite() {
    let env = Env::new();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(story(&env.db_url()));
}

#[test]
fn store_story_on_postgres() {
    let db = PgDb::create();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(story(&db.url));
}

#[test]
fn folio_run_uses_postgres_when_the_environment_says_so() {
    let db = PgDb::create();
    let env = Env::new();
    let batch = make_batch(
        &env,
        "pgbatch",
        &[(&shared("tesseract-test/phototest.tif"), "p.tif")],
    );
    let out = env.out();
    let output = env
        .folio(&[
            "run",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ])
        .env("FOLIO_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !env.data().join("folio.db").exists(),
        "no SQLite file when PostgreSQL is chosen"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let files = rt.block_on(async {
        let store = Store::open(&db.url).await.unwrap();
        let b = store.batches().await.unwrap().pop().unwrap();
        let f = store.files(&b.id).await.unwrap();
        store.close().await;
        f
    });
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].sha256, sha256(&batch.join("p.tif")));
    assert_eq!(packages(&out).len(), 1);
}

/// A new database's schema is made in one transaction: when its creation
/// fails part way (here a table in the way of a later migration; in life
/// a process killed while it creates the schema), nothing of it is left,
/// and the next command creates it whole, without `folio migrate`.
#[test]
fn a_new_postgres_schema_is_created_whole_or_not_at_all() {
    let db = PgDb::create();
    let env = Env::new();
    db.exec("CREATE TABLE page_flags (x INT)");
    let status = || {
        env.folio(&["status", "--json"])
            .env("FOLIO_DATABASE_URL", &db.url)
            .output()
            .unwrap()
    };
    let first = status();
    assert!(!first.status.success(), "the creation must fail");
    let tables = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'";
    assert_eq!(
        db.number(tables),
        1,
        "only the table in the way is left: no half-made schema, no _sqlx_migrations"
    );
    db.exec("DROP TABLE page_flags");
    let second = status();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let migrations = std::fs::read_dir(root().join("pipeline/migrations/postgres"))
        .unwrap()
        .count() as i64;
    assert_eq!(
        db.number("SELECT COUNT(*) FROM _sqlx_migrations WHERE success"),
        migrations
    );
    let migrate = env
        .folio(&["migrate"])
        .env("FOLIO_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "sqlx's migrator accepts the rows: {}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert_eq!(
        db.number("SELECT COUNT(*) FROM _sqlx_migrations"),
        migrations,
        "nothing applied twice"
    );
}

#[test]
fn a_worker_refuses_a_postgres_schema_of_another_version() {
    let db = PgDb::create();
    let env = Env::new();
    let migrate = env
        .folio(&["migrate"])
        .env("FOLIO_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(migrate.status.success());
    // Another workstation ran a newer folio's migration.
    db.exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (29991231000000, 'from the future', true, '\\x00', 0)",
    );
    let worker = env
        .folio(&["worker", "--until-idle"])
        .env("FOLIO_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&worker.stderr);
    assert_eq!(worker.status.code(), Some(5), "{err}");
    assert!(err.contains("newer than this folio"), "{err}");

    // An older schema: the worker asks for `folio migrate`, changes nothing.
    db.exec("DELETE FROM _sqlx_migrations WHERE version >= 20261128000000");
    let worker = env
        .folio(&["worker", "--until-idle"])
        .env("FOLIO_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&worker.stderr);
    assert_eq!(worker.status.code(), Some(5), "{err}");
    assert!(err.contains("run `folio migrate`"), "{err}");
    let status = env
        .folio(&["status", "--json"])
        .env("FOLIO_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(5), "every command refuses it");
}
