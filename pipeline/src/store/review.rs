//! The store's part of review holds: the flags found on each page when
//! its document was finished, the decision a person (or the worker, for
//! `drop_blank_backs`) took on it, documents held until their last
//! holding flag is decided, and re-scanned pages that take a rejected
//! page's place. Every decision and hold is an event with its actor, in
//! the transaction that makes it. No file work and no settings here: the
//! caller says which flags hold (`FoundFlag::holds`).

use super::{Actor, AnyQuery, DocClaim, FileRow, FileState, QueuedDocument, Store, Tx};
use crate::error::FolioError;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::str::FromStr;

pub use folio_stages::review::Flag;

/// What a person decided about a flagged page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Package the page as it is.
    Keep,
    /// Leave the page out of the package (its master stays in the store).
    Drop,
    /// Hold the document until a re-scan of the page arrives.
    Rescan,
}

impl Decision {
    /// Every decision.
    pub const ALL: &'static [Decision] = &[Decision::Keep, Decision::Drop, Decision::Rescan];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Drop => "drop",
            Decision::Rescan => "rescan",
        }
    }
}

impl FromStr for Decision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decision::ALL
            .iter()
            .copied()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown decision '{s}' (keep, drop or rescan)"))
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One flag on a page, with what a person needs to judge it.
#[derive(Debug, Clone, Serialize)]
pub struct FlagNote {
    pub flag: Flag,
    /// e.g. "re-scan of DOC/p0002", "dpi 150 < 200".
    pub detail: String,
}

/// One page of a batch as the review lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewPage {
    /// `pages.id`: what a decision names.
    pub page_id: i64,
    pub document_id: String,
    /// 1-based page number in the document.
    pub seq: i64,
    /// The original file's name as scanned.
    pub original: String,
    /// 1-based page in that file.
    pub file_page: i64,
    /// Empty for a clean page.
    pub flags: Vec<FlagNote>,
    /// Some flag held the document when it was finished and no decision
    /// is taken yet (a `page_count` flag only while its batch is held).
    pub holds: bool,
    pub decision: Option<Decision>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// The re-scanned page that took this one's place (listed pages are
    /// never replaced ones, so this stays empty in `review_pages`).
    pub replaced_by: Option<i64>,
    /// The document's state; `held` while it waits for decisions or a
    /// re-scan.
    pub document_state: String,
}

/// An open request for a re-scan of one page.
#[derive(Debug, Clone, Serialize)]
pub struct RescanRequest {
    /// The batch's name.
    pub batch: String,
    pub document_id: String,
    pub seq: i64,
    pub original: String,
    pub file_page: i64,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: String,
    /// `DOC:PAGE`, exactly as a re-scan folder's `batch.toml` `replaces`
    /// wants it.
    pub replaces: String,
}

/// A flag found on a page when its document was finished.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundFlag {
    pub page_id: i64,
    pub flag: Flag,
    pub detail: String,
    /// `[review] hold` lists the flag.
    pub holds: bool,
}

/// A decision the worker takes by rule (`drop_blank_backs`).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoDecision {
    pub page_id: i64,
    pub decision: Decision,
    pub reason: String,
}

/// What recording a decision did.
#[derive(Debug, Clone)]
pub struct PageDecided {
    pub document_id: String,
    /// Pages of the document whose holding flags are still undecided.
    pub undecided_left: usize,
    /// The document's finishing lease, handed to the caller's finisher
    /// when this was its last open hold: package it now.
    pub claim: Option<DocClaim>,
}

/// A document waiting for decisions or re-scans, for `folio run`'s
/// summary.
#[derive(Debug, Clone, Serialize)]
pub struct HeldDocument {
    pub document_id: String,
    /// The pages that hold it: undecided holding flags, or a re-scan
    /// requested and not yet arrived.
    pub pages: Vec<ReviewPage>,
}

/// One page of a re-scan folder and the page it replaces.
#[derive(Debug, Clone)]
pub struct RescanPage {
    /// The new file (already in the object store).
    pub sha256: String,
    /// 1-based page in that file.
    pub file_page: i64,
    /// The page it takes the place of.
    pub replaces: i64,
}

