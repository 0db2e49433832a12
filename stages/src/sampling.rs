//! Acceptance sampling as an archive inspects a delivery: ISO 2859-1
//! (GB/T 2828.1) single sampling, normal inspection, general inspection
//! level II — the code letter and sample size for a lot, the acceptance
//! number for an AQL — and a seeded draw that anyone can repeat from the
//! seed alone, so a client can check that the sample was not picked by
//! the bureau. The PRNG is written out here (SplitMix64) rather than
//! taken from a crate, so its stream can never change under us with a
//! dependency update: a recorded seed must give the same sample forever.

use serde::Serialize;

/// Lot-size upper bounds and their code letters, general inspection
/// level II (ISO 2859-1 Table 1). The last row is open-ended.
const LETTERS: [(u64, char); 15] = [
    (8, 'A'),
    (15, 'B'),
    (25, 'C'),
    (50, 'D'),
    (90, 'E'),
    (150, 'F'),
    (280, 'G'),
    (500, 'H'),
    (1_200, 'J'),
    (3_200, 'K'),
    (10_000, 'L'),
    (35_000, 'M'),
    (150_000, 'N'),
    (500_000, 'P'),
    (u64::MAX, 'Q'),
];

/// Sample sizes of the code letters (ISO 2859-1 Table 2-A), A to Q.
const SIZES: [u64; 15] = [
    2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250,
];

/// The AQL columns of Table 2-A (percent nonconforming / nonconformities
/// per hundred items), in order; an AQL must be one of them.
pub const AQLS: [f64; 26] = [
    0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10.0,
    15.0, 25.0, 40.0, 65.0, 100.0, 150.0, 250.0, 400.0, 650.0, 1000.0,
];

/// Acceptance numbers along a diagonal of Table 2-A, from the cell where
/// a letter's plan first accepts with zero nonconforming: 0, then an
/// up-arrow and a down-arrow cell, then 1, 2, 3, 5, 7, 10, 14, 21.
const DIAGONAL: [Option<u32>; 11] = [
    Some(0),
    None,
    None,
    Some(1),
    Some(2),
    Some(3),
    Some(5),
    Some(7),
    Some(10),
    Some(14),
    Some(21),
];

/// Why a sampling request cannot be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    #[error("the lot is empty: a batch with no pages cannot be sampled")]
    EmptyLot,
    #[error(
        "AQL {0} is not a column of ISO 2859-1 Table 2-A (use one of 0.010 … 1000, e.g. 1.0, 1.5, 2.5, 4.0)"
    )]
    UnknownAql(f64),
}

/// The code letter for a lot of `lot` items (level II). A lot of 1 takes
/// letter A like a lot of 2 (the table starts at 2).
pub fn code_letter(lot: u64) -> Result<char, SamplingError> {
    if lot == 0 {
        return Err(SamplingError::EmptyLot);
    }
    Ok(LETTERS
        .iter()
        .find(|(max, _)| lot <= *max)
        .map(|(_, l)| *l)
        .unwrap_or('Q'))
}

fn letter_index(letter: char) -> Option<usize> {
    LETTERS.iter().position(|(_, l)| *l == letter)
}

/// The sample size of a code letter, before any arrow of the AQL table.
pub fn sample_size(letter: char) -> Option<u64> {
    letter_index(letter).map(|i| SIZES[i])
}

/// The column of an AQL, if it is one of the table's.
pub fn aql_index(aql: f64) -> Result<usize, SamplingError> {
    AQLS.iter()
        .position(|a| (a - aql).abs() <= a * 1e-6)
        .ok_or(SamplingError::UnknownAql(aql))
}

/// The acceptance number Ac (reject at Ac + 1) of the letter's own plan
/// at this AQL, or `None` where Table 2-A has an arrow in that cell (the
/// standard then moves to another sample size; Folio keeps the letter's
/// sample and judges by the pass rate alone).
pub fn acceptance_number(letter: char, aql: f64) -> Result<Option<u32>, SamplingError> {
    let col = aql_index(aql)?;
    let Some(row) = letter_index(letter) else {
        return Ok(None);
    };
    // Ac 0 sits where n × AQL ≈ 13: A at 6.5 (column 14), one column left
    // per letter down the table.
    let zero = 14i64 - row as i64;
    let k = col as i64 - zero;
    if k < 0 {
        return Ok(None);
    }
    Ok(DIAGONAL.get(k as usize).copied().flatten())
}

