//! The keying API: next task, submit, give back, the field's snippet, and
//! the supervisor's audit and figures. A keyer only ever receives the
//! snippet of a task they hold — never a batch list, another field of the
//! document or a whole page. Values are validated here against the
//! field's pattern (422); the store decides what two keyings mean.

use super::auth::Session;
use super::{ApiError, AppState};
use crate::store::{Refused, Submission, Submitted, TaskView};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use folio_stages::BBox;
use folio_stages::extract::FieldSpec;
use folio_stages::keying::{self, Decision, Entry};
use folio_stages::snippet::{self, Reach};
use serde::Deserialize;
use serde_json::json;

fn spec<'a>(state: &'a AppState, class: &str, field: &str) -> Option<&'a FieldSpec> {
    state.settings.classes.get(class)?.fields.spec(field)
}

/// The task as the station shows it: no OCR value, no other field.
fn task_json(state: &AppState, t: &TaskView) -> serde_json::Value {
    let spec = spec(state, &t.class, &t.field);
    let expires = t.lease_left_s.map(|s| {
        (chrono::Utc::now() + chrono::Duration::milliseconds((s * 1000.0) as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    let mut v = json!({
        "id": t.id,
        "kind": t.kind,
        "field": t.field,
        "mask": spec.map(keying::mask).unwrap_or_default(),
        "pattern": spec.map(|s| format!("^(?:{})$", s.pattern)),
        "snippet_url": format!("/api/v1/tasks/{}/snippet", t.id),
        "lease_expires": expires,
        "lease": t.lease,
    });
    if t.kind == "arbitrate" {
        v["entries"] = t
            .entries
            .iter()
            .map(|e| json!({"outcome": e.outcome(), "value": e.value()}))
            .collect();
    }
    v
}

/// `POST /api/v1/tasks/next`: one task with a lease, or 204.
pub async fn next(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let s = Session::for_post(&state, &headers).await?;
    let lease = state.settings.keying.lease_seconds;
    match state.store.next_task(&s.row.user, lease).await? {
        Some(t) => Ok(Json(task_json(&state, &t)).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `POST /api/v1/tasks/{id}/submit` body: one of `value`, `illegible`,
/// `empty`, and what the station measured.
#[derive(Debug, Deserialize)]
pub struct SubmitBody {
    pub value: Option<String>,
    #[serde(default)]
    pub illegible: bool,
    #[serde(default)]
    pub empty: bool,
    pub keystrokes: Option<i64>,
    pub active_ms: Option<i64>,
    /// An arbiter keeps a value that fails the field's check (the paper
    /// itself may carry a wrong check digit).
    #[serde(default)]
    pub confirm: bool,
    /// The lease from `next` (`lease` of the task): a submit on a lease
    /// given back or taken again is refused (409).
    pub lease: Option<String>,
}

/// `POST /api/v1/tasks/{id}/release` body: the lease to give back.
#[derive(Debug, Default, Deserialize)]
pub struct ReleaseBody {
    /// Without it, whatever lease the user holds on the task.
    pub lease: Option<String>,
}

/// `POST /api/v1/tasks/{id}/submit`: 200 with what it did, 409 when the
/// lease is not the caller's, 422 when the value fails the mask.
pub async fn submit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(body): Json<SubmitBody>,
) -> Result<Response, ApiError> {
    let s = Session::for_post(&state, &headers).await?;
    let Some(task) = state.store.task(id).await? else {
        return Err(ApiError::NotFound(format!("no task {id}")));
    };
    // A lease that is gone says so before anything about the value (the
    // store checks again when it records).
    let held = task.state == "leased"
        && task.keyer.as_deref() == Some(s.row.user.name.as_str())
        && task.lease_left_s.unwrap_or(0.0) > 0.0;
    let stale = body.lease.is_some() && body.lease != task.lease;
    if !held || stale {
        return Err(ApiError::Conflict(match task.keyer.as_deref() {
            _ if held => "the lease you hold on this task was given back or ran out; \
                          the task was leased again"
                .into(),
            Some(k) if k == s.row.user.name && task.state == "leased" => {
                "your lease on this task ran out; it went back to the queue".into()
            }
            _ if task.state == "done" => "this task is already done".into(),
            _ => "this task is not leased to you (its lease ran out or it was handed to someone else)"
                .into(),
        }));
    }
    let spec = spec(&state, &task.class, &task.field);
    let entry = match (body.value, body.illegible, body.empty) {
        (Some(v), false, false) => {
            let v = match spec {
                Some(spec) => keying::normalise(&v, spec.case),
                None => v.trim().to_string(),
            };
            if v.is_empty() {
                return Err(ApiError::Invalid(
                    "the value is empty: type it, or mark the field illegible or empty on paper"
                        .into(),
                ));
            }
            let whole = state
                .settings
                .classes
                .get(&task.class)
                .and_then(|c| c.fields.whole_pattern(&task.field));
            if let (Some(spec), Some(whole)) = (spec, whole)
                && !whole.is_match(&v)
            {
                return Err(ApiError::Invalid(format!(
                    "{v:?} does not fit the mask of {}: {}",
                    task.field,
                    keying::mask(spec)
                )));
            }
            // An arbiter settles the field: a value failing its check
            // is kept only when confirmed, never by a slip.
            if task.kind == "arbitrate"
                && !body.confirm
                && let Some(check) = spec.and_then(|s| s.validate)
                && !check.check(&v)
            {
                return Err(ApiError::Unconfirmed(format!(
                    "{v:?} fails the {} check of {}: press Enter again to keep it as on paper",
                    keying::check_name(check),
                    task.field
                )));
            }
            Entry::Value(v)
        }
        (None, true, false) => Entry::Illegible,
        (None, false, true) => Entry::Empty,
        _ => {
            return Err(ApiError::Invalid(
                "send exactly one of \"value\", \"illegible\": true or \"empty\": true".into(),
            ));
        }
    };
    let submission = Submission {
        entry,
        keystrokes: body.keystrokes,
        active_ms: body.active_ms,
        lease: body.lease,
    };
    let settings = state.settings.clone();
    let decide = move |class: &str, field: &str, a: &Entry, b: &Entry| -> Decision {
        match settings
            .classes
            .get(class)
            .and_then(|c| c.fields.spec(field))
        {
            Some(spec) => keying::decide(spec, a, b),
            None if a == b => Decision::Agreed(a.clone()),
            None => Decision::Conflict("the two keyings differ".into()),
        }
    };
    let done = state
        .store
        .submit_task(
            id,
            &s.row.user,
            &submission,
            &decide,
            &state.actor,
            state.settings.work.lease_seconds,
        )
        .await?;
    let body = match done {
        Err(Refused::NotFound) => return Err(ApiError::NotFound(format!("no task {id}"))),
        Err(Refused::NotYours(why)) => return Err(ApiError::Conflict(why)),
        Ok(Submitted::Recorded) => json!({"state": "recorded"}),
        Ok(Submitted::Arbitration(why)) => json!({"state": "arbitration", "reason": why}),
        Ok(Submitted::Final(claim)) => {
            if let Some(claim) = claim {
                state.package(claim);
            }
            json!({"state": "final"})
        }
    };
    Ok(Json(body).into_response())
}

/// `POST /api/v1/tasks/{id}/release`: give a held task back (409 when
/// that lease is no longer the caller's).
pub async fn release(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Option<Json<ReleaseBody>>,
) -> Result<Response, ApiError> {
    let s = Session::for_post(&state, &headers).await?;
    let lease = body.and_then(|Json(b)| b.lease);
    if state
        .store
        .release_task(id, &s.row.user, lease.as_deref())
        .await?
    {
        Ok(Json(json!({"released": true})).into_response())
    } else {
        Err(ApiError::Conflict(format!("task {id} is not held by you")))
    }
}

/// `GET /api/v1/tasks/{id}` (supervisor): where a task's field is.
pub async fn task(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    s.require_supervisor()?;
    let t = state
        .store
        .task(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no task {id}")))?;
    Ok(Json(json!({
        "id": t.id,
        "document": t.document_id,
        "original_name": t.original_name,
        "field": t.field,
        "page": t.page,
        "box": t.bbox,
        "state": t.state,
        "kind": t.kind,
        "pass": t.pass,
        "keyer": t.keyer,
    }))
    .into_response())
}

/// `?context=1` asks for more of the page around the field.
#[derive(Debug, Deserialize)]
pub struct SnippetQuery {
    #[serde(default)]
    pub context: Option<String>,
}

/// `GET /api/v1/tasks/{id}/snippet`: the field cut from the deskewed
/// page — only for the task's current lease holder (or a supervisor).
pub async fn snippet(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<SnippetQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    let t = state
        .store
        .task(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no task {id}")))?;
    let holds = t.state == "leased"
        && t.keyer.as_deref() == Some(s.row.user.name.as_str())
        && t.lease_left_s.unwrap_or(0.0) > 0.0;
    if !holds && !s.role().supervises() {
        return Err(ApiError::Forbidden(
            "this snippet belongs to a task you do not hold".into(),
        ));
    }
    let reach = match q.context.as_deref() {
        Some("1") | Some("true") => Reach::Context,
        _ => Reach::Field,
    };
    let path = t
        .derived_path
        .clone()
        .ok_or_else(|| ApiError::NotFound("the page image of this field is missing".into()))?;
    let file = state.settings.objects_dir.join(path);
    let bbox = t.bbox.map(|[x0, y0, x1, y1]| BBox { x0, y0, x1, y1 });
    let page = state.pages.get(&file).await.map_err(ApiError::Internal)?;
    let png = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let region = snippet::region(bbox, page.width(), page.height(), reach);
        snippet::cut(&page, region).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)?;
    Ok(png_response(png))
}

fn png_response(png: Vec<u8>) -> Response {
    let mut r = png.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    // Clients' data: never kept by a browser or a proxy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /api/v1/documents/{doc}/pages/{seq}/image` (supervisor, operator): a whole
/// deskewed page, for audits. Keyers get 403.
pub async fn page_image(
    State(state): State<AppState>,
    Path((doc, seq)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    // Supervisors audit; operators inspect pages in the console.
    s.require_operator()?;
    let rel = state
        .store
        .derived_path(&doc, seq)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no page {seq} of {doc}")))?;
    let file = state.settings.objects_dir.join(rel);
    let page = state.pages.get(&file).await.map_err(ApiError::NotFound)?;
    // Stored as Group 4 or JPEG; browsers are sent PNG.
    let png = tokio::task::spawn_blocking(move || {
        folio_stages::encode::encode(&page, folio_stages::encode::DerivedFormat::Png, 0, 0)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)?;
    Ok(png_response(png))
}

/// `?since=YYYY-MM-DD`
#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    pub since: Option<String>,
}

/// `GET /api/v1/stats/keyers` (supervisor): per-person figures.
pub async fn stats(
    State(state): State<AppState>,
    Query(q): Query<StatsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::from_headers(&state, &headers).await?;
    s.require_supervisor()?;
    let figures = state.store.keyer_figures(q.since.as_deref()).await?;
    Ok(Json(json!({"since": q.since, "keyers": figures})).into_response())
}
