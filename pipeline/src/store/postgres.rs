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
/// every workstation.
pub(super) async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(120))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET TIME ZONE 'UTC'").await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

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
    lock_source: Some("SELECT pg_advisory_xact_lock(hashtext($1))"),
};
