//! The storage guard: before a batch is claimed, the data, object and
//! output folders must have room for its originals plus the estimate of
//! its derived pages; when one is short the service stops claiming (and
//! says why) instead of taking a batch it cannot finish. Metadata and
//! image headers only: no page is decoded here (ingest's own check after
//! decoding stays the last word).

use crate::objects;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Derived pages cost about half a byte per pixel (as ingest estimates).
const DERIVED_BYTES_PER_PIXEL: f64 = 0.5;
/// When a file's header gives no size (PDF, unknown): derived bytes per
/// byte of original, a generous guess for compressed scans.
const DERIVED_PER_BYTE_FALLBACK: u64 = 20;
/// Room kept free on the data folder for the store and logs.
const DATA_RESERVE: u64 = 8 << 20;

/// What a batch will take: its originals' bytes and derived estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    pub originals: u64,
    pub derived: u64,
}

/// A place that is short of space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub place: PathBuf,
    pub need: u64,
    pub have: u64,
}

impl Shortage {
    /// The pause reason as status shows it.
    pub fn reason(&self) -> String {
        format!(
            "disk space, need {}, have {} (on {})",
            human(self.need),
            human(self.have),
            self.place.display()
        )
    }
}

/// Bytes as an operator reads them.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Estimates a complete batch folder: regular files only (links, special
/// and hard-linked files are refused at ingest and never read here).
pub fn estimate(dir: &Path) -> Estimate {
    let mut e = Estimate::default();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
    {
        let Ok(m) = entry.path().symlink_metadata() else {
            continue;
        };
        if !m.file_type().is_file() || m.nlink() > 1 {
            continue;
        }
        e.originals += m.len();
        let header = image::ImageReader::open(entry.path())
            .and_then(|r| r.with_guessed_format())
            .ok()
            .and_then(|r| r.into_dimensions().ok());
        e.derived += match header {
            Some((w, h)) => (w as f64 * h as f64 * DERIVED_BYTES_PER_PIXEL) as u64,
            None => m.len().saturating_mul(DERIVED_PER_BYTE_FALLBACK),
        };
    }
    e
}

/// Checks free space for `e` on the data folder (quarantine copies), the
/// object store and the output folder, adding up needs that share a file
/// system. The first short place, if any.
pub fn check(e: Estimate, data: &Path, objects_dir: &Path, out: &Path) -> Option<Shortage> {
    let each = e.originals + e.derived;
    let mut needs: BTreeMap<u64, (PathBuf, u64)> = BTreeMap::new();
    for (place, need) in [
        (data, e.originals + DATA_RESERVE),
        (objects_dir, each),
        (out, each),
    ] {
        let entry = needs
            .entry(objects::device(place))
            .or_insert((place.to_path_buf(), 0));
        entry.1 += need;
    }
    for (place, need) in needs.into_values() {
        match objects::free_bytes(&place) {
            Ok(have) if have >= need => {}
            Ok(have) => return Some(Shortage { place, need, have }),
            Err(e) => {
                tracing::warn!("free space of {}: {e}", place.display());
                return Some(Shortage {
                    place,
                    need,
                    have: 0,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well_and_a_huge_need_is_short() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.bin"), vec![0u8; 1000]).unwrap();
        let e = estimate(dir.path());
        assert_eq!(e.originals, 1000);
        assert_eq!(e.derived, 1000 * DERIVED_PER_BYTE_FALLBACK);
        assert!(check(e, dir.path(), dir.path(), dir.path()).is_none());
        let huge = Estimate {
            originals: u64::MAX / 8,
            derived: 0,
        };
        let s = check(huge, dir.path(), dir.path(), dir.path()).unwrap();
        assert!(
            s.reason().starts_with("disk space, need "),
            "{}",
            s.reason()
        );
    }
}
