//! A table of text cells written as CSV or as an Excel workbook: the
//! shape every index and report Folio hands to people takes. CSV goes out
//! as UTF-8 with a byte-order mark when it is for Excel (without one,
//! Excel reads Chinese as mojibake).

use crate::error::FolioError;

/// Rows of text under a header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names and no rows.
    pub fn new<S: Into<String>>(head: impl IntoIterator<Item = S>) -> Table {
        Table {
            head: head.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// RFC 4180 CSV, CRLF line ends; `bom` puts a UTF-8 byte-order mark
    /// first, for Excel.
    pub fn to_csv(&self, bom: bool) -> String {
        let mut out = String::new();
        if bom {
            out.push('\u{feff}');
        }
        for row in std::iter::once(&self.head).chain(&self.rows) {
            let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// An `.xlsx` workbook with one sheet named `sheet`: header row in
    /// bold and frozen, every cell text (identifiers like 0012 or
    /// 110101199003071234 must not become numbers).
    pub fn to_xlsx(&self, sheet: &str) -> Result<Vec<u8>, FolioError> {
        use rust_xlsxwriter::{Format, Workbook};
        let err = |e: rust_xlsxwriter::XlsxError| FolioError::Internal(format!("xlsx: {e}"));
        let mut book = Workbook::new();
        let ws = book.add_worksheet();
        ws.set_name(sheet).map_err(err)?;
        let bold = Format::new().set_bold();
        for (c, h) in self.head.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &bold)
                .map_err(err)?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(r as u32 + 1, c as u16, v).map_err(err)?;
            }
        }
        ws.set_freeze_panes(1, 0).map_err(err)?;
        book.save_to_buffer().map_err(err)
    }
}

/// A CSV cell, quoted when it holds a separator, a quote or a line break.
pub fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_starts_with_a_bom_for_excel() {
        let mut t = Table::new(["filename", "dc.title"]);
        t.rows
            .push(vec!["objects/a.tif".into(), "保险, \"甲\"".into()]);
        let csv = t.to_csv(true);
        assert!(csv.starts_with('\u{feff}'));
        assert!(csv.ends_with("objects/a.tif,\"保险, \"\"甲\"\"\"\r\n"));
        assert!(!t.to_csv(false).starts_with('\u{feff}'));
    }

    #[test]
    fn xlsx_is_a_zip_workbook() {
        let mut t = Table::new(["a"]);
        t.rows.push(vec!["0012".into()]);
        let bytes = t.to_xlsx("index").unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}
