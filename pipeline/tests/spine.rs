//! End to end: the sample batch in, verified packages out, through the
//! real `folio` binary, real Tesseract and a real SQLite store.

mod util;

use folio::store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use util::*;

fn store_files(env: &Env, batch_id: &str) -> Vec<folio::store::FileRow> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&env.db_url()).await.unwrap();
        let files = store.files(batch_id).await.unwrap();
        store.close().await;
        files
    })
}

/// Reads `manifest-sha256.txt` into path → checksum.
fn manifest(bag: &std::path::Path) -> HashMap<String, String> {
    std::fs::read_to_string(bag.join("manifest-sha256.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let (sum, path) = l.split_once("  ").unwrap();
            (path.to_string(), sum.to_string())
        })
        .collect()
}

#[test]
fn sample_batch_becomes_valid_packages_whose_originals_match_arrival_fingerprints() {
    let env = Env::new();
    let samples = root().join("samples/batch-0001");
    let before = snapshot(&samples);
    let (output, summary) = env.run(&samples, &[]);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        snapshot(&samples),
        before,
        "folio run must not touch its input folder"
    );

    let n_files = before.len();
    let pages: usize = summary["pages"].as_u64().unwrap() as usize;
    assert!(
        pages > n_files,
        "the sample holds a multi-page TIFF: {pages} pages in {n_files} files"
    );
    let bags = packages(&env.out());
    assert_eq!(
        bags.len(),
        n_files,
        "one package per file (class general, split = file)"
    );
    assert_eq!(summary["batch"]["state"], "packaged");
    // The whole delivery verifies, against the store too.
    let delivery = summary["delivery"].as_str().expect("a batch delivery");
    let verified = env.folio(&["verify", delivery]).output().unwrap();
    assert!(
        verified.status.success(),
        "folio verify: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        String::from_utf8_lossy(&verified.stderr)
            .contains(&format!("{n_files} package(s), 1 deliver"))
    );

    let batch_id = summary["batch"]["id"].as_str().unwrap();
    let arrived: HashMap<String, String> = store_files(&env, batch_id)
        .into_iter()
        .map(|f| (f.original_name.clone(), f.sha256))
        .collect();
    assert_eq!(arrived.len(), n_files);
    let mut originals_seen = 0;
    let mut pages_seen = 0;
    for bag in &bags {
        bagit_validate(bag);
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bag.join(util::INDEX)).unwrap()).unwrap();
        let sums = manifest(bag);
        for original in index["originals"].as_array().unwrap() {
            let name = original["original_name"].as_str().unwrap();
            let path = original["path"].as_str().unwrap();
            assert_eq!(
                sums[path], arrived[name],
                "{name}: manifest checksum must equal the arrival fingerprint"
            );
            assert_eq!(
                sha256(&samples.join(name)),
                arrived[name],
                "{name}: byte-for-byte copy"
            );
            originals_seen += 1;
        }
        for page in index["pages"].as_array().unwrap() {
            assert!(bag.join(page["derived"].as_str().unwrap()).is_file());
            assert!(bag.join(page["text"].as_str().unwrap()).is_file());
            pages_seen += 1;
        }
    }
    assert_eq!(originals_seen, n_files);
    assert_eq!(pages_seen, pages);

    // OCR text of the sample pages holds words of their ground truth.
    let texts: Vec<String> = bags
        .iter()
        .flat_map(|b| {
            walkdir::WalkDir::new(b.join("data/objects/text"))
                .into_iter()
                .filter_map(Result::ok)
        })
        .filter(|e| e.file_type().is_file())
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let all = texts.join("\n");
    for truth_file in [
        "tesseract-test/phototest.txt",
        "tesseract-test/8087_054.3B.txt",
    ] {
        let truth = std::fs::read_to_string(shared(truth_file)).unwrap();
        let words: Vec<&str> = truth
            .split_whitespace()
            .filter(|w| w.len() >= 6 && w.chars().all(char::is_alphabetic))
            .collect();
        let found = words.iter().filter(|w| all.contains(*w)).count();
        assert!(
            found * 10 >= words.len() * 8,
            "{truth_file}: only {found} of {} long words found in the OCR text",
            words.len()
        );
    }
}

