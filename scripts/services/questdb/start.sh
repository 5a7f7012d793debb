#!/usr/bin/env bash
# Starts a real QuestDB (the benchmark's side-by-side reference for ingest and trades → bars) on
# 127.0.0.1. The server jar comes from Maven Central (org.questdb:questdb), resolved once into
# scripts/services/questdb/.cache/lib (git-ignored) and reused; it runs on the machine's Java 17.
#
#   QUESTDB_PORT=19900          HTTP (/exec, the web console); ILP over TCP listens on
#                               QUESTDB_PORT+9, PostgreSQL wire on QUESTDB_PORT+12
#   QUESTDB_DIR=/tmp/tickline-questdb-$QUESTDB_PORT   root dir (conf, db, log and pid file)
#   QUESTDB_HEAP=1g             JVM heap (QuestDB keeps its columns off-heap, in mapped files)
#
# Prints the HTTP address on its last line once the server answers a query.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${QUESTDB_PORT:-19900}"
ilp="${QUESTDB_ILP_PORT:-$((port + 9))}"
pg="${QUESTDB_PG_PORT:-$((port + 12))}"
dir="${QUESTDB_DIR:-/tmp/tickline-questdb-$port}"
lib="$here/.cache/lib"

if [ ! -f "$lib/.complete" ]; then
  echo "questdb: resolving the server from Maven Central into $lib" >&2
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime >&2
  touch "$lib/.complete"
fi
jar="$(ls "$lib"/questdb-*.jar | head -n 1)"

if [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
  echo "questdb: already running (pid $(cat "$dir/server.pid"))" >&2
  echo "127.0.0.1:$port"
  exit 0
fi

mkdir -p "$dir/conf"
cat > "$dir/conf/server.conf" <<CONF
http.bind.to=127.0.0.1:$port
http.min.enabled=false
pg.net.bind.to=127.0.0.1:$pg
line.tcp.net.bind.to=127.0.0.1:$ilp
line.udp.enabled=false
telemetry.enabled=false
CONF

nohup java "-Xmx${QUESTDB_HEAP:-1g}" -Xms256m -XX:+UseParallelGC \
  -p "$jar" -m io.questdb/io.questdb.ServerMain -d "$dir" >>"$dir/server.out" 2>&1 &
echo $! > "$dir/server.pid"

for _ in $(seq 1 "${QUESTDB_READY_TIMEOUT:-90}"); do
  if curl -fsS "http://127.0.0.1:$port/exec?query=select%201" >/dev/null 2>&1; then
    echo "127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || break
  sleep 1
done
echo "questdb: the server did not answer on 127.0.0.1:$port; last log lines:" >&2
tail -n 30 "$dir/server.out" >&2
exit 1
