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

/// A document of the run's summary: its folder and its index record.
fn index_of(doc: &serde_json::Value) -> (PathBuf, serde_json::Value) {
    let path = PathBuf::from(doc["path"].as_str().unwrap());
    let index =
        serde_json::from_str(&std::fs::read_to_string(path.join(util::INDEX)).unwrap()).unwrap();
    (path, index)
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
            let (_, index) = index_of(doc);
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

/// Recognition's CPU time (ms) of every page of the run, and each page's
/// text, from the documents' index records.
fn recognition_and_texts(summary: &serde_json::Value) -> (f64, Vec<String>) {
    let mut cpu = 0.0;
    let mut texts = Vec::new();
    for doc in summary["documents"].as_array().unwrap() {
        let (path, index) = index_of(doc);
        for page in index["pages"].as_array().unwrap() {
            cpu += page["image"]["steps"]["recognition_cpu_ms"]
                .as_f64()
                .unwrap();
            texts.push(std::fs::read_to_string(path.join(page["text"].as_str().unwrap())).unwrap());
        }
    }
    (cpu, texts)
}

/// `recognize = "fields"`: only the six rows that hold the fields are
/// read, each a zone on the page placed from the scan's corner (form_000
/// is a 200-dpi G4 page levelled by 2.7°: levelling widens its canvas, and
/// zones placed from the image's corner missed every value). Accepted
/// values are true, recognition takes a fraction of the whole page's time,
/// and the text holds those rows only. Measured on the 30 shared forms
/// (`benches/fields_only.sh`): 171-173 of 180 accepted and right, none
/// wrong; recognition 6.2 s against 13.3 s, `folio run` 4.3 s against 7.8 s.
#[test]
fn a_class_that_reads_its_fields_only_reads_them_right_in_a_fraction_of_the_time() {
    let env = Env::new();
    let batch = forms_batch(&env);
    let (out, s) = env.run(
        &batch,
        &["--quiet", "--class", "insurance_registration_fields"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = stored_fields(&env, &env.db_url(), &s);
    assert_eq!(rows.len(), FORMS.len() * 6, "six fields per form");
    let mut accepted = 0;
    for (file, f, _) in &rows {
        let expected = truth(file)[&f.name]["value"].as_str().unwrap().to_string();
        if f.status == "accepted" {
            accepted += 1;
            assert_eq!(
                f.value.as_deref(),
                Some(expected.as_str()),
                "{file} {}",
                f.name
            );
        }
    }
    assert!(accepted >= 20, "only {accepted} of 24 fields accepted");
    let (fields_cpu, texts) = recognition_and_texts(&s);
    for t in &texts {
        assert!(
            !t.contains("Personal Insurance"),
            "the title is in no zone: {t}"
        );
        assert!(
            !t.contains("本人声明"),
            "the declaration is in no zone: {t}"
        );
    }
    assert!(
        texts.iter().filter(|t| t.contains("DA-")).count() >= 3,
        "the archive numbers are read: {texts:?}"
    );

    let whole = Env::new();
    let batch = forms_batch(&whole);
    let (out, s) = whole.run(&batch, &["--quiet", "--class", "insurance_registration"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (page_cpu, texts) = recognition_and_texts(&s);
    assert!(
        texts.iter().all(|t| t.contains("Personal Insurance")),
        "{texts:?}"
    );
    // Measured on these four: under half.
    assert!(
        fields_cpu < 0.7 * page_cpu,
        "fields {fields_cpu:.0} ms against whole pages {page_cpu:.0} ms"
    );
}

/// A class cannot read its fields only when a field is found by its label
/// (that needs the whole page's words): a settings error naming the
/// field, before anything is taken in.
#[test]
fn reading_fields_only_needs_every_field_in_a_page_zone() {
    let env = Env::new();
    let class = std::fs::read_to_string(root().join("config/classes/insurance_registration.toml"))
        .unwrap()
        .replace(
            "confidence_threshold = 0.80",
            "recognize = \"fields\"\nconfidence_threshold = 0.80",
        );
    let config = write_config(
        &env,
        "insurance_registration",
        &[("insurance_registration", class)],
    );
    let batch = forms_batch(&env);
    let out = env
        .folio(&[
            "--config",
            config.to_str().unwrap(),
            "run",
            batch.to_str().unwrap(),
            "--out",
        ])
        .arg(env.out())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("field 'archive_no'") && err.contains("zone"),
        "{err}"
    );
    assert!(!env.out().exists() || packages(&env.out()).is_empty());
}
