//! The operator console on `folio serve` (operator, supervisor, admin):
//! batches with state, progress, pages/min and what waits for review
//! (the review screens are in `review.rs`); a batch's acceptance
//! sample, inspected page by page with the keyboard (J/K move, P pass,
//! F fail with a reason); the monthly service report as a page. The
//! console's pages use the same JSON API scripts do.

use super::auth::Session;
use super::pages::escape;
use super::review;
use super::{ApiError, AppState};
use crate::acceptance;
use crate::monthly;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

impl Session {
    /// 403 unless the user works the console (operator, supervisor, admin).
    pub fn require_operator(&self) -> Result<(), ApiError> {
        if self.role().operates() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs the operator, supervisor or admin role".into(),
            ))
        }
    }
}

/// A console page's session: to the login without one, 403 for keyers.
pub(super) async fn page_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Session, Response> {
    let s = match Session::from_headers(state, headers).await {
        Ok(s) => s,
        Err(ApiError::Unauthorized) => return Err(Redirect::to("/login").into_response()),
        Err(e) => return Err(e.into_response()),
    };
    s.require_operator().map_err(IntoResponse::into_response)?;
    Ok(s)
}

pub(super) fn shell(title: &str, user: &str, body: &str) -> Response {
    no_store(
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Folio · {t}</title>\
             <link rel=\"stylesheet\" href=\"/assets/station.css\"></head><body class=\"console\">\
             <header><span class=\"brand\">Folio · console</span> <a href=\"/console\">Batches</a> \
             <a href=\"/reports/monthly\">Monthly report</a> <span class=\"who\">{u}</span></header><main>{body}</main></body></html>",
            t = escape(title),
            u = escape(user),
        ))
        .into_response(),
    )
}

