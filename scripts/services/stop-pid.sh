# Sourced by each service's stop.sh: stop_pid FILE [WAIT_SECONDS] stops the process whose PID is in
# FILE (SIGTERM, then SIGKILL if it is still there after WAIT_SECONDS, default 10) and removes FILE.
stop_pid() {
  local file="$1" wait="${2:-10}" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 $((wait * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
