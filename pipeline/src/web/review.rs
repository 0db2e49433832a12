//! The console's review screens (operator, supervisor, admin): a batch's
//! pages as thumbnails with their flags, decided with the keyboard (keep,
//! drop, re-scan), and the batch's re-scan requests as a printable list
//! and a CSV for the scanning station. Decisions go through
//! `review::decide` — the same code the CLI uses — so the store records
//! the actor and packages a document once its last hold is decided.

use super::auth::Session;
use super::console::{find, page_session, shell};
use super::pages::escape;
use super::{ApiError, AppState};
use crate::error::FolioError;
use crate::review;
use crate::store::review::{Decision, Flag, RescanRequest, ReviewPage};
use crate::table::Table;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Thumbnail width when the request names none (CSS pixels of the grid).
const THUMB_WIDTH: u32 = 200;
/// The widest image the thumbnail endpoint cuts (the large view).
const MAX_WIDTH: u32 = 2000;

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `?width=N`
#[derive(Debug, Deserialize)]
pub struct WidthQuery {
    pub width: Option<u32>,
}

/// `GET /api/v1/pages/{page_id}/thumbnail[?width=N]` (operator roles): a
/// PNG of the derived page scaled to `width` pixels (default 200, at most
/// 2000, never enlarged). The decoded page comes from the server's page
/// cache. A page id never names another image (a re-scan is a new page),
/// so the browser may keep it a few minutes — privately, never a proxy:
/// the review grid re-renders after every decision.
pub async fn thumbnail(
    State(state): State<AppState>,
    Path(page_id): Path<i64>,
    Query(q): Query<WidthQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    s.require_operator()?;
    let rel = match state.store.page_derived_path(page_id).await? {
        None => return Err(ApiError::NotFound(format!("no page {page_id}"))),
        Some(None) => {
            return Err(ApiError::NotFound(format!(
                "page {page_id} has no page image (not processed, or it failed)"
            )));
        }
        Some(Some(rel)) => rel,
    };
    let width = q.width.unwrap_or(THUMB_WIDTH).clamp(16, MAX_WIDTH);
    let file = state.settings.objects_dir.join(rel);
    let page = state.pages.get(&file).await.map_err(ApiError::NotFound)?;
    let png = tokio::task::spawn_blocking(move || {
        let (w, h) = (page.width().max(1), page.height().max(1));
        let tw = width.min(w);
        let th = ((h as u64 * tw as u64) / w as u64).max(1) as u32;
        let small = if tw == w {
            (*page).clone()
        } else {
            image::imageops::thumbnail(&*page, tw, th)
        };
        folio_stages::encode::encode(&small, folio_stages::encode::DerivedFormat::Png, 0, 0)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)?;
    let mut r = png.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(r)
}

/// `GET /api/v1/review/{batch}`: every page of the batch in document and
/// page order, with its flags, hold and decision (`Vec<ReviewPage>`).
pub async fn pages(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    s.require_operator()?;
    let b = find(&state, &batch).await?;
    let pages = state.store.review_pages(&b.id).await?;
    Ok(no_store(Json(pages).into_response()))
}

/// `POST /api/v1/review/pages/{page_id}` body.
#[derive(Debug, Deserialize)]
pub struct DecisionBody {
    /// `keep`, `drop` or `rescan`.
    pub decision: String,
    /// Why (optional; shown on the re-scan list).
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/v1/review/pages/{page_id}`: records the user's decision on
/// the page (`review::decide`) and answers `Decided`; 404 for an unknown
/// page, 409 when its document is already packaged, 422 for a decision
/// that is not keep, drop or rescan.
pub async fn decide(
    State(state): State<AppState>,
    Path(page_id): Path<i64>,
    headers: HeaderMap,
    Json(body): Json<DecisionBody>,
) -> Result<Response, ApiError> {
    let s = Session::for_post(&state, &headers).await?;
    s.require_operator()?;
    let decision: Decision = body.decision.trim().parse().map_err(|_| {
        ApiError::Invalid(format!(
            "decision {:?}: use keep, drop or rescan",
            body.decision
        ))
    })?;
    let decided = review::decide(
        &state.store,
        state.settings.clone(),
        state.pool.clone(),
        &s.row.user.actor(),
        page_id,
        decision,
        body.reason.trim(),
    )
    .await
    .map_err(decide_error)?;
    Ok(no_store(Json(decided).into_response()))
}

/// The store's refusals as the statuses the console shows.
fn decide_error(e: FolioError) -> ApiError {
    match e {
        FolioError::NotFound(m) => ApiError::NotFound(m),
        FolioError::Conflict(m) => ApiError::Conflict(m),
        FolioError::Usage(m) => ApiError::Invalid(m),
        e => e.into(),
    }
}

/// `GET /console/batches/{batch}/review`: the reviewer's screen. The grid
/// and the large view are drawn by `review.js` from the JSON API.
pub async fn review_page(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = match page_session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let b = match find(&state, &batch).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let body = format!(
        "<div class=\"review-head\"><h1>Review · {name}</h1>\
         <a href=\"/console/batches/{id}/rescans\">Re-scan requests</a></div>\
         <p id=\"summary\" data-undecided=\"\">loading…</p>\
         <dl class=\"keys\" id=\"keys\">\
         <div><dt><kbd>J</kbd> / <kbd>K</kbd></dt><dd>next / previous flagged page</dd></div>\
         <div><dt><kbd>→</kbd> / <kbd>←</kbd></dt><dd>next / previous page</dd></div>\
         <div><dt><kbd>A</kbd></dt><dd>keep</dd></div>\
         <div><dt><kbd>D</kbd></dt><dd>drop</dd></div>\
         <div><dt><kbd>R</kbd></dt><dd>request a re-scan</dd></div>\
         <div><dt><kbd>Enter</kbd> / <kbd>Esc</kbd></dt><dd>record / cancel (reason optional)</dd></div>\
         </dl>\
         <p id=\"message\" class=\"message\" role=\"alert\"></p><p id=\"notice\" class=\"quiet\" role=\"status\"></p>\
         <div class=\"review\"><ol id=\"grid\" class=\"grid\"></ol>\
         <section id=\"current\" class=\"current\"><p id=\"where\"></p><ul id=\"current-flags\" class=\"badges\"></ul>\
         <p id=\"decision\"></p>\
         <form id=\"reason-form\" hidden><label for=\"reason\" id=\"reason-label\">Reason</label>\
         <input id=\"reason\" autocomplete=\"off\" maxlength=\"500\"></form>\
         <img id=\"large\" alt=\"the current page\"></section></div>\
         <script>const BATCH = {batch_js}; const CSRF = {csrf_js};</script>\
         <script src=\"/assets/review.js\"></script>",
        name = escape(&b.name),
        id = escape(&b.id),
        batch_js = js_string(&b.id),
        csrf_js = js_string(&s.row.csrf),
    );
    shell("review", &s.row.user.name, &body)
}

/// A JSON string literal safe inside a `<script>` element.
fn js_string(s: &str) -> String {
    serde_json::Value::String(s.to_string())
        .to_string()
        .replace('<', "\\u003c")
}

/// `GET /console/batches/{batch}/rescans`: the batch's open re-scan
/// requests as a page to print for the scanning station, with the
/// `batch.toml` lines the re-scan folder needs.
pub async fn rescans_page(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = match page_session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let b = match find(&state, &batch).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let list = match state.store.rescan_requests(&b.id).await {
        Ok(l) => l,
        Err(e) => return ApiError::from(e).into_response(),
    };
    shell(
        "re-scans",
        &s.row.user.name,
        &rescans_html(&b.id, &b.name, &list),
    )
}

/// The printable list: one row per page to scan again, in the order the
/// new pages must come in the re-scan folder.
pub fn rescans_html(batch_id: &str, batch_name: &str, list: &[RescanRequest]) -> String {
    let mut rows = String::new();
    for (i, r) in list.iter().enumerate() {
        rows.push_str(&format!(
            "<tr><td>{n}</td><td>{doc}</td><td>{seq}</td><td>{orig}</td><td>{fp}</td><td>{why}</td>\
             <td>{by}</td><td>{at}</td></tr>\n",
            n = i + 1,
            doc = escape(&r.document_id),
            seq = r.seq,
            orig = escape(&r.original),
            fp = r.file_page,
            why = escape(&r.reason),
            by = escape(&r.requested_by),
            at = escape(&r.requested_at),
        ));
    }
    let body = if list.is_empty() {
        "<p id=\"none\">No open re-scan requests for this batch.</p>".to_string()
    } else {
        format!(
            "<p>Scan these {n} page(s) again, in this order, into one folder (files sort by name in \
             this order). Put this <code>batch.toml</code> into the folder:</p>\
             <pre id=\"toml\">{toml}</pre>\
             <table id=\"rescans\"><thead><tr><th>#</th><th>Document</th><th>Page</th><th>Original file</th>\
             <th>Page in file</th><th>Reason</th><th>Requested by</th><th>At</th></tr></thead><tbody>\n{rows}</tbody></table>",
            n = list.len(),
            toml = escape(&rescan_toml(batch_id, list)),
        )
    };
    format!(
        "<div class=\"review-head\"><h1>Re-scan requests · {name}</h1>\
         <span class=\"noprint\"><a href=\"/console/batches/{id}/review\">Review</a> · \
         <a href=\"/api/v1/review/{id}/rescans.csv\">CSV</a></span></div>\
         <p class=\"quiet\">Batch {id_text}</p>{body}",
        name = escape(batch_name),
        id = escape(batch_id),
        id_text = escape(batch_id),
    )
}

/// The `batch.toml` of the re-scan folder: `rescan_of` names the batch,
/// `replaces` the pages in the folder's page order.
pub fn rescan_toml(batch_id: &str, list: &[RescanRequest]) -> String {
    let quote = |s: &str| toml_string(s);
    let mut out = format!("rescan_of = {}\nreplaces = [\n", quote(batch_id));
    for r in list {
        out.push_str(&format!("  {},\n", quote(&r.replaces)));
    }
    out.push_str("]\n");
    out
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The re-scan list as a table (the CSV's shape).
pub fn rescans_table(list: &[RescanRequest]) -> Table {
    let mut t = Table::new([
        "batch",
        "document_id",
        "seq",
        "original",
        "file_page",
        "reason",
        "requested_by",
        "requested_at",
        "replaces",
    ]);
    for r in list {
        t.rows.push(vec![
            r.batch.clone(),
            r.document_id.clone(),
            r.seq.to_string(),
            r.original.clone(),
            r.file_page.to_string(),
            r.reason.clone(),
            r.requested_by.clone(),
            r.requested_at.clone(),
            r.replaces.clone(),
        ]);
    }
    t
}

/// `GET /api/v1/review/{batch}/rescans.csv`: the re-scan list as CSV
/// (header row; UTF-8 with a byte-order mark, so Excel reads Chinese file
/// names), for the scanning station's own tools.
pub async fn rescans_csv(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    s.require_operator()?;
    let b = find(&state, &batch).await?;
    let list = state.store.rescan_requests(&b.id).await?;
    let csv = rescans_table(&list).to_csv(true);
    let mut r = csv.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let name = format!("attachment; filename=\"rescans-{}.csv\"", safe_name(&b.id));
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(no_store(r))
}

fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A batch's review figures for the batch list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReviewCounts {
    /// Flagged pages without a decision.
    pub undecided: usize,
    /// Documents some undecided hold keeps from being packaged.
    pub held_documents: usize,
    /// Re-scans requested and not yet replaced.
    pub rescans: usize,
}

/// Counts undecided flags, held documents and open re-scans.
pub fn counts(pages: &[ReviewPage]) -> ReviewCounts {
    let mut held: Vec<&str> = pages
        .iter()
        .filter(|p| p.holds)
        .map(|p| p.document_id.as_str())
        .collect();
    held.sort_unstable();
    held.dedup();
    ReviewCounts {
        undecided: pages
            .iter()
            .filter(|p| !p.flags.is_empty() && p.decision.is_none())
            .count(),
        held_documents: held.len(),
        rescans: pages
            .iter()
            .filter(|p| p.decision == Some(Decision::Rescan) && p.replaced_by.is_none())
            .count(),
    }
}

/// A flag's words on a badge.
pub fn flag_label(f: Flag) -> &'static str {
    match f {
        Flag::Blank => "blank",
        Flag::Rescan => "re-scan",
        Flag::Qc => "QC failed",
        Flag::Orientation => "orientation unsure",
        Flag::Deskew => "deskew unsure",
        Flag::PageCount => "page count",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(doc: &str, seq: i64, reason: &str) -> RescanRequest {
        RescanRequest {
            batch: "b-1".into(),
            document_id: doc.into(),
            seq,
            original: "0003_扫描, \"a\".tif".into(),
            file_page: 1,
            reason: reason.into(),
            requested_by: "user:olga".into(),
            requested_at: "2026-11-28T12:00:00Z".into(),
            replaces: format!("{doc}:{seq}"),
        }
    }

    #[test]
    fn the_toml_lines_parse_and_name_the_pages_in_order() {
        let list = [req("D-1", 2, "crooked"), req("D-2", 1, "")];
        let text = rescan_toml("b-1", &list);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["rescan_of"].as_str(), Some("b-1"));
        let r: Vec<&str> = v["replaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(r, ["D-1:2", "D-2:1"]);
        let odd: toml::Value = toml::from_str(&rescan_toml("a\"b\\c\n", &[])).unwrap();
        assert_eq!(odd["rescan_of"].as_str(), Some("a\"b\\c\n"));
    }

    #[test]
    fn the_csv_has_a_header_and_one_quoted_row_per_request() {
        let csv = rescans_table(&[req("D-1", 2, "torn, re-scan")]).to_csv(true);
        let csv = csv.strip_prefix('\u{feff}').unwrap();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "batch,document_id,seq,original,file_page,reason,requested_by,requested_at,replaces"
        );
        assert_eq!(
            lines[1],
            "b-1,D-1,2,\"0003_扫描, \"\"a\"\".tif\",1,\"torn, re-scan\",user:olga,2026-11-28T12:00:00Z,D-1:2"
        );
        assert_eq!(lines.len(), 3, "header, one row, the final line end");
    }

    #[test]
    fn the_printable_list_escapes_what_people_typed() {
        let html = rescans_html("b-1", "<b>", &[req("D-1", 2, "<script>")]);
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("replaces = ["));
        let none = rescans_html("b-1", "x", &[]);
        assert!(none.contains("id=\"none\"") && !none.contains("<pre"));
    }

    #[test]
    fn a_script_string_cannot_close_its_element() {
        assert_eq!(js_string("a</script>"), "\"a\\u003c/script>\"");
    }
}
