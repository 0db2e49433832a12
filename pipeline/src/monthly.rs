//! `folio report monthly`: the service report a bureau owes its client
//! each month — counts, quality figures per scanning operator, keyer
//! figures, acceptance results, throughput and queue depth — as
//! `report.json` (the figures), `report.html` (tables and inline SVG
//! charts) and `report.pdf` (the same charts as vector paths). Every
//! figure is read from the store for the month, nothing is estimated.

use crate::acceptance;
use crate::chart::{self, Chart, Kind};
use crate::error::{ExitCode, FolioError};
use crate::store::monthly::PeriodFigures;
use crate::store::{KeyerFigures, Store};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One scanning operator's month.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorFigures {
    /// Empty when the batches named no operator.
    pub operator: String,
    pub pages: i64,
    pub rescans: i64,
    pub qc_failed: i64,
    pub blank: i64,
    pub rescan_rate: f64,
    pub qc_failure_rate: f64,
}

/// A day's figure.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Day {
    pub day: String,
    pub pages: i64,
}

/// An acceptance plan drawn in the month, with its verdict so far.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptanceLine {
    pub batch: String,
    pub batch_name: String,
    pub seed: String,
    pub sample: usize,
    pub inspected: u64,
    pub failed: u64,
    pub pass_rate: f64,
    pub decision: String,
}

/// The monthly report's figures (`report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyReport {
    pub month: String,
    /// The period, half-open: `[from, to)`.
    pub from: String,
    pub to: String,
    /// Pages finished in the month (done or failed).
    pub pages: i64,
    /// Documents finished in the month.
    pub documents: i64,
    pub documents_packaged: i64,
    /// Batches with pages finished in the month.
    pub batches: i64,
    pub pages_failed: i64,
    pub operators: Vec<OperatorFigures>,
    pub keyers: Vec<KeyerFigures>,
    /// Pages finished per day, every day of the month.
    pub throughput: Vec<Day>,
    /// Pages waiting (arrived, not finished) at the end of each day.
    pub queue_depth: Vec<Day>,
    pub acceptance: Vec<AcceptanceLine>,
}

/// The first day of `YYYY-MM` and of the month after.
pub fn month_bounds(month: &str) -> Result<(NaiveDate, NaiveDate), FolioError> {
    let bad = || FolioError::Usage(format!("--month {month:?}: expected a month as YYYY-MM"));
    if month.len() != 7 {
        return Err(bad());
    }
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").map_err(|_| bad())?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(bad)?;
    Ok((first, next))
}

fn rate(n: i64, of: i64) -> f64 {
    if of > 0 { n as f64 / of as f64 } else { 0.0 }
}

/// Builds the report of `month` from the store.
pub async fn build(
    store: &Store,
    month: &str,
    pass_rate: f64,
) -> Result<MonthlyReport, FolioError> {
    let (first, next) = month_bounds(month)?;
    let from = first.format("%Y-%m-%d").to_string();
    let to = next.format("%Y-%m-%d").to_string();
    let raw = store.period_figures(&from, &to).await?;
    let keyers = store.keyer_figures_between(Some(&from), Some(&to)).await?;
    let (throughput, queue_depth) = daily(&raw, first, next);
    let mut accepted = Vec::new();
    for plan in store.plans().await? {
        let day = plan.drawn_at.get(..10).unwrap_or("");
        if day < from.as_str() || day >= to.as_str() {
            continue;
        }
        let Some(batch) = store.batch(&plan.batch_id).await? else {
            continue;
        };
        let Some((plan, items)) = store.recorded_plan(&batch.id, &plan.seed).await? else {
            continue;
        };
        let sample = items.len();
        let r = acceptance::judge(&batch, &plan, items, pass_rate)?;
        accepted.push(AcceptanceLine {
            batch: batch.id,
            batch_name: batch.name,
            seed: r.seed,
            sample,
            inspected: r.verdict.inspected,
            failed: r.verdict.failed,
            pass_rate: r.verdict.pass_rate,
            decision: r.decision,
        });
    }
    Ok(MonthlyReport {
        month: month.to_string(),
        from,
        to,
        pages: raw.pages,
        documents: raw.documents,
        documents_packaged: raw.documents_packaged,
        batches: raw.batches,
        pages_failed: raw.pages_failed,
        operators: raw
            .operators
            .iter()
            .map(|o| OperatorFigures {
                operator: o.operator.clone(),
                pages: o.pages,
                rescans: o.rescans,
                qc_failed: o.qc_failed,
                blank: o.blank,
                rescan_rate: rate(o.rescans, o.pages),
                qc_failure_rate: rate(o.qc_failed, o.pages),
            })
            .collect(),
        keyers,
        throughput,
        queue_depth,
        acceptance: accepted,
    })
}

