//! The command line: parses arguments into typed commands and runs them.
//! Each command returns an exit code; `main` maps errors once.

use crate::error::{ExitCode, FolioError};
use crate::runner::{self, RunOptions, RunSummary};
use crate::settings::Settings;
use crate::store::Store;
use crate::{inspect, qc};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Folio: scanned batches in, verified archive packages out.
#[derive(Debug, Parser)]
#[command(name = "folio", version, about)]
pub struct Cli {
    /// Settings file (default: $FOLIO_CONFIG, else ./config/folio.toml, else built-in).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Folio's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process a batch folder: fingerprint, image stage, OCR, fields, packages.
    Run {
        /// Folder holding the batch's page files (only read, never changed).
        batch: PathBuf,
        /// Folder for the packages (one BagIt bag per document).
        #[arg(long)]
        out: PathBuf,
        /// Document class (a file in the classes folder); default from folio.toml.
        #[arg(long)]
        class: Option<String>,
        /// Quarantine folder (default: <data_dir>/quarantine/<batch>).
        #[arg(long)]
        quarantine: Option<PathBuf>,
        /// OCR workers (default: folio.toml `workers`, else one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Run the image stage alone on image files and print what it finds per page.
    Inspect {
        /// Image files (TIFF, PNG, JPEG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// One JSON array of page objects on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Image-quality report of a batch (by id, name or source folder).
    Qc {
        batch: String,
        #[arg(long)]
        json: bool,
    },
    /// Create or update the database schema and print where it is.
    Migrate,
}

/// Runs the parsed command.
pub fn execute(cli: Cli) -> Result<ExitCode, FolioError> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Run {
            batch,
            out,
            class,
            quarantine,
            workers,
            json,
            quiet,
        } => {
            if let Some(w) = workers.filter(|w| *w > 0) {
                settings.workers = w;
            }
            let rt = runtime()?;
            let store = rt.block_on(Store::open(&settings.database_url))?;
            let opts = RunOptions {
                input: batch,
                out,
                quarantine,
                class,
                progress: !quiet && !json,
            };
            let summary = runner::run(rt.handle(), &store, &settings, &opts);
            rt.block_on(store.close());
            let summary = summary?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary)
                        .map_err(|e| FolioError::Internal(e.to_string()))?
                );
            } else {
                print_summary(&summary, store.url());
            }
            Ok(if summary.needs_attention() {
                ExitCode::Attention
            } else {
                ExitCode::Ok
            })
        }
        Command::Inspect { images, json } => inspect::run(&images, &settings, json),
        Command::Qc { batch, json } => {
            let rt = runtime()?;
            let store = rt.block_on(Store::open(&settings.database_url))?;
            let code = qc::run(rt.handle(), &store, &batch, json);
            rt.block_on(store.close());
            code
        }
        Command::Migrate => {
            let rt = runtime()?;
            let store = rt.block_on(Store::open(&settings.database_url))?;
            println!("database ready: {}", store.url());
            rt.block_on(store.close());
            Ok(ExitCode::Ok)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, FolioError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| FolioError::Internal(format!("cannot start the async runtime: {e}")))
}

fn print_summary(s: &RunSummary, db: &str) {
    let i = &s.intake;
    println!(
        "batch {} ({}) · class {} · state {}",
        s.batch.name, s.batch.id, s.batch.class, s.batch.state
    );
    println!(
        "files: {} new, {} already known, {} duplicate, {} quarantined, {} hidden skipped",
        i.accepted.len(),
        i.known.len(),
        i.duplicates.len(),
        i.quarantined.len(),
        i.ignored.len()
    );
    for (name, first) in &i.duplicates {
        println!("  duplicate: {name} has the same content as {first}; not processed twice");
    }
    println!(
        "pages: {} processed, {} failed, {} flagged blank, {} failed QC, {} re-scans · {:.1} s · {:.1} pages/min · {} workers",
        s.pages,
        s.pages_failed,
        s.pages_blank,
        s.pages_qc_failed,
        s.pages_rescanned,
        s.seconds,
        s.pages_per_minute,
        s.workers
    );
    let packaged = s
        .documents
        .iter()
        .filter(|d| d.state == crate::store::DocState::Packaged)
        .count();
    println!(
        "documents: {} packaged, {} awaiting keying, {} failed",
        packaged,
        s.documents
            .iter()
            .filter(|d| d.state == crate::store::DocState::AwaitingKeying)
            .count(),
        s.documents
            .iter()
            .filter(|d| d.state == crate::store::DocState::Failed)
            .count()
    );
    for d in &s.documents {
        println!(
            "  {} [{}] {} page(s), fields {} accepted / {} for keying → {}",
            d.id,
            d.state.as_str(),
            d.pages,
            d.fields_accepted,
            d.fields_for_keying,
            d.path.display()
        );
    }
    if i.accepted.is_empty() && s.documents.is_empty() && !i.known.is_empty() {
        println!("nothing new: every file of this folder is already in the store");
    }
    if !i.quarantined.is_empty() {
        println!(
            "QUARANTINED ({}) in {}:",
            i.quarantined.len(),
            s.quarantine.display()
        );
        for q in &i.quarantined {
            println!("  {}: {}", q.name, q.reason);
        }
    }
    println!("packages: {}", s.out.display());
    println!("store: {db}");
}
