//! Bench helper: Folio's skew estimate (and rotation) on image files.
//! `folio_skew [--upright-from TRUTH.csv] [--write-pgm DIR] [--orient] FILE…`
//! prints one JSON line per file: file, width, height, skew_deg, confidence,
//! orientation_deg, ms (estimate) and rotate_ms. With `--upright-from`,
//! each page is first turned upright by the truth file's orientation (so
//! the skew finder is compared alone); `--write-pgm` also writes that
//! upright page as PGM for tools that read only PNM (unpaper). With
//! `--orient`, the whole image stage (`prepare`, with Tesseract OSD for
//! up/down) also runs on the page as scanned and the line gains
//! `detected_orientation_deg` and `prepare_ms`.

use folio_stages::decode::{DecodeLimits, decode_all};
use folio_stages::deskew::{DeskewOptions, find_skew, rotate};
use folio_stages::orient::{OsdPool, turn_upright};
use folio_stages::prepare::{ImageOptions, prepare};
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut truth: HashMap<String, u16> = HashMap::new();
    let mut pgm_dir = None;
    let mut files = Vec::new();
    let mut osd = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--upright-from" => {
                let path = args.next().expect("--upright-from needs a file");
                let text = std::fs::read_to_string(&path).expect("truth file");
                for line in text.lines().skip(1) {
                    let cols: Vec<&str> = line.split(',').collect();
                    if cols.len() >= 3 {
                        truth.insert(cols[0].to_string(), cols[2].trim().parse().unwrap_or(0));
                    }
                }
            }
            "--write-pgm" => pgm_dir = args.next(),
            "--orient" => {
                let pool = OsdPool::new(None);
                pool.warm().expect("osd.traineddata");
                osd = Some(pool);
            }
            _ => files.push(a),
        }
    }
    let opts = DeskewOptions::default();
    for file in files {
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                println!("{{\"file\":{:?},\"error\":{:?}}}", file, e.to_string());
                continue;
            }
        };
        let page = match decode_all(&bytes, &DecodeLimits::default()) {
            Ok(mut p) if !p.is_empty() => p.remove(0),
            Ok(_) => continue,
            Err(e) => {
                println!("{{\"file\":{:?},\"error\":{:?}}}", file, e.to_string());
                continue;
            }
        };
        let name = std::path::Path::new(&file)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let turn = truth.get(&name).copied().unwrap_or(0);
        let orient = match osd.as_ref() {
            Some(engine) => {
                let t = Instant::now();
                let r = prepare(&page, &ImageOptions::default(), Some(engine));
                format!(
                    ",\"detected_orientation_deg\":{},\"prepare_ms\":{:.1}",
                    r.report.orientation.degrees,
                    t.elapsed().as_secs_f64() * 1000.0
                )
            }
            None => String::new(),
        };
        let img = turn_upright(&page.gray, turn);
        if let Some(dir) = &pgm_dir {
            let out = std::path::Path::new(dir).join(format!("{name}.pgm"));
            let mut pgm = format!("P5\n{} {}\n255\n", img.width(), img.height()).into_bytes();
            pgm.extend_from_slice(img.as_raw());
            std::fs::write(out, pgm).expect("write pgm");
        }
        let t = Instant::now();
        let skew = find_skew(&img, &opts);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let level = rotate(&img, skew.angle_deg);
        let rotate_ms = t.elapsed().as_secs_f64() * 1000.0;
        std::hint::black_box(level);
        println!(
            "{{\"file\":{:?},\"width\":{},\"height\":{},\"skew_deg\":{:.3},\"confidence\":{:.3},\"orientation_deg\":{turn},\"ms\":{ms:.2},\"rotate_ms\":{rotate_ms:.2}{orient}}}",
            name,
            img.width(),
            img.height(),
            skew.angle_deg,
            skew.confidence
        );
    }
}
