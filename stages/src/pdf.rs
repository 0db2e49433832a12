//! Searchable PDF: one PDF page per scanned page, the page image as it is
//! stored (Group 4 or JPEG bytes embedded without re-encoding) and an
//! invisible text layer from the OCR words on their boxes, so the document
//! can be searched, selected and extracted (`pdftotext`) while looking
//! exactly like the scan. Written as PDF/A-2b: XMP metadata, an sRGB
//! OutputIntent, a document ID, the one font embedded.
//!
//! The text layer follows Tesseract's own renderer (a glyphless Type0 font,
//! Identity-H, ToUnicode, render mode 3, each run stretched with `Tz` over
//! its box) with one difference that matters for Chinese: the characters
//! of a line are placed edge to edge with the inter-word space written as a
//! real space glyph, so extractors join CJK characters without inventing
//! spaces between them (OCRmyPDF issue #715).

use crate::error::StageError;
use crate::page::Word;
use crate::script::{ends_cjk, starts_cjk};
use lopdf::{Dictionary, Document, Object, Stream, StringFormat, dictionary};

/// The glyphless font (one empty glyph) the text layer is set in.
const GLYPHLESS_TTF: &[u8] = include_bytes!("../assets/glyphless.ttf");

/// A page image as the PDF embeds it.
#[derive(Debug, Clone)]
pub enum PdfImage {
    /// A raw CCITT Group 4 stream (`K -1`), black = ink.
    G4 {
        width: u32,
        height: u32,
        data: Vec<u8>,
    },
    /// A greyscale baseline JPEG file's bytes.
    Jpeg {
        width: u32,
        height: u32,
        data: Vec<u8>,
    },
    /// 8-bit grey samples, row by row (compressed here).
    Gray {
        width: u32,
        height: u32,
        samples: Vec<u8>,
    },
}

impl PdfImage {
    fn size(&self) -> (u32, u32) {
        match self {
            PdfImage::G4 { width, height, .. }
            | PdfImage::Jpeg { width, height, .. }
            | PdfImage::Gray { width, height, .. } => (*width, *height),
        }
    }
}

/// One page: its image, its resolution and the words read on it (boxes in
/// the image's pixels).
#[derive(Debug, Clone)]
pub struct PdfPage {
    pub image: PdfImage,
    pub dpi: f32,
    pub words: Vec<Word>,
}

/// Document-level metadata, written to both the Info dictionary and XMP
/// (PDF/A requires they agree).
#[derive(Debug, Clone)]
pub struct PdfMeta {
    pub title: String,
    pub producer: String,
    /// Creation time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// A stable identifier (the document id): seeds the file identifier.
    pub identifier: String,
}

