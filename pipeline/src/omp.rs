//! OpenMP threading for Tesseract. libgomp reads `OMP_THREAD_LIMIT` when it
//! loads, before `main`, so setting it from inside the process does nothing.
//! Folio re-executes itself once with the variable set: parallelism comes
//! from one engine per worker, and OpenMP threads on top of that cost 7×
//! on 2-core machines (17.7 s vs 2.6 s per page, measured).

use std::os::unix::process::CommandExt;

/// Marks the re-executed child so it never loops.
const GUARD: &str = "FOLIO_OMP_REEXEC";

/// If `OMP_THREAD_LIMIT` is unset, replaces this process with itself with
/// `OMP_THREAD_LIMIT=1`. Returns only when no re-exec was needed (or it
/// failed, in which case Folio runs on, slower, and says so).
pub fn ensure_single_thread_openmp() {
    if std::env::var_os("OMP_THREAD_LIMIT").is_some() || std::env::var_os(GUARD).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_THREAD_LIMIT", "1")
        .env(GUARD, "1")
        .exec();
    eprintln!(
        "folio: warning: could not re-execute with OMP_THREAD_LIMIT=1 ({err}); OCR will be slower"
    );
}
