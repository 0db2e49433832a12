//! The command line: parses arguments into typed commands and runs them.
//! Each command returns an exit code; `main` maps errors once. The async
//! runtime is entered once, here: commands are async all the way down to
//! the store, and stage work crosses to rayon through `work::on_pool`.

use crate::delivery::{self, ExportFormat};
use crate::error::{ExitCode, FolioError};
use crate::ingest::{self, IngestOptions, Intake};
use crate::run::{self, RunOptions, RunSummary};
use crate::settings::{Settings, WatchFolder};
use crate::store::{Actor, Store};
use crate::work::{self, Scope};
use crate::{acceptance, eval, inspect, monthly, qc, report, review, status, verify, watch, web};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Where a batch comes from and where its packages go.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// Folder holding the batch's page files (only read, never changed).
    pub batch: PathBuf,
    /// Folder for the packages (one BagIt bag per document).
    #[arg(long)]
    pub out: PathBuf,
    /// Document class (a file in the classes folder); default from folio.toml.
    #[arg(long)]
    pub class: Option<String>,
    /// Quarantine folder (default: <data_dir>/quarantine/<batch>).
    #[arg(long)]
    pub quarantine: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl BatchArgs {
    fn ingest_options(&self) -> IngestOptions {
        IngestOptions {
            input: self.batch.clone(),
            out: self.out.clone(),
            class: self.class.clone(),
            quarantine: self.quarantine.clone(),
        }
    }
}

