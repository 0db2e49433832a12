//! The keying station from outside: a routed document in a fresh store,
//! `folio serve` as a child process, and an HTTP client per user with
//! its own cookie jar and CSRF token.

use super::{Env, make_batch, root, shared, write_config};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// A store holding routed documents: every field of the registration
/// form class goes to keying (threshold above any confidence).
pub struct Keyed {
    pub env: Env,
    pub config: PathBuf,
    pub db_url: String,
    /// The pages' forms-zh file names, in batch order.
    pub forms: Vec<String>,
    /// Document ids from the run, in order.
    pub documents: Vec<String>,
}

impl Keyed {
    /// Runs `forms` (forms-zh file names) through `folio run` on `db_url`
    /// (SQLite of the env when `None`); `extra_toml` is appended to the
    /// settings file (e.g. `[keying] lease_seconds = 3`).
    pub fn prepare(forms: &[&str], db_url: Option<&str>, extra_toml: &str) -> Keyed {
        let env = Env::new();
        let class =
            std::fs::read_to_string(root().join("config/classes/insurance_registration.toml"))
                .unwrap()
                .replace("confidence_threshold = 0.80", "confidence_threshold = 1.0");
        assert!(
            class.contains("= 1.0\n"),
            "class file changed: fix the fixture"
        );
        let config = write_config(
            &env,
            "insurance_registration",
            &[("insurance_registration", class)],
        );
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(extra_toml);
        std::fs::write(&config, text).unwrap();
        let files: Vec<(PathBuf, &str)> = forms
            .iter()
            .map(|f| (shared(&format!("forms-zh/{f}")), *f))
            .collect();
        let refs: Vec<(&Path, &str)> = files.iter().map(|(p, n)| (p.as_path(), *n)).collect();
        let batch = make_batch(&env, "forms", &refs);
        let db_url = db_url.map(str::to_string).unwrap_or_else(|| env.db_url());
        let keyed = Keyed {
            env,
            config,
            db_url,
            forms: forms.iter().map(|s| s.to_string()).collect(),
            documents: Vec::new(),
        };
        let out = keyed
            .folio(&[
                "run",
                batch.to_str().unwrap(),
                "--out",
                keyed.env.out().to_str().unwrap(),
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "folio run: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let documents = summary["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["state"], "awaiting_keying", "{d}");
                d["id"].as_str().unwrap().to_string()
            })
            .collect();
        Keyed { documents, ..keyed }
    }

    /// `folio ARGS` on this store with this settings file.
    pub fn folio(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.env.folio(&["--config", self.config.to_str().unwrap()]);
        c.args(args).env("FOLIO_DATABASE_URL", &self.db_url);
        c
    }

    /// Adds a station user.
    pub fn user(&self, name: &str, role: &str, password: &str) {
        use std::io::Write;
        let mut child = self
            .folio(&["user", "add", name, "--role", role, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "folio user add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `folio serve` on a free port; `extra_toml` replaces the
    /// settings' tail for this server only (another config file).
    pub fn serve(&self) -> Server {
        Server::start(self.folio(&["serve", "--listen", "127.0.0.1:0"]))
    }

    /// The truth of `field` on the page a document was made from.
    pub fn truth(&self, original_name: &str, field: &str) -> String {
        let stem = original_name.rsplit_once('.').unwrap().0;
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(shared(&format!("forms-zh/{stem}.json"))).unwrap(),
        )
        .unwrap();
        json["fields"][field]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no truth for {field} in {stem}"))
            .to_string()
    }
}

/// A running `folio serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(mut cmd: std::process::Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("folio serve: listening on ")
            .unwrap_or_else(|| panic!("folio serve said {line:?}"))
            .to_string();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser-less user of the station.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

impl Client {
    /// A client with its own cookie jar, not logged in.
    pub fn anonymous(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            csrf: String::new(),
        }
    }

    /// Logs in; panics unless 200.
    pub async fn login(base: &str, user: &str, password: &str) -> Client {
        let mut c = Client::anonymous(base);
        let r = c.try_login(user, password).await;
        assert_eq!(r.status(), 200, "login {user}");
        let body: serde_json::Value = r.json().await.unwrap();
        c.csrf = body["csrf"].as_str().unwrap().to_string();
        c
    }

    pub async fn try_login(&mut self, user: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/login", self.base))
            .json(&serde_json::json!({"user": user, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("X-CSRF-Token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/v1/tasks/next`: the task, or `None` on 204.
    pub async fn next(&self) -> Option<serde_json::Value> {
        let r = self.post("/api/v1/tasks/next", serde_json::json!({})).await;
        match r.status().as_u16() {
            200 => Some(r.json().await.unwrap()),
            204 => None,
            s => panic!("next: {s} {}", r.text().await.unwrap()),
        }
    }

    /// Submits a value; returns status and body.
    pub async fn submit(&self, id: i64, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.post(&format!("/api/v1/tasks/{id}/submit"), body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}
