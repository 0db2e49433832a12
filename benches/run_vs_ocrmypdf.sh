#!/usr/bin/env bash
# Whole-pipeline throughput: the same pages through `folio run` (fresh
# SQLite store) and OCRmyPDF (`--deskew --jobs 2`, OMP_THREAD_LIMIT=1, the
# pages in one PDF made losslessly with tiffcp + tiff2pdf), in one run.
# Optionally a second folio binary (e.g. the previous release) on the same
# pages: `--baseline PATH --baseline-config FILE` (the settings file of
# that version). Prints pages/min and the ratios.
#
#   benches/run_vs_ocrmypdf.sh [--baseline BIN --baseline-config FILE] [--repeat N] [--save]
set -euo pipefail
cd "$(dirname "$0")/.."
baseline="" baseline_config=config/folio.toml repeat=1 save=0
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) baseline="$2"; shift 2 ;;
    --baseline-config) baseline_config="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --save) save=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v ocrmypdf >/dev/null || { echo "needs ocrmypdf (apt-get install ocrmypdf)" >&2; exit 2; }
cargo build --release -q -p folio
set_dir=../shared/data/deskew-set
pages=(8071_093.3B_q0_a+1.90.tif 8087_054.3B_q0_a-3.00.tif 8071_093.3B_q90_a+4.40.tif
  8087_054.3B_q180_a+4.40.tif eurotext_q0_a+0.70.tif eurotext_q0_a-7.50.tif
  8071_093.3B_q0_a-0.40.tif 8087_054.3B_q0_a+0.70.tif)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/batch"
for p in "${pages[@]}"; do cp "$set_dir/$p" "$work/batch/"; done
tiffcp "${pages[@]/#/$set_dir/}" "$work/all.tif"
tiff2pdf -o "$work/in.pdf" "$work/all.tif"
n=${#pages[@]}

run_folio() { # BIN TAG CONFIG
  rm -rf "$work/data-$2" "$work/out-$2"
  local t0 t1
  t0=$(date +%s.%N)
  FOLIO_DATA_DIR="$work/data-$2" FOLIO_DATABASE_URL= "$1" --config "$3" run "$work/batch" --out "$work/out-$2" --quiet --json >"$work/$2.json" \
    || { echo "folio ($1) failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
run_ocrmypdf() {
  local t0 t1
  t0=$(date +%s.%N)
  OMP_THREAD_LIMIT=1 ocrmypdf -q --deskew --jobs 2 -l eng "$work/in.pdf" "$work/out.pdf" 2>/dev/null \
    || { echo "ocrmypdf failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

echo "pages: $n (300-dpi bilevel scans from $set_dir), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
rows=()
for r in $(seq 1 "$repeat"); do
  f=$(run_folio target/release/folio folio config/folio.toml)
  o=$(run_ocrmypdf)
  line="| $r | $(printf %.1f "$(echo "$n*60/$f" | bc -l)") | $(printf %.1f "$(echo "$n*60/$o" | bc -l)") | $(printf %.2f "$(echo "$o/$f" | bc -l)")×"
  if [ -n "$baseline" ]; then
    b=$(run_folio "$baseline" base "$baseline_config")
    line="$line | $(printf %.1f "$(echo "$n*60/$b" | bc -l)") | $(printf %.2f "$(echo "$b/$f" | bc -l)")×"
  fi
  rows+=("$line |")
done
head="| run | folio pages/min | OCRmyPDF pages/min | folio ÷ OCRmyPDF |"
sep="|---|---|---|---|"
if [ -n "$baseline" ]; then
  head="$head baseline folio pages/min | this ÷ baseline |"
  sep="$sep---|---|"
fi
{
  echo "$head"
  echo "$sep"
  printf '%s\n' "${rows[@]}"
} | tee "$work/table.md"
if [ "$save" = 1 ]; then
  {
    echo "# folio run vs OCRmyPDF ($(date -u +%Y-%m-%d), $(git rev-parse --short HEAD))"
    echo
    echo "$n pages, $(nproc) cores. Command: benches/run_vs_ocrmypdf.sh $*"
    echo
    cat "$work/table.md"
  } >benches/run_vs_ocrmypdf.results.md
fi
