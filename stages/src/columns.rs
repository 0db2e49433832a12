//! Reading order across a column gutter. Tesseract's layout analysis
//! sometimes takes two columns of text for one: each of its lines then
//! runs from the left column across the gutter into the right one, and
//! the page reads line by line across both (a two-column transcript read
//! this way measured CER 65–68 % instead of 0–11 %, with the same words).
//! Whether it happens depends on the resolution the engine is told and on
//! small shifts of the image, so OCRmyPDF and Folio can differ on the same
//! page. This finds such lines after recognition — a run of lines that all
//! hold a wide gap at one x, with prose on both sides — and reads the left
//! parts first, then the right. Tables (numbers on one side) and forms
//! (single labels and values) are left as Tesseract ordered them.

use crate::page::Word;

/// A gap at least this many line heights wide may be a gutter (word
/// spaces measured 0.5–1.2 line heights; tabs after "Q." or "A." in
/// transcripts up to 2.6; gutters of merged columns 20 and more).
const MIN_GAP_LINE_HEIGHTS: f32 = 4.0;
/// At least this many lines must cross one gutter: a few rows of a form
/// with a wide gap are not columns.
const MIN_CROSSING_LINES: usize = 4;
/// Each side must average at least this many words a line (a column of
/// line numbers beside text is not a column of text).
const MIN_WORDS_PER_LINE: f32 = 2.0;
/// ... and this share of each side's words must be mostly letters:
/// tables of label and figures have numbers on the right.
const MIN_PROSE_SHARE: f32 = 0.6;

/// One text line of the page: a range of `words`.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    top: u32,
    bottom: u32,
}

impl Line {
    fn height(&self) -> u32 {
        self.bottom.saturating_sub(self.top).max(1)
    }

    fn middle(&self) -> u32 {
        (self.top + self.bottom) / 2
    }
}

fn lines_of(words: &[Word]) -> Vec<Line> {
    crate::page::line_ranges(words)
        .into_iter()
        .map(|r| {
            let group = &words[r.clone()];
            Line {
                start: r.start,
                end: r.end,
                top: group.iter().map(|w| w.bbox.y0).min().unwrap_or(0),
                bottom: group.iter().map(|w| w.bbox.y1).max().unwrap_or(0),
            }
        })
        .collect()
}

/// Gaps of a line at least `MIN_GAP_LINE_HEIGHTS` wide, as x ranges.
fn wide_gaps(words: &[Word], line: &Line) -> Vec<(u32, u32)> {
    let mut xs: Vec<(u32, u32)> = words[line.start..line.end]
        .iter()
        .map(|w| (w.bbox.x0, w.bbox.x1))
        .collect();
    xs.sort_unstable();
    let min = line.height() as f32 * MIN_GAP_LINE_HEIGHTS;
    let mut reach = 0;
    let mut gaps = Vec::new();
    for (k, &(x0, x1)) in xs.iter().enumerate() {
        if k > 0 && x0 > reach && (x0 - reach) as f32 >= min {
            gaps.push((reach, x0));
        }
        reach = reach.max(x1);
    }
    gaps
}

/// Which side of the gutter at `x` a whole line is on; `None` when a word
/// lies across it or the line has words on both sides.
fn side(words: &[Word], line: &Line, x: u32) -> Option<bool> {
    let ws = &words[line.start..line.end];
    if ws.iter().all(|w| w.bbox.x1 <= x) {
        Some(true)
    } else if ws.iter().all(|w| w.bbox.x0 >= x) {
        Some(false)
    } else {
        None
    }
}

/// Left of the gutter at `x`; every other word of a run is right of it
/// (a run's lines have no word across `x`), so no word is ever lost.
fn is_left(w: &Word, x: u32) -> bool {
    w.bbox.x1 <= x
}

fn is_prose(text: &str) -> bool {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    letters * 2 >= text.chars().count().max(1)
}

