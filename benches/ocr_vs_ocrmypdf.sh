#!/usr/bin/env bash
# OCR throughput at a given reading quality: the same pages through
# `folio run` (release build, fresh SQLite store), OCRmyPDF (`--deskew
# --jobs 2`, the pages in one PDF made losslessly with img2pdf, text from
# `--sidecar`) and plain Tesseract (two processes at once), in one run.
# OMP_THREAD_LIMIT=1 for every Tesseract. Prints per set: pages/min of
# each, the ratios Folio/OCRmyPDF and Folio/Tesseract, the CER of each
# against the truth (scripts/cer.py: whitespace folded, Levenshtein over
# the truth's length; pooled over the set, and the mean of the pages),
# and Folio's overhead = (pipeline time - Tesseract recognition time) /
# pipeline time, where pipeline time = wall time x workers and recognition
# time = the pages' `ocr_ms` in Folio's store (wall time around each
# page's recognition); in brackets the same with recognition's CPU time
# on its thread (`steps.recognition_cpu_ms` of each page report), which
# does not count the moments other threads held the core: the stricter
# figure.
#
# Sets: `eng` = ../shared/data/tesseract-test (the .tif pages with .txt
# truth) + ../shared/data/scribe-benchmark (pages with hOCR truth), read
# with `eng`; `chi` = ../shared/data/forms-zh (truth: `text` of each
# form_NNN.json), read with `chi_sim+eng` (Folio: class
# insurance_registration). RGBA PNGs are flattened onto white first
# (img2pdf refuses alpha); every tool gets the same files.
#
#   benches/ocr_vs_ocrmypdf.sh [--set eng|chi|all] [--pages N] [--repeat N]
#       [--folio BIN] [--config FILE] [--keep DIR] [--save]
#
# --pages N takes the first N pages of each set (the short form in
# pipeline/tests/ocr_bench.rs runs a few pages through the same steps);
# --save writes benches/ocr_vs_ocrmypdf.results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=all pages=0 repeat=1 folio="" config=config/folio.toml keep="" save=0
args="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --set) set_name="$2"; shift 2 ;;
    --pages) pages="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --folio) folio="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --save) save=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
need() { command -v "$1" >/dev/null || { echo "ocr_vs_ocrmypdf: needs $1 ($2)" >&2; exit 2; }; }
need tesseract "scripts/setup"
need ocrmypdf "python3 -m pip install ocrmypdf"
python3 -c "import img2pdf, PIL" 2>/dev/null || { echo "ocr_vs_ocrmypdf: needs img2pdf and Pillow (python3 -m pip install ocrmypdf)" >&2; exit 2; }
python3 -c "import rapidfuzz" 2>/dev/null || { echo "ocr_vs_ocrmypdf: needs rapidfuzz (python3 -m pip install rapidfuzz)" >&2; exit 2; }
if [ -z "$folio" ]; then
  cargo build --release -q -p folio
  folio=target/release/folio
fi
folio=$(realpath "$folio")
config=$(realpath "$config")
# Before OMP_THREAD_LIMIT: GNU nproc honours it.
workers=$(nproc)
export OMP_THREAD_LIMIT=1
if [ -n "$keep" ]; then
  work="$keep"; rm -rf "$work"; mkdir -p "$work"
else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fi
shared=../shared/data