/// `GET /console`: every batch with state, progress and pages/min.
pub async fn batches(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match page_session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list = match state.store.status(None).await {
        Ok(l) => l,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut rows = String::new();
    for b in &list {
        let finished = b.pages.done + b.pages.failed;
        let all = finished + b.pages.queued + b.pages.leased;
        let total = all.max(1);
        let review = match state.store.review_pages(&b.id).await {
            Ok(p) => review::counts(&p),
            Err(e) => return ApiError::from(e).into_response(),
        };
        let attention = |n: usize| if n > 0 { " class=\"attention\"" } else { "" };
        rows.push_str(&format!(
            "<tr data-batch=\"{id}\"><td>{name}</td><td>{st}</td><td><progress max=\"{total}\" value=\"{finished}\"></progress> \
             {finished}/{pages}</td><td>{ppm:.1}</td><td>{docs}</td>\
             <td data-undecided=\"{und}\"{und_c}>{und}</td><td data-held=\"{held}\"{held_c}>{held}</td><td>{resc}</td>\
             <td><a href=\"/console/batches/{id}/review\">review</a> · <a href=\"/console/batches/{id}/rescans\">re-scans</a> · \
             <a href=\"/console/batches/{id}/acceptance\">acceptance</a></td></tr>\n",
            id = escape(&b.id),
            name = escape(&b.name),
            st = escape(b.state.as_str()),
            pages = all,
            ppm = b.pages_per_minute,
            docs = b.documents.packaged,
            und = review.undecided,
            und_c = attention(review.undecided),
            held = review.held_documents,
            held_c = attention(review.held_documents),
            resc = review.rescans,
        ));
    }
    shell(
        "batches",
        &s.row.user.name,
        &format!(
            "<h1>Batches</h1><table id=\"batches\"><thead><tr><th>Batch</th><th>State</th><th>Progress</th>\
             <th>Pages/min</th><th>Packaged</th><th>Undecided flags</th><th>Held documents</th>\
             <th>Re-scans</th><th></th></tr></thead><tbody>\n{rows}</tbody></table>"
        ),
    )
}

/// `?seed=N`
#[derive(Debug, Deserialize)]
pub struct SeedQuery {
    pub seed: Option<u64>,
}

/// `GET /api/v1/acceptance/{batch}`: the acceptance record of the
/// batch's newest plan (or `?seed=`), with the verdict so far.
pub async fn record(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    Query(q): Query<SeedQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    s.require_operator()?;
    let b = find(&state, &batch).await?;
    let (plan, items) = acceptance::recorded(&state.store, &b, q.seed)
        .await
        .map_err(not_found)?;
    let r = acceptance::judge(&b, &plan, items, state.settings.acceptance.pass_rate)?;
    Ok(no_store(Json(r).into_response()))
}

/// `POST /api/v1/acceptance/{batch}/inspect` body.
#[derive(Debug, Deserialize)]
pub struct Inspection {
    pub seed: Option<u64>,
    pub document: String,
    pub page: i64,
    pub pass: bool,
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/v1/acceptance/{batch}/inspect`: records one result (422
/// for a failure without a reason or a page outside the sample); answers
/// the record, written into the delivery once decided.
pub async fn inspect(
    State(state): State<AppState>,
    Path(batch): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Inspection>,
) -> Result<Response, ApiError> {
    let s = Session::for_post(&state, &headers).await?;
    s.require_operator()?;
    let b = find(&state, &batch).await?;
    let r = acceptance::inspect(
        &state.store,
        &state.settings,
        &b,
        body.seed,
        &body.document,
        body.page,
        body.pass,
        &body.reason,
        &s.row.user.actor(),
    )
    .await
    .map_err(|e| match e {
        crate::error::FolioError::Usage(m) => ApiError::Invalid(m),
        e => e.into(),
    })?;
    Ok(Json(r).into_response())
}

pub(super) async fn find(state: &AppState, key: &str) -> Result<crate::store::BatchRow, ApiError> {
    state
        .store
        .find_batch(key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no batch {key}")))
}

fn not_found(e: crate::error::FolioError) -> ApiError {
    match e {
        crate::error::FolioError::Usage(m) => ApiError::NotFound(m),
        e => e.into(),
    }
}

/// `GET /console/batches/{batch}/acceptance`: the inspector's screen.
/// The sample's pages one at a time; J/K (or arrows) move, P passes,
/// F asks for a reason and fails; the verdict updates as results land.
pub async fn acceptance_page(
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
        "<h1>Acceptance · {name}</h1>\
         <p id=\"verdict\">loading…</p>\
         <p class=\"keys\">J / → next · K / ← previous · P pass · F fail (with a reason)</p>\
         <div id=\"item\"><p id=\"where\"></p><img id=\"page\" alt=\"sampled page\" style=\"max-width:100%;max-height:70vh\"></div>\
         <ol id=\"items\"></ol>\
         <script>\n\
         const BATCH = {batch_js}; const CSRF = {csrf_js};\n\
         let rec = null, at = 0;\n\
         async function load() {{\n\
           const r = await fetch('/api/v1/acceptance/' + encodeURIComponent(BATCH));\n\
           if (!r.ok) {{ document.getElementById('verdict').textContent = (await r.json()).error; return; }}\n\
           rec = await r.json(); show();\n\
         }}\n\
         function show() {{\n\
           const v = rec.verdict;\n\
           document.getElementById('verdict').textContent = rec.decision.toUpperCase() + ' · ' + v.inspected + ' of ' + rec.items.length +\n\
             ' inspected, ' + v.failed + ' failed · seed ' + rec.seed + ' · letter ' + rec.code_letter;\n\
           document.getElementById('verdict').dataset.decision = rec.decision;\n\
           const it = rec.items[at];\n\
           document.getElementById('where').textContent = (at + 1) + '/' + rec.items.length + ': ' + it.document + ' page ' + it.page + ' · ' + (it.result || 'not inspected');\n\
           document.getElementById('page').src = '/api/v1/documents/' + encodeURIComponent(it.document) + '/pages/' + it.page + '/image';\n\
           const ol = document.getElementById('items'); ol.innerHTML = '';\n\
           rec.items.forEach((x, i) => {{ const li = document.createElement('li'); li.textContent = x.document + ' p' + x.page + ' ' + (x.result || '…') + (x.reason ? ' (' + x.reason + ')' : '');\n\
             if (i === at) li.className = 'current'; ol.appendChild(li); }});\n\
         }}\n\
         async function judge(pass, reason) {{\n\
           const it = rec.items[at];\n\
           const r = await fetch('/api/v1/acceptance/' + encodeURIComponent(BATCH) + '/inspect', {{method: 'POST',\n\
             headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': CSRF}},\n\
             body: JSON.stringify({{seed: Number(rec.seed), document: it.document, page: it.page, pass, reason}})}});\n\
           if (!r.ok) {{ alert((await r.json()).error); return; }}\n\
           rec = await r.json(); if (at < rec.items.length - 1) at++; show();\n\
         }}\n\
         document.addEventListener('keydown', e => {{\n\
           if (!rec) return;\n\
           if (e.key === 'j' || e.key === 'ArrowRight') {{ at = Math.min(at + 1, rec.items.length - 1); show(); }}\n\
           else if (e.key === 'k' || e.key === 'ArrowLeft') {{ at = Math.max(at - 1, 0); show(); }}\n\
           else if (e.key === 'p') judge(true, '');\n\
           else if (e.key === 'f') {{ const why = prompt('Why does this page fail?'); if (why) judge(false, why); }}\n\
         }});\n\
         load();\n\
         </script>",
        name = escape(&b.name),
        batch_js = serde_json::Value::String(b.id.clone()),
        csrf_js = serde_json::Value::String(s.row.csrf.clone()),
    );
    shell("acceptance", &s.row.user.name, &body)
}

/// `?month=YYYY-MM`
#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    pub month: Option<String>,
}

/// `GET /reports/monthly?month=YYYY-MM`: the monthly service report's
/// figures and charts (default: the current month).
pub async fn monthly_page(
    State(state): State<AppState>,
    Query(q): Query<MonthQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = page_session(&state, &headers).await {
        return r;
    }
    let month = q
        .month
        .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m").to_string());
    if let Err(e) = monthly::month_bounds(&month) {
        return ApiError::Invalid(e.to_string()).into_response();
    }
    match monthly::build(&state.store, &month, state.settings.acceptance.pass_rate).await {
        Ok(r) => no_store(Html(monthly::html(&r)).into_response()),
        Err(e) => ApiError::from(e).into_response(),
    }
}
