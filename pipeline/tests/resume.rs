//! Crashes and company, through the real `folio` binary: runs killed with
//! SIGKILL at seeded random moments and rerun, several workers sharing a
//! store with one killed midway, two runs of one folder at once, a worker
//! stopped by SIGTERM, an ingest refused for want of space, and class
//! files refused before anything is recorded. After each story: every
//! original is in exactly one valid package with its arrival SHA-256,
//! nothing is left in staging, every page is done and committed once.
//!
//! The long form (40 pages, 10 kills, both backends) is
//! `scripts/kill_resume.sh`. `FOLIO_RESUME_SEED=<n>` replays a kill
//! sequence; the seed is printed by every kill test.

mod util;

use util::harness::{Rng, Tmpfs, block, entries, wait_for};

use folio::store::{BatchRow, DocumentRow, FileRow, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use util::pg::PgDb;
use util::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// One test's world: temp folders, a settings file, a store (SQLite in the
/// data folder or a throw-away PostgreSQL database), a folder of logs.
struct Site {
    env: Env,
    url: String,
    cfg: PathBuf,
    /// FOLIO_OBJECTS_DIR for every command, when set.
    objects: Option<PathBuf>,
    logs: PathBuf,
    _pg: Option<PgDb>,
}

impl Site {
    /// `work` is the `[work]` table's body, e.g. `lease_seconds = 2`.
    fn new(backend: Backend, work: &str) -> Site {
        let env = Env::new();
        let (url, pg) = match backend {
            Backend::Sqlite => (env.db_url(), None),
            Backend::Postgres => {
                let db = PgDb::create();
                (db.url.clone(), Some(db))
            }
        };
        let cfg = env.dir.path().join("folio.toml");
        let text = format!(
            "classes_dir = \"{}\"\ndefault_class = \"general\"\n\n[ocr]\nlanguages = \"eng\"\n\n\
             [ocr.variables]\ntessedit_do_invert = \"0\"\n\n[work]\n{work}\n",
            root().join("config/classes").display()
        );
        std::fs::write(&cfg, text).unwrap();
        let logs = env.dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        Site {
            env,
            url,
            cfg,
            objects: None,
            logs,
            _pg: pg,
        }
    }

    fn out(&self) -> PathBuf {
        self.env.out()
    }

    /// `folio --config CFG ARGS` on this site's store.
    fn folio(&self, args: &[&str]) -> Command {
        let mut c = self.env.folio(&[]);
        c.arg("--config")
            .arg(&self.cfg)
            .args(args)
            .env("FOLIO_DATABASE_URL", &self.url);
        if let Some(o) = &self.objects {
            c.env("FOLIO_OBJECTS_DIR", o);
        }
        c
    }

    /// `folio run BATCH --out OUT --json --quiet EXTRA…`.
    fn run_cmd(&self, batch: &Path, extra: &[&str]) -> Command {
        let out = self.out();
        let mut args = vec![
            "run",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        self.folio(&args)
    }

    /// Starts a command with stdout and stderr in `logs/NAME.out|err`.
    fn spawn(&self, mut cmd: Command, name: &str) -> Child {
        let file =
            |ext: &str| std::fs::File::create(self.logs.join(format!("{name}.{ext}"))).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(file("out"))
            .stderr(file("err"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start folio ({name}): {e}"))
    }

    fn log(&self, name: &str, ext: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.{ext}"))).unwrap_or_default()
    }

    /// The tail of every stderr log, for failure messages.
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
            let tail: String = {
                let chars: Vec<char> = text.chars().collect();
                chars[chars.len().saturating_sub(3000)..].iter().collect()
            };
            s.push_str(&format!(
                "\n--- {} ---\n{}",
                p.file_name().unwrap().to_string_lossy(),
                tail
            ));
        }
        s
    }

    /// `folio status --json`.
    fn status(&self) -> serde_json::Value {
        let out = self.folio(&["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "folio status failed ({:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "folio status printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn view(&self) -> View {
        view(&self.url)
    }
}

/// What the store says, read directly.
#[derive(Debug)]
struct View {
    batches: Vec<BatchRow>,
    documents: Vec<DocumentRow>,
    files: Vec<FileRow>,
    /// `(page id, times committed)` of every page of every batch.
    completions: Vec<(i64, i64)>,
}

fn view(url: &str) -> View {
    block(async {
        let store = Store::open(url).await.unwrap();
        let batches = store.batches().await.unwrap();
        let (mut documents, mut files, mut completions) = (Vec::new(), Vec::new(), Vec::new());
        for b in &batches {
            documents.extend(store.documents(&b.id).await.unwrap());
            files.extend(store.files(&b.id).await.unwrap());
            completions.extend(store.completions_per_page(&b.id).await.unwrap());
        }
        store.close().await;
        View {
            batches,
            documents,
            files,
            completions,
        }
    })
}

/// Every event of one thing (`entity` = page, document, …), oldest first.
fn history(url: &str, entity: &str, id: &str) -> Vec<folio::store::Event> {
    block(async {
        let store = Store::open(url).await.unwrap();
        let ev = store.events(entity, id).await.unwrap();
        store.close().await;
        ev
    })
}

fn page_history(url: &str, page: i64) -> Vec<folio::store::Event> {
    history(url, "page", &page.to_string())
}

fn describe(events: &[folio::store::Event]) -> String {
    events
        .iter()
        .map(|e| format!("  {} {} {:?}→{}: {}", e.at, e.actor, e.from, e.to, e.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

fn seed() -> u64 {
    std::env::var("FOLIO_RESUME_SEED")
        .ok()
        .and_then(|s| {
            s.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| s.parse().ok())
        })
        .unwrap_or(0x00F0_110C_0FFE_E5ED)
        .max(1)
}

/// The small batch of the kill tests: five files, six pages (one
/// two-page TIFF), quick to recognise.
fn small_batch(site: &Site, name: &str) -> (PathBuf, usize) {
    let s = root().join("samples/batch-0001");
    let dir = make_batch(
        &site.env,
        name,
        &[
            (&shared("tesseract-test/phototest.tif"), "a-phototest.tif"),
            (&s.join("0006_eurotext-skew-3.tif"), "b-eurotext-skew.tif"),
            (&s.join("0008_two-page.tif"), "c-two-page.tif"),
            (
                &s.join("0005_phototest-upside-down.png"),
                "d-upside-down.png",
            ),
            (
                &shared("tesseract-test/phototest-rotated-L.png"),
                "e-turned-left.png",
            ),
        ],
    );
    (dir, 6)
}

/// Four one-page files.
fn four_pages(site: &Site, name: &str) -> (PathBuf, usize) {
    let s = root().join("samples/batch-0001");
    let dir = make_batch(
        &site.env,
        name,
        &[
            (&shared("tesseract-test/phototest.tif"), "a-phototest.tif"),
            (&s.join("0006_eurotext-skew-3.tif"), "b-eurotext-skew.tif"),
            (
                &s.join("0005_phototest-upside-down.png"),
                "c-upside-down.png",
            ),
            (
                &shared("tesseract-test/phototest-rotated-L.png"),
                "d-turned-left.png",
            ),
        ],
    );
    (dir, 4)
}

/// Reads `manifest-sha256.txt` into path → checksum.
fn manifest(bag: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(bag.join("manifest-sha256.txt"))
        .unwrap_or_else(|e| panic!("{}: no manifest: {e}", bag.display()))
        .lines()
        .map(|l| {
            let (sum, path) = l.split_once(char::is_whitespace).unwrap();
            (path.trim().to_string(), sum.to_string())
        })
        .collect()
}

/// Temporary files (`.NAME.tmp-…`) a killed process left under `dir`.
fn temp_leftovers(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .map(|e| e.into_path())
        .collect()
}

/// The end state every story must reach: the one batch packaged, every
/// page done and committed once, one valid package per document, every
/// original of the input folder in exactly one package's manifest with
/// its arrival SHA-256, staging empty.
fn check_finished(site: &Site, input: &Path, pages: usize, ctx: &str) {
    let ctx = format!("{ctx}\nfolio logs:{}", site.logs());

    // `folio status` as an operator sees it.
    let status = site.status();
    let batches = status["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1, "one batch: {status:#}\n{ctx}");
    let b = &batches[0];
    assert_eq!(b["state"], "packaged", "{status:#}\n{ctx}");
    let p = &b["pages"];
    assert_eq!(
        (&p["queued"], &p["leased"], &p["failed"]),
        (&0.into(), &0.into(), &0.into()),
        "{status:#}\n{ctx}"
    );
    assert_eq!(
        p["done"], pages as i64,
        "every page done: {status:#}\n{ctx}"
    );
    assert_eq!(
        b["leases"].as_array().map(Vec::len),
        Some(0),
        "no lease left: {status:#}\n{ctx}"
    );

    // The store: documents final, each page committed exactly once.
    let v = site.view();
    assert_eq!(v.batches.len(), 1, "{ctx}");
    assert_eq!(v.completions.len(), pages, "{:?}\n{ctx}", v.completions);
    for (page, n) in &v.completions {
        if *n != 1 {
            panic!(
                "page {page} was committed {n} times (must be once):\n{}\n{ctx}",
                describe(&page_history(&site.url, *page))
            );
        }
    }
    for d in &v.documents {
        assert_eq!(d.state, "packaged", "{d:?}\n{ctx}");
    }
    for f in &v.files {
        assert_eq!(f.state.as_str(), "processed", "{f:?}\n{ctx}");
    }

    // The packages on disk.
    let out = site.out();
    let bags = packages(&out);
    assert_eq!(
        bags.len(),
        v.documents.len(),
        "one package per document: {bags:?} vs {:?}\n{ctx}",
        v.documents
    );
    let doc_paths: BTreeSet<PathBuf> = v
        .documents
        .iter()
        .map(|d| PathBuf::from(d.package_path.clone().unwrap_or_default()))
        .collect();
    let canon_out = out.canonicalize().unwrap();
    for bag in &bags {
        assert!(
            doc_paths.contains(&canon_out.join(bag.strip_prefix(&out).unwrap())),
            "{} is no document's package ({doc_paths:?})\n{ctx}",
            bag.display()
        );
    }
    let mut seen: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut pages_seen = 0;
    for bag in &bags {
        bagit_validate(bag);
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bag.join(util::INDEX)).unwrap()).unwrap();
        let sums = manifest(bag);
        for o in index["originals"].as_array().unwrap() {
            let name = o["original_name"].as_str().unwrap().to_string();
            let path = o["path"].as_str().unwrap();
            let arrival = sha256(&input.join(&name));
            assert_eq!(
                sums.get(path),
                Some(&arrival),
                "{name} in {}: manifest vs arrival SHA-256\n{ctx}",
                bag.display()
            );
            assert_eq!(o["sha256"].as_str(), Some(arrival.as_str()), "{ctx}");
            seen.entry(name).or_default().push(bag.clone());
        }
        pages_seen += index["pages"].as_array().unwrap().len();
    }
    let inputs: BTreeSet<String> = std::fs::read_dir(input)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        inputs,
        "every original packaged\n{ctx}"
    );
    assert_eq!(
        v.documents.len(),
        inputs.len(),
        "one document per file (class general)\n{ctx}"
    );
    for (name, in_bags) in &seen {
        assert_eq!(in_bags.len(), 1, "{name} is in {in_bags:?}\n{ctx}");
    }
    assert_eq!(pages_seen, pages, "pages in the indexes\n{ctx}");

    // Nothing half-made left behind.
    let staging: Vec<_> = std::fs::read_dir(out.join(".staging"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "staging not empty: {staging:?}\n{ctx}");
    for aside in [".partial", ".failed", ".awaiting-keying"] {
        assert!(
            !out.join(aside).exists(),
            "{aside} exists: {:?}\n{ctx}",
            std::fs::read_dir(out.join(aside)).map(|r| r.count())
        );
    }
}

/// Seconds a full, uninterrupted `folio run` of the small batch takes
/// here (measured once, on SQLite, shared by the kill tests).
fn full_run_seconds() -> f64 {
    static MEASURED: OnceLock<f64> = OnceLock::new();
    *MEASURED.get_or_init(|| {
        let site = Site::new(Backend::Sqlite, "lease_seconds = 2");
        let (batch, pages) = small_batch(&site, "measure");
        let start = Instant::now();
        let out = site.run_cmd(&batch, &["--workers", "2"]).output().unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "the uninterrupted run failed ({:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        check_finished(&site, &batch, pages, "uninterrupted reference run");
        eprintln!("full run of the small batch: {secs:.1} s");
        secs
    })
}

/// What the store and disk hold right after a kill.
fn moment(site: &Site) -> String {
    let staging = std::fs::read_dir(site.out().join(".staging"))
        .map(|r| r.count())
        .unwrap_or(0);
    let packages = packages(&site.out()).len();
    let status = site.status();
    match status["batches"].as_array().and_then(|b| b.first()) {
        None => format!("nothing recorded yet (ingest); {packages} packages"),
        Some(b) => {
            let (p, d) = (&b["pages"], &b["documents"]);
            format!(
                "pages q{} l{} d{} · docs q{} finishing{} packaged{} · {staging} in staging · {packages} packages",
                p["queued"], p["leased"], p["done"], d["queued"], d["finishing"], d["packaged"]
            )
        }
    }
}

/// When a kill comes: after a delay, or as soon as a document is being
/// packaged (something appears in `<out>/.staging`).
#[derive(Debug, Clone, Copy)]
enum Kill {
    After(f64),
    AtPackaging,
}

fn killed_runs_resume(backend: Backend) {
    let full = full_run_seconds();
    let seed = seed();
    let mut rng = Rng(seed);
    // A page in hand at every kill is claimed once per run: with the
    // default `max_attempts = 3` the work queue would give it up as a page
    // that kills its worker (by design, and reported apart); these kills
    // are not the page's fault, so allow one claim per run.
    let site = Site::new(backend, "lease_seconds = 2\nmax_attempts = 10");
    let (batch, pages) = small_batch(&site, "box-kill");
    let span = 0.7 * full;
    let mut random = || Kill::After(0.05 + rng.unit() * (span - 0.05).max(0.1));
    // Start-up and ingest, then random moments, one of them replaced by
    // the moment a package is being assembled.
    let plan = [
        Kill::After(0.05),
        Kill::After(0.4),
        random(),
        Kill::AtPackaging,
        random(),
    ];
    eprintln!(
        "{backend:?}: seed {seed:#x} (FOLIO_RESUME_SEED); full run {full:.1} s; kills {plan:.2?}"
    );
    let mut story = format!("{backend:?}, seed {seed:#x}, full run {full:.1} s");
    let staging = site.out().join(".staging");
    for (i, kill) in plan.iter().enumerate() {
        let name = format!("run-{i}");
        // Staging folders an earlier kill left (a dead worker's document is
        // taken up again only once no page is left to claim): the
        // packaging kill waits for a new one.
        let before = entries(&staging);
        let started = Instant::now();
        let mut child = site.spawn(site.run_cmd(&batch, &["--workers", "2"]), &name);
        let ended = match *kill {
            Kill::After(delay) => wait_for(&mut child, Duration::from_secs_f64(delay)),
            Kill::AtPackaging => loop {
                if let Some(s) = child.try_wait().unwrap() {
                    break Some(s);
                }
                if entries(&staging).difference(&before).next().is_some() {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(3));
            },
        };
        let ended = ended.or_else(|| {
            let _ = child.kill();
            let s = child.wait().unwrap();
            // It may have finished in the instant before the signal.
            (s.signal() != Some(libc::SIGKILL)).then_some(s)
        });
        match ended {
            Some(s) => {
                story.push_str(&format!(
                    "\n  run {i}: finished on its own ({s}) before the kill {kill:.2?}"
                ));
                assert_eq!(
                    s.code(),
                    Some(0),
                    "{story}\nstderr:\n{}",
                    site.log(&name, "err")
                );
            }
            None => {
                story.push_str(&format!(
                    "\n  run {i}: SIGKILL {kill:.2?} at {:.2} s → {}",
                    started.elapsed().as_secs_f64(),
                    moment(&site)
                ));
            }
        }
        eprintln!("{}", story.lines().last().unwrap());
    }
    let start = Instant::now();
    let mut last = site.spawn(site.run_cmd(&batch, &["--workers", "2"]), "run-final");
    let status = wait_for(&mut last, Duration::from_secs(180));
    let ctx = format!(
        "{story}\n  final run: {status:?} after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    eprintln!("{}", ctx.lines().last().unwrap());
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the final run must finish the batch\n{ctx}\nlogs:{}",
        site.logs()
    );
    let summary: serde_json::Value = serde_json::from_str(&site.log("run-final", "out"))
        .unwrap_or_else(|e| panic!("final run printed no JSON ({e})\n{ctx}"));
    assert_eq!(summary["batch"]["state"], "packaged", "{ctx}");
    check_finished(&site, &batch, pages, &ctx);

    let objects = site.env.data().join("objects");
    let leftovers = temp_leftovers(&objects);
    if !leftovers.is_empty() {
        eprintln!(
            "NOTE ({backend:?}): killed processes left {} temporary file(s) in the object store: {leftovers:?}",
            leftovers.len()
        );
    }
}

#[test]
fn killed_runs_resume_without_loss_on_sqlite() {
    killed_runs_resume(Backend::Sqlite);
}

#[test]
fn killed_runs_resume_without_loss_on_postgres() {
    killed_runs_resume(Backend::Postgres);
}

#[test]
fn three_workers_on_postgres_one_killed_midway() {
    let mut site = Site::new(Backend::Postgres, "lease_seconds = 3");
    site.objects = Some(site.env.dir.path().join("shared-objects"));
    let (batch, pages) = four_pages(&site, "box-three");
    let out = site.out();
    let ingest = site
        .folio(&[
            "ingest",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );
    let mut workers: Vec<Child> = (0..3)
        .map(|i| {
            let mut cmd = site.folio(&["worker", "--until-idle", "--workers", "1", "--json"]);
            cmd.env(
                "FOLIO_DATA_DIR",
                site.env.dir.path().join(format!("data-w{i}")),
            );
            site.spawn(cmd, &format!("worker-{i}"))
        })
        .collect();
    let victim = workers[0].id();
    let needle = format!("/{victim}/");

    // Kill the first worker once it holds a page.
    let start = Instant::now();
    let dead = loop {
        let status = site.status();
        let held = status["batches"][0]["leases"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| {
                l["worker"].as_str().unwrap_or("").contains(&needle)
                    && l["pages"].as_i64().unwrap_or(0) > 0
            })
            .cloned();
        if let Some(l) = held {
            let _ = workers[0].kill();
            let s = workers[0].wait().unwrap();
            assert_eq!(
                s.signal(),
                Some(libc::SIGKILL),
                "worker 0 ended on its own before the kill ({s})\n{}",
                site.logs()
            );
            eprintln!(
                "killed {} holding {} page(s) after {:.1} s",
                l["worker"],
                l["pages"],
                start.elapsed().as_secs_f64()
            );
            break l["worker"].as_str().unwrap().to_string();
        }
        if let Some(s) = workers[0].try_wait().unwrap() {
            panic!(
                "worker 0 ended ({s}) before it was seen holding a page\n{}",
                site.logs()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "worker 0 never held a page: {status:#}\n{}",
            site.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    for (i, w) in workers.iter_mut().enumerate().skip(1) {
        let s = wait_for(w, Duration::from_secs(150));
        if s.is_none() {
            let _ = w.kill();
        }
        assert_eq!(
            s.and_then(|s| s.code()),
            Some(0),
            "worker {i} must finish the batch and exit 0\n{}",
            site.logs()
        );
    }
    let ctx = format!("dead worker {dead}");
    check_finished(&site, &batch, pages, &ctx);

    // Pages the dead worker held were taken over by a live one once the
    // lease ran out, and committed by that one.
    let v = site.view();
    let mut orphans = 0;
    for (page, _) in &v.completions {
        let events = page_history(&site.url, *page);
        let Some(last_dead) = events.iter().rposition(|e| e.actor == dead) else {
            continue;
        };
        if events[last_dead].to != "leased" {
            continue; // it committed this page before it died
        }
        orphans += 1;
        let later = &events[last_dead + 1..];
        let takeover = later
            .iter()
            .find(|e| e.actor != dead && e.to == "leased" && e.reason.contains("ran out"));
        assert!(
            takeover.is_some(),
            "page {page}: no takeover after {dead} died:\n{}",
            describe(&events)
        );
        let done = later
            .iter()
            .find(|e| e.from.as_deref() == Some("leased") && e.to == "done")
            .unwrap_or_else(|| panic!("page {page} never done:\n{}", describe(&events)));
        assert_ne!(done.actor, dead, "{}", describe(&events));
    }
    assert!(
        orphans > 0,
        "the dead worker held a page when killed, so some page must show its takeover"
    );
    let reports: Vec<serde_json::Value> = (1..3)
        .map(|i| {
            serde_json::from_str(&site.log(&format!("worker-{i}"), "out"))
                .unwrap_or_else(|e| panic!("worker {i} printed no JSON report: {e}"))
        })
        .collect();
    let committed: i64 = reports.iter().map(|r| r["pages"].as_i64().unwrap()).sum();
    eprintln!(
        "{orphans} page(s) taken over; live workers committed {committed} page(s): {}",
        reports
            .iter()
            .map(|r| format!("{}", r["pages"]))
            .collect::<Vec<_>>()
            .join(" + ")
    );
    assert!(committed >= orphans as i64);
}

fn two_runs_at_once(backend: Backend) {
    let site = Site::new(backend, "lease_seconds = 2");
    let (batch, pages) = four_pages(&site, "box-twice");
    // Both are the first commands on a new store: one creates its schema,
    // the other waits for it.
    let mut a = site.spawn(site.run_cmd(&batch, &["--workers", "1"]), "run-a");
    let mut b = site.spawn(site.run_cmd(&batch, &["--workers", "1"]), "run-b");
    for (name, child) in [("run-a", &mut a), ("run-b", &mut b)] {
        let s = wait_for(child, Duration::from_secs(150));
        if s.is_none() {
            let _ = child.kill();
        }
        assert_eq!(
            s.and_then(|s| s.code()),
            Some(0),
            "{backend:?}: {name} must exit 0\n{}",
            site.logs()
        );
    }
    let docs_a: serde_json::Value = serde_json::from_str(&site.log("run-a", "out")).unwrap();
    let docs_b: serde_json::Value = serde_json::from_str(&site.log("run-b", "out")).unwrap();
    let queued = |s: &serde_json::Value| s["documents"].as_array().unwrap().len();
    assert_eq!(
        queued(&docs_a) + queued(&docs_b),
        4,
        "{backend:?}: the two ingests together queue each file once"
    );
    assert_eq!(docs_a["batch"]["id"], docs_b["batch"]["id"], "one batch");
    check_finished(
        &site,
        &batch,
        pages,
        &format!("{backend:?}: two runs at once"),
    );
}

#[test]
fn two_runs_of_one_folder_at_once_make_one_set_of_packages() {
    two_runs_at_once(Backend::Sqlite);
    two_runs_at_once(Backend::Postgres);
}

/// Three first commands on a new store at once: one creates the schema,
/// the others must wait for it or see it whole. At b1a783b they may fail
/// (exit 5): on SQLite every command runs the migrations, and two at once
/// give "while executing migration …: table batches already exists"; on
/// an empty PostgreSQL database the second sees `_sqlx_migrations` half
/// made and refuses with "schema is version 0 … run `folio migrate`".
/// Probabilistic: ten rounds of three `folio status` at once. (They
/// used to fail: on SQLite every command ran the migrations at once, "table
/// batches already exists"; on an empty PostgreSQL database the second saw
/// `_sqlx_migrations` half made. Now the first creates, the others wait.)
fn first_commands_start_together(backend: Backend) {
    for round in 0..10 {
        let site = Site::new(backend, "lease_seconds = 2");
        let children: Vec<Child> = (0..3)
            .map(|i| site.spawn(site.folio(&["status"]), &format!("status-{i}")))
            .collect();
        for (i, mut c) in children.into_iter().enumerate() {
            let s = wait_for(&mut c, Duration::from_secs(60));
            assert_eq!(
                s.and_then(|s| s.code()),
                Some(0),
                "{backend:?}, round {round}, command {i}\n{}",
                site.logs()
            );
        }
    }
}

#[test]
fn first_commands_on_a_new_store_start_together_on_sqlite() {
    first_commands_start_together(Backend::Sqlite);
}

#[test]
fn first_commands_on_a_new_store_start_together_on_postgres() {
    first_commands_start_together(Backend::Postgres);
}

#[test]
fn sigterm_stops_a_worker_within_ten_seconds_and_gives_leases_back() {
    let site = Site::new(
        Backend::Sqlite,
        "lease_seconds = 60\nshutdown_grace_seconds = 1",
    );
    // A full-page scan first: its page is still in hand when the signal
    // comes and the one-second grace runs out.
    let s = root().join("samples/batch-0001");
    let batch = make_batch(
        &site.env,
        "box-term",
        &[
            (&s.join("0003_unlv-8087.tif"), "a-unlv-8087.tif"),
            (&s.join("0006_eurotext-skew-3.tif"), "b-eurotext-skew.tif"),
            (
                &s.join("0005_phototest-upside-down.png"),
                "c-upside-down.png",
            ),
        ],
    );
    let pages = 3;
    let out = site.out();
    let ingest = site
        .folio(&[
            "ingest",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );
    let mut worker = site.spawn(
        site.folio(&["worker", "--workers", "1", "--json"]),
        "worker",
    );
    let pid = worker.id();
    let needle = format!("/{pid}/");
    let start = Instant::now();
    let holder = loop {
        let status = site.status();
        let held = status["batches"][0]["leases"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["worker"].as_str().unwrap_or("").contains(&needle))
            .cloned();
        if let Some(l) = held {
            break l["worker"].as_str().unwrap().to_string();
        }
        if let Some(s) = worker.try_wait().unwrap() {
            panic!(
                "the worker ended ({s}) before it held a lease\n{}",
                site.logs()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the worker never held a lease: {status:#}\n{}",
            site.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: `pid` is our own child, still running (not yet reaped).
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    let asked = Instant::now();
    let exit = wait_for(&mut worker, Duration::from_secs(10));
    let took = asked.elapsed().as_secs_f64();
    if exit.is_none() {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    assert_eq!(
        exit.and_then(|s| s.code()),
        Some(0),
        "SIGTERM: the worker must exit 0 within 10 s (waited {took:.1} s)\n{}",
        site.logs()
    );
    eprintln!("SIGTERM → exit 0 in {took:.2} s");
    let report: serde_json::Value = serde_json::from_str(&site.log("worker", "out"))
        .unwrap_or_else(|e| panic!("no JSON report ({e})\n{}", site.logs()));
    assert_eq!(report["interrupted"], true, "{report:#}");

    let status = site.status();
    let b = &status["batches"][0];
    assert_eq!(
        b["leases"].as_array().map(Vec::len),
        Some(0),
        "no lease held after the worker stopped: {status:#}"
    );
    let p = &b["pages"];
    assert_eq!(p["leased"], 0, "{status:#}");
    assert_eq!(p["failed"], 0, "{status:#}");
    let (queued, done) = (p["queued"].as_i64().unwrap(), p["done"].as_i64().unwrap());
    assert_eq!(queued + done, pages as i64, "no page lost: {status:#}");
    assert!(queued > 0, "the stop came with pages left: {status:#}");
    assert_eq!(
        done,
        report["pages"].as_i64().unwrap(),
        "{status:#}\n{report:#}"
    );
    // What was in hand went back to the queue, by that worker, with a reason.
    let v = site.view();
    let released: Vec<i64> = v
        .completions
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| {
            page_history(&site.url, *p).iter().any(|e| {
                e.actor == holder && e.from.as_deref() == Some("leased") && e.to == "queued"
            })
        })
        .collect();
    let released_docs: Vec<String> = v
        .documents
        .iter()
        .map(|d| d.id.clone())
        .filter(|d| {
            history(&site.url, "document", d)
                .iter()
                .any(|e| e.actor == holder && e.reason.contains("given back"))
        })
        .collect();
    assert!(
        !released.is_empty(),
        "the page in hand went back to the queue: {report:#}"
    );
    assert_eq!(
        (released.len() + released_docs.len()) as u64,
        report["released"].as_u64().unwrap(),
        "leases given back = pages {released:?} + documents {released_docs:?} with a 'given back' event: {report:#}"
    );

    let finish = site
        .folio(&["worker", "--until-idle", "--workers", "2"])
        .output()
        .unwrap();
    assert!(
        finish.status.success(),
        "{}",
        String::from_utf8_lossy(&finish.stderr)
    );
    check_finished(&site, &batch, pages, &format!("stopped worker {holder}"));
}

#[test]
fn short_free_space_takes_nothing() {
    let mut site = Site::new(Backend::Sqlite, "lease_seconds = 2");
    let small = site.env.dir.path().join("small-disk");
    std::fs::create_dir_all(&small).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&small)
        .output();
    let mounted = matches!(&mount, Ok(o) if o.status.success());
    if !mounted {
        eprintln!(
            "\n******** SKIPPED: needs root to mount tmpfs ({}) ********\n",
            match &mount {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            }
        );
        return;
    }
    let _guard = Tmpfs(small.clone());
    site.objects = Some(small.clone());
    let forms = |n: &str| shared(&format!("forms-zh/{n}"));
    let batch = make_batch(
        &site.env,
        "box-big",
        &[
            (&shared("tesseract-test/8087_054.3B.tif"), "a.tif"),
            (&shared("tesseract-test/eurotext.tif"), "b.tif"),
            (&forms("form_025.jpg"), "c.jpg"),
            (&forms("form_002.jpg"), "d.jpg"),
            (&forms("form_003.jpg"), "e.jpg"),
            (&forms("form_024.jpg"), "f.jpg"),
        ],
    );
    let bytes: u64 = std::fs::read_dir(&batch)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        bytes > 2 << 20,
        "the batch must outgrow 2 MiB: {bytes} bytes"
    );

    let out = site.out();
    let ingest = site
        .folio(&[
            "ingest",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&ingest.stderr);
    assert_eq!(ingest.status.code(), Some(6), "exit code 6 (space)\n{err}");
    assert!(err.contains("not enough free space"), "{err}");
    assert!(
        err.contains(small.to_str().unwrap()),
        "the message names the full place ({}):\n{err}",
        small.display()
    );

    let v = site.view();
    assert!(v.batches.is_empty(), "no batch recorded: {:?}", v.batches);
    assert!(v.files.is_empty());
    let left: Vec<_> = walkdir::WalkDir::new(&small)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .collect();
    assert!(
        left.is_empty(),
        "nothing written to the full disk: {left:?}"
    );
    let quarantine = site.env.data().join("quarantine");
    assert!(
        !quarantine.exists(),
        "no quarantine copies: {:?}",
        walkdir::WalkDir::new(&quarantine)
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.into_path())
            .collect::<Vec<_>>()
    );
    assert!(packages(&out).is_empty());
}

#[test]
fn bad_class_settings_are_refused_before_anything_is_recorded() {
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "two fields of one name",
            "name = \"bad\"\n\n[[fields]]\nname = \"policy_no\"\npattern = 'P\\d{12}'\n\n\
             [[fields]]\nname = \"policy_no\"\npattern = 'P\\d{10}'\n",
            &["policy_no", "declared twice"],
        ),
        (
            "an unknown validator",
            "name = \"bad\"\n\n[[fields]]\nname = \"isbn_no\"\npattern = '\\d{13}'\nvalidate = \"isbn\"\n",
            &["isbn", "validate"],
        ),
        (
            "a pattern that does not compile",
            "name = \"bad\"\n\n[[fields]]\nname = \"archive_no\"\npattern = '(\\d'\n",
            &["archive_no", "pattern"],
        ),
        (
            "a confidence threshold above 1",
            "name = \"bad\"\nconfidence_threshold = 1.5\n",
            &["confidence_threshold", "1.5"],
        ),
    ];
    for (what, text, words) in cases {
        let env = Env::new();
        let cfg = write_config(&env, "bad", &[("bad", text.to_string())]);
        let batch = make_batch(
            &env,
            "box",
            &[(&shared("tesseract-test/phototest.tif"), "p.tif")],
        );
        let out = env.out();
        let run = env
            .folio(&[
                "--config",
                cfg.to_str().unwrap(),
                "run",
                batch.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{what}: exit 2\n{err}");
        assert!(
            err.contains("classes/bad.toml"),
            "{what}: the message names the class file\n{err}"
        );
        for w in words {
            assert!(err.contains(w), "{what}: the message says '{w}'\n{err}");
        }
        let data: Vec<_> = walkdir::WalkDir::new(env.data())
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.into_path())
            .collect();
        assert!(
            data.is_empty(),
            "{what}: nothing may be created in the data folder: {data:?}"
        );
        assert!(!out.exists(), "{what}: no output folder");
        eprintln!("{what}: {}", err.trim());
    }
}

/// The link to the database goes down three times while a run's pages
/// are in hand (queries hang, then every connection is reset and new
/// ones are refused for a while): the run waits each outage out, retries
/// what was cut off, and ends with every page packaged once, as the
/// second workstation of a bureau on a flaky network would need.
#[test]
fn database_outages_mid_run_are_waited_out_on_postgres() {
    let site = Site::new(Backend::Postgres, "lease_seconds = 6");
    let proxy = util::proxy::Proxy::start("127.0.0.1:5432");
    let via_proxy = site
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(
        via_proxy, site.url,
        "the test's database is at 127.0.0.1:5432"
    );
    let (batch, pages) = small_batch(&site, "box-outage");
    let mut cmd = site.run_cmd(&batch, &["--workers", "2"]);
    cmd.env("FOLIO_DATABASE_URL", &via_proxy);
    let mut run = site.spawn(cmd, "run");
    let started = Instant::now();
    // Wait for the first committed page: the outages fall among pages.
    while pages_committed(&site.url) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no page done in 120 s{}",
            site.logs()
        );
        if let Some(s) = run.try_wait().unwrap() {
            panic!("folio run ended ({s:?}) before the outages{}", site.logs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        proxy.outage(Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = wait_for(&mut run, Duration::from_secs(180));
    if status.is_none() {
        let _ = run.kill();
    }
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the run must wait the outages out and finish{}",
        site.logs()
    );
    let err = site.log("run", "err");
    assert!(
        err.contains("database unreachable"),
        "an operation cut off by an outage is retried and says so:\n{err}"
    );
    check_finished(&site, &batch, pages, "after three database outages");
}

/// Pages committed so far in any batch (0 while the store is not made).
fn pages_committed(url: &str) -> usize {
    block(async {
        let Ok(store) = Store::open(url).await else {
            return 0;
        };
        let mut n = 0;
        for b in store.batches().await.unwrap_or_default() {
            let done = store.completions_per_page(&b.id).await.unwrap_or_default();
            n += done.iter().filter(|(_, c)| *c > 0).count();
        }
        store.close().await;
        n
    })
}