# make_pages SET: copies the set's pages into $work/SET/pages (NNN-name.ext,
# RGBA flattened) and writes $work/SET/truth.tsv (NAME<TAB>TRUTH).
make_pages() {
  local set=$1 dir="$work/$1"
  mkdir -p "$dir/pages"
  python3 - "$set" "$shared" "$dir" "$pages" <<'PY'
import glob, os, shutil, sys
from PIL import Image
set_, shared, out, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pairs = []
if set_ == "eng":
    for t in sorted(glob.glob(f"{shared}/tesseract-test/*.txt")):
        img = t[:-4] + ".tif"
        if os.path.exists(img) and not t.endswith(".gold.txt"):
            pairs.append((img, t))
    for t in sorted(glob.glob(f"{shared}/scribe-benchmark/ground_truth/*.truth.hocr")):
        img = f"{shared}/scribe-benchmark/img/" + os.path.basename(t)[: -len(".truth.hocr")] + ".png"
        if os.path.exists(img):
            pairs.append((img, t))
else:
    for t in sorted(glob.glob(f"{shared}/forms-zh/form_*.json")):
        import json
        pairs.append((f"{shared}/forms-zh/" + json.load(open(t))["file"], t))
if limit > 0:
    pairs = pairs[:limit]
with open(f"{out}/truth.tsv", "w") as f:
    for k, (img, truth) in enumerate(pairs):
        name = f"{k + 1:03d}-" + os.path.basename(img)
        dest = f"{out}/pages/{name}"
        im = Image.open(img)
        if im.mode in ("RGBA", "LA", "P"):
            rgba = im.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            flat.save(dest, dpi=im.info.get("dpi", (300, 300)))
        else:
            shutil.copy(img, dest)
        f.write(f"{name}\t{os.path.abspath(truth)}\n")
PY
  python3 -c "import img2pdf,sys; open(sys.argv[1],'wb').write(img2pdf.convert(sys.argv[2:]))" \
    "$dir/in.pdf" $(cut -f1 "$dir/truth.tsv" | sed "s|^|$dir/pages/|")
}

now() { date +%s.%N; }

