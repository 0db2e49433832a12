//! `folio accept`: an archive's acceptance inspection of a delivered
//! batch. A seeded sample of the batch's pages (ISO 2859-1 level II,
//! drawn once per seed and recorded), the inspector's pass/fail per page
//! with a reason, the verdict (DA/T 31: ≥ 95 % passing, and within the
//! AQL plan's acceptance number), and the acceptance record written into
//! the batch's delivery folder for the client.

use crate::error::{ExitCode, FolioError};
use crate::settings::Settings;
use crate::store::acceptance::{Drawn, PlanItem, PlanRow};
use crate::store::{Actor, BatchRow, Store};
use folio_stages::sampling;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One sampled page, as `folio accept plan --json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub document: String,
    pub page: i64,
}

/// The answer of `folio accept plan` (the interface's names).
#[derive(Debug, Clone, Serialize)]
pub struct PlanAnswer {
    pub lot_size: i64,
    pub code_letter: String,
    pub sample_size: i64,
    pub items: Vec<Item>,
    pub batch: String,
    pub seed: String,
    pub aql: f64,
}

/// Where the acceptance record of a batch goes: its delivery folder.
/// The one place that knows the layout, so a change of the delivery
/// folder is made here.
pub fn record_path(batch: &BatchRow) -> PathBuf {
    delivery_dir(batch).join(format!("acceptance-{}.json", batch.id))
}

/// The batch's delivery folder (`layout::delivery_dir` under the
/// batch's `--out` folder).
pub fn delivery_dir(batch: &BatchRow) -> PathBuf {
    crate::layout::delivery_dir(Path::new(&batch.out_dir), batch)
}

/// Looks a batch up as every `<BATCH>` argument does.
pub async fn find(store: &Store, key: &str) -> Result<BatchRow, FolioError> {
    store.find_batch(key).await?.ok_or_else(|| {
        FolioError::input(
            key,
            "no such batch in the store (give its id, name or folder)",
        )
    })
}

fn parse_seed(seed: &str) -> Result<u64, FolioError> {
    seed.parse::<u64>().map_err(|_| {
        FolioError::Usage(format!(
            "seed {seed:?} is not a whole number 0 … 18446744073709551615"
        ))
    })
}

fn fresh_seed() -> Result<u64, FolioError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| FolioError::Internal(e.to_string()))?;
    // Keep seeds short enough to read aloud and type: 9 digits.
    Ok(u64::from_le_bytes(b) % 1_000_000_000)
}

/// The plan for `batch` with `seed`: the recorded one, or drawn and
/// recorded now. Without a seed: the batch's newest plan, else a fresh
/// random seed.
pub async fn plan(
    store: &Store,
    settings: &Settings,
    batch: &BatchRow,
    seed: Option<u64>,
    aql: Option<f64>,
    actor: &Actor,
) -> Result<(PlanRow, Vec<PlanItem>), FolioError> {
    if let Some(a) = aql {
        sampling::aql_index(a).map_err(|e| FolioError::Usage(e.to_string()))?;
    }
    let seed = match seed {
        Some(s) => s.to_string(),
        None => match store.latest_plan_seed(&batch.id).await? {
            Some(s) => s,
            None => fresh_seed()?.to_string(),
        },
    };
    let n = parse_seed(&seed)?;
    store
        .acceptance_plan(
            &batch.id,
            &seed,
            aql,
            settings.acceptance.aql,
            actor,
            |lot| {
                let p = sampling::plan(lot, n).map_err(|e| FolioError::input(&batch.name, e))?;
                Ok(Drawn {
                    code_letter: p.code_letter,
                    sample_size: p.sample_size,
                    picks: p.picks,
                })
            },
        )
        .await
}

/// The plan as the interface answers it.
pub fn answer(plan: &PlanRow, items: &[PlanItem]) -> PlanAnswer {
    PlanAnswer {
        lot_size: plan.lot_size,
        code_letter: plan.code_letter.clone(),
        sample_size: plan.sample_size,
        items: items
            .iter()
            .map(|i| Item {
                document: i.document.clone(),
                page: i.page,
            })
            .collect(),
        batch: plan.batch_id.clone(),
        seed: plan.seed.clone(),
        aql: plan.aql,
    }
}

/// The acceptance record: the plan, every item's result and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub batch: String,
    pub batch_name: String,
    pub seed: String,
    pub aql: f64,
    pub lot_size: i64,
    pub code_letter: String,
    pub sample_size: i64,
    pub min_pass_rate: f64,
    pub drawn_by: String,
    pub drawn_at: String,
    pub verdict: sampling::Verdict,
    /// `accepted`, `rejected` or `pending`.
    pub decision: String,
    pub items: Vec<PlanItem>,
}

/// Judges a recorded plan's results.
pub fn judge(
    batch: &BatchRow,
    plan: &PlanRow,
    items: Vec<PlanItem>,
    min_pass_rate: f64,
) -> Result<Record, FolioError> {
    let count = |r: &str| {
        items
            .iter()
            .filter(|i| i.result.as_deref() == Some(r))
            .count() as u64
    };
    let letter = plan.code_letter.chars().next().unwrap_or('A');
    let verdict = sampling::verdict(
        letter,
        plan.aql,
        items.len() as u64,
        count("pass"),
        count("fail"),
        min_pass_rate,
    )
    .map_err(|e| FolioError::Internal(e.to_string()))?;
    Ok(Record {
        batch: batch.id.clone(),
        batch_name: batch.name.clone(),
        seed: plan.seed.clone(),
        aql: plan.aql,
        lot_size: plan.lot_size,
        code_letter: plan.code_letter.clone(),
        sample_size: plan.sample_size,
        min_pass_rate,
        drawn_by: plan.drawn_by.clone(),
        drawn_at: plan.drawn_at.clone(),
        decision: match verdict.accepted {
            Some(true) => "accepted",
            Some(false) => "rejected",
            None => "pending",
        }
        .into(),
        verdict,
        items,
    })
}

/// Writes the record into the batch's delivery folder (atomically: a
/// temporary file renamed into place) and returns its path.
pub fn write_record(batch: &BatchRow, record: &Record) -> Result<PathBuf, FolioError> {
    let path = record_path(batch);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| FolioError::output(dir, e))?;
    let tmp = dir.join(format!(".acceptance-{}.json.tmp", batch.id));
    let text =
        serde_json::to_string_pretty(record).map_err(|e| FolioError::Internal(e.to_string()))?;
    std::fs::write(&tmp, text + "\n").map_err(|e| FolioError::output(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| FolioError::output(&path, e))?;
    Ok(path)
}

/// The plan of `batch` with `seed`, or its newest; an error when none
/// was drawn.
pub async fn recorded(
    store: &Store,
    batch: &BatchRow,
    seed: Option<u64>,
) -> Result<(PlanRow, Vec<PlanItem>), FolioError> {
    let seed = match seed {
        Some(s) => s.to_string(),
        None => store.latest_plan_seed(&batch.id).await?.ok_or_else(|| {
            FolioError::Usage(format!(
                "batch {} has no acceptance plan yet: draw one with `folio accept plan {}`",
                batch.name, batch.id
            ))
        })?,
    };
    store
        .recorded_plan(&batch.id, &seed)
        .await?
        .ok_or_else(|| {
            FolioError::Usage(format!(
                "batch {} has no plan with seed {seed}: draw it with `folio accept plan {} --seed {seed}`",
                batch.name, batch.id
            ))
        })
}

/// Records one inspection result and, once the verdict is in, writes the
/// acceptance record. Returns the record as it stands.
#[allow(clippy::too_many_arguments)]
pub async fn inspect(
    store: &Store,
    settings: &Settings,
    batch: &BatchRow,
    seed: Option<u64>,
    document: &str,
    page: i64,
    pass: bool,
    reason: &str,
    actor: &Actor,
) -> Result<Record, FolioError> {
    if !pass && reason.trim().is_empty() {
        return Err(FolioError::Usage(
            "a failed page needs a reason (what is wrong with it)".into(),
        ));
    }
    let (plan, _) = recorded(store, batch, seed).await?;
    if !store
        .record_inspection(
            &batch.id,
            &plan.seed,
            document,
            page,
            pass,
            reason.trim(),
            actor,
        )
        .await?
    {
        return Err(FolioError::Usage(format!(
            "page {page} of document {document} is not in the sample of batch {} seed {}",
            batch.name, plan.seed
        )));
    }
    let (plan, items) = recorded(store, batch, parse_seed(&plan.seed).ok()).await?;
    let record = judge(batch, &plan, items, settings.acceptance.pass_rate)?;
    if record.verdict.accepted.is_some() {
        write_record(batch, &record)?;
    }
    Ok(record)
}

/// `folio accept plan`.
pub async fn run_plan(
    store: &Store,
    settings: &Settings,
    key: &str,
    seed: Option<u64>,
    aql: Option<f64>,
    json: bool,
) -> Result<ExitCode, FolioError> {
    let batch = find(store, key).await?;
    let (plan, items) = plan(store, settings, &batch, seed, aql, &Actor::user()).await?;
    let a = answer(&plan, &items);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&a).map_err(|e| FolioError::Internal(e.to_string()))?
        );
    } else {
        println!(
            "acceptance sample · batch {} ({}) · seed {} · AQL {}",
            batch.name, batch.id, a.seed, a.aql
        );
        println!(
            "lot {} page(s) → code letter {} → sample {} · {} page(s) to inspect:",
            a.lot_size,
            a.code_letter,
            a.sample_size,
            a.items.len()
        );
        for i in &a.items {
            println!("  {} page {}", i.document, i.page);
        }
    }
    Ok(ExitCode::Ok)
}

/// `folio accept verdict`: prints the record; writes it into the
/// delivery once decided. Exit 4 when rejected or still pending.
pub async fn run_verdict(
    store: &Store,
    settings: &Settings,
    key: &str,
    seed: Option<u64>,
    json: bool,
) -> Result<ExitCode, FolioError> {
    let batch = find(store, key).await?;
    let (plan, items) = recorded(store, &batch, seed).await?;
    let record = judge(&batch, &plan, items, settings.acceptance.pass_rate)?;
    let written = match record.verdict.accepted {
        Some(_) => Some(write_record(&batch, &record)?),
        None => None,
    };
    print_record(&record, written.as_deref(), json)?;
    Ok(if record.verdict.accepted == Some(true) {
        ExitCode::Ok
    } else {
        ExitCode::Attention
    })
}

/// Prints a record (JSON or one line per fact).
pub fn print_record(record: &Record, written: Option<&Path>, json: bool) -> Result<(), FolioError> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(record)
                .map_err(|e| FolioError::Internal(e.to_string()))?
        );
        return Ok(());
    }
    let v = &record.verdict;
    println!(
        "acceptance · batch {} ({}) · seed {} · AQL {} · letter {} (n = {})",
        record.batch_name,
        record.batch,
        record.seed,
        record.aql,
        record.code_letter,
        record.sample_size
    );
    println!(
        "{} inspected of {}: {} pass, {} fail ({:.1} % pass; needs {:.1} %{}) → {}",
        v.inspected,
        record.items.len(),
        v.passed,
        v.failed,
        v.pass_rate * 100.0,
        record.min_pass_rate * 100.0,
        v.acceptance_number
            .map(|ac| format!(", at most {ac} failing"))
            .unwrap_or_default(),
        record.decision.to_uppercase()
    );
    for i in record
        .items
        .iter()
        .filter(|i| i.result.as_deref() == Some("fail"))
    {
        println!(
            "  FAIL {} page {}: {}",
            i.document,
            i.page,
            i.reason.as_deref().unwrap_or("")
        );
    }
    if let Some(p) = written {
        println!("record: {}", p.display());
    }
    Ok(())
}
