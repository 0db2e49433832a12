//! Who is asking: argon2 password hashes, login with lockout, the session
//! cookie (HttpOnly, SameSite=Strict, Secure behind TLS) and the CSRF
//! token every POST must carry. Sessions live in the store, so a server
//! restart or a second server keeps them; only a SHA-256 of the cookie is
//! stored. Roles are checked by the handlers with `Session::require`.

use super::{ApiError, AppState};
use crate::error::FolioError;
use crate::store::{Role, SessionRow};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "folio_session";

/// `n` random bytes from the OS, as hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id hash of `password` with a fresh salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, FolioError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| FolioError::Internal(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| FolioError::Internal(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| FolioError::Internal(format!("hashing the password: {e}")))
}

/// True when `password` matches the stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// A request's logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub row: SessionRow,
    token_hash: String,
}

impl Session {
    /// The session behind the request's cookie; 401 without a live one.
    pub async fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Session, ApiError> {
        let token = cookie_token(headers).ok_or(ApiError::Unauthorized)?;
        let hash = token_hash(&token);
        let idle_s = state.settings.web.session_idle_minutes * 60.0;
        let row = state
            .store
            .session(&hash, idle_s)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Session {
            row,
            token_hash: hash,
        })
    }

    /// Like `from_headers`, and the request carries the session's CSRF
    /// token in `X-CSRF-Token` (403 otherwise): for every POST.
    pub async fn for_post(state: &AppState, headers: &HeaderMap) -> Result<Session, ApiError> {
        let s = Self::from_headers(state, headers).await?;
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), s.row.csrf.as_bytes()) {
            return Err(ApiError::Forbidden(
                "missing or wrong X-CSRF-Token header".into(),
            ));
        }
        Ok(s)
    }

    /// 403 unless the user's role supervises.
    pub fn require_supervisor(&self) -> Result<(), ApiError> {
        if self.row.user.role.supervises() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs the supervisor or admin role".into(),
            ))
        }
    }

    /// The user's role.
    pub fn role(&self) -> Role {
        self.row.user.role
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /api/v1/login` body.
#[derive(Debug, Deserialize)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// Where a role starts after login.
pub fn home(role: Role) -> &'static str {
    if role.supervises() {
        "/supervisor"
    } else if role == Role::Operator {
        "/console"
    } else {
        "/station"
    }
}

/// `POST /api/v1/login`: 200 with the CSRF token and the session cookie,
/// or 401. An account is locked after `[web] lockout_after` failures in a
/// row; while locked even the right password is refused.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Result<Response, ApiError> {
    let wrong = || ApiError::Login("wrong user name or password".into());
    let Some(user) = state.store.user(&body.user).await? else {
        // Same work as a real check, so a name cannot be probed by timing.
        let _ = tokio::task::spawn_blocking(|| verify_password("x", DUMMY_HASH)).await;
        return Err(wrong());
    };
    if user.locked_for_s > 0.0 {
        return Err(ApiError::Login(format!(
            "account locked after repeated failed logins; try again in {} min or ask a supervisor",
            (user.locked_for_s / 60.0).ceil()
        )));
    }
    let hash = user.password_hash.clone();
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        let web = &state.settings.web;
        let locked = state
            .store
            .login_failed(&user.name, web.lockout_after, web.lockout_minutes * 60.0)
            .await?;
        return Err(if locked {
            ApiError::Login(format!(
                "account locked for {} min after {} failed logins",
                web.lockout_minutes, web.lockout_after
            ))
        } else {
            wrong()
        });
    }
    let token = random_hex(32);
    let csrf = random_hex(16);
    state
        .store
        .login_succeeded(&user.name, &token_hash(&token), &csrf)
        .await?;
    let secure = state.settings.web.secure_cookies.unwrap_or_else(|| {
        headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    });
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    let mut resp = Json(serde_json::json!({
        "csrf": csrf,
        "role": user.role,
        "user": user.name,
        "home": home(user.role),
    }))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

/// `POST /api/v1/logout`: ends the session.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let s = Session::for_post(&state, &headers).await?;
    state.store.end_session(&s.token_hash, "logout").await?;
    let mut resp = Json(serde_json::json!({"ok": true})).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("folio_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}

/// A valid argon2 hash of nothing anyone types, for unknown user names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Fv3c2cUaKQ8VnF3oTbyFxrMBvPFK0gQ4xR2r6bGZ2E";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; folio_session=abc; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("abc"));
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }
}
