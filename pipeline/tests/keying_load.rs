//! The keying load bench and the keying simulation in short, so `cargo
//! test` keeps checking what they measure, against the real `folio serve`
//! on a real store: 20 simulated users keying 20 seeded documents (120
//! fields) on SQLite and on PostgreSQL until every field is final — no
//! task handed out twice or to two users at once, no accepted submission
//! missing from the store, two distinct keyers per field, a third person
//! for every arbitration, every document packaged — and a simulation with
//! a high error rate on SQLite, where the server's rules (agree → final,
//! differ or fail the check → arbitration, a value that does not fit the
//! mask → 422) are checked field by field. Same code as `cargo bench
//! --bench keying_load` and `--bench keying_sim` (`benches/keying_client.rs`).

#[path = "../../benches/keying_client.rs"]
mod keying_client;
mod util;

use keying_client::*;
use std::time::Duration;
use util::pg::PgDb;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn short_load(pg: Option<&PgDb>) -> (Station, LoadReport) {
    let station = Station::new(pg.map(|p| p.url.as_str()));
    let cfg = LoadConfig {
        keyers: 20,
        // Three: with two arbiters who also key, a field both of them keyed
        // could never be arbitrated.
        arbiters: 3,
        seconds: 3.0,
        think_ms: (100, 400),
        wrong_rate: 0.05,
        documents: 20,
        limit: Duration::from_secs(90),
        seed: 7,
        snippets: false,
        // Three users sit on their first task past a 3 s lease: refused
        // (409), handed out again, keyed by someone.
        stallers: 3,
        lease_s: Some(3.0),
    };
    let r = runtime()
        .block_on(load_on(&station, &cfg, "form_001.jpg"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{}\n{}", load_table_header(), load_table_row(&r));
    assert!(
        r.problems().is_empty(),
        "{:#?}\n{:#?}\n{:#?}",
        r.problems(),
        r.hand_outs.examples,
        r.store.examples
    );
    assert_eq!(r.fields, 120, "20 documents of 6 routed fields");
    assert_eq!(r.store.final_fields, r.fields);
    // The counts must have had something to count.
    assert!(
        r.submits > 0 && r.store.double_keyed > 0,
        "{:?}",
        r.to_json()
    );
    assert!(
        r.store.arbitrated > 0,
        "5 % wrong entries and no arbitration: {:?}",
        r.to_json()
    );
    assert_eq!(r.packaged, r.documents);
    assert_eq!(r.stalled, 3);
    assert_eq!(
        r.conflicts_409,
        3,
        "each late submit refused: {:?}",
        r.to_json()
    );
    assert_eq!(r.hand_outs.again_after_expiry, 3, "{:?}", r.to_json());
    (station, r)
}

#[test]
fn sqlite_station_hands_each_task_to_one_keyer_and_loses_nothing() {
    let (station, r) = short_load(None);
    // The counts can fail: a stored entry changed behind the server's back
    // is a lost submission, and a forged hand-out of a task to another
    // user while its keyer still held it is an overlap.
    let victim = r
        .log
        .iter()
        .find(|h| h.task.kind == "key" && h.accepted().is_some())
        .unwrap()
        .clone();
    let rt = runtime();
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&station.db_url).await.unwrap();
        sqlx::query("UPDATE tasks SET value = 'tampered' WHERE id = $1")
            .bind(victim.task.id)
            .execute(&mut db)
            .await
            .unwrap();
        db.close().await.unwrap();
    });
    let c = rt.block_on(store_counts(&station.db_url, &r.log)).unwrap();
    assert_eq!(c.lost_submissions, 1, "{:?}", c.examples);
    let mut forged = r.log.clone();
    let mut intruder = victim.clone();
    intruder.user = "intruder".into();
    intruder.submits.clear();
    forged.push(intruder);
    let h = hand_outs(&forged);
    assert_eq!((h.to_several_users, h.overlapping), (1, 1), "{:?}", h);
}

#[test]
fn postgres_station_hands_each_task_to_one_keyer_and_loses_nothing() {
    let db = PgDb::create();
    let (station, _) = short_load(Some(&db));
    drop(station);
}

#[test]
fn keying_simulation_follows_the_rules_with_many_errors() {
    let station = Station::new(None);
    // Errors far above a real keyer's, so every path is taken: slips make
    // values that do not fit the mask (422) and differing entries
    // (arbitration); look-alikes make identical errors. Arbiters here read
    // and type without fault, so every arbitrated value must be true.
    let cfg = SimConfig {
        keyers: 6,
        arbiters: 3,
        model: ErrorModel {
            slip: 0.25,
            lookalike_fields: 0.3,
            misread: 0.5,
            arbiter_misread: 0.0,
            arbiter_slip: 0.0,
        },
        limit: Duration::from_secs(90),
        seed: 11,
    };
    let r = runtime()
        .block_on(simulate(&station, &cfg, &["form_007.png"], 9))
        .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{}", sim_table(&r));
    assert!(
        r.problems().is_empty(),
        "{:#?}\n{:#?}",
        r.problems(),
        r.store.examples
    );
    assert_eq!(r.fields, 60);
    assert_eq!(
        r.from_packages, r.documents,
        "accuracy read from every package"
    );
    assert!(r.double_keyed > 0 && r.arbitrated > 0, "{:?}", r.to_json());
    assert!(
        r.rejected_422 > 0,
        "dropped characters never refused: {:?}",
        r.to_json()
    );
    assert_eq!(r.wrong_arbitrated, 0, "{:#?}", r.wrong_examples);
    // Wrong finals can only be identical errors both keyers made.
    assert!(
        r.single_correct < r.single_keyings
            && r.correct > r.single_correct * r.fields / r.single_keyings,
        "double keying did no better than single: {:?}",
        r.to_json()
    );
}
