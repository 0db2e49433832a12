//! Image decoding: a PDF image XObject's bytes through its filters and
//! colour space to an 8-bit grey raster.

use super::*;

/// Last filters of a chain that turn bytes into pixels; everything before
/// them is a byte filter lopdf undoes.
pub(super) const IMAGE_CODECS: [&str; 4] =
    ["DCTDecode", "CCITTFaxDecode", "JBIG2Decode", "JPXDecode"];
/// Byte filters lopdf decodes (predictors included).
pub(super) const BYTE_FILTERS: [&str; 6] = [
    "FlateDecode",
    "LZWDecode",
    "ASCII85Decode",
    "ASCIIHexDecode",
    "RunLengthDecode",
    "BrotliDecode",
];

pub(super) fn filter_name(raw: &[u8]) -> String {
    match raw {
        b"AHx" => "ASCIIHexDecode".into(),
        b"A85" => "ASCII85Decode".into(),
        b"LZW" => "LZWDecode".into(),
        b"Fl" => "FlateDecode".into(),
        b"RL" => "RunLengthDecode".into(),
        b"CCF" => "CCITTFaxDecode".into(),
        b"DCT" => "DCTDecode".into(),
        other => String::from_utf8_lossy(other).into_owned(),
    }
}

/// The stream's filters in decoding order, each with its parameters.
pub(super) fn filters<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    page: usize,
) -> Result<Vec<(String, Option<&'a Dictionary>)>, StageError> {
    let names: Vec<String> = match get(doc, dict, &[b"Filter", b"F"]) {
        None | Some(Object::Null) => Vec::new(),
        Some(Object::Name(n)) => vec![filter_name(n)],
        Some(Object::Array(a)) => a
            .iter()
            .map(|o| match deref(doc, o) {
                Some(Object::Name(n)) => Ok(filter_name(n)),
                _ => Err(corrupt(page, "image /Filter holds a non-name")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(corrupt(
                page,
                "image /Filter is neither a name nor an array",
            ));
        }
    };
    let params = get(doc, dict, &[b"DecodeParms", b"DP"]);
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let p = match params {
                Some(Object::Dictionary(d)) => Some(d),
                Some(Object::Array(a)) => a
                    .get(i)
                    .and_then(|o| deref(doc, o))
                    .and_then(|o| o.as_dict().ok()),
                _ => None,
            };
            (name, p)
        })
        .collect())
}

/// Bytes per row and in all of `h` rows of `w` pixels of `comps`
/// components at `bpc` bits; rows start on a byte boundary.
pub(super) fn sample_bytes(w: u32, h: u32, comps: usize, bpc: u32) -> Option<(usize, usize)> {
    let bits = usize::try_from(w)
        .ok()?
        .checked_mul(comps)?
        .checked_mul(usize::try_from(bpc).ok()?)?;
    let row = bits.div_ceil(8);
    Some((row, row.checked_mul(usize::try_from(h).ok()?)?))
}

