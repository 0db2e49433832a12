#!/usr/bin/env bash
# Several Folio hosts on one machine: each worker runs in its own network
# namespace (folio-h1 10.77.0.2, folio-h2 10.77.0.3, veth pairs on a bridge
# whose root-side address is 10.77.0.1) with its own data folder; the only
# things the hosts share are the PostgreSQL store — a throw-away cluster
# listening on 10.77.0.1, reached over the veths — and the object folder
# (one file system, like an NFS mount).
#
#   scripts/multihost.sh [--pages-from DIR] [--lease SECONDS] [--port N]
#                        [--config FILE] [--keep] [--save]
#
# Run A: one worker process in folio-h1 with 2 threads. Run B: the same
# pages again (a fresh database, objects and output folder) worked by two
# processes, one in folio-h1 and one in folio-h2, 1 thread each (the same
# 2 cores). No netem here, so the network cost is COUNTED instead: the
# cluster logs every statement with its server-side duration
# (log_min_duration_statement = 0, csvlog with client address and
# application name); the workers' statements during the work phase
# (ingest excluded) divided by pages give round trips per page, and
# "projected DB wait on a 1 ms LAN" = round trips x 1 ms.
#
# Checks (non-zero exit if any fails): every page done exactly once (pages
# table and leased->done events), no document left unfinished, every
# package under the output folder validates with `python3 -m bagit
# --validate`, the worker reports add up, and run B's page completions
# come from both hosts (events.actor). --save writes the table to
# benches/multihost.results.md. Needs root (ip netns, runuser) and
# PostgreSQL 15 server binaries (PGBIN, default /usr/lib/postgresql/15/bin).
# --keep leaves the work folder (logs, packages) in /tmp/folio-multihost.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
COMMAND_LINE="scripts/multihost.sh${*:+ $*}"

die() { echo "multihost: error: $*" >&2; exit 2; }
say() { echo "multihost: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

SAVE=0 KEEP=0 PAGES_FROM="" LEASE="" PORT=55432 CONFIG="$REPO/config/folio.toml"
while [ $# -gt 0 ]; do
  case "$1" in
    --save) SAVE=1 ;;
    --keep) KEEP=1 ;;
    --pages-from) [ $# -ge 2 ] || die "--pages-from needs a folder"; PAGES_FROM=$2; shift ;;
    --pages-from=*) PAGES_FROM=${1#*=} ;;
    --lease) [ $# -ge 2 ] || die "--lease needs seconds"; LEASE=$2; shift ;;
    --lease=*) LEASE=${1#*=} ;;
    --port) [ $# -ge 2 ] || die "--port needs a number"; PORT=$2; shift ;;
    --port=*) PORT=${1#*=} ;;
    --config) [ $# -ge 2 ] || die "--config needs a file"; CONFIG=$2; shift ;;
    --config=*) CONFIG=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$PORT'"