#[test]
fn running_the_same_batch_twice_duplicates_nothing() {
    let env = Env::new();
    let batch = make_batch(
        &env,
        "twice",
        &[
            (&shared("tesseract-test/phototest.tif"), "a.tif"),
            (&shared("tesseract-test/eurotext.tif"), "b.tif"),
        ],
    );
    let (first, s1) = env.run(&batch, &["--quiet"]);
    assert!(first.status.success());
    assert_eq!(s1["documents"].as_array().unwrap().len(), 2);
    let bags = packages(&env.out());
    assert_eq!(bags.len(), 2);

    let (second, s2) = env.run(&batch, &["--quiet"]);
    assert!(second.status.success());
    assert_eq!(
        s2["batch"]["id"], s1["batch"]["id"],
        "same folder, same batch"
    );
    assert_eq!(s2["intake"]["accepted"].as_array().unwrap().len(), 0);
    assert_eq!(s2["intake"]["known"].as_array().unwrap().len(), 2);
    assert_eq!(s2["documents"].as_array().unwrap().len(), 0);
    assert_eq!(packages(&env.out()), bags, "no new package");
    assert_eq!(
        store_files(&env, s1["batch"]["id"].as_str().unwrap()).len(),
        2
    );

    // The same content under another name in a new folder is known too.
    let other = make_batch(
        &env,
        "renamed",
        &[(&shared("tesseract-test/phototest.tif"), "renamed.tif")],
    );
    let (_, s3) = env.run(&other, &["--quiet"]);
    assert_eq!(s3["intake"]["known"].as_array().unwrap().len(), 1);
    assert_eq!(packages(&env.out()).len(), 2);
}

#[test]
fn corrupt_and_foreign_files_go_to_quarantine_and_the_rest_is_packaged() {
    let env = Env::new();
    let good = shared("tesseract-test/phototest.tif");
    let batch = make_batch(
        &env,
        "mixed",
        &[
            (&good, "01.tif"),
            (&shared("tesseract-test/eurotext.tif"), "02.tif"),
        ],
    );
    let bytes = std::fs::read(shared("tesseract-test/8087_054.3B.tif")).unwrap();
    std::fs::write(batch.join("03_truncated.tif"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(batch.join("04_notes.txt"), "box 17, folder 3").unwrap();
    std::fs::write(batch.join("05_empty.png"), b"").unwrap();
    std::fs::copy(&good, batch.join("06_same_as_01.tif")).unwrap();
    // A scanning station's marker and manifest are not pages.
    std::fs::write(batch.join("READY"), b"").unwrap();
    std::fs::write(batch.join("batch.toml"), "operator = \"li\"\n").unwrap();
    std::fs::copy(
        shared("ocrmypdf-resources/trivial.pdf"),
        batch.join("07_born_digital.pdf"),
    )
    .unwrap();
    let before = snapshot(&batch);

    let quarantine = env.dir.path().join("q");
    let (output, s) = env.run(
        &batch,
        &["--quiet", "--quarantine", quarantine.to_str().unwrap()],
    );
    assert_eq!(
        output.status.code(),
        Some(4),
        "quarantined files give exit code 4"
    );
    assert_eq!(snapshot(&batch), before, "input untouched");

    let q = s["intake"]["quarantined"].as_array().unwrap();
    let names: Vec<&str> = q.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "03_truncated.tif",
            "04_notes.txt",
            "05_empty.png",
            "07_born_digital.pdf"
        ]
    );
    for name in names {
        let copy = quarantine.join(name);
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            std::fs::read(batch.join(name)).unwrap(),
            "{name}: exact copy"
        );
        let reason =
            std::fs::read_to_string(quarantine.join(format!("{name}.reason.txt"))).unwrap();
        assert!(reason.contains("reason: "), "{reason}");
    }
    let reason = std::fs::read_to_string(quarantine.join("04_notes.txt.reason.txt")).unwrap();
    assert!(reason.contains("not a supported image format"), "{reason}");
    let reason =
        std::fs::read_to_string(quarantine.join("07_born_digital.pdf.reason.txt")).unwrap();
    assert!(reason.contains("born-digital"), "{reason}");
    assert_eq!(s["intake"]["duplicates"][0][0], "06_same_as_01.tif");
    let ignored: Vec<&str> = s["intake"]["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ignored.contains(&"READY") && ignored.contains(&"batch.toml"),
        "{ignored:?}"
    );
    assert_eq!(packages(&env.out()).len(), 2, "the good files are packaged");
    for bag in packages(&env.out()) {
        bagit_validate(&bag);
    }
    // The text summary says so too.
    let text = env
        .folio(&[
            "run",
            batch.to_str().unwrap(),
            "--out",
            env.out().to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        text.status.success(),
        "second run: nothing new, nothing to attend to"
    );
}

