//! Decode: file bytes in, page rasters out, one page at a time so memory is
//! bounded by the page being decoded, not by the file. Owns the public
//! decode API ([`pages`], [`page_at`], [`decode_all`], [`survey`], [`Format`], and
//! [`DecodeLimits`] re-exported from `limits`) and the TIFF (incl.
//! multi-page and CCITT G4), PNG and JPEG decoding. Image-only PDFs are
//! read by the private `pdf` submodule. Imports run one way:
//! this module → `pdf` → `limits`. Every limit is explicit.

mod limits;
mod pdf;
mod survey;

pub use limits::DecodeLimits;
pub use survey::survey;

use crate::error::StageError;
use crate::page::{ColorMode, PageImage};
use crate::raster::{cmyk_to_rgb, is_bilevel};
use image::{DynamicImage, GrayImage, ImageReader};
use limits::{check_file_size, check_limit, check_size};
use pdf::PdfPages;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use tiff::decoder::{Decoder as TiffDecoder, DecodingResult};
use tiff::tags::Tag;

/// File formats Folio reads, told by their magic bytes, never the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// TIFF, one page per image directory (IFD): what archive scanners
    /// write, often multi-page and CCITT G4.
    Tiff,
    /// PNG: one page, lossless; common for born-digital exports of scans.
    Png,
    /// JPEG: one page; what phone and sheet-fed colour scans produce.
    Jpeg,
    /// An image-only PDF: each page's scanned image is read, as displayed.
    Pdf,
}

impl Format {
    /// Tells the format from the first bytes of a file.
    pub fn sniff(bytes: &[u8]) -> Result<Format, StageError> {
        match bytes {
            [0x49, 0x49, 0x2A, 0x00, ..] | [0x4D, 0x4D, 0x00, 0x2A, ..] => Ok(Format::Tiff),
            [0x89, b'P', b'N', b'G', ..] => Ok(Format::Png),
            [0xFF, 0xD8, 0xFF, ..] => Ok(Format::Jpeg),
            [b'%', b'P', b'D', b'F', ..] => Ok(Format::Pdf),
            [] => Err(StageError::UnsupportedFormat(": the file is empty".into())),
            _ => Err(StageError::UnsupportedFormat(String::new())),
        }
    }

    /// Lower-case extension for derived names.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Tiff => "tif",
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Pdf => "pdf",
        }
    }
}

/// Pages of one file, decoded lazily in order. Construct with [`pages`].
/// After the first error the iterator ends: a broken page means the file
/// goes to quarantine whole, so nothing after it is guessed at.
pub struct Pages<'a> {
    source: Source<'a>,
    limits: DecodeLimits,
    next_index: usize,
    done: bool,
}

enum Source<'a> {
    Tiff(Box<TiffDecoder<Cursor<&'a [u8]>>>),
    Pdf(Box<PdfPages>),
    Single(&'a [u8], Format),
}

/// Opens a file's bytes for page-by-page decoding. Fails only when the
/// file as a whole is unreadable (format, size, header).
pub fn pages<'a>(bytes: &'a [u8], limits: &DecodeLimits) -> Result<Pages<'a>, StageError> {
    check_file_size(bytes, limits)?;
    let format = Format::sniff(bytes)?;
    let source = match format {
        Format::Tiff => Source::Tiff(Box::new(open_tiff(bytes, limits)?)),
        Format::Pdf => Source::Pdf(Box::new(PdfPages::open(bytes, limits)?)),
        other => Source::Single(bytes, other),
    };
    Ok(Pages {
        source,
        limits: limits.clone(),
        next_index: 0,
        done: false,
    })
}

/// Decodes every page of a file at once; for tests and small files. The
/// pipeline uses [`pages`] to keep memory bounded.
pub fn decode_all(bytes: &[u8], limits: &DecodeLimits) -> Result<Vec<PageImage>, StageError> {
    pages(bytes, limits)?.collect()
}

