//! The SQLite backend (one host): WAL so readers never wait for the
//! writer, a busy timeout so processes queue for the write lock instead of
//! failing, `BEGIN IMMEDIATE` so a transaction takes the write lock at its
//! start (a deferred one that upgrades later can fail with "database is
//! locked" under load). SQLite migrates itself: it has one host.

use super::Dialect;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

/// Opens the pool: one connection per process (SQLite has one writer).
pub(super) async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    if let Some(path) = path(url)
        && let Some(parent) = std::path::Path::new(&path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    AnyPoolOptions::new()
        .max_connections(1)
        // The one connection is shared by a process's tasks while another
        // process may hold the write lock: wait, don't fail.
        .acquire_timeout(std::time::Duration::from_secs(600))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 30000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Brings the schema up to date (safe to call on every start). Processes
/// that start together on a new file take turns: an exclusive lock on a
/// file beside the database is held while migrating, so the second one
/// finds the schema whole instead of creating it a second time.
pub(super) async fn migrate(pool: &AnyPool, url: &str) -> Result<(), sqlx::migrate::MigrateError> {
    let _turn = match path(url) {
        Some(db) => Some(
            MigrationLock::take(&format!("{db}.migrate-lock"))
                .map_err(|e| sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(e)))?,
        ),
        None => None,
    };
    sqlx::migrate!("./migrations/sqlite").run(pool).await
}

/// An exclusive `flock` held until dropped.
struct MigrationLock(std::fs::File);

impl MigrationLock {
    fn take(path: &str) -> std::io::Result<MigrationLock> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: a valid open descriptor; flock only blocks until granted.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MigrationLock(file))
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is still open.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The migrations this build carries.
pub(super) fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations/sqlite")
}

/// SQL pieces in SQLite's words.
pub(super) const DIALECT: Dialect = Dialect {
    begin: "BEGIN IMMEDIATE",
    now: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    later: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || $S || ' seconds')",
    seconds_until: "((julianday($X) - julianday('now')) * 86400.0)",
    json: "$N",
    lock_rows: "",
    row_lock: "",
    timestamp: "$N",
    lock_source: None,
    claimable: "pages p INDEXED BY pages_claimable",
};

/// The file path inside a `sqlite:` URL, if it names a file.
pub(super) fn path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_from_urls() {
        assert_eq!(
            super::path("sqlite:///tmp/x/f.db?mode=rwc").as_deref(),
            Some("/tmp/x/f.db")
        );
        assert_eq!(
            super::path("sqlite://rel/f.db").as_deref(),
            Some("rel/f.db")
        );
        assert_eq!(super::path("sqlite::memory:"), None);
    }
}
