//! Encode: the derived page image a package carries, as small as the page
//! allows. Bilevel masters become CCITT Group 4 TIFF (what archives store
//! for black-and-white scans, and what a PDF can carry without
//! re-encoding); other pages JPEG at a set quality, or PNG where a client
//! wants lossless. The same bytes go into the searchable PDF, so a page is
//! encoded once.

use crate::error::StageError;
use image::GrayImage;
use serde::{Deserialize, Serialize};

/// How a derived page is stored (`[delivery] derived_bilevel` /
/// `derived_other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivedFormat {
    /// CCITT Group 4 in a TIFF (bilevel only: the page is thresholded).
    G4,
    /// Baseline greyscale JPEG.
    Jpeg,
    /// Lossless greyscale PNG.
    Png,
}

impl DerivedFormat {
    /// The file extension of this format.
    pub fn extension(self) -> &'static str {
        match self {
            DerivedFormat::G4 => "tif",
            DerivedFormat::Jpeg => "jpg",
            DerivedFormat::Png => "png",
        }
    }

    /// The format of a stored derived page, from its name.
    pub fn from_path(path: &str) -> Option<DerivedFormat> {
        let ext = path.rsplit('.').next()?.to_ascii_lowercase();
        match ext.as_str() {
            "tif" | "tiff" => Some(DerivedFormat::G4),
            "jpg" | "jpeg" => Some(DerivedFormat::Jpeg),
            "png" => Some(DerivedFormat::Png),
            _ => None,
        }
    }
}

/// Encodes a working raster in `format`; `dpi` is written into the file
/// so viewers and the PDF writer know the page's physical size.
pub fn encode(
    img: &GrayImage,
    format: DerivedFormat,
    dpi: u32,
    jpeg_quality: u8,
) -> Result<Vec<u8>, StageError> {
    match format {
        DerivedFormat::G4 => Ok(g4_tiff(img, dpi)),
        DerivedFormat::Jpeg => jpeg(img, jpeg_quality, dpi),
        DerivedFormat::Png => png(img),
    }
}

/// The raw Group 4 bit stream of a thresholded page (black = ink below
/// mid-grey), ending with the end-of-facsimile-block code, as TIFF and
/// PDF's `CCITTFaxDecode` (`K -1`) both read it.
pub fn g4_stream(img: &GrayImage) -> Vec<u8> {
    use fax::{Color, VecWriter, encoder::Encoder};
    let (w, _) = img.dimensions();
    let width = w.min(u16::MAX as u32) as u16;
    let mut encoder = Encoder::new(VecWriter::new());
    for row in img.as_raw().chunks(w.max(1) as usize) {
        let pels = row
            .iter()
            .take(width as usize)
            .map(|&v| if v < 128 { Color::Black } else { Color::White });
        // VecWriter cannot fail.
        let _ = encoder.encode_line(pels, width);
    }
    match encoder.finish() {
        Ok(w) => w.finish(),
        Err(never) => match never {},
    }
}