pub(super) fn decode_image(
    doc: &Document,
    cand: &Candidate<'_>,
    page: usize,
    limits: &DecodeLimits,
) -> Result<(GrayImage, ColorMode), StageError> {
    let stream = cand.stream();
    let dict = &stream.dict;
    let dim = |keys: &[&[u8]], what: &str| {
        int(doc, dict, keys)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| corrupt(page, format!("the page image has no valid {what}")))
    };
    let w = dim(&[b"Width", b"W"], "/Width")?;
    let h = dim(&[b"Height", b"H"], "/Height")?;
    check_size(page, w, h, limits)?;

    let mut chain = filters(doc, dict, page)?;
    let codec = match chain.last() {
        Some((name, params)) if IMAGE_CODECS.contains(&name.as_str()) => {
            let codec = (name.clone(), *params);
            chain.pop();
            Some(codec)
        }
        _ => None,
    };
    if let Some((name, _)) = chain
        .iter()
        .find(|(n, _)| !BYTE_FILTERS.contains(&n.as_str()))
    {
        return Err(corrupt(
            page,
            format!("unsupported PDF image filter {name}"),
        ));
    }
    if matches!(cand.image, ImageSource::Inline(_)) && !chain.is_empty() {
        return Err(corrupt(
            page,
            "the page image is an inline image with filters",
        ));
    }

    let image_mask = boolean(doc, dict, &[b"ImageMask", b"IM"]).unwrap_or(false);
    let decode = get(doc, dict, &[b"Decode", b"D"])
        .and_then(|o| o.as_array().ok())
        .map(|a| {
            a.iter()
                .filter_map(|o| deref(doc, o).and_then(number))
                .collect::<Vec<_>>()
        });

    match codec {
        Some((name, _)) if name == "DCTDecode" => {
            let (_, cap) = sample_bytes(w, h, 4, 8).ok_or_else(too_big(page))?;
            let data = byte_filtered(stream, &chain, cap.saturating_add(DATA_SLACK), page)?;
            decode_dct(&data, decode.as_deref(), page, limits)
        }
        Some((name, params)) if name == "CCITTFaxDecode" || name == "JBIG2Decode" => {
            let (_, cap) = sample_bytes(w, h, 4, 8).ok_or_else(too_big(page))?;
            let data = byte_filtered(stream, &chain, cap.saturating_add(DATA_SLACK), page)?;
            let packed = if name == "CCITTFaxDecode" {
                decode_ccitt(doc, &data, params, w, h, page)?
            } else {
                decode_jbig2(doc, &data, params, w, h, page, limits)?
            };
            let space = if image_mask {
                Space::Gray
            } else {
                color_space(doc, dict, cand.resources, page)?
            };
            samples_to_gray(&packed, w, h, 1, &space, decode.as_deref(), page)
        }
        Some((name, _)) => Err(corrupt(
            page,
            format!("unsupported PDF image filter {name}"),
        )),
        None => {
            let (space, bpc) = if image_mask {
                (Space::Gray, 1)
            } else {
                let bpc = int(doc, dict, &[b"BitsPerComponent", b"BPC"])
                    .and_then(|v| u32::try_from(v).ok())
                    .filter(|v| matches!(v, 1 | 2 | 4 | 8 | 16))
                    .ok_or_else(|| {
                        corrupt(page, "the page image has no valid /BitsPerComponent")
                    })?;
                (color_space(doc, dict, cand.resources, page)?, bpc)
            };
            let (_, need) = sample_bytes(w, h, space.comps(), bpc).ok_or_else(too_big(page))?;
            let cap = need.saturating_mul(2).saturating_add(DATA_SLACK);
            let data = match &cand.image {
                ImageSource::Inline(s) => Cow::Borrowed(s.content.as_slice()),
                ImageSource::XObject(s) => byte_filtered(s, &chain, cap, page)?,
            };
            samples_to_gray(&data, w, h, bpc, &space, decode.as_deref(), page)
        }
    }
}

pub(super) fn too_big(page: usize) -> impl Fn() -> StageError {
    move || corrupt(page, "the page image's size overflows")
}

/// The stream's bytes with its byte filters undone, refused past `cap`
/// bytes so a small stream cannot inflate without bound.
pub(super) fn byte_filtered<'s>(
    stream: &'s Stream,
    chain: &[(String, Option<&Dictionary>)],
    cap: usize,
    page: usize,
) -> Result<Cow<'s, [u8]>, StageError> {
    if chain.is_empty() {
        if stream.content.len() > cap {
            return Err(corrupt(
                page,
                "the page image holds far more data than its size needs",
            ));
        }
        return Ok(Cow::Borrowed(stream.content.as_slice()));
    }
    // A fresh dictionary with the parameters dereferenced (lopdf reads only
    // direct ones) and without the image codec lopdf does not know.
    let mut dict = Dictionary::new();
    dict.set(
        "Filter",
        Object::Array(
            chain
                .iter()
                .map(|(n, _)| Object::Name(n.as_bytes().to_vec()))
                .collect(),
        ),
    );
    dict.set(
        "DecodeParms",
        Object::Array(
            chain
                .iter()
                .map(|(_, p)| p.map_or(Object::Null, |d| Object::Dictionary(d.clone())))
                .collect(),
        ),
    );
    let tmp = Stream::new(dict, stream.content.clone());
    tmp.decompressed_content_with_limit(cap)
        .map(Cow::Owned)
        .map_err(|e| match e {
            lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. }) => {
                corrupt(
                    page,
                    "the page image inflates to far more data than its size needs",
                )
            }
            other => corrupt(page, format!("page image data: {other}")),
        })
}

/// Colour spaces reduced to what a greyscale working raster needs.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Space {
    Gray,
    Rgb,
    Cmyk,
    /// Separation or DeviceN with n colourants: tint is ink, 0 = paper.
    Ink(usize),
    /// A palette, already turned into grey levels; `color` when some entry
    /// is not neutral.
    Indexed {
        gray: Vec<u8>,
        color: bool,
    },
}