/// A page that may be replaced by a re-scan, found by `DOC:PAGE`.
#[derive(Debug, Clone)]
pub struct RescanTarget {
    pub page_id: i64,
    pub batch_id: String,
    /// Its decision (a re-scan may only replace a page awaiting one).
    pub decision: Option<Decision>,
    pub replaced_by: Option<i64>,
    /// The file its image comes from.
    pub file_sha256: String,
}

/// The pages that hold a document (`$1` = document id): undecided
/// holding flags other than `page_count` (the batch hold covers those),
/// and re-scans requested but not arrived.
const OPEN_HOLDS: &str = "SELECT COUNT(*) FROM pages p WHERE p.document_id = $1 AND p.replaced_by IS NULL AND ( \
     (p.decision IS NULL AND EXISTS (SELECT 1 FROM page_flags f WHERE f.page_id = p.id AND f.holds AND f.flag <> 'page_count')) \
     OR p.decision = 'rescan')";

const REVIEW_COLUMNS: &str = "p.id, p.document_id, p.seq, fi.original_name, p.file_page, p.decision, p.decided_by, \
     CAST(p.decided_at AS TEXT), d.state, CAST(CASE WHEN d.review_pending THEN 1 ELSE 0 END AS BIGINT), \
     CAST(CASE WHEN b.held IS NULL THEN 0 ELSE 1 END AS BIGINT), p.replaced_by";

