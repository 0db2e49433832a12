//! The HTML pages: login, the keyer's station (a shell the station script
//! fills from the API) and the supervisor's figures, rendered on the
//! server. Assets are compiled in: no front-end build step, nothing to
//! deploy beside the binary.

use super::auth::{Session, home};
use super::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

const LOGIN_HTML: &str = include_str!("assets/login.html");
const STATION_HTML: &str = include_str!("assets/station.html");
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "station.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/station.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/login.js"),
    ),
    (
        "review.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/review.js"),
    ),
    (
        "station.css",
        "text/css; charset=utf-8",
        include_str!("assets/station.css"),
    ),
];

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `/`: the user's start page, or the login.
pub async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match Session::from_headers(&state, &headers).await {
        Ok(s) => Redirect::to(home(s.role())).into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

/// `/login`.
pub async fn login() -> Response {
    no_store(Html(LOGIN_HTML).into_response())
}

/// `/station`: the keying screen for any logged-in user.
pub async fn station(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match Session::from_headers(&state, &headers).await {
        Ok(s) => s,
        Err(ApiError::Unauthorized) => return Redirect::to("/login").into_response(),
        Err(e) => return e.into_response(),
    };
    let page = STATION_HTML
        .replace("{{csrf}}", &escape(&s.row.csrf))
        .replace("{{user}}", &escape(&s.row.user.name))
        .replace("{{role}}", s.role().as_str());
    no_store(Html(page).into_response())
}

/// `/supervisor`: per-person figures and open work (supervisors only).
pub async fn supervisor(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match Session::from_headers(&state, &headers).await {
        Ok(s) => s,
        Err(ApiError::Unauthorized) => return Redirect::to("/login").into_response(),
        Err(e) => return e.into_response(),
    };
    if let Err(e) = s.require_supervisor() {
        return e.into_response();
    }
    let (figures, counts) = match (
        state.store.keyer_figures(None).await,
        state.store.task_counts().await,
    ) {
        (Ok(f), Ok(c)) => (f, c),
        (Err(e), _) | (_, Err(e)) => return ApiError::from(e).into_response(),
    };
    let mut rows = String::new();
    for f in &figures {
        rows.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.0}</td>\
             <td>{:.0}</td><td>{:.2}%</td><td>{}</td><td>{:.0}</td></tr>\n",
            escape(&f.user),
            escape(&f.pseudonym),
            escape(&f.role),
            f.fields,
            f.active_hours * 60.0,
            f.fields_per_hour,
            f.keystrokes_per_hour,
            f.error_rate * 100.0,
            f.decisions,
            f.decisions_per_hour,
        ));
    }
    let mut open = String::new();
    for (kind, st, n) in &counts {
        open.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{n}</td></tr>\n",
            escape(kind),
            escape(st)
        ));
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Folio · supervisor</title>\
         <link rel=\"stylesheet\" href=\"/assets/station.css\"></head><body class=\"supervisor\">\
         <header><span class=\"brand\">Folio · keyers</span> <span class=\"who\">{user}</span></header><main>\
         <h1>Keyers</h1><p>Time counts time in the input, pauses over 30 s left out; errors are keyings that \
         differ from the final value.</p>\
         <table id=\"keyers\"><thead><tr><th>User</th><th>Id in packages</th><th>Role</th><th>Fields</th>\
         <th>Active min</th><th>Fields/h</th><th>Keystrokes/h</th><th>Error rate</th><th>Decisions</th>\
         <th>Decisions/h</th></tr></thead><tbody>\n{rows}</tbody></table>\
         <h2>Keying tasks</h2><table id=\"tasks\"><thead><tr><th>Kind</th><th>State</th><th>Tasks</th></tr></thead>\
         <tbody>\n{open}</tbody></table></main></body></html>",
        user = escape(&s.row.user.name),
    );
    no_store(Html(page).into_response())
}

/// `/assets/{name}`: the compiled-in scripts and style.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, ..)| *n == name) {
        Some((_, ty, body)) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(ty))],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}
