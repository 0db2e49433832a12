//! `batch.toml`, the optional manifest a scanning station writes into a
//! batch folder: who scanned it on what, its class, the archive's
//! reference numbers (fonds / box / volume, a 档号 range) and how many
//! pages it should hold. Parsing and checks only: the service decides
//! what a missing or bad manifest means.

use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

/// Largest manifest read: a manifest is a few lines; anything bigger is
/// not one (and is never read whole).
const MAX_BYTES: u64 = 64 * 1024;

/// A batch manifest as written by the scanning station; every key
/// optional, unknown keys refused (a typo must not pass silently).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Login of the operator who scanned the batch.
    pub operator: Option<String>,
    /// The scanner (model, station).
    pub scanner: Option<String>,
    /// Document class; overrides the watch folder's.
    pub class: Option<String>,
    /// Fonds (全宗号).
    #[serde(default, deserialize_with = "text")]
    pub fonds: Option<String>,
    /// Box number.
    #[serde(rename = "box", default, deserialize_with = "text")]
    pub box_no: Option<String>,
    /// Volume (卷).
    #[serde(default, deserialize_with = "text")]
    pub volume: Option<String>,
    /// First archive reference number (档号) of the batch.
    #[serde(default, deserialize_with = "text")]
    pub reference_from: Option<String>,
    /// Last archive reference number (档号) of the batch.
    #[serde(default, deserialize_with = "text")]
    pub reference_to: Option<String>,
    /// Pages the batch should hold; a different count holds the batch
    /// for the operator.
    pub expected_pages: Option<u64>,
    /// A re-scan folder: the batch (id, name or source folder) whose
    /// pages it replaces.
    pub rescan_of: Option<String>,
    /// With `rescan_of`: the page each page of this folder replaces, as
    /// `DOC:PAGE`, one per page in page order (files by name, then
    /// pages).
    #[serde(default)]
    pub replaces: Vec<String>,
}

impl Manifest {
    /// The pages a re-scan folder replaces, as `(document, page)`, when
    /// this is a re-scan manifest; every entry checked for its form.
    pub fn rescan(&self, name: &str) -> Result<Option<Vec<(String, i64)>>, ManifestError> {
        let invalid = |reason: String| ManifestError::Invalid {
            name: name.to_string(),
            reason,
        };
        let Some(_) = &self.rescan_of else {
            if !self.replaces.is_empty() {
                return Err(invalid(
                    "`replaces` needs `rescan_of` (the batch whose pages are replaced)".into(),
                ));
            }
            return Ok(None);
        };
        if self.replaces.is_empty() {
            return Err(invalid(
                "`rescan_of` needs `replaces = [\"DOC:PAGE\", …]`, one per page of the folder"
                    .into(),
            ));
        }
        let mut out = Vec::with_capacity(self.replaces.len());
        for r in &self.replaces {
            let parsed = r
                .rsplit_once(':')
                .and_then(|(d, p)| Some((d.trim(), p.trim().parse::<i64>().ok()?)))
                .filter(|(d, p)| !d.is_empty() && *p >= 1);
            match parsed {
                Some((d, p)) => {
                    if out
                        .iter()
                        .any(|(od, op): &(String, i64)| od == d && *op == p)
                    {
                        return Err(invalid(format!("replaces names {r} twice")));
                    }
                    out.push((d.to_string(), p))
                }
                None => {
                    return Err(invalid(format!(
                        "replaces entry '{r}' is not DOC:PAGE (a document id and a page number from 1)"
                    )));
                }
            }
        }
        Ok(Some(out))
    }
}

/// Why a manifest cannot be used.
#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("manifest {name}: is not a regular file (links are never followed)")]
    NotAFile { name: String },
    #[error("manifest {name}: larger than {MAX_BYTES} bytes")]
    TooLarge { name: String },
    #[error("manifest {name}: cannot read: {reason}")]
    Unreadable { name: String, reason: String },
    #[error("manifest {name}: {reason}")]
    Invalid { name: String, reason: String },
}

