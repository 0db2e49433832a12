//! When a dropped batch folder is complete: the station's marker file or
//! manifest is there, or — for scanners that write neither — nothing in
//! the folder changed (names, sizes, mtimes, ctimes) for the quiet
//! period, as seen by this service's own clock over successive scans (a
//! share's clock or a copy tool's preserved mtimes never count). Reads
//! only metadata: a file still being copied is never opened.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a folder looks like: every entry's relative name, kind, size,
/// mtime and ctime (links not followed), sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<(PathBuf, u32, u64, i64, i64, i64, i64)>);

impl Fingerprint {
    /// Reads a folder's fingerprint; `None` if it cannot be listed (it is
    /// being moved, or permissions deny it: it is simply not ready).
    pub fn of(dir: &Path) -> Option<Fingerprint> {
        let mut entries = Vec::new();
        for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
            let entry = entry.ok()?;
            let m = entry.path().symlink_metadata().ok()?;
            let rel = entry.path().strip_prefix(dir).ok()?.to_path_buf();
            entries.push((
                rel,
                m.mode(),
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            ));
        }
        entries.sort();
        Some(Fingerprint(entries))
    }

    /// True when the folder holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a folder is ready to be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    Marker,
    Manifest,
    Quiet,
}

impl Ready {
    /// For logs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Ready::Marker => "marker file",
            Ready::Manifest => "manifest",
            Ready::Quiet => "quiet period",
        }
    }
}

/// The completion rules' settings.
#[derive(Debug, Clone)]
pub struct Rules {
    pub marker: String,
    pub manifest: String,
    pub quiet: Duration,
}

/// Remembers each candidate folder's last fingerprint and since when it
/// has been unchanged.
#[derive(Debug, Default)]
pub struct Tracker {
    seen: HashMap<PathBuf, (Fingerprint, Instant)>,
}

impl Tracker {
    /// Whether `dir` is complete now.
    pub fn check(&mut self, dir: &Path, rules: &Rules) -> Option<Ready> {
        let is_file = |name: &str| {
            std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.file_type().is_file())
        };
        if is_file(&rules.marker) {
            return Some(Ready::Marker);
        }
        if is_file(&rules.manifest) {
            return Some(Ready::Manifest);
        }
        let now = Instant::now();
        let Some(fp) = Fingerprint::of(dir) else {
            self.seen.remove(dir);
            return None;
        };
        if fp.is_empty() {
            self.seen.remove(dir);
            return None;
        }
        match self.seen.get(dir) {
            Some((old, since)) if *old == fp => {
                (now.duration_since(*since) >= rules.quiet).then_some(Ready::Quiet)
            }
            _ => {
                self.seen.insert(dir.to_path_buf(), (fp, now));
                None
            }
        }
    }

    /// Forgets folders not in `present` (taken, or removed by the operator).
    pub fn retain(&mut self, present: &[PathBuf]) {
        self.seen.retain(|p, _| present.contains(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growing_file_resets_the_quiet_period() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("b");
        std::fs::create_dir(&b).unwrap();
        let rules = Rules {
            marker: "READY".into(),
            manifest: "batch.toml".into(),
            quiet: Duration::from_millis(300),
        };
        let mut t = Tracker::default();
        assert_eq!(t.check(&b, &rules), None, "empty folder");
        std::fs::write(b.join("a.tif"), b"12").unwrap();
        assert_eq!(t.check(&b, &rules), None, "first sight");
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(b.join("a.tif"), b"1234").unwrap();
        assert_eq!(t.check(&b, &rules), None, "changed");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(t.check(&b, &rules), None, "quiet 200 ms < 300 ms");
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(t.check(&b, &rules), Some(Ready::Quiet));
        std::fs::write(b.join("READY"), b"").unwrap();
        assert_eq!(t.check(&b, &rules), Some(Ready::Marker));
    }
}