/// Decodes only page `index` (0-based) of a file, skipping earlier pages
/// without decoding their pixels (TIFF: walk the IFD chain; PDF: random
/// access; single-image formats: index 0 only). Lets a worker that
/// claimed one page of a multi-page file decode just that page.
///
/// The same limits apply as for [`pages`] (file size, `max_pages` while
/// the TIFF chain is walked or up front for a PDF, page size), so a page
/// reads here exactly as the `index`-th item of [`pages`] does. An
/// `index` past the file's last page is [`StageError::NoSuchPage`].
pub fn page_at(bytes: &[u8], index: usize, limits: &DecodeLimits) -> Result<PageImage, StageError> {
    check_file_size(bytes, limits)?;
    match Format::sniff(bytes)? {
        Format::Tiff => {
            let mut dec = open_tiff(bytes, limits)?;
            for i in 1..=index {
                // `pages` ends after the directory with no successor.
                if !dec.more_images() {
                    return Err(StageError::NoSuchPage {
                        page: index,
                        count: i,
                    });
                }
                advance_tiff(&mut dec, i, limits)?;
            }
            decode_tiff_page(&mut dec, index, limits)
        }
        Format::Pdf => {
            let pdf = PdfPages::open(bytes, limits)?;
            if index >= pdf.page_count() {
                return Err(StageError::NoSuchPage {
                    page: index,
                    count: pdf.page_count(),
                });
            }
            pdf.decode_page(index)
        }
        other if index == 0 => decode_single(bytes, other, limits),
        _ => Err(StageError::NoSuchPage {
            page: index,
            count: 1,
        }),
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<PageImage, StageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let index = self.next_index;
        self.next_index += 1;
        let result = match &mut self.source {
            Source::Single(bytes, format) => {
                self.done = true;
                decode_single(bytes, *format, &self.limits)
            }
            Source::Tiff(dec) => {
                let result = if index == 0 {
                    Ok(())
                } else {
                    advance_tiff(dec, index, &self.limits)
                };
                let result = result.and_then(|()| decode_tiff_page(dec, index, &self.limits));
                if result.is_err() || !dec.more_images() {
                    self.done = true;
                }
                result
            }
            Source::Pdf(pdf) => {
                if index + 1 >= pdf.page_count() {
                    self.done = true;
                }
                pdf.decode_page(index)
            }
        };
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

/// Opens a TIFF's first directory with the decoder's buffers capped by
/// `max_pixels`; no pixels are read yet.
fn open_tiff<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<TiffDecoder<Cursor<&'a [u8]>>, StageError> {
    let mut tiff_limits = tiff::decoder::Limits::default();
    let cap = usize::try_from(limits.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX);
    tiff_limits.decoding_buffer_size = cap;
    tiff_limits.intermediate_buffer_size = cap;
    Ok(TiffDecoder::new(Cursor::new(bytes))
        .map_err(|e| corrupt(0, e))?
        .with_limits(tiff_limits))
}

/// Moves to the directory of page `index` (reads its header only),
/// refusing it first if it is over `max_pages`.
fn advance_tiff(
    dec: &mut TiffDecoder<Cursor<&[u8]>>,
    index: usize,
    limits: &DecodeLimits,
) -> Result<(), StageError> {
    check_limit(
        index,
        "page count",
        "max_pages",
        index as u64 + 1,
        limits.max_pages,
    )?;
    dec.next_image().map_err(|e| corrupt(index, e))
}

fn decode_tiff_page(
    dec: &mut TiffDecoder<Cursor<&[u8]>>,
    index: usize,
    limits: &DecodeLimits,
) -> Result<PageImage, StageError> {
    let (w, h) = dec.dimensions().map_err(|e| corrupt(index, e))?;
    check_size(index, w, h, limits)?;
    let color_type = dec.colortype().map_err(|e| corrupt(index, e))?;
    let dpi = tiff_dpi(dec);
    let data = dec.read_image().map_err(|e| corrupt(index, e))?;
    let (gray, color, ink) =
        tiff_to_gray(data, color_type, w, h).ok_or_else(|| StageError::Corrupt {
            page: index,
            reason: format!("unsupported TIFF pixel layout {color_type:?}"),
        })?;
    Ok(PageImage::new(gray, color, dpi).with_ink(ink))
}

fn tiff_dpi(dec: &mut TiffDecoder<Cursor<&[u8]>>) -> Option<f32> {
    let value = dec.get_tag(Tag::XResolution).ok()?;
    let x = match value {
        tiff::decoder::ifd::Value::Rational(n, d) if d != 0 => n as f32 / d as f32,
        other => other.into_f32().ok()?,
    };
    // ResolutionUnit: 1 none, 2 inch (default), 3 centimetre.
    let unit = dec
        .get_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .unwrap_or(2);
    match unit {
        3 => Some(x * 2.54),
        2 => Some(x),
        _ => None,
    }
    .filter(|d| d.is_finite() && *d > 0.0)
}

fn tiff_to_gray(
    data: DecodingResult,
    color_type: tiff::ColorType,
    w: u32,
    h: u32,
) -> Option<Raster> {
    use tiff::ColorType as C;
    // The tiff crate already turns WhiteIsZero data into BlackIsZero.
    let buf = match data {
        DecodingResult::U8(b) => b,
        DecodingResult::U16(b) => {
            // Keep the high byte: 16-bit scans are rare and 8 bits is what
            // every later stage reads.
            let channels = match color_type {
                C::Gray(_) => 1,
                C::RGB(_) => 3,
                C::RGBA(_) => 4,
                _ => return None,
            };
            let img = b.iter().map(|v| (v >> 8) as u8).collect::<Vec<u8>>();
            return raw_to_gray(img, channels, w, h);
        }
        _ => return None,
    };
    match color_type {
        C::Gray(1) => {
            let stride = (w as usize).div_ceil(8);
            if buf.len() < stride * h as usize {
                return None;
            }
            Some((unpack_bits(&buf, w, h), ColorMode::Bilevel, None))
        }
        C::Gray(8) => raw_to_gray(buf, 1, w, h),
        C::GrayA(8) => raw_to_gray(buf, 2, w, h),
        C::RGB(8) => raw_to_gray(buf, 3, w, h),
        C::RGBA(8) => raw_to_gray(buf, 4, w, h),
        C::CMYK(8) => {
            let rgb: Vec<u8> = buf
                .chunks_exact(4)
                .flat_map(|p| cmyk_to_rgb(p[0], p[1], p[2], p[3]))
                .collect();
            raw_to_gray(rgb, 3, w, h)
        }
        _ => None,
    }
}

/// A decoded raster: the working grey, its colour mode, and for a colour
/// page the darkest-channel raster recognition reads.
type Raster = (GrayImage, ColorMode, Option<GrayImage>);

/// A 1-bit raster (rows padded to whole bytes, 1 = white) as 0/255
/// grey, eight pixels per byte through a table: the per-pixel loop took
/// ~6 ms of a 300-dpi A4 Group 4 page's decode.
fn unpack_bits(buf: &[u8], w: u32, h: u32) -> GrayImage {
    const fn table() -> [[u8; 8]; 256] {
        let mut t = [[0u8; 8]; 256];
        let mut byte = 0;
        while byte < 256 {
            let mut bit = 0;
            while bit < 8 {
                t[byte][bit] = if (byte >> (7 - bit)) & 1 == 1 { 255 } else { 0 };
                bit += 1;
            }
            byte += 1;
        }
        t
    }
    static SPREAD: [[u8; 8]; 256] = table();
    let (w, h) = (w as usize, h as usize);
    let stride = w.div_ceil(8);
    let mut out = vec![0u8; w * h];
    for (row, src) in out
        .chunks_exact_mut(w.max(1))
        .zip(buf.chunks(stride.max(1)))
        .take(h)
    {
        let mut eights = row.chunks_exact_mut(8);
        for (dst, &byte) in (&mut eights).zip(src) {
            dst.copy_from_slice(&SPREAD[byte as usize]);
        }
        let rest = eights.into_remainder();
        if let Some(&byte) = src.get(w / 8) {
            let n = rest.len();
            rest.copy_from_slice(&SPREAD[byte as usize][..n]);
        }
    }
    // `out` holds exactly w × h bytes.
    GrayImage::from_raw(w as u32, h as u32, out).unwrap_or_default()
}

fn raw_to_gray(buf: Vec<u8>, channels: usize, w: u32, h: u32) -> Option<Raster> {
    let n = w as usize * h as usize;
    if buf.len() < n * channels {
        return None;
    }
    let (img, mode) = match channels {
        1 => (
            DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, buf)?),
            ColorMode::Gray,
        ),
        2 => (
            DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_raw(w, h, buf)?),
            ColorMode::Gray,
        ),
        3 => (
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, buf)?),
            ColorMode::Color,
        ),
        4 => (
            DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, buf)?),
            ColorMode::Color,
        ),
        _ => return None,
    };
    let ink = (mode == ColorMode::Color).then(|| darkest_channel(&img));
    let gray = into_luma8(img);
    let mode = if mode == ColorMode::Gray && is_bilevel(&gray) {
        ColorMode::Bilevel
    } else {
        mode
    };
    Some((gray, mode, ink))
}