impl Space {
    pub(super) fn comps(&self) -> usize {
        match self {
            Space::Gray | Space::Indexed { .. } => 1,
            Space::Rgb => 3,
            Space::Cmyk => 4,
            Space::Ink(n) => *n,
        }
    }

    /// Grey level of one pixel whose components are already 0–255.
    pub(super) fn gray(&self, c: &[u8]) -> u8 {
        let at = |i: usize| c.get(i).copied().unwrap_or(0);
        match self {
            Space::Gray => at(0),
            Space::Rgb => luma(at(0), at(1), at(2)),
            Space::Cmyk => {
                let [r, g, b] = cmyk_to_rgb(at(0), at(1), at(2), at(3));
                luma(r, g, b)
            }
            Space::Ink(_) => 255 - c.iter().copied().max().unwrap_or(0),
            Space::Indexed { gray, .. } => gray.get(usize::from(at(0))).copied().unwrap_or(0),
        }
    }
}

/// Rec. 709 luma, as `image`'s `to_luma8` computes it, so a PDF page and
/// the same scan as PNG give the same raster.
pub(super) fn luma(r: u8, g: u8, b: u8) -> u8 {
    let l = 2126 * u32::from(r) + 7152 * u32::from(g) + 722 * u32::from(b);
    (l / 10_000) as u8
}

pub(super) fn color_space(
    doc: &Document,
    dict: &Dictionary,
    resources: Option<&Dictionary>,
    page: usize,
) -> Result<Space, StageError> {
    let obj = get(doc, dict, &[b"ColorSpace", b"CS"])
        .ok_or_else(|| corrupt(page, "the page image has no /ColorSpace"))?;
    parse_space(doc, obj, resources, 0).map_err(|reason| corrupt(page, reason))
}

pub(super) fn parse_space(
    doc: &Document,
    obj: &Object,
    resources: Option<&Dictionary>,
    depth: usize,
) -> Result<Space, String> {
    if depth > MAX_TREE_DEPTH {
        return Err("colour spaces nested too deep".into());
    }
    let obj = deref(doc, obj).ok_or("the image colour space is missing")?;
    let (family, args): (&[u8], &[Object]) = match obj {
        Object::Name(n) => (n, &[]),
        Object::Array(a) => match a.split_first() {
            Some((first, rest)) => (
                deref(doc, first)
                    .and_then(|o| o.as_name().ok())
                    .ok_or("the image colour space array has no family name")?,
                rest,
            ),
            None => return Err("the image colour space array is empty".into()),
        },
        _ => return Err("the image colour space is neither a name nor an array".into()),
    };
    let arg = |i: usize| args.get(i).and_then(|o| deref(doc, o));
    match family {
        b"DeviceGray" | b"G" | b"CalGray" => Ok(Space::Gray),
        b"DeviceRGB" | b"RGB" | b"CalRGB" => Ok(Space::Rgb),
        b"DeviceCMYK" | b"CMYK" | b"CalCMYK" => Ok(Space::Cmyk),
        b"ICCBased" => {
            let icc = arg(0)
                .and_then(|o| o.as_stream().ok())
                .ok_or("ICCBased colour space without its profile stream")?;
            match int(doc, &icc.dict, &[b"N"]) {
                Some(1) => Ok(Space::Gray),
                Some(3) => Ok(Space::Rgb),
                Some(4) => Ok(Space::Cmyk),
                _ => match icc.dict.get(b"Alternate") {
                    Ok(alt) => parse_space(doc, alt, resources, depth + 1),
                    Err(_) => Err("ICCBased colour space with no valid /N".into()),
                },
            }
        }
        b"Separation" => Ok(Space::Ink(1)),
        b"DeviceN" => match arg(0) {
            Some(Object::Array(names)) if !names.is_empty() && names.len() <= 32 => {
                Ok(Space::Ink(names.len()))
            }
            _ => Err("DeviceN colour space without colourant names".into()),
        },
        b"Indexed" | b"I" => {
            let base = parse_space(
                doc,
                args.first().ok_or("Indexed colour space without a base")?,
                resources,
                depth + 1,
            )?;
            if matches!(base, Space::Indexed { .. }) {
                return Err("Indexed colour space on an Indexed base".into());
            }
            let hival = arg(1)
                .and_then(|o| o.as_i64().ok())
                .filter(|v| (0..=255).contains(v))
                .ok_or("Indexed colour space without a valid hival")?;
            let n = base.comps();
            let want = (hival as usize + 1) * n;
            let lookup: Cow<'_, [u8]> = match arg(2) {
                Some(Object::String(s, _)) => Cow::Borrowed(s.as_slice()),
                Some(Object::Stream(s)) => Cow::Owned(
                    s.decompressed_content_with_limit(want.saturating_add(DATA_SLACK))
                        .map_err(|e| format!("Indexed colour table: {e}"))?,
                ),
                _ => return Err("Indexed colour space without a colour table".into()),
            };
            let mut gray = Vec::with_capacity(hival as usize + 1);
            let mut color = false;
            for entry in 0..=hival as usize {
                let start = entry * n;
                let comps: Vec<u8> = (start..start + n)
                    .map(|i| lookup.get(i).copied().unwrap_or(0))
                    .collect();
                let rgb = match base {
                    Space::Rgb => [0, 1, 2].map(|i| comps.get(i).copied().unwrap_or(0)),
                    Space::Cmyk => {
                        let c = |i: usize| comps.get(i).copied().unwrap_or(0);
                        cmyk_to_rgb(c(0), c(1), c(2), c(3))
                    }
                    _ => [base.gray(&comps); 3],
                };
                color |= rgb[0].abs_diff(rgb[1]) > 8 || rgb[1].abs_diff(rgb[2]) > 8;
                gray.push(base.gray(&comps));
            }
            Ok(Space::Indexed { gray, color })
        }
        b"Lab" | b"Pattern" => Err(format!(
            "unsupported image colour space {}",
            String::from_utf8_lossy(family)
        )),
        other => {
            // A name from the resources (inline images may use these).
            let named = resources
                .and_then(|r| get_dict(doc, r, b"ColorSpace"))
                .and_then(|cs| get(doc, cs, &[other]));
            match named {
                Some(o) if args.is_empty() => parse_space(doc, o, resources, depth + 1),
                _ => Err(format!(
                    "unsupported image colour space {}",
                    String::from_utf8_lossy(other)
                )),
            }
        }
    }
}

