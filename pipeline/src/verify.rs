//! `folio verify`: what an archivist runs on receipt and years later. A
//! package, a batch delivery or a folder of them is checked for
//! structure, completeness (Payload-Oxum, every file in every manifest,
//! nothing stray), every checksum of every manifest and tag manifest, the
//! custody chain (each master's SHA-256 as recorded at arrival, in
//! `index.json` and, when a store is at hand, in the store) and the
//! searchable PDF's page count against the masters'. Stricter than
//! `bagit-python`, which does not check that every payload file is in
//! every manifest. One line per problem, naming the file.

use crate::export::{bag_path, hash_file_with};
use crate::layout;
use crate::store::Store;
use folio_stages::bagit::{self, Algorithm};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One thing found wrong.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// The package or delivery folder.
    pub at: PathBuf,
    /// The file concerned, relative to `at` (empty for the folder itself).
    pub file: String,
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file.is_empty() {
            write!(f, "{}: {}", self.at.display(), self.problem)
        } else {
            write!(f, "{}: {}: {}", self.at.display(), self.file, self.problem)
        }
    }
}

/// What `folio verify` checked and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub packages: Vec<PathBuf>,
    pub deliveries: Vec<PathBuf>,
    pub problems: Vec<Problem>,
}

/// Verifies each path: a package (has `bagit.txt`), a delivery (has
/// `delivery.json`) or a folder searched for both.
pub async fn verify(paths: &[PathBuf], store: Option<&Store>) -> Verdict {
    let mut v = Verdict::default();
    for p in paths {
        if !p.is_dir() {
            v.problems
                .push(problem(p, "", "not a folder (or cannot be read)"));
            continue;
        }
        let mut found_any = false;
        for dir in candidates(p) {
            found_any = true;
            if dir.join(layout::DELIVERY_JSON).is_file() {
                delivery(&dir, &mut v);
                v.deliveries.push(dir.clone());
            }
            if dir.join("bagit.txt").is_file() || looks_like_bag(&dir) {
                let problems = package(&dir, store).await;
                v.problems.extend(problems);
                v.packages.push(dir);
            }
        }
        if !found_any {
            v.problems.push(problem(
                p,
                "",
                "no package (bagit.txt) or delivery (delivery.json) in it",
            ));
        }
    }
    v.ok = v.problems.is_empty();
    v
}

/// A bag whose declaration was deleted still has its manifests.
fn looks_like_bag(dir: &Path) -> bool {
    dir.join("data").is_dir() && dir.join("manifest-sha256.txt").is_file()
}

/// The package and delivery folders at or under `root` (not inside a
/// package's payload).
fn candidates(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut walk = walkdir::WalkDir::new(root)
        .max_depth(4)
        .sort_by_file_name()
        .into_iter();
    while let Some(Ok(e)) = walk.next() {
        if !e.file_type().is_dir() {
            continue;
        }
        let d = e.path();
        let name = e.file_name().to_string_lossy();
        if name.starts_with('.') && d != root {
            walk.skip_current_dir();
            continue;
        }
        let is_bag = d.join("bagit.txt").is_file() || looks_like_bag(d);
        if is_bag || d.join(layout::DELIVERY_JSON).is_file() {
            out.push(d.to_path_buf());
        }
        if is_bag {
            walk.skip_current_dir();
        }
    }
    out
}

fn problem(at: &Path, file: &str, what: impl Into<String>) -> Problem {
    Problem {
        at: at.to_path_buf(),
        file: file.to_string(),
        problem: what.into(),
    }
}

