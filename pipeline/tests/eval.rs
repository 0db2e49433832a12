//! `folio eval` end to end: a package built by hand against truth files
//! in each format gives exact counts; a real run of `folio run` on a
//! shared scan reads within a measured bound; bad input fails clearly.

mod util;

use serde_json::{Value, json};
use std::path::Path;
use util::{Env, shared};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A package as `folio run` writes one, with page text where its index
/// says (one page under `data/objects/`, one only as hOCR).
fn hand_made_package(dir: &Path) {
    write(&dir.join("data/text/p0001.txt"), "hallo  wrld\n");
    write(
        &dir.join("data/objects/0001/p0002.txt"),
        "保 单 号 Policy No P201228179657",
    );
    write(
        &dir.join("data/hocr/p0003.hocr"),
        "<div class='ocr_page'><span class='ocr_line' title='bbox 0 0 9 9'>\
         <span class='ocrx_word' title='bbox 0 0 4 9'>Fast</span> \
         <span class='ocrx_word' title='bbox 5 0 9 9'>fax</span></span></div>",
    );
    write(&dir.join("data/text/p0004.txt"), "no truth for this one");
    let index = json!({
        "folio_index_version": 1,
        "document_id": "doc-1",
        "state": "packaged",
        "originals": [],
        "pages": [
            {"seq": 1, "original_name": "alpha.tif", "text": "data/text/p0001.txt"},
            {"seq": 2, "original_name": "form_beta.png", "text": "data/objects/0001/p0002.txt"},
            {"seq": 3, "original_name": "gamma.png", "hocr": "data/hocr/p0003.hocr"},
            {"seq": 4, "original_name": "delta.tif", "text": "data/text/p0004.txt"}
        ],
        "fields": {
            "policy_no": {"value": "P201228179657", "status": "accepted", "source": "ocr", "ocr_value": "P201228179657"},
            "amount": {"value": "915,855.40", "status": "accepted", "source": "ocr", "ocr_value": "915,855.40"},
            "phone": {"value": "18652231581", "status": "accepted", "source": "keyed", "ocr_value": "18652231531"},
            "name": {"value": "邱涛", "status": "accepted", "source": "ocr", "ocr_value": "邱涛"}
        }
    });
    write(
        &dir.join("data/metadata/index.json"),
        &serde_json::to_string_pretty(&index).unwrap(),
    );
}

fn hand_made_truth(dir: &Path) {
    write(&dir.join("alpha.txt"), "hello\nworld\n");
    write(
        &dir.join("forms/form_beta.json"),
        &json!({
            "file": "form_beta.png",
            "text": "保单号 Policy No. P201228179657",
            "fields": {
                "policy_no": {"value": "P201228179657", "box": [0, 0, 1, 1]},
                "amount": {"value": "915,855.49", "box": [0, 0, 1, 1]},
                "phone": {"value": "18652231581", "box": [0, 0, 1, 1]},
                "archive_no": {"value": "DA-98-0035", "box": [0, 0, 1, 1]}
            }
        })
        .to_string(),
    );
    write(
        &dir.join("gamma.truth.hocr"),
        "<html><body><span class='ocr_line'><span class='ocrx_word' title='bbox 0 0 1 1'>Fast</span>\
         <span class='ocrx_word' title='bbox 1 0 2 1'>fox</span></span></body></html>",
    );
    write(&dir.join("alpha.gold.txt"), "not matched: another stem");
}

