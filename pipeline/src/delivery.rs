//! The batch delivery: beside a batch's packages, `index.csv` (UTF-8 with
//! a byte-order mark, so Excel shows Chinese), `index.xlsx` and
//! `delivery.json` (counts and the checksums that pin every package). The
//! archive loads the index into its catalogue instead of keying it again;
//! `folio verify` checks the delivery against it. Written from the store
//! when a batch closes, and again at any time by `folio export`. The
//! delivery holds no second copy of the masters: the packages do.

use crate::error::FolioError;
use crate::layout;
use crate::objects::write_atomic;
use crate::store::{Actor, BatchRow, Store};
use crate::table::Table;
use folio_stages::bagit;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `folio export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Xlsx,
}

/// One document's line in the batch index.
#[derive(Debug, Clone)]
struct Line {
    document: String,
    state: String,
    class: String,
    package: Option<PathBuf>,
    pages: i64,
    masters: Vec<(String, String)>,
    /// (name, final value, source, keyers)
    fields: Vec<(String, Option<String>, Option<String>, String)>,
}

/// Reads the batch's documents, fields and masters from the store.
async fn lines(store: &Store, batch: &BatchRow) -> Result<Vec<Line>, FolioError> {
    let mut out = Vec::new();
    for d in store.documents(&batch.id).await? {
        let work = store.document_work(&d.id).await?;
        let fields = store.fields(&d.id).await?;
        out.push(Line {
            document: d.id.clone(),
            state: d.state.clone(),
            class: d.class.clone(),
            package: d
                .package_path
                .as_deref()
                .filter(|_| d.state == "packaged")
                .map(PathBuf::from),
            pages: d.pages,
            masters: work
                .files
                .iter()
                .map(|f| (f.original_name.clone(), f.sha256.clone()))
                .collect(),
            fields: fields
                .iter()
                .map(|f| {
                    let who: Value = f
                        .keyers
                        .as_deref()
                        .and_then(|k| serde_json::from_str(k).ok())
                        .unwrap_or(json!({}));
                    let mut people: Vec<String> = who
                        .get("keyers")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(a) = who.get("arbiter").and_then(Value::as_str) {
                        people.push(format!("arbiter {a}"));
                    }
                    (
                        f.name.clone(),
                        f.is_final().then(|| f.final_value.clone()).flatten(),
                        f.source.clone(),
                        people.join(" "),
                    )
                })
                .collect(),
        });
    }
    Ok(out)
}

fn field_names(lines: &[Line]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for l in lines {
        for (n, ..) in &l.fields {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    names
}

/// A package path as the index shows it: relative to the delivery folder
/// when inside it.
fn shown_path(package: &Option<PathBuf>, base: &Path) -> String {
    package
        .as_ref()
        .map(|p| {
            p.strip_prefix(base)
                .unwrap_or(p)
                .to_string_lossy()
                .to_string()
        })
        .unwrap_or_default()
}

fn table(lines: &[Line], base: &Path) -> Table {
    let names = field_names(lines);
    let mut head: Vec<String> = [
        "document",
        "state",
        "class",
        "package",
        "pages",
        "masters",
        "masters_sha256",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in &names {
        head.push(n.clone());
        head.push(format!("{n}.source"));
        head.push(format!("{n}.keyers"));
    }
    let mut t = Table::new(head);
    for l in lines {
        let mut row = vec![
            l.document.clone(),
            l.state.clone(),
            l.class.clone(),
            shown_path(&l.package, base),
            l.pages.to_string(),
            l.masters
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            l.masters
                .iter()
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ];
        for n in &names {
            match l.fields.iter().find(|(f, ..)| f == n) {
                Some((_, v, src, who)) => {
                    row.push(v.clone().unwrap_or_default());
                    row.push(src.clone().unwrap_or_default());
                    row.push(who.clone());
                }
                None => row.extend([String::new(), String::new(), String::new()]),
            }
        }
        t.rows.push(row);
    }
    t
}

fn json_index(batch: &BatchRow, lines: &[Line], base: &Path) -> Value {
    json!({
        "batch": {"id": batch.id, "name": batch.name, "source": batch.source},
        "documents": lines.iter().map(|l| json!({
            "document": l.document,
            "state": l.state,
            "class": l.class,
            "package": shown_path(&l.package, base),
            "pages": l.pages,
            "masters": l.masters.iter().map(|(n, s)| json!({"original_name": n, "sha256": s})).collect::<Vec<_>>(),
            "fields": l.fields.iter().map(|(n, v, src, who)| (n.clone(), json!({"value": v, "source": src, "keyers": who}))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}

/// What writing a delivery produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivered {
    pub dir: PathBuf,
    pub documents: usize,
    pub packaged: usize,
}

/// Writes a packaged batch's delivery and records it in the store as
/// written by `actor`: what the worker that closes a batch does, and what
/// any worker does for a batch whose closer stopped before it.
pub async fn deliver(
    store: &Store,
    batch: &BatchRow,
    actor: &Actor,
) -> Result<Delivered, FolioError> {
    let delivered = write(store, batch).await?;
    store
        .delivered(&batch.id, &delivered.dir.display().to_string(), actor)
        .await?;
    Ok(delivered)
}

/// Writes (or rewrites) the batch's delivery files into its delivery
/// folder, each atomically.
pub async fn write(store: &Store, batch: &BatchRow) -> Result<Delivered, FolioError> {
    let dir = layout::delivery_dir(Path::new(&batch.out_dir), batch);
    let lines = lines(store, batch).await?;
    let t = table(&lines, &dir);
    let csv = t.to_csv(true).into_bytes();
    let xlsx = t.to_xlsx("index")?;
    let mut packages = Vec::new();
    for l in &lines {
        let Some(p) = &l.package else { continue };
        let manifest = std::fs::read(p.join("manifest-sha256.txt")).unwrap_or_default();
        let tagmanifest = std::fs::read(p.join("tagmanifest-sha256.txt")).unwrap_or_default();
        let info = std::fs::read_to_string(p.join("bag-info.txt")).unwrap_or_default();
        let oxum = bagit::parse_bag_info(&info)
            .into_iter()
            .find(|(k, _)| k == "Payload-Oxum")
            .map(|(_, v)| v);
        packages.push(json!({
            "document": l.document,
            "path": shown_path(&l.package, &dir),
            "pages": l.pages,
            "payload_oxum": oxum,
            "manifest_sha256": bagit::sha256_hex(&manifest),
            "tagmanifest_sha256": bagit::sha256_hex(&tagmanifest),
        }));
    }
    let count = |s: &str| lines.iter().filter(|l| l.state == s).count();
    let summary = json!({
        "folio_delivery_version": 1,
        "batch": {"id": batch.id, "name": batch.name, "source": batch.source, "class": batch.class},
        "written": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "documents": lines.len(),
        "packaged": count("packaged"),
        "failed": count("failed"),
        "awaiting_keying": count("awaiting_keying"),
        "pages": lines.iter().map(|l| l.pages).sum::<i64>(),
        "masters": lines.iter().map(|l| l.masters.len()).sum::<usize>(),
        "index": {
            layout::DELIVERY_CSV: bagit::sha256_hex(&csv),
            layout::DELIVERY_XLSX: bagit::sha256_hex(&xlsx),
        },
        "packages": packages,
    });
    let summary =
        serde_json::to_vec_pretty(&summary).map_err(|e| FolioError::Internal(e.to_string()))?;
    write_atomic(&dir.join(layout::DELIVERY_CSV), &csv)?;
    write_atomic(&dir.join(layout::DELIVERY_XLSX), &xlsx)?;
    // Last: a delivery.json that exists vouches for the files before it.
    write_atomic(&dir.join(layout::DELIVERY_JSON), &summary)?;
    Ok(Delivered {
        dir,
        documents: lines.len(),
        packaged: count("packaged"),
    })
}

/// `folio export <BATCH> --format F --out DIR`: the batch index again,
/// from the store, as `DIR/index.csv|json|xlsx`.
pub async fn export(
    store: &Store,
    key: &str,
    format: ExportFormat,
    out: &Path,
) -> Result<PathBuf, FolioError> {
    let batch = store.find_batch(key).await?.ok_or_else(|| {
        FolioError::input(
            key,
            "no such batch in the store (give its id, name or folder)",
        )
    })?;
    let lines = lines(store, &batch).await?;
    let base = layout::delivery_dir(Path::new(&batch.out_dir), &batch);
    let (name, bytes) = match format {
        ExportFormat::Csv => (
            layout::DELIVERY_CSV,
            table(&lines, &base).to_csv(true).into_bytes(),
        ),
        ExportFormat::Xlsx => (
            layout::DELIVERY_XLSX,
            table(&lines, &base).to_xlsx("index")?,
        ),
        ExportFormat::Json => (
            "index.json",
            serde_json::to_vec_pretty(&json_index(&batch, &lines, &base))
                .map_err(|e| FolioError::Internal(e.to_string()))?,
        ),
    };
    let path = out.join(name);
    write_atomic(&path, &bytes)?;
    Ok(path)
}