impl Store {
    /// The single number a counting query gives.
    pub(super) async fn count(&self, tx: &mut Tx, query: AnyQuery<'_>) -> Result<i64, FolioError> {
        query
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))
    }

    /// Every page of a batch (replaced ones left out) with its flags and
    /// decision, in document and page order.
    pub async fn review_pages(&self, batch_id: &str) -> Result<Vec<ReviewPage>, FolioError> {
        self.review_rows("d.batch_id = $1", batch_id).await
    }

    async fn review_rows(&self, filter: &str, arg: &str) -> Result<Vec<ReviewPage>, FolioError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REVIEW_COLUMNS} FROM pages p JOIN documents d ON d.id = p.document_id \
             JOIN batches b ON b.id = d.batch_id JOIN files fi ON fi.sha256 = p.file_sha256 \
             WHERE {filter} AND p.replaced_by IS NULL ORDER BY d.seq, p.seq"
        )))
        .bind(arg)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let flags = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT f.page_id, f.flag, f.detail, CAST(CASE WHEN f.holds THEN 1 ELSE 0 END AS BIGINT) \
             FROM page_flags f JOIN pages p ON p.id = f.page_id JOIN documents d ON d.id = p.document_id \
             WHERE {filter} ORDER BY f.page_id"
        )))
        .bind(arg)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut notes: std::collections::BTreeMap<i64, Vec<(Flag, String, bool)>> =
            Default::default();
        for r in &flags {
            let (id, flag, detail, holds): (i64, String, String, i64) = (|| {
                Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
            })()
            .map_err(|e| self.err(e))?;
            let flag: Flag = flag.parse().map_err(|e: String| self.err(e))?;
            notes
                .entry(id)
                .or_default()
                .push((flag, detail, holds != 0));
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let page = (|| {
                let id: i64 = r.try_get(0)?;
                let decision: Option<String> = r.try_get(5)?;
                let state: String = r.try_get(8)?;
                let pending: i64 = r.try_get(9)?;
                let batch_held: i64 = r.try_get(10)?;
                Ok::<_, sqlx::Error>((
                    id,
                    r.try_get::<String, _>(1)?,
                    r.try_get::<i64, _>(2)?,
                    r.try_get::<String, _>(3)?,
                    r.try_get::<i64, _>(4)?,
                    decision,
                    r.try_get::<Option<String>, _>(6)?,
                    r.try_get::<Option<String>, _>(7)?,
                    state,
                    pending != 0,
                    batch_held != 0,
                    r.try_get::<Option<i64>, _>(11)?,
                ))
            })()
            .map_err(|e| self.err(e))?;
            let (id, doc, seq, original, file_page, decision, by, at, state, pending, held, repl) =
                page;
            let decision = decision
                .map(|d| d.parse::<Decision>())
                .transpose()
                .map_err(|e| self.err(e))?;
            let mine = notes.remove(&id).unwrap_or_default();
            let holds = decision.is_none()
                && mine
                    .iter()
                    .any(|(f, _, h)| *h && (*f != Flag::PageCount || held));
            let document_state = if state == "finishing" && (pending || held) {
                "held".to_string()
            } else {
                state
            };
            out.push(ReviewPage {
                page_id: id,
                document_id: doc,
                seq,
                original,
                file_page,
                flags: mine
                    .into_iter()
                    .map(|(flag, detail, _)| FlagNote { flag, detail })
                    .collect(),
                holds,
                decision,
                decided_by: by,
                decided_at: at,
                replaced_by: repl,
                document_state,
            });
        }
        Ok(out)
    }

    /// The open re-scan requests of a batch: pages decided `rescan` that
    /// no re-scanned page has replaced yet, in document and page order.
    pub async fn rescan_requests(&self, batch_id: &str) -> Result<Vec<RescanRequest>, FolioError> {
        self.fetch_map(
            sqlx::query(
                "SELECT b.name, p.document_id, p.seq, fi.original_name, p.file_page, \
                 COALESCE(p.decision_reason, ''), COALESCE(p.decided_by, ''), COALESCE(CAST(p.decided_at AS TEXT), '') \
                 FROM pages p JOIN documents d ON d.id = p.document_id JOIN batches b ON b.id = d.batch_id \
                 JOIN files fi ON fi.sha256 = p.file_sha256 \
                 WHERE d.batch_id = $1 AND p.decision = 'rescan' AND p.replaced_by IS NULL ORDER BY d.seq, p.seq",
            )
            .bind(batch_id),
            |r| {
                let doc: String = r.try_get(1)?;
                let seq: i64 = r.try_get(2)?;
                Ok(RescanRequest {
                    batch: r.try_get(0)?,
                    replaces: format!("{doc}:{seq}"),
                    document_id: doc,
                    seq,
                    original: r.try_get(3)?,
                    file_page: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    requested_by: r.try_get(6)?,
                    requested_at: r.try_get(7)?,
                })
            },
        )
        .await
    }

    /// Documents of a batch held for review, with the pages that hold
    /// them.
    pub async fn held_documents(&self, batch_id: &str) -> Result<Vec<HeldDocument>, FolioError> {
        let mut out: Vec<HeldDocument> = Vec::new();
        for p in self.review_pages(batch_id).await? {
            if p.document_state != "held" {
                continue;
            }
            let holding = p.holds || p.decision == Some(Decision::Rescan);
            match out.last_mut() {
                Some(d) if d.document_id == p.document_id => {
                    if holding {
                        d.pages.push(p);
                    }
                }
                _ => out.push(HeldDocument {
                    document_id: p.document_id.clone(),
                    pages: if holding { vec![p] } else { Vec::new() },
                }),
            }
        }
        Ok(out)
    }

    /// Records the flags found on a document's pages (a flag recorded
    /// before is kept as it was) and the worker's rule-based decisions
    /// (only on pages nobody decided yet), if `claim` still holds the
    /// document. Returns false when the lease was lost.
    pub async fn record_flags(
        &self,
        claim: &DocClaim,
        flags: &[FoundFlag],
        auto: &[AutoDecision],
        worker: &Actor,
    ) -> Result<bool, FolioError> {
        if flags.is_empty() && auto.is_empty() {
            return Ok(true);
        }
        let mut tx = self.begin().await?;
        let mine = self.count(
            &mut tx,
            sqlx::query(
            "SELECT COUNT(*) FROM documents WHERE id = $1 AND lease_token = $2 AND state = 'finishing'",
        )
        .bind(&claim.document_id)
        .bind(&claim.token),
        )
        .await?;
        if mine == 0 {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(false);
        }
        for f in flags {
            let added = sqlx::query(
                "INSERT INTO page_flags (page_id, flag, detail, holds) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (page_id, flag) DO NOTHING",
            )
            .bind(f.page_id)
            .bind(f.flag.as_str())
            .bind(&f.detail)
            .bind(f.holds)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
            if added == 1 {
                let why = format!(
                    "flagged {}: {}{}",
                    f.flag,
                    f.detail,
                    if f.holds {
                        " (holds the document for a decision)"
                    } else {
                        ""
                    }
                );
                self.event(
                    &mut tx,
                    worker,
                    ("page", &f.page_id.to_string()),
                    (Some("done"), "flagged"),
                    &why,
                )
                .await?;
            }
        }
        for a in auto {
            let taken = sqlx::query(self.sql(
                "UPDATE pages SET decision = $1, decided_by = $2, decided_at = {now}, decision_reason = $3 \
                 WHERE id = $4 AND decision IS NULL",
            ))
            .bind(a.decision.as_str())
            .bind(worker.as_str())
            .bind(&a.reason)
            .bind(a.page_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
            if taken == 1 {
                self.event(
                    &mut tx,
                    worker,
                    ("page", &a.page_id.to_string()),
                    (Some("flagged"), a.decision.as_str()),
                    &format!("decided {}: {}", a.decision, a.reason),
                )
                .await?;
            }
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Called by the worker that is to finish a document: when some page
    /// holds it (an undecided holding flag, or a re-scan not arrived),
    /// gives the lease back, marks it held (claims skip it until the last
    /// hold is decided) with an event saying why, and returns that
    /// reason. The hold is counted and set under the document's row lock,
    /// so a decision committing at the same time is never missed.
    pub async fn hold_for_review(
        &self,
        claim: &DocClaim,
        worker: &Actor,
    ) -> Result<Option<String>, FolioError> {
        let mut tx = self.begin().await?;
        let mine = sqlx::query(self.sql(
            "SELECT id FROM documents WHERE id = $1 AND lease_token = $2 AND state = 'finishing' {for_update}",
        ))
        .bind(&claim.document_id)
        .bind(&claim.token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if mine.is_none() {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(None);
        }
        let open = self.open_holds(&mut tx, &claim.document_id).await?;
        if open.is_empty() {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(None);
        }
        sqlx::query(
            "UPDATE documents SET review_pending = $1, lease_owner = NULL, lease_token = NULL, \
             lease_expires = NULL WHERE id = $2",
        )
        .bind(true)
        .bind(&claim.document_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let why = format!(
            "held for review: {}; decide with `folio review decide PAGE_ID keep|drop|rescan`",
            open.join(", ")
        );
        self.event(
            &mut tx,
            worker,
            ("document", &claim.document_id),
            (Some("finishing"), "finishing"),
            &why,
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Some(why))
    }

    /// What holds a document, one phrase per page ("page 2 (id 17):
    /// blank undecided"); empty when nothing does.
    async fn open_holds(&self, tx: &mut Tx, document_id: &str) -> Result<Vec<String>, FolioError> {
        let n: i64 = sqlx::query(OPEN_HOLDS)
            .bind(document_id)
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT p.id, p.seq, p.decision, f.flag FROM pages p LEFT JOIN page_flags f \
             ON f.page_id = p.id AND f.holds AND f.flag <> 'page_count' \
             WHERE p.document_id = $1 AND p.replaced_by IS NULL ORDER BY p.seq, f.flag",
        )
        .bind(document_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        // (page id, seq, decision, holding flags), in page order.
        let mut pages: Vec<(i64, i64, Option<String>, Vec<String>)> = Vec::new();
        for r in &rows {
            let (id, seq, decision, flag): (i64, i64, Option<String>, Option<String>) = (|| {
                Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
            })(
            )
            .map_err(|e| self.err(e))?;
            match pages.last_mut() {
                Some(p) if p.0 == id => p.3.extend(flag),
                _ => pages.push((id, seq, decision, flag.into_iter().collect())),
            }
        }
        let mut out = Vec::new();
        for (id, seq, decision, flags) in pages {
            match decision.as_deref() {
                Some("rescan") => out.push(format!(
                    "page {seq} (id {id}): re-scan requested, not arrived"
                )),
                None if !flags.is_empty() => out.push(format!(
                    "page {seq} (id {id}): {} undecided",
                    flags.join("+")
                )),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Records a person's decision on a page, with an event. When it was
    /// the document's last open hold and the document is held, hands the
    /// document's finishing lease to `finisher` (`PageDecided::claim`).
    /// Unknown page: `NotFound`; a replaced page or one whose document is
    /// final: `Conflict`.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_page(
        &self,
        page_id: i64,
        decision: Decision,
        reason: &str,
        actor: &Actor,
        finisher: &Actor,
        lease_s: f64,
    ) -> Result<PageDecided, FolioError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT p.document_id, p.seq, p.decision, p.replaced_by, d.state, d.batch_id FROM pages p \
             JOIN documents d ON d.id = p.document_id WHERE p.id = $1",
        )
        .bind(page_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Err(FolioError::NotFound(format!(
                "no page with id {page_id} in the store (see `folio review list BATCH`)"
            )));
        };
        let (doc, seq, before, replaced_by, state, batch_id): (
            String,
            i64,
            Option<String>,
            Option<i64>,
            String,
            String,
        ) = (|| {
            Ok::<_, sqlx::Error>((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
                row.try_get(5)?,
            ))
        })()
        .map_err(|e| self.err(e))?;
        if let Some(new) = replaced_by {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Err(FolioError::Conflict(format!(
                "page {page_id} of {doc} was replaced by the re-scanned page {new}; decide on that one"
            )));
        }
        if !matches!(state.as_str(), "queued" | "finishing") {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Err(FolioError::Conflict(format!(
                "page {page_id} is page {seq} of {doc}, which is already {state}: decisions are taken before a document is packaged"
            )));
        }
        if decision == Decision::Drop {
            // A package needs a page: the last page left is kept or
            // re-scanned, never dropped (an empty package would not verify).
            let others: i64 = self.count(
            &mut tx,
            sqlx::query(
                "SELECT COUNT(*) FROM pages WHERE document_id = $1 AND id <> $2 AND seq > 0 \
                 AND (decision IS NULL OR decision <> 'drop')",
            )
            .bind(&doc)
            .bind(page_id),
        )
        .await?;
            if others == 0 {
                tx.rollback().await.map_err(|e| self.err(e))?;
                return Err(FolioError::Conflict(format!(
                    "page {page_id} is the last page left of {doc}: dropping it would leave an empty package; keep it or request a re-scan"
                )));
            }
        }
        sqlx::query(self.sql(
            "UPDATE pages SET decision = $1, decided_by = $2, decided_at = {now}, decision_reason = $3 WHERE id = $4",
        ))
        .bind(decision.as_str())
        .bind(actor.as_str())
        .bind(reason)
        .bind(page_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let why = if reason.trim().is_empty() {
            format!("decided {decision}")
        } else {
            format!("decided {decision}: {}", reason.trim())
        };
        self.event(
            &mut tx,
            actor,
            ("page", &page_id.to_string()),
            (
                Some(before.as_deref().unwrap_or("flagged")),
                decision.as_str(),
            ),
            &why,
        )
        .await?;
        // A batch held for its page count is released once every
        // `page_count` flag of it is decided and every document of it
        // has been finished up to its review.
        let count_flagged: i64 = self.count(
            &mut tx,
            sqlx::query(
            "SELECT COUNT(*) FROM page_flags WHERE page_id = $1 AND flag = 'page_count' AND holds",
        )
        .bind(page_id),
        )
        .await?;
        if count_flagged > 0 {
            self.release_counted_batch(&mut tx, &batch_id, actor)
                .await?;
        }
        let pending = sqlx::query(self.sql(
            "SELECT CAST(CASE WHEN d.review_pending THEN 1 ELSE 0 END AS BIGINT), d.state, \
             (SELECT COUNT(*) FROM batches b WHERE b.id = d.batch_id AND b.held IS NOT NULL) \
             FROM documents d WHERE d.id = $1 {for_update}",
        ))
        .bind(&doc)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let (pending, state, batch_held): (i64, String, i64) = (
            pending.try_get(0).map_err(|e| self.err(e))?,
            pending.try_get(1).map_err(|e| self.err(e))?,
            pending.try_get(2).map_err(|e| self.err(e))?,
        );
        let open = self.open_holds(&mut tx, &doc).await?;
        let undecided_left = self.undecided(&mut tx, &doc).await?;
        let mut claim = None;
        if pending != 0 && state == "finishing" && open.is_empty() && batch_held == 0 {
            let token = uuid::Uuid::now_v7().simple().to_string();
            sqlx::query(self.sql(
                "UPDATE documents SET review_pending = $1, lease_owner = $2, lease_token = $3, \
                 lease_expires = {later:$4} WHERE id = $5",
            ))
            .bind(false)
            .bind(finisher.as_str())
            .bind(&token)
            .bind(lease_s)
            .bind(&doc)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            self.event(
                &mut tx,
                actor,
                ("document", &doc),
                (Some("finishing"), "finishing"),
                "every holding flag decided; packaging",
            )
            .await?;
            claim = Some(DocClaim {
                document_id: doc.clone(),
                token,
            });
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(PageDecided {
            document_id: doc,
            undecided_left,
            claim,
        })
    }

    /// Pages of a document with a holding flag and no decision.
    async fn undecided(&self, tx: &mut Tx, doc: &str) -> Result<usize, FolioError> {
        let n: i64 = self.count(
            tx,
            sqlx::query(
            "SELECT COUNT(*) FROM pages p WHERE p.document_id = $1 AND p.replaced_by IS NULL \
             AND p.decision IS NULL AND EXISTS (SELECT 1 FROM page_flags f WHERE f.page_id = p.id AND f.holds \
             AND (f.flag <> 'page_count' OR EXISTS (SELECT 1 FROM documents d JOIN batches b ON b.id = d.batch_id \
             WHERE d.id = p.document_id AND b.held IS NOT NULL)))",
        )
        .bind(doc),
        )
        .await?;
        Ok(n as usize)
    }

    async fn release_counted_batch(
        &self,
        tx: &mut Tx,
        batch_id: &str,
        actor: &Actor,
    ) -> Result<(), FolioError> {
        let row = sqlx::query(
            "SELECT b.held, b.state, \
             (SELECT COUNT(*) FROM documents d WHERE d.batch_id = b.id AND d.pages_left > 0), \
             (SELECT COUNT(*) FROM page_flags f JOIN pages p ON p.id = f.page_id JOIN documents d ON d.id = p.document_id \
              WHERE d.batch_id = b.id AND f.flag = 'page_count' AND f.holds AND p.decision IS NULL AND p.replaced_by IS NULL) \
             FROM batches b WHERE b.id = $1",
        )
        .bind(batch_id)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        let held: Option<String> = row.try_get(0).map_err(|e| self.err(e))?;
        let state: String = row.try_get(1).map_err(|e| self.err(e))?;
        let working: i64 = row.try_get(2).map_err(|e| self.err(e))?;
        let undecided: i64 = row.try_get(3).map_err(|e| self.err(e))?;
        if let Some(why) = held
            && working == 0
            && undecided == 0
        {
            sqlx::query("UPDATE batches SET held = NULL WHERE id = $1")
                .bind(batch_id)
                .execute(&mut **tx)
                .await
                .map_err(|e| self.err(e))?;
            self.event(
                tx,
                actor,
                ("batch", batch_id),
                (Some(state.as_str()), state.as_str()),
                &format!("released: every page_count flag decided (was held: {why})"),
            )
            .await?;
        }
        Ok(())
    }

    /// The page `seq` of document `doc` (not replaced), for a re-scan
    /// folder's `replaces`.
    pub async fn rescan_target(
        &self,
        doc: &str,
        seq: i64,
    ) -> Result<Option<RescanTarget>, FolioError> {
        let row = sqlx::query(
            "SELECT p.id, d.batch_id, p.decision, p.replaced_by, p.file_sha256 FROM pages p JOIN documents d ON d.id = p.document_id \
             WHERE p.document_id = $1 AND p.seq = $2",
        )
        .bind(doc)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.map(|r| {
            let decision: Option<String> = r.try_get(2)?;
            Ok::<_, sqlx::Error>(RescanTarget {
                page_id: r.try_get(0)?,
                batch_id: r.try_get(1)?,
                decision: decision.and_then(|d| d.parse().ok()),
                replaced_by: r.try_get(3)?,
                file_sha256: r.try_get(4)?,
            })
        })
        .transpose()
        .map_err(|e| self.err(e))
    }

    /// Records a re-scan folder in one transaction: its files (in the
    /// original batch), and per page a new queued page that takes the
    /// place and number of the page it replaces (which keeps its row,
    /// numbered `-id`, with `replaced_by`); the documents go back to
    /// `queued` with their new pages to work. Every replaced page must
    /// still await its re-scan (checked again here): otherwise nothing is
    /// recorded and the error names `manifest`.
    pub async fn ingest_rescan(
        &self,
        batch_id: &str,
        files: &[FileRow],
        pages: &[RescanPage],
        manifest: &std::path::Path,
        actor: &Actor,
    ) -> Result<Vec<QueuedDocument>, FolioError> {
        let mut tx = self.begin().await?;
        for f in files {
            sqlx::query(self.sql(
                "INSERT INTO files (sha256, batch_id, original_name, bytes, pages, state, reason, pixels, arrived_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, {now}, {now})",
            ))
            .bind(&f.sha256)
            .bind(batch_id)
            .bind(&f.original_name)
            .bind(f.bytes)
            .bind(f.pages)
            .bind(FileState::Arrived.as_str())
            .bind(f.pixels)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let why = format!(
                "{} arrived as a re-scan ({}), {} bytes, {} page(s)",
                f.original_name,
                manifest.display(),
                f.bytes,
                f.pages
            );
            self.event(
                &mut tx,
                actor,
                ("file", &f.sha256),
                (None, FileState::Arrived.as_str()),
                &why,
            )
            .await?;
        }
        let mut docs: Vec<QueuedDocument> = Vec::new();
        for p in pages {
            let row = sqlx::query(self.sql(
                "SELECT p.document_id, p.seq, d.seq FROM pages p JOIN documents d ON d.id = p.document_id \
                 WHERE p.id = $1 AND d.batch_id = $2 AND p.decision = 'rescan' AND p.replaced_by IS NULL \
                 AND d.state IN ('queued', 'finishing') {for_update}",
            ))
            .bind(p.replaces)
            .bind(batch_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let Some(row) = row else {
                tx.rollback().await.map_err(|e| self.err(e))?;
                return Err(FolioError::input(
                    manifest,
                    format!(
                        "page id {} no longer awaits a re-scan (decided otherwise or replaced meanwhile); nothing was queued",
                        p.replaces
                    ),
                ));
            };
            let doc: String = row.try_get(0).map_err(|e| self.err(e))?;
            let seq: i64 = row.try_get(1).map_err(|e| self.err(e))?;
            let doc_seq: i64 = row.try_get(2).map_err(|e| self.err(e))?;
            sqlx::query("UPDATE pages SET seq = -id WHERE id = $1")
                .bind(p.replaces)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            let new_id: i64 = self.count(
            &mut tx,
            sqlx::query(
                "INSERT INTO pages (document_id, seq, file_sha256, file_page, state, replaces) \
                 VALUES ($1, $2, $3, $4, 'queued', $5) RETURNING id",
            )
            .bind(&doc)
            .bind(seq)
            .bind(&p.sha256)
            .bind(p.file_page)
            .bind(p.replaces),
        )
        .await?;
            sqlx::query("UPDATE pages SET replaced_by = $1 WHERE id = $2")
                .bind(new_id)
                .bind(p.replaces)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            self.event(
                &mut tx,
                actor,
                ("page", &p.replaces.to_string()),
                (Some("rescan"), "replaced"),
                &format!("replaced by the re-scanned page {new_id} (page {seq} of {doc})"),
            )
            .await?;
            self.event(
                &mut tx,
                actor,
                ("page", &new_id.to_string()),
                (None, "queued"),
                &format!(
                    "re-scan of page {seq} of {doc} (replaces page {}), from {}",
                    p.replaces,
                    manifest.display()
                ),
            )
            .await?;
            match docs.iter_mut().find(|d| d.id == doc) {
                Some(d) => d.pages += 1,
                None => docs.push(QueuedDocument {
                    id: doc,
                    seq: doc_seq,
                    pages: 1,
                }),
            }
        }
        for d in &docs {
            let before: String = sqlx::query("SELECT state FROM documents WHERE id = $1")
                .bind(&d.id)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err(e))?
                .try_get(0)
                .map_err(|e| self.err(e))?;
            sqlx::query(
                "UPDATE documents SET state = 'queued', pages_left = pages_left + $1, review_pending = $2, \
                 lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE id = $3",
            )
            .bind(d.pages as i64)
            .bind(false)
            .bind(&d.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            self.event(
                &mut tx,
                actor,
                ("document", &d.id),
                (Some(before.as_str()), "queued"),
                &format!("{} re-scanned page(s) arrived; queued", d.pages),
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(docs)
    }

    /// A document's state as stored (`None`: no such document).
    pub async fn document_state(&self, doc: &str) -> Result<Option<String>, FolioError> {
        let row = sqlx::query("SELECT state FROM documents WHERE id = $1")
            .bind(doc)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(|e| self.err(e))
    }
}
