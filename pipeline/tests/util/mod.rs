//! Helpers shared by the end-to-end tests: run the real `folio` binary in
//! a temporary data folder, reach the shared data, hash files.
#![allow(dead_code)]

pub mod browser;
pub mod harness;
pub mod pg;
pub mod proxy;
pub mod station;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (where `samples/` and `config/` are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A file under `../shared/data/`.
pub fn shared(rel: &str) -> PathBuf {
    let p = root().join("../shared/data").join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

/// A temporary workspace: data folder, output folder.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    pub fn db_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.data().join("folio.db").display()
        )
    }
    /// `folio ARGS` with the project's config, this env's data folder and
    /// SQLite, and OMP_THREAD_LIMIT left unset (folio must set it itself).
    pub fn folio(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_folio"));
        c.args(args)
            .current_dir(root())
            .env("FOLIO_DATA_DIR", self.data())
            .env("FOLIO_DATABASE_URL", self.db_url())
            .env_remove("OMP_THREAD_LIMIT")
            .env_remove("FOLIO_CONFIG");
        c
    }
    /// Runs `folio run DIR --out OUT --json EXTRA…`; returns output and JSON.
    pub fn run(&self, batch: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
        let out = self.out();
        let mut args = vec![
            "run",
            batch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let output = self.folio(&args).output().unwrap();
        let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "folio run printed no JSON ({e}); status {:?}\nstdout:\n{}\nstderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output, json)
    }
}

/// SHA-256 (hex) of a file.
pub fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under `dir` with its SHA-256 and modification time: a
/// snapshot to prove a folder was not touched.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (String, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().unwrap().modified().unwrap();
            (e.path().to_path_buf(), (sha256(e.path()), m))
        })
        .collect()
}

/// Package folders (those holding bagit.txt) in the batch deliveries
/// under `out` (`<out>/<batch>-<id>/<document>/`).
pub fn packages(out: &Path) -> Vec<PathBuf> {
    let dirs = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut v: Vec<PathBuf> = dirs(out)
        .iter()
        .filter(|d| {
            !d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .flat_map(|d| dirs(d))
        .filter(|p| p.join("bagit.txt").is_file())
        .collect();
    v.sort();
    v
}

/// The package of document `doc` under `out`, wherever its batch
/// delivery is.
pub fn package_of(out: &Path, doc: &str) -> PathBuf {
    packages(out)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == doc))
        .unwrap_or_else(|| out.join("(no package)").join(doc))
}

/// A package's index record.
pub const INDEX: &str = "data/metadata/index.json";

/// Validates a bag with the Library of Congress reference validator.
pub fn bagit_validate(bag: &Path) {
    let out = Command::new("python3")
        .args(["-m", "bagit", "--validate"])
        .arg(bag)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bagit-python rejects {}:\n{}",
        bag.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies the named files into a fresh batch folder under the env.
pub fn make_batch(env: &Env, name: &str, files: &[(&Path, &str)]) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (src, dest) in files {
        std::fs::copy(src, dir.join(dest)).unwrap();
    }
    dir
}

/// Writes a settings file with its own classes folder under the env and
/// returns the settings file's path. `classes` are `(name, file text)`.
pub fn write_config(env: &Env, default_class: &str, classes: &[(&str, String)]) -> PathBuf {
    let cfg = env.dir.path().join("cfg");
    std::fs::create_dir_all(cfg.join("classes")).unwrap();
    for (name, text) in classes {
        std::fs::write(cfg.join(format!("classes/{name}.toml")), text).unwrap();
    }
    let config = cfg.join("folio.toml");
    std::fs::write(
        &config,
        format!("classes_dir = \"classes\"\ndefault_class = \"{default_class}\"\n"),
    )
    .unwrap();
    config
}
