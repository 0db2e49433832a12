//! The store work-queue bench in short, so `cargo test` keeps checking
//! what the bench measures: 400 page tasks claimed and completed by 4 and
//! by 8 concurrent workers sharing one `Store`, on SQLite and on
//! PostgreSQL, with no page handed out twice and every page completed
//! exactly once (counted from the claims and the event log, not assumed).
//! Same driver as `cargo bench -p folio --bench store_queue`.

#[path = "../../benches/store_queue_driver.rs"]
mod driver;

use driver::{Config, Kind};

/// Runs 400 tasks with 4 and with 8 workers on `kind` and checks the counts.
fn load(kind: Kind) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for workers in [4, 8] {
        let cfg = Config {
            kind,
            tasks: 400,
            workers,
            sample_waits: false,
            analyze: true,
        };
        let r = rt
            .block_on(driver::run(&cfg))
            .unwrap_or_else(|e| panic!("{} with {workers} workers: {e:#}", kind.name()));
        eprintln!(
            "{} × {workers}: {:.0} tasks/s, {:.2} store ms per page",
            kind.name(),
            r.tasks_per_s,
            r.store_ms_per_page
        );
        assert_eq!(r.double_claims, 0, "pages claimed twice: {r:?}");
        assert_eq!(r.not_completed_once, 0, "pages not completed once: {r:?}");
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }
}

#[test]
fn sqlite_queue_hands_each_page_to_one_worker_under_load() {
    load(Kind::Sqlite);
}

#[test]
fn postgres_queue_hands_each_page_to_one_worker_under_load() {
    load(Kind::Postgres);
}