/// Writes the searchable PDF of `pages` in order.
pub fn write(pages: &[PdfPage], meta: &PdfMeta) -> Result<Vec<u8>, StageError> {
    if pages.is_empty() {
        return Err(invalid("a PDF needs at least one page".into()));
    }
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = glyphless_font(&mut doc)?;
    let mut kids = Vec::with_capacity(pages.len());
    for page in pages {
        let (w, h) = page.image.size();
        if w == 0 || h == 0 {
            return Err(invalid("a page image has no pixels".into()));
        }
        let scale = 72.0 / page.dpi.max(1.0);
        let (wpt, hpt) = (w as f32 * scale, h as f32 * scale);
        let image_id = doc.add_object(image_xobject(&page.image));
        let mut content =
            format!("q {} 0 0 {} 0 0 cm /Im0 Do Q\n", num(wpt), num(hpt)).into_bytes();
        content.extend(text_layer(&page.words, scale, hpt));
        let mut stream = Stream::new(Dictionary::new(), content);
        stream.compress().map_err(|e| invalid(e.to_string()))?;
        let content_id = doc.add_object(stream);
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(wpt), Object::Real(hpt)],
            "Contents" => content_id,
            "Resources" => dictionary! {
                "XObject" => dictionary! { "Im0" => image_id },
                "Font" => dictionary! { "F0" => font_id },
            },
        });
        kids.push(Object::Reference(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
        }),
    );

    let created_pdf = pdf_date(&meta.created);
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal(utf16_text(&meta.title)),
        "Producer" => Object::string_literal(utf16_text(&meta.producer)),
        "Creator" => Object::string_literal(utf16_text(&meta.producer)),
        "CreationDate" => Object::string_literal(created_pdf.clone()),
        "ModDate" => Object::string_literal(created_pdf),
    });
    let xmp = Stream::new(
        dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
        xmp(meta).into_bytes(),
    )
    .with_compression(false);
    let xmp_id = doc.add_object(xmp);
    let icc = srgb_profile()?;
    let mut icc_stream = Stream::new(dictionary! { "N" => 3 }, icc);
    icc_stream.compress().map_err(|e| invalid(e.to_string()))?;
    let icc_id = doc.add_object(icc_stream);
    let intent = dictionary! {
        "Type" => "OutputIntent",
        "S" => "GTS_PDFA1",
        "OutputConditionIdentifier" => Object::string_literal("sRGB IEC61966-2.1"),
        "Info" => Object::string_literal("sRGB IEC61966-2.1"),
        "DestOutputProfile" => icc_id,
    };
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
        "Metadata" => xmp_id,
        "OutputIntents" => vec![Object::Dictionary(intent)],
        "MarkInfo" => dictionary! { "Marked" => false },
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    let id = crate::bagit::sha256_hex(meta.identifier.as_bytes());
    let id_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    doc.trailer.set(
        "ID",
        vec![
            Object::String(id_bytes.clone(), StringFormat::Hexadecimal),
            Object::String(id_bytes, StringFormat::Hexadecimal),
        ],
    );
    let mut out = Vec::new();
    doc.save_to(&mut out).map_err(|e| invalid(e.to_string()))?;
    Ok(out)
}

/// The Type0 font every text run uses: CIDFontType2 over the glyphless
/// TrueType, Identity-H (two bytes per character, the UTF-16 code unit),
/// every CID drawn with glyph 1 at half an em, and a ToUnicode map that
/// gives each code back as its own character.
fn glyphless_font(doc: &mut Document) -> Result<lopdf::ObjectId, StageError> {
    let mut file = Stream::new(
        dictionary! { "Length1" => GLYPHLESS_TTF.len() as i64 },
        GLYPHLESS_TTF.to_vec(),
    );
    file.compress().map_err(|e| invalid(e.to_string()))?;
    let file_id = doc.add_object(file);
    let descriptor_id = doc.add_object(dictionary! {
        "Type" => "FontDescriptor",
        "FontName" => "GlyphLessFont",
        "Flags" => 5,
        "FontBBox" => vec![0.into(), 0.into(), 500.into(), 1000.into()],
        "ItalicAngle" => 0,
        "Ascent" => 1000,
        "Descent" => 0,
        "CapHeight" => 1000,
        "StemV" => 80,
        "FontFile2" => file_id,
    });
    let map: Vec<u8> = std::iter::repeat_n([0u8, 1u8], 65536).flatten().collect();
    let mut cid_to_gid = Stream::new(Dictionary::new(), map);
    cid_to_gid.compress().map_err(|e| invalid(e.to_string()))?;
    let cid_to_gid_id = doc.add_object(cid_to_gid);
    let cid_font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "CIDFontType2",
        "BaseFont" => "GlyphLessFont",
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("Identity"),
            "Supplement" => 0,
        },
        "FontDescriptor" => descriptor_id,
        "CIDToGIDMap" => cid_to_gid_id,
        "DW" => 500,
    });
    let cmap = "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
        /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
        /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
        1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n\
        1 beginbfrange\n<0000> <FFFF> <0000>\nendbfrange\n\
        endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";
    let mut to_unicode = Stream::new(Dictionary::new(), cmap.as_bytes().to_vec());
    to_unicode.compress().map_err(|e| invalid(e.to_string()))?;
    let to_unicode_id = doc.add_object(to_unicode);
    Ok(doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        "BaseFont" => "GlyphLessFont",
        "Encoding" => "Identity-H",
        "DescendantFonts" => vec![Object::Reference(cid_font_id)],
        "ToUnicode" => to_unicode_id,
    }))
}

