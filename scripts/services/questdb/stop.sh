#!/usr/bin/env bash
# Stops the QuestDB that start.sh started (same QUESTDB_PORT / QUESTDB_DIR), by its PID, and
# removes its data unless QUESTDB_KEEP_DATA=1.
set -euo pipefail
port="${QUESTDB_PORT:-19900}"
dir="${QUESTDB_DIR:-/tmp/tickline-questdb-$port}"
pidfile="$dir/server.pid"
if [ -f "$pidfile" ]; then
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
fi
[ "${QUESTDB_KEEP_DATA:-0}" = 1 ] || rm -rf "$dir"
echo "questdb: stopped ($dir)" >&2