/// Every check of one package.
pub async fn package(bag: &Path, store: Option<&Store>) -> Vec<Problem> {
    let mut out = Vec::new();
    let p = |file: &str, what: String| problem(bag, file, what);
    match std::fs::read_to_string(bag.join("bagit.txt")) {
        Ok(t) if t.contains("BagIt-Version:") && t.contains("Tag-File-Character-Encoding:") => {}
        Ok(_) => out.push(p("bagit.txt", "not a BagIt declaration".into())),
        Err(e) => out.push(p("bagit.txt", format!("missing: {e}"))),
    }
    // Manifests and tag manifests present.
    let mut manifests: BTreeMap<Algorithm, BTreeMap<String, String>> = BTreeMap::new();
    let mut tagmanifests: BTreeMap<Algorithm, BTreeMap<String, String>> = BTreeMap::new();
    let mut top_files = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(bag) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_file() {
                top_files.insert(name.clone());
            }
            let (kind, alg) = if let Some(a) = name
                .strip_prefix("manifest-")
                .and_then(|r| r.strip_suffix(".txt"))
            {
                (&mut manifests, a.to_string())
            } else if let Some(a) = name
                .strip_prefix("tagmanifest-")
                .and_then(|r| r.strip_suffix(".txt"))
            {
                (&mut tagmanifests, a.to_string())
            } else {
                continue;
            };
            let Some(alg) = Algorithm::from_name(&alg) else {
                out.push(p(
                    &name,
                    "manifest in an algorithm Folio does not know".into(),
                ));
                continue;
            };
            match std::fs::read_to_string(e.path())
                .map_err(|e| e.to_string())
                .and_then(|t| bagit::parse_manifest(&t))
            {
                Ok(entries) => {
                    kind.insert(alg, entries.into_iter().collect());
                }
                Err(why) => out.push(p(&name, why)),
            }
        }
    }
    if manifests.is_empty() {
        out.push(p("", "no payload manifest (manifest-<alg>.txt)".into()));
    }
    let algorithms: Vec<Algorithm> = manifests
        .keys()
        .chain(tagmanifests.keys())
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    // The payload as it is on disk, hashed once in every algorithm.
    let mut payload: BTreeMap<String, (BTreeMap<Algorithm, String>, u64)> = BTreeMap::new();
    let data = bag.join("data");
    if !data.is_dir() {
        out.push(p("data", "the payload folder is missing".into()));
    }
    for e in walkdir::WalkDir::new(&data).sort_by_file_name().into_iter() {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                if data.is_dir() {
                    out.push(p("data", err.to_string()));
                }
                continue;
            }
        };
        if !e.file_type().is_file() {
            if !e.file_type().is_dir() {
                out.push(p(&bag_path(bag, e.path()), "not a regular file".into()));
            }
            continue;
        }
        let rel = bag_path(bag, e.path());
        match hash_file_with(e.path(), &algorithms) {
            Ok((sums, size)) => {
                payload.insert(rel, (sums.into_iter().collect(), size));
            }
            Err(err) => out.push(p(&rel, format!("cannot be read: {err}"))),
        }
    }
    for (alg, listed) in &manifests {
        let mname = format!("manifest-{}.txt", alg.name());
        for (rel, sum) in listed {
            match payload.get(rel) {
                None => out.push(p(rel, format!("listed in {mname} but missing"))),
                Some((sums, _)) if sums.get(alg) != Some(sum) => out.push(p(
                    rel,
                    format!(
                        "{} checksum differs from {mname} (file changed)",
                        alg.name()
                    ),
                )),
                Some(_) => {}
            }
        }
        for rel in payload.keys() {
            if !listed.contains_key(rel) {
                out.push(p(
                    rel,
                    format!("not listed in {mname} (a stray or added file)"),
                ));
            }
        }
    }
    // Payload-Oxum.
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap_or_default();
    if info.is_empty() {
        out.push(p("bag-info.txt", "missing or empty".into()));
    }
    let oxum = bagit::parse_bag_info(&info)
        .into_iter()
        .find(|(k, _)| k == "Payload-Oxum")
        .map(|(_, v)| v);
    let bytes: u64 = payload.values().map(|(_, s)| s).sum();
    let actual = format!("{bytes}.{}", payload.len());
    match oxum {
        Some(o) if o == actual => {}
        Some(o) => out.push(p(
            "bag-info.txt",
            format!("Payload-Oxum {o}, the payload is {actual} (bytes.files)"),
        )),
        None => out.push(p("bag-info.txt", "no Payload-Oxum".into())),
    }
    // Tag manifests: every tag file's checksum, nothing unlisted.
    if tagmanifests.is_empty() {
        out.push(p("", "no tag manifest (tagmanifest-<alg>.txt)".into()));
    }
    for (alg, listed) in &tagmanifests {
        let tname = format!("tagmanifest-{}.txt", alg.name());
        for (rel, sum) in listed {
            let path = bag.join(rel);
            match hash_file_with(&path, &[*alg]) {
                Ok((sums, _)) if &sums[0].1 == sum => {}
                Ok(_) => out.push(p(
                    rel,
                    format!(
                        "{} checksum differs from {tname} (tag file edited)",
                        alg.name()
                    ),
                )),
                Err(e) => out.push(p(rel, format!("listed in {tname} but unreadable: {e}"))),
            }
        }
        for f in &top_files {
            if !f.starts_with("tagmanifest-") && !listed.contains_key(f) {
                out.push(p(
                    f,
                    format!("not listed in {tname} (a stray or added file)"),
                ));
            }
        }
    }
    custody(bag, &payload, &manifests, store, &mut out).await;
    out
}

