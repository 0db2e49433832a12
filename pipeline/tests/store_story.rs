//! One story through the store, told on SQLite and on PostgreSQL: the
//! same code must behave the same on both. PostgreSQL tests create their
//! own database and drop it after (admin URL: FOLIO_TEST_PG_ADMIN_URL,
//! default postgres://postgres@127.0.0.1:5432/postgres).

mod util;

use folio::batch::BatchState;
use folio::error::FolioError;
use folio::store::{DocState, DocumentRecord, FieldRow, FileRow, FileState, PageRecord, Store};
use sqlx::Connection;
use util::*;

fn pg_admin_url() -> String {
    std::env::var("FOLIO_TEST_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A throw-away PostgreSQL database, dropped when the guard goes.
struct PgDb {
    name: String,
    url: String,
}

impl PgDb {
    fn create() -> PgDb {
        let name = format!(
            "folio_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let admin = pg_admin_url();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for this test: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
        });
        let base = admin.rsplit_once('/').unwrap().0;
        PgDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let name = self.name.clone();
        rt.block_on(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            }
        });
    }
}

fn page(seq: i64, sha: &str) -> PageRecord {
    PageRecord {
        seq,
        file_sha256: sha.into(),
        file_page: seq,
        width: 100,
        height: 200,
        dpi: Some(300.0),
        color: "bilevel".into(),
        skew_deg: -1.5,
        orientation_deg: 90,
        blank: seq == 2,
        qc_pass: seq != 2,
        qc_reasons: if seq == 2 {
            r#"[{"code":"too_light","mean":250.0}]"#.into()
        } else {
            "[]".into()
        },
        phash: "123".into(),
        rescan_of: None,
        ocr_text: "档案号 DA-98-0035".into(),
        ocr_confidence: 91.5,
        words: "[]".into(),
        outcome: "ok".into(),
        failure: None,
        image_ms: 12.0,
        ocr_ms: 2000.0,
    }
}

async fn story(url: &str) {
    let store = Store::open(url).await.unwrap();
    // Opening again runs no migration twice.
    let again = Store::open(url).await.unwrap();
    again.close().await;

    let batch = store
        .create_batch("b1", "box-17", "/scans/box-17", "general")
        .await
        .unwrap();
    assert_eq!(batch.state, BatchState::Received);
    assert_eq!(
        store
            .batch_by_source("/scans/box-17")
            .await
            .unwrap()
            .unwrap()
            .id,
        "b1"
    );

    // Illegal moves are refused and change nothing.
    let err = store
        .transition("b1", BatchState::Packaged, "skip ahead")
        .await
        .unwrap_err();
    assert!(matches!(err, FolioError::IllegalTransition { .. }), "{err}");
    store
        .transition("b1", BatchState::Processing, "2 files")
        .await
        .unwrap();

    let file = FileRow {
        sha256: "aa".repeat(32),
        batch_id: "b1".into(),
        original_name: "页 1.tif".into(),
        bytes: 1234,
        pages: 2,
        state: FileState::Arrived,
        reason: None,
    };
    store.record_file(&file).await.unwrap();
    // Recording the same fingerprint again changes nothing.
    store
        .record_file(&FileRow {
            original_name: "other.tif".into(),
            ..file.clone()
        })
        .await
        .unwrap();
    assert_eq!(store.file(&file.sha256).await.unwrap().unwrap(), file);
    assert_eq!(store.next_document_seq("b1").await.unwrap(), 1);

    let doc = DocumentRecord {
        id: "box-17-0001".into(),
        batch_id: "b1".into(),
        seq: 1,
        class: "general".into(),
        state: DocState::AwaitingKeying,
        package_path: "/out/.awaiting-keying/box-17-0001".into(),
        pages: vec![page(1, &file.sha256), page(2, &file.sha256)],
        fields: vec![FieldRow {
            name: "archive_no".into(),
            value: Some("DA-98-0035".into()),
            confidence: 0.42,
            page: Some(1),
            bbox: Some("[1,2,3,4]".into()),
            status: "awaiting_keying".into(),
            reason: Some("confidence 0.42 below 0.80".into()),
        }],
    };
    store.save_document(&doc).await.unwrap();
    assert_eq!(
        store.file(&file.sha256).await.unwrap().unwrap().state,
        FileState::Processed
    );
    assert_eq!(store.next_document_seq("b1").await.unwrap(), 2);
    // A document is saved whole or not at all: a clash rolls back.
    assert!(store.save_document(&doc).await.is_err());
    assert_eq!(store.documents("b1").await.unwrap().len(), 1);
    assert_eq!(store.fields("box-17-0001").await.unwrap(), doc.fields);

    let reports = store.page_reports("b1").await.unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports[1].blank && !reports[1].qc_pass);
    assert_eq!(reports[0].original_name, "页 1.tif");

    store
        .transition("b1", BatchState::AwaitingKeying, "1 document waits")
        .await
        .unwrap();
    let events = store.events("b1").await.unwrap();
    let moves: Vec<&str> = events.iter().map(|e| e.to.as_str()).collect();
    assert_eq!(moves, ["received", "processing", "awaiting_keying"]);
    store.close().await;
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