fn decode_single(
    bytes: &[u8],
    format: Format,
    limits: &DecodeLimits,
) -> Result<PageImage, StageError> {
    let image_format = match format {
        Format::Png => image::ImageFormat::Png,
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Tiff => image::ImageFormat::Tiff,
        Format::Pdf => {
            return Err(StageError::Invalid {
                stage: "decode",
                reason: "a PDF is read page by page, not as one image".into(),
            });
        }
    };
    let reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    let (w, h) = reader.into_dimensions().map_err(|e| corrupt(0, e))?;
    check_size(0, w, h, limits)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    let mut img_limits = image::Limits::default();
    img_limits.max_image_width = Some(limits.max_side.min(u32::MAX as u64) as u32);
    img_limits.max_image_height = Some(limits.max_side.min(u32::MAX as u64) as u32);
    img_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(img_limits);
    let img = reader.decode().map_err(|e| corrupt(0, e))?;
    let color = if img.color().has_color() {
        ColorMode::Color
    } else {
        ColorMode::Gray
    };
    let ink = (color == ColorMode::Color).then(|| darkest_channel(&img));
    let gray = into_luma8(img);
    let color = if color == ColorMode::Gray && is_bilevel(&gray) {
        ColorMode::Bilevel
    } else {
        color
    };
    let dpi = match format {
        Format::Png => png_dpi(bytes),
        Format::Jpeg => jpeg_dpi(bytes),
        Format::Tiff | Format::Pdf => None,
    };
    Ok(PageImage::new(gray, color, dpi).with_ink(ink))
}

