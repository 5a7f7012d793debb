#!/usr/bin/env bash
# Stops the Cassandra node started by start.sh (same CASSANDRA_PORT / CASSANDRA_DIR); its data is kept
# unless CASSANDRA_WIPE=1.
set -euo pipefail
port="${CASSANDRA_PORT:-19042}"
dir="${CASSANDRA_DIR:-/tmp/tickline-cassandra-$port}"
# shellcheck source=../stop-pid.sh
. "$(dirname "$0")/../stop-pid.sh"
stop_pid "$dir/cassandra.pid" 30
if [ "${CASSANDRA_WIPE:-0}" = "1" ]; then rm -rf "$dir"; fi
echo "cassandra: stopped ($dir)" >&2
