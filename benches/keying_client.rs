//! The keying station driven from outside, shared by the load bench
//! (`benches/keying_load.rs`), the keying simulation
//! (`benches/keying_sim.rs`) and their short forms in `cargo test`
//! (`pipeline/tests/keying_load.rs`, which includes this file by path).
//!
//! It owns the fixture (a settings file that routes every field of the
//! insurance form to keying, seed pages OCR'd by the real `folio run`,
//! their documents cloned in the store, users made with `folio user add`),
//! the real `folio serve` started on it, an HTTP client for the station's
//! JSON API, simulated keyers and arbiters, and the counts taken
//! afterwards from the client log, the store and the packages. It holds no
//! product rule: comparing, checking, routing to arbitration, leases and
//! packaging are the server's, and are what the counts check.
#![allow(dead_code)]

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One password for every simulated user (a fixture, not a secret).
pub const PASSWORD: &str = "keying-bench-password";

/// The class every seeded page is read with.
pub const CLASS: &str = "insurance_registration";

// ---- fixture -----------------------------------------------------------

/// The project root (where `config/` and `../shared` are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The forms with field truth (`../shared/data/forms-zh/`).
pub fn forms_dir() -> PathBuf {
    root().join("../shared/data/forms-zh")
}

/// Every form page of the shared set, by file name, in order.
pub fn form_pages() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(forms_dir())
        .expect("../shared/data/forms-zh is needed")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("form_") && !n.ends_with(".json"))
        .collect();
    v.sort();
    v
}

