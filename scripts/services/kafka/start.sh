#!/usr/bin/env bash
# Starts a real single-node Apache Kafka (KRaft: broker + controller in one process) on 127.0.0.1
# for tests and local runs. The broker comes from Maven Central (org.apache.kafka:kafka_2.13),
# resolved once into scripts/services/kafka/.cache/lib (git-ignored) and reused.
#
#   KAFKA_PORT=19092            client port (the controller listens on KAFKA_PORT+1, and a
#                               SASL/PLAIN listener on KAFKA_PORT+2: user tickline, password
#                               tickline-test; a test broker's credentials, not for real use)
#   KAFKA_DIR=/tmp/tickline-kafka-$KAFKA_PORT   storage, config, log and pid file;
#                               an existing formatted dir is reused (a restart keeps the data)
#   KAFKA_HEAP=512m             JVM heap
#   KAFKA_SSL_KEYSTORE=file.pem also listen with TLS on KAFKA_PORT+3: the PEM file holds the
#                               broker's private key (PKCS#8) and certificate chain
#
# Prints the bootstrap address on its last line once the broker answers a metadata request.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${KAFKA_PORT:-19092}"
cport="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
sport="${KAFKA_SASL_PORT:-$((port + 2))}"
tport="${KAFKA_SSL_PORT:-$((port + 3))}"
dir="${KAFKA_DIR:-/tmp/tickline-kafka-$port}"
lib="$here/.cache/lib"

if [ ! -f "$lib/.complete" ]; then
  echo "kafka: resolving the broker from Maven Central into $lib" >&2
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime >&2
  touch "$lib/.complete"
fi

if [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
  echo "kafka: already running (pid $(cat "$dir/broker.pid"))" >&2
  echo "127.0.0.1:$port"
  exit 0
fi

mkdir -p "$dir/data"
listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_PLAINTEXT://127.0.0.1:$sport"
advertised="PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport"
protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
ssl=""
if [ -n "${KAFKA_SSL_KEYSTORE:-}" ]; then
  listeners="$listeners,SSL://127.0.0.1:$tport"
  advertised="$advertised,SSL://127.0.0.1:$tport"
  protocols="$protocols,SSL:SSL"
  ssl="ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_SSL_KEYSTORE"
fi
cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
$ssl
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_tickline="tickline-test";
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.min.session.timeout.ms=1000
group.consumer.heartbeat.interval.ms=500
group.consumer.min.heartbeat.interval.ms=500
group.min.session.timeout.ms=1000
log.flush.interval.ms=1000
PROPS

java_cmd=(java "-Xmx${KAFKA_HEAP:-512m}" "-Xms128m" -XX:+UseG1GC
  "-Dlog4j2.configurationFile=$here/log4j2.properties" -cp "$lib/*")

if [ ! -f "$dir/data/meta.properties" ]; then
  cluster_id="$("${java_cmd[@]}" kafka.tools.StorageTool random-uuid)"
  "${java_cmd[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >&2
fi

nohup "${java_cmd[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1 &
echo $! > "$dir/broker.pid"

if ! java -cp "$lib/*" "$here/Ready.java" "127.0.0.1:$port" "${KAFKA_READY_TIMEOUT:-90}" >&2; then
  echo "kafka: broker did not become ready; last log lines:" >&2
  tail -n 30 "$dir/broker.log" >&2
  exit 1
fi
echo "127.0.0.1:$port"
