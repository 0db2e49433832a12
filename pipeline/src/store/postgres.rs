//! The PostgreSQL backend (several workstations): leases on the server's
//! clock (`timestamptz`, `now()`), claims with `FOR UPDATE SKIP LOCKED` so
//! workers never wait on each other's rows, `jsonb` and `boolean` columns
//! and CHECK constraints on every state column. A shared schema changes
//! only through `folio migrate`: a worker refuses a schema of another
//! version instead of changing it under the other workstations.

use super::Dialect;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

/// Opens the pool; sessions speak UTC so stored times read the same on
/// every workstation. A session left idle inside a transaction (its
/// workstation's network cut mid-transaction, the server never told) is
/// ended by the server after a minute ([`IDLE_IN_TRANSACTION`]):
/// otherwise its row locks outlive it until TCP gives up (hours), and
/// claims, which skip locked rows, never see those pages again.
pub(super) async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(120))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET TIME ZONE 'UTC'").await?;
                conn.execute(IDLE_IN_TRANSACTION).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// How long a session may sit idle inside a transaction. Folio's
/// transactions run their statements back to back (no file work inside
/// one), so a minute idle means the client is gone.
const IDLE_IN_TRANSACTION: &str = "SET idle_in_transaction_session_timeout = '60s'";

/// The migrations this build carries.
pub(super) fn migrator() -> Migrator {
    sqlx::migrate!("./migrations/postgres")
}

/// How the database's schema compares with this build's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SchemaCheck {
    /// Nothing of Folio's yet: a new database.
    Empty,
    /// The same version as this build.
    Current,
    /// Older: `folio migrate` brings it up.
    Behind { database: i64, folio: i64 },
    /// Newer than this build (another workstation upgraded).
    Ahead { database: i64, folio: i64 },
}

/// Any number, the same in every folio: the key of the lock under which a
/// new database's schema is created.
const CREATION_LOCK: i64 = 7_306_011_028;

