//! Review flags: which image-stage findings make a page worth a person's
//! look before its document is packaged (blank, re-scan of an earlier
//! page, QC failure, an orientation or skew the stage was unsure of, a
//! batch whose page count differs from its manifest). Pure: the report
//! values in, the flags with a detail a person can read out. Whether a
//! flag holds a document, and who decides, is the pipeline's business.

use crate::prepare::ImageReport;
use crate::quality::QcReason;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// One reason a page is flagged for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The page looks empty (often the back of a sheet).
    Blank,
    /// The page repeats an earlier page of the document or batch.
    Rescan,
    /// The page failed an image-quality check.
    Qc,
    /// The quarter turn was found with low confidence.
    Orientation,
    /// The skew was found with low confidence (text lines were found).
    Deskew,
    /// The batch's page count differs from its manifest's.
    PageCount,
}

impl Flag {
    /// Every flag, in the order they are shown.
    pub const ALL: &'static [Flag] = &[
        Flag::Blank,
        Flag::Rescan,
        Flag::Qc,
        Flag::Orientation,
        Flag::Deskew,
        Flag::PageCount,
    ];

    /// The name used in folio.toml, the store and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Blank => "blank",
            Flag::Rescan => "rescan",
            Flag::Qc => "qc",
            Flag::Orientation => "orientation",
            Flag::Deskew => "deskew",
            Flag::PageCount => "page_count",
        }
    }
}

