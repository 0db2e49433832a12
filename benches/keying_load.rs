//! The keying station under load: N simulated keyers (200 by default; one
//! in twenty, at least three, with the arbiter role) doing next → think →
//! submit against the real `folio serve`, on SQLite and on PostgreSQL. Measures
//! submits/s, requests/s and the p50/p99 latency of `tasks/next` and
//! `tasks/{id}/submit` separately over the measured phase; then drains the
//! queue without think time and counts, from the client log and the store:
//! no task handed out to two users, no two users holding one task at once,
//! no accepted submission missing from the store, every field keyed by two
//! distinct keyers (and arbitrated by a third person when they differ),
//! every document packaged.
//!
//! Fixture seeding (not behaviour under test): one form page is OCR'd by
//! `folio run` with every field routed to keying, and its document is
//! cloned in the store (documents, pages, fields, key tasks) to as many
//! documents as the measured phase needs. Keyers submit the page's true
//! values; 1 % of key submissions get a wrong digit so some fields go to
//! arbitration.
//!
//! `cargo bench --bench keying_load -- [--keyers 200] [--seconds 60]
//! [--backend sqlite|postgres|both] [--think-ms 500-2000] [--arbiters N]
//! [--snippets] [--no-save]`; `--snippets` also fetches each task's
//! snippet image as the station page does (its latency reported apart). Prints a Markdown table; writes the runs to
//! `benches/keying_load.results.json` (one JSON object per line) unless
//! `--no-save`. Exits 1 when any rule was broken. PostgreSQL: a database of
//! its own on FOLIO_TEST_PG_ADMIN_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards.

#[path = "keying_client.rs"]
mod keying_client;
#[path = "../pipeline/tests/util/pg.rs"]
#[allow(dead_code)]
mod pg;

use keying_client::*;
use std::time::Duration;

struct Args {
    keyers: usize,
    arbiters: Option<usize>,
    seconds: f64,
    think_ms: (u64, u64),
    backends: Vec<Backend>,
    save: bool,
    snippets: bool,
}

fn args() -> Args {
    let mut a = Args {
        keyers: 200,
        arbiters: None,
        seconds: 60.0,
        think_ms: (500, 2000),
        backends: vec![Backend::Sqlite, Backend::Postgres],
        save: true,
        snippets: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--keyers" => a.keyers = val().parse().expect("--keyers N"),
            "--arbiters" => a.arbiters = Some(val().parse().expect("--arbiters N")),
            "--seconds" => a.seconds = val().parse().expect("--seconds S"),
            "--think-ms" => {
                let v = val();
                let (lo, hi) = v.split_once('-').expect("--think-ms LO-HI");
                a.think_ms = (lo.parse().unwrap(), hi.parse().unwrap());
            }
            "--backend" => {
                let v = val();
                a.backends = match v.as_str() {
                    "both" | "all" => vec![Backend::Sqlite, Backend::Postgres],
                    other => vec![Backend::parse(other).expect("--backend sqlite|postgres|both")],
                }
            }
            "--no-save" => a.save = false,
            "--snippets" => a.snippets = true,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    let a = args();
    let cfg = LoadConfig {
        keyers: a.keyers,
        // One in twenty, and at least three: an arbitration needs an arbiter
        // who did not key the field, and arbiters key too.
        arbiters: a.arbiters.unwrap_or(a.keyers.div_ceil(20).max(3)),
        seconds: a.seconds,
        think_ms: a.think_ms,
        wrong_rate: 0.01,
        documents: LoadConfig::documents_for(a.keyers, a.seconds, a.think_ms),
        limit: Duration::from_secs_f64(a.seconds * 3.0 + 300.0),
        seed: 20261128,
        snippets: a.snippets,
        stallers: 0,
        lease_s: None,
    };
    eprintln!(
        "keying_load: {} users ({} arbiters), {} s measured, think {}–{} ms, {} documents per backend",
        cfg.keyers, cfg.arbiters, cfg.seconds, cfg.think_ms.0, cfg.think_ms.1, cfg.documents
    );
    let mut reports = Vec::new();
    for backend in &a.backends {
        let pgdb = (*backend == Backend::Postgres).then(pg::PgDb::create);
        let station = Station::new(pgdb.as_ref().map(|p| p.url.as_str()));
        // One thread for the simulated keyers: the client stays off the
        // server's second core as much as it can.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt
            .block_on(load_on(&station, &cfg, "form_001.jpg"))
            .unwrap_or_else(|e| panic!("{}: {e:#}", backend.name()));
        eprintln!(
            "{}: {}",
            backend.name(),
            serde_json::to_string(&r.to_json()).unwrap()
        );
        reports.push(r);
        drop(station);
        drop(pgdb);
    }
    println!("{}", load_table_header());
    for r in &reports {
        println!("{}", load_table_row(r));
    }
    for r in &reports {
        println!(
            "{}: {} submits in {:.0} s measured + {:.1} s drain; snippets {} (p50 / p99 {:.1} / {:.1} ms); {} empty nexts; 422 {}; packages done {:.1} s after the last field; server CPU {:.1} s, client CPU {:.1} s; load {}",
            r.backend.name(),
            r.submits,
            r.seconds,
            r.drain_seconds,
            r.snippets,
            r.snippet_p50_ms,
            r.snippet_p99_ms,
            r.empty_nexts,
            r.rejected_422,
            r.package_wait_s,
            r.server_cpu_s,
            r.client_cpu_s,
            r.load_avg
        );
        println!(
            "{}: machine CPU busy {:.0} % over the measured phase",
            r.backend.name(),
            100.0 * r.machine_busy
        );
        if !r.pg_waits.is_empty() {
            let w: Vec<String> = r
                .pg_waits
                .iter()
                .take(6)
                .map(|(k, n)| format!("{k} {n:.2}"))
                .collect();
            println!(
                "{}: backends busy per sample (state/wait): {}",
                r.backend.name(),
                w.join(", ")
            );
        }
    }
    if a.save {
        let path = root().join("benches/keying_load.results.json");
        let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let lines: Vec<String> = reports
            .iter()
            .map(|r| {
                let mut v = r.to_json();
                v["at"] = when.clone().into();
                v["commit"] = git_commit().into();
                serde_json::to_string(&v).unwrap()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        eprintln!("wrote {}", path.display());
    }
    let mut bad = false;
    for r in &reports {
        for p in r.problems() {
            eprintln!("{}: PROBLEM: {p}", r.backend.name());
            bad = true;
        }
        for e in r.hand_outs.examples.iter().chain(&r.store.examples) {
            eprintln!("{}:   e.g. {e}", r.backend.name());
        }
    }
    if bad {
        std::process::exit(1);
    }
}