/// The grey raster of a decoded image: a grey file's own buffer, not a
/// copy of it (a 300-dpi A4 page is 8.7 MB, and its copy faulted in page
/// by page cost ~3 ms).
fn into_luma8(img: DynamicImage) -> GrayImage {
    match img {
        DynamicImage::ImageLuma8(gray) => gray,
        other => other.to_luma8(),
    }
}

/// The darkest of a colour image's channels at each pixel, over white
/// where it is transparent (see [`PageImage::ink`]).
fn darkest_channel(img: &DynamicImage) -> GrayImage {
    // Straight over the samples for the layouts scanners write; every
    // other layout through RGBA.
    if let DynamicImage::ImageRgb8(rgb) = img {
        let (w, h) = rgb.dimensions();
        let dark = rgb
            .as_raw()
            .chunks_exact(3)
            .map(|p| p[0].min(p[1]).min(p[2]))
            .collect();
        if let Some(out) = GrayImage::from_raw(w, h, dark) {
            return out;
        }
    }
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    GrayImage::from_fn(w, h, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let dark = u32::from(r.min(g).min(b));
        let a = u32::from(a);
        image::Luma([((dark * a + 255 * (255 - a)) / 255) as u8])
    })
}

/// Resolution from a PNG's `pHYs` chunk (pixels per metre).
fn png_dpi(bytes: &[u8]) -> Option<f32> {
    let mut pos = 8;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        if kind == b"IDAT" {
            return None;
        }
        if kind == b"pHYs" && len >= 9 {
            let body = bytes.get(pos + 8..pos + 17)?;
            let ppm = u32::from_be_bytes(body[0..4].try_into().ok()?);
            // Pixels per metre rarely give a whole dpi (7874 → 199.9996): round.
            return (body[8] == 1 && ppm > 0).then(|| (ppm as f32 * 0.0254).round());
        }
        pos = pos.checked_add(12 + len)?;
    }
    None
}