impl FromStr for Flag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flag::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown review flag '{s}' (known: {})",
                    Flag::ALL
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Confidence floors below which a finding is flagged (`[review]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlagThresholds {
    /// Orientation confidence (0..1) below this: `orientation`.
    pub min_orientation_confidence: f32,
    /// Skew confidence (0..1) below this, with text lines found
    /// (confidence above 0): `deskew`.
    pub min_deskew_confidence: f32,
}

/// What is known of one page when its document is finished.
#[derive(Debug, Clone, Copy)]
pub struct PageFacts<'a> {
    /// The image stage's report (`None` when it is not readable).
    pub report: Option<&'a ImageReport>,
    /// The label of the page this one repeats, if any.
    pub rescan_of: Option<&'a str>,
    /// Why the batch is held for its page count, if it is.
    pub page_count: Option<&'a str>,
}

/// The flags of one page, each with a detail a person can read, in
/// `Flag::ALL` order.
pub fn page_flags(facts: &PageFacts, t: &FlagThresholds) -> Vec<(Flag, String)> {
    let mut out = Vec::new();
    if let Some(r) = facts.report
        && r.blank.blank
    {
        out.push((
            Flag::Blank,
            format!("ink covers {:.2} % of the page", r.blank.ink_ratio * 100.0),
        ));
    }
    if let Some(of) = facts.rescan_of {
        out.push((Flag::Rescan, format!("re-scan of {of}")));
    }
    if let Some(r) = facts.report {
        if !r.qc.pass {
            let reasons: Vec<String> = r.qc.reasons.iter().map(qc_detail).collect();
            out.push((Flag::Qc, reasons.join("; ")));
        }
        // A blank page has nothing to orient or level: no doubt to flag.
        if !r.blank.blank {
            if r.orientation.confidence < t.min_orientation_confidence {
                out.push((
                    Flag::Orientation,
                    format!(
                        "turned {}° with confidence {:.2} < {:.2}",
                        r.orientation.degrees,
                        r.orientation.confidence,
                        t.min_orientation_confidence
                    ),
                ));
            }
            if r.skew.confidence > 0.0 && r.skew.confidence < t.min_deskew_confidence {
                out.push((
                    Flag::Deskew,
                    format!(
                        "skew {:+.2}° with confidence {:.2} < {:.2}",
                        r.skew.angle_deg, r.skew.confidence, t.min_deskew_confidence
                    ),
                ));
            }
        }
    }
    if let Some(why) = facts.page_count {
        out.push((Flag::PageCount, why.to_string()));
    }
    out
}

/// One QC reason in a few words, e.g. "dpi 150 < 200".
pub fn qc_detail(reason: &QcReason) -> String {
    match reason {
        QcReason::LowResolution {
            dpi,
            min_dpi,
            estimated,
        } => format!(
            "dpi {dpi:.0}{} < {min_dpi:.0}",
            if *estimated { " (estimated)" } else { "" }
        ),
        QcReason::WrongColorMode { found, required } => {
            format!("colour mode {found:?} where {required:?} is required").to_lowercase()
        }
        QcReason::TooDark { paper_level } => format!("too dark (paper level {paper_level:.0})"),
        QcReason::TooLight { ink_level } => format!("too light (ink level {ink_level:.0})"),
        QcReason::LowContrast { contrast } => format!("low contrast ({contrast:.0})"),
        QcReason::Noisy { noise } => format!("noisy ({:.2} % specks)", noise * 100.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blank::BlankVerdict;
    use crate::deskew::Skew;
    use crate::orient::Orientation;
    use crate::quality::QcVerdict;
    use crate::rescan::PageHash;

    fn report(blank: bool, orient: f32, skew: f32, qc: Vec<QcReason>) -> ImageReport {
        ImageReport {
            orientation: Orientation {
                degrees: 0,
                confidence: orient,
            },
            skew: Skew {
                angle_deg: 1.5,
                confidence: skew,
            },
            crop: None,
            scan_origin: [0.0, 0.0],
            blank: BlankVerdict {
                blank,
                ink_ratio: 0.001,
            },
            qc: QcVerdict {
                pass: qc.is_empty(),
                reasons: qc,
            },
            hash: PageHash(vec![0]),
            ms: 0.0,
            steps: Default::default(),
        }
    }

    const T: FlagThresholds = FlagThresholds {
        min_orientation_confidence: 0.1,
        min_deskew_confidence: 0.1,
    };

    fn flags_of(r: &ImageReport, rescan: Option<&str>, count: Option<&str>) -> Vec<Flag> {
        page_flags(
            &PageFacts {
                report: Some(r),
                rescan_of: rescan,
                page_count: count,
            },
            &T,
        )
        .into_iter()
        .map(|(f, _)| f)
        .collect()
    }

    #[test]
    fn a_clean_page_has_no_flag_and_each_finding_its_own() {
        assert!(flags_of(&report(false, 0.9, 0.5, vec![]), None, None).is_empty());
        assert_eq!(
            flags_of(&report(true, 0.0, 0.0, vec![]), None, None),
            vec![Flag::Blank]
        );
        assert_eq!(
            flags_of(&report(false, 0.05, 0.5, vec![]), None, None),
            vec![Flag::Orientation]
        );
        assert_eq!(
            flags_of(&report(false, 0.9, 0.05, vec![]), None, None),
            vec![Flag::Deskew]
        );
        // No text lines found (confidence 0) is no doubt about the skew.
        assert!(flags_of(&report(false, 0.9, 0.0, vec![]), None, None).is_empty());
        let low = QcReason::LowResolution {
            dpi: 150.0,
            min_dpi: 200.0,
            estimated: false,
        };
        let all = page_flags(
            &PageFacts {
                report: Some(&report(false, 0.9, 0.5, vec![low])),
                rescan_of: Some("d/p0001"),
                page_count: Some("found 3, expected 4"),
            },
            &T,
        );
        assert_eq!(
            all.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            vec![Flag::Rescan, Flag::Qc, Flag::PageCount]
        );
        assert_eq!(all[0].1, "re-scan of d/p0001");
        assert_eq!(all[1].1, "dpi 150 < 200");
    }

    #[test]
    fn flag_names_round_trip_and_unknown_names_are_refused() {
        for f in Flag::ALL {
            assert_eq!(f.as_str().parse::<Flag>().unwrap(), *f);
            assert_eq!(
                serde_json::to_string(f).unwrap(),
                format!("\"{}\"", f.as_str())
            );
        }
        let e = "blanc".parse::<Flag>().unwrap_err();
        assert!(e.contains("blanc") && e.contains("page_count"), "{e}");
    }
}
