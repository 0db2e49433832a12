//! `folio serve`: the keying station's web server (axum on tokio). It
//! holds no work of its own — tasks, sessions and events live in the
//! store, so several servers may share one PostgreSQL and any of them
//! may die. Pages are server-rendered HTML with a little JavaScript; the
//! station page drives the same JSON API (`/api/v1/…`) scripts use.
//! When a keying makes a document's last field final, this process
//! packages the document with the workers' code (`work::finish_claimed`).

pub mod auth;
pub mod console;
pub mod keying;
mod page_cache;
mod pages;
pub mod review;

use crate::error::FolioError;
use crate::settings::Settings;
use crate::store::{Actor, DocClaim, Store};
use crate::work;
use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// This server as the actor of the packaging it does.
    pub actor: Actor,
    /// Where packaging runs (copying and hashing are blocking work).
    pub pool: Arc<rayon::ThreadPool>,
    /// Decoded pages snippets are cut from.
    pub pages: Arc<page_cache::PageCache>,
}

impl AppState {
    /// Packages a document whose finishing lease this server holds, in
    /// the background: the keyer's request does not wait for it.
    pub fn package(&self, claim: DocClaim) {
        let state = self.clone();
        tokio::spawn(async move {
            let id = claim.document_id.clone();
            match work::finish_claimed(
                &state.store,
                state.settings.clone(),
                state.pool.clone(),
                &state.actor,
                claim,
            )
            .await
            {
                Ok(true) => tracing::info!("{id}: keyed and packaged"),
                Ok(false) => tracing::warn!("{id}: another process finished it first"),
                // The lease runs out and a worker or this server's
                // sweep takes the document again.
                Err(e) => tracing::error!("{id}: packaging after keying failed: {e}"),
            }
        });
    }
}

/// An API error: status and a JSON `{"error": …}` a person can act on.
#[derive(Debug)]
pub enum ApiError {
    /// No live session (401).
    Unauthorized,
    /// A failed login (401) with its reason.
    Login(String),
    /// The role may not do this, or the CSRF token is missing (403).
    Forbidden(String),
    NotFound(String),
    /// The task's lease is not (or no longer) the caller's (409).
    Conflict(String),
    /// The value fails the field's mask (422).
    Invalid(String),
    /// An arbiter's value fails the field's check: 422 with
    /// `"confirm": true`, resend with `"confirm": true` to keep it.
    Unconfirmed(String),
    Internal(String),
}

impl From<FolioError> for ApiError {
    fn from(e: FolioError) -> Self {
        tracing::error!("{e}");
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "not logged in, or the session ended".to_string(),
            ),
            ApiError::Login(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::Unconfirmed(m) => {
                let body = serde_json::json!({ "error": m, "confirm": true });
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            }
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, Json(serde_json::json!({ "error": msg }))).into_response()
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", get(pages::root))
        .route("/login", get(pages::login))
        .route("/station", get(pages::station))
        .route("/supervisor", get(pages::supervisor))
        .route("/assets/{name}", get(pages::asset))
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/tasks/next", post(keying::next))
        .route("/api/v1/tasks/{id}", get(keying::task))
        .route("/api/v1/tasks/{id}/submit", post(keying::submit))
        .route("/api/v1/tasks/{id}/release", post(keying::release))
        .route("/api/v1/tasks/{id}/snippet", get(keying::snippet))
        .route(
            "/api/v1/documents/{doc}/pages/{seq}/image",
            get(keying::page_image),
        )
        .route("/api/v1/stats/keyers", get(keying::stats))
        .route("/console", get(console::batches))
        .route(
            "/console/batches/{batch}/acceptance",
            get(console::acceptance_page),
        )
        .route("/console/batches/{batch}/review", get(review::review_page))
        .route(
            "/console/batches/{batch}/rescans",
            get(review::rescans_page),
        )
        .route("/api/v1/pages/{page_id}/thumbnail", get(review::thumbnail))
        .route("/api/v1/review/{batch}", get(review::pages))
        .route(
            "/api/v1/review/{batch}/rescans.csv",
            get(review::rescans_csv),
        )
        .route("/api/v1/review/pages/{page_id}", post(review::decide))
        .route("/reports/monthly", get(console::monthly_page))
        .route("/api/v1/acceptance/{batch}", get(console::record))
        .route("/api/v1/acceptance/{batch}/inspect", post(console::inspect))
        .with_state(state)
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.store.task_counts().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response(),
    }
}

/// Runs the server on `listen` until `stop` turns true. Prints
/// `folio serve: listening on http://ADDR` first (port 0 picks one).
/// Alongside: the server's finishing leases are renewed, and documents
/// whose packaging was cut short (a server that died) are taken again.
pub async fn serve(
    store: Store,
    settings: Arc<Settings>,
    listen: &str,
    mut stop: watch::Receiver<bool>,
) -> Result<(), FolioError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| FolioError::Usage(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| FolioError::Internal(e.to_string()))?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "folio serve: listening on http://{addr}");
        let _ = out.flush();
    }
    tracing::info!("listening on http://{addr}");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "folio-package".into())
        .build()
        .map_err(|e| FolioError::Internal(e.to_string()))?;
    let state = AppState {
        store: store.clone(),
        settings: settings.clone(),
        actor: Actor::worker(),
        pool: Arc::new(pool),
        pages: Arc::new(page_cache::PageCache::new(settings.web.snippet_cache_pages)),
    };
    let lease = settings.work.lease_seconds;
    let keeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs_f64((lease / 3.0).max(0.2));
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = state.store.renew(&state.actor, lease).await {
                    tracing::warn!("renewing leases: {e}");
                }
                match state.store.claim_document(&state.actor, lease, None).await {
                    Ok(Some(claim)) => state.package(claim),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("looking for unfinished documents: {e}"),
                }
            }
        })
    };
    let app = router(state.clone());
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await
        .map_err(|e| FolioError::Internal(format!("server: {e}")));
    keeper.abort();
    // Documents this server was packaging go back to whoever takes them.
    let _ = store
        .release(&state.actor, "keying server stopped; lease given back")
        .await;
    result
}