/// The true field values of a form page (`form_NNN.json` → `fields`).
pub fn truth_of(page: &str) -> BTreeMap<String, String> {
    let stem = page.rsplit_once('.').map(|(s, _)| s).unwrap_or(page);
    let path = forms_dir().join(format!("{stem}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, f)| {
            (
                k.clone(),
                f["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
    pub fn parse(s: &str) -> Option<Backend> {
        match s.trim() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(Backend::Postgres),
            _ => None,
        }
    }
}

/// A throw-away station: its folder, settings, store and output folder.
pub struct Station {
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub db_url: String,
    pub config: PathBuf,
    pub out: PathBuf,
}

/// A document `folio run` left waiting for keying.
#[derive(Debug, Clone)]
pub struct SeedDoc {
    pub id: String,
    pub original_name: String,
}

impl Station {
    /// A station on SQLite in its folder, or on the PostgreSQL database
    /// `pg_url` (which the caller created and drops).
    pub fn new(pg_url: Option<&str>) -> Station {
        let dir = tempfile::tempdir().unwrap();
        let (backend, db_url) = match pg_url {
            Some(u) => (Backend::Postgres, u.to_string()),
            None => (
                Backend::Sqlite,
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("data/folio.db").display()
                ),
            ),
        };
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        // Every field is routed to keying: the class as shipped, with a
        // confidence threshold no OCR reading can reach.
        let cfg = dir.path().join("cfg");
        std::fs::create_dir_all(cfg.join("classes")).unwrap();
        let class =
            std::fs::read_to_string(root().join(format!("config/classes/{CLASS}.toml"))).unwrap();
        let mut routed = String::new();
        let mut replaced = false;
        for line in class.lines() {
            if line.trim_start().starts_with("confidence_threshold") {
                routed.push_str("confidence_threshold = 1.0\n");
                replaced = true;
            } else {
                routed.push_str(line);
                routed.push('\n');
            }
        }
        assert!(replaced, "{CLASS}.toml has no confidence_threshold line");
        std::fs::write(cfg.join(format!("classes/{CLASS}.toml")), routed).unwrap();
        let config = cfg.join("folio.toml");
        std::fs::write(
            &config,
            format!("classes_dir = \"classes\"\ndefault_class = \"{CLASS}\"\n"),
        )
        .unwrap();
        let out = dir.path().join("out");
        Station {
            backend,
            db_url,
            config,
            out,
            dir,
        }
    }

    /// `folio --config <station's> ARGS` on this station's store.
    pub fn folio(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_folio"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(root())
            .env("FOLIO_DATA_DIR", self.dir.path().join("data"))
            .env("FOLIO_DATABASE_URL", &self.db_url)
            .env_remove("OMP_THREAD_LIMIT")
            .env_remove("FOLIO_CONFIG");
        c
    }

    /// OCRs the named form pages with `folio run` (every field routed to
    /// keying) and returns the documents left waiting for keying.
    pub fn ocr(&self, pages: &[&str]) -> Vec<SeedDoc> {
        let batch = self.dir.path().join("batch");
        std::fs::create_dir_all(&batch).unwrap();
        for p in pages {
            std::fs::copy(forms_dir().join(p), batch.join(p)).unwrap();
        }
        let out = self
            .folio(&[
                "run",
                batch.to_str().unwrap(),
                "--out",
                self.out.to_str().unwrap(),
                "--class",
                CLASS,
                "--json",
                "--quiet",
            ])
            .output()
            .unwrap();
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "folio run printed no JSON ({e}); status {:?}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let mut docs = Vec::new();
        for d in summary["documents"]
            .as_array()
            .expect("documents in summary")
        {
            let id = d["id"].as_str().unwrap().to_string();
            let path = PathBuf::from(d["path"].as_str().unwrap_or_default());
            let index: Value = std::fs::read_to_string(path.join("data/metadata/index.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            let original_name = index["pages"][0]["original_name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert_eq!(
                d["state"].as_str(),
                Some("awaiting_keying"),
                "with every field routed, document {id} must wait for keying: {d}"
            );
            docs.push(SeedDoc { id, original_name });
        }
        assert_eq!(docs.len(), pages.len(), "one document per page: {summary}");
        docs
    }

    /// Makes users `(name, role)` with `folio user add … --password-stdin`,
    /// a few processes at a time (argon2 costs ~0.1 s each).
    pub fn add_users(&self, users: &[(String, &str)]) {
        let mut queue: Vec<&(String, &str)> = users.iter().collect();
        queue.reverse();
        let mut running: Vec<(Child, String)> = Vec::new();
        while !queue.is_empty() || !running.is_empty() {
            while running.len() < 4 {
                let Some((name, role)) = queue.pop() else {
                    break;
                };
                let mut child = self
                    .folio(&[
                        "user",
                        "add",
                        name.as_str(),
                        "--role",
                        role,
                        "--password-stdin",
                    ])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(PASSWORD.as_bytes())
                    .unwrap();
                running.push((child, name.clone()));
            }
            let (child, name) = running.remove(0);
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "folio user add {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Fixture seeding, not behaviour under test: clones every document
    /// waiting for keying `copies` times in the store (documents, pages,
    /// fields and their queued key tasks; ids get `-cN`) and copies each
    /// one's waiting folder, so thousands of fields wait without OCR'ing
    /// thousands of pages. Returns every waiting document afterwards with
    /// the original file its page came from.
    pub async fn clone_documents(&self, copies: usize) -> Result<Vec<SeedDoc>> {
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&self.db_url).await?;
        let src: Vec<(String, String)> = sqlx::query(
            "SELECT id, COALESCE(package_path, '') FROM documents WHERE state = 'awaiting_keying' ORDER BY id",
        )
        .fetch_all(&mut db)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        if copies > 0 && !src.is_empty() {
            let list = src
                .iter()
                .map(|(id, _)| format!("'{}'", id.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ");
            let clone_id = "(document_id || '-c' || CAST(n.i AS TEXT))";
            for table in ["documents", "pages", "fields", "tasks"] {
                let cols = columns(&mut db, self.backend, table).await?;
                let mut names = Vec::new();
                let mut exprs = Vec::new();
                for c in &cols {
                    let e = match (table, c.as_str()) {
                        ("pages" | "tasks", "id") => continue,
                        ("documents", "id") => "(id || '-c' || CAST(n.i AS TEXT))".to_string(),
                        ("documents", "seq") => "(seq + n.i * 100000)".to_string(),
                        ("documents", "package_path") => {
                            "REPLACE(package_path, id, id || '-c' || CAST(n.i AS TEXT))".to_string()
                        }
                        (_, "document_id") => clone_id.to_string(),
                        _ => c.clone(),
                    };
                    names.push(c.clone());
                    exprs.push(e);
                }
                let filter = match table {
                    "documents" => format!("id IN ({list})"),
                    "tasks" => {
                        format!("document_id IN ({list}) AND kind = 'key' AND state = 'queued'")
                    }
                    _ => format!("document_id IN ({list})"),
                };
                let sql = format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies}) \
                     INSERT INTO {table} ({}) SELECT {} FROM {table}, n WHERE {filter}",
                    names.join(", "),
                    exprs.join(", ")
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut db)
                    .await
                    .with_context(|| format!("cloning {table}"))?;
            }
            if self.backend == Backend::Postgres {
                // As autovacuum would after such an insert.
                sqlx::query("ANALYZE").execute(&mut db).await?;
            }
            for (id, path) in &src {
                let from = PathBuf::from(path);
                if path.is_empty() || !from.is_dir() {
                    continue;
                }
                for i in 1..=copies {
                    let cid = format!("{id}-c{i}");
                    let to = PathBuf::from(path.replace(id.as_str(), &cid));
                    copy_tree(&from, &to, id, &cid)?;
                }
            }
        }
        let rows = sqlx::query(
            "SELECT d.id, MIN(f.original_name) FROM documents d JOIN pages p ON p.document_id = d.id \
             JOIN files f ON f.sha256 = p.file_sha256 WHERE d.state = 'awaiting_keying' GROUP BY d.id ORDER BY d.id",
        )
        .fetch_all(&mut db)
        .await?;
        db.close().await?;
        Ok(rows
            .iter()
            .map(|r| SeedDoc {
                id: r.get(0),
                original_name: r.get(1),
            })
            .collect())
    }

    /// Sets `[keying] lease_seconds` in the station's settings.
    pub fn set_lease_seconds(&self, seconds: f64) {
        let mut t = std::fs::read_to_string(&self.config).unwrap();
        t.push_str(&format!("\n[keying]\nlease_seconds = {seconds:.1}\n"));
        std::fs::write(&self.config, t).unwrap();
    }

    /// Starts `folio serve` on this station.
    pub fn serve(&self) -> Server {
        Server::start(self)
    }
}

async fn columns(
    db: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
) -> Result<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
        Backend::Postgres => format!(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(db).await?;
    let cols: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    if cols.is_empty() {
        bail!("table {table} has no columns");
    }
    Ok(cols)
}

/// Copies a document's folder for a clone: text files naming the source
/// document are rewritten, everything else is hard-linked (read-only
/// content such as page images).
fn copy_tree(from: &Path, to: &Path, id: &str, cid: &str) -> Result<()> {
    for e in walkdir::WalkDir::new(from) {
        let e = e?;
        let rel = e.path().strip_prefix(from)?;
        let dest = to.join(rel.to_string_lossy().replace(id, cid));
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest)?;
            continue;
        }
        let text = if e.metadata()?.len() < 4 << 20 {
            std::fs::read(e.path())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        } else {
            None
        };
        match text {
            Some(t) if t.contains(id) => std::fs::write(&dest, t.replace(id, cid))?,
            _ => {
                if std::fs::hard_link(e.path(), &dest).is_err() {
                    std::fs::copy(e.path(), &dest)?;
                }
            }
        }
    }
    Ok(())
}

// ---- the server ----------------------------------------------------------

/// A running `folio serve`.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    fn start(station: &Station) -> Server {
        let log = station.dir.path().join("serve.log");
        let mut child = station
            .folio(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            for _ in lines {}
        });
        let first = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let base = first
            .split("listening on ")
            .nth(1)
            .map(|s| s.trim().trim_end_matches('/').to_string());
        let Some(base) = base else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "folio serve's first line is not `folio serve: listening on http://…`: {first:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Server {
            child: Some(child),
            base,
            log,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// CPU seconds the server has used (user + system), from /proc.
    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(&format!("/proc/{}/stat", self.pid()))
    }

    /// Waits until `/healthz` answers 200.
    pub async fn healthy(&self) -> Result<()> {
        let http = reqwest::Client::new();
        let t = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("/healthz did not answer 200 within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and returns its
    /// log.
    pub fn stop(&mut self) -> String {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// User + system CPU seconds of a process from its `/proc/…/stat`.
pub fn proc_cpu_seconds(stat: &str) -> f64 {
    let Ok(s) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
    let Some(after) = s.rsplit_once(") ") else {
        return 0.0;
    };
    let f: Vec<&str> = after.1.split_whitespace().collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (ut + st) / ticks
}

// ---- the API client -------------------------------------------------------

/// A logged-in user's session with the station.
pub struct Api {
    pub user: String,
    base: String,
    http: reqwest::Client,
    csrf: String,
}

/// A task as `POST /api/v1/tasks/next` hands it out.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub kind: String,
    pub field: String,
    pub lease_expires: String,
    pub snippet_url: String,
    /// Arbitration only: the two entries (`outcome`, `value`).
    pub entries: Vec<(String, Option<String>)>,
}

/// One request's timing: sent, answered (body read).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub sent: Instant,
    pub recv: Instant,
}

impl Timing {
    pub fn ms(&self) -> f64 {
        (self.recv - self.sent).as_secs_f64() * 1e3
    }
}

fn id_of(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

impl Api {
    /// `POST /api/v1/login`; keeps the session cookie and the CSRF token.
    pub async fn login(base: &str, user: &str, password: &str) -> Result<Api> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(2)
            .timeout(Duration::from_secs(60))
            .build()?;
        let r = http
            .post(format!("{base}/api/v1/login"))
            .json(&json!({"user": user, "password": password}))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status != 200 {
            bail!("login {user}: HTTP {status}: {body}");
        }
        let csrf = body["csrf"]
            .as_str()
            .ok_or_else(|| anyhow!("login {user}: no csrf in {body}"))?
            .to_string();
        Ok(Api {
            user: user.to_string(),
            base: base.to_string(),
            http,
            csrf,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value, Timing)> {
        let sent = Instant::now();
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-CSRF-Token", &self.csrf)
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await?;
        let recv = Instant::now();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, v, Timing { sent, recv }))
    }

    /// `POST /api/v1/tasks/next`: a task, or `None` on 204.
    pub async fn next(&self) -> Result<(Option<Task>, Timing)> {
        let (status, v, t) = self.post("/api/v1/tasks/next", &json!({})).await?;
        match status {
            204 => Ok((None, t)),
            200 => {
                let id = id_of(&v["id"]).ok_or_else(|| anyhow!("task without id: {v}"))?;
                let entries = v["entries"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|e| {
                                (
                                    e["outcome"].as_str().unwrap_or("value").to_string(),
                                    e["value"].as_str().map(str::to_string),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok((
                    Some(Task {
                        id,
                        kind: v["kind"].as_str().unwrap_or_default().to_string(),
                        field: v["field"].as_str().unwrap_or_default().to_string(),
                        lease_expires: v["lease_expires"].as_str().unwrap_or_default().to_string(),
                        snippet_url: v["snippet_url"].as_str().unwrap_or_default().to_string(),
                        entries,
                    }),
                    t,
                ))
            }
            s => bail!("{}: tasks/next answered HTTP {s}: {v}", self.user),
        }
    }

    /// `POST /api/v1/tasks/{id}/submit`: the HTTP status and the answer's
    /// `state` (200 only).
    pub async fn submit(&self, id: i64, body: &Value) -> Result<(u16, Option<String>, Timing)> {
        let (status, v, t) = self
            .post(&format!("/api/v1/tasks/{id}/submit"), body)
            .await?;
        let state = v["state"].as_str().map(str::to_string);
        Ok((status, state, t))
    }

    /// `POST /api/v1/tasks/{id}/release`: gives a held task back.
    pub async fn release(&self, id: i64) -> Result<()> {
        let (status, v, _) = self
            .post(&format!("/api/v1/tasks/{id}/release"), &json!({}))
            .await?;
        if status != 200 {
            bail!("{}: release {id} answered HTTP {status}: {v}", self.user);
        }
        Ok(())
    }

    /// `GET PATH` as bytes (a snippet image): its size and timing.
    pub async fn fetch(&self, path: &str) -> Result<(usize, Timing)> {
        let sent = Instant::now();
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = r.status();
        let bytes = r.bytes().await?;
        let recv = Instant::now();
        if status != 200 {
            bail!("GET {path}: HTTP {status}");
        }
        Ok((bytes.len(), Timing { sent, recv }))
    }

    /// `GET PATH` as JSON (supervisor views).
    pub async fn get(&self, path: &str) -> Result<Value> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status != 200 {
            bail!("GET {path}: HTTP {status}: {v}");
        }
        Ok(v)
    }
}

/// Logs every user in, a few at a time (the server verifies argon2).
pub async fn login_all(base: &str, users: &[String]) -> Result<Vec<Api>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut handles = Vec::new();
    for u in users {
        let (base, u, sem) = (base.to_string(), u.clone(), sem.clone());
        handles.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            Api::login(&base, &u, PASSWORD).await
        }));
    }
    let mut apis = Vec::new();
    for h in handles {
        apis.push(h.await??);
    }
    Ok(apis)
}

// ---- randomness and figures ----------------------------------------------

/// SplitMix64: small, seeded, good enough for a simulation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// A stable hash of a string (FNV-1a), to draw per-field facts that every
/// keyer sees the same.
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The `q` quantile (nearest rank) of `v`, in the unit of `v`.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

// ---- the client log and what it proves -------------------------------------

/// One task as one user held it: when `next` handed it out, and the
/// submits that followed.
#[derive(Debug, Clone)]
pub struct Held {
    pub user: String,
    pub task: Task,
    pub got: Timing,
    pub submits: Vec<Submitted>,
    /// The user sat on the task past its lease before submitting.
    pub stalled: bool,
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub body: Value,
    pub status: u16,
    pub state: Option<String>,
    pub at: Timing,
}

impl Held {
    /// The submit the server accepted (200), if any.
    pub fn accepted(&self) -> Option<&Submitted> {
        self.submits.iter().find(|s| s.status == 200)
    }
}

