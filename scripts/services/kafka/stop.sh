#!/usr/bin/env bash
# Stops the broker that start.sh started (same KAFKA_PORT / KAFKA_DIR), by its PID.
# KAFKA_KEEP_DATA=1 keeps the storage so start.sh restarts the same broker with its data.
set -euo pipefail
port="${KAFKA_PORT:-19092}"
dir="${KAFKA_DIR:-/tmp/tickline-kafka-$port}"
# shellcheck source=../stop-pid.sh
. "$(dirname "$0")/../stop-pid.sh"
stop_pid "$dir/broker.pid" 10
[ "${KAFKA_KEEP_DATA:-0}" = 1 ] || rm -rf "$dir"
echo "kafka: stopped ($dir)" >&2
