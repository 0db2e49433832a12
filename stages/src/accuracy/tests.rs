use super::*;

#[test]
fn levenshtein_counts_edits() {
    let c = |s: &str| s.chars().collect::<Vec<_>>();
    assert_eq!(levenshtein(&c("kitten"), &c("sitting")), 3);
    assert_eq!(levenshtein(&c(""), &c("abc")), 3);
    assert_eq!(levenshtein(&c("abc"), &c("")), 3);
    assert_eq!(levenshtein(&c("flaw"), &c("lawn")), 2);
    assert_eq!(levenshtein(&c("same"), &c("same")), 0);
}

#[test]
fn normalise_folds_whitespace_and_cjk_spaces() {
    assert_eq!(normalise("  a \n\t b  c\n"), "a b c");
    assert_eq!(normalise("档 案 号 Archive  No."), "档案号 Archive No.");
    assert_eq!(normalise("姓名 Name 邱 涛"), "姓名 Name 邱涛");
    assert_eq!(normalise(""), "");
}

#[test]
fn compare_gives_exact_counts() {
    // Truth 11 chars, 2 words; one substitution, one deletion.
    let e = compare("hello world", "hallo  wrld\n");
    assert_eq!(
        e,
        ErrorCounts {
            chars: 11,
            char_errors: 2,
            words: 2,
            word_errors: 2
        }
    );
    assert!((e.cer() - 2.0 / 11.0).abs() < 1e-12);
    assert!((e.wer() - 1.0).abs() < 1e-12);
    // Line breaks against spaces are not errors.
    assert_eq!(compare("a b\nc", "a\nb c").char_errors, 0);
    // Empty truth: nothing read is perfect, anything read is all error.
    assert_eq!(compare("", "").cer(), 0.0);
    assert_eq!(compare("", "xy").cer(), 2.0);
    let sum = e.add(&compare("abc", "abd"));
    assert_eq!(
        (sum.chars, sum.char_errors, sum.words, sum.word_errors),
        (14, 3, 3, 3)
    );
}

#[test]
fn forms_json_gives_text_and_fields() {
    let t = forms_truth(
        r#"{"file": "form_000.tif", "dpi": 200, "fields": {"policy_no": {"value": "P201228179657", "box": [1,2,3,4]}}, "text": "保单号 Policy No. P201228179657"}"#,
    )
    .unwrap();
    assert_eq!(t.fields["policy_no"], "P201228179657");
    assert!(t.text.starts_with("保单号"));
    assert!(forms_truth("{\"fields\": {}}").is_err());
}

#[test]
fn funsd_gives_rows_and_linked_answers() {
    let json = r#"{"form": [
      {"id": 0, "label": "question", "text": "DATE:", "box": [10,10,60,30],
       "words": [{"box": [10,10,60,30], "text": "DATE:"}], "linking": [[0, 1]]},
      {"id": 1, "label": "answer", "text": "May 5, 1998", "box": [70,12,200,30],
       "words": [{"box": [70,12,100,30], "text": "May"}, {"box": [110,12,140,30], "text": "5,"}, {"box": [150,12,200,30], "text": "1998"}], "linking": [[0, 1]]},
      {"id": 2, "label": "question", "text": "Fax No.", "box": [10,50,60,70],
       "words": [{"box": [10,50,30,70], "text": "Fax"}, {"box": [32,50,60,70], "text": "No."}], "linking": [[2, 3], [2, 4]]},
      {"id": 3, "label": "answer", "text": "555", "box": [70,50,100,70], "words": [{"box": [70,50,100,70], "text": "555"}], "linking": [[2, 3]]},
      {"id": 4, "label": "answer", "text": "556", "box": [70,80,100,100], "words": [{"box": [70,80,100,100], "text": "556"}], "linking": [[2, 4]]},
      {"id": 5, "label": "header", "text": "ORDER", "box": [80,0,120,8], "words": [{"box": [80,0,120,8], "text": "ORDER"}, {"box": [0,0,0,0], "text": " "}], "linking": []}
    ]}"#;
    let t = funsd_truth(json).unwrap();
    assert_eq!(t.text, "ORDER\nDATE: May 5, 1998\nFax No. 555\n556");
    // A question with two answers names no field.
    assert_eq!(t.fields.len(), 1);
    assert_eq!(t.fields["date"], "May 5, 1998");
    assert_eq!(slug("Fax No.:"), "fax_no");
    assert!(funsd_truth("[]").is_err());
}

#[test]
fn hocr_words_lines_and_entities() {
    let html = r#"<div class='ocr_page' title='bbox 0 0 100 100'>
      <span class='ocr_line' title="bbox 0 0 90 10">
        <span class='ocrx_word' id='w1' title='bbox 0 0 20 10;x_wconf 96'>A&amp;B</span>
        <span class="ocrx_word" title="bbox 25 0 50 10"><strong>bold</strong></span>
      </span>
      <span class='ocr_caption' title="bbox 0 20 90 30">
        <span class='ocrx_word' title='bbox 0 20 30 30'>caf&#233;</span>
        <span class='ocrx_word' title='bbox 35 20 40 30'> </span>
      </span>
    </div>"#;
    let lines = hocr_lines(html);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0][0].0, "A&B");
    assert_eq!(
        lines[0][0].1,
        Some(BBox {
            x0: 0,
            y0: 0,
            x1: 20,
            y1: 10
        })
    );
    assert_eq!(hocr_text(html), "A&B bold\ncafé");
    assert_eq!(hocr_text("<html><body>no words</body></html>"), "");
    assert_eq!(hocr_text("<span class='ocrx_word'>cut"), "cut");
}

#[test]
fn field_values_compare_after_spacing() {
    assert!(field_matches(" 915,855.49", "915,855.49 "));
    assert!(!field_matches("P201228179657", "P2O1228179657"));
}
