#!/usr/bin/env bash
# FUNSD fields: how many of the funsd class's linked answers `folio run`
# finds, reads right (normalised comparison, as `folio eval` does), accepts
# and sends to keying, per field and overall, on the FUNSD forms in
# ../shared/data/funsd/ (real ~100 dpi noisy scans; truth: each question's
# linked answer, fields named by the question).
#
#   benches/funsd_fields.sh [IMAGES_DIR] [--save]
#
# Runs the release binary with SQLite in a temporary data folder; the input
# folder is only read. --save writes benches/funsd_fields.results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/funsd/training_data
IMAGES=$DATA/images
SAVE=0
for a in "$@"; do
  case "$a" in --save) SAVE=1 ;; *) IMAGES=$a ;; esac
done
cargo build --release --quiet -p folio
BIN=${CARGO_TARGET_DIR:-target}/release/folio
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
export FOLIO_DATA_DIR=$W/data FOLIO_DATABASE_URL="sqlite://$W/data/folio.db?mode=rwc"
mkdir -p "$W/data"
start=$(date +%s)
"$BIN" run "$IMAGES" --out "$W/out" --class funsd --quiet >/dev/null || test $? -eq 4
end=$(date +%s)
pages=$(ls "$IMAGES" | wc -l)
"$BIN" eval --truth "$DATA/annotations" "$W/out" > "$W/eval.txt"
"$BIN" eval --truth "$DATA/annotations" "$W/out" --json > "$W/eval.json"
python3 - "$W/eval.json" "$pages" "$((end - start))" "$SAVE" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); pages, secs, save = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
rows = r["fields"] + ([r["fields_overall"]] if r.get("fields_overall") else [])
out = [f"FUNSD fields, {pages} forms, `folio run --class funsd` ({secs} s); page CER {r['overall']['cer']*100:.1f} %", "",
       "| field | answers | found | read right | accepted | accepted right | accepted wrong | to keying |",
       "|---|---:|---:|---:|---:|---:|---:|---:|"]
for f in rows:
    out.append(f"| {f['name']} | {f['total']} | {f['found']} | {f['ocr_right']} | {f['accepted']} | {f['accepted_right']} | {f['accepted']-f['accepted_right']} | {f['keying']} |")
text = "\n".join(out)
print(text)
if save:
    open("benches/funsd_fields.results.md", "w").write(text + "\n\nRepeat: `benches/funsd_fields.sh --save`\n")
PY