/// Words in reading order when Tesseract read two columns as one: `None`
/// when no run of lines crosses a gutter (the usual case; the page is left
/// as Tesseract ordered it). Split lines become lines of their own, the
/// left column's before the right one's; line numbers are renumbered so
/// that every line is one group of consecutive words.
pub fn reorder_merged_columns(words: &[Word]) -> Option<Vec<Word>> {
    let lines = lines_of(words);
    let gaps: Vec<(usize, (u32, u32))> = lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| wide_gaps(words, l).into_iter().map(move |g| (i, g)))
        .collect();
    // The gutter: the x inside the most lines' wide gaps.
    let crossing_at = |x: u32| {
        let mut ls: Vec<usize> = gaps
            .iter()
            .filter(|(_, (a, b))| *a < x && x < *b)
            .map(|(i, _)| *i)
            .collect();
        ls.dedup();
        ls
    };
    let (x, crossing) = gaps
        .iter()
        .map(|(_, (a, b))| (a + b) / 2)
        .map(|x| (x, crossing_at(x)))
        .max_by_key(|(x, ls)| (ls.len(), std::cmp::Reverse(*x)))?;
    if crossing.len() < MIN_CROSSING_LINES {
        return None;
    }
    let crosses = |i: usize| crossing.binary_search(&i).is_ok();
    // Runs: crossing lines with lines wholly on one side between them,
    // widened to one-sided lines beside the run (a column's first or last
    // lines that Tesseract kept apart).
    let mut moves: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !crosses(i) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut count = 0;
        while j < lines.len() && (crosses(j) || side(words, &lines[j], x).is_some()) {
            count += usize::from(crosses(j));
            j += 1;
        }
        while j > i && !crosses(j - 1) {
            j -= 1;
        }
        let run = &lines[i..j];
        let top = run.iter().map(|l| l.top).min().unwrap_or(0);
        let bottom = run.iter().map(|l| l.bottom).max().unwrap_or(0);
        let margin = run.iter().map(Line::height).max().unwrap_or(0);
        let beside = |l: &Line| l.middle() + margin >= top && l.middle() <= bottom + margin;
        let done = moves.last().map_or(0, |m| m.1);
        let mut a = i;
        while a > done && side(words, &lines[a - 1], x).is_some() && beside(&lines[a - 1]) {
            a -= 1;
        }
        let mut b = j;
        while b < lines.len() && side(words, &lines[b], x).is_some() && beside(&lines[b]) {
            b += 1;
        }
        if count >= MIN_CROSSING_LINES && both_sides_are_prose(words, &lines[a..b], x) {
            moves.push((a, b));
            i = b;
        } else {
            i = j.max(i + 1);
        }
    }
    if moves.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(words.len());
    let mut next_block = words.iter().map(|w| w.line.0).max().unwrap_or(0) + 1;
    let mut k = 0;
    for &(a, b) in &moves {
        for l in &lines[k..a] {
            out.extend_from_slice(&words[l.start..l.end]);
        }
        for left in [true, false] {
            let mut n = 0;
            for l in &lines[a..b] {
                let part = words[l.start..l.end]
                    .iter()
                    .filter(|w| is_left(w, x) == left);
                let before = out.len();
                out.extend(part.cloned());
                if out.len() > before {
                    n += 1;
                    for w in &mut out[before..] {
                        w.line = (next_block, 1, n);
                    }
                }
            }
            next_block += 1;
        }
        k = b;
    }
    for l in &lines[k..] {
        out.extend_from_slice(&words[l.start..l.end]);
    }
    Some(out)
}

fn both_sides_are_prose(words: &[Word], run: &[Line], x: u32) -> bool {
    [true, false].iter().all(|&left| {
        let (mut lines, mut count, mut prose) = (0, 0, 0);
        for l in run {
            let part: Vec<&Word> = words[l.start..l.end]
                .iter()
                .filter(|w| is_left(w, x) == left)
                .collect();
            if !part.is_empty() {
                lines += 1;
                count += part.len();
                prose += part.iter().filter(|w| is_prose(&w.text)).count();
            }
        }
        lines > 0
            && count as f32 >= MIN_WORDS_PER_LINE * lines as f32
            && prose as f32 >= MIN_PROSE_SHARE * count as f32
    })
}

