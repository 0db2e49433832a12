//! Which store failures may pass on their own. A workstation's link to a
//! shared PostgreSQL drops, the server restarts, SQLite is briefly busy:
//! work waits and retries those, and stops only on the rest (a refused
//! write, a schema mismatch), which waiting would not mend.

use std::fmt::Display;

/// A failure the store wraps into `FolioError::Store`.
pub(super) trait Fault: Display {
    /// True when retrying later may succeed.
    fn transient(&self) -> bool {
        false
    }
}

impl Fault for String {}
impl Fault for &str {}
impl Fault for serde_json::Error {}
impl Fault for sqlx::migrate::MigrateError {}

impl Fault for sqlx::Error {
    fn transient(&self) -> bool {
        match self {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| transient_code(&c)),
            _ => false,
        }
    }
}

/// SQLSTATE classes and codes (PostgreSQL) and result codes (SQLite) of
/// failures that pass: connection exceptions (08), insufficient
/// resources (53), operator intervention such as a server shutting down
/// or starting (57P), serialization failures and deadlocks (40001,
/// 40P01); SQLite's BUSY and LOCKED with their extended codes.
fn transient_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "40001" | "40P01")
        // SQLite's codes are numbers below 10000; SQLSTATEs have 5 characters.
        || (code.len() < 5
            && code
                .parse::<i32>()
                .is_ok_and(|n| matches!(n & 0xff, 5 | 6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_connection_is_transient_and_a_refused_write_is_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(io.transient());
        assert!(sqlx::Error::PoolTimedOut.transient());
        assert!(!sqlx::Error::RowNotFound.transient());
        assert!(!sqlx::Error::PoolClosed.transient());
        assert!(!"batch vanished".transient());
    }

    #[test]
    fn codes_that_pass_are_told_from_codes_that_do_not() {
        for c in [
            "08006", "08001", "57P01", "57P03", "53300", "40001", "40P01", "5", "6", "517", "261",
        ] {
            assert!(transient_code(c), "{c}");
        }
        // unique violation, undefined table, SQLite constraint and I/O error
        for c in ["23505", "42P01", "22001", "19", "2067", "10"] {
            assert!(!transient_code(c), "{c}");
        }
    }
}