/// Turns packed samples into the working raster, applying the colour
/// space and the `/Decode` array.
pub(super) fn samples_to_gray(
    data: &[u8],
    w: u32,
    h: u32,
    bpc: u32,
    space: &Space,
    decode: Option<&[f64]>,
    page: usize,
) -> Result<(GrayImage, ColorMode), StageError> {
    let n = space.comps();
    let (row_bytes, need) = sample_bytes(w, h, n, bpc).ok_or_else(too_big(page))?;
    if data.len() < need {
        return Err(corrupt(
            page,
            format!(
                "the page image data is short: {} of {need} bytes",
                data.len()
            ),
        ));
    }
    // 16-bit samples keep their high byte, as for TIFF.
    let bits = bpc.min(8);
    let max = (1u32 << bits) - 1;
    let indexed = matches!(space, Space::Indexed { .. });
    // Per component: sample value → component byte (or palette index).
    let luts: Vec<Vec<u8>> = (0..n)
        .map(|c| {
            let pair = decode.and_then(|d| Some((*d.get(2 * c)?, *d.get(2 * c + 1)?)));
            let (lo, hi) = pair.unwrap_or(if indexed {
                (0.0, f64::from(max))
            } else {
                (0.0, 1.0)
            });
            (0..=max)
                .map(|s| {
                    let v = lo + f64::from(s) * (hi - lo) / f64::from(max);
                    if indexed {
                        v.round().clamp(0.0, 255.0) as u8
                    } else {
                        (v.clamp(0.0, 1.0) * 255.0).round() as u8
                    }
                })
                .collect()
        })
        .collect();
    let w = w as usize;
    let mut out = vec![0u8; w.saturating_mul(h as usize)];
    let sample = |row: &[u8], idx: usize| -> usize {
        match bpc {
            8 => usize::from(row.get(idx).copied().unwrap_or(0)),
            16 => usize::from(row.get(idx * 2).copied().unwrap_or(0)),
            _ => {
                let bit = idx * bpc as usize;
                let byte = row.get(bit / 8).copied().unwrap_or(0);
                let shift = 8 - bpc as usize - bit % 8;
                usize::from(byte >> shift) & max as usize
            }
        }
    };
    let rows = data.chunks(row_bytes.max(1)).zip(out.chunks_mut(w.max(1)));
    if n == 1 {
        // One component: the whole conversion is a table on the sample.
        let lut0 = luts.first().map(Vec::as_slice).unwrap_or(&[]);
        let table: Vec<u8> = lut0.iter().map(|&v| space.gray(&[v])).collect();
        for (src, dst) in rows {
            for (x, px) in dst.iter_mut().enumerate() {
                *px = table.get(sample(src, x)).copied().unwrap_or(0);
            }
        }
    } else {
        let mut comps = vec![0u8; n];
        for (src, dst) in rows {
            for (x, px) in dst.iter_mut().enumerate() {
                for (c, (v, lut)) in comps.iter_mut().zip(&luts).enumerate() {
                    *v = lut.get(sample(src, x * n + c)).copied().unwrap_or(0);
                }
                *px = space.gray(&comps);
            }
        }
    }
    let gray = GrayImage::from_raw(w as u32, h, out)
        .ok_or_else(|| corrupt(page, "the page image's size overflows"))?;
    let colorful = match space {
        Space::Rgb | Space::Cmyk => true,
        Space::Indexed { color, .. } => *color,
        Space::Gray | Space::Ink(_) => false,
    };
    let mode = if colorful {
        ColorMode::Color
    } else if bpc == 1 || is_bilevel(&gray) {
        ColorMode::Bilevel
    } else {
        ColorMode::Gray
    };
    Ok((gray, mode))
}

