//! Review holds end to end with the real `folio` binary, real Tesseract
//! and SQLite (the re-scan loop on PostgreSQL too): flagged pages hold
//! their document until decided (`folio run` exits 4 naming it); keep,
//! drop and the `drop_blank_backs` rule end in a package `folio verify`
//! passes; a re-scan folder with its `batch.toml` replaces the rejected
//! page; bad re-scan manifests are refused naming the file, nothing
//! queued.
//!
//! Test data: one batch folder whose class makes the whole batch one
//! document — `a.tif` (two pages: the phototest sample page, then a
//! blank page), `b.png` (one blank page), `c.tif` (the eurotext sample
//! page). Pages 2 and 3 are blank; page 2 is an even page (a back side).

mod util;

use std::path::{Path, PathBuf};
use std::process::Output;
use util::{Env, INDEX, package_of, root, sha256, write_config};

/// A white page of A4 at 200 dpi (no ink: the blank flag).
fn blank() -> image::GrayImage {
    image::GrayImage::from_pixel(1654, 2339, image::Luma([255]))
}

/// A sample page, decoded (uncompressed TIFF), as grey.
fn sample(name: &str) -> image::GrayImage {
    image::open(root().join("samples/batch-0001").join(name))
        .unwrap()
        .to_luma8()
}

/// Writes a multi-page greyscale TIFF, one page per image.
fn write_tiff(path: &Path, pages: &[image::GrayImage]) {
    use tiff::encoder::{TiffEncoder, colortype::Gray8};
    let mut f = std::fs::File::create(path).unwrap();
    let mut enc = TiffEncoder::new(&mut f).unwrap();
    for p in pages {
        enc.write_image::<Gray8>(p.width(), p.height(), p.as_raw())
            .unwrap();
    }
}

/// The batch folder described at the top.
fn batch(env: &Env) -> PathBuf {
    let dir = env.dir.path().join("box-7");
    std::fs::create_dir_all(&dir).unwrap();
    write_tiff(&dir.join("a.tif"), &[sample("0001_phototest.tif"), blank()]);
    blank().save(dir.join("b.png")).unwrap();
    write_tiff(&dir.join("c.tif"), &[sample("0002_eurotext.tif")]);
    dir
}

/// Settings: one class that makes the batch one document, and `review`
/// as the `[review]` table's body.
fn config(env: &Env, review: &str) -> PathBuf {
    config_with_class(env, "name = \"whole\"\nsplit = \"batch\"\n", review)
}