/// The custody chain and the PDF's page count, from `index.json`.
async fn custody(
    bag: &Path,
    payload: &BTreeMap<String, (BTreeMap<Algorithm, String>, u64)>,
    manifests: &BTreeMap<Algorithm, BTreeMap<String, String>>,
    store: Option<&Store>,
    out: &mut Vec<Problem>,
) {
    let p = |file: &str, what: String| problem(bag, file, what);
    let index: Value = match std::fs::read_to_string(bag.join(layout::INDEX))
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            out.push(p(layout::INDEX, format!("no readable index record: {e}")));
            return;
        }
    };
    let sha_listed = manifests.get(&Algorithm::Sha256);
    let originals = index["originals"].as_array().cloned().unwrap_or_default();
    if originals.is_empty() {
        out.push(p(layout::INDEX, "lists no master".into()));
    }
    let mut master_pages = 0usize;
    for o in &originals {
        let rel = o["path"].as_str().unwrap_or_default();
        let arrival = o["sha256"].as_str().unwrap_or_default();
        if let Some(listed) = sha_listed.and_then(|m| m.get(rel))
            && listed != arrival
        {
            out.push(p(
                rel,
                format!("manifest SHA-256 {listed} is not the one recorded at arrival ({arrival})"),
            ));
        }
        if let Some((sums, _)) = payload.get(rel)
            && sums.get(&Algorithm::Sha256).is_some_and(|s| s != arrival)
        {
            out.push(p(
                rel,
                format!("master's SHA-256 is not the one recorded at arrival ({arrival})"),
            ));
        }
        if let Some(store) = store {
            match store.file(arrival).await {
                Ok(Some(_)) => {}
                Ok(None) => out.push(p(
                    rel,
                    format!("the store has no arrival of a file with SHA-256 {arrival}"),
                )),
                Err(e) => out.push(p(rel, format!("store: {e}"))),
            }
        }
        // An unreadable master was reported as missing above.
        if let Ok(bytes) = std::fs::read(bag.join(rel)) {
            match master_page_count(&bytes) {
                Some(n) => master_pages += n,
                None => out.push(p(rel, "cannot count the master's pages".into())),
            }
        }
    }
    // Pages dropped in review are in their (kept) master but not in the
    // PDF.
    let dropped = index["dropped_pages"]
        .as_array()
        .map(|d| d.iter().filter(|p| p["original"].is_string()).count())
        .unwrap_or(0);
    let master_pages = master_pages.saturating_sub(dropped);
    if let Some(pdf) = index["pdf"].as_str() {
        match std::fs::read(bag.join(pdf))
            .map_err(|e| e.to_string())
            .and_then(|b| {
                lopdf::Document::load_mem(&b)
                    .map(|d| d.get_pages().len())
                    .map_err(|e| e.to_string())
            }) {
            Ok(n) if n == master_pages => {}
            Ok(n) => out.push(p(
                pdf,
                format!(
                    "{n} PDF page(s), the masters have {master_pages} (dropped pages left out)"
                ),
            )),
            Err(e) => out.push(p(pdf, format!("cannot be read as a PDF: {e}"))),
        }
    } else if index["state"] == "packaged" {
        let expected = payload.keys().any(|k| k.ends_with(".pdf"));
        if expected {
            out.push(p(
                layout::INDEX,
                "a PDF is in the payload but not in the index".into(),
            ));
        }
    }
}

/// Pages in a master file, counted without decoding images: TIFF
/// directories, PDF pages, one for JPEG and PNG.
fn master_page_count(bytes: &[u8]) -> Option<usize> {
    use folio_stages::decode::Format;
    match Format::sniff(bytes).ok()? {
        Format::Tiff => {
            let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).ok()?;
            let mut n = 1;
            while d.more_images() {
                d.next_image().ok()?;
                n += 1;
            }
            Some(n)
        }
        Format::Pdf => lopdf::Document::load_mem(bytes)
            .ok()
            .map(|d| d.get_pages().len()),
        _ => Some(1),
    }
}

/// A batch delivery: its index files match `delivery.json`, every package
/// it lists is there, and no package is there that it does not list.
fn delivery(dir: &Path, v: &mut Verdict) {
    let p = |file: &str, what: String| problem(dir, file, what);
    let summary: Value = match std::fs::read_to_string(dir.join(layout::DELIVERY_JSON))
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            v.problems
                .push(p(layout::DELIVERY_JSON, format!("unreadable: {e}")));
            return;
        }
    };
    if let Some(index) = summary["index"].as_object() {
        for (name, sum) in index {
            match std::fs::read(dir.join(name)) {
                Ok(b) if Some(bagit::sha256_hex(&b).as_str()) == sum.as_str() => {}
                Ok(_) => v
                    .problems
                    .push(p(name, "differs from delivery.json (edited)".into())),
                Err(e) => v.problems.push(p(name, format!("missing: {e}"))),
            }
        }
    }
    let mut listed = BTreeSet::new();
    for pkg in summary["packages"].as_array().cloned().unwrap_or_default() {
        let path = pkg["path"].as_str().unwrap_or_default().to_string();
        let bag = dir.join(&path);
        if !bag.is_dir() {
            v.problems
                .push(p(&path, "listed in delivery.json but missing".into()));
            continue;
        }
        for (file, key) in [
            ("manifest-sha256.txt", "manifest_sha256"),
            ("tagmanifest-sha256.txt", "tagmanifest_sha256"),
        ] {
            let got = std::fs::read(bag.join(file))
                .map(|b| bagit::sha256_hex(&b))
                .unwrap_or_default();
            if Some(got.as_str()) != pkg[key].as_str() {
                v.problems.push(p(
                    &format!("{path}/{file}"),
                    "differs from the checksum in delivery.json".into(),
                ));
            }
        }
        listed.insert(path);
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().join("bagit.txt").is_file() && !listed.contains(&name) {
                v.problems
                    .push(p(&name, "a package not listed in delivery.json".into()));
            }
        }
    }
}