# run_folio SET LANG-CLASS: wall seconds; texts into $work/SET/folio/NAME.txt
run_folio() {
  local dir="$work/$1" class_args=() t0 t1
  [ "$1" = chi ] && class_args=(--class insurance_registration)
  rm -rf "$dir/data" "$dir/out" "$dir/folio"; mkdir -p "$dir/folio"
  t0=$(now)
  FOLIO_DATA_DIR="$dir/data" FOLIO_DATABASE_URL= FOLIO_OBJECTS_DIR= "$folio" --config "$config" \
    run "$dir/pages" --out "$dir/out" "${class_args[@]}" --quiet --json >"$dir/folio.json" 2>"$dir/folio.err" \
    || [ $? = 4 ] || { echo "folio run failed: $(cat "$dir/folio.err")" >&2; exit 1; }
  t1=$(now)
  python3 - "$dir" <<'PY'
import glob, json, os, shutil, sys
d = sys.argv[1]
for idx in glob.glob(f"{d}/out/**/data/metadata/index.json", recursive=True, include_hidden=True):
    root = os.path.dirname(os.path.dirname(os.path.dirname(idx)))
    for p in json.load(open(idx))["pages"]:
        shutil.copy(os.path.join(root, p["text"]), f"{d}/folio/{p['original_name']}.txt")
PY
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

# run_ocrmypdf SET LANG: wall seconds; texts into $work/SET/ocrmypdf/NAME.txt
run_ocrmypdf() {
  local dir="$work/$1" t0 t1
  rm -rf "$dir/ocrmypdf"; mkdir -p "$dir/ocrmypdf"
  t0=$(now)
  ocrmypdf -q --deskew --jobs 2 -l "$2" --output-type pdf --sidecar "$dir/sidecar.txt" \
    "$dir/in.pdf" "$dir/out.pdf" 2>"$dir/ocrmypdf.err" || { echo "ocrmypdf failed: $(cat "$dir/ocrmypdf.err")" >&2; exit 1; }
  t1=$(now)
  python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
names = [l.split("\t")[0] for l in open(f"{d}/truth.tsv") if l.strip()]
texts = open(f"{d}/sidecar.txt", encoding="utf-8").read().split("\f")
for k, name in enumerate(names):
    open(f"{d}/ocrmypdf/{name}.txt", "w").write(texts[k] if k < len(texts) else "")
PY
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

# run_tesseract SET LANG: two processes at once; wall seconds
run_tesseract() {
  local dir="$work/$1" t0 t1
  rm -rf "$dir/tesseract"; mkdir -p "$dir/tesseract"
  t0=$(now)
  cut -f1 "$dir/truth.tsv" | xargs -P 2 -I{} tesseract "$dir/pages/{}" "$dir/tesseract/{}" -l "$2" 2>/dev/null
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

# cer SET TOOL: pooled CER and mean page CER, "0.0123 0.0150"
cer() {
  local dir="$work/$1"
  awk -F'\t' -v d="$dir/$2" '{print $1 "\t" $2 "\t" d "/" $1 ".txt"}' "$dir/truth.tsv" >"$dir/pairs-$2.tsv"
  scripts/cer.py --pairs "$dir/pairs-$2.tsv" >"$dir/cer-$2.json"
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(f\"{j['cer']:.4f} {j['mean']:.4f}\")" "$dir/cer-$2.json"
}

# overhead SET WALL: 1 - sum(ocr_ms) / (wall x workers) and the same by
# recognition's CPU time; also writes
# $work/SET/steps.txt: where the rest went, per step of the page
# (thread-seconds, from each page's image report) and outside the pages.
overhead() {
  python3 - "$work/$1/data/folio.db" "$2" "$workers" "$work/$1/steps.txt" <<'PY'
import json, sqlite3, sys
db, wall, workers, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = sqlite3.connect(db).execute("SELECT ocr_ms, image_ms, report FROM pages").fetchall()
ocr = sum(r[0] or 0 for r in rows) / 1000
image = sum(r[1] or 0 for r in rows) / 1000
steps, osd, cpu = {}, 0, 0.0
for _, _, rep in rows:
    s = (json.loads(rep) if rep else {}).get("steps", {})
    osd += bool(s.get("osd"))
    cpu += s.get("recognition_cpu_ms", 0) / 1000
    for k, v in s.items():
        if k.endswith("_ms") and k != "recognition_cpu_ms":
            steps[k[:-3]] = steps.get(k[:-3], 0) + v / 1000
total = wall * workers
page = sum(steps.values())
with open(out, "w") as f:
    f.write(f"thread-seconds {total:.1f} = recognition {ocr:.1f} + page steps {page:.1f} + the rest {total - ocr - page:.1f} (ingest, engine start, store, documents, idle)\n")
    f.write(f"recognition's CPU time on its threads {cpu:.1f} s: {ocr - cpu:.1f} s of its wall time the cores ran other threads (packaging, store, other programs)\n")
    f.write("page steps: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()) + f"; OSD asked on {osd} of {len(rows)} pages\n")
print(f"{1 - ocr / total:.3f} {1 - cpu / total:.3f} {image:.1f} {ocr:.1f}")
PY
}

pct() { python3 -c "import sys; print(f'{float(sys.argv[1])*100:.1f}%')" "$1"; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1])*60/float(sys.argv[2]):.1f}')" "$1" "$2"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[2])/float(sys.argv[1]):.2f}×')" "$1" "$2"; }

sets=()
case "$set_name" in
  all) sets=(eng chi) ;;
  eng|chi) sets=("$set_name") ;;
  *) echo "--set must be eng, chi or all" >&2; exit 2 ;;
