#!/usr/bin/env bash
# Stops the Cassandra node started by start.sh (same CASSANDRA_PORT / CASSANDRA_DIR); its data is kept
# unless CASSANDRA_WIPE=1.
set -euo pipefail
port="${CASSANDRA_PORT:-19042}"
dir="${CASSANDRA_DIR:-/tmp/tickline-cassandra-$port}"
if [ -f "$dir/cassandra.pid" ]; then
  pid="$(cat "$dir/cassandra.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/cassandra.pid"
fi
if [ "${CASSANDRA_WIPE:-0}" = "1" ]; then rm -rf "$dir"; fi
echo "cassandra: stopped ($dir)" >&2