/// Every day of the month with its finished pages, and the queue at
/// each day's end (arrived so far minus finished so far).
fn daily(raw: &PeriodFigures, first: NaiveDate, next: NaiveDate) -> (Vec<Day>, Vec<Day>) {
    let get = |list: &[(String, i64)], day: &str| {
        list.iter()
            .filter(|(d, _)| d == day)
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let mut arrived = raw.arrived_before;
    let mut done = raw.done_before;
    let mut throughput = Vec::new();
    let mut queue = Vec::new();
    let mut d = first;
    while d < next {
        let day = d.format("%Y-%m-%d").to_string();
        let finished = get(&raw.done_per_day, &day);
        arrived += get(&raw.arrived_per_day, &day);
        done += finished;
        throughput.push(Day {
            day: day.clone(),
            pages: finished,
        });
        queue.push(Day {
            day,
            pages: (arrived - done).max(0),
        });
        d = d.succ_opt().unwrap_or(next);
    }
    (throughput, queue)
}

fn operator_name(o: &str) -> String {
    if o.is_empty() {
        "(none)".into()
    } else {
        o.to_string()
    }
}

/// The report's charts, in order.
pub fn charts(r: &MonthlyReport) -> Vec<Chart> {
    let ops: Vec<String> = r
        .operators
        .iter()
        .map(|o| operator_name(&o.operator))
        .collect();
    let day_labels: Vec<String> = r
        .throughput
        .iter()
        .map(|d| d.day.get(8..).unwrap_or(&d.day).to_string())
        .collect();
    vec![
        Chart {
            title: "Pages scanned per operator".into(),
            kind: Kind::Bars,
            labels: ops.clone(),
            values: r.operators.iter().map(|o| o.pages as f64).collect(),
        },
        Chart {
            title: "Re-scan rate per operator (%)".into(),
            kind: Kind::Bars,
            labels: ops.clone(),
            values: r.operators.iter().map(|o| o.rescan_rate * 100.0).collect(),
        },
        Chart {
            title: "QC-failure rate per operator (%)".into(),
            kind: Kind::Bars,
            labels: ops,
            values: r
                .operators
                .iter()
                .map(|o| o.qc_failure_rate * 100.0)
                .collect(),
        },
        Chart {
            title: "Keyer fields per hour".into(),
            kind: Kind::Bars,
            labels: r.keyers.iter().map(|k| k.pseudonym.clone()).collect(),
            values: r.keyers.iter().map(|k| k.fields_per_hour).collect(),
        },
        Chart {
            title: format!("Throughput: pages finished per day, {}", r.month),
            kind: Kind::Bars,
            labels: day_labels.clone(),
            values: r.throughput.iter().map(|d| d.pages as f64).collect(),
        },
        Chart {
            title: format!("Queue depth at the end of each day, {}", r.month),
            kind: Kind::Line,
            labels: day_labels,
            values: r.queue_depth.iter().map(|d| d.pages as f64).collect(),
        },
    ]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// The text lines of the report (summary and tables), shared by the PDF.
fn lines(r: &MonthlyReport) -> Vec<String> {
    let mut l = vec![
        format!(
            "Pages finished: {} ({} failed) - documents finished: {} ({} packaged) - batches: {}",
            r.pages, r.pages_failed, r.documents, r.documents_packaged, r.batches
        ),
        String::new(),
        "Scanning operators: pages, re-scans, QC failures".into(),
    ];
    for o in &r.operators {
        l.push(format!(
            "  {}: {} pages, {} re-scans ({}), {} QC failures ({})",
            operator_name(&o.operator),
            o.pages,
            o.rescans,
            pct(o.rescan_rate),
            o.qc_failed,
            pct(o.qc_failure_rate)
        ));
    }
    l.push(String::new());
    l.push("Keyers: fields/hour, keystrokes/hour, error rate; decisions/hour".into());
    for k in &r.keyers {
        l.push(format!(
            "  {} ({}): {} fields, {:.0} fields/h, {:.0} keystrokes/h, error rate {}, {} decisions",
            k.pseudonym,
            k.role,
            k.fields,
            k.fields_per_hour,
            k.keystrokes_per_hour,
            pct(k.error_rate),
            k.decisions
        ));
    }
    l.push(String::new());
    l.push("Acceptance inspections (ISO 2859-1 sample, DA/T 31 verdict)".into());
    for a in &r.acceptance {
        l.push(format!(
            "  {} seed {}: {} of {} inspected, {} failed, {} pass -> {}",
            a.batch_name,
            a.seed,
            a.inspected,
            a.sample,
            a.failed,
            pct(a.pass_rate),
            a.decision
        ));
    }
    l
}

/// The HTML report (one file, charts inline as SVG), also the body of
/// the console's report page.
pub fn html(r: &MonthlyReport) -> String {
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Folio monthly service report {m}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         .charts svg{{margin:.5em 1em .5em 0}}</style></head><body>\
         <h1>Monthly service report {m}</h1><p>Period {f} to {t} (exclusive).</p>",
        m = esc(&r.month),
        f = esc(&r.from),
        t = esc(&r.to)
    );
    h.push_str(&format!(
        "<table id=\"counts\"><tr><th>Figure</th><th>Count</th></tr>\
         <tr><td>Pages finished</td><td id=\"pages\">{}</td></tr>\
         <tr><td>Pages failed</td><td>{}</td></tr>\
         <tr><td>Documents finished</td><td id=\"documents\">{}</td></tr>\
         <tr><td>Documents packaged</td><td>{}</td></tr>\
         <tr><td>Batches</td><td id=\"batches\">{}</td></tr></table>",
        r.pages, r.pages_failed, r.documents, r.documents_packaged, r.batches
    ));
    h.push_str("<h2>Scanning operators</h2><table><tr><th>Operator</th><th>Pages</th><th>Re-scans</th><th>Re-scan rate</th><th>QC failures</th><th>QC-failure rate</th><th>Blank</th></tr>");
    for o in &r.operators {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&operator_name(&o.operator)),
            o.pages,
            o.rescans,
            pct(o.rescan_rate),
            o.qc_failed,
            pct(o.qc_failure_rate),
            o.blank
        ));
    }
    h.push_str("</table><h2>Keyers</h2><table><tr><th>Keyer</th><th>Role</th><th>Fields</th><th>Fields/hour</th><th>Keystrokes/hour</th><th>Error rate</th><th>Decisions</th><th>Decisions/hour</th></tr>");
    for k in &r.keyers {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.0}</td></tr>",
            esc(&k.pseudonym),
            esc(&k.role),
            k.fields,
            k.fields_per_hour,
            k.keystrokes_per_hour,
            pct(k.error_rate),
            k.decisions,
            k.decisions_per_hour
        ));
    }
    h.push_str("</table><h2>Acceptance</h2><table><tr><th>Batch</th><th>Seed</th><th>Sample</th><th>Inspected</th><th>Failed</th><th>Pass rate</th><th>Decision</th></tr>");
    for a in &r.acceptance {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.batch_name),
            esc(&a.seed),
            a.sample,
            a.inspected,
            a.failed,
            pct(a.pass_rate),
            esc(&a.decision)
        ));
    }
    h.push_str("</table><h2>Charts</h2><div class=\"charts\">");
    for c in charts(r) {
        h.push_str(&c.svg());
    }
    h.push_str("</div></body></html>\n");
    h
}

