#!/usr/bin/env bash
# Reading a form's fields only against reading the whole page: the shared
# forms (../shared/data/forms-zh) through `folio run` (release build, fresh
# SQLite store, OMP_THREAD_LIMIT=1) once with the whole-page class
# `insurance_registration` and once with `insurance_registration_fields`
# (`recognize = "fields"`), in one run. Prints per class: wall seconds,
# pages/min, recognition thread-seconds (the store's `ocr_ms`), and the
# fields accepted right, accepted wrong (against each form's JSON truth)
# and sent to keying.
#
#   benches/fields_only.sh [--pages N] [--folio BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
pages=0 folio=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pages) pages="$2"; shift 2 ;;
    --folio) folio="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$folio" ]; then
  cargo build --release -q -p folio
  folio=target/release/folio
fi
folio=$(realpath "$folio")
# Before OMP_THREAD_LIMIT: GNU nproc honours it.
cores=$(nproc)
export OMP_THREAD_LIMIT=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
shared=../shared/data/forms-zh
mkdir -p "$work/pages"
n=0
for json in "$shared"/form_*.json; do
  [ "$pages" -gt 0 ] && [ "$n" -ge "$pages" ] && break
  file=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['file'])" "$json")
  cp "$shared/$file" "$work/pages/"
  n=$((n + 1))
done
echo "forms: $n pages, $cores cores, load $(cut -d' ' -f1 /proc/loadavg)" >&2
echo "| class | pages | wall s | pages/min | recognition thread-s | accepted right | accepted wrong | to keying |"
echo "|---|---|---|---|---|---|---|---|"
for class in insurance_registration insurance_registration_fields; do
  rm -rf "$work/data" "$work/out"
  t0=$(date +%s.%N)
  FOLIO_DATA_DIR="$work/data" FOLIO_DATABASE_URL= FOLIO_OBJECTS_DIR= "$folio" \
    run "$work/pages" --out "$work/out" --class "$class" --quiet --json >"$work/run.json" 2>"$work/run.err" \
    || [ $? = 4 ] || { echo "folio run failed: $(cat "$work/run.err")" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 - "$work/data/folio.db" "$shared" "$class" "$n" "$t0" "$t1" <<'PY'
import json, os, sqlite3, sys
db, shared, cls, n, t0, t1 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
con = sqlite3.connect(db)
ocr = sum(r[0] or 0 for r in con.execute("SELECT ocr_ms FROM pages")) / 1000
truth = {}
for name in os.listdir(shared):
    if name.endswith(".json"):
        j = json.load(open(os.path.join(shared, name)))
        truth[j["file"]] = {k: v["value"] for k, v in j["fields"].items()}
right = wrong = keying = 0
rows = con.execute(
    "SELECT f.original_name, fl.name, fl.value, fl.status FROM fields fl "
    "JOIN pages p ON p.document_id = fl.document_id JOIN files f ON f.sha256 = p.file_sha256"
)
for original, field, value, status in rows:
    if status != "accepted":
        keying += 1
    elif value == truth[original][field]:
        right += 1
    else:
        wrong += 1
        print(f"  accepted wrong: {original} {field} {value!r}, truth {truth[original][field]!r}", file=sys.stderr)
wall = t1 - t0
print(f"| {cls} | {n} | {wall:.2f} | {n * 60 / wall:.1f} | {ocr:.1f} | {right} | {wrong} | {keying} |")
PY
done
