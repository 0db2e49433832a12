//! Scripts written without spaces between words (Chinese, Japanese):
//! where text is rebuilt from words, two such characters are joined
//! without the space a Latin word boundary gets. Korean writes spaces
//! between words, so Hangul is not among them.

/// True for a character of a script written without word spaces.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF | 0x3000..=0x303F | 0x3040..=0x30FF | 0x3100..=0x31BF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        | 0xFF00..=0xFFEF | 0x20000..=0x2FFFF)
}

/// True when `s` ends with such a character.
pub fn ends_cjk(s: &str) -> bool {
    s.chars().last().is_some_and(is_cjk)
}

/// True when `s` starts with such a character.
pub fn starts_cjk(s: &str) -> bool {
    s.chars().next().is_some_and(is_cjk)
}
