//! `folio watch` end to end, through the real binary, real SQLite and
//! PostgreSQL and real Tesseract: batches copied in slowly are never taken
//! early; marker, manifest and quiet-period completion; twenty batches at
//! once under two services on one folder; a manifest's page count that
//! differs holds the batch until confirmed; a short disk pauses claiming
//! and it resumes by itself; kill -9 at seeded moments and restarts; every
//! kind of bad input (links included: their targets' bytes appear
//! nowhere); SIGTERM.
//!
//! Pages are small generated PNGs (the sample phototest page, upright,
//! with a unique stamp), so every page has its own SHA-256 and OCR stays
//! quick. The long kill form is `scripts/watch_kill.sh`
//! (`FOLIO_WATCH_KILL_PAGES=100 FOLIO_WATCH_KILLS=10`); the seed is
//! printed and `FOLIO_WATCH_SEED=<n>` replays it.

mod util;

use util::harness::{Rng, Tmpfs, block, entries, wait_for};

use folio::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use util::pg::PgDb;
use util::*;

/// One test's world: a watch folder, an output folder, a settings file
/// with fast completion rules, a store, logs.
struct Site {
    env: Env,
    url: String,
    cfg: PathBuf,
    logs: PathBuf,
    /// Run every `folio` command as `nobody` (setpriv).
    unprivileged: bool,
    _pg: Option<PgDb>,
}

/// `cmd` run as `nobody` through setpriv, with the same arguments,
/// environment and folder.
fn unprivileged(cmd: &Command) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    c.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c
}

impl Site {
    fn new(pg: bool, watch: &str) -> Site {
        let env = Env::new();
        let (url, db) = if pg {
            let db = PgDb::create();
            (db.url.clone(), Some(db))
        } else {
            (env.db_url(), None)
        };
        let cfg = env.dir.path().join("folio.toml");
        std::fs::write(
            &cfg,
            format!(
                "classes_dir = \"{}\"\ndefault_class = \"general\"\n\n[ocr]\nlanguages = \"eng\"\n\n\
                 [ocr.variables]\ntessedit_do_invert = \"0\"\n\n[work]\nlease_seconds = 2\nmax_attempts = 20\n\
                 shutdown_grace_seconds = 3\n\n[watch]\n{watch}\n",
                root().join("config/classes").display()
            ),
        )
        .unwrap();
        let logs = env.dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(env.dir.path().join("watch")).unwrap();
        std::fs::create_dir_all(env.dir.path().join("incoming")).unwrap();
        Site {
            env,
            url,
            cfg,
            logs,
            unprivileged: false,
            _pg: db,
        }
    }

    fn watch_dir(&self) -> PathBuf {
        self.env.dir.path().join("watch")
    }

    /// A folder on the same file system where batches are prepared before
    /// they are dropped (renamed) into the watch folder.
    fn incoming(&self) -> PathBuf {
        self.env.dir.path().join("incoming")
    }

    fn out(&self) -> PathBuf {
        self.env.out()
    }

    fn folio(&self, args: &[&str]) -> Command {
        let mut c = self.env.folio(&[]);
        c.arg("--config")
            .arg(&self.cfg)
            .args(args)
            .env("FOLIO_DATABASE_URL", &self.url);
        if self.unprivileged {
            return unprivileged(&c);
        }
        c
    }

    /// `folio watch WATCH --out OUT EXTRA…`.
    fn watch_cmd(&self, extra: &[&str]) -> Command {
        let (w, o) = (self.watch_dir(), self.out());
        let mut args = vec!["watch", w.to_str().unwrap(), "--out", o.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.folio(&args)
    }

    fn spawn(&self, mut cmd: Command, name: &str) -> Child {
        let file =
            |ext: &str| std::fs::File::create(self.logs.join(format!("{name}.{ext}"))).unwrap();
        cmd.env("FOLIO_LOG", "folio=info")
            .stdin(Stdio::null())
            .stdout(file("out"))
            .stderr(file("err"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start folio ({name}): {e}"))
    }

    fn logs(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.logs)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "err"))
            .collect();
        names.sort();
        let mut s = String::new();
        for p in names {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let chars: Vec<char> = text.chars().collect();
            let tail: String = chars[chars.len().saturating_sub(4000)..].iter().collect();
            s.push_str(&format!(
                "\n--- {} ---\n{tail}",
                p.file_name().unwrap().to_string_lossy()
            ));
        }
        s
    }

