//! Keying in the store: users and sessions of the keying station, and the
//! keying tasks — two blind passes per field, an arbitration when they
//! differ — claimed by lease like pages. Every login, lease, keying and
//! decision is an event with its actor, written in the transaction that
//! makes the change. What two keyings decide is the stages' `keying`
//! logic, handed in by the caller; the store only records it.

use super::{DocClaim, Store, Tx};
use crate::error::FolioError;
use crate::store::Actor;
use folio_stages::keying::{Decision, Entry};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// What a station user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Keys field snippets blind; sees nothing else.
    Keyer,
    /// Settles two differing keyings (never their own), keys otherwise.
    Arbiter,
    /// Sees figures, audits tasks and pages; may arbitrate.
    Supervisor,
    /// Everything a supervisor may, and user management.
    Admin,
    /// Runs the scanners and the console: batches, flags, acceptance
    /// inspection. Keys nothing and arbitrates nothing.
    Operator,
}

impl Role {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Keyer => "keyer",
            Role::Arbiter => "arbiter",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    /// True for roles that may see whole pages, audits and figures.
    pub fn supervises(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }

    /// True for roles that are handed arbitration tasks.
    pub fn arbitrates(self) -> bool {
        matches!(self, Role::Arbiter | Role::Supervisor | Role::Admin)
    }

    /// True for roles that work the console (batches, flags, acceptance).
    pub fn operates(self) -> bool {
        matches!(self, Role::Operator | Role::Supervisor | Role::Admin)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keyer" => Ok(Role::Keyer),
            "arbiter" => Ok(Role::Arbiter),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            other => Err(format!(
                "unknown role {other:?} (keyer, arbiter, supervisor, admin or operator)"
            )),
        }
    }
}

/// A station user as stored.
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub name: String,
    pub role: Role,
    /// The id that goes into packages and reports instead of the name.
    pub pseudonym: String,
    #[serde(skip)]
    pub password_hash: String,
    pub failed_logins: i64,
    /// Seconds the account stays locked (0 when not locked).
    pub locked_for_s: f64,
}

impl UserRow {
    /// The actor this user's changes are recorded under.
    pub fn actor(&self) -> Actor {
        Actor(format!("user:{}", self.name))
    }
}

/// A live session with its user.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user: UserRow,
    pub csrf: String,
}

/// A task as the station and audits see it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub id: i64,
    pub document_id: String,
    pub field: String,
    /// `key` or `arbitrate`.
    pub kind: String,
    pub pass: i64,
    /// `queued`, `leased` or `done`.
    pub state: String,
    /// Who holds or did it (user name).
    pub keyer: Option<String>,
    /// Seconds left on the lease (negative when run out).
    pub lease_left_s: Option<f64>,
    /// Page of the document (1-based) and box of the value.
    pub page: i64,
    pub bbox: Option<[u32; 4]>,
    pub class: String,
    pub original_name: Option<String>,
    /// The deskewed page image, relative to the object store.
    pub derived_path: Option<String>,
    /// For arbitration: the two keyings, in pass order.
    pub entries: Vec<Entry>,
    /// The task's current lease: a give-back or submit naming it cannot
    /// touch a later lease of the same task, even the same user's. Never
    /// serialised: only the holder is told it (by the keying API).
    #[serde(skip)]
    pub lease: Option<String>,
}

/// What a submission did.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// The first keying of the field (or one whose twin is still open).
    Recorded,
    /// The field is final; when it was the document's last open field,
    /// the document's finishing lease for the caller to package it.
    Final(Option<DocClaim>),
    /// The keyings differ: an arbiter will settle it.
    Arbitration(String),
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No such task.
    NotFound,
    /// The lease is not (or no longer) the user's; the message says why.
    NotYours(String),
}

