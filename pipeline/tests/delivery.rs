//! End to end: what an archivist receives. Real batches through the real
//! `folio` binary; the packages and the batch delivery checked with the
//! tools an archive would use (`bagit`, `qpdf`, `pdfinfo`, `pdftotext`,
//! `openpyxl`) and with `folio verify`, which must name every tampered
//! file. Needs qpdf and poppler-utils (`scripts/setup`).

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use util::harness::{Tmpfs, block};
use util::*;

/// A batch folder holding copies of `files` (paths under ../shared or the
/// samples).
fn batch_of(env: &Env, name: &str, files: &[PathBuf]) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
    }
    dir
}

fn tool(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} must be installed (scripts/setup): {e}"))
}

/// The one delivery folder under `out`.
fn delivery(out: &Path) -> PathBuf {
    let mut d: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("delivery.json").is_file())
        .collect();
    assert_eq!(d.len(), 1, "one batch delivery in {}", out.display());
    d.pop().unwrap()
}

fn verify(env: &Env, args: &[&str]) -> (bool, String) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    let o = env.folio(&all).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn index_of(bag: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(bag.join(INDEX)).unwrap()).unwrap()
}

fn pdf_of(bag: &Path) -> PathBuf {
    bag.join(
        index_of(bag)["pdf"]
            .as_str()
            .expect("a packaged document has a PDF"),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().flatten() {
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn english_batch_delivery_verifies_and_its_pdf_is_searchable() {
    let env = Env::new();
    let batch = batch_of(
        &env,
        "box-en",
        &[
            root().join("samples/batch-0001/0001_phototest.tif"),
            root().join("samples/batch-0001/0008_two-page.tif"),
        ],
    );
    let (o, summary) = env.run(&batch, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dl = delivery(&env.out());
    assert_eq!(
        summary["delivery"].as_str().map(PathBuf::from),
        Some(dl.clone())
    );
    let bags = packages(&env.out());
    assert_eq!(bags.len(), 2);
    for bag in &bags {
        bagit_validate(bag);
        // Archivematica's layout; ASCII names only.
        for sub in ["data/objects", "data/metadata", "data/logs"] {
            assert!(bag.join(sub).is_dir(), "{sub} in {}", bag.display());
        }
        for e in walkdir::WalkDir::new(bag).into_iter().flatten() {
            assert!(e.file_name().to_str().is_some_and(|n| n.is_ascii()));
        }
        assert!(bag.join("manifest-sha512.txt").is_file());
        let csv = std::fs::read_to_string(bag.join("data/metadata/metadata.csv")).unwrap();
        assert!(
            csv.starts_with("filename,dc.title,dc.identifier,dc.date"),
            "{csv}"
        );
        assert!(csv.contains("objects/"), "{csv}");
        let events: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(bag.join("data/logs/events.json")).unwrap(),
        )
        .unwrap();
        let index = index_of(bag);
        let sha = index["originals"][0]["sha256"].as_str().unwrap();
        assert!(
            events["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["entity"] == "file" && e["sha256"] == sha && e["to"] == "arrived"),
            "arrival with its SHA-256 in events.json"
        );
        assert!(
            events["stages"][2]["version"]
                .as_str()
                .unwrap()
                .starts_with("tesseract ")
        );

        let pdf = pdf_of(bag);
        let check = tool("qpdf", &["--check", pdf.to_str().unwrap()]);
        assert!(
            check.status.success(),
            "qpdf: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let info =
            String::from_utf8_lossy(&tool("pdfinfo", &[pdf.to_str().unwrap()]).stdout).to_string();
        let pages = index["pages"].as_array().unwrap().len();
        assert!(
            info.contains(&format!("Pages:           {pages}")),
            "{info}"
        );
        for page in index["pages"].as_array().unwrap() {
            // Bilevel masters give Group 4 derived pages, not PNG.
            assert!(page["derived"].as_str().unwrap().ends_with(".tif"));
            assert!(bag.join(page["hocr"].as_str().unwrap()).is_file());
        }
    }
    // The OCR words of an English page come back out of the PDF.
    let photo = bags
        .iter()
        .find(|b| index_of(b)["originals"][0]["original_name"] == "0001_phototest.tif")
        .unwrap();
    let text =
        String::from_utf8_lossy(&tool("pdftotext", &[pdf_of(photo).to_str().unwrap(), "-"]).stdout)
            .to_string();
    for w in ["quick", "brown", "dog", "jumped", "lazy", "fox"] {
        assert!(text.contains(w), "{w} in {text}");
    }

    let (ok, said) = verify(&env, &[dl.to_str().unwrap()]);
    assert!(ok, "{said}");
    assert!(said.contains("2 package(s), 1 deliver"), "{said}");
}

/// A way to damage a copy of a package.
type Damage = Box<dyn Fn(&Path)>;

#[test]
fn verify_names_every_tampered_file() {
    let env = Env::new();
    let batch = batch_of(
        &env,
        "box-t",
        &[root().join("samples/batch-0001/0001_phototest.tif")],
    );
    let (o, _) = env.run(&batch, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bag = packages(&env.out()).pop().unwrap();
    let index = index_of(&bag);
    let master = index["originals"][0]["path"].as_str().unwrap().to_string();
    let text = index["pages"][0]["text"].as_str().unwrap().to_string();
    let cases: Vec<(&str, Damage, String)> = vec![
        (
            "one byte of a master",
            Box::new({
                let m = master.clone();
                move |b: &Path| {
                    let p = b.join(&m);
                    let mut bytes = std::fs::read(&p).unwrap();
                    let at = bytes.len() / 2;
                    bytes[at] ^= 0x01;
                    std::fs::write(&p, bytes).unwrap();
                }
            }),
            master.clone(),
        ),
        (
            "a deleted text file",
            Box::new({
                let t = text.clone();
                move |b: &Path| std::fs::remove_file(b.join(&t)).unwrap()
            }),
            text.clone(),
        ),
        (
            "a stray file",
            Box::new(|b: &Path| std::fs::write(b.join("data/objects/extra.txt"), b"x").unwrap()),
            "data/objects/extra.txt".into(),
        ),
        (
            "an edited bag-info.txt",
            Box::new(|b: &Path| {
                let p = b.join("bag-info.txt");
                let t = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, t.replace("Folio class", "Folio klass")).unwrap();
            }),
            "bag-info.txt".into(),
        ),
    ];
    for (what, damage, file) in cases {
        let copy = env.dir.path().join("copies").join(what.replace(' ', "_"));
        copy_dir(&bag, &copy);
        let (ok, _) = verify(&env, &["--no-store", copy.to_str().unwrap()]);
        assert!(ok, "an intact copy verifies ({what})");
        damage(&copy);
        let (ok, said) = verify(&env, &["--no-store", copy.to_str().unwrap()]);
        assert!(!ok, "{what}: verify must fail\n{said}");
        assert!(
            said.lines().any(|l| l.contains(&file)),
            "{what}: a line names {file}\n{said}"
        );
        let json = env
            .folio(&["verify", "--no-store", "--json", copy.to_str().unwrap()])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(v["ok"], false);
        assert!(
            v["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["file"] == file.as_str())
        );
    }
    // A delivery's own index, edited after the fact, is named too.
    let dl = delivery(&env.out());
    std::fs::write(dl.join("index.csv"), "\u{feff}document\r\nforged\r\n").unwrap();
    let (ok, said) = verify(&env, &[dl.to_str().unwrap()]);
    assert!(!ok && said.contains("index.csv"), "{said}");
    // Nothing there at all is an error, not a pass.
    let empty = env.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, said) = verify(&env, &[empty.to_str().unwrap()]);
    assert!(!ok && said.contains("no package"), "{said}");
}

/// Chinese text extracted from the PDF keeps words whole: every run of
/// Chinese characters OCR read comes out of `pdftotext` as it was read,
/// without spaces put between the characters.
#[test]
fn chinese_pdf_text_has_no_spaces_inside_words() {
    let env = Env::new();
    let batch = batch_of(&env, "box-zh", &[shared("forms-zh/form_000.tif")]);
    let (o, _) = env.run(&batch, &["--class", "records_zh"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bag = packages(&env.out()).pop().unwrap();
    let index = index_of(&bag);
    let ocr =
        std::fs::read_to_string(bag.join(index["pages"][0]["text"].as_str().unwrap())).unwrap();
    let pdf = pdf_of(&bag);
    let text = String::from_utf8_lossy(&tool("pdftotext", &[pdf.to_str().unwrap(), "-"]).stdout)
        .to_string();
    let is_cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
    let runs: Vec<String> = ocr
        .split(|c: char| !is_cjk(c))
        .filter(|r| r.chars().count() >= 2)
        .map(String::from)
        .collect();
    assert!(
        runs.len() >= 5,
        "the form's Chinese labels were read: {ocr}"
    );
    let found = runs.iter().filter(|r| text.contains(r.as_str())).count();
    assert_eq!(
        found,
        runs.len(),
        "every Chinese word whole in:\n{text}\nwords: {runs:?}"
    );
    for label in ["身份证号", "保单号"] {
        if ocr.contains(label) {
            assert!(text.contains(label), "{label}");
        }
    }
}

#[test]
fn export_writes_the_batch_index_with_every_document_and_field() {
    let env = Env::new();
    let batch = batch_of(
        &env,
        "box-forms",
        &[
            shared("forms-zh/form_001.jpg"),
            shared("forms-zh/form_002.jpg"),
        ],
    );
    let (o, summary) = env.run(&batch, &["--class", "insurance_registration"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let batch_id = summary["batch"]["id"].as_str().unwrap().to_string();
    let fields = [
        "archive_no",
        "id_number",
        "policy_no",
        "sign_date",
        "amount",
        "phone",
    ];
    let dir = env.dir.path().join("export");
    for format in ["csv", "json", "xlsx"] {
        let o = env
            .folio(&[
                "export",
                &batch_id,
                "--format",
                format,
                "--out",
                dir.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let csv = std::fs::read_to_string(dir.join("index.csv")).unwrap();
    assert!(csv.starts_with('\u{feff}'), "BOM for Excel");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(json["documents"].as_array().unwrap().len(), 2);
    // Read back as an archive's spreadsheet user would.
    let script = r#"
import sys, json, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
rows = [[c if c is not None else "" for c in r] for r in ws.iter_rows(values_only=True)]
print(json.dumps(rows))
"#;
    let out = tool(
        "python3",
        &["-c", script, dir.join("index.xlsx").to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 3, "header + 2 documents: {rows:?}");
    let head = &rows[0];
    for f in fields {
        for col in [f.to_string(), format!("{f}.source")] {
            assert!(head.contains(&col), "{col} in {head:?}");
        }
    }
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    for (r, d) in rows[1..].iter().zip(json["documents"].as_array().unwrap()) {
        assert_eq!(r[col("document")], d["document"].as_str().unwrap());
        assert_eq!(r[col("masters_sha256")].len(), 64);
        for f in fields {
            let v = d["fields"][f]["value"].as_str().unwrap_or_default();
            assert_eq!(r[col(f)], v, "{f}");
        }
        // The CSV holds the same cells.
        assert!(csv.contains(r[col("masters_sha256")].as_str()));
    }
    let unknown = env
        .folio(&[
            "export",
            "no-such-batch",
            "--format",
            "csv",
            "--out",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-batch"));
}

/// A master whose bytes changed after arrival is not packaged, and the
/// reason names it.
#[test]
fn a_master_changed_after_arrival_is_refused_by_name() {
    let env = Env::new();
    let batch = batch_of(
        &env,
        "box-c",
        &[root().join("samples/batch-0001/0001_phototest.tif")],
    );
    let out = env.out();
    let o = env
        .folio(&[
            "ingest",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sha = sha256(&batch.join("0001_phototest.tif"));
    let object = env
        .data()
        .join("objects/sha256")
        .join(&sha[..2])
        .join(&sha[2..]);
    let mut bytes = std::fs::read(&object).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&object, bytes).unwrap();
    let o = env.folio(&["worker", "--until-idle"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(packages(&out).is_empty(), "no package of a changed master");
    let failed: Vec<PathBuf> = std::fs::read_dir(out.join(".failed"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(failed.len(), 1);
    let index = std::fs::read_to_string(failed[0].join(INDEX)).unwrap();
    assert!(index.contains("0001_phototest.tif"), "{index}");
    assert!(
        index.contains(&sha),
        "the arrival SHA-256 is named: {index}"
    );
    assert!(!failed[0].join("bagit.txt").exists());
}

/// The output fills up while packages are written: nothing half-written
/// is visible; once there is room, the same documents are packaged whole.
#[test]
fn a_full_target_leaves_no_half_package() {
    let env = Env::new();
    let batch = batch_of(
        &env,
        "box-f",
        &[
            root().join("samples/batch-0001/0001_phototest.tif"),
            root().join("samples/batch-0001/0009_phototest-turned-left.png"),
        ],
    );
    let out = env.out();
    std::fs::create_dir_all(&out).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&out)
        .output();
    if !matches!(&mount, Ok(o) if o.status.success()) {
        eprintln!("\n******** SKIPPED: needs root to mount tmpfs ********\n");
        return;
    }
    let _guard = Tmpfs(out.clone());
    let o = env
        .folio(&[
            "ingest",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Leave 24 KiB: less than one package.
    let free = folio::objects::free_bytes(&out).unwrap();
    let filler = out.join("filler.bin");
    std::fs::write(&filler, vec![1u8; (free - 24 * 1024) as usize]).unwrap();
    let o = env.folio(&["worker", "--until-idle"]).output().unwrap();
    assert!(!o.status.success(), "a full disk is an error");
    assert_eq!(
        o.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Whatever is visible is whole.
    for bag in packages(&out) {
        let (ok, said) = verify(&env, &[bag.to_str().unwrap()]);
        assert!(ok, "{said}");
    }
    for e in std::fs::read_dir(&out).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "filler.bin" {
            continue;
        }
        for d in std::fs::read_dir(e.path()).unwrap().flatten() {
            let p = d.path();
            assert!(
                !p.is_dir() || p.join("bagit.txt").is_file(),
                "a half package is visible: {}",
                p.display()
            );
        }
    }
    std::fs::remove_file(&filler).unwrap();
    let o = env.folio(&["worker", "--until-idle"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(packages(&out).len(), 2);
    let (ok, said) = verify(&env, &[out.to_str().unwrap()]);
    assert!(ok, "{said}");
}

/// The process that packages a batch's last document may die before it
/// writes the batch delivery. The store still owes it (`delivery_due`),
/// and the next worker writes it before anything else and records who
/// did; a second worker finds nothing owed.
#[test]
fn a_delivery_owed_by_a_closer_that_died_is_written_by_the_next_worker() {
    let env = Env::new();
    let batch = batch_of(
        &env,
        "box-owed",
        &[
            root().join("samples/batch-0001/0001_phototest.tif"),
            shared("tesseract-test/eurotext.tif"),
        ],
    );
    let (o, summary) = env.run(&batch, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let batch_id = summary["batch"]["id"].as_str().unwrap().to_string();
    let dir = delivery(&env.out());
    let written = |actor_prefix: &str| -> Vec<folio::store::Event> {
        block(async {
            let store = folio::store::Store::open(&env.db_url()).await.unwrap();
            let e = store.events("batch", &batch_id).await.unwrap();
            store.close().await;
            e.into_iter()
                .filter(|e| {
                    e.reason.starts_with(folio::store::DELIVERY_WRITTEN)
                        && e.actor.starts_with(actor_prefix)
                })
                .collect()
        })
    };
    assert_eq!(written("").len(), 1, "the run records its delivery");

    // What a closer that died after its last commit leaves: the batch
    // packaged and owed its delivery, none of the delivery's files.
    for f in ["delivery.json", "index.csv", "index.xlsx"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    block(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&env.db_url())
            .await
            .unwrap();
        sqlx::query("UPDATE batches SET delivery_due = 1")
            .execute(&mut c)
            .await
            .unwrap();
    });

    let worker = || {
        env.folio(&["worker", "--until-idle", "--json"])
            .output()
            .unwrap()
    };
    let o = worker();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        dir.join("delivery.json").is_file(),
        "the worker wrote the delivery"
    );
    let (ok, text) = verify(&env, &[dir.to_str().unwrap()]);
    assert!(ok, "the rewritten delivery verifies:\n{text}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let worker_actor = report["worker"].as_str().unwrap().to_string();
    let by_worker = written(&worker_actor);
    assert_eq!(
        by_worker.len(),
        1,
        "one event names the worker: {by_worker:?}"
    );
    assert!(by_worker[0].reason.contains(&*dir.to_string_lossy()));

    // Nothing is owed any more: another worker writes nothing.
    let o = worker();
    assert!(o.status.success());
    assert_eq!(written("").len(), 2, "no third delivery event");
}