/// SplitMix64: a tiny, well-known generator (Steele, Lea, Flood 2014)
/// whose stream is fixed by its definition.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..bound` (bound > 0), without modulo bias.
    pub fn below(&mut self, bound: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % bound;
            }
        }
    }
}

/// Draws `n` distinct indices of `0..lot` (all of them when `n ≥ lot`),
/// in ascending order: a partial Fisher–Yates shuffle seeded by `seed`.
/// Memory grows with the sample, not the lot.
pub fn draw(lot: u64, n: u64, seed: u64) -> Vec<u64> {
    let n = n.min(lot);
    let mut rng = SplitMix64::new(seed);
    // Sparse swap map: only positions touched by the shuffle are stored.
    let mut swapped = std::collections::HashMap::<u64, u64>::new();
    let mut picked = Vec::with_capacity(n as usize);
    for i in 0..n {
        let j = i + rng.below(lot - i);
        let at_j = *swapped.get(&j).unwrap_or(&j);
        let at_i = *swapped.get(&i).unwrap_or(&i);
        swapped.insert(j, at_i);
        picked.push(at_j);
    }
    picked.sort_unstable();
    picked
}

/// A sampling plan for a lot: what `folio accept plan` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub lot_size: u64,
    pub code_letter: char,
    pub sample_size: u64,
    /// Indices into the lot (ascending), `min(sample_size, lot_size)` of them.
    pub picks: Vec<u64>,
}

/// The plan for a lot of `lot` items with `seed`.
pub fn plan(lot: u64, seed: u64) -> Result<Plan, SamplingError> {
    let code_letter = code_letter(lot)?;
    let sample_size = sample_size(code_letter).unwrap_or(0);
    Ok(Plan {
        lot_size: lot,
        code_letter,
        sample_size,
        picks: draw(lot, sample_size, seed),
    })
}

/// What the inspection decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub inspected: u64,
    pub passed: u64,
    pub failed: u64,
    /// Items not yet inspected: no verdict while any is left.
    pub pending: u64,
    pub pass_rate: f64,
    /// Ac of the letter's plan at the AQL, where the table has a number.
    pub acceptance_number: Option<u32>,
    /// `Some(true)` accepted, `Some(false)` rejected, `None` not finished.
    pub accepted: Option<bool>,
}

