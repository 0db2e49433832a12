#!/usr/bin/env bash
# `folio watch` killed with SIGKILL at seeded random moments over a
# 100-page run, restarted each time: every page must be packaged exactly
# once with its arrival SHA-256 (the long form of the test
# `kill_9_at_seeded_moments_loses_and_doubles_no_page` in
# pipeline/tests/watch.rs, which runs 20 pages and 4 kills in `cargo test`).
#
# Usage: scripts/watch_kill.sh [PAGES] [KILLS] [SEED]   (default 100 10 random)
set -euo pipefail
cd "$(dirname "$0")/.."
PAGES=${1:-100}
KILLS=${2:-10}
SEED=${3:-$(( (RANDOM << 16) | RANDOM ))}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
echo "watch kill test: $PAGES pages, $KILLS kills, seed $SEED"
FOLIO_WATCH_KILL_PAGES=$PAGES FOLIO_WATCH_KILLS=$KILLS FOLIO_WATCH_SEED=$SEED \
  cargo test -p folio --test watch kill_9_at_seeded_moments -- --nocapture
