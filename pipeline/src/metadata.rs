//! What a package tells an archive about itself besides its files:
//! `metadata/metadata.csv` (Archivematica's descriptive metadata: first
//! column `filename`, Dublin Core columns from the document class, then
//! the class's index fields) and `logs/events.json` (the document's
//! history: arrival with SHA-256, each stage with its version and
//! settings, each keying decision by pseudonym).

use crate::layout;
use crate::settings::{DocClass, Settings};
use crate::store::Event;
use crate::table::Table;
use serde_json::json;

/// One file a `metadata.csv` row describes.
#[derive(Debug, Clone)]
pub struct Described {
    /// Path in the package (`data/objects/...`).
    pub rel: String,
    /// The scanner's file name, kept here because paths are ASCII.
    pub original_name: String,
    pub sha256: String,
}

/// The names a class's Dublin Core templates may use.
pub struct Names<'a> {
    pub document: &'a str,
    pub class: &'a str,
    pub batch: &'a str,
    /// Index fields' final values (absent when not final).
    pub fields: &'a [(String, Option<String>)],
}

/// Fills a template: `{name}` becomes the field's value (empty when it
/// has none) or `document`/`class`/`batch`; `{{` and `}}` are braces.
pub fn fill(template: &str, names: &Names) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if rest[open..].starts_with("{{") {
            out.push_str(&rest[..open]);
            out.push('{');
            rest = &rest[open + 2..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let key = &rest[open + 1..open + close];
        let value = match key {
            "document" => Some(names.document.to_string()),
            "class" => Some(names.class.to_string()),
            "batch" => Some(names.batch.to_string()),
            _ => names
                .fields
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, v)| v.clone().unwrap_or_default()),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.replace("}}", "}").trim().to_string()
}

/// `metadata.csv`: a row per described file (masters, then the PDF).
pub fn metadata_csv(class: &DocClass, names: &Names, files: &[Described]) -> String {
    let dc = &class.dublin_core;
    let mut head = vec![
        "filename".to_string(),
        "dc.title".into(),
        "dc.identifier".into(),
        "dc.date".into(),
        "dc.type".into(),
        "dc.format".into(),
        "dc.source".into(),
        "folio.document".into(),
        "folio.batch".into(),
        "folio.sha256".into(),
    ];
    head.extend(names.fields.iter().map(|(n, _)| n.clone()));
    let mut table = Table::new(head);
    for f in files {
        let format = match f.rel.rsplit('.').next().unwrap_or("") {
            "pdf" => "application/pdf",
            "tif" | "tiff" => "image/tiff",
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            _ => "application/octet-stream",
        };
        let mut row = vec![
            layout::in_transfer(&f.rel).to_string(),
            fill(&dc.title, names),
            fill(&dc.identifier, names),
            fill(&dc.date, names),
            if format == "application/pdf" {
                "Text".into()
            } else {
                "StillImage".into()
            },
            format.into(),
            f.original_name.clone(),
            names.document.to_string(),
            names.batch.to_string(),
            f.sha256.clone(),
        ];
        row.extend(
            names
                .fields
                .iter()
                .map(|(_, v)| v.clone().unwrap_or_default()),
        );
        table.rows.push(row);
    }
    table.to_csv(false)
}

/// `events.json`: the stages that made the package (name, version,
/// settings) and the document's history from the store.
pub fn events_json(
    document: &str,
    class: &DocClass,
    settings: &Settings,
    history: &[Event],
) -> String {
    let version = format!("folio {}", env!("CARGO_PKG_VERSION"));
    let stages = json!([
        {"stage": "ingest", "version": version, "settings": {"decode": settings.decode}},
        {"stage": "image", "version": version, "settings": settings.image},
        {"stage": "ocr", "version": folio_stages::recognize::engine_version(),
         "settings": {"languages": class.languages, "segmentation": class.segmentation.unwrap_or(settings.ocr.segmentation),
                      "variables": settings.ocr.variables}},
        {"stage": "extract", "version": version,
         "settings": {"class": class.name, "confidence_threshold": class.confidence_threshold,
                      "fields": class.field_names}},
        {"stage": "package", "version": version,
         "settings": {"derived_bilevel": settings.delivery.derived_bilevel,
                      "derived_other": settings.delivery.derived_other,
                      "jpeg_quality": settings.delivery.jpeg_quality,
                      "checksums": settings.delivery.checksums,
                      "pdf": settings.delivery.pdf}},
    ]);
    let events: Vec<serde_json::Value> = history
        .iter()
        .map(|e| {
            let mut v = json!({
                "at": e.at,
                "actor": e.actor,
                "entity": e.entity,
                "id": e.entity_id,
                "from": e.from,
                "to": e.to,
                "reason": e.reason,
            });
            // Arrival is the custody chain's first link: name its hash.
            if e.entity == "file" {
                v["sha256"] = json!(e.entity_id);
            }
            v
        })
        .collect();
    serde_json::to_string_pretty(&json!({
        "document": document,
        "stages": stages,
        "events": events,
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_fields_and_names_and_leave_unknown_ones() {
        let fields = vec![
            ("archive_no".to_string(), Some("DA-01-0001".to_string())),
            ("sign_date".to_string(), None),
        ];
        let names = Names {
            document: "b-1",
            class: "insurance",
            batch: "box 1",
            fields: &fields,
        };
        assert_eq!(fill("{class} {archive_no}", &names), "insurance DA-01-0001");
        assert_eq!(fill("{sign_date}", &names), "");
        assert_eq!(fill("{nope} {{x}}", &names), "{nope} {x}");
        assert_eq!(fill("{document}/{batch}", &names), "b-1/box 1");
    }
}
