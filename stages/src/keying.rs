//! Keying: what two blind keyings of one field decide. Pure logic — the
//! station's store and web layers call it; it never sees a keyer's name.
//! Two entries agree when they are equal after the field's normalisation
//! (trimmed, full-width forms folded to ASCII, case as the field says) and
//! the agreed value passes the field's check; anything else is a conflict
//! an arbiter settles.

use crate::extract::{Case, FieldSpec, Validator};
use serde::{Deserialize, Serialize};

/// What a keyer (or arbiter) gave for a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "value", rename_all = "snake_case")]
pub enum Entry {
    /// A value as typed.
    Value(String),
    /// The paper cannot be read at that place.
    Illegible,
    /// The paper has nothing at that place.
    Empty,
}

impl Entry {
    /// The stored outcome word: `value`, `illegible` or `empty`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Entry::Value(_) => "value",
            Entry::Illegible => "illegible",
            Entry::Empty => "empty",
        }
    }

    /// The value, for `Value` entries.
    pub fn value(&self) -> Option<&str> {
        match self {
            Entry::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Rebuilds an entry from its stored outcome and value.
    pub fn from_stored(outcome: &str, value: Option<String>) -> Option<Entry> {
        match outcome {
            "value" => Some(Entry::Value(value.unwrap_or_default())),
            "illegible" => Some(Entry::Illegible),
            "empty" => Some(Entry::Empty),
            _ => None,
        }
    }
}

/// What two blind keyings decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Both said the same (after normalisation) and it passes the check.
    Agreed(Entry),
    /// An arbiter must decide; the reason says why.
    Conflict(String),
}

/// The canonical form two keyed values are compared in, and stored in:
/// surrounding spaces trimmed, full-width ASCII forms (`０-９`, `Ａ-Ｚ`,
/// `ａ-ｚ`, punctuation, ideographic space) folded to ASCII, runs of
/// inner spaces collapsed, letters cased as the field says.
pub fn normalise(raw: &str, case: Case) -> String {
    let folded: String = raw
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect();
    let collapsed = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    match case {
        Case::Upper => collapsed.to_uppercase(),
        Case::Lower => collapsed.to_lowercase(),
        Case::AsTyped => collapsed,
    }
}

/// Normalises a keyed entry for `spec` (outcomes other than a value are
/// kept as they are).
pub fn normalise_entry(entry: &Entry, spec: &FieldSpec) -> Entry {
    match entry {
        Entry::Value(v) => Entry::Value(normalise(v, spec.case)),
        other => other.clone(),
    }
}

/// Decides a field from its two blind keyings.
pub fn decide(spec: &FieldSpec, first: &Entry, second: &Entry) -> Decision {
    let a = normalise_entry(first, spec);
    let b = normalise_entry(second, spec);
    if a != b {
        return Decision::Conflict("the two keyings differ".into());
    }
    if let (Entry::Value(v), Some(check)) = (&a, spec.validate)
        && !check.check(v)
    {
        return Decision::Conflict(format!("both keyings fail the {} check", check_name(check)));
    }
    Decision::Agreed(a)
}

/// The shape a keyer is shown for a field: the class's `mask`, else one
/// derived from the check, else the pattern itself.
pub fn mask(spec: &FieldSpec) -> String {
    if let Some(m) = &spec.mask {
        return m.clone();
    }
    match spec.validate {
        Some(Validator::Date) => "YYYY-MM-DD".into(),
        Some(Validator::PrcId) => "18 characters: 17 digits, then a digit or X".into(),
        Some(Validator::Amount) => "amount, e.g. 12,345.00".into(),
        Some(Validator::Mobile) => "11 digits, starting with 1".into(),
        None if spec.pattern == crate::extract::FREE_TEXT => "free text".into(),
        None => spec.pattern.clone(),
    }
}

/// A check's name as people say it.
pub fn check_name(v: Validator) -> &'static str {
    match v {
        Validator::PrcId => "ID check digit",
        Validator::Date => "calendar date",
        Validator::Amount => "amount",
        Validator::Mobile => "mobile number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(validate: Option<Validator>, case: Case) -> FieldSpec {
        FieldSpec {
            name: "f".into(),
            labels: vec![],
            pattern: r".+".into(),
            validate,
            mask: None,
            case,
            find: None,
            zone: None,
        }
    }

    #[test]
    fn full_width_and_spaces_fold_before_comparing() {
        let s = spec(None, Case::Upper);
        let d = decide(
            &s,
            &Entry::Value(" ＤＡ－１２－３４５６ ".into()),
            &Entry::Value("da-12-3456".into()),
        );
        assert_eq!(d, Decision::Agreed(Entry::Value("DA-12-3456".into())));
    }

    #[test]
    fn case_counts_when_the_field_says_so() {
        let s = spec(None, Case::AsTyped);
        let d = decide(&s, &Entry::Value("Li".into()), &Entry::Value("LI".into()));
        assert!(matches!(d, Decision::Conflict(_)));
    }

    #[test]
    fn equal_entries_failing_the_check_go_to_arbitration() {
        let s = spec(Some(Validator::PrcId), Case::Upper);
        let bad = Entry::Value("110101199003071234".into());
        match decide(&s, &bad, &bad) {
            Decision::Conflict(why) => assert!(why.contains("ID check digit"), "{why}"),
            d => panic!("agreed on an invalid ID: {d:?}"),
        }
        let good = Entry::Value("11010519491231002x".into());
        assert_eq!(
            decide(&s, &good, &good),
            Decision::Agreed(Entry::Value("11010519491231002X".into()))
        );
    }

    #[test]
    fn outcomes_agree_only_with_the_same_outcome() {
        let s = spec(Some(Validator::Date), Case::Upper);
        assert_eq!(
            decide(&s, &Entry::Illegible, &Entry::Illegible),
            Decision::Agreed(Entry::Illegible)
        );
        assert!(matches!(
            decide(&s, &Entry::Illegible, &Entry::Empty),
            Decision::Conflict(_)
        ));
        assert!(matches!(
            decide(&s, &Entry::Empty, &Entry::Value(String::new())),
            Decision::Conflict(_)
        ));
    }
}