/// A one-strip, one-page TIFF holding the Group 4 stream (WhiteIsZero,
/// resolution in dots per inch).
pub fn g4_tiff(img: &GrayImage, dpi: u32) -> Vec<u8> {
    let data = g4_stream(img);
    let (w, h) = img.dimensions();
    let dpi = dpi.max(1);
    // Header, strip, then the IFD and the two resolution rationals.
    let strip_at = 8u32;
    let mut ifd_at = strip_at + data.len() as u32;
    ifd_at += ifd_at % 2; // IFDs start on a word boundary
    const TAGS: u16 = 12;
    let rationals_at = ifd_at + 2 + TAGS as u32 * 12 + 4;
    let mut out = Vec::with_capacity(data.len() + 200);
    out.extend_from_slice(b"II*\0");
    out.extend_from_slice(&ifd_at.to_le_bytes());
    out.extend_from_slice(&data);
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out.extend_from_slice(&TAGS.to_le_bytes());
    let mut tag = |id: u16, kind: u16, value: u32| {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        if kind == 3 {
            out.extend_from_slice(&(value as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&value.to_le_bytes());
        }
    };
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    tag(256, LONG, w); // ImageWidth
    tag(257, LONG, h); // ImageLength
    tag(258, SHORT, 1); // BitsPerSample
    tag(259, SHORT, 4); // Compression: CCITT T.6 (Group 4)
    tag(262, SHORT, 0); // PhotometricInterpretation: WhiteIsZero
    tag(273, LONG, strip_at); // StripOffsets
    tag(277, SHORT, 1); // SamplesPerPixel
    tag(278, LONG, h); // RowsPerStrip
    tag(279, LONG, data.len() as u32); // StripByteCounts
    tag(282, RATIONAL, rationals_at); // XResolution
    tag(283, RATIONAL, rationals_at + 8); // YResolution
    tag(296, SHORT, 2); // ResolutionUnit: inch
    out.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    for _ in 0..2 {
        out.extend_from_slice(&dpi.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out
}

/// The Group 4 stream and size inside a TIFF written by `g4_tiff` (or any
/// one-strip Group 4 TIFF): what the PDF writer embeds as is.
pub fn g4_from_tiff(tiff: &[u8]) -> Result<(u32, u32, Vec<u8>), StageError> {
    use tiff::decoder::Decoder;
    use tiff::tags::Tag;
    let bad = |why: String| invalid(format!("derived G4 TIFF: {why}"));
    let mut d = Decoder::new(std::io::Cursor::new(tiff)).map_err(|e| bad(e.to_string()))?;
    let (w, h) = d.dimensions().map_err(|e| bad(e.to_string()))?;
    let compression = d
        .get_tag_u32(Tag::Compression)
        .map_err(|e| bad(e.to_string()))?;
    if compression != 4 {
        return Err(bad(format!("compression {compression}, not Group 4")));
    }
    let offsets = d
        .get_tag_u32_vec(Tag::StripOffsets)
        .map_err(|e| bad(e.to_string()))?;
    let counts = d
        .get_tag_u32_vec(Tag::StripByteCounts)
        .map_err(|e| bad(e.to_string()))?;
    if offsets.len() != 1 || counts.len() != 1 {
        return Err(bad(format!("{} strips, expected one", offsets.len())));
    }
    let (at, n) = (offsets[0] as usize, counts[0] as usize);
    let data = tiff
        .get(at..at.saturating_add(n))
        .ok_or_else(|| bad("strip beyond the end of the file".into()))?;
    Ok((w, h, data.to_vec()))
}

/// An encoding failure, named as the encode stage's.
fn invalid(reason: String) -> StageError {
    StageError::Invalid {
        stage: "encode",
        reason,
    }
}

/// Baseline greyscale JPEG through libjpeg-turbo (the JPEG library of
/// scanners and viewers): on a 300-dpi A4 page 12 ms against 27 ms for
/// the pure-Rust `jpeg-encoder` it replaced, at the same size.
fn jpeg(img: &GrayImage, quality: u8, dpi: u32) -> Result<Vec<u8>, StageError> {
    let (w, h) = img.dimensions();
    for v in [w, h] {
        if v > u16::MAX as u32 {
            return Err(invalid(format!(
                "JPEG encode: a side of {v} pixels exceeds 65,535"
            )));
        }
    }
    let mut compressor =
        turbojpeg::Compressor::new().map_err(|e| invalid(format!("JPEG encode: {e}")))?;
    compressor.set_quality(i32::from(quality.clamp(1, 100)));
    compressor.set_subsamp(turbojpeg::Subsamp::Gray);
    let raster = turbojpeg::Image {
        pixels: img.as_raw().as_slice(),
        width: w as usize,
        pitch: w as usize,
        height: h as usize,
        format: turbojpeg::PixelFormat::GRAY,
    };
    let mut jpeg = compressor
        .compress_to_vec(raster)
        .map_err(|e| invalid(format!("JPEG encode: {e}")))?;
    set_jfif_density(&mut jpeg, dpi);
    Ok(jpeg)
}

/// Writes `dpi` into a JPEG's JFIF header (libjpeg-turbo's compressor
/// leaves it at "aspect 1:1, no unit"), adding the header if the file
/// has none, so the page keeps its physical size.
fn set_jfif_density(jpeg: &mut Vec<u8>, dpi: u32) {
    let d = dpi.clamp(1, u16::MAX as u32) as u16;
    let [hi, lo] = d.to_be_bytes();
    // SOI, APP0, length 16, "JFIF\0", version 1.1, unit inch, x, y, no thumbnail.
    let header = [
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x01, hi, lo, hi, lo,
        0x00, 0x00,
    ];
    if jpeg.len() >= 20 && jpeg[2..4] == [0xFF, 0xE0] && &jpeg[6..11] == b"JFIF\0" {
        jpeg[13] = 0x01;
        jpeg[14..18].copy_from_slice(&[hi, lo, hi, lo]);
    } else if jpeg.len() >= 2 {
        jpeg.splice(2..2, header);
    }
}

fn png(img: &GrayImage) -> Result<Vec<u8>, StageError> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut buf = Vec::new();
    PngEncoder::new_with_quality(&mut buf, CompressionType::Fast, FilterType::Sub)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| invalid(format!("PNG encode: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode;

    fn page() -> GrayImage {
        // A white page with a black frame and a diagonal stroke.
        GrayImage::from_fn(203, 97, |x, y| {
            let ink = x < 3 || y < 3 || x > 199 || y > 93 || (x / 2 == y && x > 10);
            image::Luma([if ink { 0 } else { 255 }])
        })
    }

    #[test]
    fn jpeg_decodes_back_to_the_page_with_its_dpi_and_oversize_is_refused() {
        let img = GrayImage::from_fn(203, 97, |x, y| image::Luma([((x * 3 + y) % 256) as u8]));
        let bytes = encode(&img, DerivedFormat::Jpeg, 300, 90).unwrap();
        let back = decode::decode_all(&bytes, &decode::DecodeLimits::default())
            .unwrap()
            .remove(0);
        assert_eq!(back.gray.dimensions(), (203, 97));
        assert_eq!(back.dpi, Some(300.0));
        let worst = img
            .as_raw()
            .iter()
            .zip(back.gray.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 24, "{worst}");
        let wide = GrayImage::new(70_000, 1);
        let err = encode(&wide, DerivedFormat::Jpeg, 300, 80).unwrap_err();
        assert!(err.to_string().contains("65,535"), "{err}");
    }

    #[test]
    fn a_jpeg_without_a_jfif_header_gets_one_with_its_dpi() {
        let img = GrayImage::from_fn(64, 48, |x, y| image::Luma([((x + y) % 256) as u8]));
        let mut bytes = encode(&img, DerivedFormat::Jpeg, 300, 80).unwrap();
        assert_eq!(&bytes[6..11], b"JFIF\0");
        // Cut the APP0 segment out: SOI, then straight to the tables.
        let app0 = 2 + u16::from_be_bytes([bytes[4], bytes[5]]) as usize;
        bytes.drain(2..2 + app0);
        set_jfif_density(&mut bytes, 200);
        let back = decode::page_at(&bytes, 0, &decode::DecodeLimits::default()).unwrap();
        assert_eq!(back.dpi, Some(200.0));
        assert_eq!(back.gray.dimensions(), (64, 48));
    }

    #[test]
    fn g4_tiff_decodes_back_to_the_same_bilevel_page() {
        let img = page();
        let tiff = g4_tiff(&img, 300);
        let back = decode::page_at(&tiff, 0, &decode::DecodeLimits::default()).unwrap();
        assert_eq!(back.gray.dimensions(), img.dimensions());
        assert_eq!(back.dpi, Some(300.0));
        let differ = back
            .gray
            .pixels()
            .zip(img.pixels())
            .filter(|(a, b)| (a.0[0] < 128) != (b.0[0] < 128))
            .count();
        assert_eq!(differ, 0, "G4 is lossless for a bilevel page");
        let (w, h, data) = g4_from_tiff(&tiff).unwrap();
        assert_eq!((w, h), (203, 97));
        assert_eq!(data, g4_stream(&img));
    }

    #[test]
    fn g4_is_far_smaller_than_png_for_a_text_page() {
        // An A5-sized page at 100 dpi with rows of "words".
        let img = GrayImage::from_fn(580, 830, |x, y| {
            let row = y % 40 < 14 && y > 60 && y < 780;
            let word = (x / 7 + y / 40) % 9 != 0 && x % 7 < 5 && x > 50 && x < 530;
            image::Luma([if row && word { 0 } else { 255 }])
        });
        let g4 = encode(&img, DerivedFormat::G4, 300, 75).unwrap();
        let png = encode(&img, DerivedFormat::Png, 300, 75).unwrap();
        assert!(g4.len() * 2 < png.len(), "{} vs {}", g4.len(), png.len());
    }

    #[test]
    fn a_tiff_that_is_not_group_4_is_refused_with_a_reason() {
        let err = g4_from_tiff(b"II*\0garbage").unwrap_err();
        assert!(err.to_string().contains("derived G4 TIFF"), "{err}");
    }

    #[test]
    fn formats_know_their_names() {
        for f in [DerivedFormat::G4, DerivedFormat::Jpeg, DerivedFormat::Png] {
            assert_eq!(
                DerivedFormat::from_path(&format!("p0001.{}", f.extension())),
                Some(f)
            );
        }
        assert_eq!(DerivedFormat::from_path("p0001.bmp"), None);
    }
}
