#!/usr/bin/env bash
# Runs the whole test suite N times in a row (default 5) while stress-ng keeps every core busy,
# as a loaded CI machine would: the suite must pass each time (no timed assertion, no fixed sleep).
#   bash scripts/stress-suite.sh [N]        (needs Debian's stress-ng; .ci/run's services up)
set -euo pipefail
runs="${1:-5}"
cd "$(dirname "$0")/.."
command -v stress-ng >/dev/null || { echo "stress-ng is missing: apt-get install -y stress-ng" >&2; exit 2; }
cpus="$(nproc)"
stress-ng --cpu "$cpus" --cpu-method matrixprod --timeout 0 --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null || true' EXIT
npm run build:web >/dev/null
passed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if npx vitest run >"/tmp/tickline-stress-run-$i.log" 2>&1; then
    passed=$((passed + 1))
    echo "run $i/$runs: passed in $(( $(date +%s) - start )) s, with stress-ng --cpu $cpus beside it"
  else
    echo "run $i/$runs: FAILED after $(( $(date +%s) - start )) s (log: /tmp/tickline-stress-run-$i.log)"
    grep -E "FAIL|×" "/tmp/tickline-stress-run-$i.log" | head -20 || true
  fi
done
echo "$passed of $runs runs passed under load"
[ "$passed" -eq "$runs" ]
