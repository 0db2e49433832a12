#!/usr/bin/env bash
# Kill-and-resume test, long form (the short form is
# `cargo test -p folio --test resume`).
#
# Builds the release binary, makes a batch of N distinct pages from the
# samples and the shared scans, measures one uninterrupted `folio run`
# (the reference), then per backend: `folio run` killed with SIGKILL at K
# seeded random moments within the first 70 % of the reference time (some
# of them "as soon as a package is being assembled"), rerun after each
# kill, and a final run that must exit 0. Then it checks:
#   - every original of the batch is in exactly one package's manifest,
#     with the SHA-256 of the input file, grouped as in the reference run;
#   - every package validates with `python3 -m bagit --validate`;
#   - <out>/.staging holds nothing, no .partial/.failed folder;
#   - `folio status --json`: batch packaged, pages queued = leased = 0,
#     done = N, no lease held;
#   - every page was committed exactly once (events leased → done/failed);
#   - packages = documents in the store.
# and prints one summary line per backend. Exit status 0 when every
# backend passed.
#
# Usage: scripts/kill_resume.sh [--pages N] [--kills K] [--seed S]
#          [--lease SECONDS] [--workers W] [--max-attempts A] [--postgres]
#          [--no-sqlite] [--no-build] [--keep]
#   --max-attempts  [work] max_attempts (default K + 2): a page in hand at
#                every kill is claimed once per run, and with folio's default
#                of 3 it would be given up as a page that kills its worker;
#                pass 3 to see that guard at work
#   --postgres   also on a fresh PostgreSQL database (createdb/dropdb via
#                psql -h $PGHOST -U $PGUSER, default 127.0.0.1 / postgres)
#   --keep       keep the work folder (printed) for inspection
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED="$ROOT/../shared/data"

PAGES=40
KILLS=10
SEED=20261128
LEASE=2
WORKERS=2
MAX_ATTEMPTS=""
POSTGRES=0
SQLITE=1
BUILD=1
KEEP=0
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}

while [ $# -gt 0 ]; do
    case "$1" in
    --pages) PAGES=$2; shift 2 ;;
    --kills) KILLS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --lease) LEASE=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --max-attempts) MAX_ATTEMPTS=$2; shift 2 ;;
    --postgres) POSTGRES=1; shift ;;
    --no-sqlite) SQLITE=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$BUILD" = 1 ]; then
    echo "== building the release binary"
    cargo build --release -q -p folio
fi
FOLIO="$ROOT/target/release/folio"
[ -x "$FOLIO" ] || { echo "no $FOLIO (build it or drop --no-build)" >&2; exit 2; }