[ -z "$LEASE" ] || [[ "$LEASE" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--lease must be seconds, got '$LEASE'"
[ -f "$CONFIG" ] || die "config file $CONFIG not found"
CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
if [ -n "$PAGES_FROM" ]; then
  [ -d "$PAGES_FROM" ] || die "--pages-from: $PAGES_FROM is not a folder"
  PAGES_FROM=$(cd "$PAGES_FROM" && pwd)
fi

# ---- prerequisites -------------------------------------------------------
[ "$(id -u)" = 0 ] || die "needs root (ip netns, veth, runuser postgres); run with sudo"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for t in initdb pg_ctl psql pg_isready; do
  [ -x "$PGBIN/$t" ] || die "$PGBIN/$t missing: install postgresql-15 (or set PGBIN)"
done
for c in ip runuser python3 cargo; do
  command -v "$c" >/dev/null || die "'$c' not found in PATH"
done
id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the throw-away cluster as"
python3 -c "import bagit" 2>/dev/null || die "python3 bagit module missing: run scripts/setup"
ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here (no network namespace support?)"
# Only what this script sets must reach folio.
unset FOLIO_DATABASE_URL FOLIO_DATA_DIR FOLIO_OBJECTS_DIR FOLIO_HOST FOLIO_CONFIG

# ---- names ---------------------------------------------------------------
W=${FOLIO_MULTIHOST_DIR:-/tmp/folio-multihost}   # fixed: a leftover is found and removed
BR=folio-br0
NET=10.77.0
DB_IP=$NET.1
HOSTS=(h1 h2)
declare -A HOST_IP=([h1]=$NET.2 [h2]=$NET.3)
PGDATA=$W/pg
PGSOCK=$W/pg-sock
PGLOG=$W/pg-log
PSQL=("$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PORT" -U postgres)
WORKER_PIDS=()

as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# Stops the cluster, the workers this script started, removes the
# namespaces, bridge and work folder. Safe to run any number of times, and
# on what an interrupted earlier run left behind.
teardown() {
  local keep=${1:-0} pid ns i
  for pid in "${WORKER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for ns in "${HOSTS[@]/#/folio-}"; do
    # Processes still inside our namespaces can only be workers of an
    # earlier run of this script.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  if [ -f "$PGDATA/postmaster.pid" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1 \
      || as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  fi
  for ns in "${HOSTS[@]/#/folio-}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  for i in "${!HOSTS[@]}"; do ip link del "fmh$((i + 1))" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  if [ "$keep" = 1 ]; then
    say "work folder kept: $W"
  else
    rm -rf "$W"
  fi
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  [ "$rc" -lt 128 ] || say "interrupted (exit $rc); cleaning up"
  teardown "$KEEP"
  exit "$rc"
}

# ---- 1. build, namespaces --------------------------------------------------
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
say "building target/release/folio"
cargo build --release --quiet -p folio || die "cargo build --release -p folio failed"
BIN=${CARGO_TARGET_DIR:-target}/release/folio
case "$BIN" in /*) ;; *) BIN="$REPO/$BIN" ;; esac
[ -x "$BIN" ] || die "$BIN not found after the build"

say "removing leftovers of an earlier run (if any)"
teardown 0

mkdir -p "$W"
chmod 755 "$W"

say "network: bridge $BR $DB_IP/24; $(for h in "${HOSTS[@]}"; do printf 'folio-%s %s  ' "$h" "${HOST_IP[$h]}"; done)"
ip link add "$BR" type bridge || die "cannot create bridge $BR"
ip addr add "$DB_IP/24" dev "$BR"
ip link set "$BR" up
for i in "${!HOSTS[@]}"; do
  h=${HOSTS[$i]} ns=folio-${HOSTS[$i]} veth=fmh$((i + 1))
  ip netns add "$ns" || die "cannot create network namespace $ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns" || die "cannot create veth $veth"
  ip link set "$veth" master "$BR" up
  ip -n "$ns" addr add "${HOST_IP[$h]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done

# ---- 2. throw-away cluster on the bridge address ---------------------------
say "initdb + start PostgreSQL on $DB_IP:$PORT"
install -d -o postgres -g postgres -m 700 "$PGDATA"
install -d -o postgres -g postgres -m 755 "$PGSOCK" "$PGLOG"
as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --no-instructions \
  >"$W/initdb.log" 2>&1 || { cat "$W/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGDATA/postgresql.conf" <<EOF

# scripts/multihost.sh
listen_addresses = '$DB_IP'
port = $PORT
unix_socket_directories = '$PGSOCK'
max_connections = 50
logging_collector = on
log_destination = 'csvlog'
log_directory = '$PGLOG'
log_filename = 'postgres'
log_rotation_size = 0
log_min_duration_statement = 0    # every statement with its duration
log_statement = 'none'            # (else the text is logged twice)
log_parameter_max_length = 0      # no bound values (OCR text) in the log
log_connections = on
log_disconnections = on
log_line_prefix = '%m [%p] %a %u@%d %r '
EOF
cat >"$PGDATA/pg_hba.conf" <<EOF
local all all trust
host  all all $NET.0/24 trust
EOF
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG/startup.log" -w -t 60 start >/dev/null \
  || { cat "$PGLOG/startup.log" >&2; die "the throw-away cluster did not start (port $PORT taken? try --port)"; }
"${PSQL[@]}" -d postgres -c "CREATE ROLE folio LOGIN" >/dev/null
for h in "${HOSTS[@]}"; do
  ip netns exec "folio-$h" "$PGBIN/pg_isready" -q -h "$DB_IP" -p "$PORT" -U folio -d postgres -t 10 \
    || die "PostgreSQL at $DB_IP:$PORT is not reachable from folio-$h over the veth"
done

# ---- settings: one config for both runs -------------------------------------
CFG=$CONFIG
if [ -n "$LEASE" ]; then
  # A copy with [work] lease_seconds set; relative paths made absolute.
  CFG=$W/folio.toml
  python3 - "$CONFIG" "$CFG" "$LEASE" <<'PY' || die "cannot write $W/folio.toml from $CONFIG"
import os, sys, tomllib
src, dst, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
cfg = tomllib.load(open(src, "rb"))
base = os.path.dirname(src)
for k in ("data_dir", "objects_dir", "classes_dir"):
    if k in cfg:
        cfg[k] = os.path.join(base, cfg[k])
cfg.setdefault("work", {})["lease_seconds"] = lease
def val(v):
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, (int, float)): return repr(v)
    if isinstance(v, str): return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list): return "[" + ", ".join(val(x) for x in v) + "]"
    raise SystemExit(f"cannot write {v!r}")
def dump(d, prefix, out):
    for k, v in d.items():
        if not isinstance(v, dict): out.append(f"{k} = {val(v)}")
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"\n[{prefix}{k}]"); dump(v, f"{prefix}{k}.", out)
out = []; dump(cfg, "", out)
open(dst, "w").write("\n".join(out) + "\n")
PY
fi
LEASE_USED=$(python3 - "$CFG" <<'PY'
import sys, tomllib
print(tomllib.load(open(sys.argv[1], "rb")).get("work", {}).get("lease_seconds", 60.0))
PY
)

# ---- the batch -------------------------------------------------------------
SRC=$W/batch-src
mkdir -p "$SRC"
if [ -n "$PAGES_FROM" ]; then
  cp -p "$PAGES_FROM"/* "$SRC"/ 2>/dev/null || true
else
  cp -p "$REPO"/samples/batch-0001/* "$SRC"/
  cp -p "$REPO"/../shared/data/tesseract-test/*.tif "$SRC"/ \
    || die "../shared/data/tesseract-test/*.tif not found (use --pages-from DIR)"
fi
[ -n "$(ls -A "$SRC")" ] || die "no files to ingest in ${PAGES_FROM:-the default batch}"

url() { echo "postgres://folio@$DB_IP:$PORT/$1?application_name=$2"; }
sql() { local db=$1; shift; "${PSQL[@]}" -d "$db" "$@"; }

FAILS=()
fail() { FAILS+=("$1"); echo "multihost: CHECK FAILED: $1" >&2; }

# ---- 3.-4. one run -----------------------------------------------------------
# run_case NAME HOST:THREADS...: a fresh database, batch folder, object and
# output folder; ingest from the root namespace; the workers in their
# namespaces, started together; then the checks.
run_case() {
  local name=$1; shift
  local db=folio_run_${name,,} rw=$W/run-$name spec h t pid rc
  mkdir -p "$rw"
  say "run $name: database $db, workers: $*"
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $db OWNER folio" >/dev/null
  FOLIO_DATABASE_URL=$(url "$db" folio-migrate) FOLIO_DATA_DIR=$rw/root FOLIO_HOST=root \
    "$BIN" --config "$CFG" migrate >"$rw/migrate.log" 2>&1 \
    || { cat "$rw/migrate.log" >&2; die "run $name: folio migrate failed"; }
  cp -rp "$SRC" "$rw/batch"
  local ingest_rc=0
  FOLIO_DATABASE_URL=$(url "$db" folio-ingest) FOLIO_DATA_DIR=$rw/root \
    FOLIO_OBJECTS_DIR=$rw/objects FOLIO_HOST=root \
    "$BIN" --config "$CFG" ingest "$rw/batch" --out "$rw/out" >"$rw/ingest.log" 2>&1 || ingest_rc=$?
  if [ "$ingest_rc" != 0 ]; then
    cat "$rw/ingest.log" >&2
    die "run $name: folio ingest exited $ingest_rc (quarantined files? see above)"
  fi
  local batch total
  batch=$(tail -n 1 "$rw/ingest.log")
  total=$(sql "$db" -c "SELECT count(*) FROM pages")
  [ "$total" -gt 0 ] || die "run $name: ingest queued no pages ($(head -n 3 "$rw/ingest.log"))"
  say "run $name: batch $batch, $total page(s) queued; $(grep -c 'duplicate:' "$rw/ingest.log" || true) duplicate file(s) skipped"

  local t0 procs=0 pids=()
  t0=$(date +%s.%N)
  for spec in "$@"; do
    h=${spec%%:*} t=${spec##*:}
    mkdir -p "$rw/$h"
    (
      rc=0
      ip netns exec "folio-$h" env FOLIO_HOST="$h" FOLIO_DATA_DIR="$rw/$h" \
        FOLIO_OBJECTS_DIR="$rw/objects" FOLIO_DATABASE_URL="$(url "$db" "folio-worker-$h")" \
        "$BIN" --config "$CFG" worker --until-idle --workers "$t" --json \
        >"$rw/$h.json" 2>"$rw/$h.err" || rc=$?
      date +%s.%N >"$rw/$h.end"
      times >"$rw/$h.cpu"   # last line: the worker's user and system CPU time
      echo "$rc" >"$rw/$h.rc"
    ) &
    pids+=($!)
    WORKER_PIDS+=($!)
    procs=$((procs + 1))
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  WORKER_PIDS=()

  # ---- checks ----
  for spec in "$@"; do
    h=${spec%%:*}
    rc=$(cat "$rw/$h.rc" 2>/dev/null || echo "?")
    if [ "$rc" != 0 ]; then
      fail "run $name: worker in folio-$h exited $rc: $(tail -n 3 "$rw/$h.err" | tr '\n' ' ')"
    fi
  done
  local done_n
  done_n=$(sql "$db" -c "SELECT count(*) FROM pages WHERE state = 'done'")
  [ "$done_n" = "$total" ] || fail "run $name: $done_n of $total pages done ($(sql "$db" -F= -c \
    "SELECT state, count(*) FROM pages GROUP BY 1 ORDER BY 1" | tr '\n' ' '))"
  local dup
  dup=$(sql "$db" -F: -c "SELECT entity_id, count(*) FROM events WHERE entity = 'page' \
    AND from_state = 'leased' AND to_state IN ('done', 'failed') GROUP BY 1 HAVING count(*) <> 1")
  [ -z "$dup" ] || fail "run $name: pages completed more than once (page:times): $(echo "$dup" | tr '\n' ' ')"
  local missing
  missing=$(sql "$db" -c "SELECT count(*) FROM pages p WHERE NOT EXISTS (SELECT 1 FROM events e \
    WHERE e.entity = 'page' AND e.entity_id = p.id::text AND e.from_state = 'leased' \
    AND e.to_state IN ('done', 'failed'))")
  [ "$missing" = 0 ] || fail "run $name: $missing page(s) without a leased->done event"
  local open_docs
  open_docs=$(sql "$db" -c "SELECT count(*) FROM documents WHERE state IN ('queued', 'finishing')")
  [ "$open_docs" = 0 ] || fail "run $name: $open_docs document(s) not finished"
  local bags=0 bad=0 bag
  while IFS= read -r bag; do
    bags=$((bags + 1))
    if ! python3 -m bagit --validate --quiet "$bag" >"$rw/bagit.log" 2>&1; then
      bad=$((bad + 1))
      fail "run $name: package $bag does not validate: $(tail -n 2 "$rw/bagit.log" | tr '\n' ' ')"
    fi
  done < <(find "$rw/out" -name bagit.txt -printf '%h\n' 2>/dev/null | sort)
  [ "$bags" -gt 0 ] || fail "run $name: no package (bagit.txt) under $rw/out"
  local no_bag
  no_bag=$(sql "$db" -c "SELECT package_path FROM documents WHERE package_path IS NOT NULL" \
    | while IFS= read -r p; do [ -f "$p/bagit.txt" ] || echo "$p"; done)
  [ -z "$no_bag" ] || fail "run $name: documents whose package_path is not a bag: $no_bag"
  local hosts_done
  hosts_done=$(sql "$db" -c "SELECT DISTINCT split_part(substr(actor, 8), '/', 1) FROM events \
    WHERE actor LIKE 'worker:%' AND entity = 'page' AND from_state = 'leased' \
    AND to_state IN ('done', 'failed') ORDER BY 1" | tr '\n' ' ')
  for spec in "$@"; do
    h=${spec%%:*}
    [[ " $hosts_done " == *" $h "* ]] \
      || fail "run $name: no page completed by host $h (events.actor hosts: ${hosts_done:-none})"
  done
  sql "$db" -F'|' -c "SELECT state, count(*) FROM documents GROUP BY 1 ORDER BY 1" >"$rw/documents.txt"
  sql "$db" -F'|' -c "SELECT round(avg(image_ms)), round(avg(ocr_ms)) FROM pages" >"$rw/stages.txt"
  sql "$db" -F'|' -c "SELECT DISTINCT actor FROM events WHERE actor LIKE 'worker:%' ORDER BY 1" >"$rw/actors.txt"

  python3 - "$rw" "$name" "$db" "$t0" "$total" "$bags" "$hosts_done" "$@" <<'PY' || fail "run $name: worker reports missing or not adding up (see above)"
import json, sys
rw, name, db, t0, total, bags, hosts_done, *specs = sys.argv[1:]
workers, end, cpu = [], float(t0), 0.0
def seconds(t):  # bash `times`: 1m2.345s
    m, s = t.rstrip("s").split("m")
    return int(m) * 60 + float(s)
for spec in specs:
    h, threads = spec.split(":")
    try:
        rep = json.load(open(f"{rw}/{h}.json"))
    except Exception as e:
        rep = {"error": str(e)}
    rep.update(host=h, threads=int(threads))
    workers.append(rep)
    end = max(end, float(open(f"{rw}/{h}.end").read()))
    cpu += sum(seconds(t) for t in open(f"{rw}/{h}.cpu").read().splitlines()[-1].split())
image_ms, ocr_ms = open(f"{rw}/stages.txt").read().strip().split("|")
docs = dict(l.split("|") for l in open(f"{rw}/documents.txt").read().split())
json.dump(dict(name=name, db=db, pages=int(total), seconds=end - float(t0), workers=workers,
               cpu_seconds=cpu, image_ms=float(image_ms or 0), ocr_ms=float(ocr_ms or 0),
               bags=int(bags), documents={k: int(v) for k, v in docs.items()},
               hosts_done=hosts_done.split(),
               actors=open(f"{rw}/actors.txt").read().split()),
          open(f"{rw}/summary.json", "w"), indent=1)
reported = sum(w.get("pages", 0) for w in workers)
stale = sum(w.get("stale", 0) for w in workers)
if any("error" in w or w.get("interrupted") for w in workers):
    sys.exit(f"a worker printed no report or was interrupted: {workers}")
if reported != int(total):
    print(f"multihost: CHECK FAILED: run {name}: workers report {reported} pages, {total} queued", file=sys.stderr)
    sys.exit(3)
print(f"multihost: run {name}: {total} pages in {end - float(t0):.1f} s; "
      + ", ".join(f"{w['host']}: {w['pages']} page(s), {w['documents']} doc(s), {w['stale']} stale" for w in workers),
      file=sys.stderr)
PY
}

run_case A h1:2
run_case B h1:1 h2:1

# ---- 5. the log: statements and DB time per page ----------------------------
# Stopping the cluster flushes the log collector; the checks are done.
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null
RESULTS=$W/results.md
BUILT_FROM="commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
[ -z "$(git -C "$REPO" status --porcelain -- pipeline stages 2>/dev/null)" ] \
  || BUILT_FROM="$BUILT_FROM + uncommitted changes in pipeline/ or stages/"
python3 - "$W" "$PGLOG" "$COMMAND_LINE" "$LEASE_USED" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$BUILT_FROM" \
  >"$RESULTS" <<'PY'
import csv, glob, json, re, sys, collections, datetime
w, logdir, command, lease, cores, load, built = sys.argv[1:]
runs = [json.load(open(f"{w}/run-{n}/summary.json")) for n in ("A", "B")]
by_db = {r["db"]: r for r in runs}
for r in runs:
    r.update(statements=0, prepares=0, db_ms=0.0, connections=0, clients=set(),
             kinds=collections.Counter(), kind_ms=collections.Counter())
dur = re.compile(r"^duration: ([0-9.]+) ms  (statement|execute [^:]*|parse [^:]*|bind [^:]*): (.*)$", re.S)
csv.field_size_limit(1 << 30)
for path in sorted(glob.glob(f"{logdir}/*.csv")):
    for row in csv.reader(open(path, newline="", encoding="utf-8", errors="replace")):
        if len(row) < 23:
            continue
        db, client, msg, app = row[2], row[4], row[13], row[22]
        r = by_db.get(db)
        if r is None:
            continue
        if msg.startswith("connection authorized"):
            named = re.search(r"application_name=(\S+)", msg)
            app = named.group(1) if named else app
            if not app.startswith("folio-worker-"):
                continue
            r["connections"] += 1
            r["clients"].add(client.split(":")[0])
            continue
        m = dur.match(msg)
        if not m or not app.startswith("folio-worker-"):
            continue
        ms = float(m.group(1))
        r["db_ms"] += ms
        kind = m.group(2).split()[0]
        text = " ".join(m.group(3).split())
        key = text[:72] + ("…" if len(text) > 72 else "")
        r["kind_ms"][key] += ms
        if kind == "parse":
            r["prepares"] += 1
        elif kind in ("statement", "execute"):
            r["statements"] += 1
            r["kinds"][key] += 1
out = []
p = out.append
p("# scripts/multihost.sh — last saved run\n")
p(f"`{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; folio built from {built}; {cores} cores, "
  f"load average at the end {load}; lease_seconds = {lease}; hosts are network namespaces "
  f"(folio-h1 10.77.0.2, folio-h2 10.77.0.3) reaching a throw-away PostgreSQL 15 at 10.77.0.1 over veths.\n")
p("| run | worker processes | pages | seconds | pages/min | worker CPU s per page "
  "| DB statements (round trips) per page | + prepares per page | DB time per page (ms) "
  "| projected DB wait per page on a 1 ms LAN (ms) |")
p("|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    n = r["pages"]
    procs = " + ".join(f"{wk['host']} ×{wk['threads']} thr" for wk in r["workers"])
    p(f"| {r['name']} | {len(r['workers'])} ({procs}) | {n} | {r['seconds']:.1f} | "
      f"{n * 60 / r['seconds']:.1f} | {r['cpu_seconds'] / n:.1f} | {r['statements'] / n:.1f} | "
      f"{r['prepares'] / n:.1f} | {r['db_ms'] / n:.2f} | {r['statements'] / n:.1f} "
      f"({(r['statements'] + r['prepares']) / n:.1f} with prepares) |")
p("")
p("Round trips: one per statement (BEGIN/COMMIT/ROLLBACK included: sqlx sends Bind+Execute+Sync "
  "and waits), × 1 ms; in brackets also one per prepare (sqlx's Parse+Describe+Sync the first "
  "time a pooled connection sees a statement: a per-connection cost that a longer batch "
  "amortises). Connection set-up (TCP, SSLRequest, startup) is in neither: "
  + "; ".join(f"run {r['name']} opened {r['connections']} connection(s) from {', '.join(sorted(r['clients']))}"
              for r in runs)
  + ". DB time is the server-side duration of every parse/bind/execute of the workers' "
  "connections (log_min_duration_statement = 0), network excluded. Ingest is excluded "
  "(it ran from the root namespace under its own application_name). Wall time runs from "
  "starting the worker processes (together) to the last one exiting; worker CPU is their user + "
  "system time. Other processes share the 2 cores, so compare runs by CPU per page as well "
  "as by wall time.\n")
for r in runs:
    docs = ", ".join(f"{v} {k}" for k, v in sorted(r["documents"].items()))
    p(f"Run {r['name']}: stages {r['image_ms']:.0f} ms image + {r['ocr_ms']:.0f} ms OCR per page "
      f"(pages.image_ms/ocr_ms); {docs}; {r['bags']} package(s) validated with bagit; page completions by "
      f"host(s) {', '.join(r['hosts_done'])}; worker ids: {', '.join('`' + a + '`' for a in r['actors'])}.")
p("")
p("Statements per page by kind (workers only, first 72 characters of the SQL; ms = server-side "
  "parse + bind + execute time per page):\n")
p("| statement | run A per page | run A ms/page | run B per page | run B ms/page |")
p("|---|---|---|---|---|")
keys = sorted(set(runs[0]["kind_ms"]) | set(runs[1]["kind_ms"]),
              key=lambda k: -(runs[0]["kinds"][k] + runs[1]["kinds"][k]))
for k in keys:
    cells = " | ".join(f"{r['kinds'][k] / r['pages']:.2f} | {r['kind_ms'][k] / r['pages']:.2f}"
                       for r in runs)
    label = k.replace("|", "\\|")
    p(f"| `{label}` | {cells} |")
print("\n".join(out))
PY
cat "$RESULTS"
if [ "$SAVE" = 1 ]; then
  cp "$RESULTS" "$REPO/benches/multihost.results.md"
  say "saved benches/multihost.results.md"
fi

if [ ${#FAILS[@]} -gt 0 ]; then
  echo "multihost: ${#FAILS[@]} check(s) failed:" >&2
  printf '  - %s\n' "${FAILS[@]}" >&2
  exit 1
fi
say "all checks passed: every page done exactly once, packages valid, run B worked by h1 and h2"
