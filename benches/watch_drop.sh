#!/usr/bin/env bash
# `folio watch` under a drop of many batches at once: B batches of P pages
# (default 50 × 10) are prepared beside the watch folder and renamed in
# together, each with its READY marker; one `folio watch` (SQLite, working
# the pages itself) takes them. Measures:
#   - time from the last marker to the last package (status: every batch
#     packaged);
#   - stage time: the sum of image + OCR time of every page (from the
#     store), divided by the worker count = the time the stages alone
#     would need on these workers;
#   - the service's overhead per batch = (wall − stage time / workers) / B:
#     claim, ingest (hash, decode check, copy into the object store),
#     store transactions, packaging, waits.
# Pages are small sample scans made unique by a trailer after the image
# data (decoders stop before it), so no page is a duplicate of another.
#
# Usage: benches/watch_drop.sh [BATCHES] [PAGES] [WORKERS]
# FOLIO_BIN picks the binary (default: target/release/folio if built,
# else target/debug/folio).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=${1:-50}
P=${2:-10}
W=${3:-2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FOLIO_BIN:-}
if [ -z "$BIN" ]; then
  if [ -x "$TARGET/release/folio" ]; then BIN="$TARGET/release/folio"; else BIN="$TARGET/debug/folio"; fi
fi
WORK=$(mktemp -d /tmp/folio-watch-bench.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/watch" "$WORK/incoming" "$WORK/out" "$WORK/data"
cat > "$WORK/folio.toml" <<TOML
classes_dir = "$ROOT/config/classes"
default_class = "general"
workers = $W
[ocr]
languages = "eng"
[ocr.variables]
tessedit_do_invert = "0"
[watch]
quiet_seconds = 30
poll_seconds = 1
TOML
SAMPLES=("$ROOT/samples/batch-0001/0001_phototest.tif" "$ROOT/samples/batch-0001/0005_phototest-upside-down.png"
  "$ROOT/samples/batch-0001/0006_eurotext-skew-3.tif" "$ROOT/samples/batch-0001/0009_phototest-turned-left.png"
  "$ROOT/samples/batch-0001/0002_eurotext.tif")
n=0
for b in $(seq -w 1 "$B"); do
  d="$WORK/incoming/box-$b"; mkdir -p "$d"
  for p in $(seq -w 1 "$P"); do
    src=${SAMPLES[$((n % ${#SAMPLES[@]}))]}
    ext=${src##*.}
    { cat "$src"; printf 'folio-bench-page-%08d' "$n"; } > "$d/p$p.$ext"
    n=$((n + 1))
  done
done
export FOLIO_DATA_DIR="$WORK/data" FOLIO_DATABASE_URL="sqlite://$WORK/data/folio.db?mode=rwc"
"$BIN" --config "$WORK/folio.toml" watch "$WORK/watch" --out "$WORK/out" 2> "$WORK/watch.log" &
PID=$!
sleep 2
for d in "$WORK"/incoming/*; do mv "$d" "$WORK/watch/"; done
for d in "$WORK"/watch/box-*; do : > "$d/READY"; done
T0=$(date +%s.%N)
while :; do
  done_n=$("$BIN" --config "$WORK/folio.toml" status --json | python3 -c \
    'import json,sys; s=json.load(sys.stdin); print(sum(b["state"]=="packaged" for b in s["batches"]))')
  [ "$done_n" -ge "$B" ] && break
  sleep 0.5
done
T1=$(date +%s.%N)
kill -TERM $PID; wait $PID || true
python3 - "$WORK/data/folio.db" "$T0" "$T1" "$B" "$P" "$W" "$BIN" <<'PY'
import sqlite3, sys
db, t0, t1, b, p, w, binary = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
c = sqlite3.connect(db)
pages, stage_ms = c.execute("SELECT COUNT(*), SUM(image_ms + ocr_ms) FROM pages WHERE state = 'done'").fetchone()
docs = c.execute("SELECT COUNT(*) FROM documents WHERE state = 'packaged'").fetchone()[0]
wall = t1 - t0
stage = stage_ms / 1000.0
over = (wall - stage / w) / b
print(f"binary: {binary}")
print(f"{b} batches x {p} pages = {pages} pages done, {docs} documents packaged, {w} workers")
print(f"last marker -> last package: {wall:.1f} s ({pages * 60 / wall:.0f} pages/min)")
print(f"stage time: {stage:.1f} s in all = {stage / w:.1f} s on {w} workers")
print(f"service overhead: {wall - stage / w:.1f} s in all = {over:.2f} s per batch ({100 * (wall - stage / w) / wall:.0f} % of the wall time)")
PY