/// One submission: the entry (already normalised) and the keyer's effort.
#[derive(Debug, Clone)]
pub struct Submission {
    pub entry: Entry,
    pub keystrokes: Option<i64>,
    pub active_ms: Option<i64>,
    /// The lease the station holds (from `next_task`); when given, a
    /// submission on any other lease of the task is refused.
    pub lease: Option<String>,
}

/// Per-person figures over a period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyerFigures {
    pub user: String,
    pub pseudonym: String,
    pub role: String,
    /// Keying passes done.
    pub fields: i64,
    pub keystrokes: i64,
    /// Time in the input, pauses over 30 s excluded.
    pub active_hours: f64,
    pub fields_per_hour: f64,
    pub keystrokes_per_hour: f64,
    /// Keyings of fields now final that differ from the final value.
    pub errors: i64,
    /// Keyings whose field is final (the error rate's denominator).
    pub checked: i64,
    pub error_rate: f64,
    /// Arbitrations decided.
    pub decisions: i64,
    pub decisions_per_hour: f64,
}

/// Decides a field of a class from its two keyings: the caller's
/// settings hold the field's normalisation and check.
pub type Decide<'a> = &'a (dyn Fn(&str, &str, &Entry, &Entry) -> Decision + Send + Sync);

const TASK_VIEW: &str = "SELECT t.id, t.document_id, t.field, t.kind, t.pass, t.state, t.keyer, \
     {until:t.lease_expires}, COALESCE(f.page, 1), CAST(f.bbox AS TEXT), d.class, fi.original_name, p.derived_path, \
     t.lease_token FROM tasks t JOIN fields f ON f.document_id = t.document_id AND f.name = t.field \
     JOIN documents d ON d.id = t.document_id \
     LEFT JOIN pages p ON p.document_id = t.document_id AND p.seq = COALESCE(f.page, 1) \
     LEFT JOIN files fi ON fi.sha256 = p.file_sha256";

impl Store {
    // ---- users and sessions ----------------------------------------

