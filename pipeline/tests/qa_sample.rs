//! The QA sample end to end: with a confidence threshold of 0 and a QA
//! share of 100 %, every field OCR would accept goes to blind double
//! keying with OCR's reading kept; after keying through the station's
//! API, `folio report accuracy` counts every sample and the errors OCR
//! made on them, exactly.

mod util;

use folio::store::Store;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use util::station::{Client, Keyed};
use util::{Env, make_batch, root, shared, write_config};

const PW: &str = "correct-horse-battery";
const FORM: &str = "form_001.jpg";

/// `folio run` on one form with threshold 0 and `qa_share = 1.0`.
fn prepare() -> Keyed {
    let env = Env::new();
    let class = std::fs::read_to_string(root().join("config/classes/insurance_registration.toml"))
        .unwrap()
        .replace("confidence_threshold = 0.80", "confidence_threshold = 0.0");
    assert!(
        class.contains("= 0.0\n"),
        "class file changed: fix the fixture"
    );
    let config = write_config(
        &env,
        "insurance_registration",
        &[("insurance_registration", class)],
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[keying]\nlease_seconds = 30\nqa_share = 1.0\n");
    std::fs::write(&config, text).unwrap();
    let src = shared(&format!("forms-zh/{FORM}"));
    let batch = make_batch(&env, "forms", &[(src.as_path(), FORM)]);
    let db_url = env.db_url();
    let k = Keyed {
        env,
        config,
        db_url,
        forms: vec![FORM.to_string()],
        documents: Vec::new(),
    };
    let out = k
        .folio(&[
            "run",
            batch.to_str().unwrap(),
            "--out",
            k.env.out().to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let doc = &summary["documents"][0];
    assert_eq!(doc["state"], "awaiting_keying", "{doc}");
    assert_eq!(doc["fields_accepted"], 0, "{doc}");
    let documents = vec![doc["id"].as_str().unwrap().to_string()];
    Keyed { documents, ..k }
}

#[test]
fn with_threshold_zero_and_full_share_every_field_is_keyed_and_counted() {
    let k = prepare();
    let doc = k.documents[0].clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(Store::open(&k.db_url)).unwrap();
    let fields = rt.block_on(store.fields(&doc)).unwrap();
    assert_eq!(fields.len(), 6);
    // OCR's readings, kept; every field read and valid is a QA sample.
    let mut ocr: BTreeMap<String, String> = BTreeMap::new();
    for f in &fields {
        assert_eq!(f.status, "awaiting_keying", "{f:?}");
        if f.qa_sample {
            assert!(
                f.reason.as_deref().unwrap().starts_with("QA sample"),
                "{f:?}"
            );
            ocr.insert(f.name.clone(), f.value.clone().unwrap());
        }
    }
    assert!(
        ocr.len() >= 4,
        "only {} of 6 fields read and valid: {fields:?}",
        ocr.len()
    );
    rt.block_on(store.close());

    // Both keyers key the truth, except for one sampled field, which
    // they key differently from OCR: at least one observed error.
    let forced = ["archive_no", "policy_no"]
        .iter()
        .find(|f| ocr.contains_key(**f))
        .map(|f| f.to_string())
        .unwrap_or_else(|| ocr.keys().next().unwrap().clone());
    let keyed_value = |field: &str| {
        if field == forced {
            // OCR's value with its last digit changed: still the field's shape.
            let mut chars: Vec<char> = ocr[field].chars().collect();
            if let Some(c) = chars.iter_mut().rev().find(|c| c.is_ascii_digit()) {
                *c = char::from(b'0' + (*c as u8 - b'0' + 1) % 10);
            }
            chars.into_iter().collect()
        } else {
            k.truth(FORM, field)
        }
    };
    for (name, role) in [("k1", "keyer"), ("k2", "keyer"), ("arb", "arbiter")] {
        k.user(name, role, PW);
    }
    let server = k.serve();
    rt.block_on(async {
        for keyer in ["k1", "k2"] {
            let c = Client::login(&server.base, keyer, PW).await;
            let mut n = 0;
            while let Some(task) = c.next().await {
                assert_eq!(task["kind"], "key", "{task}");
                let field = task["field"].as_str().unwrap().to_string();
                let value = keyed_value(&field);
                let (status, body) = c
                    .submit(task["id"].as_i64().unwrap(), json!({"value": value}))
                    .await;
                assert!(status == 200 || status == 422, "{status} {body}");
                if status == 422 {
                    // A value failing the field's check: the keyer confirms it.
                    let (status, body) = c
                        .submit(
                            task["id"].as_i64().unwrap(),
                            json!({"value": value, "confirm": true}),
                        )
                        .await;
                    assert_eq!(status, 200, "{body}");
                }
                n += 1;
            }
            assert_eq!(n, 6, "{keyer} keyed {n} tasks");
        }
    });
    // Every field is keyed, and the document is packaged (its index
    // record appears outside `.awaiting-keying`).
    let fields = rt.block_on(async {
        let store = Store::open(&k.db_url).await.unwrap();
        let f = store.fields(&doc).await.unwrap();
        store.close().await;
        f
    });
    assert!(fields.iter().all(|f| f.status == "keyed"), "{fields:?}");
    let t0 = Instant::now();
    while !packaged(&k.env.out(), &doc) {
        assert!(t0.elapsed() < Duration::from_secs(60), "{doc} not packaged");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);

    let out = k.folio(&["report", "accuracy", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["target"], json!(0.9995));
    let rows = report["fields"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    let mut errors_total = 0;
    for r in rows {
        let field = r["field"].as_str().unwrap();
        assert_eq!(r["class"], "insurance_registration");
        assert_eq!(r["values"], 1);
        assert_eq!(r["accepted"], 0);
        match ocr.get(field) {
            Some(read) => {
                let wrong = read.trim() != keyed_value(field).trim();
                assert_eq!(r["sampled"], 1, "{r}");
                assert_eq!(r["sampled_keyed"], 1, "{r}");
                assert_eq!(r["errors"], wrong as u64, "{field}: {r}");
                assert_eq!(r["error_rate"], json!(if wrong { 1.0 } else { 0.0 }));
                let (lo, hi) = folio::qa::wilson(wrong as usize, 1);
                assert!((r["error_low"].as_f64().unwrap() - lo).abs() < 1e-12);
                assert!((r["error_high"].as_f64().unwrap() - hi).abs() < 1e-12);
                errors_total += wrong as usize;
            }
            None => {
                assert_eq!(r["sampled"], 0, "{r}");
                assert_eq!(r["error_rate"], Value::Null);
            }
        }
    }
    assert!(errors_total >= 1, "the forced error was not counted");
    // The table names the fields and the target.
    let out = k
        .folio(&["report", "accuracy", "--target", "99.9"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("threshold for 99.90%") && text.contains(&forced),
        "{text}"
    );
    // A target that is not a percentage is refused.
    let out = k
        .folio(&["report", "accuracy", "--target", "150"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target"));
}

/// Whether an index record naming `doc` sits under `out`, outside
/// `.awaiting-keying` and staging.
fn packaged(out: &std::path::Path, doc: &str) -> bool {
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() && !name.starts_with('.') {
                stack.push(p);
            } else if name == "index.json"
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(doc))
            {
                return true;
            }
        }
    }
    false
}
