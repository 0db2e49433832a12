//! Planning: how a batch's new files become documents (the class's split
//! rule) and what documents are called. Runs inside the ingest
//! transaction, on exactly the files it records. Separator sheets will
//! add a split rule here and nowhere else.

use crate::settings::{DocClass, Split};
use crate::store::{BatchRow, FileRow, PageRef, Planner};

/// Cuts pages into documents by one class's rule.
pub struct ClassPlanner<'a> {
    pub class: &'a DocClass,
}

impl Planner for ClassPlanner<'_> {
    fn groups(&self, files: &[FileRow]) -> Vec<Vec<PageRef>> {
        let all: Vec<PageRef> = files
            .iter()
            .enumerate()
            .flat_map(|(file, f)| {
                (0..f.pages.max(0) as usize).map(move |file_page| PageRef { file, file_page })
            })
            .collect();
        let groups: Vec<Vec<PageRef>> = match self.class.split {
            Split::File => (0..files.len())
                .map(|i| all.iter().copied().filter(|p| p.file == i).collect())
                .collect(),
            Split::Pages => all
                .chunks(self.class.pages_per_document.max(1) as usize)
                .map(<[PageRef]>::to_vec)
                .collect(),
            Split::Batch | Split::Separator => vec![all],
        };
        groups.into_iter().filter(|g| !g.is_empty()).collect()
    }

    fn document_id(&self, batch: &BatchRow, seq: i64) -> String {
        document_id(batch, seq)
    }
}

/// A document's id: the batch's name, the end of its id (names repeat
/// across boxes) and the document's number in the batch.
pub fn document_id(batch: &BatchRow, seq: i64) -> String {
    let short = &batch.id[batch.id.len().saturating_sub(8)..];
    format!("{}-{short}-{seq:04}", batch.name)
}

/// A file-system- and archive-safe ASCII name (Archivematica renames
/// non-ASCII names on ingest).
pub fn ascii_slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .chars()
        .take(40)
        .collect();
    if slug.is_empty() {
        "batch".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ascii() {
        assert_eq!(ascii_slug("第 1 箱/box"), "1___box");
        assert_eq!(ascii_slug("档案"), "batch");
    }
}