/// Folio's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest a batch folder and work it until every page is done:
    /// fingerprint, image stage, OCR, fields, packages.
    Run {
        #[command(flatten)]
        args: BatchArgs,
        /// OCR threads in this process (default: folio.toml `workers`, else one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Record a batch folder in the store and queue its pages; prints the
    /// batch id. `folio worker`s (here or on other workstations) do the rest.
    Ingest {
        #[command(flatten)]
        args: BatchArgs,
    },
    /// Claim and work pages of any batch until stopped (SIGINT/SIGTERM).
    Worker {
        /// Exit once no page is queued or leased (waits for a dead
        /// worker's leases to expire and takes them).
        #[arg(long)]
        until_idle: bool,
        /// OCR threads in this process (default: folio.toml `workers`).
        #[arg(long)]
        workers: Option<usize>,
        /// Print what this worker did as JSON when it stops.
        #[arg(long)]
        json: bool,
    },
    /// Batches with pages and documents per state, leases held, pages/min.
    Status {
        /// A batch id, name or source folder (default: every batch).
        batch: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run the image stage alone on image files and print what it finds per page.
    Inspect {
        /// Image files (TIFF, PNG, JPEG, image-only PDF).
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
    /// Create or update the database schema (the only command that
    /// changes a shared PostgreSQL schema).
    Migrate,
    /// The keying station's web server (keyers, arbiters, supervisors).
    Serve {
        /// Address to listen on (default: folio.toml `[web] listen`);
        /// port 0 picks a free one.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Keying station users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Figures from the store.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Watch folders for batches (sub-folders) dropped by scanning
    /// operators: take each once complete, ingest it, work its pages
    /// (unless --no-work), until stopped (SIGINT/SIGTERM).
    Watch {
        /// Watch folder (default: every [[watch.folders]] of folio.toml).
        dir: Option<PathBuf>,
        /// Output folder for the packages (required with DIR).
        #[arg(long, requires = "dir")]
        out: Option<PathBuf>,
        /// Document class of the folder's batches (a manifest may name another).
        #[arg(long, requires = "dir")]
        class: Option<String>,
        /// Operator recorded on the folder's batches when no manifest names one.
        #[arg(long, requires = "dir")]
        operator: Option<String>,
        /// Only take batches in; leave their pages to `folio worker`s.
        #[arg(long)]
        no_work: bool,
        /// OCR threads in this process (default: folio.toml `workers`).
        #[arg(long)]
        workers: Option<usize>,
        /// Print what the service did as JSON when it stops.
        #[arg(long)]
        json: bool,
    },
    /// Check packages, batch deliveries or folders of them: structure,
    /// every checksum, Payload-Oxum, the custody chain, PDF page counts.
    /// Exit 0 only when everything holds; a line per problem.
    Verify {
        /// Package folders, delivery folders, or folders holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also check masters against the store's arrival records
        /// (default: when the configured store exists).
        #[arg(long)]
        no_store: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write a batch's index again from the store: DIR/index.csv,
    /// index.json or index.xlsx.
    Export {
        /// A batch id, name or source folder.
        batch: String,
        #[arg(long, value_enum)]
        format: ExportFormat,
        #[arg(long)]
        out: PathBuf,
    },
    /// Operator decisions on a batch.
    Batch {
        #[command(subcommand)]
        action: BatchAction,
    },
    /// Measure reading against ground truth: CER and WER per page and
    /// overall, accuracy per field. Pages are matched to truth files by
    /// their original file name (plain text `.txt`, hOCR `.hocr`, the
    /// forms' or FUNSD `.json`).
    Eval {
        /// Folder of truth files (searched recursively).
        #[arg(long)]
        truth: PathBuf,
        /// Packages, or folders of packages (e.g. a `folio run --out`).
        #[arg(required = true)]
        packages: Vec<PathBuf>,
        /// The report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Acceptance inspection of a delivered batch (ISO 2859-1 sample,
    /// DA/T 31 verdict).
    Accept {
        #[command(subcommand)]
        command: AcceptCommand,
    },
    /// Review holds: flagged pages, decisions (keep, drop, re-scan) and
    /// open re-scan requests.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
}

/// `folio review …`
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// A batch's flagged pages with their flags and decisions.
    List {
        /// A batch id, name or source folder.
        batch: String,
        /// Every page of the batch as JSON (flagged or not).
        #[arg(long)]
        json: bool,
    },
    /// Decide one page: keep it, drop it from the package, or request a
    /// re-scan. Packages the document once its last hold is decided.
    Decide {
        /// The page id (`folio review list` shows it).
        page_id: i64,
        /// keep, drop or rescan.
        decision: crate::store::review::Decision,
        /// Why (recorded in the page's history).
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// The open re-scan requests of a batch (printable, or CSV).
    Rescans {
        /// A batch id, name or source folder.
        batch: String,
        #[arg(long)]
        csv: bool,
    },
}

/// `folio accept …`
#[derive(Debug, Subcommand)]
pub enum AcceptCommand {
    /// Draw (first time) or show the seeded sample of a batch's pages.
    Plan {
        /// A batch id, name or source folder.
        batch: String,
        /// The draw's seed; the same seed always gives the same plan
        /// (default: the batch's newest plan, else a fresh seed).
        #[arg(long)]
        seed: Option<u64>,
        /// AQL, a column of ISO 2859-1 Table 2-A (default: folio.toml
        /// `[acceptance] aql`).
        #[arg(long)]
        aql: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// Record the inspector's result for one sampled page.
    Inspect {
        /// A batch id, name or source folder.
        batch: String,
        /// The plan's seed (default: the batch's newest plan).
        #[arg(long)]
        seed: Option<u64>,
        /// The sampled page's document id.
        #[arg(long)]
        document: String,
        /// The page number within the document.
        #[arg(long)]
        page: i64,
        /// The page passes.
        #[arg(long, conflicts_with = "fail")]
        pass: bool,
        /// The page fails, for this reason.
        #[arg(long, required_unless_present = "pass")]
        fail: Option<String>,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The verdict on the recorded results; writes the acceptance record
    /// into the batch's delivery folder once decided (exit 4 unless
    /// accepted).
    Verdict {
        /// A batch id, name or source folder.
        batch: String,
        /// The plan's seed (default: the batch's newest plan).
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

/// `folio user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        /// keyer, arbiter, supervisor, admin or operator.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (the only way: never
        /// on the command line, where `ps` shows it).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users with their role, pseudonym and lock state.
    List,
}

/// `folio report …`
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Per keyer: fields/hour, keystrokes/hour, error rate; per arbiter:
    /// decisions/hour.
    Keyers {
        /// Only work done since this date (YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Per field: measured error rate of OCR-accepted values (from the QA
    /// sample, `[keying] qa_share`) with a 95 % interval, and the
    /// confidence threshold that would reach the target accuracy with
    /// the keying share it would cost.
    Accuracy {
        /// Target field accuracy, percent.
        #[arg(long, default_value_t = 99.95)]
        target: f64,
        #[arg(long)]
        json: bool,
    },
    /// The monthly service report: DIR/report.html (charts as SVG),
    /// DIR/report.pdf and DIR/report.json.
    Monthly {
        /// The month, as YYYY-MM.
        #[arg(long)]
        month: String,
        /// Folder the three files go to.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `folio batch …`.
#[derive(Debug, Subcommand)]
pub enum BatchAction {
    /// Accept a held batch as it is (its page count differs from its
    /// manifest): its documents are packaged.
    Confirm {
        /// A batch id, name, source folder or the folder name as dropped.
        batch: String,
    },
    /// Queue a batch's failed documents again once the cause is fixed
    /// (a language installed, a limit raised): their failed pages are read
    /// again by the next `folio run` of the folder or any `folio worker`.
    Retry {
        /// A batch id, name, source folder or the folder name as dropped.
        batch: String,
        /// Why, for the batch's history (e.g. "chi_sim installed").
        #[arg(long, default_value = "retried by the operator")]
        reason: String,
    },
}

/// Runs the parsed command.
pub fn execute(cli: Cli) -> Result<ExitCode, FolioError> {
    let settings = Settings::load(cli.config.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| FolioError::Internal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(dispatch(cli.command, settings))
}

async fn dispatch(command: Command, mut settings: Settings) -> Result<ExitCode, FolioError> {
    match command {
        Command::Inspect { images, json } => inspect::run(&images, &settings, json),
        Command::Migrate => {
            let store = Store::open_and_migrate(&settings.database_url).await?;
            println!(
                "database ready: {} (schema version {})",
                store.url(),
                store.schema_version()
            );
            store.close().await;
            Ok(ExitCode::Ok)
        }
        Command::Run {
            args,
            workers,
            quiet,
        } => {
            if let Some(w) = workers.filter(|w| *w > 0) {
                settings.workers = w;
            }
            let store = Store::open(&settings.database_url).await?;
            let opts = RunOptions {
                ingest: args.ingest_options(),
                progress: !quiet && !args.json,
            };
            let stop = work::shutdown_signal();
            let summary = run::run(&store, Arc::new(settings), &opts, stop).await;
            store.close().await;
            let summary = summary?;
            if args.json {
                print_json(&summary)?;
            } else {
                print_summary(&summary, store.url());
            }
            Ok(if summary.needs_attention() {
                ExitCode::Attention
            } else {
                ExitCode::Ok
            })
        }
        Command::Ingest { args } => {
            let store = Store::open(&settings.database_url).await?;
            let pool = work::thread_pool(&settings)?;
            let intake = ingest::ingest(
                &store,
                &settings,
                &pool,
                &args.ingest_options(),
                &Actor::user(),
            )
            .await;
            store.close().await;
            let intake = intake?;
            if args.json {
                print_json(&intake)?;
            } else {
                print_intake(&intake);
                println!("{}", intake.batch.id);
            }
            Ok(if intake.quarantined.is_empty() {
                ExitCode::Ok
            } else {
                ExitCode::Attention
            })
        }
        Command::Worker {
            until_idle,
            workers,
            json,
        } => {
            if let Some(w) = workers.filter(|w| *w > 0) {
                settings.workers = w;
            }
            let store = Store::open(&settings.database_url).await?;
            let pool = Arc::new(work::thread_pool(&settings)?);
            let actor = Actor::worker();
            eprintln!("folio: {actor} working on {}", store.url());
            let scope = Scope {
                batch: None,
                until_idle,
            };
            let stop = work::shutdown_signal();
            let report = work::work(&store, Arc::new(settings), pool, &actor, &scope, stop).await;
            store.close().await;
            let report = report?;
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "{}: {} page(s), {} document(s) finished, {} stale result(s) dropped, {} lease(s) given back{}",
                    report.worker,
                    report.pages,
                    report.documents,
                    report.stale,
                    report.released,
                    if report.interrupted {
                        " · stopped by signal"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::Ok)
        }
        Command::Status { batch, json } => {
            let store = Store::open(&settings.database_url).await?;
            let code = status::run(&store, batch.as_deref(), json).await;
            store.close().await;
            code
        }
        Command::Serve { listen } => {
            let store = Store::open(&settings.database_url).await?;
            let listen = listen.unwrap_or_else(|| settings.web.listen.clone());
            let stop = work::shutdown_signal();
            let result = web::serve(store.clone(), Arc::new(settings), &listen, stop).await;
            store.close().await;
            result.map(|()| ExitCode::Ok)
        }
        Command::User { command } => {
            let store = Store::open(&settings.database_url).await?;
            let code = report::user_command(&store, command).await;
            store.close().await;
            code
        }
        Command::Report {
            command: ReportCommand::Keyers { since, csv },
        } => {
            let store = Store::open(&settings.database_url).await?;
            let code = report::keyers(&store, since.as_deref(), csv).await;
            store.close().await;
            code
        }
        Command::Report {
            command: ReportCommand::Accuracy { target, json },
        } => {
            let store = Store::open(&settings.database_url).await?;
            let code = crate::qa::report(&store, target, json).await;
            store.close().await;
            code
        }
        Command::Report {
            command: ReportCommand::Monthly { month, out },
        } => {
            monthly::month_bounds(&month)?;
            let store = Store::open(&settings.database_url).await?;
            let code = monthly::run(&store, &month, &out, settings.acceptance.pass_rate).await;
            store.close().await;
            code
        }
        Command::Watch {
            dir,
            out,
            class,
            operator,
            no_work,
            workers,
            json,
        } => {
            if let Some(w) = workers.filter(|w| *w > 0) {
                settings.workers = w;
            }
            let folders = match dir {
                Some(folder) => vec![WatchFolder {
                    folder,
                    out: out.ok_or_else(|| {
                        settings.config_error("`folio watch <DIR>` needs --out <DIR>")
                    })?,
                    class,
                    operator,
                }],
                None => settings.watch.folders.clone(),
            };
            let bindings = watch::bind(&settings, &folders)?;
            let store = Store::open(&settings.database_url).await?;
            let stop = work::shutdown_signal();
            let report = watch::serve(&store, Arc::new(settings), bindings, !no_work, stop).await;
            store.close().await;
            let report = report?;
            if json {
                print_json(&report)?;
            } else {
                eprintln!(
                    "folio: {} stopped: {} batch(es) taken, {} failed{}",
                    report.watcher,
                    report.taken,
                    report.failed,
                    report
                        .work
                        .as_ref()
                        .map(|w| format!(
                            ", {} page(s) and {} document(s) worked, {} lease(s) given back",
                            w.pages, w.documents, w.released
                        ))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::Ok)
        }
        Command::Batch {
            action: BatchAction::Confirm { batch },
        } => {
            let store = Store::open(&settings.database_url).await?;
            let confirmed = store.confirm_batch(&batch, &Actor::user()).await;
            store.close().await;
            let (b, held) = confirmed?;
            match held {
                Some(why) => println!(
                    "batch {} ({}) confirmed; its documents will be packaged (was held: {why})",
                    b.name, b.id
                ),
                None => println!(
                    "batch {} ({}) was not held; nothing to confirm",
                    b.name, b.id
                ),
            }
            Ok(ExitCode::Ok)
        }
        Command::Batch {
            action: BatchAction::Retry { batch, reason },
        } => {
            let store = Store::open(&settings.database_url).await?;
            let retried = store.retry_failed(&batch, &Actor::user(), &reason).await;
            store.close().await;
            let r = retried?;
            for (doc, why) in &r.kept {
                eprintln!("folio: {doc} not retried: {why}");
            }
            if r.documents.is_empty() {
                println!(
                    "batch {} ({}): no failed document to retry",
                    r.batch_name, r.batch_id
                );
            } else {
                println!(
                    "batch {} ({}): {} document(s) and {} failed page(s) queued again; \
                     `folio run` on its folder or any `folio worker` reads them",
                    r.batch_name,
                    r.batch_id,
                    r.documents.len(),
                    r.pages
                );
            }
            Ok(if r.kept.is_empty() {
                ExitCode::Ok
            } else {
                ExitCode::Attention
            })
        }
        Command::Accept { command } => {
            let store = Store::open(&settings.database_url).await?;
            let code = accept_command(&store, &settings, command).await;
            store.close().await;
            code
        }
        Command::Review { command } => {
            let store = Store::open(&settings.database_url).await?;
            let code = review_command(&store, settings, command).await;
            store.close().await;
            code
        }
        Command::Verify {
            paths,
            no_store,
            json,
        } => verify_command(&settings, &paths, no_store, json).await,
        Command::Export { batch, format, out } => {
            let store = Store::open(&settings.database_url).await?;
            let written = delivery::export(&store, &batch, format, &out).await;
            store.close().await;
            println!("{}", written?.display());
            Ok(ExitCode::Ok)
        }
        Command::Eval {
            truth,
            packages,
            json,
        } => eval::run(&truth, &packages, json),
        Command::Qc { batch, json } => {
            let store = Store::open(&settings.database_url).await?;
            let code = qc::run(&store, &batch, json).await;
            store.close().await;
            code
        }
    }
}

async fn review_command(
    store: &Store,
    settings: Settings,
    command: ReviewCommand,
) -> Result<ExitCode, FolioError> {
    match command {
        ReviewCommand::List { batch, json } => review::run_list(store, &batch, json).await,
        ReviewCommand::Rescans { batch, csv } => review::run_rescans(store, &batch, csv).await,
        ReviewCommand::Decide {
            page_id,
            decision,
            reason,
            json,
        } => {
            let pool = Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(|_| "folio-package".into())
                    .build()
                    .map_err(|e| FolioError::Internal(e.to_string()))?,
            );
            let d = review::decide(
                store,
                Arc::new(settings),
                pool,
                &Actor::user(),
                page_id,
                decision,
                &reason,
            )
            .await?;
            if json {
                print_json(&d)?;
            } else {
                println!(
                    "page {page_id}: {decision} recorded · document {}: {} undecided holding page(s) left{}",
                    d.document_id,
                    d.undecided_left,
                    if d.packaged {
                        " · packaged".to_string()
                    } else {
                        match store.document_state(&d.document_id).await? {
                            Some(s) if s == "finishing" => " · still held (undecided flags, a re-scan to come, or its batch's page count)".to_string(),
                            Some(s) => format!(" · {s}"),
                            None => String::new(),
                        }
                    }
                );
            }
            Ok(ExitCode::Ok)
        }
    }
}

async fn accept_command(
    store: &Store,
    settings: &Settings,
    command: AcceptCommand,
) -> Result<ExitCode, FolioError> {
    match command {
        AcceptCommand::Plan {
            batch,
            seed,
            aql,
            json,
        } => acceptance::run_plan(store, settings, &batch, seed, aql, json).await,
        AcceptCommand::Inspect {
            batch,
            seed,
            document,
            page,
            pass,
            fail,
            json,
        } => {
            let b = acceptance::find(store, &batch).await?;
            let reason = fail.unwrap_or_default();
            let record = acceptance::inspect(
                store,
                settings,
                &b,
                seed,
                &document,
                page,
                pass,
                &reason,
                &Actor::user(),
            )
            .await?;
            let written = record.verdict.accepted.map(|_| acceptance::record_path(&b));
            acceptance::print_record(&record, written.as_deref(), json)?;
            Ok(ExitCode::Ok)
        }
        AcceptCommand::Verdict { batch, seed, json } => {
            acceptance::run_verdict(store, settings, &batch, seed, json).await
        }
    }
}

/// `folio verify`: prints a line per problem (or the verdict as JSON);
/// exit 0 only when all holds, 4 when anything is wrong.
async fn verify_command(
    settings: &Settings,
    paths: &[PathBuf],
    no_store: bool,
    json: bool,
) -> Result<ExitCode, FolioError> {
    let store = if no_store || !store_exists(settings) {
        None
    } else {
        Store::open(&settings.database_url).await.ok()
    };
    let verdict = verify::verify(paths, store.as_ref()).await;
    if let Some(s) = store {
        s.close().await;
    }
    if json {
        print_json(&verdict)?;
    } else {
        for p in &verdict.problems {
            println!("{p}");
        }
        eprintln!(
            "folio verify: {} package(s), {} deliver(y/ies): {}",
            verdict.packages.len(),
            verdict.deliveries.len(),
            if verdict.ok {
                "all checks hold".to_string()
            } else {
                format!("{} problem(s)", verdict.problems.len())
            }
        );
    }
    Ok(if verdict.ok {
        ExitCode::Ok
    } else {
        ExitCode::Attention
    })
}

/// True when the configured store is there to check against (a SQLite
/// file that exists, or a server URL).
fn store_exists(settings: &Settings) -> bool {
    match settings.database_url.strip_prefix("sqlite://") {
        Some(path) => Path::new(path.split('?').next().unwrap_or(path)).is_file(),
        None => true,
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), FolioError> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| FolioError::Internal(e.to_string()))?
    );
    Ok(())
}

fn print_intake(i: &Intake) {
    println!(
        "batch {} ({}) · class {} · state {}",
        i.batch.name, i.batch.id, i.batch.class, i.batch.state
    );
    println!(
        "files: {} new, {} already known, {} duplicate, {} quarantined, {} hidden skipped · {} page(s) queued in {} document(s)",
        i.accepted.len(),
        i.known.len(),
        i.duplicates.len(),
        i.quarantined.len(),
        i.ignored.len(),
        i.pages(),
        i.documents.len()
    );
    for (name, first) in &i.duplicates {
        println!("  duplicate: {name} has the same content as {first}; not processed twice");
    }
    if !i.quarantined.is_empty() {
        println!(
            "QUARANTINED ({}) in {}:",
            i.quarantined.len(),
            i.quarantine.display()
        );
        for q in &i.quarantined {
            println!("  {}: {}", q.name, q.reason);
        }
    }
}

fn print_summary(s: &RunSummary, db: &str) {
    print_intake(&s.intake);
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
    let count = |state: &str| s.documents.iter().filter(|d| d.state == state).count();
    println!(
        "documents: {} packaged, {} awaiting keying, {} failed",
        count("packaged"),
        count("awaiting_keying"),
        count("failed")
    );
    for d in &s.documents {
        println!(
            "  {} [{}] {} page(s), fields {} accepted / {} for keying → {}",
            d.id,
            d.state,
            d.pages,
            d.fields_accepted,
            d.fields_for_keying,
            d.path.display()
        );
    }
    let worked_earlier = s.intake.accepted.is_empty() && s.documents.is_empty();
    if worked_earlier && (s.work.pages > 0 || s.work.documents > 0) {
        // A resumed run, or one after `folio batch retry`: the work was
        // queued before this run; say what it did and where the batch is.
        let b = &s.batch_pages;
        println!(
            "resumed: {} page(s) and {} document(s) of this batch worked; the batch has {} page(s) done, {} failed, {} still queued",
            s.work.pages,
            s.work.documents,
            b.done,
            b.failed,
            b.queued + b.leased
        );
    } else if worked_earlier && !s.intake.known.is_empty() {
        println!("nothing new: every file of this folder is already in the store");
    }
    println!(
        "batch {}: {}",
        s.batch.state,
        if s.documents_awaiting_keying > 0 {
            format!(
                "{} document(s) wait for keying",
                s.documents_awaiting_keying
            )
        } else {
            "every document finished".into()
        }
    );
    if !s.held.is_empty() {
        println!(
            "HELD FOR REVIEW ({} document(s)): not packaged until each holding page is decided",
            s.held.len()
        );
        for d in &s.held {
            println!("  {}:", d.document_id);
            for p in &d.pages {
                review::print_page(p);
            }
        }
        println!(
            "decide with `folio review decide PAGE_ID keep|drop|rescan [--reason TEXT]` (all pages: `folio review list {}`); re-scans: `folio review rescans {}`",
            s.batch.id, s.batch.id
        );
    }
    match &s.delivery {
        Some(d) => println!(
            "packages: {} (batch delivery: index.csv, index.xlsx, delivery.json; check with `folio verify {}`)",
            d.display(),
            d.display()
        ),
        None => println!("packages: {}", s.out.display()),
    }
    println!("store: {db}");
}