/// Checks the schema holding the creation lock; on an empty database the
/// first process creates the schema while the others wait, then find it
/// whole (workers that start together on a new database all start).
pub(super) async fn check_schema_in_turn(pool: &AnyPool) -> Result<SchemaCheck, String> {
    let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(CREATION_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    let checked = async {
        match check_schema(pool).await.map_err(|e| e.to_string())? {
            SchemaCheck::Empty => {
                tracing::warn!("new database: creating Folio's schema");
                create_schema(pool).await.map_err(|e| e.to_string())?;
                Ok(SchemaCheck::Current)
            }
            other => Ok(other),
        }
    }
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(CREATION_LOCK)
        .execute(&mut *conn)
        .await;
    checked
}

/// Creates a new database's schema in one transaction: every migration
/// and its row in sqlx's `_sqlx_migrations` (the table `folio migrate`
/// reads), so a process killed part way leaves an empty database, which
/// the next command creates again, never a half-made schema that every
/// command refuses until someone runs `folio migrate`.
async fn create_schema(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations ( \
           version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
           installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
           checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    for m in migrator().iter() {
        if m.migration_type.is_down_migration() {
            continue;
        }
        sqlx::raw_sql(m.sql.clone()).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, -1)",
        )
        .bind(m.version)
        .bind(m.description.to_string())
        .bind(m.checksum.to_vec())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Compares the applied migrations with this build's.
pub(super) async fn check_schema(pool: &AnyPool) -> Result<SchemaCheck, sqlx::Error> {
    let exists: i64 = pool
        .fetch_one(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
        )
        .await?
        .try_get(0)?;
    if exists == 0 {
        return Ok(SchemaCheck::Empty);
    }
    let rows = pool
        .fetch_all("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .await?;
    let applied: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    let ours: Vec<i64> = migrator().iter().map(|m| m.version).collect();
    if applied.is_empty() {
        return Ok(SchemaCheck::Empty);
    }
    let database = applied.last().copied().unwrap_or(0);
    let folio = ours.last().copied().unwrap_or(0);
    Ok(if applied.iter().any(|v| !ours.contains(v)) {
        SchemaCheck::Ahead { database, folio }
    } else if applied == ours {
        SchemaCheck::Current
    } else {
        SchemaCheck::Behind { database, folio }
    })
}

/// SQL pieces in PostgreSQL's words.
pub(super) const DIALECT: Dialect = Dialect {
    begin: "BEGIN",
    now: "now()",
    later: "(now() + make_interval(secs => $S))",
    seconds_until: "EXTRACT(EPOCH FROM ($X - now()))::float8",
    json: "CAST($N AS jsonb)",
    lock_rows: "FOR UPDATE OF $X SKIP LOCKED",
    row_lock: "FOR UPDATE",
    timestamp: "CAST($N AS timestamptz)",
    lock_source: Some("SELECT pg_advisory_xact_lock(hashtext($1))"),
    claimable: "pages p",
};

// The two statements every page costs, each one round trip: data-
// modifying CTEs make the claim (select with SKIP LOCKED, lease, event)
// and the commit (results with the token check, event, the document's
// page count and, for its last page, the hand-over) single statements.
// SQLite runs the same steps as several statements in one `BEGIN
// IMMEDIATE` transaction (`Store::claim_pages`, `Store::complete_page`).
impl super::Store {
    pub(super) async fn claim_pages_in_one_statement(
        &self,
        worker: &super::Actor,
        limit: usize,
        lease_s: f64,
        batch: Option<&str>,
    ) -> Result<Vec<super::PageClaim>, crate::error::FolioError> {
        let base = uuid::Uuid::now_v7().simple().to_string();
        let rows = sqlx::query(self.sql(
            "WITH next AS ( \
               SELECT p.id, p.state AS was, p.lease_owner AS was_owner FROM pages p \
               JOIN files f ON f.sha256 = p.file_sha256 \
               WHERE p.id IN ( \
                 SELECT q.id FROM pages q JOIN documents d ON d.id = q.document_id \
                 WHERE q.state IN ('queued', 'leased') AND (q.state = 'queued' OR (q.state = 'leased' AND q.lease_expires < now())) \
                 AND ($1 = '' OR d.batch_id = $1) ORDER BY q.id LIMIT $6) \
               AND p.state IN ('queued', 'leased') AND (p.state = 'queued' OR (p.state = 'leased' AND p.lease_expires < now())) \
               ORDER BY {page_cost} DESC, p.id LIMIT $2 FOR UPDATE OF p SKIP LOCKED \
             ), claimed AS ( \
               UPDATE pages p SET state = 'leased', lease_owner = $3, lease_token = $4 || '-' || p.id, \
               lease_expires = {later:$5}, attempts = p.attempts + 1 FROM next WHERE p.id = next.id \
               RETURNING p.id, p.document_id, p.seq, p.file_sha256, p.file_page, p.attempts, p.lease_token, \
               next.was, next.was_owner \
             ), ev AS ( \
               INSERT INTO events (at, actor, entity, entity_id, from_state, to_state, reason) \
               SELECT now(), $3, 'page', CAST(c.id AS TEXT), c.was, 'leased', \
               CASE WHEN c.was = 'leased' THEN 'lease of ' || c.was_owner || ' ran out; taken over' \
               ELSE 'claimed' END FROM claimed c \
             ) \
             SELECT c.id, c.document_id, c.seq, c.file_sha256, c.file_page, c.attempts, c.lease_token, \
             d.batch_id, d.class FROM claimed c JOIN documents d ON d.id = c.document_id ORDER BY c.id",
        ))
        .bind(batch.unwrap_or(""))
        .bind(limit as i64)
        .bind(worker.as_str())
        .bind(&base)
        .bind(lease_s)
        .bind(super::CLAIM_WINDOW)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(super::PageClaim {
                    page_id: r.try_get(0)?,
                    document_id: r.try_get(1)?,
                    seq: r.try_get(2)?,
                    file_sha256: r.try_get(3)?,
                    file_page: r.try_get(4)?,
                    attempts: r.try_get(5)?,
                    token: r.try_get(6)?,
                    batch_id: r.try_get(7)?,
                    class: r.try_get(8)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    pub(super) async fn complete_page_in_one_statement(
        &self,
        claim: &super::PageClaim,
        result: &super::PageResult,
        state: super::PageState,
        worker: &super::Actor,
        lease_s: f64,
    ) -> Result<super::PageCommit, crate::error::FolioError> {
        let token = uuid::Uuid::now_v7().simple().to_string();
        let reason = result.failure.as_deref().unwrap_or("stages done");
        let sql = format!(
            "WITH upd AS ({} RETURNING id, document_id, state), \
             ev AS ( \
               INSERT INTO events (at, actor, entity, entity_id, from_state, to_state, reason) \
               SELECT now(), $20, 'page', CAST(id AS TEXT), 'leased', state, $23 FROM upd \
             ), doc AS ( \
               UPDATE documents d SET pages_left = d.pages_left - 1, \
               state = CASE WHEN d.pages_left = 1 THEN 'finishing' ELSE d.state END, \
               lease_owner = CASE WHEN d.pages_left = 1 THEN $20 ELSE d.lease_owner END, \
               lease_token = CASE WHEN d.pages_left = 1 THEN $24 ELSE d.lease_token END, \
               lease_expires = CASE WHEN d.pages_left = 1 THEN {{later:$25}} ELSE d.lease_expires END \
               FROM upd WHERE d.id = upd.document_id RETURNING d.id, d.pages_left \
             ), dev AS ( \
               INSERT INTO events (at, actor, entity, entity_id, from_state, to_state, reason) \
               SELECT now(), $20, 'document', id, 'queued', 'finishing', 'last page done' \
               FROM doc WHERE pages_left = 0 \
             ) \
             SELECT (SELECT COUNT(*) FROM upd), (SELECT pages_left FROM doc)",
            super::COMPLETE_PAGE
        );
        let row =
            super::bind_page_result(sqlx::query(self.sql(&sql)), claim, result, state, worker)
                .bind(reason)
                .bind(&token)
                .bind(lease_s)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        let updated: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        let left: Option<i64> = row.try_get(1).map_err(|e| self.err(e))?;
        Ok(match (updated, left) {
            (0, _) => super::PageCommit::Stale,
            (_, Some(0)) => super::PageCommit::DocumentReady(super::DocClaim {
                document_id: claim.document_id.clone(),
                token,
            }),
            _ => super::PageCommit::Recorded,
        })
    }
}
