#!/usr/bin/env bash
# Stops the QuestDB that start.sh started (same QUESTDB_PORT / QUESTDB_DIR), by its PID, and
# removes its data unless QUESTDB_KEEP_DATA=1.
set -euo pipefail
port="${QUESTDB_PORT:-19900}"
dir="${QUESTDB_DIR:-/tmp/tickline-questdb-$port}"
# shellcheck source=../stop-pid.sh
. "$(dirname "$0")/../stop-pid.sh"
stop_pid "$dir/server.pid" 10
[ "${QUESTDB_KEEP_DATA:-0}" = 1 ] || rm -rf "$dir"
echo "questdb: stopped ($dir)" >&2