esac
rows=()
for s in "${sets[@]}"; do
  lang=eng; [ "$s" = chi ] && lang=chi_sim+eng
  make_pages "$s"
  n=$(wc -l <"$work/$s/truth.tsv")
  echo "set $s: $n pages, $lang, $workers cores, load $(cut -d' ' -f1 /proc/loadavg)" >&2
  for r in $(seq 1 "$repeat"); do
    f=$(run_folio "$s")
    read -r oh oh_cpu img_s ocr_s < <(overhead "$s" "$f")
    o=$(run_ocrmypdf "$s" "$lang")
    t=$(run_tesseract "$s" "$lang")
    read -r fc fm < <(cer "$s" folio)
    read -r oc om < <(cer "$s" ocrmypdf)
    read -r tc tm < <(cer "$s" tesseract)
    row="| $s | $r | $n | $(rate "$n" "$f") | $(rate "$n" "$o") | $(rate "$n" "$t") | $(ratio "$f" "$o") | $(ratio "$f" "$t")"
    row="$row | $(pct "$fc") ($(pct "$fm")) | $(pct "$oc") ($(pct "$om")) | $(pct "$tc") ($(pct "$tm")) | $(pct "$oh") ($(pct "$oh_cpu")) |"
    echo "$row" >&2
    echo "  folio wall ${f}s: image stage ${img_s}s, recognition ${ocr_s}s (thread-seconds)" >&2
    sed 's/^/  /' "$work/$s/steps.txt" >&2
    rows+=("$row")
  done
  # Per page CER and words found, for the record (last run). A page
  # where Folio finds fewer of the truth's words than OCRmyPDF (by more
  # than 1 % of them) is marked LOSES WORDS.
  python3 - "$work/$s" <<'PY' | tee "$work/$s/pages.txt" >&2
import json, sys
d = sys.argv[1]
c = {t: {p["name"]: p for p in json.load(open(f"{d}/cer-{t}.json"))["pages"]} for t in ("folio", "ocrmypdf", "tesseract")}
print(f"  {'page':<28} {'CER folio':>9} {'ocrmypdf':>8} {'tess':>7}   {'words':>5} {'found folio':>11} {'ocrmypdf':>8} {'tess':>5}")
losing = 0
for name, f in c["folio"].items():
    o, t = c["ocrmypdf"][name], c["tesseract"][name]
    lost = o["found"] - f["found"] > 0.01 * max(f["words"], 1)
    losing += lost
    print(f"  {name:<28} {f['cer']*100:8.1f}% {o['cer']*100:7.1f}% {t['cer']*100:6.1f}%   {f['words']:5d} {f['found']:11d} {o['found']:8d} {t['found']:5d}" + ("  LOSES WORDS" if lost else ""))
print(f"  pages where Folio finds fewer words than OCRmyPDF: {losing} of {len(c['folio'])}")
# The other way round, and the totals: single misread words fall on
# both sides; a page losing a region or a column shows as a large gap.
gaining = sum(f["found"] - c["ocrmypdf"][n]["found"] > 0.01 * max(f["words"], 1) for n, f in c["folio"].items())
total = {t: sum(p["found"] for p in c[t].values()) for t in c}
words = sum(p["words"] for p in c["folio"].values())
print(f"  pages where OCRmyPDF finds fewer words than Folio: {gaining} of {len(c['folio'])}")
print(f"  words found of {words}: Folio {total['folio']}, OCRmyPDF {total['ocrmypdf']}, Tesseract {total['tesseract']}")
PY
done
head="| set | run | pages | Folio pages/min | OCRmyPDF pages/min | Tesseract×2 pages/min | Folio ÷ OCRmyPDF | Folio ÷ Tesseract | Folio CER (mean) | OCRmyPDF CER (mean) | Tesseract CER (mean) | Folio overhead (by CPU time) |"
sep="|---|---|---|---|---|---|---|---|---|---|---|---|"
{
  echo "$head"
  echo "$sep"
  printf '%s\n' "${rows[@]}"
} | tee "$work/table.md"
if [ "$save" = 1 ]; then
  {
    echo "# OCR: folio run vs OCRmyPDF vs Tesseract ($(date -u +%Y-%m-%d), $(git rev-parse --short HEAD))"
    echo
    echo "$workers cores, OMP_THREAD_LIMIT=1. Command: benches/ocr_vs_ocrmypdf.sh $args"
    echo
    cat "$work/table.md"
    for s in "${sets[@]}"; do
      echo
      echo "## $s: where the time went, and every page (last run)"
      echo
      echo '```'
      cat "$work/$s/steps.txt" "$work/$s/pages.txt"
      echo '```'
    done
  } >benches/ocr_vs_ocrmypdf.results.md
fi
