//! The keying station through its API, against the real `folio serve` on
//! SQLite and PostgreSQL: blind double keying, arbitration by someone
//! else, leases and late submits, roles, CSRF, lockout, idle sessions,
//! provenance in the package, events in the store, per-person figures.

mod util;

use folio::store::Store;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use util::pg::PgDb;
use util::station::{Client, Keyed};

const PW: &str = "correct-horse-battery";
const FORMS: [&str; 2] = ["form_001.jpg", "form_002.jpg"];

/// What a task is, from the supervisor's audit endpoint.
async fn audit(sup: &Client, id: i64) -> serde_json::Value {
    let r = sup.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Keys every task `c` is handed, with `value_of(original, field)`;
/// returns `(document, field)` pairs in the order keyed.
async fn key_all(
    c: &Client,
    sup: &Client,
    value_of: impl Fn(&str, &str) -> String,
) -> Vec<(String, String)> {
    let mut keyed = Vec::new();
    while let Some(task) = c.next().await {
        assert_eq!(task["kind"], "key");
        assert!(task.get("entries").is_none(), "a keyer saw other entries");
        assert!(
            !task.to_string().contains("ocr"),
            "a keyer saw OCR output: {task}"
        );
        let id = task["id"].as_i64().unwrap();
        let a = audit(sup, id).await;
        let (doc, field) = (
            a["document"].as_str().unwrap(),
            a["field"].as_str().unwrap(),
        );
        assert_eq!(task["field"], field);
        let value = value_of(a["original_name"].as_str().unwrap(), field);
        let (status, body) = c
            .submit(
                id,
                json!({"value": value, "keystrokes": value.len() + 1, "active_ms": 2500}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        keyed.push((doc.to_string(), field.to_string()));
    }
    keyed
}

fn index_of(k: &Keyed, doc: &str, wait: Duration) -> serde_json::Value {
    let t0 = Instant::now();
    let path = loop {
        let path = util::package_of(&k.env.out(), doc).join(util::INDEX);
        if path.exists() {
            break path;
        }
        assert!(
            t0.elapsed() < wait,
            "{doc} was not packaged within {wait:?} after its last field"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Items 3 and 4 of the issue end to end on one backend.
fn double_keying_story(db_url: Option<&str>) {
    let k = Keyed::prepare(&FORMS, db_url, "\n[keying]\nlease_seconds = 3\n");
    for (name, role) in [
        ("a1", "arbiter"),
        ("k2", "keyer"),
        ("k3", "keyer"),
        ("arb", "arbiter"),
        ("sup", "supervisor"),
    ] {
        k.user(name, role, PW);
    }
    let server = k.serve();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = &server.base;
        let a1 = Client::login(base, "a1", PW).await;
        let k2 = Client::login(base, "k2", PW).await;
        let k3 = Client::login(base, "k3", PW).await;
        let sup = Client::login(base, "sup", PW).await;

        // Leases: a task whose lease ran out goes to the next keyer; the
        // late submit is refused with a reason, the new holder's stands.
        let t = a1.next().await.unwrap();
        let tid = t["id"].as_i64().unwrap();
        assert!(t["lease_expires"].as_str().unwrap().ends_with('Z'));
        std::thread::sleep(Duration::from_millis(3300));
        let t2 = k2.next().await.unwrap();
        assert_eq!(t2["id"], tid, "the expired task was not handed out again");
        let (s, body) = a1.submit(tid, json!({"value": "DA-00-0000"})).await;
        assert_eq!(s, 409, "late submit accepted: {body}");
        assert!(body["error"].as_str().unwrap().contains("lease"), "{body}");
        // k2 now lets it run out too: a late submit without a taker is
        // refused as well; asking again hands k2 the same task back.
        std::thread::sleep(Duration::from_millis(3300));
        let (s, body) = k2.submit(tid, json!({"value": "DA-00-0000"})).await;
        assert_eq!(s, 409, "{body}");
        let t3 = k2.next().await.unwrap();
        assert_eq!(t3["id"], tid);
        // A give-back or submit naming k2's first lease comes late (the
        // station gives back a task whose lease ran out while it fetches
        // the next): it must not touch the second lease.
        let (old, new) = (t2["lease"].as_str().unwrap(), t3["lease"].as_str().unwrap());
        assert_ne!(old, new);
        let rel = k2
            .post(
                &format!("/api/v1/tasks/{tid}/release"),
                json!({"lease": old}),
            )
            .await;
        assert_eq!(rel.status(), 409, "a late give-back freed a new lease");
        let (s, body) = k2
            .submit(tid, json!({"value": "DA-00-0000", "lease": old}))
            .await;
        assert_eq!(s, 409, "a submit on an old lease was taken: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("leased again"),
            "{body}"
        );
        let held = audit(&sup, tid).await;
        assert_eq!(
            (held["state"].as_str(), held["keyer"].as_str()),
            (Some("leased"), Some("k2")),
            "{held}"
        );
        let rel = k2
            .post(
                &format!("/api/v1/tasks/{tid}/release"),
                json!({"lease": new}),
            )
            .await;
        assert_eq!(rel.status(), 200);

        // A value that fails the mask is refused with the mask (422), and
        // nothing is recorded.
        let t = a1.next().await.unwrap();
        let id = t["id"].as_i64().unwrap();
        let (s, body) = a1.submit(id, json!({"value": "not a value !!"})).await;
        assert_eq!(s, 422, "{body}");
        assert!(body["error"].as_str().unwrap().contains("mask"), "{body}");
        let rel = a1
            .post(&format!("/api/v1/tasks/{id}/release"), json!({}))
            .await;
        assert_eq!(rel.status(), 200);

        // a1 keys everything right, except the same wrong ID number as k2
        // on the first form (both keyings equal but failing the check).
        let bad_id = "310104199003079507";
        let first = &k.forms[0];
        let wrong = |orig: &str, field: &str| -> Option<String> {
            (orig == first && field == "id_number").then(|| bad_id.to_string())
        };
        let a1_keyed = key_all(&a1, &sup, |o, f| {
            wrong(o, f).unwrap_or_else(|| k.truth(o, f))
        })
        .await;
        // k2 also types a different amount on the second form (full-width
        // digits on one field, which fold to the same value: agreement).
        let second = &k.forms[1];
        let k2_keyed = key_all(&k2, &sup, |o, f| {
            if o == second && f == "amount" {
                "1.00".to_string()
            } else if o == second && f == "archive_no" {
                k.truth(o, f).replace('4', "４").to_lowercase()
            } else {
                wrong(o, f).unwrap_or_else(|| k.truth(o, f))
            }
        })
        .await;
        let fields = 6 * FORMS.len();
        assert_eq!(a1_keyed.len(), fields);
        assert_eq!(k2_keyed.len(), fields);
        // Nobody got both passes of a field.
        let a1_set: BTreeSet<_> = a1_keyed.iter().cloned().collect();
        assert_eq!(a1_set.len(), fields, "a1 got a field twice");
        assert_eq!(a1_set, k2_keyed.iter().cloned().collect());
        // Runs: a keyer's fields come grouped by name.
        let names: Vec<&str> = a1_keyed.iter().map(|(_, f)| f.as_str()).collect();
        let changes = names.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(changes, 5, "fields were not keyed in runs: {names:?}");
        assert!(k3.next().await.is_none(), "a third keyer got a keying pass");

        // Two arbitrations wait; a1 keyed both fields and must not get them.
        assert!(
            a1.next().await.is_none(),
            "an arbiter got a field they keyed"
        );
        let arb = Client::login(base, "arb", PW).await;
        let mut decided = BTreeMap::new();
        while let Some(t) = arb.next().await {
            assert_eq!(t["kind"], "arbitrate", "{t}");
            let a = audit(&sup, t["id"].as_i64().unwrap()).await;
            let (orig, field) = (
                a["original_name"].as_str().unwrap(),
                a["field"].as_str().unwrap(),
            );
            let entries = t["entries"].as_array().unwrap();
            assert_eq!(entries.len(), 2);
            if field == "id_number" {
                assert_eq!(entries[0]["value"], bad_id);
                assert_eq!(entries[1]["value"], bad_id);
                // The arbiter's own value must pass the check too, unless
                // confirmed as on paper.
                let (s, body) = arb
                    .submit(t["id"].as_i64().unwrap(), json!({"value": bad_id}))
                    .await;
                assert_eq!(s, 422, "{body}");
                assert_eq!(body["confirm"], true, "{body}");
                assert!(body["error"].as_str().unwrap().contains("check"), "{body}");
            }
            let (s, body) = arb
                .submit(
                    t["id"].as_i64().unwrap(),
                    json!({"value": k.truth(orig, field)}),
                )
                .await;
            assert_eq!(s, 200, "{body}");
            assert_eq!(body["state"], "final");
            decided.insert(field.to_string(), orig.to_string());
        }
        assert_eq!(
            decided.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["amount", "id_number"]
        );

        // The server packages each document by itself, with provenance.
        let store = Store::open(&k.db_url).await.unwrap();
        let pseudonyms: BTreeMap<String, String> = store
            .users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.name, u.pseudonym))
            .collect();
        for (n, doc) in k.documents.iter().enumerate() {
            let index = index_of(&k, doc, Duration::from_secs(60));
            let orig = &k.forms[n];
            for (field, f) in index["fields"].as_object().unwrap() {
                assert_eq!(f["value"], k.truth(orig, field), "{doc} {field}");
                let arbitrated = decided.get(field) == Some(orig);
                assert_eq!(
                    f["source"],
                    if arbitrated {
                        "arbitrated"
                    } else {
                        "double_keyed"
                    },
                    "{doc} {field}: {f}"
                );
                let keyers: Vec<&str> = f["keyers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(
                    keyers,
                    vec![pseudonyms["a1"].as_str(), pseudonyms["k2"].as_str()],
                    "{field}"
                );
                if arbitrated {
                    assert_eq!(f["arbiter"], pseudonyms["arb"].as_str());
                }
                assert!(!f.to_string().contains("\"a1\""), "a user name leaked: {f}");
            }
            // The copy that waited for the keyers goes once the package
            // is in place (just after it: never before).
            let waited = k.env.out().join(".awaiting-keying").join(doc);
            let t0 = Instant::now();
            while waited.exists() {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "the waiting copy of {doc} was left behind"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            util::bagit_validate(&util::package_of(&k.env.out(), doc));
        }

        // Every lease, keying and decision is an event with its actor.
        let ev = store.events("task", &tid.to_string()).await.unwrap();
        let seen: Vec<(String, String)> =
            ev.iter().map(|e| (e.actor.clone(), e.to.clone())).collect();
        assert!(
            seen.contains(&("user:a1".into(), "leased".into())),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("user:k2".into(), "leased".into())),
            "{seen:?}"
        );
        assert!(
            seen.iter().any(|(a, s)| a == "user:a1" && s == "done"),
            "{seen:?}"
        );
        let doc0 = &k.documents[0];
        let field_ev = store
            .events("field", &format!("{doc0}/id_number"))
            .await
            .unwrap();
        let moves: Vec<&str> = field_ev.iter().map(|e| e.to.as_str()).collect();
        assert_eq!(
            moves,
            vec!["awaiting_keying", "arbitration", "keyed"],
            "{field_ev:?}"
        );
        assert_eq!(field_ev[2].actor, "user:arb");

        // Figures: both keyed the wrong ID; k2 also the wrong amount.
        let stats: serde_json::Value = sup.get("/api/v1/stats/keyers").await.json().await.unwrap();
        let by = |u: &str| {
            stats["keyers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["user"] == u)
                .cloned()
                .unwrap()
        };
        assert_eq!(by("k2")["errors"], 2, "{stats}");
        assert_eq!(by("a1")["errors"], 1, "a1 keyed the wrong ID: {stats}");
        assert_eq!(by("a1")["fields"], fields);
        assert_eq!(by("arb")["decisions"], 2);
        assert!(by("a1")["fields_per_hour"].as_f64().unwrap() > 100.0);
        store.close().await;
    });
    let status = k.folio(&["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["batches"][0]["state"], "packaged", "{status}");
    let report = k.folio(&["report", "keyers", "--csv"]).output().unwrap();
    let csv = String::from_utf8(report.stdout).unwrap();
    assert!(
        csv.starts_with("user,pseudonym,role,fields,keystrokes,"),
        "{csv}"
    );
    assert!(csv.lines().any(|l| l.starts_with("k2,")), "{csv}");
}

#[test]
fn double_keying_with_arbitration_on_sqlite() {
    double_keying_story(None);
}

#[test]
fn double_keying_with_arbitration_on_postgres() {
    let db = PgDb::create();
    double_keying_story(Some(&db.url));
}

/// Roles, CSRF, lockout, idle sessions: what a keyer may not reach.
#[test]
fn keyers_reach_snippets_only() {
    let k = Keyed::prepare(&FORMS[..1], None, "\n[web]\nsession_idle_minutes = 0.05\n");
    for (name, role) in [
        ("k1", "keyer"),
        ("k2", "keyer"),
        ("sup", "supervisor"),
        ("lock", "keyer"),
    ] {
        k.user(name, role, PW);
    }
    let server = k.serve();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = &server.base;
        let doc = &k.documents[0];
        // No session: 401 on the API, the login page for the station.
        let anon = Client::anonymous(base);
        assert_eq!(
            anon.post("/api/v1/tasks/next", json!({})).await.status(),
            401
        );
        assert_eq!(anon.get("/api/v1/stats/keyers").await.status(), 401);
        let r = anon.get("/station").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login");
        assert_eq!(anon.get("/healthz").await.status(), 200);

        let k1 = Client::login(base, "k1", PW).await;
        let k2 = Client::login(base, "k2", PW).await;
        let sup = Client::login(base, "sup", PW).await;
        // CSRF: a POST without the token, or with another one, is refused.
        let no_token = k1
            .http
            .post(format!("{base}/api/v1/tasks/next"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(no_token.status(), 403);
        let other = k1
            .http
            .post(format!("{base}/api/v1/tasks/next"))
            .header("X-CSRF-Token", &k2.csrf)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 403);

        // The cookie is HttpOnly and SameSite=Strict.
        let mut probe = Client::anonymous(base);
        let r = probe.try_login("k1", PW).await;
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "Secure over plain HTTP: {cookie}"
        );

        let t1 = k1.next().await.unwrap();
        let t1_id = t1["id"].as_i64().unwrap();
        let t2 = k2.next().await.unwrap();
        let t2_id = t2["id"].as_i64().unwrap();
        // Own snippet: a PNG. Another keyer's snippet, a whole page, the
        // audit, the figures and the supervisor page: 403.
        let own = k1.get(t1["snippet_url"].as_str().unwrap()).await;
        assert_eq!(own.status(), 200);
        assert_eq!(own.headers()["content-type"], "image/png");
        let img = image::load_from_memory(&own.bytes().await.unwrap()).unwrap();
        let ctx = k1
            .get(&format!(
                "{}?context=1",
                t1["snippet_url"].as_str().unwrap()
            ))
            .await;
        let ctx = image::load_from_memory(&ctx.bytes().await.unwrap()).unwrap();
        assert!(ctx.width() * ctx.height() > img.width() * img.height());
        let page = sup
            .get(&format!("/api/v1/documents/{doc}/pages/1/image"))
            .await;
        assert_eq!(page.status(), 200);
        let page = image::load_from_memory(&page.bytes().await.unwrap()).unwrap();
        assert!(
            ctx.width() * ctx.height() * 2 <= page.width() * page.height(),
            "the context snippet shows most of the page"
        );
        for path in [
            t2["snippet_url"].as_str().unwrap().to_string(),
            format!("/api/v1/documents/{doc}/pages/1/image"),
            format!("/api/v1/tasks/{t1_id}"),
            "/api/v1/stats/keyers".to_string(),
            "/supervisor".to_string(),
        ] {
            assert_eq!(k1.get(&path).await.status(), 403, "{path}");
        }
        // Submitting another keyer's task: 409, and it stays theirs.
        let (s, _) = k1.submit(t2_id, json!({"value": "x"})).await;
        assert!(s == 409 || s == 422, "{s}");
        let (s, body) = k1.submit(t2_id, json!({"illegible": true})).await;
        assert_eq!(s, 409, "{body}");
        let (s, body) = k2.submit(t2_id, json!({"empty": true})).await;
        assert_eq!(s, 200, "{body}");

        // Lockout: five wrong passwords, then even the right one fails.
        let mut locked = Client::anonymous(base);
        for _ in 0..5 {
            assert_eq!(
                locked.try_login("lock", "wrong-password").await.status(),
                401
            );
        }
        let r = locked.try_login("lock", PW).await;
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("locked"), "{body}");
        // Idle sessions end (0.05 min here).
        std::thread::sleep(Duration::from_millis(3500));
        assert_eq!(k1.post("/api/v1/tasks/next", json!({})).await.status(), 401);
    });
    let list = k.folio(&["user", "list"]).output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("lock") && l.contains("locked")),
        "{list}"
    );
    // A bad role or a short password is refused with the reason.
    let out = k
        .folio(&["user", "add", "x", "--role", "boss", "--password-stdin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
}
