#!/usr/bin/env bash
# Stops the broker that start.sh started (same KAFKA_PORT / KAFKA_DIR), by its PID.
# KAFKA_KEEP_DATA=1 keeps the storage so start.sh restarts the same broker with its data.
set -euo pipefail
port="${KAFKA_PORT:-19092}"
dir="${KAFKA_DIR:-/tmp/tickline-kafka-$port}"
pidfile="$dir/broker.pid"
if [ -f "$pidfile" ]; then
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
fi
[ "${KAFKA_KEEP_DATA:-0}" = 1 ] || rm -rf "$dir"
echo "kafka: stopped ($dir)" >&2