/// The page's plain text from words in reading order: one line per text
/// line, a blank line between blocks, no space between two CJK characters.
pub fn text_of(words: &[Word]) -> String {
    let mut out = String::new();
    let mut prev: Option<&Word> = None;
    for w in words {
        if let Some(p) = prev {
            if p.line.0 != w.line.0 {
                out.push_str("\n\n");
            } else if p.line != w.line {
                out.push('\n');
            } else if !(crate::script::ends_cjk(&p.text) && crate::script::starts_cjk(&w.text)) {
                out.push(' ');
            }
        }
        out.push_str(&w.text);
        prev = Some(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BBox;

    fn w(text: &str, x0: u32, y: u32, line: (u32, u32, u32)) -> Word {
        let width = 18 * text.chars().count() as u32;
        Word {
            text: text.into(),
            bbox: BBox {
                x0,
                y0: y,
                x1: x0 + width,
                y1: y + 30,
            },
            confidence: 90.0,
            line,
        }
    }

    /// A line of prose at `x`, words 20 px apart.
    fn prose(words: &[&str], mut x: u32, y: u32, line: (u32, u32, u32)) -> Vec<Word> {
        words
            .iter()
            .map(|t| {
                let word = w(t, x, y, line);
                x = word.bbox.x1 + 20;
                word
            })
            .collect()
    }

    fn texts(words: &[Word]) -> Vec<String> {
        text_of(words).lines().map(str::to_string).collect()
    }

    #[test]
    fn lines_merged_across_a_gutter_are_read_column_by_column() {
        let mut words = prose(&["Page", "twelve"], 100, 10, (1, 1, 1));
        for k in 0..5u32 {
            let y = 60 + 50 * k;
            let mut line = prose(&["left", "column", "line"], 100, y, (2, 1, k + 1));
            line.extend(prose(&["right", "side", "text"], 1300, y, (2, 1, k + 1)));
            words.extend(line);
        }
        words.extend(prose(&["the", "end"], 100, 400, (3, 1, 1)));
        let out = reorder_merged_columns(&words).expect("a gutter");
        assert_eq!(out.len(), words.len());
        let lines = texts(&out);
        let left = lines.iter().filter(|l| *l == "left column line").count();
        assert_eq!(left, 5);
        let first_right = lines.iter().position(|l| l == "right side text").unwrap();
        let last_left = lines.iter().rposition(|l| l == "left column line").unwrap();
        assert!(last_left < first_right, "{lines:?}");
        assert_eq!(lines.first().map(String::as_str), Some("Page twelve"));
        assert_eq!(lines.last().map(String::as_str), Some("the end"));
        // Each line is one group of consecutive words.
        let ids: Vec<_> = out.iter().map(|w| w.line).collect();
        let mut seen = std::collections::BTreeSet::new();
        for (k, id) in ids.iter().enumerate() {
            if k == 0 || ids[k - 1] != *id {
                assert!(seen.insert(*id), "line {id:?} split in two groups");
            }
        }
    }

    #[test]
    fn a_table_of_labels_and_figures_keeps_its_rows() {
        let mut words = Vec::new();
        for k in 0..6u32 {
            let mut line = prose(&["Cash", "and", "equivalents"], 100, 50 * k, (1, 1, k + 1));
            line.extend(prose(&["48,677", "54,065"], 1500, 50 * k, (1, 1, k + 1)));
            words.extend(line);
        }
        assert!(reorder_merged_columns(&words).is_none());
    }

    #[test]
    fn a_few_wide_rows_and_a_column_of_line_numbers_are_not_columns() {
        // Three rows of a form: fewer than MIN_CROSSING_LINES.
        let mut form = Vec::new();
        for k in 0..3u32 {
            let mut line = prose(&["Name", "of", "insured"], 100, 50 * k, (1, 1, k + 1));
            line.extend(prose(
                &["John", "Smith", "Senior"],
                1300,
                50 * k,
                (1, 1, k + 1),
            ));
            form.extend(line);
        }
        assert!(reorder_merged_columns(&form).is_none());
        // Line numbers far left of transcript text: one word a line.
        let mut numbered = Vec::new();
        for k in 0..8u32 {
            let mut line = vec![w(&format!("{}", k + 1), 40, 50 * k, (1, 1, k + 1))];
            line.extend(prose(
                &["Q.", "Did", "you", "see", "it"],
                600,
                50 * k,
                (1, 1, k + 1),
            ));
            numbered.extend(line);
        }
        assert!(reorder_merged_columns(&numbered).is_none());
    }

    #[test]
    fn plain_text_joins_cjk_without_spaces_and_blocks_with_a_blank_line() {
        let words = vec![
            w("姓", 0, 0, (1, 1, 1)),
            w("名", 20, 0, (1, 1, 1)),
            w("Name", 60, 0, (1, 1, 1)),
            w("next", 0, 50, (1, 1, 2)),
            w("block", 0, 100, (2, 1, 1)),
        ];
        assert_eq!(text_of(&words), "姓名 Name\nnext\n\nblock");
    }
}