MAX_ATTEMPTS=${MAX_ATTEMPTS:-$((KILLS + 2))}
WORK=$(mktemp -d /tmp/folio-kill-resume.XXXXXX)
PGDB=""
CUR_PID=""
cleanup() {
    # a run of ours still going (the script stopped mid-kill)
    if [ -n "$CUR_PID" ] && kill -0 "$CUR_PID" 2>/dev/null; then
        kill -KILL "$CUR_PID" 2>/dev/null || true
        wait "$CUR_PID" 2>/dev/null || true
    fi
    if [ -n "$PGDB" ]; then
        psql -q -h "$PGHOST" -U "$PGUSER" -d postgres \
            -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [ "$KEEP" = 1 ]; then
        echo "work folder kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

cat >"$WORK/folio.toml" <<EOF
classes_dir = "$ROOT/config/classes"
default_class = "general"
workers = $WORKERS

[ocr]
languages = "eng"

[ocr.variables]
tessedit_do_invert = "0"

[work]
lease_seconds = $LEASE
max_attempts = $MAX_ATTEMPTS
EOF

# ---- the batch: distinct files (by SHA-256) until N pages ----------------
BATCH="$WORK/batch"
mkdir -p "$BATCH"
python3 - "$BATCH" "$PAGES" "$ROOT/samples/batch-0001" "$SHARED/tesseract-test" "$SHARED/forms-zh" <<'EOF'
import hashlib, os, shutil, struct, sys

dest, want, sources = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def tiff_pages(data):
    """Pages of a classic TIFF (IFD chain); 1 for anything else."""
    if data[:4] not in (b"II*\0", b"MM\0*"):
        return 1
    e = "<" if data[:2] == b"II" else ">"
    off, n = struct.unpack(e + "I", data[4:8])[0], 0
    while off and off + 2 <= len(data) and n < 10000:
        count = struct.unpack(e + "H", data[off:off + 2])[0]
        n += 1
        nxt = off + 2 + 12 * count
        off = struct.unpack(e + "I", data[nxt:nxt + 4])[0] if nxt + 4 <= len(data) else 0
    return max(n, 1)

seen, pages, k = set(), 0, 0
for src in sources:
    for name in sorted(os.listdir(src)):
        if pages >= want:
            break
        if not name.lower().endswith((".tif", ".tiff", ".png", ".jpg", ".jpeg")):
            continue
        path = os.path.join(src, name)
        data = open(path, "rb").read()
        sha = hashlib.sha256(data).hexdigest()
        if sha in seen:
            continue
        seen.add(sha)
        k += 1
        shutil.copyfile(path, os.path.join(dest, f"{k:03d}_{name}"))
        pages += tiff_pages(data)
print(f"batch: {k} files, {pages} pages")
if pages < want:
    print(f"warning: only {pages} distinct pages available (asked for {want})")
open(os.path.join(os.path.dirname(dest), "pages"), "w").write(str(pages))
EOF
NPAGES=$(cat "$WORK/pages")

# ---- the checks, in python -----------------------------------------------
cat >"$WORK/check.py" <<'EOF'
import hashlib, json, os, subprocess, sys

site, batch, pages, url, reference = sys.argv[1:6]
pages = int(pages)
out = os.path.join(site, "out")
problems = []

def sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

def sql(q):
    if url.startswith("sqlite:"):
        import sqlite3
        path = url.split("://", 1)[1].split("?", 1)[0]
        con = sqlite3.connect(path)
        rows = con.execute(q).fetchall()
        con.close()
        return rows
    r = subprocess.run(["psql", url, "-At", "-F", "\t", "-c", q], capture_output=True, text=True, check=True)
    return [tuple(l.split("\t")) for l in r.stdout.splitlines() if l]

status = json.load(open(os.path.join(site, "status.json")))
bs = status["batches"]
if len(bs) != 1:
    problems.append(f"{len(bs)} batches in status (want 1)")
else:
    b = bs[0]
    p = b["pages"]
    if b["state"] != "packaged":
        problems.append(f"batch state {b['state']}")
    if (p["queued"], p["leased"], p["failed"], p["done"]) != (0, 0, 0, pages):
        problems.append(f"pages {p} (want done={pages}, nothing else)")
    if b["leases"]:
        problems.append(f"leases still held: {b['leases']}")

comp = sql("SELECT p.id, (SELECT COUNT(*) FROM events e WHERE e.entity = 'page' "
           "AND e.entity_id = CAST(p.id AS TEXT) AND e.from_state = 'leased' "
           "AND e.to_state IN ('done', 'failed')) FROM pages p")
twice = [(int(i), int(n)) for i, n in comp if int(n) != 1]
if len(comp) != pages:
    problems.append(f"{len(comp)} pages in the store (want {pages})")
if twice:
    problems.append(f"pages not committed exactly once: {twice}")
docs = sql("SELECT id, state FROM documents")
bad_docs = [d for d in docs if d[1] != "packaged"]
if bad_docs:
    problems.append(f"documents not packaged: {bad_docs}")
takeovers = int(sql("SELECT COUNT(*) FROM events WHERE reason LIKE '%ran out; taken over%'")[0][0])

# Packages sit in their batch delivery folder: <out>/<batch>-<id>/<doc>/.
bags = sorted(os.path.join(out, dl, d) for dl in os.listdir(out)
              if not dl.startswith(".") and os.path.isdir(os.path.join(out, dl))
              for d in os.listdir(os.path.join(out, dl))
              if os.path.isfile(os.path.join(out, dl, d, "bagit.txt")))
if len(bags) != len(docs):
    problems.append(f"{len(bags)} packages for {len(docs)} documents")
inputs = {n: sha256(os.path.join(batch, n)) for n in os.listdir(batch)}
where = {}
groups = []
for bag in bags:
    r = subprocess.run([sys.executable, "-m", "bagit", "--validate", "--quiet", bag],
                       capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"bagit rejects {bag}: {r.stderr.strip()[-300:]}")
    manifest = {}
    for line in open(os.path.join(bag, "manifest-sha256.txt"), encoding="utf-8"):
        s, path = line.rstrip("\n").split(None, 1)
        manifest[path] = s
    index = json.load(open(os.path.join(bag, "data", "metadata", "index.json"), encoding="utf-8"))
    names = []
    for o in index["originals"]:
        name = o["original_name"]
        names.append(name)
        where.setdefault(name, []).append(os.path.basename(bag))
        if name not in inputs:
            problems.append(f"{bag}: unknown original {name}")
        elif manifest.get(o["path"]) != inputs[name] or o["sha256"] != inputs[name]:
            problems.append(f"{bag}: {name} manifest {manifest.get(o['path'])} != arrival {inputs[name]}")
    groups.append(sorted(names))
for name in inputs:
    n = len(where.get(name, []))
    if n != 1:
        problems.append(f"{name} is in {n} packages {where.get(name, [])}")
staging = os.path.join(out, ".staging")
if os.path.isdir(staging) and os.listdir(staging):
    problems.append(f".staging holds {os.listdir(staging)}")
for aside in (".partial", ".failed", ".awaiting-keying"):
    if os.path.exists(os.path.join(out, aside)):
        problems.append(f"{aside} exists: {os.listdir(os.path.join(out, aside))}")
if reference != "-":
    ref = json.load(open(reference))
    if sorted(groups) != sorted(ref):
        problems.append("packages are grouped differently from the reference run")
else:
    json.dump(groups, open(os.path.join(site, "groups.json"), "w"))
tmp = []
for d, _, files in os.walk(os.path.join(site, "data")):
    tmp += [os.path.join(d, f) for f in files if ".tmp-" in f]

print(json.dumps({"problems": problems, "documents": len(docs), "packages": len(bags),
                  "takeovers": takeovers, "temp_leftovers": len(tmp)}))
EOF

# Runs `folio` for one site (data folder + database URL).
fol() {
    local site=$1 url=$2
    shift 2
    FOLIO_DATA_DIR="$site/data" FOLIO_DATABASE_URL="$url" FOLIO_OBJECTS_DIR= \
        "$FOLIO" --config "$WORK/folio.toml" "$@"
}

run_args() { echo "run $BATCH --out $1/out --json --quiet"; }

# ---- the reference: one uninterrupted run -----------------------------------
REF="$WORK/reference"
mkdir -p "$REF"
REF_URL="sqlite://$REF/data/folio.db?mode=rwc"
echo "== reference run ($NPAGES pages, $WORKERS workers, lease ${LEASE}s, max_attempts $MAX_ATTEMPTS)"
t0=$(date +%s.%N)
# shellcheck disable=SC2046
fol "$REF" "$REF_URL" $(run_args "$REF") >"$REF/run.json" 2>"$REF/run.err" || {
    echo "the reference run failed:"; tail -20 "$REF/run.err"; exit 1; }
FULL=$(python3 -c "import time; print(round(time.time() - $t0, 2))")
fol "$REF" "$REF_URL" status --json >"$REF/status.json"
ref_check=$(python3 "$WORK/check.py" "$REF" "$BATCH" "$NPAGES" "$REF_URL" -)
echo "reference: ${FULL}s · $ref_check"
python3 -c "import json,sys; sys.exit(1 if json.loads(sys.argv[1])['problems'] else 0)" "$ref_check" || {
    echo "the reference run itself is wrong"; exit 1; }

# ---- the kill schedule: seeded xorshift64* ---------------------------------
# Each token: a fixed delay ("0.05", "0.4"), "pkg" (as soon as a package
# is being assembled) or "uX" — a uniform X in [0, 1) that becomes a delay
# within the first 70 % of the time the pages still left should take
# (reference time × pages left / pages), so late kills still land inside
# a run.
SCHEDULE=$(python3 - "$SEED" "$KILLS" <<'EOF'
import sys
seed, kills = int(sys.argv[1]) or 1, int(sys.argv[2])
M = (1 << 64) - 1
x = seed & M
def unit():
    global x
    x ^= x >> 12; x ^= (x << 25) & M; x ^= x >> 27
    return (((x * 0x2545F4914F6CDD1D) & M) >> 11) / float(1 << 53)
out = []
for i in range(kills):
    if i == 0:
        out.append("0.05")
    elif i == 1:
        out.append("0.4")
    elif i % 4 == 3:
        out.append("pkg")
    else:
        out.append(f"u{unit():.4f}")
print(" ".join(out))
EOF
)
echo "== seed $SEED: kills: $SCHEDULE (seconds; uX = X × 70 % of the time left; pkg = at packaging)"

# ---- one backend ---------------------------------------------------------------
RESULTS=()
FAILED=0
backend() {
    local name=$1 url=$2 site="$WORK/$1"
    mkdir -p "$site"
    local start_all n_ingest=0 n_pages=0 n_pkg=0 n_self=0 i=0
    start_all=$(date +%s.%N)
    echo "== $name"
    for when in $SCHEDULE; do
        i=$((i + 1))
        local delay=$when
        if [[ $when == u* ]]; then
            # pages left now, from the store (all of them before the first ingest)
            local left
            left=$(fol "$site" "$url" status --json 2>/dev/null | python3 -c '
import json, sys
try:
    b = json.load(sys.stdin)["batches"]
except Exception:
    b = []
p = b[0]["pages"] if b else None
print(p["queued"] + p["leased"] if p else -1)' || echo -1)
            [ "$left" -ge 0 ] 2>/dev/null || left=$NPAGES
            delay=$(awk "BEGIN { s = 0.7 * $FULL * $left / $NPAGES; if (s < 1) s = 1; printf \"%.2f\", 0.05 + ${when#u} * s }")
        fi
        # Staging folders left by earlier kills (a dead worker's document
        # is taken up again only once no page is left to claim): "pkg"
        # waits for a new one.
        local before
        before=$(ls -A "$site/out/.staging" 2>/dev/null | sort | tr '\n' ' ' || true)
        # The binary itself in the background (not a shell function: $!
        # must be folio's pid, or the kill would miss it).
        # shellcheck disable=SC2046
        env FOLIO_DATA_DIR="$site/data" FOLIO_DATABASE_URL="$url" FOLIO_OBJECTS_DIR= \
            "$FOLIO" --config "$WORK/folio.toml" $(run_args "$site") \
            >"$site/run-$i.json" 2>"$site/run-$i.err" &
        local pid=$! t0=${EPOCHREALTIME/./}
        CUR_PID=$pid
        if [ "$when" = pkg ]; then
            while kill -0 "$pid" 2>/dev/null; do
                if compgen -G "$site/out/.staging/*" >/dev/null &&
                    [ "$(ls -A "$site/out/.staging" 2>/dev/null | sort | tr '\n' ' ')" != "$before" ]; then
                    break
                fi
                sleep 0.002
            done
        else
            local until_us=$((t0 + $(awk "BEGIN { print int($delay * 1000000) }")))
            # sleep in slices so a run that ends early is noticed
            while kill -0 "$pid" 2>/dev/null && [ "${EPOCHREALTIME/./}" -lt "$until_us" ]; do
                sleep 0.01
            done
        fi
        kill -KILL "$pid" 2>/dev/null || true
        local rc=0
        wait "$pid" 2>/dev/null || rc=$?
        CUR_PID=""
        if [ "$rc" = 137 ]; then # killed by our SIGKILL
            local at
            at=$(awk "BEGIN { printf \"%.2f\", (${EPOCHREALTIME/./} - $t0) / 1e6 }")
            local st
            st=$(fol "$site" "$url" status --json 2>/dev/null || echo '{"batches":[]}')
            local phase
            phase=$(python3 -c '
import json, os, sys
s = json.loads(sys.argv[1]); staging = sys.argv[2]; before = set(sys.argv[3].split())
b = s["batches"]
if not b:
    print("ingest"); sys.exit()
if os.path.isdir(staging) and set(os.listdir(staging)) - before:
    print("packaging"); sys.exit()
p, d = b[0]["pages"], b[0]["documents"]
q, l, dn, fin = p["queued"], p["leased"], p["done"], d["finishing"]
print(f"pages(q{q},l{l},d{dn};docs-finishing{fin})")
' "$st" "$site/out/.staging" "$before")
            # a "pkg" kill fired on a new staging folder: packaging, even
            # when the package was already renamed into place (not committed)
            if [ "$when" = pkg ] && [ "$phase" != packaging ]; then phase="packaging (published, not committed: $phase)"; fi
            echo "  kill $i ($when → ${delay}) at ${at}s: $phase"
            case "$phase" in
            ingest) n_ingest=$((n_ingest + 1)) ;;
            packaging*) n_pkg=$((n_pkg + 1)) ;;
            *) n_pages=$((n_pages + 1)) ;;
            esac
        else
            echo "  run $i ended on its own (exit $rc) before the kill ($when → ${delay})"
            n_self=$((n_self + 1))
            if [ "$rc" != 0 ]; then
                echo "  unexpected exit $rc:"; tail -5 "$site/run-$i.err"
            fi
        fi
    done
    local t_final rc=0
    t_final=$(date +%s.%N)
    # shellcheck disable=SC2046
    fol "$site" "$url" $(run_args "$site") >"$site/final.json" 2>"$site/final.err" || rc=$?
    local final_s total_s
    final_s=$(python3 -c "import time; print(round(time.time() - $t_final, 1))")
    total_s=$(python3 -c "import time; print(round(time.time() - $start_all, 1))")
    fol "$site" "$url" status --json >"$site/status.json"
    local check
    check=$(python3 "$WORK/check.py" "$site" "$BATCH" "$NPAGES" "$url" "$REF/groups.json")
    local line
    line=$(python3 - "$name" "$rc" "$check" "$NPAGES" "$KILLS" "$n_ingest" "$n_pages" "$n_pkg" "$n_self" "$final_s" "$total_s" <<'EOF'
import json, sys
name, rc, check, pages, kills, ni, np_, nk, ns, fs, ts = sys.argv[1:]
c = json.loads(check)
probs = list(c["problems"])
if rc != "0":
    probs.insert(0, f"final run exited {rc}")
verdict = "OK" if not probs else "FAILED"
print(f"{name}: {verdict} · {pages} pages, {c['documents']} documents, {c['packages']} packages · "
      f"{kills} kills ({ni} in ingest, {np_} among pages, {nk} at packaging, {ns} after the run ended) · "
      f"{c['takeovers']} lease takeovers · final run {fs}s, all {ts}s · "
      f"{c['temp_leftovers']} temp file(s) left by killed runs"
      + ("".join(f"\n    - {p}" for p in probs)))
EOF
)
    echo "$line"
    if [ "$rc" != 0 ]; then tail -20 "$site/final.err"; fi
    RESULTS+=("$line")
    case "$line" in *FAILED*) FAILED=1 ;; esac
}

if [ "$SQLITE" = 1 ]; then
    backend sqlite "sqlite://$WORK/sqlite/data/folio.db?mode=rwc"
fi
if [ "$POSTGRES" = 1 ]; then
    PGDB="folio_kill_resume_$$"
    psql -q -h "$PGHOST" -U "$PGUSER" -d postgres -c "CREATE DATABASE $PGDB" >/dev/null
    backend postgres "postgres://$PGUSER@$PGHOST:5432/$PGDB"
fi

echo
echo "== summary (seed $SEED, $NPAGES pages, $KILLS kills, reference ${FULL}s)"
for r in "${RESULTS[@]}"; do echo "$r"; done
exit $FAILED
