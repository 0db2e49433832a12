//! The FUNSD class end to end: `folio run --class funsd` on real scanned
//! business forms (~100 dpi, noisy), then `folio eval` against the
//! annotations' question → answer links. Linked answers found and read
//! right must stay above the floor measured on these forms; what OCR does
//! not accept waits for keying with a reason, and no more wrong values are
//! accepted than were measured.

mod util;

use folio::store::Store;
use serde_json::Value;
use std::path::PathBuf;
use util::*;

/// Forms with several of the class's questions (fax covers, memos,
/// requisitions).
const FORMS: [&str; 6] = [
    "01150773_01150774.png",
    "0011974919.png",
    "89817999_8002.png",
    "93351929_93351931.png",
    "92327794.png",
    "12603270.png",
];

/// Measured on these forms (in the run of all 149 with
/// `benches/funsd_fields.sh`, debug build, 2026-11-28): 12 of their 22
/// linked answers found and read right (22 linked answers, 19 found; the
/// same figures in `cargo test` on 2026-11-28).
const MEASURED_RIGHT: u64 = 12;
/// The floor: two below the measured figure, for Tesseract build drift.
const FLOOR_RIGHT: u64 = 10;
/// Accepted by OCR but wrong at the class's threshold (0.95), as measured
/// on all 149 forms: never more.
const MEASURED_ACCEPTED_WRONG: u64 = 0;

#[test]
fn funsd_answers_found_and_right_above_the_measured_floor_rest_to_keying() {
    let env = Env::new();
    let files: Vec<(PathBuf, &str)> = FORMS
        .iter()
        .map(|f| (shared(&format!("funsd/training_data/images/{f}")), *f))
        .collect();
    let refs: Vec<(&std::path::Path, &str)> =
        files.iter().map(|(p, n)| (p.as_path(), *n)).collect();
    let batch = make_batch(&env, "funsd", &refs);
    let (out, s) = env.run(&batch, &["--quiet", "--class", "funsd"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every field is accepted or waits for keying with a reason; a
    // document with a field to key is not packaged.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let docs = s["documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), FORMS.len());
    let (accepted, keying) = rt.block_on(async {
        let store = Store::open(&env.db_url()).await.unwrap();
        let (mut accepted, mut keying) = (0, 0);
        for doc in &docs {
            let fields = store.fields(doc["id"].as_str().unwrap()).await.unwrap();
            assert_eq!(fields.len(), 13, "every field of the class is recorded");
            for f in &fields {
                match f.status.as_str() {
                    "accepted" => {
                        accepted += 1;
                        assert!(f.value.is_some());
                    }
                    "awaiting_keying" => {
                        keying += 1;
                        assert!(f.reason.is_some(), "{}: a reason for keying", f.name);
                        assert_eq!(doc["state"], "awaiting_keying");
                    }
                    other => panic!("unexpected status {other}"),
                }
            }
        }
        store.close().await;
        (accepted, keying)
    });
    assert!(
        keying > 0 && accepted > 0,
        "{accepted} accepted, {keying} keying"
    );

    // Against the truth: the class's fields that the annotations link.
    let eval = env
        .folio(&[
            "eval",
            "--truth",
            shared("funsd/training_data/annotations").to_str().unwrap(),
            env.out().to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let r: Value = serde_json::from_slice(&eval.stdout).unwrap();
    let all = &r["fields_overall"];
    let n = |k: &str| all[k].as_u64().unwrap();
    eprintln!(
        "funsd: {} answers, {} found, {} right, {} accepted ({} right), {} to keying",
        n("total"),
        n("found"),
        n("ocr_right"),
        n("accepted"),
        n("accepted_right"),
        n("keying")
    );
    assert!(
        n("ocr_right") >= FLOOR_RIGHT,
        "{} answers found and right, floor {FLOOR_RIGHT} (measured {MEASURED_RIGHT})",
        n("ocr_right")
    );
    assert!(
        n("accepted") - n("accepted_right") == MEASURED_ACCEPTED_WRONG,
        "{} wrong values accepted, measured {MEASURED_ACCEPTED_WRONG}",
        n("accepted") - n("accepted_right")
    );
    assert_eq!(n("accepted") + n("keying"), n("total"));
}

/// The link finder alone, on all 149 forms: the annotations' own words
/// (perfect OCR, confidence 100) through the funsd class. What it misses
/// or reads wrong here is the finder's fault, not Tesseract's.
#[test]
fn funsd_links_on_the_annotations_own_words_above_the_measured_floor() {
    use folio_stages::accuracy::{self, field_matches};
    use folio_stages::extract::{PageWords, Route};
    use folio_stages::page::Word;
    let settings =
        folio::settings::Settings::load(Some(&root().join("config/folio.toml"))).unwrap();
    let class = settings.class(Some("funsd")).unwrap();
    let dir = shared("funsd/training_data/annotations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // field → [answers, found, right, accepted, accepted wrong]
    let mut per: std::collections::BTreeMap<String, [u64; 5]> = Default::default();
    for file in &files {
        let json = std::fs::read_to_string(file).unwrap();
        let truth = accuracy::funsd_truth(&json).unwrap();
        let words: Vec<Word> = accuracy::funsd_entities(&json)
            .unwrap()
            .into_iter()
            .flat_map(|e| e.words)
            .map(|(text, bbox)| Word {
                text,
                bbox,
                confidence: 100.0,
                line: (0, 0, 0),
            })
            .collect();
        let got = class.fields.extract_pages(
            &[PageWords {
                words: &words,
                dpi: 100.0,
                origin: [0.0, 0.0],
            }],
            class.confidence_threshold,
        );
        for f in got {
            let Some(want) = truth.fields.get(&f.name) else {
                continue;
            };
            let row = per.entry(f.name.clone()).or_default();
            let right = f.value.as_deref().is_some_and(|v| field_matches(want, v));
            row[0] += 1;
            row[1] += f.value.is_some() as u64;
            row[2] += right as u64;
            if f.route == Route::Accepted {
                row[3] += 1;
                row[4] += !right as u64;
            }
            if std::env::var_os("FUNSD_SHOW").is_some() && !right {
                eprintln!(
                    "{} {}: want {want:?} got {:?} ({:?})",
                    file.file_name().unwrap().to_string_lossy(),
                    f.name,
                    f.value,
                    f.route
                );
            }
        }
    }
    let mut all = [0u64; 5];
    for (name, row) in &per {
        eprintln!(
            "{name:<14} answers {:>3} found {:>3} right {:>3} accepted {:>3} accepted wrong {:>3}",
            row[0], row[1], row[2], row[3], row[4]
        );
        for k in 0..5 {
            all[k] += row[k];
        }
    }
    eprintln!(
        "{:<14} answers {:>3} found {:>3} right {:>3} accepted {:>3} accepted wrong {:>3}",
        "all", all[0], all[1], all[2], all[3], all[4]
    );
    // Measured 2026-11-28: 219 answers, 205 found, 164 right (75 %);
    // the floor leaves room for small changes in the finder's tie-breaks.
    assert_eq!(
        all[0], 219,
        "the class's questions linked in the annotations"
    );
    assert!(
        all[2] >= FINDER_FLOOR_RIGHT,
        "{} of {} answers right on perfect words, floor {FINDER_FLOOR_RIGHT} (measured 164)",
        all[2],
        all[0]
    );
}

/// Answers the finder reads right from the annotations' own words: 164
/// of 219 measured, floor a little below.
const FINDER_FLOOR_RIGHT: u64 = 155;
