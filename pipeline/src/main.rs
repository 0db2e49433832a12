//! `folio`: parse, run, map the outcome to an exit code. Nothing else.

use clap::Parser;
use folio::cli::{Cli, execute};
use folio::omp;

fn main() -> std::process::ExitCode {
    omp::ensure_single_thread_openmp();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FOLIO_LOG")
                .unwrap_or_else(|_| "folio=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("folio: error: {e}");
            std::process::ExitCode::from(e.exit_code() as u8)
        }
    }
}