/// The PDF report: A4 pages of text lines and the charts as vector
/// paths, text in Helvetica (a standard font; ASCII).
pub fn pdf(r: &MonthlyReport) -> Result<Vec<u8>, FolioError> {
    use lopdf::{Document, Object, Stream, dictionary};
    const W: f64 = 595.0;
    const H: f64 = 842.0;
    const MARGIN: f64 = 48.0;
    let mut pages: Vec<String> = vec![String::new()];
    let mut y = H - MARGIN;
    let need = |pages: &mut Vec<String>, y: &mut f64, h: f64| {
        if *y - h < MARGIN {
            pages.push(String::new());
            *y = H - MARGIN;
        }
    };
    let title = format!("Folio monthly service report {}", r.month);
    pages[0].push_str(&format!(
        "BT /F1 16 Tf {MARGIN} {:.1} Td ({}) Tj ET\n",
        y - 16.0,
        chart::pdf_text(&title)
    ));
    y -= 32.0;
    for line in lines(r) {
        need(&mut pages, &mut y, 13.0);
        let page = pages.last_mut().expect("one page at least");
        page.push_str(&format!(
            "BT /F1 9 Tf {MARGIN} {:.1} Td ({}) Tj ET\n",
            y - 9.0,
            chart::pdf_text(&line)
        ));
        y -= 13.0;
    }
    y -= 10.0;
    for c in charts(r) {
        need(&mut pages, &mut y, chart::HEIGHT + 10.0);
        let page = pages.last_mut().expect("one page at least");
        page.push_str("q\n");
        page.push_str(&c.pdf(MARGIN, y));
        page.push_str("Q\n");
        y -= chart::HEIGHT + 10.0;
    }
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for content in pages {
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(Object::from(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(W as f32), Object::Real(H as f32)],
        }),
    );
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal(title),
        "Producer" => Object::string_literal("Folio"),
    });
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| FolioError::Internal(format!("writing the PDF report: {e}")))?;
    Ok(out)
}