    /// Adds a station user; refuses a name already taken.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        actor: &Actor,
    ) -> Result<UserRow, FolioError> {
        if self.user(name).await?.is_some() {
            return Err(FolioError::Usage(format!("user {name:?} already exists")));
        }
        let mut tx = self.begin().await?;
        let pseudonym = loop {
            let candidate = format!("K{}", &crate::web::auth::random_hex(4)[..6]);
            let taken = sqlx::query("SELECT 1 FROM users WHERE pseudonym = $1")
                .bind(&candidate)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            if taken.is_none() {
                break candidate;
            }
        };
        sqlx::query(
            "INSERT INTO users (name, role, password_hash, pseudonym) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(&pseudonym)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        self.event(
            &mut tx,
            actor,
            ("user", name),
            (None, "active"),
            &format!("added as {} ({pseudonym})", role.as_str()),
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        self.user(name)
            .await?
            .ok_or_else(|| self.err("the new user vanished"))
    }

    /// A user by name.
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>, FolioError> {
        Ok(self
            .fetch_map(
                sqlx::query(self.sql(
                    "SELECT name, role, pseudonym, password_hash, failed_logins, \
                     COALESCE({until:locked_until}, 0.0) FROM users WHERE name = $1",
                ))
                .bind(name),
                |r| user_row(r, 0),
            )
            .await?
            .pop())
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRow>, FolioError> {
        self.fetch_map(
            sqlx::query(self.sql(
                "SELECT name, role, pseudonym, password_hash, failed_logins, \
                 COALESCE({until:locked_until}, 0.0) FROM users ORDER BY name",
            )),
            |r| user_row(r, 0),
        )
        .await
    }

    /// Counts a failed login; locks the account for `lock_s` seconds once
    /// `lock_after` failures in a row are reached. True when now locked.
    pub async fn login_failed(
        &self,
        name: &str,
        lock_after: i64,
        lock_s: f64,
    ) -> Result<bool, FolioError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE name = $1 RETURNING failed_logins",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(false);
        };
        let failed: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        let actor = Actor(format!("user:{name}"));
        let locked = failed >= lock_after;
        if locked {
            sqlx::query(self.sql(
                "UPDATE users SET locked_until = {later:$1}, failed_logins = 0 WHERE name = $2",
            ))
            .bind(lock_s)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let why = format!("{failed} failed logins in a row; locked for {lock_s:.0} s");
            self.event(&mut tx, &actor, ("user", name), (None, "locked"), &why)
                .await?;
        } else {
            self.event(
                &mut tx,
                &actor,
                ("user", name),
                (None, "login_failed"),
                "wrong password",
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(locked)
    }

    /// Records a successful login: failures reset, a session created.
    pub async fn login_succeeded(
        &self,
        name: &str,
        token_hash: &str,
        csrf: &str,
    ) -> Result<(), FolioError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        sqlx::query("INSERT INTO sessions (token_hash, user_name, csrf) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(name)
            .bind(csrf)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let actor = Actor(format!("user:{name}"));
        self.event(&mut tx, &actor, ("user", name), (None, "logged_in"), "")
            .await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// The session behind a token, if it has not been idle longer than
    /// `idle_s`; an idle one is ended. Its last use is refreshed at most
    /// every 15 s (sooner for short idle limits), so a busy keyer's requests
    /// do not each write.
    pub async fn session(
        &self,
        token_hash: &str,
        idle_s: f64,
    ) -> Result<Option<SessionRow>, FolioError> {
        let row = sqlx::query(self.sql(
            "SELECT u.name, u.role, u.pseudonym, u.password_hash, u.failed_logins, \
             COALESCE({until:u.locked_until}, 0.0), s.csrf, -{until:s.last_seen} \
             FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.token_hash = $1",
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else { return Ok(None) };
        let user = user_row(&row, 0).map_err(|e| self.err(e))?;
        let csrf: String = row.try_get(6).map_err(|e| self.err(e))?;
        let idle: f64 = row.try_get(7).map_err(|e| self.err(e))?;
        if idle > idle_s {
            self.end_session(token_hash, "idle timeout").await?;
            return Ok(None);
        }
        if idle > (idle_s / 4.0).min(15.0) {
            sqlx::query(self.sql("UPDATE sessions SET last_seen = {now} WHERE token_hash = $1"))
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(Some(SessionRow { user, csrf }))
    }

    /// Ends a session (logout or idle timeout).
    pub async fn end_session(&self, token_hash: &str, reason: &str) -> Result<(), FolioError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_name")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        if let Some(row) = row {
            let name: String = row.try_get(0).map_err(|e| self.err(e))?;
            let actor = Actor(format!("user:{name}"));
            self.event(
                &mut tx,
                &actor,
                ("user", &name),
                (None, "logged_out"),
                reason,
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    // ---- tasks --------------------------------------------------------

    /// Hands `user` one task with a lease of `lease_s` seconds: for
    /// arbitrating roles an arbitration first, then a keying. Fields of
    /// the name the user keyed last come first (keyers work in runs), and
    /// never a field the user already holds or did a pass of.
    pub async fn next_task(
        &self,
        user: &UserRow,
        lease_s: f64,
    ) -> Result<Option<TaskView>, FolioError> {
        for attempt in 0..4 {
            match self.try_next_task(user, lease_s).await {
                Ok(found) => return Ok(found),
                // Two requests of one user raced for both passes of a
                // field; the backstop constraint refused one: pick again.
                Err(e)
                    if attempt < 3 && e.to_string().contains("tasks_document_id_field_keyer") =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    async fn try_next_task(
        &self,
        user: &UserRow,
        lease_s: f64,
    ) -> Result<Option<TaskView>, FolioError> {
        let mut tx = self.begin().await?;
        let last: Option<String> = sqlx::query(
            "SELECT field FROM tasks WHERE keyer = $1 AND leased_at IS NOT NULL \
             ORDER BY leased_at DESC LIMIT 1",
        )
        .bind(&user.name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(|e| self.err(e))?;
        let kinds: &[&str] = if user.role == Role::Operator {
            // Operators run the console; they key nothing.
            &[]
        } else if user.role.arbitrates() {
            &["arbitrate", "key"]
        } else {
            &["key"]
        };
        let indexed = if self.backend == super::Backend::Sqlite {
            "INDEXED BY tasks_open"
        } else {
            ""
        };
        let pick = self.dialect.render(&format!(
            "SELECT t.id, t.keyer, t.state FROM tasks t {indexed} \
             WHERE t.kind = $1 AND t.state IN ('queued', 'leased') \
             AND (t.state = 'queued' OR t.lease_expires < {{now}}) AND ($2 = '' OR t.field = $2) \
             AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.document_id = t.document_id \
                 AND o.field = t.field AND o.keyer = $3 AND o.id <> t.id) \
             ORDER BY t.field, t.id LIMIT 1 {{lock:t}}"
        ));
        let mut found = None;
        'kinds: for kind in kinds {
            for field in [last.as_deref().unwrap_or(""), ""] {
                let row = sqlx::query(sqlx::AssertSqlSafe(pick.clone()))
                    .bind(*kind)
                    .bind(field)
                    .bind(&user.name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                if let Some(row) = row {
                    found = Some(row);
                    break 'kinds;
                }
                if field.is_empty() {
                    break;
                }
            }
        }
        let Some(row) = found else {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(None);
        };
        let id: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        let before: Option<String> = row.try_get(1).map_err(|e| self.err(e))?;
        let state: String = row.try_get(2).map_err(|e| self.err(e))?;
        let token = uuid::Uuid::now_v7().simple().to_string();
        sqlx::query(self.sql(
            "UPDATE tasks SET state = 'leased', keyer = $1, lease_token = $2, \
             lease_expires = {later:$3}, leased_at = {now} WHERE id = $4",
        ))
        .bind(&user.name)
        .bind(&token)
        .bind(lease_s)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let reason = match (state.as_str(), before) {
            ("leased", Some(b)) if b != user.name => {
                format!("lease of user:{b} ran out; taken over")
            }
            ("leased", _) => "lease ran out; taken again".to_string(),
            _ => format!("lease {lease_s:.0} s"),
        };
        self.event(
            &mut tx,
            &user.actor(),
            ("task", &id.to_string()),
            (Some(&state), "leased"),
            &reason,
        )
        .await?;
        let view = self.task_in(&mut tx, id).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(view)
    }

    /// A task with its field's page, box and (for arbitration) entries.
    pub async fn task(&self, id: i64) -> Result<Option<TaskView>, FolioError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let view = self.task_in(&mut tx, id).await?;
        tx.rollback().await.map_err(|e| self.err(e))?;
        Ok(view)
    }

    async fn task_in(&self, tx: &mut Tx, id: i64) -> Result<Option<TaskView>, FolioError> {
        let row = sqlx::query(self.sql(&format!("{TASK_VIEW} WHERE t.id = $1")))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        let Some(r) = row else { return Ok(None) };
        let mut view = task_view(&r).map_err(|e| self.err(e))?;
        if view.kind == "arbitrate" {
            view.entries = self
                .entries_in(tx, &view.document_id, &view.field)
                .await?
                .into_iter()
                .map(|(_, e)| e)
                .collect();
        }
        Ok(Some(view))
    }

    /// The two keyings of a field: `(keyer, entry)` in pass order.
    async fn entries_in(
        &self,
        tx: &mut Tx,
        document_id: &str,
        field: &str,
    ) -> Result<Vec<(String, Entry)>, FolioError> {
        let rows = sqlx::query(
            "SELECT keyer, outcome, value FROM tasks WHERE document_id = $1 AND field = $2 \
             AND kind = 'key' AND state = 'done' ORDER BY pass",
        )
        .bind(document_id)
        .bind(field)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in &rows {
            let keyer: String = r.try_get(0).map_err(|e| self.err(e))?;
            let outcome: String = r.try_get(1).map_err(|e| self.err(e))?;
            let value: Option<String> = r.try_get(2).map_err(|e| self.err(e))?;
            if let Some(e) = Entry::from_stored(&outcome, value) {
                out.push((keyer, e));
            }
        }
        Ok(out)
    }

    /// Records a keying or arbitration if `user` still holds the task's
    /// lease. When both blind passes are in, `decide` settles the field or
    /// an arbitration task is queued; when the field's document has no
    /// open field left, its finishing lease goes to `finisher`.
    pub async fn submit_task(
        &self,
        id: i64,
        user: &UserRow,
        submission: &Submission,
        decide: Decide<'_>,
        finisher: &Actor,
        finish_lease_s: f64,
    ) -> Result<Result<Submitted, Refused>, FolioError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(self.sql(
            "SELECT t.document_id, t.field, t.kind, t.pass, t.state, t.keyer, {until:t.lease_expires}, \
             -{until:t.leased_at}, d.class, t.lease_token FROM tasks t JOIN documents d ON d.id = t.document_id \
             WHERE t.id = $1 {for_update}",
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(Err(Refused::NotFound));
        };
        let get_s =
            |i: usize| -> Result<String, FolioError> { row.try_get(i).map_err(|e| self.err(e)) };
        let (doc, field, kind, state) = (get_s(0)?, get_s(1)?, get_s(2)?, get_s(4)?);
        let keyer: Option<String> = row.try_get(5).map_err(|e| self.err(e))?;
        let left: Option<f64> = row.try_get(6).map_err(|e| self.err(e))?;
        let held_s: Option<f64> = row.try_get(7).map_err(|e| self.err(e))?;
        let class = get_s(8)?;
        let token: Option<String> = row.try_get(9).map_err(|e| self.err(e))?;
        let stale = submission
            .lease
            .as_deref()
            .is_some_and(|held| token.as_deref() != Some(held));
        let refuse = match (state.as_str(), keyer.as_deref()) {
            ("done", Some(k)) if k == user.name => {
                Some("you already submitted this task".to_string())
            }
            ("done", _) => Some("this task was already done by someone else".to_string()),
            ("leased", Some(k)) if k != user.name => {
                Some("this task's lease ran out and it was handed to someone else".to_string())
            }
            ("leased", Some(_)) if stale => Some(
                "the lease you hold on this task was given back or ran out; the task was leased again"
                    .to_string(),
            ),
            ("leased", Some(_)) if left.unwrap_or(0.0) <= 0.0 => Some(format!(
                "your lease on this task ran out {:.0} s ago; it went back to the queue",
                -left.unwrap_or(0.0)
            )),
            ("leased", Some(_)) => None,
            _ => Some("this task is not leased to you".to_string()),
        };
        if let Some(why) = refuse {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(Err(Refused::NotYours(why)));
        }
        // Time in the input: what the station measured (pauses over 30 s
        // left out), never more than the lease was held; without a
        // measurement, the time held up to 30 s.
        let held_ms = (held_s.unwrap_or(0.0).max(0.0) * 1000.0) as i64;
        let active_ms = match submission.active_ms {
            Some(a) => a.clamp(0, held_ms.max(0)),
            None => held_ms.min(30_000),
        };
        let entry = &submission.entry;
        let keystrokes = submission
            .keystrokes
            .unwrap_or_else(|| entry.value().map_or(1, |v| v.chars().count() as i64 + 1))
            .max(0);
        sqlx::query(self.sql(
            "UPDATE tasks SET state = 'done', outcome = $1, value = $2, keystrokes = $3, active_ms = $4, \
             done_at = {now}, lease_token = NULL, lease_expires = NULL WHERE id = $5",
        ))
        .bind(entry.outcome())
        .bind(entry.value())
        .bind(keystrokes)
        .bind(active_ms)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let actor = user.actor();
        let what = if kind == "arbitrate" {
            "decided"
        } else {
            "keyed"
        };
        self.event(
            &mut tx,
            &actor,
            ("task", &id.to_string()),
            (Some("leased"), "done"),
            &format!("{what}: {}", entry.outcome()),
        )
        .await?;

        let field_id = format!("{doc}/{field}");
        let outcome = if kind == "arbitrate" {
            let entries = self.entries_in(&mut tx, &doc, &field).await?;
            let keyers = self
                .pseudonyms_in(&mut tx, entries.iter().map(|(k, _)| k.as_str()))
                .await?;
            let provenance = serde_json::json!({"keyers": keyers, "arbiter": user.pseudonym});
            self.finalise_field(
                &mut tx,
                &actor,
                (&doc, &field),
                "arbitration",
                entry,
                "arbitrated",
                &provenance,
            )
            .await?;
            None
        } else {
            let entries = self.entries_in(&mut tx, &doc, &field).await?;
            if entries.len() < 2 {
                Some(Submitted::Recorded)
            } else {
                match decide(&class, &field, &entries[0].1, &entries[1].1) {
                    Decision::Agreed(agreed) => {
                        let keyers = self
                            .pseudonyms_in(&mut tx, entries.iter().map(|(k, _)| k.as_str()))
                            .await?;
                        let provenance = serde_json::json!({"keyers": keyers});
                        self.finalise_field(
                            &mut tx,
                            &actor,
                            (&doc, &field),
                            "awaiting_keying",
                            &agreed,
                            "double_keyed",
                            &provenance,
                        )
                        .await?;
                        None
                    }
                    Decision::Conflict(why) => {
                        sqlx::query(
                            "INSERT INTO tasks (document_id, field, kind, pass, state) \
                             VALUES ($1, $2, 'arbitrate', 3, 'queued')",
                        )
                        .bind(&doc)
                        .bind(&field)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                        sqlx::query(
                            "UPDATE fields SET status = 'arbitration' WHERE document_id = $1 AND name = $2",
                        )
                        .bind(&doc)
                        .bind(&field)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                        self.event(
                            &mut tx,
                            &actor,
                            ("field", &field_id),
                            (Some("awaiting_keying"), "arbitration"),
                            &why,
                        )
                        .await?;
                        Some(Submitted::Arbitration(why))
                    }
                }
            }
        };
        if let Some(o) = outcome {
            tx.commit().await.map_err(|e| self.err(e))?;
            return Ok(Ok(o));
        }
        // The field is final: is the document?
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) FROM fields WHERE document_id = $1 AND status IN ('awaiting_keying', 'arbitration')",
        )
        .bind(&doc)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .try_get(0)
        .map_err(|e| self.err(e))?;
        let mut claim = None;
        if open == 0 {
            let token = uuid::Uuid::now_v7().simple().to_string();
            let moved = sqlx::query(self.sql(
                "UPDATE documents SET state = 'finishing', lease_owner = $1, lease_token = $2, \
                 lease_expires = {later:$3} WHERE id = $4 AND state = 'awaiting_keying'",
            ))
            .bind(finisher.as_str())
            .bind(&token)
            .bind(finish_lease_s)
            .bind(&doc)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
            if moved == 1 {
                self.event(
                    &mut tx,
                    &actor,
                    ("document", &doc),
                    (Some("awaiting_keying"), "finishing"),
                    "every field is final; packaging",
                )
                .await?;
                claim = Some(DocClaim {
                    document_id: doc.clone(),
                    token,
                });
            }
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Ok(Submitted::Final(claim)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn finalise_field(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        (doc, field): (&str, &str),
        from: &str,
        entry: &Entry,
        source: &str,
        provenance: &serde_json::Value,
    ) -> Result<(), FolioError> {
        sqlx::query(
            "UPDATE fields SET status = 'keyed', final_value = $1, outcome = $2, source = $3, keyers = $4 \
             WHERE document_id = $5 AND name = $6",
        )
        .bind(entry.value())
        .bind(entry.outcome())
        .bind(source)
        .bind(provenance.to_string())
        .bind(doc)
        .bind(field)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        self.event(
            tx,
            actor,
            ("field", &format!("{doc}/{field}")),
            (Some(from), "keyed"),
            &format!("{source}: {}", entry.outcome()),
        )
        .await
    }

    async fn pseudonyms_in<'a>(
        &self,
        tx: &mut Tx,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<String>, FolioError> {
        let mut out = Vec::new();
        for n in names {
            let p: String = sqlx::query("SELECT pseudonym FROM users WHERE name = $1")
                .bind(n)
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| self.err(e))?
                .try_get(0)
                .map_err(|e| self.err(e))?;
            out.push(p);
        }
        Ok(out)
    }

    /// Gives a task back to the queue before its lease runs out (a
    /// prefetched task at logout). With `lease`, only that lease is given
    /// back: a late give-back never frees the task after it was leased
    /// again (to anyone, the same user included). False when nothing was
    /// the user's to give back.
    pub async fn release_task(
        &self,
        id: i64,
        user: &UserRow,
        lease: Option<&str>,
    ) -> Result<bool, FolioError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE tasks SET state = 'queued', keyer = NULL, lease_token = NULL, lease_expires = NULL, \
             leased_at = NULL WHERE id = $1 AND keyer = $2 AND state = 'leased' \
             AND ($3 = '' OR lease_token = $3)",
        )
        .bind(id)
        .bind(&user.name)
        .bind(lease.unwrap_or(""))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        if n == 1 {
            self.event(
                &mut tx,
                &user.actor(),
                ("task", &id.to_string()),
                (Some("leased"), "queued"),
                "given back",
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// The deskewed image of page `seq` of a document, relative to the
    /// object store.
    pub async fn derived_path(
        &self,
        document_id: &str,
        seq: i64,
    ) -> Result<Option<String>, FolioError> {
        Ok(self
            .fetch_map(
                sqlx::query("SELECT derived_path FROM pages WHERE document_id = $1 AND seq = $2")
                    .bind(document_id)
                    .bind(seq),
                |r| r.try_get::<Option<String>, _>(0),
            )
            .await?
            .pop()
            .flatten())
    }

    /// The derived image of page `page_id` (`pages.id`), relative to the
    /// object store: `None` for no such page, `Some(None)` for a page
    /// without a derived image yet (not processed, or failed). The
    /// console's thumbnails are cut from it.
    pub async fn page_derived_path(
        &self,
        page_id: i64,
    ) -> Result<Option<Option<String>>, FolioError> {
        Ok(self
            .fetch_map(
                sqlx::query("SELECT derived_path FROM pages WHERE id = $1").bind(page_id),
                |r| r.try_get::<Option<String>, _>(0),
            )
            .await?
            .pop())
    }

    /// Tasks per state and kind (open work for the station and status).
    pub async fn task_counts(&self) -> Result<Vec<(String, String, i64)>, FolioError> {
        self.fetch_map(
            sqlx::query(
                "SELECT kind, state, COUNT(*) FROM tasks GROUP BY kind, state ORDER BY kind, state",
            ),
            |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
        )
        .await
    }

    /// Per-person figures for work done since `since` (ISO date or time).
    pub async fn keyer_figures(
        &self,
        since: Option<&str>,
    ) -> Result<Vec<KeyerFigures>, FolioError> {
        self.keyer_figures_between(since, None).await
    }

    /// Per-person figures for work done in `[since, until)` (the monthly
    /// report's period).
    pub async fn keyer_figures_between(
        &self,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Vec<KeyerFigures>, FolioError> {
        let rows = self
            .fetch_map(
                sqlx::query(self.sql(
                    "SELECT u.name, u.pseudonym, u.role, t.kind, COUNT(*), \
                     CAST(COALESCE(SUM(t.keystrokes), 0) AS BIGINT), CAST(COALESCE(SUM(t.active_ms), 0) AS BIGINT), \
                     CAST(SUM(CASE WHEN f.status IN ('keyed', 'accepted') THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN f.status IN ('keyed', 'accepted') AND (t.outcome <> f.outcome \
                         OR COALESCE(t.value, '') <> COALESCE(f.final_value, '')) THEN 1 ELSE 0 END) AS BIGINT) \
                     FROM tasks t JOIN users u ON u.name = t.keyer \
                     JOIN fields f ON f.document_id = t.document_id AND f.name = t.field \
                     WHERE t.state = 'done' AND t.done_at >= {ts:$1} AND t.done_at < {ts:$2} \
                     GROUP BY u.name, u.pseudonym, u.role, t.kind ORDER BY u.name",
                ))
                .bind(since.unwrap_or("1970-01-01"))
                .bind(until.unwrap_or("9999-12-31")),
                |r| {
                    Ok((
                        r.try_get::<String, _>(0)?,
                        r.try_get::<String, _>(1)?,
                        r.try_get::<String, _>(2)?,
                        r.try_get::<String, _>(3)?,
                        [
                            r.try_get::<i64, _>(4)?,
                            r.try_get::<i64, _>(5)?,
                            r.try_get::<i64, _>(6)?,
                            r.try_get::<i64, _>(7)?,
                            r.try_get::<i64, _>(8)?,
                        ],
                    ))
                },
            )
            .await?;
        let mut out: Vec<KeyerFigures> = Vec::new();
        for (name, pseudonym, role, kind, [n, keys, ms, checked, errors]) in rows {
            if out.last().map(|f| f.user != name).unwrap_or(true) {
                out.push(KeyerFigures {
                    user: name.clone(),
                    pseudonym,
                    role,
                    ..KeyerFigures::default()
                });
            }
            let f = out.last_mut().expect("pushed above");
            f.active_hours += ms as f64 / 3_600_000.0;
            f.keystrokes += keys;
            if kind == "arbitrate" {
                f.decisions += n;
            } else {
                f.fields += n;
                f.checked += checked;
                f.errors += errors;
            }
        }
        for f in &mut out {
            let per_hour = |x: i64| {
                if f.active_hours > 0.0 {
                    x as f64 / f.active_hours
                } else {
                    0.0
                }
            };
            f.fields_per_hour = per_hour(f.fields);
            f.keystrokes_per_hour = per_hour(f.keystrokes);
            f.decisions_per_hour = per_hour(f.decisions);
            f.error_rate = if f.checked > 0 {
                f.errors as f64 / f.checked as f64
            } else {
                0.0
            };
        }
        Ok(out)
    }
}

fn user_row(r: &AnyRow, at: usize) -> Result<UserRow, sqlx::Error> {
    let role: String = r.try_get(at + 1)?;
    Ok(UserRow {
        name: r.try_get(at)?,
        role: role
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        pseudonym: r.try_get(at + 2)?,
        password_hash: r.try_get(at + 3)?,
        failed_logins: r.try_get(at + 4)?,
        locked_for_s: r.try_get::<f64, _>(at + 5)?.max(0.0),
    })
}

fn task_view(r: &AnyRow) -> Result<TaskView, sqlx::Error> {
    let bbox: Option<String> = r.try_get(9)?;
    Ok(TaskView {
        id: r.try_get(0)?,
        document_id: r.try_get(1)?,
        field: r.try_get(2)?,
        kind: r.try_get(3)?,
        pass: r.try_get(4)?,
        state: r.try_get(5)?,
        keyer: r.try_get(6)?,
        lease_left_s: r.try_get(7)?,
        page: r.try_get(8)?,
        bbox: bbox.and_then(|b| serde_json::from_str(&b).ok()),
        class: r.try_get(10)?,
        original_name: r.try_get(11)?,
        derived_path: r.try_get(12)?,
        entries: Vec::new(),
        lease: r.try_get(13)?,
    })
}