/// Settings whose one class, `whole`, is `class` (a class file's text).
fn config_with_class(env: &Env, class: &str, review: &str) -> PathBuf {
    let cfg = write_config(env, "whole", &[("whole", class.to_string())]);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("\n[review]\n{review}\n"));
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `folio --config CFG ARGS`, as `user` (the decisions' actor).
fn folio(env: &Env, cfg: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    env.folio(&all).env("FOLIO_USER", "li.na").output().unwrap()
}

fn run(env: &Env, cfg: &Path, dir: &Path) -> (Output, serde_json::Value) {
    env.run(dir, &["--config", cfg.to_str().unwrap(), "--quiet"])
}

/// Stages the batch described at the top and runs it: held for review
/// (exit 4). The batch folder, the run's summary, the batch id and the
/// held document's id.
fn held_run(env: &Env, cfg: &Path) -> (PathBuf, serde_json::Value, String, String) {
    let dir = batch(env);
    let (o, summary) = run(env, cfg, &dir);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let batch_id = summary["batch"]["id"].as_str().unwrap().to_string();
    let doc = summary["held"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    (dir, summary, batch_id, doc)
}

/// `folio review list BATCH --json`.
fn review(env: &Env, cfg: &Path, batch: &str) -> Vec<serde_json::Value> {
    let o = folio(env, cfg, &["review", "list", batch, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn page(pages: &[serde_json::Value], seq: i64) -> &serde_json::Value {
    pages.iter().find(|p| p["seq"] == seq).unwrap()
}

fn flags(p: &serde_json::Value) -> Vec<String> {
    p["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flag"].as_str().unwrap().to_string())
        .collect()
}

fn decide(env: &Env, cfg: &Path, page_id: i64, decision: &str, reason: &str) -> Output {
    folio(
        env,
        cfg,
        &[
            "review",
            "decide",
            &page_id.to_string(),
            decision,
            "--reason",
            reason,
            "--json",
        ],
    )
}

/// Page count of a PDF by `pdfinfo`.
fn pdf_pages(pdf: &Path) -> usize {
    let o = std::process::Command::new("pdfinfo")
        .arg(pdf)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pdfinfo {}: {}",
        pdf.display(),
        text(&o)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn verify(env: &Env, cfg: &Path) {
    let o = folio(env, cfg, &["verify", env.out().to_str().unwrap()]);
    assert!(o.status.success(), "folio verify: {}", text(&o));
}

/// The package's masters' SHA-256, and the master files in it.
fn masters(pkg: &Path) -> Vec<String> {
    let index = json_file(&pkg.join(INDEX));
    let mut v: Vec<String> = index["originals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let rel = o["path"].as_str().unwrap();
            let sha = sha256(&pkg.join(rel));
            assert_eq!(sha, o["sha256"].as_str().unwrap(), "{rel}");
            sha
        })
        .collect();
    v.sort();
    v
}

#[test]
fn flags_hold_the_document_until_decided_then_keep_and_drop_package() {
    let env = Env::new();
    let cfg = config(&env, "hold = [\"blank\"]");
    let (dir, summary, batch_id, doc) = held_run(&env, &cfg);
    assert_eq!(summary["held"].as_array().unwrap().len(), 1, "{summary:#}");
    // Held: no package, not even a failed or waiting one.
    assert!(util::packages(&env.out()).is_empty());

    // The text summary names the document, its undecided flags and how
    // to decide.
    let o2 = folio(
        &env,
        &cfg,
        &[
            "run",
            dir.to_str().unwrap(),
            "--out",
            env.out().to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(o2.status.code(), Some(4), "{}", text(&o2));
    let said = String::from_utf8_lossy(&o2.stdout);
    assert!(
        said.contains("HELD FOR REVIEW")
            && said.contains(&doc)
            && said.contains("blank")
            && said.contains("folio review decide"),
        "{said}"
    );

    let pages = review(&env, &cfg, &batch_id);
    assert_eq!(pages.len(), 4);
    for seq in [2, 3] {
        let p = page(&pages, seq);
        assert!(flags(p).contains(&"blank".to_string()), "{p:#}");
        assert_eq!(p["holds"], true, "{p:#}");
        assert_eq!(p["document_state"], "held");
    }
    for seq in [1, 4] {
        assert!(
            !flags(page(&pages, seq)).contains(&"blank".to_string()),
            "{pages:#?}"
        );
        assert_eq!(page(&pages, seq)["holds"], false);
    }
    let (p2, p3) = (
        page(&pages, 2)["page_id"].as_i64().unwrap(),
        page(&pages, 3)["page_id"].as_i64().unwrap(),
    );

    // An unknown page: exit 3, nothing recorded.
    let o = decide(&env, &cfg, 999_999, "keep", "");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("999999"), "{}", text(&o));

    // Drop page 3 (the single-page b.png): one hold left, no package.
    let o = decide(&env, &cfg, p3, "drop", "empty sheet");
    assert!(o.status.success(), "{}", text(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (d["undecided_left"].clone(), d["packaged"].clone()),
        (1.into(), false.into()),
        "{d:#}"
    );
    assert!(util::packages(&env.out()).is_empty());

    // Keep page 2 (blank back of a.tif): the last hold; packaged here.
    let o = decide(&env, &cfg, p2, "keep", "the back carries a stamp");
    assert!(o.status.success(), "{}", text(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["packaged"], true, "{d:#}");
    let pkg = package_of(&env.out(), &doc);
    assert!(pkg.join("bagit.txt").is_file(), "{}", pkg.display());

    // Pages 1, 2 and 4 in the PDF, derived images and text; b.png (its
    // only page dropped) not among the masters; a.tif and c.tif byte
    // for byte.
    let index = json_file(&pkg.join(INDEX));
    assert_eq!(pdf_pages(&pkg.join(index["pdf"].as_str().unwrap())), 3);
    let objects = pkg.join("data/objects");
    assert_eq!(files_in(&objects.join("derived")).len(), 3);
    let texts: Vec<String> = files_in(&objects.join("text"))
        .into_iter()
        .filter(|f| f.ends_with(".txt"))
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts.iter().all(|t| !t.contains("p0003")), "{texts:?}");
    let mut want = vec![sha256(&dir.join("a.tif")), sha256(&dir.join("c.tif"))];
    want.sort();
    assert_eq!(masters(&pkg), want);
    let seqs: Vec<i64> = index["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 4]);
    assert_eq!(index["pages"][1]["review"]["decision"], "keep");
    let dropped = index["dropped_pages"].as_array().unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["seq"], 3);
    assert!(dropped[0]["original"].is_null(), "{dropped:?}");
    assert_eq!(dropped[0]["decided_by"], "user:li.na");

    // The decisions and the hold are in the history, with their actors.
    let events = std::fs::read_to_string(pkg.join("data/logs/events.json")).unwrap();
    for needle in [
        "decided drop: empty sheet",
        "decided keep: the back carries a stamp",
        "held for review",
        "user:li.na",
    ] {
        assert!(events.contains(needle), "{needle} not in events.json");
    }
    verify(&env, &cfg);

    // A decision on a packaged document is refused (exit 2).
    let o = decide(&env, &cfg, p2, "drop", "");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already packaged"), "{}", text(&o));
}

#[test]
fn drop_blank_backs_drops_even_blank_pages_and_keeps_their_master() {
    let env = Env::new();
    let cfg = config(&env, "hold = []\ndrop_blank_backs = true");
    let dir = batch(&env);
    let (o, summary) = run(&env, &cfg, &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = summary["documents"][0]["id"].as_str().unwrap();
    let pkg = package_of(&env.out(), doc);
    let index = json_file(&pkg.join(INDEX));
    // Page 2 (blank, even) dropped by rule; page 3 (blank, odd) kept.
    assert_eq!(pdf_pages(&pkg.join(index["pdf"].as_str().unwrap())), 3);
    let dropped = index["dropped_pages"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0]["seq"], 2);
    assert!(
        dropped[0]["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("worker:")
    );
    assert!(
        dropped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("drop_blank_backs")
    );
    // The two-page a.tif stays whole, byte for byte.
    let a = dropped[0]["original"].as_str().unwrap();
    assert_eq!(sha256(&pkg.join(a)), sha256(&dir.join("a.tif")));
    assert_eq!(masters(&pkg).len(), 3);
    assert_eq!(files_in(&pkg.join("data/objects/derived")).len(), 3);
    let events = std::fs::read_to_string(pkg.join("data/logs/events.json")).unwrap();
    assert!(events.contains("dropped by rule"), "events.json");
    verify(&env, &cfg);
}

#[test]
fn a_rescan_folder_replaces_the_rejected_page_sqlite() {
    rescan_loop(None);
}

#[test]
fn a_rescan_folder_replaces_the_rejected_page_postgres() {
    let pg = util::pg::PgDb::create();
    rescan_loop(Some(&pg.url));
}

fn rescan_loop(pg: Option<&str>) {
    let env = Env::new();
    let cfg = config(&env, "hold = [\"blank\"]");
    let with_db = |mut c: std::process::Command| {
        if let Some(url) = pg {
            c.env("FOLIO_DATABASE_URL", url);
        }
        c.env("FOLIO_USER", "li.na").output().unwrap()
    };
    let cfg_s = cfg.to_str().unwrap().to_string();
    let f = |args: &[&str]| {
        let mut all = vec!["--config", cfg_s.as_str()];
        all.extend_from_slice(args);
        with_db(env.folio(&all))
    };
    let dir = batch(&env);
    let out = env.out();
    let o = f(&[
        "run",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let batch_id = summary["batch"]["id"].as_str().unwrap().to_string();
    let batch_name = summary["batch"]["name"].as_str().unwrap().to_string();
    let doc = summary["held"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = |f: &dyn Fn(&[&str]) -> Output| -> Vec<serde_json::Value> {
        let o = f(&["review", "list", &batch_id, "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let pages = list(&f);
    let (p2, p3) = (
        page(&pages, 2)["page_id"].as_i64().unwrap(),
        page(&pages, 3)["page_id"].as_i64().unwrap(),
    );
    let o = f(&["review", "decide", &p2.to_string(), "keep"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = f(&[
        "review",
        "decide",
        &p3.to_string(),
        "rescan",
        "--reason",
        "sheet fed blank side up",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(util::packages(&out).is_empty(), "held for the re-scan");
    let o = f(&["review", "rescans", &batch_id, "--csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    let wanted = format!("{doc}:3");
    assert!(
        csv.lines().nth(1).is_some_and(|l| l.ends_with(&wanted)
            && l.contains("sheet fed blank side up")
            && l.contains("b.png")),
        "{csv}"
    );

    // Bad manifests: each refused naming batch.toml, nothing queued.
    let new_page = {
        let mut img = sample("0001_phototest.tif");
        image::imageops::flip_horizontal_in_place(&mut img);
        img
    };
    let rescan_dir = |name: &str, manifest: &str, pages: usize| -> PathBuf {
        let d = env.dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let imgs: Vec<image::GrayImage> = (0..pages).map(|_| new_page.clone()).collect();
        write_tiff(&d.join("rescan.tif"), &imgs);
        std::fs::write(d.join("batch.toml"), manifest).unwrap();
        d
    };
    let bad = [
        (
            "no-batch",
            format!("rescan_of = \"box-99\"\nreplaces = [\"{doc}:3\"]\n"),
            1,
            "no such batch",
        ),
        (
            "no-page",
            format!("rescan_of = \"{batch_name}\"\nreplaces = [\"{doc}:9\"]\n"),
            1,
            "no page 9",
        ),
        (
            "not-awaiting",
            format!("rescan_of = \"{batch_name}\"\nreplaces = [\"{doc}:2\"]\n"),
            1,
            "does not await a re-scan",
        ),
        (
            "count",
            format!("rescan_of = \"{batch_name}\"\nreplaces = [\"{doc}:3\"]\n"),
            2,
            "holds 2 page(s) but `replaces` names 1",
        ),
        (
            "typo",
            format!("rescan_of = \"{batch_name}\"\nreplace = [\"{doc}:3\"]\n"),
            1,
            "replace",
        ),
    ];
    for (name, manifest, n, says) in &bad {
        let d = rescan_dir(name, manifest, *n);
        let o = f(&[
            "ingest",
            d.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&d.join("batch.toml").display().to_string()) && err.contains(says),
            "{name}: {err}"
        );
    }
    let o = f(&["status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        st["batches"].as_array().unwrap().len(),
        1,
        "no batch made: {st:#}"
    );
    let pages = list(&f);
    assert_eq!(pages.len(), 4, "nothing was queued");
    assert_eq!(page(&pages, 3)["decision"], "rescan");
    let o = f(&["review", "rescans", &batch_id, "--csv"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);

    // The real re-scan: `folio run` on the folder works the document to
    // its package.
    let good = rescan_dir(
        "box-7-rescan",
        &format!("rescan_of = \"{batch_name}\"\nreplaces = [\"{doc}:3\"]\n"),
        1,
    );
    let o = f(&[
        "run",
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pkg = package_of(&out, &doc);
    assert!(pkg.join("bagit.txt").is_file(), "{}", text(&o));
    let index = json_file(&pkg.join(INDEX));
    assert_eq!(pdf_pages(&pkg.join(index["pdf"].as_str().unwrap())), 4);
    let mut want = vec![
        sha256(&dir.join("a.tif")),
        sha256(&good.join("rescan.tif")),
        sha256(&dir.join("c.tif")),
    ];
    want.sort();
    assert_eq!(masters(&pkg), want, "the new image only");
    let p3_index = &index["pages"][2];
    assert_eq!(p3_index["seq"], 3);
    assert_eq!(p3_index["sha256"], sha256(&good.join("rescan.tif")));
    assert!(p3_index["rescan_of"].is_null(), "{p3_index:#}");
    let pages = list(&f);
    assert_eq!(pages.len(), 4);
    assert!(!flags(page(&pages, 3)).contains(&"rescan".to_string()));
    let events = std::fs::read_to_string(pkg.join("data/logs/events.json")).unwrap();
    for needle in [
        "decided rescan: sheet fed blank side up".to_string(),
        "replaced by the re-scanned page".to_string(),
        sha256(&dir.join("b.png")),
        sha256(&good.join("rescan.tif")),
    ] {
        assert!(events.contains(&needle), "{needle} not in events.json");
    }
    let o = f(&["review", "rescans", &batch_id, "--csv"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    let o = f(&["verify", out.to_str().unwrap()]);
    assert!(o.status.success(), "folio verify: {}", text(&o));
}

/// `folio watch` takes a re-scan folder (its manifest completes it) into
/// the original document, which is then packaged with the new image; a
/// folder whose manifest names a page not awaiting a re-scan is moved to
/// `failed/` with the reason, nothing queued.
#[test]
fn folio_watch_takes_a_rescan_folder_too() {
    let env = Env::new();
    let cfg = config(&env, "hold = [\"blank\"]\n\n[watch]\npoll_seconds = 0.2");
    let (dir, _, batch_id, doc) = held_run(&env, &cfg);
    let pages = review(&env, &cfg, &batch_id);
    let (p2, p3) = (
        page(&pages, 2)["page_id"].as_i64().unwrap(),
        page(&pages, 3)["page_id"].as_i64().unwrap(),
    );
    assert!(decide(&env, &cfg, p2, "keep", "").status.success());
    assert!(
        decide(&env, &cfg, p3, "rescan", "fed blank side up")
            .status
            .success()
    );

    let watch = env.dir.path().join("watch");
    let prepare = |name: &str, replaces: &str, flip: bool| -> PathBuf {
        let d = env.dir.path().join("staging").join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut img = sample("0001_phototest.tif");
        if flip {
            image::imageops::flip_vertical_in_place(&mut img);
        } else {
            image::imageops::flip_horizontal_in_place(&mut img);
        }
        write_tiff(&d.join("p1.tif"), &[img]);
        std::fs::write(
            d.join("batch.toml"),
            format!("rescan_of = \"{batch_id}\"\nreplaces = [\"{replaces}\"]\n"),
        )
        .unwrap();
        d
    };
    let wrong = prepare("rescan-wrong", &format!("{doc}:2"), false);
    let good = prepare("rescan-good", &format!("{doc}:3"), true);
    let new_sha = sha256(&good.join("p1.tif"));
    std::fs::create_dir_all(&watch).unwrap();
    std::fs::rename(&wrong, watch.join("rescan-wrong")).unwrap();
    std::fs::rename(&good, watch.join("rescan-good")).unwrap();
    let mut child = env
        .folio(&[
            "--config",
            cfg.to_str().unwrap(),
            "watch",
            watch.to_str().unwrap(),
            "--out",
            env.out().to_str().unwrap(),
        ])
        .env("FOLIO_LOG", "folio=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(env.dir.path().join("watch.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let failed_note = watch.join("failed/rescan-wrong.reason.txt");
    // The package's folder is looked up again each time: it appears
    // under the batch delivery once published.
    while !(package_of(&env.out(), &doc).join("bagit.txt").is_file() && failed_note.is_file())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let pkg = package_of(&env.out(), &doc);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(env.dir.path().join("watch.err")).unwrap_or_default();
    assert!(
        pkg.join("bagit.txt").is_file(),
        "no package after 120 s; folio watch said:\n{log}"
    );
    assert_eq!(status.code(), Some(0));
    assert!(
        masters(&pkg).contains(&new_sha),
        "the new image is a master"
    );
    assert!(!masters(&pkg).contains(&sha256(&dir.join("b.png"))));
    let reason = std::fs::read_to_string(&failed_note).unwrap();
    assert!(
        reason.contains("batch.toml") && reason.contains("does not await a re-scan"),
        "{reason}"
    );
    verify(&env, &cfg);
}

/// A document's last page cannot be dropped: the package would hold no
/// page and fail `folio verify`. The refusal (exit 2) names the page and
/// what to do instead, records nothing, and keeping the page packages it.
#[test]
fn the_last_page_of_a_document_is_kept_or_rescanned_never_dropped() {
    let env = Env::new();
    let cfg = config(&env, "hold = [\"blank\"]");
    let dir = env.dir.path().join("one-sheet");
    std::fs::create_dir_all(&dir).unwrap();
    blank().save(dir.join("only.png")).unwrap();
    let (o, summary) = run(&env, &cfg, &dir);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let batch_id = summary["batch"]["id"].as_str().unwrap().to_string();
    let pages = review(&env, &cfg, &batch_id);
    assert_eq!(pages.len(), 1);
    let p1 = page(&pages, 1)["page_id"].as_i64().unwrap();
    assert_eq!(flags(page(&pages, 1)), vec!["blank".to_string()]);

    let o = decide(&env, &cfg, p1, "drop", "empty sheet");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("last page left") && text(&o).contains("re-scan"),
        "{}",
        text(&o)
    );
    let pages = review(&env, &cfg, &batch_id);
    assert!(page(&pages, 1)["decision"].is_null(), "nothing recorded");
    assert!(util::packages(&env.out()).is_empty(), "nothing packaged");

    let o = decide(&env, &cfg, p1, "keep", "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(util::packages(&env.out()).len(), 1);
    verify(&env, &cfg);
}

/// A dropped page is in no package, so no field is read from it. The
/// class's one field is the word after "point", which the phototest page
/// (1) reads as "text" ("12 point text"). With page 1 dropped, the field
/// comes from another page or goes to keying, never from page 1 (before
/// the fix: "text", page 1).
#[test]
fn no_field_is_read_from_a_dropped_page() {
    let env = Env::new();
    let class = "name = \"whole\"\nsplit = \"batch\"\n\n[[fields]]\nname = \"after_point\"\n\
                 labels = [\"point\"]\npattern = '[a-z]+'\n";
    let cfg = config_with_class(&env, class, "hold = [\"blank\"]");
    let (_, _, batch_id, doc) = held_run(&env, &cfg);
    let pages = review(&env, &cfg, &batch_id);
    let id = |seq| page(&pages, seq)["page_id"].as_i64().unwrap();
    for (seq, decision) in [(1, "drop"), (2, "keep"), (3, "keep")] {
        let o = decide(&env, &cfg, id(seq), decision, "misfed sheet");
        assert!(o.status.success(), "{}", text(&o));
    }
    // Packaged, or waiting for keying if page 4's reading is unsure.
    let waiting = env.out().join(".awaiting-keying").join(&doc);
    let index_path = if waiting.is_dir() {
        waiting.join("data/metadata/index.json")
    } else {
        package_of(&env.out(), &doc).join(INDEX)
    };
    let index = json_file(&index_path);
    assert_eq!(index["dropped_pages"][0]["seq"], 1, "{index:#}");
    let field = &index["fields"]["after_point"];
    assert!(field.is_object(), "the field is listed: {index:#}");
    assert_ne!(
        field["ocr_value"], "text",
        "read from the dropped page: {field:#}"
    );
    assert_ne!(field["page"], 1, "{field:#}");
}
