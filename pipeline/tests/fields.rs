//! Index fields end to end: the insurance registration class on rendered
//! forms with known values. A value is accepted only when it is confident
//! and valid, and then it must be the true value; everything else waits for
//! keying, and its document is not called packaged.

mod util;

use folio::store::Store;
use std::path::PathBuf;
use util::*;

const FORMS: [&str; 4] = [
    "form_000.tif",
    "form_001.jpg",
    "form_007.png",
    "form_011.png",
];

fn truth(file: &str) -> serde_json::Value {
    let json = shared(&format!(
        "forms-zh/{}.json",
        file.rsplit_once('.').unwrap().0
    ));
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(json).unwrap()).unwrap()["fields"].clone()
}

fn forms_batch(env: &Env) -> PathBuf {
    let files: Vec<(PathBuf, &str)> = FORMS
        .iter()
        .map(|f| (shared(&format!("forms-zh/{f}")), *f))
        .collect();
    let refs: Vec<(&std::path::Path, &str)> =
        files.iter().map(|(p, n)| (p.as_path(), *n)).collect();
    make_batch(env, "forms", &refs)
}

/// Fields of every document of the run, with the original file name.
fn stored_fields(
    env: &Env,
    db_url: &str,
    summary: &serde_json::Value,
) -> Vec<(String, folio::store::FieldRow, String)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _ = env;
    rt.block_on(async {
        let store = Store::open(db_url).await.unwrap();
        let mut rows = Vec::new();
        for doc in summary["documents"].as_array().unwrap() {
            let id = doc["id"].as_str().unwrap();
            let path = PathBuf::from(doc["path"].as_str().unwrap());
            let index: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path.join(util::INDEX)).unwrap())
                    .unwrap();
            let original = index["pages"][0]["original_name"]
                .as_str()
                .unwrap()
                .to_string();
            for f in store.fields(id).await.unwrap() {
                rows.push((
                    original.clone(),
                    f,
                    doc["state"].as_str().unwrap().to_string(),
                ));
            }
        }
        store.close().await;
        rows
    })
}

#[test]
fn accepted_values_are_true_and_the_rest_wait_for_keying() {
    let env = Env::new();
    let batch = forms_batch(&env);
    let (out, s) = env.run(&batch, &["--quiet", "--class", "insurance_registration"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = stored_fields(&env, &env.db_url(), &s);
    assert_eq!(rows.len(), FORMS.len() * 6, "six fields per form");
    for (file, f, doc_state) in &rows {
        let expected = truth(file)[&f.name]["value"].as_str().unwrap().to_string();
        match f.status.as_str() {
            "accepted" => assert_eq!(
                f.value.as_deref(),
                Some(expected.as_str()),
                "{file} {}: accepted a wrong value",
                f.name
            ),
            "awaiting_keying" => {
                assert!(f.reason.is_some(), "{file} {}: a reason for keying", f.name);
                assert_eq!(
                    doc_state, "awaiting_keying",
                    "{file}: a document with fields to key is not packaged"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // Measured: 47 of 48 fields read right and confident on 8 forms.
    let accepted = rows
        .iter()
        .filter(|(_, f, _)| f.status == "accepted")
        .count();
    assert!(
        accepted * 4 >= rows.len() * 3,
        "only {accepted} of {} fields accepted",
        rows.len()
    );
    for doc in s["documents"].as_array().unwrap() {
        let path = PathBuf::from(doc["path"].as_str().unwrap());
        match doc["state"].as_str().unwrap() {
            "packaged" => bagit_validate(&path),
            "awaiting_keying" => {
                assert!(path.starts_with(env.out().join(".awaiting-keying")));
                assert!(!path.join("bagit.txt").exists(), "not a bag until keyed");
                assert!(path.join("data/objects").is_dir());
            }
            other => panic!("unexpected document state {other}"),
        }
    }
}

#[test]
fn a_threshold_no_read_can_meet_sends_every_field_to_keying() {
    let env = Env::new();
    let class = std::fs::read_to_string(root().join("config/classes/insurance_registration.toml"))
        .unwrap()
        .replace("confidence_threshold = 0.80", "confidence_threshold = 1.0")
        .replace("name = \"insurance_registration\"", "name = \"strict\"");
    let config = write_config(&env, "strict", &[("strict", class)]);
    let batch = forms_batch(&env);
    let (out, s) = env.run(&batch, &["--quiet", "--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s["batch"]["state"], "awaiting_keying");
    let rows = stored_fields(&env, &env.db_url(), &s);
    assert_eq!(rows.len(), FORMS.len() * 6);
    assert!(rows.iter().all(|(_, f, _)| f.status == "awaiting_keying"));
    assert!(
        packages(&env.out()).is_empty(),
        "nothing is packaged before keying"
    );
}
