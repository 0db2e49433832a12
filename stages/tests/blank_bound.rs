//! Blank detection on real files: empty sheets from punched and bound
//! files written as a bilevel scanner writes them (CCITT G4 TIFF through
//! `tiffcp`, then Folio's own decoder and image stage) are flagged; the
//! same sheets with one real line of text are not; and no page of the
//! shared real scans is called blank. (The shared `blank.pdf` draws no
//! image: the decoder refuses it as born-digital before blank detection.)

use folio_stages::decode::{DecodeLimits, decode_all};
use folio_stages::page::PageImage;
use folio_stages::prepare::{ImageOptions, prepare};
use image::{GrayImage, Luma};
use std::path::{Path, PathBuf};
use std::process::Command;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

fn load(path: &Path) -> Vec<PageImage> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_all(&bytes, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An uncompressed 1-bit TIFF (BlackIsZero) at 300 dpi: the smallest file
/// `tiffcp` turns into CCITT G4.
fn bilevel_tiff(img: &GrayImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let row_bytes = w.div_ceil(8) as usize;
    let mut data = vec![0u8; row_bytes * h as usize];
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] >= 128 {
            data[y as usize * row_bytes + x as usize / 8] |= 0x80 >> (x % 8);
        }
    }
    let entries: [(u16, u16, u32); 12] = [
        (256, 4, w),
        (257, 4, h),
        (258, 3, 1),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 174),
        (277, 3, 1),
        (278, 4, h),
        (279, 4, data.len() as u32),
        (282, 5, 158),
        (283, 5, 166),
        (296, 3, 2),
    ];
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        if kind == 3 {
            out.extend((value as u16).to_le_bytes());
            out.extend([0, 0]);
        } else {
            out.extend(value.to_le_bytes());
        }
    }
    out.extend(0u32.to_le_bytes());
    for _ in 0..2 {
        out.extend(300u32.to_le_bytes());
        out.extend(1u32.to_le_bytes());
    }
    assert_eq!(out.len(), 174);
    out.extend(data);
    out
}

/// The sheet as a G4 scan decoded by Folio, via `tiffcp -c g4`.
fn through_g4(img: &GrayImage, dir: &Path, name: &str) -> PageImage {
    let raw = dir.join(format!("{name}.raw.tif"));
    let g4 = dir.join(format!("{name}.tif"));
    std::fs::write(&raw, bilevel_tiff(img)).unwrap();
    let status = Command::new("tiffcp")
        .args(["-c", "g4"])
        .arg(&raw)
        .arg(&g4)
        .status()
        .expect("tiffcp (libtiff-tools, installed by scripts/setup)");
    assert!(status.success(), "tiffcp failed on {name}");
    let mut pages = load(&g4);
    assert_eq!(pages.len(), 1);
    pages.remove(0)
}

fn disc(img: &mut GrayImage, cx: i64, cy: i64, r: i64) {
    for y in (cy - r).max(0)..(cy + r + 1).min(img.height() as i64) {
        for x in (cx - r).max(0)..(cx + r + 1).min(img.width() as i64) {
            if (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                img.put_pixel(x as u32, y as u32, Luma([0]));
            }
        }
    }
}

/// An A4 sheet from a ring binder as a G4 scanner gives it: two ISO 838
/// punch holes (6 mm, 12 mm in, 80 mm apart) and a dark bed band along
/// the punched side, toner and dust specks all over.
fn punched_sheet() -> GrayImage {
    let mm = |v: f32| (v * 300.0 / 25.4).round() as i64;
    let mut img = GrayImage::from_pixel(2480, 3508, Luma([255]));
    for dy in [-40.0, 40.0] {
        disc(&mut img, mm(12.0), 1754 + mm(dy), mm(3.0));
    }
    let mut state = 0x2545_f491u32;
    let mut rnd = move |n: u32| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state % n
    };
    for y in 0..3508 {
        let depth = 45 + rnd(9);
        for x in 0..depth {
            img.put_pixel(x, y, Luma([0]));
        }
    }
    for _ in 0..8000 {
        let (x, y, r) = (rnd(2480) as i64, rnd(3508) as i64, rnd(3) as i64);
        disc(&mut img, x, y, r);
    }
    img
}

#[test]
fn punched_g4_sheet_is_blank_and_with_one_real_line_it_is_not() {
    let dir = tempfile_dir();
    let opts = ImageOptions::default();
    let sheet = punched_sheet();
    let empty = through_g4(&sheet, &dir, "empty");
    assert_eq!(empty.color, folio_stages::page::ColorMode::Bilevel);
    let r = prepare(&empty, &opts, None).report;
    assert!(r.blank.blank, "empty punched G4 sheet: {:?}", r.blank);

    // One line of phototest's text (200 dpi, scaled to 300) on the same sheet.
    let photo = &load(&shared("tesseract-test/phototest.tif"))[0].gray;
    let first = (0..photo.height())
        .find(|&y| (0..photo.width()).any(|x| photo.get_pixel(x, y).0[0] < 100))
        .unwrap();
    let line = image::imageops::crop_imm(photo, 0, first, photo.width(), 45).to_image();
    let line = image::imageops::resize(
        &line,
        line.width() * 3 / 2,
        line.height() * 3 / 2,
        image::imageops::FilterType::Triangle,
    );
    let mut with_line = sheet.clone();
    image::imageops::replace(&mut with_line, &line, 300, 1200);
    let page = through_g4(&with_line, &dir, "line");
    let r = prepare(&page, &opts, None).report;
    assert!(
        !r.blank.blank,
        "one line on a punched G4 sheet: {:?}",
        r.blank
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_real_scan_is_flagged_blank() {
    let opts = ImageOptions::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for (dir, exts) in [
        ("tesseract-test", &["tif", "png"][..]),
        ("forms-zh", &["tif", "png", "jpg"][..]),
        ("scribe-benchmark/img", &["png"][..]),
        ("funsd/training_data/images", &["png"][..]),
        ("deskew-set", &["tif", "png"][..]),
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(shared(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| exts.contains(&x.to_string_lossy().as_ref()))
            })
            .collect();
        found.sort();
        // Every fifth FUNSD form and third skewed page keep the test
        // short; the rest are all taken.
        if dir.starts_with("funsd") {
            found = found.into_iter().step_by(5).collect();
        } else if dir == "deskew-set" {
            found = found.into_iter().step_by(3).collect();
        }
        files.extend(found);
    }
    assert!(files.len() > 80, "{} files", files.len());
    let mut wrong = Vec::new();
    for f in &files {
        for (i, page) in load(f).into_iter().enumerate() {
            let b =
                folio_stages::blank::detect_blank(&page.gray, page.dpi_or_default(), &opts.blank);
            if b.blank {
                wrong.push(format!("{} p{}: {}", f.display(), i + 1, b.ink_ratio));
            }
        }
    }
    assert!(wrong.is_empty(), "real pages flagged blank: {wrong:?}");
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("folio-blank-bound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