/// What the client log shows about hand-outs.
#[derive(Debug, Default, Clone)]
pub struct HandOuts {
    /// Task ids handed out to more than one user though no earlier holder
    /// let its lease run out.
    pub to_several_users: usize,
    /// Task ids handed out again after a holder sat on it past its lease
    /// (as they should be).
    pub again_after_expiry: usize,
    /// Submits after the lease ran out that the server accepted.
    pub late_accepted: usize,
    /// Hand-outs of a task to a user while another user provably still
    /// held it: the second user's `next` answer arrived before the first
    /// user's accepted submit was even sent.
    pub overlapping: usize,
    /// Task ids the server accepted more than one submit for.
    pub accepted_twice: usize,
    /// Examples, for the report.
    pub examples: Vec<String>,
}

pub fn hand_outs(log: &[Held]) -> HandOuts {
    let mut by_task: HashMap<i64, Vec<&Held>> = HashMap::new();
    for h in log {
        by_task.entry(h.task.id).or_default().push(h);
    }
    let mut r = HandOuts::default();
    for (id, hs) in &by_task {
        let users: HashSet<&str> = hs.iter().map(|h| h.user.as_str()).collect();
        if users.len() > 1 || hs.len() > 1 {
            if hs.iter().any(|h| h.stalled) {
                r.again_after_expiry += 1;
            } else {
                r.to_several_users += 1;
                if r.examples.len() < 5 {
                    r.examples.push(format!("task {id} handed to {users:?}"));
                }
            }
        }
        r.late_accepted += hs
            .iter()
            .filter(|h| h.stalled && h.accepted().is_some())
            .count();
        let accepted = hs.iter().filter(|h| h.accepted().is_some()).count();
        if accepted > 1 {
            r.accepted_twice += 1;
            if r.examples.len() < 5 {
                r.examples
                    .push(format!("task {id} accepted from {users:?}"));
            }
        }
        for a in hs {
            // a held the task from its hand-out until its accepted submit
            // was sent (or for good, if it never submitted).
            let a_until = a.accepted().map(|s| s.at.sent);
            for b in hs {
                if a.user == b.user || b.got.recv < a.got.sent {
                    continue;
                }
                let overlaps = match a_until {
                    Some(t) => b.got.recv < t,
                    None => false,
                };
                if overlaps {
                    r.overlapping += 1;
                    if r.examples.len() < 5 {
                        r.examples.push(format!(
                            "task {id}: {} got it while {} held it",
                            b.user, a.user
                        ));
                    }
                }
            }
        }
    }
    r
}

/// What the store says after a run, checked against the client log.
#[derive(Debug, Default, Clone)]
pub struct StoreCounts {
    /// Fields that went to keying.
    pub fields: usize,
    /// … of which final (`keyed`, source double_keyed or arbitrated).
    pub final_fields: usize,
    pub double_keyed: usize,
    pub arbitrated: usize,
    /// Fields whose two key passes are not both done by two distinct users.
    pub passes_wrong: usize,
    /// Arbitrated fields whose arbiter is one of the two keyers (or that
    /// have no arbitration task done).
    pub arbiter_wrong: usize,
    /// Accepted submits (200) whose task row is not done by that user with
    /// that value.
    pub lost_submissions: usize,
    /// Done task rows no accepted submit in the client log accounts for.
    pub unexplained_done: usize,
    /// Final values that are neither the agreed entry nor the arbiter's.
    pub final_wrong: usize,
    /// Double-keyed fields whose two entries differ; arbitrated fields
    /// whose two entries agree and pass the checks this harness knows.
    pub routing_wrong: usize,
    pub examples: Vec<String>,
}

impl StoreCounts {
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |n: usize, what: &str| {
            if n > 0 {
                p.push(format!("{n} {what}"));
            }
        };
        check(
            self.fields - self.final_fields.min(self.fields),
            "fields not final",
        );
        check(
            self.passes_wrong,
            "fields without two passes by two distinct keyers",
        );
        check(self.arbiter_wrong, "arbitrations without a third person");
        check(
            self.lost_submissions,
            "accepted submissions not in the store",
        );
        check(
            self.unexplained_done,
            "done tasks no accepted submit explains",
        );
        check(self.final_wrong, "final values that are not what was keyed");
        check(self.routing_wrong, "fields routed against the rules");
        p
    }
}

/// Checks this harness knows independently of the product (GB 11643 check
/// digit, calendar date in 1800–2200): `Some(false)` when a value fails, `None` when the
/// field has no such check here.
pub fn known_check(field: &str, v: &str) -> Option<bool> {
    match field {
        "id_number" => {
            let b = v.as_bytes();
            if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
                return Some(false);
            }
            const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
            let s: u32 = b[..17]
                .iter()
                .zip(W)
                .map(|(d, w)| (d - b'0') as u32 * w)
                .sum();
            let c = b"10X98765432"[(s % 11) as usize];
            Some(b[17].to_ascii_uppercase() == c)
        }
        "sign_date" => {
            let p: Vec<&str> = v.split('-').collect();
            if p.len() != 3 {
                return Some(false);
            }
            let (Ok(y), Ok(m), Ok(d)) = (
                p[0].parse::<u32>(),
                p[1].parse::<u32>(),
                p[2].parse::<u32>(),
            ) else {
                return Some(false);
            };
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let days = match m {
                1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                4 | 6 | 9 | 11 => 30,
                2 if leap => 29,
                2 => 28,
                _ => return Some(false),
            };
            // Years as the class's date check takes them.
            Some((1800..=2200).contains(&y) && d >= 1 && d <= days)
        }
        _ => None,
    }
}

fn entry_of(body: &Value) -> (String, Option<String>) {
    if body["illegible"] == json!(true) {
        ("illegible".into(), None)
    } else if body["empty"] == json!(true) {
        ("empty".into(), None)
    } else {
        (
            "value".into(),
            body["value"].as_str().map(|s| s.trim().to_string()),
        )
    }
}

/// Reads the tasks and keyed fields from the store (after the server has
/// stopped) and checks them against the client log.
pub async fn store_counts(db_url: &str, log: &[Held]) -> Result<StoreCounts> {
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(db_url).await?;
    struct T {
        doc: String,
        field: String,
        kind: String,
        pass: i64,
        state: String,
        keyer: Option<String>,
        outcome: Option<String>,
        value: Option<String>,
    }
    let tasks: HashMap<i64, T> = sqlx::query(
        "SELECT id, document_id, field, kind, pass, state, keyer, outcome, value FROM tasks",
    )
    .fetch_all(&mut db)
    .await?
    .iter()
    .map(|r| {
        (
            r.get::<i64, _>(0),
            T {
                doc: r.get(1),
                field: r.get(2),
                kind: r.get(3),
                pass: r.get(4),
                state: r.get(5),
                keyer: r.get(6),
                outcome: r.get(7),
                value: r.get(8),
            },
        )
    })
    .collect();
    /// document, field, status, final value, source.
    type FieldRow = (String, String, String, Option<String>, Option<String>);
    let fields: Vec<FieldRow> = sqlx::query(
        "SELECT document_id, name, status, final_value, source FROM fields \
         WHERE source IS NULL OR source <> 'ocr'",
    )
    .fetch_all(&mut db)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect();
    db.close().await?;

    let mut c = StoreCounts::default();
    fn note(c: &mut StoreCounts, s: String) {
        if c.examples.len() < 8 {
            c.examples.push(s);
        }
    }
    // Every accepted submit is in the store as that user's entry.
    let mut explained: HashSet<i64> = HashSet::new();
    for h in log {
        let Some(s) = h.accepted() else { continue };
        explained.insert(h.task.id);
        let (outcome, value) = entry_of(&s.body);
        let ok = tasks.get(&h.task.id).is_some_and(|t| {
            t.state == "done"
                && t.keyer.as_deref() == Some(h.user.as_str())
                && t.outcome.as_deref() == Some(outcome.as_str())
                && (outcome != "value" || t.value.as_deref().map(str::trim) == value.as_deref())
        });
        if !ok {
            c.lost_submissions += 1;
            let t = tasks.get(&h.task.id);
            note(
                &mut c,
                format!(
                    "task {} accepted from {} ({:?}) but stored as {:?}",
                    h.task.id,
                    h.user,
                    value,
                    t.map(|t| (&t.state, &t.keyer, &t.value))
                ),
            );
        }
    }
    for (id, t) in &tasks {
        if t.state == "done" && !explained.contains(id) {
            c.unexplained_done += 1;
            note(
                &mut c,
                format!("task {id} done by {:?} without an accepted submit", t.keyer),
            );
        }
    }
    // Per field: passes, arbiter, routing, final value.
    let mut by_field: HashMap<(&str, &str), Vec<&T>> = HashMap::new();
    for t in tasks.values() {
        by_field.entry((&t.doc, &t.field)).or_default().push(t);
    }
    for (doc, name, status, final_value, source) in &fields {
        c.fields += 1;
        let ts = by_field
            .get(&(doc.as_str(), name.as_str()))
            .cloned()
            .unwrap_or_default();
        let pass = |n: i64| ts.iter().find(|t| t.pass == n && t.state == "done");
        let (p1, p2, p3) = (pass(1), pass(2), pass(3));
        let keyed = |t: Option<&&T>| t.and_then(|t| t.keyer.clone());
        let (k1, k2, k3) = (keyed(p1), keyed(p2), keyed(p3));
        if k1.is_none() || k2.is_none() || k1 == k2 || p1.is_some_and(|t| t.kind != "key") {
            c.passes_wrong += 1;
            note(&mut c, format!("{doc}/{name}: passes by {k1:?} and {k2:?}"));
        }
        let is_final = status == "keyed"
            && matches!(source.as_deref(), Some("double_keyed") | Some("arbitrated"));
        if !is_final {
            note(
                &mut c,
                format!("{doc}/{name}: status {status}, source {source:?}"),
            );
            continue;
        }
        c.final_fields += 1;
        let entry = |t: Option<&&T>| {
            t.map(|t| {
                (
                    t.outcome.clone().unwrap_or_default(),
                    t.value.clone().map(|v| v.trim().to_string()),
                )
            })
        };
        let (e1, e2) = (entry(p1), entry(p2));
        let fv = final_value.as_deref().map(str::trim).map(str::to_string);
        match source.as_deref() {
            Some("double_keyed") => {
                c.double_keyed += 1;
                if e1 != e2 {
                    c.routing_wrong += 1;
                    note(
                        &mut c,
                        format!("{doc}/{name}: double_keyed from {e1:?} and {e2:?}"),
                    );
                } else if let Some((o, v)) = &e1
                    && o == "value"
                    && *v != fv
                {
                    c.final_wrong += 1;
                    note(&mut c, format!("{doc}/{name}: final {fv:?}, keyed {v:?}"));
                }
                if k3.is_some() {
                    c.routing_wrong += 1;
                }
                if let Some(v) = &fv
                    && known_check(name, v) == Some(false)
                {
                    c.routing_wrong += 1;
                    note(
                        &mut c,
                        format!("{doc}/{name}: double_keyed {v:?} fails its check"),
                    );
                }
            }
            _ => {
                c.arbitrated += 1;
                if k3.is_none() || k3 == k1 || k3 == k2 {
                    c.arbiter_wrong += 1;
                    note(
                        &mut c,
                        format!("{doc}/{name}: arbiter {k3:?}, keyers {k1:?} {k2:?}"),
                    );
                }
                if e1 == e2
                    && let Some((o, Some(v))) = &e1
                    && o == "value"
                    && known_check(name, v) == Some(true)
                {
                    c.routing_wrong += 1;
                    note(
                        &mut c,
                        format!("{doc}/{name}: arbitrated though both keyed {v:?}"),
                    );
                }
                if let Some((o, v)) = entry(p3)
                    && o == "value"
                    && v != fv
                {
                    c.final_wrong += 1;
                    note(&mut c, format!("{doc}/{name}: final {fv:?}, arbiter {v:?}"));
                }
            }
        }
    }
    Ok(c)
}