fn image_xobject(image: &PdfImage) -> Stream {
    let (w, h) = image.size();
    let mut dict = dictionary! {
        "Type" => "XObject",
        "Subtype" => "Image",
        "Width" => w as i64,
        "Height" => h as i64,
        "ColorSpace" => "DeviceGray",
    };
    match image {
        PdfImage::G4 { data, .. } => {
            dict.set("BitsPerComponent", 1);
            dict.set("Filter", "CCITTFaxDecode");
            dict.set(
                "DecodeParms",
                dictionary! { "K" => -1, "Columns" => w as i64, "Rows" => h as i64, "BlackIs1" => false },
            );
            Stream::new(dict, data.clone()).with_compression(false)
        }
        PdfImage::Jpeg { data, .. } => {
            dict.set("BitsPerComponent", 8);
            dict.set("Filter", "DCTDecode");
            Stream::new(dict, data.clone()).with_compression(false)
        }
        PdfImage::Gray { samples, .. } => {
            dict.set("BitsPerComponent", 8);
            let mut s = Stream::new(dict, samples.clone());
            let _ = s.compress();
            s
        }
    }
}

/// One text run: what it says and where (PDF points, baseline origin).
#[derive(Debug, Clone, PartialEq)]
struct Run {
    text: String,
    x: f32,
    baseline: f32,
    width: f32,
    size: f32,
}

/// The invisible text of a page as content-stream operators.
fn text_layer(words: &[Word], scale: f32, page_height: f32) -> Vec<u8> {
    let runs = runs(words, scale, page_height);
    if runs.is_empty() {
        return Vec::new();
    }
    let mut out = String::from("BT\n3 Tr\n");
    for r in &runs {
        let units: Vec<u16> = r.text.encode_utf16().collect();
        let natural = units.len() as f32 * 0.5 * r.size;
        let tz = if natural > 0.0 {
            (100.0 * r.width / natural).clamp(1.0, 10_000.0)
        } else {
            100.0
        };
        let hex: String = units.iter().map(|u| format!("{u:04X}")).collect();
        out.push_str(&format!(
            "/F0 {} Tf {} Tz 1 0 0 1 {} {} Tm <{hex}> Tj\n",
            num(r.size),
            num(tz),
            num(r.x),
            num(r.baseline)
        ));
    }
    out.push_str("ET\n");
    out.into_bytes()
}

/// Cuts a page's words into runs, line by line. Each run reaches to the
/// start of the next word of its line, so runs touch: an extractor sees
/// no gap, and the space between two words is a written space glyph —
/// never between two Chinese (or Japanese, Korean) characters.
fn runs(words: &[Word], scale: f32, page_height: f32) -> Vec<Run> {
    let mut out = Vec::new();
    for range in crate::page::line_ranges(words) {
        let line = &words[range];
        let top = line.iter().map(|w| w.bbox.y0).min().unwrap_or(0);
        let bottom = line.iter().map(|w| w.bbox.y1).max().unwrap_or(0);
        let size = ((bottom.saturating_sub(top)).max(1) as f32 * scale).max(1.0);
        let baseline = page_height - bottom as f32 * scale;
        for (k, w) in line.iter().enumerate() {
            if w.text.is_empty() {
                continue;
            }
            let next = line.get(k + 1);
            let mut text = w.text.clone();
            let x1 = match next {
                Some(n) if n.bbox.x0 > w.bbox.x0 => {
                    let joins = ends_cjk(&w.text) && starts_cjk(&n.text);
                    if !joins {
                        text.push(' ');
                    }
                    n.bbox.x0
                }
                _ => w.bbox.x1.max(w.bbox.x0 + 1),
            };
            out.push(Run {
                text,
                x: w.bbox.x0 as f32 * scale,
                baseline,
                width: (x1 - w.bbox.x0) as f32 * scale,
                size,
            });
        }
    }
    out
}

/// A number as PDF writes it: fixed point, no exponent.
fn num(v: f32) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Text strings outside ASCII are written UTF-16BE with a byte-order mark.
fn utf16_text(s: &str) -> Vec<u8> {
    if s.is_ascii() {
        return s.as_bytes().to_vec();
    }
    let mut out = vec![0xFE, 0xFF];
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_be_bytes());
    }
    out
}

