//! The searchable PDF of a document: the derived pages as the package
//! holds them (Group 4 and JPEG bytes embedded as they are) with the words
//! OCR read on each, handed to `folio_stages::pdf`.

use folio_stages::encode::{self, DerivedFormat};
use folio_stages::page::Word;
use folio_stages::pdf::{self, PdfImage, PdfMeta, PdfPage};
use std::path::PathBuf;

/// One page of the PDF: its derived image file, its size, resolution and
/// words (boxes in the derived image's pixels).
#[derive(Debug, Clone)]
pub struct PageSource {
    pub derived: PathBuf,
    pub width: u32,
    pub height: u32,
    pub dpi: f32,
    pub words: Vec<Word>,
}

/// Builds the PDF; the error names the page image that could not be
/// embedded.
pub fn build(pages: &[PageSource], meta: &PdfMeta) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(pages.len());
    for p in pages {
        let name = p.derived.display();
        let bytes = std::fs::read(&p.derived).map_err(|e| format!("{name}: {e}"))?;
        let format = DerivedFormat::from_path(&p.derived.to_string_lossy())
            .ok_or_else(|| format!("{name}: not a derived page format"))?;
        let image = match format {
            DerivedFormat::G4 => {
                let (width, height, data) =
                    encode::g4_from_tiff(&bytes).map_err(|e| format!("{name}: {e}"))?;
                PdfImage::G4 {
                    width,
                    height,
                    data,
                }
            }
            DerivedFormat::Jpeg => PdfImage::Jpeg {
                width: p.width,
                height: p.height,
                data: bytes,
            },
            DerivedFormat::Png => {
                let page = folio_stages::decode::page_at(&bytes, 0, &Default::default())
                    .map_err(|e| format!("{name}: {e}"))?;
                PdfImage::Gray {
                    width: page.gray.width(),
                    height: page.gray.height(),
                    samples: page.gray.into_raw(),
                }
            }
        };
        out.push(PdfPage {
            image,
            dpi: p.dpi,
            words: p.words.clone(),
        });
    }
    pdf::write(&out, meta).map_err(|e| e.to_string())
}
