use folio_stages::decode::{DecodeLimits, decode_all};
use folio_stages::deskew::rotate;
use folio_stages::orient::{OsdEngine, turn_upright};
use folio_stages::page::PageImage;
use folio_stages::prepare::{ImageOptions, prepare};
fn main() {
    let opts = ImageOptions::default();
    let mut osd = OsdEngine::new(None).unwrap();
    let (mut ok, mut n) = (0, 0);
    let mut skew_err = Vec::new();
    for f in std::env::args().skip(1) {
        let page = decode_all(&std::fs::read(&f).unwrap(), &DecodeLimits::default()).unwrap().remove(0);
        for (k, q) in [0u16, 90, 180, 270].into_iter().enumerate() {
            for a in [-14.0f32, -5.5, 0.35, 2.2, 8.0, 13.0] {
                if (a as i32 + k as i32) % 2 != 0 { continue; }
                // content turned CCW by q: undo of turn_upright(q) = turn_upright(360-q)
                let turned = turn_upright(&page.gray, (360 - q) % 360);
                let skewed = rotate(&turned, -a);
                let bin = if page.color == folio_stages::ColorMode::Bilevel { image::GrayImage::from_fn(skewed.width(), skewed.height(), |x, y| image::Luma([if skewed.get_pixel(x, y).0[0] > 127 { 255 } else { 0 }])) } else { skewed };
                let p = PageImage::new(bin, page.color, page.dpi);
                let r = prepare(&p, &opts, Some(&mut osd)).report;
                n += 1;
                if r.orientation.degrees == q { ok += 1; } else { println!("WRONG {f} q{q} a{a}: got {} skew {:?}", r.orientation.degrees, r.skew); }
                skew_err.push((r.skew.angle_deg - a).abs());
            }
        }
    }
    skew_err.sort_by(f32::total_cmp);
    println!("orientation {ok}/{n}; skew median {} p95 {}", skew_err[skew_err.len()/2], skew_err[(skew_err.len()-1)*95/100]);
}