/// `2026-11-28T09:30:00Z` → `D:20261128093000Z`.
fn pdf_date(iso: &str) -> String {
    let digits: String = iso
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    format!("D:{digits:0<14}Z")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The XMP packet: PDF/A-2b identification and the same title, producer
/// and dates as the Info dictionary.
fn xmp(meta: &PdfMeta) -> String {
    let title = xml_escape(&meta.title);
    let producer = xml_escape(&meta.producer);
    let created = xml_escape(&meta.created);
    let id = xml_escape(&meta.identifier);
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n\
 <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
  <rdf:Description rdf:about=\"\"\n\
    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n\
    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n\
    xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\"\n\
    xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\n\
   <dc:format>application/pdf</dc:format>\n\
   <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{title}</rdf:li></rdf:Alt></dc:title>\n\
   <dc:identifier>{id}</dc:identifier>\n\
   <xmp:CreateDate>{created}</xmp:CreateDate>\n\
   <xmp:ModifyDate>{created}</xmp:ModifyDate>\n\
   <xmp:MetadataDate>{created}</xmp:MetadataDate>\n\
   <xmp:CreatorTool>{producer}</xmp:CreatorTool>\n\
   <pdf:Producer>{producer}</pdf:Producer>\n\
   <pdfaid:part>2</pdfaid:part>\n\
   <pdfaid:conformance>B</pdfaid:conformance>\n\
  </rdf:Description>\n\
 </rdf:RDF>\n\
</x:xmpmeta>\n\
<?xpacket end=\"w\"?>\n"
    )
}

/// An sRGB ICC profile for the OutputIntent.
fn srgb_profile() -> Result<Vec<u8>, StageError> {
    moxcms::ColorProfile::new_srgb()
        .encode()
        .map_err(|e| invalid(format!("sRGB profile: {e:?}")))
}

fn invalid(reason: String) -> StageError {
    StageError::Invalid {
        stage: "pdf",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::BBox;

    fn word(text: &str, x0: u32, x1: u32) -> Word {
        Word {
            text: text.into(),
            bbox: BBox {
                x0,
                y0: 100,
                x1,
                y1: 130,
            },
            confidence: 90.0,
            line: (1, 1, 1),
        }
    }

    #[test]
    fn runs_touch_and_space_only_between_latin_words() {
        let words = [
            word("保单", 100, 160),
            word("号码", 170, 230),
            word("Policy", 260, 380),
            word("No.", 400, 450),
        ];
        let r = runs(&words, 1.0, 1000.0);
        let texts: Vec<&str> = r.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["保单", "号码 ", "Policy ", "No."]);
        for pair in r.windows(2) {
            assert!((pair[0].x + pair[0].width - pair[1].x).abs() < 1e-3);
        }
        assert_eq!(r[0].baseline, 870.0);
        assert_eq!(r[0].size, 30.0);
    }

    #[test]
    fn a_page_without_words_has_no_text_object() {
        assert!(text_layer(&[], 1.0, 100.0).is_empty());
    }

    #[test]
    fn writes_a_pdf_with_one_page_per_image_and_pdfa_identification() {
        let page = PdfPage {
            image: PdfImage::Gray {
                width: 20,
                height: 10,
                samples: vec![255; 200],
            },
            dpi: 72.0,
            words: vec![word("abc", 1, 5)],
        };
        let bytes = write(
            &[page.clone(), page],
            &PdfMeta {
                title: "档案 doc-1".into(),
                producer: "folio test".into(),
                created: "2026-11-28T09:00:00Z".into(),
                identifier: "doc-1".into(),
            },
        )
        .unwrap();
        let doc = Document::load_mem(&bytes).unwrap();
        assert_eq!(doc.get_pages().len(), 2);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("pdfaid:part>2<"));
        assert!(text.contains("GTS_PDFA1"));
        assert!(
            write(
                &[],
                &PdfMeta {
                    title: String::new(),
                    producer: String::new(),
                    created: String::new(),
                    identifier: String::new(),
                }
            )
            .is_err()
        );
    }

    #[test]
    fn dates_and_numbers_are_written_as_pdf_wants() {
        assert_eq!(pdf_date("2026-11-28T09:30:05Z"), "D:20261128093005Z");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.0001), "0");
    }
}
