//! The short form of `benches/ocr_vs_ocrmypdf.sh`: the same script, on the
//! first few pages of each set, with this build's `folio`. The same pages
//! go through `folio run`, OCRmyPDF and Tesseract in one run; the test
//! holds Folio's reading to bounds measured on these pages (and to
//! OCRmyPDF's own reading of them) and checks that the speed figures were
//! measured. Needs what `scripts/setup` installs (Tesseract, OCRmyPDF,
//! rapidfuzz). Ratios of speed are not asserted here: a test build on a
//! shared CI machine is no place to time them; the full script is.

use std::path::PathBuf;
use std::process::Command;

/// One row of the script's table.
#[derive(Debug)]
struct Row {
    set: String,
    pages: usize,
    folio_ppm: f64,
    ocrmypdf_ppm: f64,
    tesseract_ppm: f64,
    folio_cer: f64,
    ocrmypdf_cer: f64,
    tesseract_cer: f64,
    overhead: f64,
    /// The same by recognition's CPU time (in brackets): never less.
    overhead_cpu: f64,
}

fn percent(cell: &str) -> f64 {
    let first = cell.split_whitespace().next().unwrap_or("");
    first
        .trim_end_matches('%')
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("'{cell}': {e}"))
        / 100.0
}

fn parse(table: &str) -> Vec<Row> {
    table
        .lines()
        .filter(|l| l.starts_with("| eng |") || l.starts_with("| chi |"))
        .map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            let num = |i: usize| c[i].parse::<f64>().unwrap_or_else(|e| panic!("{l}: {e}"));
            Row {
                set: c[1].to_string(),
                pages: c[3].parse().unwrap(),
                folio_ppm: num(4),
                ocrmypdf_ppm: num(5),
                tesseract_ppm: num(6),
                folio_cer: percent(c[9]),
                ocrmypdf_cer: percent(c[10]),
                tesseract_cer: percent(c[11]),
                overhead: percent(c[12]),
                overhead_cpu: c[12]
                    .split_once('(')
                    .map(|(_, b)| percent(b.trim_end_matches(')')))
                    .unwrap_or(f64::NAN),
            }
        })
        .collect()
}

fn run_bench(set: &str, pages: usize) -> Row {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("benches/ocr_vs_ocrmypdf.sh"))
        .args(["--set", set, "--pages", &pages.to_string()])
        .args(["--folio", env!("CARGO_BIN_EXE_folio")])
        .current_dir(&root)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}\n{stdout}");
    assert!(out.status.success(), "bench failed: {stderr}");
    let mut rows = parse(&stdout);
    assert_eq!(rows.len(), 1, "{stdout}");
    rows.remove(0)
}

/// English: two dense UNLV magazine pages and eurotext (300 dpi).
/// Measured: Folio 6.2%, OCRmyPDF 6.3%, Tesseract 8.2% (pooled).
#[test]
fn english_pages_read_as_well_as_ocrmypdf_and_speeds_are_measured() {
    let row = run_bench("eng", 3);
    assert_eq!((row.set.as_str(), row.pages), ("eng", 3));
    assert!(row.folio_cer <= 0.07, "{row:?}");
    assert!(row.folio_cer <= row.ocrmypdf_cer + 0.005, "{row:?}");
    assert!(row.tesseract_cer < 0.2, "{row:?}");
    for ppm in [row.folio_ppm, row.ocrmypdf_ppm, row.tesseract_ppm] {
        assert!(ppm > 0.0 && ppm.is_finite(), "{row:?}");
    }
    assert!((0.0..1.0).contains(&row.overhead), "{row:?}");
    // Recognition's CPU time was recorded on every page (none: 100 %).
    assert!(
        (row.overhead..1.0).contains(&(row.overhead_cpu + 1e-3)),
        "{row:?}"
    );
}

/// Chinese forms (`chi_sim+eng`, class insurance_registration): a 200-dpi
/// G4 TIFF and a 300-dpi JPEG. Measured: Folio 1.0%, OCRmyPDF 4.3%,
/// Tesseract 29.1%.
#[test]
fn chinese_forms_read_as_well_as_ocrmypdf_and_speeds_are_measured() {
    let row = run_bench("chi", 2);
    assert_eq!((row.set.as_str(), row.pages), ("chi", 2));
    assert!(row.folio_cer <= 0.03, "{row:?}");
    assert!(row.folio_cer <= row.ocrmypdf_cer + 0.005, "{row:?}");
    for ppm in [row.folio_ppm, row.ocrmypdf_ppm, row.tesseract_ppm] {
        assert!(ppm > 0.0 && ppm.is_finite(), "{row:?}");
    }
    assert!((0.0..1.0).contains(&row.overhead), "{row:?}");
    // Recognition's CPU time was recorded on every page (none: 100 %).
    assert!(
        (row.overhead..1.0).contains(&(row.overhead_cpu + 1e-3)),
        "{row:?}"
    );
}

#[test]
fn the_table_parser_reads_the_scripts_row() {
    let rows = parse(
        "| set | run |\n| eng | 1 | 22 | 23.3 | 11.4 | 22.4 | 2.05× | 1.04× | 23.2% (25.7%) | 26.3% (28.0%) | 23.9% (26.3%) | 11.6% (14.0%) |\n",
    );
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.pages, r.folio_ppm, r.ocrmypdf_ppm), (22, 23.3, 11.4));
    assert!((r.folio_cer - 0.232).abs() < 1e-9 && (r.overhead - 0.116).abs() < 1e-9);
    assert!((r.overhead_cpu - 0.140).abs() < 1e-9);
    assert!((r.ocrmypdf_cer - 0.263).abs() < 1e-9 && (r.tesseract_cer - 0.239).abs() < 1e-9);
}