#[test]
fn eval_of_a_known_package_gives_exact_numbers() {
    let env = Env::new();
    // Inside a batch delivery, as `folio run --out` writes it.
    let pkg = env.out().join("forms-0123abcd").join("doc-1");
    let truth = env.dir.path().join("truth");
    hand_made_package(&pkg);
    hand_made_truth(&truth);
    let out = env
        .folio(&[
            "eval",
            "--truth",
            truth.to_str().unwrap(),
            env.out().to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pages = r["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3, "{r:#}");
    let page = |name: &str| pages.iter().find(|p| p["original_name"] == name).unwrap();
    // "hello world" (11 chars, 2 words) read "hallo wrld": 2 edits, 2 words wrong.
    let a = page("alpha.tif");
    assert_eq!(
        (
            &a["chars"],
            &a["char_errors"],
            &a["words"],
            &a["word_errors"]
        ),
        (&json!(11), &json!(2), &json!(2), &json!(2))
    );
    assert_eq!(a["format"], "txt");
    assert!((a["cer"].as_f64().unwrap() - 2.0 / 11.0).abs() < 1e-12);
    // "保单号 Policy No. P201228179657" (28 chars, 4 words), the CJK spaces
    // are no error, the lost full stop is one.
    let b = page("form_beta.png");
    assert_eq!(b["format"], "forms_json");
    assert_eq!(
        (
            &b["chars"],
            &b["char_errors"],
            &b["words"],
            &b["word_errors"]
        ),
        (&json!(28), &json!(1), &json!(4), &json!(1))
    );
    // hOCR truth "Fast fox" against the package's hOCR "Fast fax".
    let g = page("gamma.png");
    assert_eq!(g["format"], "hocr");
    assert_eq!(
        (
            &g["chars"],
            &g["char_errors"],
            &g["words"],
            &g["word_errors"]
        ),
        (&json!(8), &json!(1), &json!(2), &json!(1))
    );
    let o = &r["overall"];
    assert_eq!(
        (
            &o["pages"],
            &o["chars"],
            &o["char_errors"],
            &o["words"],
            &o["word_errors"]
        ),
        (&json!(3), &json!(47), &json!(4), &json!(8), &json!(4))
    );
    assert!((o["cer"].as_f64().unwrap() - 4.0 / 47.0).abs() < 1e-12);
    assert!((o["wer"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(r["unmatched"], json!(["doc-1: delta.tif"]));
    // Fields: only those the package has and the truth gives.
    let fields = r["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["amount", "phone", "policy_no"]);
    let f = |n: &str| fields.iter().find(|f| f["name"] == n).unwrap();
    let row = |n: &str| {
        let f = f(n);
        [
            "total",
            "ocr_right",
            "accepted",
            "accepted_right",
            "keying",
            "final_right",
        ]
        .map(|k| f[k].as_u64().unwrap())
    };
    assert_eq!(row("policy_no"), [1, 1, 1, 1, 0, 1]);
    assert_eq!(row("amount"), [1, 0, 1, 0, 0, 0]);
    assert_eq!(row("phone"), [1, 0, 0, 0, 1, 1]);
    assert_eq!(f("amount")["accepted_accuracy"], json!(0.0));

    // The table says the same.
    let out = env
        .folio(&[
            "eval",
            "--truth",
            truth.to_str().unwrap(),
            pkg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CER 8.51% (4 of 47 chars), WER 50.00% (4 of 8 words)"),
        "{text}"
    );
}

#[test]
fn eval_refuses_missing_truth_no_package_and_no_match_clearly() {
    let env = Env::new();
    let pkg = env.out().join("doc-1");
    hand_made_package(&pkg);
    let truth = env.dir.path().join("truth");
    let missing = env.dir.path().join("nowhere");
    let run = |args: &[&str]| {
        let out = env.folio(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&[
        "eval",
        "--truth",
        missing.to_str().unwrap(),
        pkg.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(3));
    assert!(
        err.contains("truth folder not found") && err.contains("nowhere"),
        "{err}"
    );
    std::fs::create_dir_all(&truth).unwrap();
    let empty = env.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, err) = run(&[
        "eval",
        "--truth",
        truth.to_str().unwrap(),
        empty.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(3));
    assert!(err.contains("no package here"), "{err}");
    let (code, err) = run(&[
        "eval",
        "--truth",
        truth.to_str().unwrap(),
        pkg.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no packaged page matches a truth file"),
        "{err}"
    );
    // A broken truth file names itself.
    write(&truth.join("alpha.json"), "{ not json");
    let (code, err) = run(&[
        "eval",
        "--truth",
        truth.to_str().unwrap(),
        pkg.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(3));
    assert!(
        err.contains("alpha.json") && err.contains("not JSON"),
        "{err}"
    );
    // Nothing was changed in the package.
    assert!(pkg.join("data/metadata/index.json").is_file());
}

#[test]
fn eval_of_a_real_run_on_phototest_is_within_its_measured_bound() {
    let env = Env::new();
    let batch = env.dir.path().join("batch");
    std::fs::create_dir_all(&batch).unwrap();
    std::fs::copy(
        shared("tesseract-test/phototest.tif"),
        batch.join("phototest.tif"),
    )
    .unwrap();
    let (out, _) = env.run(&batch, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env
        .folio(&[
            "eval",
            "--truth",
            shared("tesseract-test").to_str().unwrap(),
            env.out().to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = &r["overall"];
    assert_eq!(o["pages"], 1, "{r:#}");
    assert_eq!(o["chars"], 284, "{r:#}");
    let cer = o["cer"].as_f64().unwrap();
    println!(
        "phototest: CER {:.4}, WER {:.4}",
        cer,
        o["wer"].as_f64().unwrap()
    );
    // Measured 2026-11-28: 0 errors in phototest's 284 characters; the
    // bound leaves room for two characters of engine drift.
    assert!(cer <= 0.01, "CER {cer}");
}