pub(super) fn decode_dct(
    data: &[u8],
    decode: Option<&[f64]>,
    page: usize,
    limits: &DecodeLimits,
) -> Result<(GrayImage, ColorMode), StageError> {
    let reader = ImageReader::with_format(Cursor::new(data), ImageFormat::Jpeg);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| corrupt(page, format!("JPEG page image: {e}")))?;
    check_size(page, w, h, limits)?;
    let mut reader = ImageReader::with_format(Cursor::new(data), ImageFormat::Jpeg);
    let mut img_limits = image::Limits::default();
    let side = u32::try_from(limits.max_side).unwrap_or(u32::MAX);
    img_limits.max_image_width = Some(side);
    img_limits.max_image_height = Some(side);
    img_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(img_limits);
    let img = reader
        .decode()
        .map_err(|e| corrupt(page, format!("JPEG page image: {e}")))?;
    let colorful = img.color().has_color();
    let cmyk_like = img.color().channel_count() >= 4;
    let mut gray = img.to_luma8();
    // `/Decode [1 0]` inverts a grey or RGB JPEG; CMYK JPEGs are left to the
    // decoder, which already undoes Adobe's inverted CMYK.
    if !cmyk_like
        && let Some([lo, hi, ..]) = decode
        && lo > hi
    {
        gray.iter_mut().for_each(|v| *v = 255 - *v);
    }
    let mode = if colorful {
        ColorMode::Color
    } else if is_bilevel(&gray) {
        ColorMode::Bilevel
    } else {
        ColorMode::Gray
    };
    Ok((gray, mode))
}

/// Packed 1-bit rows being filled by a bi-level decoder; pre-filled with
/// the paper's sample value so decoders only write ink.
pub(super) struct Packed {
    pub(super) buf: Vec<u8>,
    pub(super) row_bytes: usize,
    pub(super) w: usize,
    pub(super) h: usize,
    pub(super) x: usize,
    pub(super) y: usize,
    /// Sample bit written for an ink pixel.
    pub(super) ink: bool,
}

impl Packed {
    pub(super) fn new(w: u32, h: u32, ink: bool, page: usize) -> Result<Self, StageError> {
        let (row_bytes, len) = sample_bytes(w, h, 1, 1).ok_or_else(too_big(page))?;
        Ok(Self {
            buf: vec![if ink { 0x00 } else { 0xFF }; len],
            row_bytes,
            w: w as usize,
            h: h as usize,
            x: 0,
            y: 0,
            ink,
        })
    }