/// Fields waiting for keying in the store.
pub async fn awaiting_fields(db_url: &str) -> Result<usize> {
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(db_url).await?;
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM fields WHERE status = 'awaiting_keying'")
        .fetch_one(&mut db)
        .await?
        .get(0);
    db.close().await?;
    Ok(n as usize)
}

/// Where document `id`'s index record is once packaged: inside its
/// batch delivery folder under `out`.
pub fn package_index(out: &Path, id: &str) -> PathBuf {
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().join(id).join("data/metadata/index.json"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| out.join(id).join("data/metadata/index.json"))
}

/// Waits until every document of `ids` has a package with
/// `data/index.json` under `out`, or until none was added for `quiet`;
/// returns how many have.
pub async fn wait_packages(out: &Path, ids: &[String], quiet: Duration) -> usize {
    let mut last = (0, Instant::now());
    loop {
        let n = ids
            .iter()
            .filter(|id| package_index(out, id).is_file())
            .count();
        if n == ids.len() {
            return n;
        }
        if n > last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > quiet {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---- the load ---------------------------------------------------------------

/// Settings of one load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Simulated users doing next/submit; `arbiters` of them have the
    /// arbiter role (arbitrations first, then key tasks), the rest keyers.
    pub keyers: usize,
    pub arbiters: usize,
    /// The measured phase.
    pub seconds: f64,
    /// Think time per task in the measured phase, uniform in [lo, hi] ms.
    pub think_ms: (u64, u64),
    /// Share of key submissions given a wrong (mask-fitting) value, so
    /// that some fields go to arbitration.
    pub wrong_rate: f64,
    /// Documents waiting for keying at the start (6 fields each).
    pub documents: usize,
    /// The whole run, drain included, must end within this.
    pub limit: Duration,
    pub seed: u64,
    /// Also fetch each task's snippet image, as the station page does.
    pub snippets: bool,
    /// Users (the first ones) who sit on their first task past the lease
    /// (`lease_s` + 1.5 s) before submitting: the late submit must be
    /// refused (409) and the task handed out again. 0 in the bench
    /// (leases are 2 min there).
    pub stallers: usize,
    /// `[keying] lease_seconds` for the run (None: the default, 120 s).
    pub lease_s: Option<f64>,
}

impl LoadConfig {
    /// Documents enough for `seconds` of think-time keying, and 15 % more
    /// (keyers never find the queue empty in the measured phase; the rest
    /// is drained without think time afterwards).
    pub fn documents_for(keyers: usize, seconds: f64, think_ms: (u64, u64)) -> usize {
        let mean_s = (think_ms.0 + think_ms.1) as f64 / 2000.0;
        let submits = keyers as f64 * seconds / mean_s.max(0.01);
        ((submits / 12.0) * 1.15).ceil().max(1.0) as usize
    }
}

/// What one load run measured and counted.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub backend: Backend,
    pub keyers: usize,
    pub arbiters: usize,
    pub think_ms: (u64, u64),
    pub documents: usize,
    pub fields: usize,
    pub seconds: f64,
    pub drain_seconds: f64,
    /// In the measured phase.
    pub submits: usize,
    pub submits_per_s: f64,
    pub requests_per_s: f64,
    pub next_p50_ms: f64,
    pub next_p99_ms: f64,
    pub next_max_ms: f64,
    pub submit_p50_ms: f64,
    pub submit_p99_ms: f64,
    pub submit_max_ms: f64,
    /// Snippet fetches (with `snippets`), p50 / p99 ms.
    pub snippets: usize,
    pub snippet_p50_ms: f64,
    pub snippet_p99_ms: f64,
    pub empty_nexts: usize,
    pub server_cpu_s: f64,
    pub client_cpu_s: f64,
    /// The whole machine's CPU busy share over the measured phase.
    pub machine_busy: f64,
    pub load_avg: String,
    /// PostgreSQL only: mean backends of the run's database per state /
    /// wait event over the measured phase.
    pub pg_waits: Vec<(String, f64)>,
    /// Whole run.
    pub conflicts_409: usize,
    /// 409 answers to submits that were not late.
    pub conflicts_409_in_lease: usize,
    pub stalled: usize,
    pub rejected_422: usize,
    pub errors: Vec<String>,
    pub hand_outs: HandOuts,
    pub store: StoreCounts,
    pub packaged: usize,
    /// From the last field final to the last package written.
    pub package_wait_s: f64,
    pub timed_out: bool,
    /// The client log: every task each user held.
    pub log: Vec<Held>,
}

impl LoadReport {
    /// Everything that breaks a rule; empty when the run is clean.
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.store.problems();
        if self.hand_outs.to_several_users > 0 {
            p.push(format!(
                "{} tasks handed out to several users",
                self.hand_outs.to_several_users
            ));
        }
        if self.hand_outs.overlapping > 0 {
            p.push(format!(
                "{} overlapping hand-outs",
                self.hand_outs.overlapping
            ));
        }
        if self.hand_outs.accepted_twice > 0 {
            p.push(format!(
                "{} tasks accepted twice",
                self.hand_outs.accepted_twice
            ));
        }
        if self.conflicts_409_in_lease > 0 {
            p.push(format!(
                "{} submits within their lease answered 409",
                self.conflicts_409_in_lease
            ));
        }
        if self.hand_outs.late_accepted > 0 {
            p.push(format!(
                "{} submits after the lease ran out accepted",
                self.hand_outs.late_accepted
            ));
        }
        if self.packaged < self.documents {
            p.push(format!(
                "{} of {} documents packaged",
                self.packaged, self.documents
            ));
        }
        if self.timed_out {
            p.push("the run did not finish in its time limit".into());
        }
        p.extend(self.errors.iter().take(5).cloned());
        p
    }

    pub fn to_json(&self) -> Value {
        let pairs: Vec<(&str, Value)> = vec![
            ("backend", json!(self.backend.name())),
            ("keyers", json!(self.keyers)),
            ("arbiters", json!(self.arbiters)),
            ("think_ms", json!([self.think_ms.0, self.think_ms.1])),
            ("documents", json!(self.documents)),
            ("fields", json!(self.fields)),
            ("seconds", json!(self.seconds)),
            ("drain_seconds", json!(self.drain_seconds)),
            ("submits", json!(self.submits)),
            ("submits_per_s", json!(self.submits_per_s)),
            ("requests_per_s", json!(self.requests_per_s)),
            ("next_p50_ms", json!(self.next_p50_ms)),
            ("next_p99_ms", json!(self.next_p99_ms)),
            ("next_max_ms", json!(self.next_max_ms)),
            ("submit_p50_ms", json!(self.submit_p50_ms)),
            ("submit_p99_ms", json!(self.submit_p99_ms)),
            ("submit_max_ms", json!(self.submit_max_ms)),
            ("snippets", json!(self.snippets)),
            ("snippet_p50_ms", json!(self.snippet_p50_ms)),
            ("snippet_p99_ms", json!(self.snippet_p99_ms)),
            ("empty_nexts", json!(self.empty_nexts)),
            ("server_cpu_s", json!(self.server_cpu_s)),
            ("client_cpu_s", json!(self.client_cpu_s)),
            ("machine_busy", json!(self.machine_busy)),
            ("pg_waits", json!(self.pg_waits)),
            ("load_avg", json!(self.load_avg)),
            ("conflicts_409", json!(self.conflicts_409)),
            ("conflicts_409_in_lease", json!(self.conflicts_409_in_lease)),
            ("stalled", json!(self.stalled)),
            ("rejected_422", json!(self.rejected_422)),
            (
                "tasks_to_several_users",
                json!(self.hand_outs.to_several_users),
            ),
            (
                "handed_out_again_after_expiry",
                json!(self.hand_outs.again_after_expiry),
            ),
            ("late_accepted", json!(self.hand_outs.late_accepted)),
            ("overlapping_hand_outs", json!(self.hand_outs.overlapping)),
            ("accepted_twice", json!(self.hand_outs.accepted_twice)),
            ("fields_final", json!(self.store.final_fields)),
            ("double_keyed", json!(self.store.double_keyed)),
            ("arbitrated", json!(self.store.arbitrated)),
            ("lost_submissions", json!(self.store.lost_submissions)),
            ("unexplained_done", json!(self.store.unexplained_done)),
            ("passes_wrong", json!(self.store.passes_wrong)),
            ("arbiter_wrong", json!(self.store.arbiter_wrong)),
            ("final_wrong", json!(self.store.final_wrong)),
            ("routing_wrong", json!(self.store.routing_wrong)),
            ("packaged", json!(self.packaged)),
            ("package_wait_s", json!(self.package_wait_s)),
            ("problems", json!(self.problems())),
        ];
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

/// Busy and total jiffies of the whole machine (`/proc/stat`).
pub fn machine_jiffies() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = s
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// Where PostgreSQL's backends of one database are while the load runs:
/// `pg_stat_activity` sampled every 20 ms from a connection of its own.
pub struct PgSampler {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<(usize, BTreeMap<String, usize>)>,
}

impl PgSampler {
    pub async fn start(url: &str) -> Result<PgSampler> {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = tokio::spawn(async move {
            let mut samples = 0;
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            while !flag.load(Ordering::Relaxed) {
                let rows = sqlx::query(
                    "SELECT state, COALESCE(wait_event_type, 'CPU'), COALESCE(wait_event, '') \
                     FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default();
                samples += 1;
                for r in &rows {
                    let state: String = r.try_get(0).unwrap_or_default();
                    let t: String = r.try_get(1).unwrap_or_default();
                    let e: String = r.try_get(2).unwrap_or_default();
                    let key = if state == "active" {
                        format!("{t}:{e}")
                    } else {
                        format!("{state} ({t}:{e})")
                    };
                    *seen.entry(key).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = conn.close().await;
            (samples, seen)
        });
        Ok(PgSampler { stop, handle })
    }

    /// Mean backends per sample in each state/wait, most first.
    pub async fn stop(self) -> Vec<(String, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        let (n, seen) = self.handle.await.unwrap_or_default();
        let mut v: Vec<(String, f64)> = seen
            .into_iter()
            .map(|(k, c)| (k, c as f64 / n.max(1) as f64))
            .collect();
        v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        v
    }
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A wrong value that still fits the field's shape: one digit (not the
/// first character) changed to another digit.
fn wrong_value(truth: &str, rng: &mut Rng) -> String {
    let mut c: Vec<char> = truth.chars().collect();
    let digits: Vec<usize> = (1..c.len()).filter(|&i| c[i].is_ascii_digit()).collect();
    if digits.is_empty() {
        return format!("{truth}0");
    }
    let i = digits[rng.below(digits.len())];
    let d = c[i] as u8 - b'0';
    c[i] = (b'0' + (d + 1 + rng.below(9) as u8) % 10) as char;
    c.into_iter().collect()
}

struct LoadShared {
    start: Instant,
    end: Instant,
    limit: Instant,
    total_fields: usize,
    finals: AtomicUsize,
    stop: AtomicBool,
    timed_out: AtomicBool,
}

#[derive(Default)]
struct KeyerLog {
    held: Vec<Held>,
    next_ms: Vec<f64>,
    submit_ms: Vec<f64>,
    snippet_ms: Vec<f64>,
    requests: usize,
    empty: usize,
    errors: Vec<String>,
}

/// One user's loop: next → think → submit, until every field is final.
async fn load_keyer(
    index: usize,
    api: Api,
    sh: Arc<LoadShared>,
    truth: Arc<BTreeMap<String, String>>,
    cfg: LoadConfig,
    seed: u64,
) -> KeyerLog {
    let mut rng = Rng::new(seed);
    let mut log = KeyerLog::default();
    // Users start spread over one think time, as a shift does.
    tokio::time::sleep(Duration::from_millis(
        rng.below(cfg.think_ms.1 as usize + 1) as u64,
    ))
    .await;
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        if Instant::now() > sh.limit {
            sh.timed_out.store(true, Ordering::Relaxed);
            sh.stop.store(true, Ordering::Relaxed);
            break;
        }
        let (task, t) = match api.next().await {
            Ok(x) => x,
            Err(e) => {
                log.errors.push(format!("{e:#}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let measured = t.sent < sh.end;
        if measured {
            log.next_ms.push(t.ms());
            log.requests += 1;
        }
        let Some(task) = task else {
            if measured {
                log.empty += 1;
            }
            let nap = if measured { 500 } else { 50 };
            tokio::time::sleep(Duration::from_millis(nap)).await;
            continue;
        };
        if cfg.snippets && measured && !task.snippet_url.is_empty() {
            match api.fetch(&task.snippet_url).await {
                Ok((_, at)) => {
                    if at.sent < sh.end {
                        log.snippet_ms.push(at.ms());
                        log.requests += 1;
                    }
                }
                Err(e) => log.errors.push(format!("{e:#}")),
            }
        }
        let stalled = index < cfg.stallers && log.held.is_empty();
        if stalled {
            let lease = cfg.lease_s.unwrap_or(120.0);
            tokio::time::sleep(Duration::from_secs_f64(lease + 1.5)).await;
        } else if Instant::now() < sh.end {
            let think =
                cfg.think_ms.0 + rng.below((cfg.think_ms.1 - cfg.think_ms.0) as usize + 1) as u64;
            tokio::time::sleep(Duration::from_millis(think)).await;
        }
        let true_value = truth.get(&task.field).cloned().unwrap_or_default();
        let mut value = if task.kind == "key" && rng.f64() < cfg.wrong_rate {
            wrong_value(&true_value, &mut rng)
        } else {
            true_value.clone()
        };
        let mut held = Held {
            user: api.user.clone(),
            task: task.clone(),
            got: t,
            submits: Vec::new(),
            stalled,
        };
        for _attempt in 0..2 {
            let keystrokes = value.chars().count() + 1;
            let body =
                json!({"value": value, "keystrokes": keystrokes, "active_ms": 250 * keystrokes});
            match api.submit(task.id, &body).await {
                Ok((status, state, at)) => {
                    if at.sent < sh.end {
                        log.submit_ms.push(at.ms());
                        log.requests += 1;
                    }
                    if status == 200 && state.as_deref() == Some("final") {
                        let n = sh.finals.fetch_add(1, Ordering::SeqCst) + 1;
                        if n >= sh.total_fields {
                            sh.stop.store(true, Ordering::Relaxed);
                        }
                    }
                    held.submits.push(Submitted {
                        body,
                        status,
                        state,
                        at,
                    });
                    if status == 422 && value != true_value {
                        value = true_value.clone();
                        continue;
                    }
                    if status == 409 && stalled {
                        break;
                    }
                    if status != 200 && status != 409 && status != 422 {
                        log.errors
                            .push(format!("submit {}: HTTP {status}", task.id));
                    }
                }
                Err(e) => log.errors.push(format!("submit {}: {e:#}", task.id)),
            }
            break;
        }
        log.held.push(held);
    }
    log
}

/// Runs the load against a station whose documents are seeded and users
/// made (`keyers`: `k001…`, `arbiters`: `a01…`).
pub async fn run_load(
    station: &Station,
    cfg: &LoadConfig,
    truth: BTreeMap<String, String>,
    docs: &[SeedDoc],
) -> Result<LoadReport> {
    let total_fields = awaiting_fields(&station.db_url).await?;
    let mut server = station.serve();
    server.healthy().await?;
    let names = load_users(cfg)
        .into_iter()
        .map(|(n, _)| n)
        .collect::<Vec<_>>();
    let apis = login_all(&server.base, &names).await?;
    let start = Instant::now();
    let sh = Arc::new(LoadShared {
        start,
        end: start + Duration::from_secs_f64(cfg.seconds),
        limit: start + cfg.limit,
        total_fields,
        finals: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        timed_out: AtomicBool::new(false),
    });
    let truth = Arc::new(truth);
    let sampler = match station.backend {
        Backend::Postgres => Some(PgSampler::start(&station.db_url).await?),
        Backend::Sqlite => None,
    };
    let cpu0 = server.cpu_seconds();
    let me0 = proc_cpu_seconds("/proc/self/stat");
    let machine0 = machine_jiffies();
    let load_at_start = load_average();
    let mut handles = Vec::new();
    for (i, api) in apis.into_iter().enumerate() {
        handles.push(tokio::spawn(load_keyer(
            i,
            api,
            sh.clone(),
            truth.clone(),
            cfg.clone(),
            cfg.seed.wrapping_add(i as u64 * 7919),
        )));
    }
    // CPU over the measured phase only.
    let until_end = sh.end.saturating_duration_since(Instant::now());
    tokio::time::sleep(until_end).await;
    let server_cpu = server.cpu_seconds() - cpu0;
    let client_cpu = proc_cpu_seconds("/proc/self/stat") - me0;
    let machine1 = machine_jiffies();
    let machine_busy = (machine1.0 - machine0.0) / (machine1.1 - machine0.1).max(1.0);
    let pg_waits = match sampler {
        Some(s) => s.stop().await,
        None => Vec::new(),
    };
    let load_at_end = load_average();
    let mut logs = Vec::new();
    for h in handles {
        logs.push(h.await?);
    }
    let finished = Instant::now();
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    let packaged = wait_packages(&station.out, &ids, Duration::from_secs(30)).await;
    let package_wait_s = finished.elapsed().as_secs_f64();
    let server_log = server.stop();
    let held: Vec<Held> = logs
        .iter_mut()
        .flat_map(|l| std::mem::take(&mut l.held))
        .collect();
    let next_ms: Vec<f64> = logs
        .iter()
        .flat_map(|l| l.next_ms.iter().copied())
        .collect();
    let submit_ms: Vec<f64> = logs
        .iter()
        .flat_map(|l| l.submit_ms.iter().copied())
        .collect();
    let snippet_ms: Vec<f64> = logs
        .iter()
        .flat_map(|l| l.snippet_ms.iter().copied())
        .collect();
    let requests: usize = logs.iter().map(|l| l.requests).sum();
    let mut errors: Vec<String> = logs.iter().flat_map(|l| l.errors.iter().cloned()).collect();
    if !errors.is_empty() {
        let tail: String = server_log
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n");
        errors.push(format!("server log tail:\n{tail}"));
    }
    let statuses = |code: u16| {
        held.iter()
            .flat_map(|h| h.submits.iter())
            .filter(|s| s.status == code)
            .count()
    };
    let store = store_counts(&station.db_url, &held).await?;
    Ok(LoadReport {
        backend: station.backend,
        keyers: cfg.keyers,
        arbiters: cfg.arbiters,
        think_ms: cfg.think_ms,
        documents: docs.len(),
        fields: total_fields,
        seconds: cfg.seconds,
        drain_seconds: (finished - sh.end).as_secs_f64().max(0.0),
        submits: submit_ms.len(),
        submits_per_s: submit_ms.len() as f64 / cfg.seconds,
        requests_per_s: requests as f64 / cfg.seconds,
        next_p50_ms: quantile(&next_ms, 0.5),
        next_p99_ms: quantile(&next_ms, 0.99),
        next_max_ms: quantile(&next_ms, 1.0),
        submit_p50_ms: quantile(&submit_ms, 0.5),
        submit_p99_ms: quantile(&submit_ms, 0.99),
        submit_max_ms: quantile(&submit_ms, 1.0),
        snippets: snippet_ms.len(),
        snippet_p50_ms: quantile(&snippet_ms, 0.5),
        snippet_p99_ms: quantile(&snippet_ms, 0.99),
        empty_nexts: logs.iter().map(|l| l.empty).sum(),
        server_cpu_s: server_cpu,
        client_cpu_s: client_cpu,
        machine_busy,
        pg_waits,
        load_avg: format!("{load_at_start} → {load_at_end}"),
        conflicts_409: statuses(409),
        conflicts_409_in_lease: held
            .iter()
            .filter(|h| !h.stalled)
            .flat_map(|h| h.submits.iter())
            .filter(|s| s.status == 409)
            .count(),
        stalled: held.iter().filter(|h| h.stalled).count(),
        rejected_422: statuses(422),
        errors,
        hand_outs: hand_outs(&held),
        store,
        packaged,
        package_wait_s,
        timed_out: sh.timed_out.load(Ordering::Relaxed),
        log: held,
    })
}

/// The users of a load run: `(name, role)`.
pub fn load_users(cfg: &LoadConfig) -> Vec<(String, &'static str)> {
    let mut v = Vec::new();
    for i in 0..cfg.keyers {
        if i < cfg.arbiters {
            v.push((format!("a{:03}", i + 1), "arbiter"));
        } else {
            v.push((format!("k{:03}", i + 1), "keyer"));
        }
    }
    v
}

/// A whole load run: seed (OCR one page, clone it), users, serve, run,
/// count.
pub async fn load_on(station: &Station, cfg: &LoadConfig, seed_page: &str) -> Result<LoadReport> {
    if let Some(s) = cfg.lease_s {
        station.set_lease_seconds(s);
    }
    let seed = station.ocr(&[seed_page]);
    let docs = station
        .clone_documents(cfg.documents.saturating_sub(seed.len()))
        .await?;
    if docs.len() != cfg.documents.max(seed.len()) {
        bail!("seeded {} documents, wanted {}", docs.len(), cfg.documents);
    }
    let users = load_users(cfg);
    station.add_users(&users);
    run_load(station, cfg, truth_of(seed_page), &docs).await
}

pub fn load_table_header() -> String {
    "| backend | keyers (arbiters) | think s | measured s | submits/s | requests/s | next p50 / p99 ms | submit p50 / p99 ms | server CPU | fields final | double / arbitrated | handed out twice | overlapping | lost | 409 in lease |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        .to_string()
}

pub fn load_table_row(r: &LoadReport) -> String {
    format!(
        "| {} | {} ({}) | {:.1}–{:.1} | {:.0} | {:.1} | {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0} % | {} / {} | {} / {} | {} | {} | {} | {} |",
        r.backend.name(),
        r.keyers,
        r.arbiters,
        r.think_ms.0 as f64 / 1e3,
        r.think_ms.1 as f64 / 1e3,
        r.seconds,
        r.submits_per_s,
        r.requests_per_s,
        r.next_p50_ms,
        r.next_p99_ms,
        r.submit_p50_ms,
        r.submit_p99_ms,
        100.0 * r.server_cpu_s / r.seconds,
        r.store.final_fields,
        r.fields,
        r.store.double_keyed,
        r.store.arbitrated,
        r.hand_outs.to_several_users,
        r.hand_outs.overlapping,
        r.store.lost_submissions,
        r.conflicts_409_in_lease,
    )
}

// ---- the keying simulation ---------------------------------------------------

/// The error model of a simulated keyer.
#[derive(Debug, Clone)]
pub struct ErrorModel {
    /// Share of keyings with a slip of the fingers: an adjacent-key typo,
    /// a transposition or a dropped character (a third each).
    pub slip: f64,
    /// Share of fields with one look-alike glyph on the paper (1/7, 3/8,
    /// 5/6, 0/8, 4/9, 2/7): the same for every keyer of that field.
    pub lookalike_fields: f64,
    /// Chance a keyer reads such a glyph as its look-alike, independently
    /// of the other keyer: both make the identical error with its square.
    pub misread: f64,
    /// The same for an arbiter (who zooms in and knows the field is in
    /// dispute).
    pub arbiter_misread: f64,
    /// Slips of an arbiter who types a value (neither entry is right).
    pub arbiter_slip: f64,
}

impl ErrorModel {
    /// The model the README's figures use, fixed before any run: 1 % of
    /// keyings slip; 0.5 % of fields carry a look-alike glyph that a keyer
    /// misreads 30 % of the time (so 0.045 % of fields get the identical
    /// error from both keyers), an arbiter 10 %.
    pub fn realistic() -> ErrorModel {
        ErrorModel {
            slip: 0.01,
            lookalike_fields: 0.005,
            misread: 0.3,
            arbiter_misread: 0.1,
            arbiter_slip: 0.01,
        }
    }
}

const LOOKALIKES: [(char, char); 12] = [
    ('1', '7'),
    ('7', '1'),
    ('3', '8'),
    ('8', '3'),
    ('5', '6'),
    ('6', '5'),
    ('0', '8'),
    ('4', '9'),
    ('9', '4'),
    ('2', '7'),
    ('X', 'K'),
    ('D', 'O'),
];

/// The look-alike glyph of one field instance, if it has one: `(position,
/// what it may be read as)`. Drawn from the field's identity, so every
/// keyer of the field sees the same paper.
pub fn lookalike(doc: &str, field: &str, truth: &str, m: &ErrorModel) -> Option<(usize, char)> {
    let mut r = Rng::new(fnv(&format!("{doc}/{field}")));
    if r.f64() >= m.lookalike_fields {
        return None;
    }
    let c: Vec<char> = truth.chars().collect();
    let spots: Vec<(usize, char)> = c
        .iter()
        .enumerate()
        .filter_map(|(i, ch)| {
            LOOKALIKES
                .iter()
                .find(|(a, _)| a == ch)
                .map(|(_, b)| (i, *b))
        })
        .collect();
    if spots.is_empty() {
        return None;
    }
    Some(spots[r.below(spots.len())])
}

fn neighbour(c: char, rng: &mut Rng) -> char {
    // Keypad neighbours for digits, keyboard neighbours for the rest.
    let n: &[char] = match c {
        '0' => &['1', '2', '.'],
        '1' => &['2', '4', '0'],
        '2' => &['1', '3', '5'],
        '3' => &['2', '6', '.'],
        '4' => &['1', '5', '7'],
        '5' => &['2', '4', '6', '8'],
        '6' => &['3', '5', '9'],
        '7' => &['4', '8'],
        '8' => &['5', '7', '9'],
        '9' => &['6', '8'],
        'D' => &['S', 'F'],
        'A' => &['S', 'Q'],
        'P' => &['O', 'L'],
        'X' => &['Z', 'C'],
        '-' => &['=', '0'],
        ',' => &['.', 'M'],
        '.' => &[',', '/'],
        _ => &['0'],
    };
    n[rng.below(n.len())]
}

/// What a keyer types for a field: the paper as read (look-alike glyph
/// perhaps misread), then perhaps one slip.
pub fn key_value(
    truth: &str,
    look: Option<(usize, char)>,
    misread: f64,
    slip: f64,
    rng: &mut Rng,
) -> String {
    let mut c: Vec<char> = truth.chars().collect();
    if let Some((i, as_)) = look
        && rng.f64() < misread
    {
        c[i] = as_;
    }
    if rng.f64() < slip && !c.is_empty() {
        let i = rng.below(c.len());
        match rng.below(3) {
            0 => c[i] = neighbour(c[i], rng),
            1 => {
                let j = if i + 1 < c.len() {
                    i + 1
                } else {
                    i.saturating_sub(1)
                };
                if c[i] != c[j] {
                    c.swap(i, j);
                } else {
                    c[i] = neighbour(c[i], rng);
                }
            }
            _ => {
                c.remove(i);
            }
        }
    }
    c.into_iter().collect()
}

/// Settings of one simulation run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub keyers: usize,
    pub arbiters: usize,
    pub model: ErrorModel,
    pub limit: Duration,
    pub seed: u64,
}

/// What a simulation run measured.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    pub backend: String,
    pub pages: usize,
    pub documents: usize,
    pub fields: usize,
    /// Final values equal to the truth (trimmed), out of `fields`.
    pub correct: usize,
    pub accuracy: f64,
    /// First keyings equal to the truth: single-keying accuracy.
    pub single_correct: usize,
    pub single_keyings: usize,
    pub double_keyed: usize,
    pub arbitrated: usize,
    pub wrong_double_keyed: usize,
    pub wrong_arbitrated: usize,
    /// Arbitrated final values that fail the field's own check (ID check
    /// digit, date) — the server takes an arbiter's value unchecked.
    pub arbitrated_failing_check: usize,
    pub keystrokes: u64,
    pub keystrokes_per_document: f64,
    /// Keystrokes one careful keying of every field would take.
    pub single_keystrokes_per_document: f64,
    pub submits: usize,
    pub rejected_422: usize,
    pub conflicts_409: usize,
    pub seconds: f64,
    pub packaged: usize,
    pub from_packages: usize,
    pub store: StoreCounts,
    pub hand_outs: HandOuts,
    pub errors: Vec<String>,
    pub wrong_examples: Vec<String>,
    pub timed_out: bool,
}

impl SimReport {
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.store.problems();
        if self.hand_outs.to_several_users > 0 || self.hand_outs.overlapping > 0 {
            p.push(format!(
                "{} tasks to several users, {} overlapping",
                self.hand_outs.to_several_users, self.hand_outs.overlapping
            ));
        }
        if self.hand_outs.accepted_twice > 0 {
            p.push(format!(
                "{} tasks accepted twice",
                self.hand_outs.accepted_twice
            ));
        }
        if self.packaged < self.documents {
            p.push(format!(
                "{} of {} documents packaged",
                self.packaged, self.documents
            ));
        }
        if self.timed_out {
            p.push("the run did not finish in its time limit".into());
        }
        p.extend(self.errors.iter().take(5).cloned());
        p
    }

    pub fn to_json(&self) -> Value {
        let pairs: Vec<(&str, Value)> = vec![
            ("backend", json!(self.backend)),
            ("pages", json!(self.pages)),
            ("documents", json!(self.documents)),
            ("fields", json!(self.fields)),
            ("correct", json!(self.correct)),
            ("accuracy", json!(self.accuracy)),
            (
                "single_keying_accuracy",
                json!(self.single_correct as f64 / self.single_keyings.max(1) as f64),
            ),
            ("double_keyed", json!(self.double_keyed)),
            ("arbitrated", json!(self.arbitrated)),
            ("wrong_double_keyed", json!(self.wrong_double_keyed)),
            ("wrong_arbitrated", json!(self.wrong_arbitrated)),
            (
                "arbitrated_failing_check",
                json!(self.arbitrated_failing_check),
            ),
            ("keystrokes", json!(self.keystrokes)),
            (
                "keystrokes_per_document",
                json!(self.keystrokes_per_document),
            ),
            (
                "single_keystrokes_per_document",
                json!(self.single_keystrokes_per_document),
            ),
            ("submits", json!(self.submits)),
            ("rejected_422", json!(self.rejected_422)),
            ("conflicts_409", json!(self.conflicts_409)),
            ("seconds", json!(self.seconds)),
            ("packaged", json!(self.packaged)),
            ("accuracy_read_from_packages", json!(self.from_packages)),
            ("wrong_examples", json!(self.wrong_examples)),
            ("problems", json!(self.problems())),
        ];
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

struct SimShared {
    limit: Instant,
    total_fields: usize,
    finals: AtomicUsize,
    stop: AtomicBool,
    timed_out: AtomicBool,
    /// original file name → field → truth.
    truth: HashMap<String, BTreeMap<String, String>>,
    /// task id → (document, original name), looked up by the supervisor.
    where_: tokio::sync::Mutex<HashMap<i64, (String, String)>>,
    supervisor: Api,
}

#[derive(Default)]
struct SimLog {
    held: Vec<Held>,
    keystrokes: u64,
    errors: Vec<String>,
}

async fn locate(sh: &SimShared, task: i64) -> Result<(String, String)> {
    if let Some(w) = sh.where_.lock().await.get(&task) {
        return Ok(w.clone());
    }
    let v = sh.supervisor.get(&format!("/api/v1/tasks/{task}")).await?;
    let w = (
        v["document"].as_str().unwrap_or_default().to_string(),
        v["original_name"].as_str().unwrap_or_default().to_string(),
    );
    sh.where_.lock().await.insert(task, w.clone());
    Ok(w)
}

async fn sim_user(api: Api, sh: Arc<SimShared>, model: ErrorModel, seed: u64) -> SimLog {
    let mut rng = Rng::new(seed);
    let mut log = SimLog::default();
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        if Instant::now() > sh.limit {
            sh.timed_out.store(true, Ordering::Relaxed);
            sh.stop.store(true, Ordering::Relaxed);
            break;
        }
        let (task, got) = match api.next().await {
            Ok(x) => x,
            Err(e) => {
                log.errors.push(format!("{e:#}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Some(task) = task else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (doc, original) = match locate(&sh, task.id).await {
            Ok(w) => w,
            Err(e) => {
                log.errors.push(format!("{e:#}"));
                continue;
            }
        };
        let truth = sh
            .truth
            .get(&original)
            .and_then(|t| t.get(&task.field))
            .cloned()
            .unwrap_or_default();
        let look = lookalike(&doc, &task.field, &truth, &model);
        let mut held = Held {
            user: api.user.clone(),
            task: task.clone(),
            got,
            submits: Vec::new(),
            stalled: false,
        };
        // A 422 (the value does not fit the mask) makes the keyer look
        // again and retype. A keyer who still cannot make it fit gives the
        // task back (as the station's skip does) rather than sit on its
        // lease: a look-alike misread can be refused several times running.
        let mut refused = false;
        for _try in 0..MAX_RETYPES {
            let (value, keystrokes) = if task.kind == "arbitrate" {
                let read = key_value(&truth, look, model.arbiter_misread, 0.0, &mut rng);
                let pick = task.entries.iter().find(|(o, v)| {
                    o == "value" && v.as_deref().map(str::trim) == Some(read.as_str())
                });
                match pick {
                    // Picks entry 1 or 2: one key and Enter.
                    Some((_, Some(v))) => (v.trim().to_string(), 2),
                    _ => {
                        let typed = key_value(&read, None, 0.0, model.arbiter_slip, &mut rng);
                        let n = typed.chars().count() + 1;
                        (typed, n)
                    }
                }
            } else {
                let typed = key_value(&truth, look, model.misread, model.slip, &mut rng);
                let n = typed.chars().count() + 1;
                (typed, n)
            };
            log.keystrokes += keystrokes as u64;
            let body =
                json!({"value": value, "keystrokes": keystrokes, "active_ms": 300 * keystrokes});
            match api.submit(task.id, &body).await {
                Ok((status, state, at)) => {
                    if status == 200 && state.as_deref() == Some("final") {
                        let n = sh.finals.fetch_add(1, Ordering::SeqCst) + 1;
                        if n >= sh.total_fields {
                            sh.stop.store(true, Ordering::Relaxed);
                        }
                    }
                    held.submits.push(Submitted {
                        body,
                        status,
                        state,
                        at,
                    });
                    if status == 422 {
                        refused = true;
                        continue;
                    }
                    refused = false;
                    if status != 200 {
                        log.errors
                            .push(format!("submit {}: HTTP {status}", task.id));
                    }
                }
                Err(e) => log.errors.push(format!("submit {}: {e:#}", task.id)),
            }
            break;
        }
        if refused && let Err(e) = api.release(task.id).await {
            log.errors.push(format!("release {}: {e:#}", task.id));
        }
        log.held.push(held);
    }
    log
}

/// Tries a simulated keyer makes at a value the server refuses (422)
/// before giving the task back.
const MAX_RETYPES: usize = 12;

/// The users of a simulation: `(name, role)`, and the supervisor `sup`.
pub fn sim_users(cfg: &SimConfig) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = (1..=cfg.keyers)
        .map(|i| (format!("k{i:03}"), "keyer"))
        .collect();
    v.extend((1..=cfg.arbiters).map(|i| (format!("a{i:02}"), "arbiter")));
    v.push(("sup".into(), "supervisor"));
    v
}

/// A whole simulation: OCR `pages`, clone each `copies` times, key every
/// field through the API with the error model, and score the packages
/// against the truth.
pub async fn simulate(
    station: &Station,
    cfg: &SimConfig,
    pages: &[&str],
    copies: usize,
) -> Result<SimReport> {
    let seed = station.ocr(pages);
    let docs = station.clone_documents(copies).await?;
    if docs.len() != seed.len() * (copies + 1) {
        bail!(
            "seeded {} documents, wanted {}",
            docs.len(),
            seed.len() * (copies + 1)
        );
    }
    let truth: HashMap<String, BTreeMap<String, String>> =
        pages.iter().map(|p| (p.to_string(), truth_of(p))).collect();
    station.add_users(&sim_users(cfg));
    let total_fields = awaiting_fields(&station.db_url).await?;
    let mut server = station.serve();
    server.healthy().await?;
    let supervisor = Api::login(&server.base, "sup", PASSWORD).await?;
    let names: Vec<String> = sim_users(cfg)
        .into_iter()
        .filter(|(_, r)| *r != "supervisor")
        .map(|(n, _)| n)
        .collect();
    let apis = login_all(&server.base, &names).await?;
    let start = Instant::now();
    let sh = Arc::new(SimShared {
        limit: start + cfg.limit,
        total_fields,
        finals: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        timed_out: AtomicBool::new(false),
        truth: truth.clone(),
        where_: tokio::sync::Mutex::new(HashMap::new()),
        supervisor,
    });
    let mut handles = Vec::new();
    for (i, api) in apis.into_iter().enumerate() {
        handles.push(tokio::spawn(sim_user(
            api,
            sh.clone(),
            cfg.model.clone(),
            cfg.seed.wrapping_add(i as u64 * 104_729),
        )));
    }
    let mut logs = Vec::new();
    for h in handles {
        logs.push(h.await?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    let packaged = wait_packages(&station.out, &ids, Duration::from_secs(30)).await;
    server.stop();
    let held: Vec<Held> = logs
        .iter_mut()
        .flat_map(|l| std::mem::take(&mut l.held))
        .collect();
    let store = store_counts(&station.db_url, &held).await?;

    // Score: the package's index.json where there is one, else the store.
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&station.db_url).await?;
    let stored: HashMap<(String, String), (Option<String>, Option<String>)> = sqlx::query(
        "SELECT document_id, name, final_value, source FROM fields WHERE source IS NULL OR source <> 'ocr'",
    )
    .fetch_all(&mut db)
    .await?
    .iter()
    .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
    .collect();
    db.close().await?;
    let mut r = SimReport {
        backend: station.backend.name().into(),
        pages: pages.len(),
        documents: docs.len(),
        packaged,
        seconds,
        ..Default::default()
    };
    let mut single_ks = 0u64;
    for d in &docs {
        let t = &truth[&d.original_name];
        let index: Option<Value> = std::fs::read_to_string(package_index(&station.out, &d.id))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok());
        if index.is_some() {
            r.from_packages += 1;
        }
        for ((doc, name), (fv, src)) in stored.iter().filter(|((doc, _), _)| doc == &d.id) {
            let (value, source) = match &index {
                Some(ix) => (
                    ix["fields"][name]["value"].as_str().map(str::to_string),
                    ix["fields"][name]["source"].as_str().map(str::to_string),
                ),
                None => (fv.clone(), src.clone()),
            };
            let want = t.get(name).cloned().unwrap_or_default();
            r.fields += 1;
            single_ks += want.chars().count() as u64 + 1;
            let ok = value.as_deref().map(str::trim) == Some(want.as_str());
            if ok {
                r.correct += 1;
            } else if r.wrong_examples.len() < 50 {
                r.wrong_examples.push(format!(
                    "{doc}/{name} ({}): final {value:?} via {source:?}, truth {want:?}",
                    d.original_name
                ));
            }
            match source.as_deref() {
                Some("double_keyed") => {
                    r.double_keyed += 1;
                    if !ok {
                        r.wrong_double_keyed += 1;
                    }
                }
                Some("arbitrated") => {
                    r.arbitrated += 1;
                    if !ok {
                        r.wrong_arbitrated += 1;
                    }
                    if let Some(v) = &value
                        && known_check(name, v.trim()) == Some(false)
                    {
                        r.arbitrated_failing_check += 1;
                    }
                }
                _ => {}
            }
        }
    }
    // Single keying: how often the first pass alone was right.
    let mut task_truth: HashMap<i64, String> = HashMap::new();
    {
        let w = sh.where_.lock().await;
        for h in &held {
            if let Some((_, orig)) = w.get(&h.task.id)
                && let Some(v) = truth.get(orig).and_then(|t| t.get(&h.task.field))
            {
                task_truth.insert(h.task.id, v.clone());
            }
        }
    }
    for h in held.iter().filter(|h| h.task.kind == "key") {
        if let (Some(s), Some(want)) = (h.accepted(), task_truth.get(&h.task.id)) {
            r.single_keyings += 1;
            if s.body["value"].as_str().map(str::trim) == Some(want.as_str()) {
                r.single_correct += 1;
            }
        }
    }
    r.accuracy = r.correct as f64 / r.fields.max(1) as f64;
    r.keystrokes = logs.iter().map(|l| l.keystrokes).sum();
    r.keystrokes_per_document = r.keystrokes as f64 / r.documents.max(1) as f64;
    r.single_keystrokes_per_document = single_ks as f64 / r.documents.max(1) as f64;
    r.submits = held.iter().map(|h| h.submits.len()).sum();
    let statuses = |code: u16| {
        held.iter()
            .flat_map(|h| h.submits.iter())
            .filter(|s| s.status == code)
            .count()
    };
    r.rejected_422 = statuses(422);
    r.conflicts_409 = statuses(409);
    r.hand_outs = hand_outs(&held);
    r.store = store;
    r.errors = logs.iter().flat_map(|l| l.errors.iter().cloned()).collect();
    r.timed_out = sh.timed_out.load(Ordering::Relaxed);
    Ok(r)
}

pub fn sim_table(r: &SimReport) -> String {
    format!(
        "| backend | pages × copies = documents | fields | final accuracy | single keying | double keyed / arbitrated | wrong after double keying / arbitration | keystrokes per document (one keying) | 422 re-keys |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} × {} = {} | {} | {:.3} % ({} wrong) | {:.2} % | {} / {} | {} / {} | {:.1} ({:.1}) | {} |",
        r.backend,
        r.pages,
        r.documents / r.pages.max(1),
        r.documents,
        r.fields,
        100.0 * r.accuracy,
        r.fields - r.correct,
        100.0 * r.single_correct as f64 / r.single_keyings.max(1) as f64,
        r.double_keyed,
        r.arbitrated,
        r.wrong_double_keyed,
        r.wrong_arbitrated,
        r.keystrokes_per_document,
        r.single_keystrokes_per_document,
        r.rejected_422,
    )
}