/// Resolution from a JPEG's JFIF APP0 segment.
fn jpeg_dpi(bytes: &[u8]) -> Option<f32> {
    let seg = bytes.get(2..20)?;
    if seg[0] != 0xFF || seg[1] != 0xE0 || &seg[4..9] != b"JFIF\0" {
        return None;
    }
    let units = seg[11];
    let x = u16::from_be_bytes([seg[12], seg[13]]) as f32;
    match units {
        1 if x > 1.0 => Some(x),
        2 if x > 1.0 => Some(x * 2.54),
        _ => None,
    }
}

fn corrupt(page: usize, e: impl std::fmt::Display) -> StageError {
    StageError::Corrupt {
        page,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn shared(path: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data")
            .join(path);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn g4_tiff_decodes_black_text_on_white_with_dpi() {
        let pages = decode_all(
            &shared("tesseract-test/8087_054.3B.tif"),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(pages.len(), 1);
        let p = &pages[0];
        assert_eq!(p.color, ColorMode::Bilevel);
        assert_eq!(p.dpi.map(|d| d.round()), Some(300.0));
        let white = p.gray.as_raw().iter().filter(|&&v| v == 255).count();
        let frac = white as f64 / p.gray.as_raw().len() as f64;
        assert!(frac > 0.8, "page should be mostly white paper, got {frac}");
    }

    #[test]
    fn png_and_jpeg_decode() {
        let png = decode_all(
            &shared("tesseract-test/phototest-rotated-180.png"),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(png.len(), 1);
        let jpg = decode_all(&shared("forms-zh/form_001.jpg"), &DecodeLimits::default()).unwrap();
        assert_eq!(jpg.len(), 1);
        assert!(jpg[0].gray.width() > 1000);
    }

    #[test]
    fn pixel_limit_is_enforced_with_its_key() {
        let limits = DecodeLimits {
            max_pixels: 1000,
            ..DecodeLimits::default()
        };
        let err = decode_all(&shared("tesseract-test/phototest.tif"), &limits).unwrap_err();
        assert!(err.to_string().contains("max_pixels"), "{err}");
    }

    #[test]
    fn truncated_and_foreign_bytes_are_errors_not_panics() {
        let bytes = shared("tesseract-test/8087_054.3B.tif");
        for cut in [0, 3, 8, 100, bytes.len() / 2] {
            assert!(
                decode_all(&bytes[..cut], &DecodeLimits::default()).is_err(),
                "cut at {cut}"
            );
        }
        let err = decode_all(b"hello, not an image", &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, StageError::UnsupportedFormat(_)));
        let png = shared("tesseract-test/phototest-rotated-180.png");
        assert!(decode_all(&png[..png.len() / 3], &DecodeLimits::default()).is_err());
        for cut in [0, 3, 8, 100, bytes.len() / 2] {
            assert!(
                page_at(&bytes[..cut], 0, &DecodeLimits::default()).is_err(),
                "page_at, cut at {cut}"
            );
        }
    }

    /// Asserts two decodes of one page are the same page: size, pixels,
    /// colour mode, resolution and shown tilt.
    pub(super) fn assert_same_page(a: &PageImage, b: &PageImage, what: &str) {
        assert_eq!(a.gray.dimensions(), b.gray.dimensions(), "{what}: size");
        assert!(a.gray.as_raw() == b.gray.as_raw(), "{what}: pixels differ");
        assert_eq!(a.color, b.color, "{what}: colour mode");
        assert_eq!(a.dpi, b.dpi, "{what}: dpi");
        assert_eq!(a.shown_tilt_deg, b.shown_tilt_deg, "{what}: tilt");
    }

    /// A four-page TIFF with a different size and pixel layout on each
    /// page: grey at 300 dpi, RGB, bi-level stored as grey, CMYK.
    fn four_page_tiff() -> Vec<u8> {
        use tiff::encoder::{Rational, TiffEncoder, colortype};
        use tiff::tags::ResolutionUnit;
        let mut buf = Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut buf).unwrap();
        let grey: Vec<u8> = (0..40 * 30).map(|i| (i * 7 % 251) as u8).collect();
        let mut page = enc.new_image::<colortype::Gray8>(40, 30).unwrap();
        page.resolution(ResolutionUnit::Inch, Rational { n: 300, d: 1 });
        page.write_data(&grey).unwrap();
        let rgb: Vec<u8> = (0..25 * 50 * 3).map(|i| (i * 13 % 256) as u8).collect();
        enc.write_image::<colortype::RGB8>(25, 50, &rgb).unwrap();
        let checker: Vec<u8> = (0..16 * 16)
            .map(|i| if (i / 16 + i % 16) % 2 == 0 { 0 } else { 255 })
            .collect();
        enc.write_image::<colortype::Gray8>(16, 16, &checker)
            .unwrap();
        let cmyk: Vec<u8> = (0..10 * 12 * 4).map(|i| (i * 29 % 256) as u8).collect();
        enc.write_image::<colortype::CMYK8>(10, 12, &cmyk).unwrap();
        buf.into_inner()
    }

    #[test]
    fn page_at_matches_pages_on_every_page_of_a_multipage_tiff() {
        let bytes = four_page_tiff();
        let limits = DecodeLimits::default();
        let all = decode_all(&bytes, &limits).unwrap();
        assert_eq!(all.len(), 4);
        let sizes: Vec<_> = all.iter().map(|p| p.gray.dimensions()).collect();
        assert_eq!(sizes, [(40, 30), (25, 50), (16, 16), (10, 12)]);
        assert_eq!(all[0].dpi, Some(300.0));
        assert_eq!(all[2].color, ColorMode::Bilevel);
        for (k, want) in all.iter().enumerate() {
            let got = page_at(&bytes, k, &limits).unwrap_or_else(|e| panic!("page {k}: {e}"));
            assert_same_page(&got, want, &format!("page index {k}"));
        }
        for index in [4, 5, usize::MAX] {
            let err = page_at(&bytes, index, &limits).unwrap_err();
            assert!(
                matches!(err, StageError::NoSuchPage { page, count: 4 } if page == index),
                "{err}"
            );
        }
        let err = page_at(&bytes, 4, &limits).unwrap_err();
        assert!(err.to_string().starts_with("page 5: no such page"), "{err}");
    }

    #[test]
    fn page_at_applies_the_page_limit_as_pages_does() {
        let bytes = four_page_tiff();
        let limits = DecodeLimits {
            max_pages: 2,
            ..DecodeLimits::default()
        };
        let from_pages = pages(&bytes, &limits).unwrap().nth(2).unwrap().unwrap_err();
        assert!(
            matches!(
                from_pages,
                StageError::LimitExceeded {
                    page: 2,
                    key: "max_pages",
                    ..
                }
            ),
            "{from_pages}"
        );
        assert!(page_at(&bytes, 1, &limits).is_ok());
        for index in [2, 3, 9] {
            let err = page_at(&bytes, index, &limits).unwrap_err();
            assert_eq!(err.to_string(), from_pages.to_string(), "index {index}");
        }
        let limits = DecodeLimits {
            max_pixels: 1249,
            ..DecodeLimits::default()
        };
        // Page 2 is 25 × 50 = 1250 pixels; pages 1 (1200) and 3 (256) fit.
        assert!(page_at(&bytes, 0, &limits).is_ok());
        let err = page_at(&bytes, 1, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                StageError::LimitExceeded {
                    page: 1,
                    key: "max_pixels",
                    ..
                }
            ),
            "{err}"
        );
        assert!(page_at(&bytes, 2, &limits).is_ok());
        let limits = DecodeLimits {
            max_file_bytes: 100,
            ..DecodeLimits::default()
        };
        let err = page_at(&bytes, 0, &limits).unwrap_err();
        assert!(err.to_string().contains("max_file_bytes"), "{err}");
    }

    #[test]
    fn page_at_reads_single_image_files_at_index_zero_only() {
        let limits = DecodeLimits::default();
        for path in [
            "tesseract-test/phototest-rotated-180.png",
            "forms-zh/form_001.jpg",
            "tesseract-test/8087_054.3B.tif",
        ] {
            let bytes = shared(path);
            let all = decode_all(&bytes, &limits).unwrap();
            assert_eq!(all.len(), 1, "{path}");
            let got = page_at(&bytes, 0, &limits).unwrap();
            assert_same_page(&got, &all[0], path);
            let err = page_at(&bytes, 1, &limits).unwrap_err();
            assert!(
                matches!(err, StageError::NoSuchPage { page: 1, count: 1 }),
                "{path}: {err}"
            );
        }
    }
}