    pub(super) fn mark(&mut self, x: usize) {
        if x >= self.w || self.y >= self.h {
            return;
        }
        let mask = 0x80u8 >> (x % 8);
        if let Some(b) = self.buf.get_mut(self.y * self.row_bytes + x / 8) {
            if self.ink {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }
}

impl hayro_ccitt::Decoder for Packed {
    fn push_row(&mut self, changes: &[u32]) {
        for pair in changes.chunks(2) {
            let start = pair.first().map_or(self.w, |&v| v as usize).min(self.w);
            let end = pair.get(1).map_or(self.w, |&v| v as usize).min(self.w);
            for x in start..end {
                self.mark(x);
            }
        }
        self.y = self.y.saturating_add(1);
    }
}

impl hayro_jbig2::Decoder for Packed {
    fn push_pixel(&mut self, black: bool) {
        if black {
            self.mark(self.x);
        }
        self.x = self.x.saturating_add(1);
    }

    fn push_pixel_chunk(&mut self, black: bool, chunk_count: u32) {
        let n = (chunk_count as usize).saturating_mul(8);
        if black {
            let end = self.x.saturating_add(n).min(self.w);
            for x in self.x..end {
                self.mark(x);
            }
        }
        self.x = self.x.saturating_add(n);
    }

    fn next_line(&mut self) {
        self.x = 0;
        self.y = self.y.saturating_add(1);
    }
}

pub(super) fn decode_ccitt(
    doc: &Document,
    data: &[u8],
    params: Option<&Dictionary>,
    w: u32,
    h: u32,
    page: usize,
) -> Result<Vec<u8>, StageError> {
    let p_int = |key: &[u8]| params.and_then(|p| int(doc, p, &[key]));
    let p_bool = |key: &[u8]| params.and_then(|p| boolean(doc, p, &[key]));
    let k = p_int(b"K").unwrap_or(0);
    let columns = p_int(b"Columns")
        .and_then(|c| u32::try_from(c).ok())
        .filter(|c| *c > 0)
        .unwrap_or(w);
    if columns > w.saturating_mul(2).max(w.saturating_add(64)) {
        return Err(corrupt(
            page,
            format!("CCITT /Columns {columns} does not fit /Width {w}"),
        ));
    }
    let settings = hayro_ccitt::DecodeSettings {
        columns,
        rows: h,
        end_of_block: p_bool(b"EndOfBlock").unwrap_or(true),
        end_of_line: p_bool(b"EndOfLine").unwrap_or(false),
        rows_are_byte_aligned: p_bool(b"EncodedByteAlign").unwrap_or(false),
        encoding: match k {
            k if k < 0 => hayro_ccitt::EncodingMode::Group4,
            0 => hayro_ccitt::EncodingMode::Group3_1D,
            _ => hayro_ccitt::EncodingMode::Group3_2D,
        },
        strict: false,
    };
    // Black runs become 1 bits under /BlackIs1, 0 bits otherwise; the
    // colour space then says what a 0 or 1 sample looks like.
    let mut sink = Packed::new(w, h, p_bool(b"BlackIs1").unwrap_or(false), page)?;
    let mut ctx = hayro_ccitt::DecoderContext::new(settings);
    if let Err(e) = hayro_ccitt::decode(data, &mut sink, &mut ctx)
        && sink.y < sink.h
    {
        return Err(corrupt(
            page,
            format!("CCITT page image breaks at row {} of {h}: {e}", sink.y),
        ));
    }
    Ok(sink.buf)
}

pub(super) fn decode_jbig2(
    doc: &Document,
    data: &[u8],
    params: Option<&Dictionary>,
    w: u32,
    h: u32,
    page: usize,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, StageError> {
    let settings = hayro_jbig2::DecodeSettings::default();
    let globals_data = params
        .and_then(|p| get(doc, p, &[b"JBIG2Globals"]))
        .and_then(|o| o.as_stream().ok())
        .map(|s| {
            s.decompressed_content_with_limit(MAX_OBJECT_STREAM_BYTES)
                .map_err(|e| corrupt(page, format!("JBIG2 globals: {e}")))
        })
        .transpose()?;
    let globals = globals_data
        .as_deref()
        .map(|g| hayro_jbig2::Globals::new(g, &settings))
        .transpose()
        .map_err(|e| corrupt(page, format!("JBIG2 globals: {e:?}")))?;
    let jb = hayro_jbig2::Page::new_embedded(data, globals.as_ref(), &settings)
        .map_err(|e| corrupt(page, format!("JBIG2 page image: {e:?}")))?;
    // The decoder allocates its own page bitmap: check it before it does.
    check_size(page, jb.width(), jb.height(), limits)?;
    // JBIG2 ink is a 0 sample in PDF (DeviceGray 0 = black).
    let mut sink = Packed::new(w, h, false, page)?;
    jb.decode(&mut sink)
        .map_err(|e| corrupt(page, format!("JBIG2 page image: {e:?}")))?;
    Ok(sink.buf)
}
