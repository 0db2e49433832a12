//! Survey: a file's pages and their sizes, and whether its structure is
//! whole, read without decoding pixels. Ingest takes or quarantines a
//! file on this, so each page is decompressed once, by the worker that
//! processes it, instead of once to check the file and again to read it.
//!
//! What is checked, per format: PNG: every chunk's CRC, IHDR first, image
//! data present, IEND last. JPEG: the marker chain from SOI through each
//! scan to EOI, a frame header of a coding the decoder reads. TIFF: the
//! directory chain, each page's pixel layout, every strip or tile inside
//! the file, and the first chunk decompressed (so an unknown compression
//! is refused here). PDF: read page by page as [`super::pages`] does (its
//! pages are embedded images that must be found to be sized).
//! The same limits apply as for decoding.

use super::limits::{DecodeLimits, check_file_size, check_size};
use super::{Format, advance_tiff, corrupt, open_tiff, pages};
use crate::error::StageError;
use tiff::tags::Tag;

/// Pixel size (width, height) of each page of a file, in order, after a
/// structural check of the whole file; see the module notes for what a
/// survey catches. A file that passes may still fail to decode when its
/// compressed data is damaged inside (the worker reports that page).
pub fn survey(bytes: &[u8], limits: &DecodeLimits) -> Result<Vec<(u32, u32)>, StageError> {
    check_file_size(bytes, limits)?;
    // TIFF and PDF pages are held to the size limits as they are read.
    let single = |(w, h): (u32, u32)| check_size(0, w, h, limits).map(|()| vec![(w, h)]);
    match Format::sniff(bytes)? {
        Format::Png => single(png(bytes)?),
        Format::Jpeg => single(jpeg(bytes)?),
        Format::Tiff => tiff(bytes, limits),
        Format::Pdf => pages(bytes, limits)?
            .map(|p| p.map(|p| p.gray.dimensions()))
            .collect(),
    }
}