/// Writes `report.json`, `report.html` and `report.pdf` into `dir`
/// (each through a temporary file, so a reader never sees half a file).
pub fn write(r: &MonthlyReport, dir: &Path) -> Result<Vec<PathBuf>, FolioError> {
    std::fs::create_dir_all(dir).map_err(|e| FolioError::output(dir, e))?;
    let json =
        serde_json::to_string_pretty(r).map_err(|e| FolioError::Internal(e.to_string()))? + "\n";
    let files = [
        ("report.json", json.into_bytes()),
        ("report.html", html(r).into_bytes()),
        ("report.pdf", pdf(r)?),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| FolioError::output(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| FolioError::output(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// `folio report monthly --month YYYY-MM --out DIR`.
pub async fn run(
    store: &Store,
    month: &str,
    out: &Path,
    pass_rate: f64,
) -> Result<ExitCode, FolioError> {
    month_bounds(month)?;
    let r = build(store, month, pass_rate).await?;
    let written = write(&r, out)?;
    println!(
        "monthly report {}: {} page(s), {} document(s), {} batch(es)",
        r.month, r.pages, r.documents, r.batches
    );
    for p in written {
        println!("  {}", p.display());
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_parsed_strictly() {
        let (a, b) = month_bounds("2026-12").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2026-12-01".into(), "2027-01-01".into())
        );
        for bad in ["2026-13", "2026-1", "26-11", "2026-11-01", "", "november"] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_queue_is_arrivals_minus_completions_day_by_day() {
        let raw = PeriodFigures {
            arrived_before: 5,
            done_before: 3,
            arrived_per_day: vec![("2026-02-02".into(), 10)],
            done_per_day: vec![("2026-02-02".into(), 4), ("2026-02-03".into(), 6)],
            ..PeriodFigures::default()
        };
        let (first, next) = month_bounds("2026-02").unwrap();
        let (t, q) = daily(&raw, first, next);
        assert_eq!(t.len(), 28);
        assert_eq!(q[0].pages, 2);
        assert_eq!(q[1].pages, 8);
        assert_eq!(q[2].pages, 2);
        assert_eq!(t[2].pages, 6);
    }
}