/// A PNG whose chunks are whole (every CRC right) but whose compressed
/// image data is not: its structure passes at arrival, its page fails in
/// the worker, named by file and page, and nothing is lost.
fn png_with_damaged_data(good: &[u8]) -> Vec<u8> {
    let mut out = good[..8].to_vec();
    let mut pos = 8;
    while pos + 12 <= good.len() {
        let len = u32::from_be_bytes(good[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &good[pos + 4..pos + 8];
        let mut body = good[pos + 8..pos + 8 + len].to_vec();
        if kind == b"IDAT" {
            // Keep the zlib header; scramble what follows.
            for (i, b) in body.iter_mut().enumerate().skip(2) {
                *b = (i as u8).wrapping_mul(151) ^ 0x5a;
            }
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(&body);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
        pos += 12 + len;
    }
    out
}

#[test]
fn damage_inside_a_whole_file_fails_its_page_by_name_and_loses_nothing() {
    let env = Env::new();
    let batch = make_batch(
        &env,
        "damaged",
        &[(&shared("tesseract-test/phototest.tif"), "01.tif")],
    );
    let good =
        std::fs::read(root().join("samples/batch-0001/0009_phototest-turned-left.png")).unwrap();
    let damaged = png_with_damaged_data(&good);
    std::fs::write(batch.join("02_damaged.png"), &damaged).unwrap();
    let before = snapshot(&batch);
    let (output, s) = env.run(&batch, &["--quiet"]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(4),
        "needs attention: {err}\n{s:#}"
    );
    assert_eq!(snapshot(&batch), before, "input untouched");
    assert_eq!(
        s["intake"]["quarantined"].as_array().map(Vec::len),
        Some(0),
        "its structure is whole, so it is taken in: {s:#}"
    );
    assert_eq!(packages(&env.out()).len(), 1, "the good file is packaged");
    let failed: Vec<PathBuf> = std::fs::read_dir(env.out().join(".failed"))
        .expect(".failed/")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let index = std::fs::read_to_string(failed[0].join(INDEX)).unwrap();
    assert!(index.contains("02_damaged.png"), "{index}");
    assert!(
        index.contains("page 1") && index.contains("decode"),
        "the page and the step are named: {index}"
    );
    // The original is kept byte for byte beside the failure.
    let kept: Vec<PathBuf> = walkdir::WalkDir::new(&failed[0])
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| std::fs::read(p).is_ok_and(|b| b == damaged))
        .collect();
    assert_eq!(kept.len(), 1, "the damaged original is in .failed/");
}

#[test]
fn folio_sets_one_openmp_thread_per_engine_itself() {
    let env = Env::new();
    let batch = make_batch(
        &env,
        "omp",
        &[
            (&shared("tesseract-test/8087_054.3B.tif"), "a.tif"),
            (&shared("tesseract-test/8071_093.3B.tif"), "b.tif"),
        ],
    );
    let (output, s) = env.run(&batch, &["--quiet", "--workers", "2"]);
    assert!(output.status.success());
    assert_eq!(
        s["omp_thread_limit"], "1",
        "folio re-executes itself with OMP_THREAD_LIMIT=1"
    );
    // main + 2 workers + producer + broadcast driver + runtime + sampler
    // + sqlite: with OpenMP's default, each engine adds a thread per core.
    let peak = s["threads_peak"].as_u64().unwrap();
    // Measured: 9 at OMP_THREAD_LIMIT=1, 15 at 4; default OpenMP adds one per
    // engine on these 2-core machines (11).
    assert!(peak > 0 && peak <= 10, "threads at peak: {peak}");
}

#[test]
fn split_rules_make_documents_by_page_count_or_batch() {
    let env = Env::new();
    let config = write_config(
        &env,
        "pairs",
        &[
            (
                "pairs",
                "name = \"pairs\"\nsplit = \"pages\"\npages_per_document = 2\n".into(),
            ),
            ("whole", "name = \"whole\"\nsplit = \"batch\"\n".into()),
        ],
    );
    let files = [
        (shared("tesseract-test/phototest.tif"), "1.tif"),
        (shared("tesseract-test/eurotext.tif"), "2.tif"),
        (shared("tesseract-test/phototest-rotated-180.png"), "3.png"),
    ];
    let refs: Vec<(&std::path::Path, &str)> =
        files.iter().map(|(p, n)| (p.as_path(), *n)).collect();
    let batch = make_batch(&env, "split", &refs);
    let (out, s) = env.run(&batch, &["--quiet", "--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pages: Vec<u64> = s["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pages"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, [2, 1]);

    let env2 = Env::new();
    let batch2 = make_batch(&env2, "split", &refs);
    let (_, s2) = env2.run(
        &batch2,
        &[
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--class",
            "whole",
        ],
    );
    let docs = s2["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["pages"], 3);
    let bag = packages(&env2.out()).pop().unwrap();
    bagit_validate(&bag);
    assert_eq!(
        std::fs::read_dir(bag.join("data/objects"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x != "pdf"))
            .count(),
        3
    );
}

#[test]
fn clear_errors_for_bad_input_folder_and_unknown_class() {
    let env = Env::new();
    let (missing, _) = (
        env.folio(&[
            "run",
            "/nonexistent/batch",
            "--out",
            env.out().to_str().unwrap(),
        ])
        .output()
        .unwrap(),
        (),
    );
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/batch"));
    let samples = root().join("samples/batch-0001");
    let bad = env
        .folio(&[
            "run",
            samples.to_str().unwrap(),
            "--out",
            env.out().to_str().unwrap(),
            "--class",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown document class 'nope'"));
    assert!(!env.out().exists() || packages(&env.out()).is_empty());
}

#[test]
fn a_model_that_will_not_load_is_a_settings_error_before_anything_is_queued() {
    // A language pack that is not installed, and a model folder without
    // the orientation model (started beside the workers' engines): each
    // stops the run with the model named, and the store holds no batch.
    let tess = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        "/usr/share/tesseract-ocr/5/tessdata/eng.traineddata",
        tess.path().join("eng.traineddata"),
    )
    .unwrap();
    let cases = [
        ("languages = \"xyz\"\n".to_string(), "'xyz'"),
        (
            format!(
                "languages = \"eng\"\ndatapath = \"{}\"\n",
                tess.path().display()
            ),
            "osd.traineddata",
        ),
    ];
    let samples = root().join("samples/batch-0001");
    for (ocr, named) in cases {
        let env = Env::new();
        let cfg = env.dir.path().join("folio.toml");
        std::fs::write(
            &cfg,
            format!(
                "classes_dir = \"{}\"\ndefault_class = \"general\"\n\n[ocr]\n{ocr}",
                root().join("config/classes").display()
            ),
        )
        .unwrap();
        let out = env.out();
        let cfg = cfg.to_str().unwrap();
        let run = env
            .folio(&[
                "--config",
                cfg,
                "run",
                samples.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{ocr}: {stderr}");
        assert!(
            stderr.contains("folio: error: configuration") && stderr.contains(named),
            "{ocr}: {stderr}"
        );
        let status = env
            .folio(&["--config", cfg, "status", "--json"])
            .output()
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(status["batches"], serde_json::json!([]), "{ocr}: {status}");
        assert!(packages(&out).is_empty());
    }
}

#[test]
fn memory_is_bounded_by_pages_in_flight_not_batch_size() {
    let truth = std::fs::read_to_string(shared("deskew-set/truth.csv")).unwrap();
    let mut names: Vec<(u64, String)> = truth
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|n| n.starts_with("8087") || n.starts_with("8071"))
        .map(|n| {
            let (w, h) = image::image_dimensions(shared(&format!("deskew-set/{n}"))).unwrap();
            (u64::from(w) * u64::from(h), n.to_string())
        })
        .collect();
    assert!(names.len() >= 24);
    // Largest first: the small batch holds the largest pages, so the
    // large one adds only pages, never larger ones (a page's memory
    // follows its size: 12.7 Mpx pages in flight need ~50 MiB more than
    // 8.5 Mpx ones, and claims take the largest pages first).
    names.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let peak = |count: usize| {
        let env = Env::new();
        let files: Vec<(std::path::PathBuf, String)> = names
            .iter()
            .take(count)
            .map(|(_, n)| (shared(&format!("deskew-set/{n}")), n.clone()))
            .collect();
        let refs: Vec<(&std::path::Path, &str)> = files
            .iter()
            .map(|(p, n)| (p.as_path(), n.as_str()))
            .collect();
        let batch = make_batch(&env, "mem", &refs);
        let (out, s) = env.run(&batch, &["--quiet", "--workers", "2"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(s["pages"], count as u64);
        s["peak_rss_mib"].as_f64().unwrap()
    };
    let small = peak(6);
    let large = peak(24);
    // Measured (release): the 6 largest pages 342–385 MiB, all 24 pages
    // 341–395 MiB. Holding every raster would add ~9 MiB per page
    // (+160 MiB); the first 6 in file order, without the two largest
    // pages, peaked at 288 MiB, which is why the largest go first here.
    assert!(
        large <= small * 1.3,
        "peak RSS {small:.0} MiB for the 6 largest pages but {large:.0} MiB for 24"
    );
}

#[test]
fn scanned_pdfs_are_read_as_displayed_and_kept_byte_for_byte() {
    let env = Env::new();
    let sources = [
        (shared("ocrmypdf-resources/skew.pdf"), "01_skew.pdf"),
        (shared("ocrmypdf-resources/cardinal.pdf"), "02_cardinal.pdf"),
    ];
    let files: Vec<(&std::path::Path, &str)> =
        sources.iter().map(|(p, n)| (p.as_path(), *n)).collect();
    let batch = make_batch(&env, "pdfs", &files);
    let (output, summary) = env.run(&batch, &[]);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(summary["pages"], 5, "1 + 4 pages");
    let bags = packages(&env.out());
    assert_eq!(bags.len(), 2);
    // (file, page in file) → (orientation, skew as shown, OCR text)
    let mut pages = HashMap::new();
    for bag in &bags {
        bagit_validate(bag);
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bag.join(util::INDEX)).unwrap()).unwrap();
        for original in index["originals"].as_array().unwrap() {
            let name = original["original_name"].as_str().unwrap();
            let kept = bag.join(original["path"].as_str().unwrap());
            assert!(kept.extension().is_some_and(|e| e == "pdf"), "{kept:?}");
            assert_eq!(sha256(&kept), sha256(&batch.join(name)), "{name}");
        }
        for page in index["pages"].as_array().unwrap() {
            let key = (
                page["original_name"].as_str().unwrap().to_string(),
                page["file_page"].as_u64().unwrap(),
            );
            let text = std::fs::read_to_string(bag.join(page["text"].as_str().unwrap())).unwrap();
            let image = &page["image"];
            pages.insert(
                key,
                (
                    image["orientation"]["degrees"].as_u64().unwrap(),
                    image["skew"]["angle_deg"].as_f64().unwrap(),
                    text,
                ),
            );
        }
    }
    // skew.pdf draws a straight scan 1.865° clockwise: that is the skew a
    // reader of the file sees, and what Folio reports.
    let (turn, skew, _) = &pages[&("01_skew.pdf".to_string(), 1)];
    assert_eq!(*turn, 0);
    assert!((skew + 1.865).abs() < 0.15, "skew.pdf reported {skew}°");
    // cardinal.pdf shows one page at each quarter turn (clockwise 0, 90,
    // 180, 270 on screen: counter-clockwise 0, 270, 180, 90); every page
    // is turned upright before OCR.
    for (page, want) in [(1, 0), (2, 270), (3, 180), (4, 90)] {
        let (turn, _, text) = &pages[&("02_cardinal.pdf".to_string(), page)];
        assert_eq!(*turn, want, "cardinal.pdf page {page}");
        assert!(
            text.contains("Sequencer"),
            "cardinal.pdf page {page} read upright: {text}"
        );
    }
}