fn broken(reason: impl Into<String>) -> StageError {
    StageError::Corrupt {
        page: 0,
        reason: reason.into(),
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn png(bytes: &[u8]) -> Result<(u32, u32), StageError> {
    let mut pos = 8;
    let mut size = None;
    let mut data = false;
    while pos < bytes.len() {
        let Some(head) = bytes.get(pos..pos + 8) else {
            return Err(broken(format!("PNG chunk header cut off at byte {pos}")));
        };
        let len = be32(head) as usize;
        let kind = &head[4..8];
        let end = pos + 12 + len;
        let Some(chunk) = bytes.get(pos + 4..end) else {
            return Err(broken(format!(
                "PNG {} chunk cut off (file ends at byte {}, the chunk at {end})",
                String::from_utf8_lossy(kind),
                bytes.len()
            )));
        };
        let (body, crc) = chunk.split_at(chunk.len() - 4);
        if crc32fast::hash(body) != be32(crc) {
            return Err(broken(format!(
                "PNG {} chunk at byte {pos}: CRC mismatch (damaged bytes)",
                String::from_utf8_lossy(kind)
            )));
        }
        match kind {
            b"IHDR" if size.is_none() && len >= 13 => {
                size = Some((be32(&body[4..8]), be32(&body[8..12])));
            }
            _ if size.is_none() => return Err(broken("PNG does not start with IHDR")),
            b"IDAT" => data = true,
            b"IEND" => {
                return if data {
                    Ok(size.unwrap_or_default())
                } else {
                    Err(broken("PNG holds no image data (IDAT)"))
                };
            }
            _ => {}
        }
        pos = end;
    }
    Err(broken("PNG ends without IEND (the file is cut off)"))
}

fn jpeg(bytes: &[u8]) -> Result<(u32, u32), StageError> {
    let mut pos = 2;
    let mut size = None;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while bytes.get(pos) == Some(&0xFF) && bytes.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(pos), bytes.get(pos + 1)) else {
            return Err(broken(format!(
                "JPEG marker expected at byte {pos}{}",
                if pos >= bytes.len() {
                    " (the file is cut off)"
                } else {
                    ""
                }
            )));
        };
        pos += 2;
        match marker {
            0xD9 => {
                return size.ok_or_else(|| broken("JPEG ends before a frame header"));
            }
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = bytes
            .get(pos..pos + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return Err(broken("JPEG segment cut off"));
        };
        let Some(segment) = bytes.get(pos..pos + len).filter(|_| len >= 2) else {
            return Err(broken(format!(
                "JPEG segment {marker:#04X} at byte {pos} runs past the end of the file"
            )));
        };
        match marker {
            // Baseline, extended and progressive Huffman frames.
            0xC0..=0xC2 if len >= 8 => {
                let h = u16::from_be_bytes([segment[3], segment[4]]) as u32;
                let w = u16::from_be_bytes([segment[5], segment[6]]) as u32;
                size = Some((w, h));
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(broken(format!(
                    "JPEG coding {marker:#04X} (lossless, hierarchical or arithmetic) is not read"
                )));
            }
            _ => {}
        }
        pos += len;
        if marker == 0xDA {
            if size.is_none() {
                return Err(broken("JPEG scan before a frame header"));
            }
            // Entropy-coded data: ends at the first marker that is not a
            // stuffed byte (FF 00) or a restart (FF D0..D7).
            loop {
                let Some(off) = bytes[pos..].iter().position(|&b| b == 0xFF) else {
                    return Err(broken(
                        "JPEG scan data runs to the end of the file (cut off)",
                    ));
                };
                pos += off;
                match bytes.get(pos + 1) {
                    Some(0x00 | 0xD0..=0xD7 | 0xFF) => pos += 1,
                    Some(_) => break,
                    None => return Err(broken("JPEG scan data cut off")),
                }
            }
        }
    }
}

fn tiff(bytes: &[u8], limits: &DecodeLimits) -> Result<Vec<(u32, u32)>, StageError> {
    use tiff::ColorType as C;
    let mut dec = open_tiff(bytes, limits)?;
    let mut sizes = Vec::new();
    loop {
        let index = sizes.len();
        if index > 0 {
            advance_tiff(&mut dec, index, limits)?;
        }
        let (w, h) = dec.dimensions().map_err(|e| corrupt(index, e))?;
        check_size(index, w, h, limits)?;
        let layout = dec.colortype().map_err(|e| corrupt(index, e))?;
        if !matches!(
            layout,
            C::Gray(1 | 8 | 16) | C::GrayA(8) | C::RGB(8 | 16) | C::RGBA(8 | 16) | C::CMYK(8)
        ) {
            return Err(StageError::Corrupt {
                page: index,
                reason: format!("unsupported TIFF pixel layout {layout:?}"),
            });
        }
        let (offsets, counts) = match dec.get_chunk_type() {
            tiff::decoder::ChunkType::Strip => (Tag::StripOffsets, Tag::StripByteCounts),
            tiff::decoder::ChunkType::Tile => (Tag::TileOffsets, Tag::TileByteCounts),
        };
        let offsets = dec
            .get_tag_u64_vec(offsets)
            .map_err(|e| corrupt(index, e))?;
        let counts = dec.get_tag_u64_vec(counts).map_err(|e| corrupt(index, e))?;
        if offsets.len() != counts.len() || offsets.is_empty() {
            return Err(StageError::Corrupt {
                page: index,
                reason: "TIFF strip or tile table is inconsistent".into(),
            });
        }
        if let Some((o, n)) = offsets
            .iter()
            .zip(&counts)
            .find(|&(&o, &n)| o.saturating_add(n) > bytes.len() as u64)
        {
            return Err(StageError::Corrupt {
                page: index,
                reason: format!(
                    "TIFF image data at bytes {o}..{} lies past the end of the file ({} bytes): cut off",
                    o.saturating_add(*n),
                    bytes.len()
                ),
            });
        }
        // One chunk decompressed: the compression is one the decoder reads.
        dec.read_chunk(0).map_err(|e| corrupt(index, e))?;
        sizes.push((w, h));
        if !dec.more_images() {
            return Ok(sizes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_all;
    use crate::decode::tests::shared;

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn sizes_by_decoding(bytes: &[u8]) -> Vec<(u32, u32)> {
        decode_all(bytes, &limits())
            .unwrap()
            .iter()
            .map(|p| p.gray.dimensions())
            .collect()
    }

    #[test]
    fn sizes_match_the_decoder_on_every_format() {
        for f in [
            "tesseract-test/phototest.tif",
            "tesseract-test/8087_054.3B.tif",
            "forms-zh/form_000.tif",
            "forms-zh/form_001.jpg",
            "forms-zh/form_007.png",
            "scribe-benchmark/img/multicol_01.png",
            "scribe-benchmark/img/slide_01.png",
        ] {
            let bytes = shared(f);
            assert_eq!(
                survey(&bytes, &limits()).unwrap(),
                sizes_by_decoding(&bytes),
                "{f}"
            );
        }
    }

    #[test]
    fn a_multi_page_tiff_lists_each_page() {
        let a = image::GrayImage::from_fn(40, 30, |x, _| image::Luma([(x * 6) as u8]));
        let b = image::GrayImage::from_pixel(20, 50, image::Luma([200]));
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut enc = tiff::encoder::TiffEncoder::new(&mut out).unwrap();
            enc.write_image::<tiff::encoder::colortype::Gray8>(40, 30, a.as_raw())
                .unwrap();
            enc.write_image::<tiff::encoder::colortype::Gray8>(20, 50, b.as_raw())
                .unwrap();
        }
        let bytes = out.into_inner();
        assert_eq!(survey(&bytes, &limits()).unwrap(), [(40, 30), (20, 50)]);
        let mut few = limits();
        few.max_pages = 1;
        assert!(matches!(
            survey(&bytes, &few),
            Err(StageError::LimitExceeded {
                key: "max_pages",
                ..
            })
        ));
    }

    fn refused(bytes: &[u8], says: &str) {
        match survey(bytes, &limits()) {
            Err(e) => assert!(e.to_string().contains(says), "{e}"),
            Ok(s) => panic!("passed as {s:?}, expected an error naming {says:?}"),
        }
    }

    #[test]
    fn cut_off_files_are_refused_by_name_of_what_is_missing() {
        let png = shared("forms-zh/form_007.png");
        refused(&png[..png.len() / 3], "cut off");
        refused(&png[..png.len() - 12], "without IEND");
        let jpg = shared("forms-zh/form_001.jpg");
        refused(&jpg[..jpg.len() / 3], "cut off");
        refused(&jpg[..jpg.len() - 2], "cut off");
        let tif = shared("tesseract-test/8087_054.3B.tif");
        let cut = &tif[..tif.len() / 3];
        assert!(survey(cut, &limits()).is_err(), "cut TIFF passed");
        assert!(decode_all(cut, &limits()).is_err(), "the decoder agrees");
    }

    #[test]
    fn a_damaged_png_chunk_is_refused_by_its_crc() {
        let mut png = shared("forms-zh/form_007.png");
        let mid = png.len() / 2;
        png[mid] ^= 0x40;
        refused(&png, "CRC mismatch");
    }

    #[test]
    fn over_limit_pages_are_refused_before_decoding() {
        let mut small = limits();
        small.max_side = 1000;
        for f in ["forms-zh/form_001.jpg", "forms-zh/form_007.png"] {
            assert!(matches!(
                survey(&shared(f), &small),
                Err(StageError::LimitExceeded {
                    key: "max_side",
                    ..
                })
            ));
        }
    }

    #[test]
    fn foreign_codings_are_refused() {
        // A lossless JPEG frame header (SOF3) after SOI.
        let lossless = [
            0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11,
            0x00, 0xFF, 0xD9,
        ];
        refused(&lossless, "is not read");
        refused(b"\x89PNG\r\n\x1a\n", "without IEND");
    }
}
