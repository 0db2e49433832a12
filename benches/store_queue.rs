//! The coordination cost of Folio's work queue: how much store work each
//! page costs when N page tasks go claim → complete (→ finish document)
//! through the store with 1, 4 and 16 concurrent workers, on SQLite and on
//! PostgreSQL, with no OCR in the loop — and whether any page was handed
//! out twice or completed other than exactly once (counted, not assumed).
//!
//! `cargo bench -p folio --bench store_queue [-- --save]`. Settings come
//! from the environment:
//! - `FOLIO_BENCH_TASKS` — page tasks per run (default 20000);
//! - `FOLIO_BENCH_SQLITE_TASKS` — tasks for SQLite runs (default the same);
//! - `FOLIO_BENCH_WORKERS` — worker counts (default `1,4,16`);
//! - `FOLIO_BENCH_BACKENDS` — `sqlite`, `postgres` (default both);
//! - `FOLIO_BENCH_WAITS=1` — also sample PostgreSQL's backends during each
//!   run and print where they wait (statement × wait event);
//! - `FOLIO_BENCH_PG_ANALYZE=0` — leave PostgreSQL without statistics
//!   after the ingest (default: `ANALYZE`, as autovacuum would; see
//!   `driver::Config::analyze`);
//! - `FOLIO_BENCH_PG_ADMIN_URL` — the server for the runs' databases.
//!
//! Prints a Markdown table; with `--save`, also writes the rows as JSON
//! lines to `benches/store_queue.results.json`. Exits non-zero when any
//! page was claimed twice or not completed exactly once.

#[path = "store_queue_driver.rs"]
mod driver;

use driver::{Config, Kind, Report};
use std::io::Write;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn parse_list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    env_or(name, default)
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: cannot read '{s}'"))
        })
        .collect()
}

fn kind(name: &str) -> Kind {
    match name.trim() {
        "sqlite" => Kind::Sqlite,
        "postgres" | "postgresql" | "pg" => Kind::Postgres,
        other => panic!("FOLIO_BENCH_BACKENDS: unknown backend '{other}' (sqlite, postgres)"),
    }
}

/// The backend as the tables name it; PostgreSQL left without statistics
/// is marked, its numbers are a different case.
fn backend(r: &Report) -> String {
    if r.backend == Kind::Postgres && !r.pg_analyzed {
        "postgres (no ANALYZE)".into()
    } else {
        r.backend.name().into()
    }
}

fn row(r: &Report) -> String {
    format!(
        "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {} | {} |",
        backend(r),
        r.workers,
        r.tasks,
        r.seconds,
        r.tasks_per_s,
        r.store_ms_per_page,
        r.claim_p50_ms,
        r.claim_p99_ms,
        r.complete_p50_ms,
        r.complete_p99_ms,
        r.double_claims,
        r.not_completed_once,
    )
}

fn detail(r: &Report) -> String {
    format!(
        "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} / {:.2} | {:.2} | {:.2} / {:.2} | {} | {} |",
        backend(r),
        r.workers,
        r.ingest_s,
        r.call_ms_per_page,
        r.claim_mean_ms,
        r.claim_p50_first_tenth_ms,
        r.claim_p50_last_tenth_ms,
        r.complete_mean_ms,
        r.finish_mean_ms,
        r.finish_p99_ms,
        r.documents_finished,
        r.empty_claims,
    )
}

/// A short fingerprint of the store's code and schema (`src/store/*.rs`,
/// `migrations/*/*.sql`) as `cargo bench` just built them, taken at start:
/// the store changes, so saved numbers say which code they measured.
fn store_source() -> String {
    use sha2::{Digest, Sha256};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = |dir: std::path::PathBuf| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let mut files: Vec<_> = list(root.join("src/store"));
    for dir in list(root.join("migrations")) {
        files.extend(list(dir));
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "rs" || e == "sql"));
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(
            f.strip_prefix(root)
                .unwrap_or(&f)
                .as_os_str()
                .as_encoded_bytes(),
        );
        h.update(std::fs::read(&f).unwrap_or_default());
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn main() {
    let save = std::env::args().skip(1).any(|a| a == "--save");
    let source = store_source();
    eprintln!("store_queue: store source {source}");
    let tasks: usize = parse_list("FOLIO_BENCH_TASKS", "20000")[0];
    let sqlite_tasks: usize = parse_list("FOLIO_BENCH_SQLITE_TASKS", &tasks.to_string())[0];
    let workers: Vec<usize> = parse_list("FOLIO_BENCH_WORKERS", "1,4,16");
    let kinds: Vec<Kind> = env_or("FOLIO_BENCH_BACKENDS", "sqlite,postgres")
        .split(',')
        .map(kind)
        .collect();
    let sample_waits = env_or("FOLIO_BENCH_WAITS", "0") == "1";
    let analyze = env_or("FOLIO_BENCH_PG_ANALYZE", "1") == "1";

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut reports = Vec::new();
    for &kind in &kinds {
        for &w in &workers {
            let cfg = Config {
                kind,
                tasks: if kind == Kind::Sqlite {
                    sqlite_tasks
                } else {
                    tasks
                },
                workers: w,
                sample_waits,
                analyze,
            };
            eprintln!(
                "store_queue: {} tasks, {} worker(s), {}…",
                cfg.tasks,
                w,
                kind.name()
            );
            match rt.block_on(driver::run(&cfg)) {
                Ok(r) => {
                    eprintln!(
                        "  ingest {:.1} s; run {:.1} s, {:.0} tasks/s",
                        r.ingest_s, r.seconds, r.tasks_per_s
                    );
                    for (what, share) in r.waits.iter().take(12) {
                        eprintln!("  {:5.1}%  {what}", share * 100.0);
                    }
                    reports.push(r);
                }
                Err(e) => {
                    eprintln!(
                        "store_queue: {} with {w} workers failed: {e:#}",
                        kind.name()
                    );
                    std::process::exit(2);
                }
            }
        }
    }

    println!("store source {source}\n");
    println!(
        "| backend | workers | tasks | seconds | tasks/s | store ms per page (wall×workers/tasks) \
         | claim p50/p99 ms | complete p50/p99 ms | double claims | pages not completed exactly once |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &reports {
        println!("{}", row(r));
    }
    println!();
    println!(
        "| backend | workers | ingest s | sum of call ms per page | claim mean ms \
         | claim p50 first/last tenth ms | complete mean ms | finish mean/p99 ms | documents finished | empty claims |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &reports {
        println!("{}", detail(r));
    }

    if save {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../benches/store_queue.results.json");
        let mut f = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        for r in &reports {
            let mut row = serde_json::to_value(r).expect("report as JSON");
            row["store_source"] = source.clone().into();
            writeln!(f, "{row}").expect("writing results");
        }
        eprintln!("store_queue: rows saved to {}", path.display());
    }

    let problems: Vec<String> = reports.iter().flat_map(Report::problems).collect();
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("store_queue: FAILED: {p}");
        }
        std::process::exit(1);
    }
}