    fn status(&self) -> serde_json::Value {
        let out = self.folio(&["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "folio status failed ({:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits until `cond(status)` holds; panics with the logs after `limit`.
    fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let s = self.status();
            if cond(&s) {
                return s;
            }
            if start.elapsed() > limit {
                panic!(
                    "timed out after {limit:?} waiting for {what}\nstatus: {s:#}\nlogs:{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Batches whose every document is packaged.
fn packaged(s: &serde_json::Value) -> usize {
    s["batches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["state"] == "packaged")
        .count()
}

fn batch<'a>(s: &'a serde_json::Value, source: &str) -> Option<&'a serde_json::Value> {
    s["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["source"] == source)
}

/// A small page with text: the sample phototest page upright, with
/// `n` stamped as a row of pixels in its bottom corner (a unique SHA-256).
fn page_png(n: u32, dest: &Path) {
    use std::sync::OnceLock;
    static BASE: OnceLock<image::GrayImage> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let img = image::open(root().join("samples/batch-0001/0005_phototest-upside-down.png"))
            .unwrap()
            .to_luma8();
        image::imageops::rotate180(&img)
    });
    let mut img = base.clone();
    let (w, h) = img.dimensions();
    for bit in 0..32 {
        let v = if n >> bit & 1 == 1 { 0 } else { 255 };
        img.put_pixel(w - 40 + bit, h - 2, image::Luma([v]));
    }
    if let Some(p) = dest.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    img.save_with_format(dest, image::ImageFormat::Png).unwrap();
}

/// Prepares a batch of `pages` one-page files under `incoming/NAME`,
/// numbered from `first`; returns its folder.
fn prepare(site: &Site, name: &str, first: u32, pages: u32) -> PathBuf {
    let dir = site.incoming().join(name);
    for k in 0..pages {
        page_png(first + k, &dir.join(format!("p{:03}.png", k + 1)));
    }
    dir
}

/// Drops a prepared batch into the watch folder in one rename, then its
/// marker (when given), as a scanning station does.
fn drop_batch(site: &Site, prepared: &Path, marker: Option<&str>) -> PathBuf {
    let dest = site.watch_dir().join(prepared.file_name().unwrap());
    std::fs::rename(prepared, &dest).unwrap();
    if let Some(m) = marker {
        std::fs::write(dest.join(m), b"").unwrap();
    }
    dest
}

/// SHA-256 of every file under `dir`, by relative name.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .to_string();
            (rel, sha256(e.path()))
        })
        .collect()
}

/// Every original in every package: (original name, sha256) → packages.
fn packaged_originals(out: &Path) -> BTreeMap<(String, String), Vec<PathBuf>> {
    let mut seen: BTreeMap<(String, String), Vec<PathBuf>> = BTreeMap::new();
    for bag in packages(out) {
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bag.join(util::INDEX)).unwrap()).unwrap();
        let manifest: BTreeMap<String, String> =
            std::fs::read_to_string(bag.join("manifest-sha256.txt"))
                .unwrap()
                .lines()
                .map(|l| {
                    let (sum, path) = l.split_once(char::is_whitespace).unwrap();
                    (path.trim().to_string(), sum.to_string())
                })
                .collect();
        for o in index["originals"].as_array().unwrap() {
            let sha = o["sha256"].as_str().unwrap().to_string();
            let path = o["path"].as_str().unwrap();
            assert_eq!(
                manifest.get(path),
                Some(&sha),
                "{}: manifest vs index",
                bag.display()
            );
            assert_eq!(sha256(&bag.join(path)), sha, "{}: bytes", bag.display());
            seen.entry((o["original_name"].as_str().unwrap().to_string(), sha))
                .or_default()
                .push(bag.clone());
        }
    }
    seen
}

/// Every page of every batch committed exactly once.
fn assert_pages_committed_once(url: &str, ctx: &str) -> usize {
    block(async {
        let store = Store::open(url).await.unwrap();
        let mut n = 0;
        for b in store.batches().await.unwrap() {
            for (page, times) in store.completions_per_page(&b.id).await.unwrap() {
                assert_eq!(
                    times, 1,
                    "page {page} of {} committed {times} times\n{ctx}",
                    b.name
                );
                n += 1;
            }
        }
        store.close().await;
        n
    })
}

fn stop(child: &mut Child) -> Option<ExitStatus> {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_for(child, Duration::from_secs(10))
}

/// Batch folders still in the watch folder (not the service's areas).
fn waiting(site: &Site) -> BTreeSet<String> {
    entries(&site.watch_dir())
        .into_iter()
        .filter(|n| ![".folio", "done", "failed"].contains(&n.as_str()))
        .collect()
}

/// Files in the quarantine folders.
fn quarantined_files(site: &Site) -> Vec<PathBuf> {
    walkdir::WalkDir::new(site.env.data().join("quarantine"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn a_batch_copied_in_slowly_is_not_taken_early() {
    let site = Site::new(false, "quiet_seconds = 2.0\npoll_seconds = 0.2");
    let mut svc = site.spawn(site.watch_cmd(&["--workers", "2"]), "watch");
    std::thread::sleep(Duration::from_millis(500));
    // File by file, then one large file in chunks, every pause shorter
    // than the quiet period.
    let b = site.watch_dir().join("box-slow");
    std::fs::create_dir(&b).unwrap();
    let pause = Duration::from_millis(900);
    let check_untouched = |when: &str| {
        assert!(b.is_dir(), "taken early ({when})\n{}", site.logs());
        assert!(
            quarantined_files(&site).is_empty(),
            "quarantined while copying ({when}): {:?}",
            quarantined_files(&site)
        );
        let s = site.status();
        assert!(s["batches"].as_array().unwrap().is_empty(), "{s:#}");
    };
    for k in 0..3 {
        page_png(100 + k, &site.incoming().join(format!("s{k}.png")));
        std::fs::copy(
            site.incoming().join(format!("s{k}.png")),
            b.join(format!("p{k}.png")),
        )
        .unwrap();
        std::thread::sleep(pause);
        check_untouched(&format!("after file {k}"));
    }
    let big = std::fs::read(shared("tesseract-test/phototest.tif")).unwrap();
    let mut f = std::fs::File::create(b.join("p3-large.tif")).unwrap();
    for (i, chunk) in big.chunks(big.len() / 4 + 1).enumerate() {
        use std::io::Write;
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(pause);
        check_untouched(&format!("after chunk {i}"));
    }
    drop(f);
    let arrival = hashes(&b);
    let s = site.wait_until("the batch packaged", Duration::from_secs(120), |s| {
        packaged(s) == 1
    });
    let bs = batch(&s, "box-slow").expect("listed by the folder name as dropped");
    assert_eq!(bs["pages"]["done"], 4, "{s:#}");
    assert_eq!(bs["quarantined"], serde_json::json!([]), "{s:#}");
    assert!(quarantined_files(&site).is_empty());
    assert!(!b.exists());
    let done = site.watch_dir().join("done");
    let day = entries(&done).into_iter().next().expect("done/<date>/");
    assert_eq!(hashes(&done.join(day).join("box-slow")), arrival);
    let originals = packaged_originals(&site.out());
    for (name, sha) in &arrival {
        assert_eq!(
            originals.get(&(name.clone(), sha.clone())).map(Vec::len),
            Some(1),
            "{name} packaged once with its arrival SHA-256"
        );
    }
    assert_eq!(stop(&mut svc).and_then(|s| s.code()), Some(0));
}

#[test]
fn marker_manifest_and_quiet_period_complete_batches() {
    // A long quiet period: only the marker and the manifest complete.
    let site = Site::new(false, "quiet_seconds = 3600\npoll_seconds = 0.2");
    let with_marker = prepare(&site, "box-marker", 200, 1);
    let with_manifest = prepare(&site, "box-manifest", 210, 2);
    std::fs::write(
        with_manifest.join("batch.toml"),
        "operator = \"li.wei\"\nscanner = \"fi-7160 #2\"\nfonds = \"J001\"\nbox = 42\nvolume = \"3\"\n\
         reference_from = \"J001-2019-0042-0001\"\nreference_to = \"J001-2019-0042-0002\"\nexpected_pages = 2\n",
    )
    .unwrap();
    let plain = prepare(&site, "box-plain", 220, 1);
    let bad_manifest = prepare(&site, "box-bad-manifest", 230, 1);
    std::fs::write(bad_manifest.join("batch.toml"), "expected_pagez = 1\n").unwrap();
    for (dir, marker) in [
        (&with_marker, Some("READY")),
        (&with_manifest, None),
        (&plain, None),
        (&bad_manifest, None),
    ] {
        drop_batch(&site, dir, marker);
    }
    let mut svc = site.spawn(site.watch_cmd(&["--operator", "desk-3"]), "watch-1");
    let s = site.wait_until(
        "marker and manifest batches",
        Duration::from_secs(90),
        |s| packaged(s) == 2 && s["failed_intakes"].as_array().is_some_and(|f| f.len() == 1),
    );
    assert_eq!(waiting(&site), BTreeSet::from(["box-plain".to_string()]));
    let m = batch(&s, "box-manifest").unwrap();
    assert_eq!(m["operator"], "li.wei", "{m:#}");
    assert_eq!(m["manifest"]["fonds"], "J001");
    assert_eq!(m["manifest"]["box"], "42");
    assert_eq!(m["manifest"]["reference_to"], "J001-2019-0042-0002");
    assert_eq!(
        (m["expected_pages"].clone(), m["found_pages"].clone()),
        (2.into(), 2.into())
    );
    assert!(m["held"].is_null());
    assert_eq!(batch(&s, "box-marker").unwrap()["operator"], "desk-3");
    // Who scanned it and where it belongs travel into its packages.
    let infos: Vec<String> = util::packages(&site.out())
        .iter()
        .map(|bag| std::fs::read_to_string(bag.join("bag-info.txt")).unwrap())
        .collect();
    let manifested: Vec<&String> = infos
        .iter()
        .filter(|i| i.contains("Folio-Fonds: J001"))
        .collect();
    assert_eq!(manifested.len(), 2, "{infos:#?}");
    for info in manifested {
        for line in [
            "Folio-Operator: li.wei",
            "Folio-Scanner: fi-7160 #2",
            "Folio-Box: 42",
            "Folio-Volume: 3",
            "Folio-Reference-From: J001-2019-0042-0001",
            "Folio-Reference-To: J001-2019-0042-0002",
        ] {
            assert!(info.contains(line), "{line} missing:\n{info}");
        }
    }
    assert!(
        infos.iter().any(|i| i.contains("Folio-Operator: desk-3")),
        "{infos:#?}"
    );
    // The manifest travels with the folder to done/.
    let day = entries(&site.watch_dir().join("done"))
        .into_iter()
        .next()
        .unwrap();
    let done = site.watch_dir().join("done").join(&day);
    assert!(done.join("box-manifest/batch.toml").is_file());
    assert!(done.join("box-marker/READY").is_file());
    // The bad manifest: failed/ with its reason, nothing ingested.
    let f = &s["failed_intakes"][0];
    assert_eq!(f["source_name"], "box-bad-manifest");
    assert!(
        f["reason"].as_str().unwrap().contains("expected_pagez"),
        "{f:#}"
    );
    let reason =
        std::fs::read_to_string(site.watch_dir().join("failed/box-bad-manifest.reason.txt"))
            .unwrap();
    assert!(reason.contains("expected_pagez"), "{reason}");
    assert!(
        site.watch_dir()
            .join("failed/box-bad-manifest/p001.png")
            .is_file()
    );
    // Operator identity on the batch's events.
    let events = block(async {
        let store = Store::open(&site.url).await.unwrap();
        let id = m["id"].as_str().unwrap();
        let e = store.events("batch", id).await.unwrap();
        store.close().await;
        e
    });
    assert!(
        events
            .iter()
            .any(|e| e.actor == "user:li.wei" && e.to == "received"),
        "{events:?}"
    );
    assert_eq!(
        stop(&mut svc).and_then(|s| s.code()),
        Some(0),
        "{}",
        site.logs()
    );

    // A short quiet period: the plain folder is taken by a restart.
    std::fs::write(
        &site.cfg,
        std::fs::read_to_string(&site.cfg)
            .unwrap()
            .replace("quiet_seconds = 3600", "quiet_seconds = 1"),
    )
    .unwrap();
    // This time the folder comes from [[watch.folders]], with its operator.
    let mut cfg = std::fs::read_to_string(&site.cfg).unwrap();
    cfg.push_str(&format!(
        "\n[[watch.folders]]\nfolder = \"{}\"\nout = \"{}\"\noperator = \"desk-9\"\n",
        site.watch_dir().display(),
        site.out().display()
    ));
    std::fs::write(&site.cfg, cfg).unwrap();
    let mut svc = site.spawn(site.folio(&["watch"]), "watch-2");
    let s = site.wait_until("the quiet batch", Duration::from_secs(90), |s| {
        packaged(s) == 3
    });
    assert!(waiting(&site).is_empty());
    assert_eq!(batch(&s, "box-plain").unwrap()["operator"], "desk-9");
    assert_eq!(
        stop(&mut svc).and_then(|s| s.code()),
        Some(0),
        "{}",
        site.logs()
    );
}

#[test]
fn twenty_batches_at_once_under_two_services_are_each_taken_once() {
    // PostgreSQL: the shared-store case (and its dialect of the intake
    // queries).
    let site = Site::new(true, "quiet_seconds = 1\npoll_seconds = 0.1");
    let mut prepared = Vec::new();
    for i in 0..20 {
        prepared.push(prepare(
            &site,
            &format!("box-{i:02}"),
            1000 + i * 10,
            1 + i % 2,
        ));
    }
    let mut arrival = BTreeMap::new();
    for p in &prepared {
        for (name, sha) in hashes(p) {
            arrival.insert(
                sha,
                (p.file_name().unwrap().to_string_lossy().to_string(), name),
            );
        }
    }
    let pages = arrival.len();
    let mut a = site.spawn(site.watch_cmd(&["--workers", "1"]), "watch-a");
    // b only takes batches in; a also works every page.
    let mut b = site.spawn(site.watch_cmd(&["--no-work"]), "watch-b");
    std::thread::sleep(Duration::from_millis(800));
    for (i, p) in prepared.iter().enumerate() {
        // Half with a marker, half complete by the quiet period.
        drop_batch(&site, p, (i % 2 == 0).then_some("READY"));
    }
    let s = site.wait_until("20 batches packaged", Duration::from_secs(300), |s| {
        packaged(s) == 20
    });
    assert_eq!(s["batches"].as_array().unwrap().len(), 20, "{s:#}");
    let sources: BTreeSet<String> = s["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sources.len(), 20, "each folder one batch: {sources:?}");
    assert!(waiting(&site).is_empty());
    let day = entries(&site.watch_dir().join("done"))
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(entries(&site.watch_dir().join("done").join(day)).len(), 20);
    assert!(entries(&site.watch_dir().join(".folio/claimed")).is_empty());
    let committed = assert_pages_committed_once(&site.url, &site.logs());
    assert_eq!(committed, pages);
    let originals = packaged_originals(&site.out());
    assert_eq!(originals.len(), pages);
    for ((name, sha), bags) in &originals {
        assert_eq!(bags.len(), 1, "{name} in {bags:?}");
        assert!(arrival.contains_key(sha), "{name}: {sha} is no arrival");
    }
    // Both services took part (each claims what it sees first).
    let (ea, eb) = (
        std::fs::read_to_string(site.logs.join("watch-a.err")).unwrap(),
        std::fs::read_to_string(site.logs.join("watch-b.err")).unwrap(),
    );
    let (ta, tb) = (
        ea.matches("claimed as").count(),
        eb.matches("claimed as").count(),
    );
    assert_eq!(ta + tb, 20, "claims: {ta} + {tb}\n{}", site.logs());
    eprintln!("claims: service a {ta}, service b {tb}");
    assert_eq!(stop(&mut a).and_then(|s| s.code()), Some(0));
    assert_eq!(stop(&mut b).and_then(|s| s.code()), Some(0));
    let eb = std::fs::read_to_string(site.logs.join("watch-b.err")).unwrap();
    assert!(eb.contains(&format!("{tb} batch(es) taken")), "{eb}");
    assert!(!eb.contains("page(s) and"), "--no-work worked pages: {eb}");
    let s = site.status();
    assert!(s["watchers"].as_array().unwrap().is_empty(), "{s:#}");
}

#[test]
fn a_page_count_that_differs_from_the_manifest_holds_the_batch_until_confirmed() {
    held_until_confirmed(false, Release::Confirm);
}

#[test]
fn a_held_batch_waits_for_confirmation_on_postgres_too() {
    held_until_confirmed(true, Release::Confirm);
}

#[test]
fn a_held_batch_is_released_when_every_page_count_flag_is_decided() {
    held_until_confirmed(false, Release::DecideEveryPage);
}

/// How the operator lets a batch held for its page count go.
#[derive(PartialEq)]
enum Release {
    /// `folio batch confirm`.
    Confirm,
    /// `folio review decide PAGE keep` on each page the count flagged.
    DecideEveryPage,
}

fn held_until_confirmed(pg: bool, release: Release) {
    let site = Site::new(pg, "quiet_seconds = 3600\npoll_seconds = 0.2");
    let p = prepare(&site, "box-short", 300, 2);
    std::fs::write(
        p.join("batch.toml"),
        "operator = \"wang.fang\"\nexpected_pages = 3\n",
    )
    .unwrap();
    drop_batch(&site, &p, None);
    let mut svc = site.spawn(site.watch_cmd(&[]), "watch");
    let s = site.wait_until("pages worked", Duration::from_secs(90), |s| {
        batch(s, "box-short")
            .is_some_and(|b| b["pages"]["done"] == 2 && b["documents"]["finishing"] == 2)
    });
    let b = batch(&s, "box-short").unwrap();
    let held = b["held"].as_str().expect("held");
    assert!(
        held.contains("found 2") && held.contains("expected 3"),
        "{held}"
    );
    assert_eq!(
        (b["expected_pages"].clone(), b["found_pages"].clone()),
        (3.into(), 2.into())
    );
    // Still not packaged a while later.
    std::thread::sleep(Duration::from_secs(3));
    let s = site.status();
    let b = batch(&s, "box-short").unwrap();
    assert_eq!(b["documents"]["packaged"], 0, "{s:#}");
    assert!(packages(&site.out()).is_empty());
    let text = site.folio(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("HELD: ") && text.contains("expected 3"),
        "{text}"
    );

    let batch_id = b["id"].as_str().unwrap().to_string();
    // A command the operator runs, which must succeed.
    let as_operator = |args: &[&str]| {
        let out = site
            .folio(args)
            .env("FOLIO_USER", "wang.fang")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if release == Release::Confirm {
        as_operator(&["batch", "confirm", "box-short"]);
    } else {
        let list = site
            .folio(&["review", "list", &batch_id, "--json"])
            .output()
            .unwrap();
        assert!(list.status.success(), "{list:?}");
        let pages: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
        let counted: Vec<i64> = pages
            .iter()
            .filter(|p| {
                p["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["flag"] == "page_count"))
            })
            .map(|p| p["page_id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            counted.len(),
            2,
            "every page carries the count flag: {pages:#?}"
        );
        for (i, page) in counted.iter().enumerate() {
            if i == 1 {
                // One page decided: the batch stays held.
                std::thread::sleep(Duration::from_secs(2));
                assert!(packages(&site.out()).is_empty(), "held after one decision");
                let s = site.status();
                assert!(batch(&s, "box-short").unwrap()["held"].is_string(), "{s:#}");
            }
            as_operator(&[
                "review",
                "decide",
                &page.to_string(),
                "keep",
                "--reason",
                "page 3 was never scanned: a blank back",
            ]);
        }
    }
    let s = site.wait_until("packaged after release", Duration::from_secs(60), |s| {
        packaged(s) == 1
    });
    let b = batch(&s, "box-short").unwrap();
    assert!(b["held"].is_null());
    assert_eq!(packages(&site.out()).len(), 2);
    let events = block(async {
        let store = Store::open(&site.url).await.unwrap();
        let e = store
            .events("batch", b["id"].as_str().unwrap())
            .await
            .unwrap();
        store.close().await;
        e
    });
    let why = match release {
        Release::Confirm => "confirmed",
        Release::DecideEveryPage => "every page_count flag decided",
    };
    assert!(
        events
            .iter()
            .any(|e| e.actor == "user:wang.fang" && e.reason.contains(why)),
        "{events:?}"
    );
    assert_eq!(stop(&mut svc).and_then(|s| s.code()), Some(0));
}

#[test]
fn a_short_disk_pauses_claims_until_space_returns() {
    let site = Site::new(false, "quiet_seconds = 1\npoll_seconds = 0.2");
    let out = site.out();
    std::fs::create_dir_all(&out).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&out)
        .output();
    if !matches!(&mount, Ok(o) if o.status.success()) {
        eprintln!("\n******** SKIPPED: needs root to mount tmpfs ********\n");
        return;
    }
    let _guard = Tmpfs(out.clone());
    // Leave ~200 KiB free: less than the batch and its derived pages.
    let free = folio::objects::free_bytes(&out).unwrap();
    let filler = out.join("filler.bin");
    std::fs::write(&filler, vec![1u8; (free - 200 * 1024) as usize]).unwrap();
    let mut svc = site.spawn(site.watch_cmd(&[]), "watch");
    let p = prepare(&site, "box-big", 400, 3);
    let arrival = hashes(&p);
    drop_batch(&site, &p, Some("READY"));
    let s = site.wait_until("paused", Duration::from_secs(30), |s| {
        s["paused"].is_string()
    });
    let why = s["paused"].as_str().unwrap();
    assert!(why.starts_with("disk space, need "), "{why}");
    assert!(why.contains(", have "), "{why}");
    let text = site.folio(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("paused: disk space, need "), "{text}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        waiting(&site),
        BTreeSet::from(["box-big".to_string()]),
        "not claimed"
    );
    assert!(s["batches"].as_array().unwrap().is_empty());
    assert!(
        site.logs().contains("paused: disk space"),
        "said in the log"
    );
    std::fs::remove_file(&filler).unwrap();
    let s = site.wait_until("resumed and packaged", Duration::from_secs(90), |s| {
        packaged(s) == 1 && s["paused"].is_null()
    });
    assert_eq!(batch(&s, "box-big").unwrap()["pages"]["done"], 3);
    let originals = packaged_originals(&out);
    for (name, sha) in &arrival {
        assert_eq!(
            originals.get(&(name.clone(), sha.clone())).map(Vec::len),
            Some(1)
        );
    }
    assert_eq!(stop(&mut svc).and_then(|s| s.code()), Some(0));
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn kill_9_at_seeded_moments_loses_and_doubles_no_page() {
    let pages = env_num("FOLIO_WATCH_KILL_PAGES", 20) as u32;
    let kills = env_num("FOLIO_WATCH_KILLS", 4);
    let seed = env_num("FOLIO_WATCH_SEED", 0x00F0_110C_0FFE_E5ED).max(1);
    let mut rng = Rng(seed);
    let site = Site::new(false, "quiet_seconds = 0.5\npoll_seconds = 0.1");
    // Batches of 5 pages, dropped while the service runs and dies.
    let per = 5;
    let mut arrival: BTreeMap<String, String> = BTreeMap::new();
    let mut batches = Vec::new();
    for i in 0..pages.div_ceil(per) {
        let n = per.min(pages - i * per);
        let p = prepare(&site, &format!("box-{i:03}"), 5000 + i * per, n);
        for (name, sha) in hashes(&p) {
            arrival.insert(sha, format!("box-{i:03}/{name}"));
        }
        batches.push(p);
    }
    let mut story = format!("seed {seed:#x} (FOLIO_WATCH_SEED), {pages} pages, {kills} kills");
    eprintln!("{story}");
    let mut to_drop = batches.iter();
    for k in 0..kills {
        // Drop a share of the batches, then kill at a random moment.
        for _ in 0..(batches.len() as u64).div_ceil(kills).max(1) {
            if let Some(p) = to_drop.next() {
                drop_batch(&site, p, rng.next().is_multiple_of(2).then_some("READY"));
            }
        }
        let name = format!("watch-{k}");
        let mut child = site.spawn(site.watch_cmd(&["--workers", "2"]), &name);
        // A third of the kills come the moment a folder is claimed (mid
        // ingest), the others at a random moment of the work.
        let started = Instant::now();
        let when = if rng.next().is_multiple_of(3) {
            let claimed = site.watch_dir().join(".folio/claimed");
            let before = entries(&claimed);
            while entries(&claimed).is_subset(&before)
                && started.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            "at a claim"
        } else {
            std::thread::sleep(Duration::from_secs_f64(0.2 + rng.unit() * 1.8));
            "at random"
        };
        let delay = started.elapsed().as_secs_f64();
        let _ = child.kill();
        let _ = child.wait();
        let s = site.status();
        story.push_str(&format!(
            "\n  run {k}: SIGKILL {when} at {delay:.2} s → {} batch(es), {} packaged, waiting {:?}",
            s["batches"].as_array().unwrap().len(),
            packaged(&s),
            waiting(&site)
        ));
        eprintln!("{}", story.lines().last().unwrap());
    }
    for p in to_drop {
        drop_batch(&site, p, Some("READY"));
    }
    let mut last = site.spawn(site.watch_cmd(&["--workers", "2"]), "watch-final");
    let n = batches.len();
    let s = site.wait_until(
        &format!("every batch packaged\n{story}"),
        Duration::from_secs(60 + 6 * pages as u64),
        |s| packaged(s) == n,
    );
    assert_eq!(s["batches"].as_array().unwrap().len(), n, "{story}\n{s:#}");
    assert!(waiting(&site).is_empty(), "{story}");
    assert!(
        entries(&site.watch_dir().join(".folio/claimed")).is_empty(),
        "{story}"
    );
    let committed = assert_pages_committed_once(&site.url, &story);
    assert_eq!(committed, pages as usize, "{story}");
    let originals = packaged_originals(&site.out());
    assert_eq!(originals.len(), arrival.len(), "{story}");
    for ((name, sha), bags) in &originals {
        assert_eq!(bags.len(), 1, "{name} in {bags:?}\n{story}");
        assert!(
            arrival.contains_key(sha),
            "{name}: {sha} is no arrival\n{story}"
        );
    }
    for b in s["batches"].as_array().unwrap() {
        assert_eq!(b["quarantined"], serde_json::json!([]), "{story}\n{b:#}");
    }
    assert_eq!(stop(&mut last).and_then(|s| s.code()), Some(0), "{story}");
}

/// A PNG that declares 60,000 × 60,000 pixels in a few dozen bytes.
fn bomb_png() -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // zlib: a stored block of zeros (the decoder would ask for 3.6 GB).
    let zeros = [0u8; 64];
    let mut z = vec![0x78, 0x01, 0x01, 64, 0, !64u8, 0xFF];
    z.extend_from_slice(&zeros);
    z.extend_from_slice(&[0, 0x40, 0, 1]);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// The secret a link points at: bytes that must appear nowhere Folio writes.
const SECRET: &[u8] = b"FOLIO-TEST-SECRET-c0ffee-5ee-d0c-never-copy-me";

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path()).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        })
        .map(|e| e.into_path())
        .collect()
}

/// A batch holding every kind of bad input next to two good pages;
/// returns `(folder, expected reasons by name, skipped names)`.
fn bad_batch(site: &Site, name: &str, first: u32) -> (PathBuf, Vec<(String, &'static str)>) {
    use std::os::unix::ffi::OsStrExt;
    let dir = prepare(site, name, first, 2);
    let secrets = site.env.dir.path().join(format!("elsewhere-{name}"));
    std::fs::create_dir_all(&secrets).unwrap();
    let secret = secrets.join("shadow");
    std::fs::write(&secret, SECRET).unwrap();
    let tiff = secrets.join("scan.tif");
    std::fs::copy(shared("tesseract-test/eurotext.tif"), &tiff).unwrap();
    let sub = secrets.join("subdir");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("inner.txt"), SECRET).unwrap();
    let fifo_outside = secrets.join("fifo");
    let mk = |p: &Path| {
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        assert_eq!(
            unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
            0,
            "mkfifo {}",
            p.display()
        );
    };
    mk(&fifo_outside);

    let w = |n: &str, b: &[u8]| std::fs::write(dir.join(n), b).unwrap();
    w("zero.png", b"");
    let good = std::fs::read(dir.join("p001.png")).unwrap();
    w("truncated.png", &good[..good.len() / 3]);
    w(
        "corrupt.tif",
        b"II*\0\x08\0\0\0garbage that is no image directory at all",
    );
    w(
        "notes.png",
        b"this is a text file with an image extension\n",
    );
    w("bomb.png", &bomb_png());
    // Good content, wrong extension: taken by its content.
    page_png(first + 50, &dir.join("wrong-extension.tif"));
    // A good page under a name that is not UTF-8.
    page_png(
        first + 51,
        &dir.join(std::ffi::OsStr::from_bytes(b"scan-\xff\xfe.png")),
    );
    // A nested folder with a good page.
    page_png(first + 52, &dir.join("sub/nested.png"));
    // Skipped by rule.
    w("~$draft.tif", b"office lock file");
    w(".DS_Store", b"mac litter");
    w("Thumbs.db", b"windows litter");
    // Links and special files: never read.
    std::os::unix::fs::symlink(&secret, dir.join("secret.png")).unwrap();
    std::os::unix::fs::symlink(&tiff, dir.join("linked-scan.tif")).unwrap();
    std::os::unix::fs::symlink(&sub, dir.join("linked-dir")).unwrap();
    std::fs::hard_link(&secret, dir.join("hardlinked-secret.png")).unwrap();
    std::fs::hard_link(&fifo_outside, dir.join("hardlinked-fifo.png")).unwrap();
    mk(&dir.join("fifo.png"));
    let dev = std::ffi::CString::new(dir.join("device.png").as_os_str().as_bytes()).unwrap();
    let made = unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 3)) };
    let mut expect = vec![
        ("zero.png".to_string(), ""),
        ("truncated.png".into(), ""),
        ("corrupt.tif".into(), ""),
        ("notes.png".into(), ""),
        ("bomb.png".into(), "max_side"),
        ("secret.png".into(), "symbolic link"),
        ("linked-scan.tif".into(), "symbolic link"),
        ("linked-dir".into(), "symbolic link"),
        ("hardlinked-secret.png".into(), "hard link"),
        ("hardlinked-fifo.png".into(), "not a regular file"),
        ("fifo.png".into(), "not a regular file"),
    ];
    if made == 0 {
        expect.push(("device.png".into(), "not a regular file"));
    } else {
        eprintln!("NOTE: mknod refused (not root?): the device case is not tested here");
    }
    (dir, expect)
}

fn check_bad_batch_outcome(
    site: &Site,
    quarantined: &serde_json::Value,
    expect: &[(String, &str)],
    skipped: &serde_json::Value,
) {
    let reasons: BTreeMap<String, String> = quarantined
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["name"].as_str().unwrap().to_string(),
                q["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, needle) in expect {
        let r = reasons
            .get(name)
            .unwrap_or_else(|| panic!("{name} not quarantined: {reasons:#?}"));
        assert!(!r.is_empty() && r.contains(needle), "{name}: {r}");
    }
    assert_eq!(reasons.len(), expect.len(), "{reasons:#?}");
    let skipped: BTreeSet<&str> = skipped
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        skipped,
        BTreeSet::from(["~$draft.tif", ".DS_Store", "Thumbs.db"]),
        "skipped by rule"
    );
    for dir in [site.env.data(), site.out()] {
        let found = files_containing(&dir, SECRET);
        assert!(found.is_empty(), "a link's target was copied: {found:?}");
    }
}