/// The verdict on recorded results: accepted when every item is
/// inspected, the pass rate reaches `min_pass_rate` (DA/T 31: 0.95) and
/// the failures do not exceed the AQL plan's acceptance number (where it
/// has one). Rejected as soon as either bar cannot be met any more.
pub fn verdict(
    letter: char,
    aql: f64,
    items: u64,
    passed: u64,
    failed: u64,
    min_pass_rate: f64,
) -> Result<Verdict, SamplingError> {
    let ac = acceptance_number(letter, aql)?;
    let inspected = passed + failed;
    let pending = items.saturating_sub(inspected);
    let best_rate = if items == 0 {
        0.0
    } else {
        (items - failed.min(items)) as f64 / items as f64
    };
    let over_ac = ac.is_some_and(|ac| failed > u64::from(ac));
    let accepted = if over_ac || best_rate < min_pass_rate {
        Some(false)
    } else if pending > 0 {
        None
    } else {
        Some(true)
    };
    Ok(Verdict {
        inspected,
        passed,
        failed,
        pending,
        pass_rate: if inspected == 0 {
            0.0
        } else {
            passed as f64 / inspected as f64
        },
        acceptance_number: ac,
        accepted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_sizes_follow_the_table_at_every_boundary() {
        let cases = [
            (1, 'A', 2),
            (2, 'A', 2),
            (8, 'A', 2),
            (9, 'B', 3),
            (15, 'B', 3),
            (16, 'C', 5),
            (25, 'C', 5),
            (26, 'D', 8),
            (50, 'D', 8),
            (51, 'E', 13),
            (90, 'E', 13),
            (91, 'F', 20),
            (150, 'F', 20),
            (151, 'G', 32),
            (280, 'G', 32),
            (281, 'H', 50),
            (500, 'H', 50),
            (501, 'J', 80),
            (1200, 'J', 80),
            (1201, 'K', 125),
            (3200, 'K', 125),
            (3201, 'L', 200),
            (10000, 'L', 200),
            (10001, 'M', 315),
            (35000, 'M', 315),
            (35001, 'N', 500),
            (150000, 'N', 500),
            (150001, 'P', 800),
            (500000, 'P', 800),
            (500001, 'Q', 1250),
            (u64::MAX, 'Q', 1250),
        ];
        for (lot, letter, n) in cases {
            assert_eq!(code_letter(lot), Ok(letter), "lot {lot}");
            assert_eq!(sample_size(letter), Some(n), "letter {letter}");
        }
        assert_eq!(code_letter(0), Err(SamplingError::EmptyLot));
    }

    #[test]
    fn acceptance_numbers_match_known_cells_of_table_2a() {
        // Row J (n = 80): 0.15 → 0, 0.25 ↑, 0.40 ↓, 0.65 → 1, 1.0 → 2,
        // 1.5 → 3, 2.5 → 5, 4.0 → 7, 6.5 → 10, 10 → 14, 15 → 21, 25 ↑.
        let j = [
            (0.10, None),
            (0.15, Some(0)),
            (0.25, None),
            (0.40, None),
            (0.65, Some(1)),
            (1.0, Some(2)),
            (1.5, Some(3)),
            (2.5, Some(5)),
            (4.0, Some(7)),
            (6.5, Some(10)),
            (10.0, Some(14)),
            (15.0, Some(21)),
            (25.0, None),
        ];
        for (aql, ac) in j {
            assert_eq!(acceptance_number('J', aql), Ok(ac), "J at {aql}");
        }
        // Ac 0 down the table: A at 6.5 … Q at 0.010.
        assert_eq!(acceptance_number('A', 6.5), Ok(Some(0)));
        assert_eq!(acceptance_number('K', 0.10), Ok(Some(0)));
        assert_eq!(acceptance_number('Q', 0.010), Ok(Some(0)));
        assert_eq!(acceptance_number('K', 2.5), Ok(Some(7)));
        assert_eq!(acceptance_number('D', 2.5), Ok(None));
        assert_eq!(
            acceptance_number('J', 3.0),
            Err(SamplingError::UnknownAql(3.0))
        );
    }

    #[test]
    fn a_seed_gives_one_sample_and_another_seed_another() {
        let a = draw(1000, 80, 42);
        assert_eq!(a, draw(1000, 80, 42));
        assert_ne!(a, draw(1000, 80, 43));
        assert_eq!(a.len(), 80);
        let mut d = a.clone();
        d.dedup();
        assert_eq!(d.len(), 80, "distinct");
        assert!(a.iter().all(|i| *i < 1000));
        assert!(a.windows(2).all(|w| w[0] < w[1]), "ascending");
    }

    #[test]
    fn the_stream_is_pinned() {
        // SplitMix64's published first output for seed 0; a change here
        // would silently change every recorded plan.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(draw(10, 3, 7), draw(10, 3, 7));
    }

    #[test]
    fn a_small_lot_is_sampled_whole() {
        assert_eq!(draw(3, 5, 1), vec![0, 1, 2]);
        let p = plan(1, 9).unwrap();
        assert_eq!((p.code_letter, p.sample_size, p.picks.len()), ('A', 2, 1));
    }

    #[test]
    fn the_draw_is_roughly_uniform() {
        let mut hits = [0u32; 10];
        for seed in 0..5000 {
            for i in draw(10, 2, seed) {
                hits[i as usize] += 1;
            }
        }
        // 1000 expected per item; a biased draw strays far further.
        assert!(hits.iter().all(|h| (850..1150).contains(h)), "{hits:?}");
    }

    #[test]
    fn the_verdict_follows_the_results() {
        // Letter J, AQL 1.0: Ac 2; 80 items.
        let v = verdict('J', 1.0, 80, 78, 2, 0.95).unwrap();
        assert_eq!(v.accepted, Some(true));
        let v = verdict('J', 1.0, 80, 77, 3, 0.95).unwrap();
        assert_eq!(v.accepted, Some(false), "3 failures exceed Ac 2");
        let v = verdict('J', 1.0, 80, 10, 0, 0.95).unwrap();
        assert_eq!((v.accepted, v.pending), (None, 70));
        // Letter D, AQL 2.5: an arrow cell, judged on the pass rate.
        let v = verdict('D', 2.5, 8, 8, 0, 0.95).unwrap();
        assert_eq!((v.acceptance_number, v.accepted), (None, Some(true)));
        let v = verdict('D', 2.5, 8, 7, 1, 0.95).unwrap();
        assert_eq!(v.accepted, Some(false), "7/8 = 87.5 % < 95 %");
        assert!(verdict('D', 2.2, 8, 8, 0, 0.95).is_err());
    }
}
