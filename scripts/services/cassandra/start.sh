#!/usr/bin/env bash
# Starts a real single-node Apache Cassandra 5.0 on 127.0.0.1 for tests and local runs. The server
# comes from Maven Central (org.apache.cassandra:cassandra-all), resolved once into
# scripts/services/cassandra/.cache/lib (git-ignored) and reused; it runs on the machine's Java 17
# with the module flags of Cassandra's own jvm17-server.options and jamm as its -javaagent.
#
#   CASSANDRA_PORT=19042          CQL (native protocol) port; the storage port is CASSANDRA_PORT+1
#   CASSANDRA_DIR=/tmp/tickline-cassandra-$CASSANDRA_PORT   data, commit log, config, log and pid
#                                 (an existing dir is reused: a restart keeps the data)
#   CASSANDRA_HEAP=512m           JVM heap
#
# Prints the CQL address on its last line once the node accepts CQL connections.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${CASSANDRA_PORT:-19042}"
sport="${CASSANDRA_STORAGE_PORT:-$((port + 1))}"
dir="${CASSANDRA_DIR:-/tmp/tickline-cassandra-$port}"
heap="${CASSANDRA_HEAP:-512m}"
lib="$here/.cache/lib"

if [ ! -f "$lib/.complete" ]; then
  echo "cassandra: resolving the server from Maven Central into $lib" >&2
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime >&2
  touch "$lib/.complete"
fi

if [ -f "$dir/cassandra.pid" ] && kill -0 "$(cat "$dir/cassandra.pid")" 2>/dev/null; then
  echo "cassandra: already running (pid $(cat "$dir/cassandra.pid"))" >&2
  echo "127.0.0.1:$port"
  exit 0
fi

mkdir -p "$dir"/{data,commitlog,saved_caches,hints,cdc_raw,logs}
cat > "$dir/cassandra.yaml" <<YAML
cluster_name: tickline-test
num_tokens: 16
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $sport
native_transport_port: $port
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$sport"
data_file_directories: [ "$dir/data" ]
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
disk_access_mode: mmap_index_only
concurrent_compactors: 1
YAML

jamm="$(ls "$lib"/jamm-*.jar | head -n 1)"
java_cmd=(java "-Xmx$heap" "-Xms$heap" -Xss512k
  -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m
  -XX:MaxGCPauseMillis=300
  -Djdk.attach.allowAttachSelf=true
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
  --add-exports java.sql/java.sql=ALL-UNNAMED
  --add-exports java.base/java.lang.ref=ALL-UNNAMED
  --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
  --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
  --add-opens java.base/java.lang.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
  --add-opens java.base/jdk.internal.math=ALL-UNNAMED
  --add-opens java.base/jdk.internal.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  -Dio.netty.tryReflectionSetAccessible=true
  -Dio.netty.allocator.useCacheForAllThreads=true
  -Dio.netty.allocator.maxOrder=11
  "-javaagent:$jamm"
  "-Dcassandra.config=file://$dir/cassandra.yaml"
  "-Dcassandra.logdir=$dir/logs"
  "-Dcassandra.storagedir=$dir"
  "-Dlogback.configurationFile=$here/logback.xml"
  -Dcassandra-foreground=yes
  -Dcassandra.skip_wait_for_gossip_to_settle=0
  -Dcassandra.ring_delay_ms=1000
  -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon)

nohup "${java_cmd[@]}" >>"$dir/logs/stdout.log" 2>&1 &
echo $! > "$dir/cassandra.pid"

deadline=$(( $(date +%s) + ${CASSANDRA_READY_TIMEOUT:-120} ))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  if ! kill -0 "$(cat "$dir/cassandra.pid")" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
    echo "cassandra: the node did not start; last log lines:" >&2
    tail -n 30 "$dir/logs/system.log" "$dir/logs/stdout.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done
echo "127.0.0.1:$port"