#[test]
fn bad_input_is_quarantined_and_the_rest_of_the_batch_packaged() {
    let site = Site::new(false, "quiet_seconds = 1\npoll_seconds = 0.2");
    let (dir, expect) = bad_batch(&site, "box-bad", 600);
    let mut svc = site.spawn(site.watch_cmd(&["--workers", "2"]), "watch");
    drop_batch(&site, &dir, Some("READY"));
    let s = site.wait_until("the bad batch finished", Duration::from_secs(120), |s| {
        packaged(s) == 1
    });
    let b = batch(&s, "box-bad").unwrap();
    // Two good pages, the wrong extension, the non-UTF-8 name, the nested one.
    assert_eq!(b["pages"]["done"], 5, "{b:#}");
    assert_eq!(b["documents"]["packaged"], 5, "{b:#}");
    check_bad_batch_outcome(&site, &b["quarantined"], &expect, &b["skipped"]);
    let text = site.folio(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("quarantined: secret.png: is a symbolic link"),
        "{text}"
    );
    // The service goes on: the next batch is taken, even under a folder
    // name that is not UTF-8 (listed in its readable form).
    let next = prepare(&site, "box-next", 690, 1);
    let odd = site
        .watch_dir()
        .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"box-\xffnext"));
    std::fs::rename(&next, &odd).unwrap();
    std::fs::write(odd.join("READY"), b"").unwrap();
    let s = site.wait_until("the next batch", Duration::from_secs(60), |s| {
        packaged(s) == 2
    });
    assert!(batch(&s, "box-\u{fffd}next").is_some(), "{s:#}");
    assert!(waiting(&site).is_empty());
    assert_eq!(stop(&mut svc).and_then(|s| s.code()), Some(0));

    // `folio run` refuses the same links unread.
    let run_site = Site::new(false, "");
    let (dir, expect) = bad_batch(&run_site, "box-bad-run", 700);
    let out = run_site.out();
    let o = run_site
        .folio(&[
            "run",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let q: Vec<serde_json::Value> = summary["intake"]["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| serde_json::json!({"name": q["name"], "reason": q["reason"]}))
        .collect();
    check_bad_batch_outcome(
        &run_site,
        &serde_json::Value::Array(q),
        &expect,
        &summary["intake"]["ignored"],
    );
    assert_eq!(summary["pages"], 5);
}

#[test]
fn an_unreadable_file_is_quarantined_when_the_service_runs_unprivileged() {
    // Root reads any file: the service (and every folio command of the
    // test, so the store's files stay its own) runs as `nobody`.
    let mut site = Site::new(false, "quiet_seconds = 1\npoll_seconds = 0.2");
    let dir = prepare(&site, "box-perm", 800, 2);
    page_png(899, &dir.join("locked.png"));
    std::fs::set_permissions(
        dir.join("locked.png"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(site.env.dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(site.env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    site.unprivileged = true;
    let cmd = site.watch_cmd(&[]);
    let mut svc = site.spawn(cmd, "watch");
    drop_batch(&site, &dir, Some("READY"));
    let s = site.wait_until("the batch finished", Duration::from_secs(90), |s| {
        s["batches"].as_array().is_some_and(|b| b.len() == 1) && packaged(s) == 1
    });
    let b = batch(&s, "box-perm").unwrap();
    assert_eq!(b["pages"]["done"], 2, "{b:#}");
    let q = &b["quarantined"][0];
    assert_eq!(q["name"], "locked.png", "{b:#}");
    assert!(
        q["reason"].as_str().unwrap().contains("Permission denied"),
        "{q:#}"
    );
    assert_eq!(
        stop(&mut svc).and_then(|s| s.code()),
        Some(0),
        "{}",
        site.logs()
    );
}

#[test]
fn sigterm_stops_within_ten_seconds_and_a_restart_continues() {
    let site = Site::new(false, "quiet_seconds = 1\npoll_seconds = 0.2");
    let p = prepare(&site, "box-term", 900, 8);
    let arrival = hashes(&p);
    let mut svc = site.spawn(site.watch_cmd(&["--workers", "1"]), "watch-1");
    drop_batch(&site, &p, Some("READY"));
    site.wait_until("pages under way", Duration::from_secs(60), |s| {
        batch(s, "box-term").is_some_and(|b| b["pages"]["done"].as_i64() >= Some(1))
    });
    let t = Instant::now();
    let code = stop(&mut svc);
    assert_eq!(
        code.and_then(|s| s.code()),
        Some(0),
        "exit 0 within 10 s\n{}",
        site.logs()
    );
    eprintln!("stopped in {:.1} s", t.elapsed().as_secs_f64());
    let s = site.status();
    let b = batch(&s, "box-term").unwrap();
    assert_eq!(b["pages"]["leased"], 0, "leases given back: {b:#}");
    assert!(s["watchers"].as_array().unwrap().is_empty());
    assert!(
        b["pages"]["queued"].as_i64().unwrap() > 0,
        "stopped mid-batch (make the batch longer if this fails): {b:#}"
    );
    let mut svc = site.spawn(site.watch_cmd(&["--workers", "2"]), "watch-2");
    site.wait_until("finished after restart", Duration::from_secs(90), |s| {
        packaged(s) == 1
    });
    assert_pages_committed_once(&site.url, &site.logs());
    let originals = packaged_originals(&site.out());
    for (name, sha) in &arrival {
        assert_eq!(
            originals.get(&(name.clone(), sha.clone())).map(Vec::len),
            Some(1)
        );
    }
    assert_eq!(stop(&mut svc).and_then(|s| s.code()), Some(0));
}
