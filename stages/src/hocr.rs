//! hOCR: a page's words with their boxes and confidences as the open
//! standard archives and OCR tools exchange (hOCR 1.2). Written beside the
//! plain text in each package so a reader, an evaluator or a later
//! re-index has the geometry, not just the string. Built from the same
//! words the searchable PDF's text layer uses.

use crate::page::Word;

/// The hOCR document of one page of `width` × `height` pixels.
/// Blocks, paragraphs and lines follow the engine's layout numbers, so
/// reading order is the engine's.
pub fn page(words: &[Word], width: u32, height: u32, title: &str) -> String {
    let mut out = String::new();
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \
         \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n<head>\n",
    );
    out.push_str(&format!("<title>{}</title>\n", escape(title)));
    out.push_str(
        "<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n\
         <meta name=\"ocr-system\" content=\"folio (tesseract)\"/>\n\
         <meta name=\"ocr-capabilities\" content=\"ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf\"/>\n\
         </head>\n<body>\n",
    );
    out.push_str(&format!(
        "<div class=\"ocr_page\" id=\"page_1\" title=\"bbox 0 0 {width} {height}\">\n"
    ));
    let mut open: Option<(u32, u32, u32)> = None;
    let mut counter = 0usize;
    for range in crate::page::line_ranges(words) {
        let group = &words[range];
        let (block, par, line) = group[0].line;
        let bbox = group
            .iter()
            .skip(1)
            .fold(group[0].bbox, |b, w| b.union(&w.bbox));
        let new_block = open.is_none_or(|(b, _, _)| b != block);
        let new_par = new_block || open.is_some_and(|(_, p, _)| p != par);
        if let Some((_, _, _)) = open {
            if new_par {
                out.push_str("   </p>\n");
            }
            if new_block {
                out.push_str("  </div>\n");
            }
        }
        counter += 1;
        if new_block {
            out.push_str(&format!(
                "  <div class=\"ocr_carea\" id=\"block_{counter}\">\n"
            ));
        }
        if new_par {
            out.push_str(&format!("   <p class=\"ocr_par\" id=\"par_{counter}\">\n"));
        }
        out.push_str(&format!(
            "    <span class=\"ocr_line\" id=\"line_{counter}\" title=\"bbox {} {} {} {}\">",
            bbox.x0, bbox.y0, bbox.x1, bbox.y1
        ));
        for w in group {
            counter += 1;
            out.push_str(&format!(
                "<span class=\"ocrx_word\" id=\"word_{counter}\" title=\"bbox {} {} {} {}; x_wconf {}\">{}</span> ",
                w.bbox.x0,
                w.bbox.y0,
                w.bbox.x1,
                w.bbox.y1,
                w.confidence.round() as i64,
                escape(&w.text)
            ));
        }
        out.push_str("</span>\n");
        open = Some((block, par, line));
    }
    if open.is_some() {
        out.push_str("   </p>\n  </div>\n");
    }
    out.push_str("</div>\n</body>\n</html>\n");
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::BBox;

    fn word(text: &str, x0: u32, line: (u32, u32, u32)) -> Word {
        Word {
            text: text.into(),
            bbox: BBox {
                x0,
                y0: 10 * line.2,
                x1: x0 + 30,
                y1: 10 * line.2 + 8,
            },
            confidence: 91.4,
            line,
        }
    }

    #[test]
    fn words_nest_in_lines_paragraphs_and_blocks_with_boxes_and_confidence() {
        let words = [
            word("Policy", 10, (1, 1, 1)),
            word("A&B", 50, (1, 1, 1)),
            word("保单", 10, (1, 1, 2)),
            word("<x>", 10, (2, 1, 1)),
        ];
        let h = page(&words, 600, 800, "doc p0001");
        assert!(h.contains("title=\"bbox 0 0 600 800\""));
        assert_eq!(h.matches("class=\"ocr_carea\"").count(), 2);
        assert_eq!(h.matches("class=\"ocr_par\"").count(), 2);
        assert_eq!(h.matches("class=\"ocr_line\"").count(), 3);
        assert_eq!(h.matches("class=\"ocrx_word\"").count(), 4);
        assert!(
            h.contains("title=\"bbox 10 10 80 18\">"),
            "line box is the union"
        );
        assert!(h.contains("bbox 50 10 80 18; x_wconf 91\">A&amp;B</span>"));
        assert!(h.contains(">&lt;x&gt;</span>"));
        assert!(h.contains(">保单</span>"));
        assert_eq!(h.matches("<div").count(), h.matches("</div>").count());
        assert_eq!(h.matches("<p ").count(), h.matches("</p>").count());
    }

    #[test]
    fn an_empty_page_is_a_valid_document() {
        let h = page(&[], 10, 10, "blank");
        assert!(h.contains("ocr_page") && h.ends_with("</html>\n"));
        assert!(!h.contains("class=\"ocr_line\""));
    }
}