/// Reads the manifest at `path`; `Ok(None)` when there is none. A link
/// is refused unread.
pub fn read(path: &Path) -> Result<Option<Manifest>, ManifestError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ManifestError::Unreadable {
                name,
                reason: e.to_string(),
            });
        }
    };
    if !meta.file_type().is_file() {
        return Err(ManifestError::NotAFile { name });
    }
    if meta.len() > MAX_BYTES {
        return Err(ManifestError::TooLarge { name });
    }
    let bytes = std::fs::read(path).map_err(|e| ManifestError::Unreadable {
        name: name.clone(),
        reason: e.to_string(),
    })?;
    parse(&name, &bytes).map(Some)
}

/// Parses manifest text.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ManifestError::Invalid {
        name: name.to_string(),
        reason: format!("not UTF-8 text: {e}"),
    })?;
    toml::from_str(text).map_err(|e| ManifestError::Invalid {
        name: name.to_string(),
        reason: e.to_string().trim().to_string(),
    })
}

/// Reference numbers are text, but stations write `box = 42` as often as
/// `box = "0042"`: both are accepted, as written.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Int(i64),
    }
    Ok(Option::<TextOrNumber>::deserialize(d)?.map(|v| match v {
        TextOrNumber::Text(s) => s,
        TextOrNumber::Int(n) => n.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_manifest_parses_and_typos_are_refused() {
        let m = parse(
            "batch.toml",
            "operator = \"li.wei\"\nscanner = \"fi-7160 #2\"\nclass = \"general\"\nfonds = \"J001\"\n\
             box = 42\nvolume = \"3\"\nreference_from = \"J001-2019-0042-0001\"\n\
             reference_to = \"J001-2019-0042-0050\"\nexpected_pages = 50\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(m.operator.as_deref(), Some("li.wei"));
        assert_eq!(m.box_no.as_deref(), Some("42"));
        assert_eq!(m.expected_pages, Some(50));
        let e = parse("batch.toml", b"expected_page = 3\n").unwrap_err();
        assert!(e.to_string().contains("expected_page"), "{e}");
        let e = parse("batch.toml", b"expected_pages = -1\n").unwrap_err();
        assert!(e.to_string().contains("batch.toml"), "{e}");
    }

    #[test]
    fn rescan_manifests_name_pages_as_doc_and_page() {
        let m = parse(
            "batch.toml",
            b"rescan_of = \"batch-0001\"\nreplaces = [\"batch-0001-0002:1\", \"d:3\"]\n",
        )
        .unwrap();
        assert_eq!(
            m.rescan("batch.toml").unwrap().unwrap(),
            vec![("batch-0001-0002".to_string(), 1), ("d".to_string(), 3)]
        );
        assert!(
            parse("batch.toml", b"operator = \"x\"\n")
                .unwrap()
                .rescan("batch.toml")
                .unwrap()
                .is_none()
        );
        for (text, says) in [
            ("rescan_of = \"b\"\n", "needs `replaces"),
            ("replaces = [\"d:1\"]\n", "needs `rescan_of"),
            ("rescan_of = \"b\"\nreplaces = [\"d\"]\n", "not DOC:PAGE"),
            ("rescan_of = \"b\"\nreplaces = [\"d:0\"]\n", "not DOC:PAGE"),
            (
                "rescan_of = \"b\"\nreplaces = [\"d:1\", \"d:1\"]\n",
                "twice",
            ),
        ] {
            let e = parse("batch.toml", text.as_bytes())
                .unwrap()
                .rescan("batch.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains("batch.toml") && e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_linked_manifest_is_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("batch.toml");
        std::os::unix::fs::symlink("/etc/hostname", &p).unwrap();
        assert!(matches!(read(&p), Err(ManifestError::NotAFile { .. })));
        assert!(read(&dir.path().join("none.toml")).unwrap().is_none());
    }
}
