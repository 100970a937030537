#!/usr/bin/env bash
# Start or stop a single-node Apache Kafka broker (KRaft combined mode) on loopback.
#
#   .ci/kafka.sh start     # fetch jars from Maven Central (once), format fresh storage, start, wait
#   .ci/kafka.sh stop
#   .ci/kafka.sh restart   # stop, then start again on the same storage (records, offsets and
#                          # cluster id kept): a broker restart, as after an upgrade or a reboot
#
# TELECASE_KAFKA_PORT, TELECASE_KAFKA_CONTROLLER_PORT and TELECASE_KAFKA_HOME choose the ports and
# the storage, so a second broker (a test's private one) can run beside the default one.
#
# Jars come from Maven Central through .ci/kafka/pom.xml (org.apache.kafka:kafka_2.13) into
# .ci/kafka/lib, which git ignores. Data lives in $TELECASE_KAFKA_HOME (default .ci/.kafka-data).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${TELECASE_KAFKA_PORT:-19092}"
cport="${TELECASE_KAFKA_CONTROLLER_PORT:-19093}"
home="${TELECASE_KAFKA_HOME:-$here/.kafka-data}"
lib="$here/kafka/lib"
cp="$lib/*"
jopts=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
       "-Dlog4j2.configurationFile=$here/kafka/log4j2.yaml")

fetch() {
  if [ ! -f "$lib/.complete" ]; then
    (cd "$here/kafka" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime)
    touch "$lib/.complete"
  fi
}

wait_port() {
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "kafka did not open 127.0.0.1:$port; log follows" >&2
  tail -50 "$home/broker.log" >&2
  return 1
}

start() {
  fetch
  if [ -f "$home/broker.pid" ] && kill -0 "$(cat "$home/broker.pid")" 2>/dev/null; then
    echo "kafka already running on 127.0.0.1:$port"; return 0
  fi
  rm -rf "$home"; mkdir -p "$home/logs"; : >"$home/broker.log"
  cat > "$home/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$home/logs
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
  local cluster
  cluster="$(java -cp "$cp" "${jopts[@]}" kafka.tools.StorageTool random-uuid | tail -1)"
  java -cp "$cp" "${jopts[@]}" kafka.tools.StorageTool format -t "$cluster" \
       -c "$home/server.properties" >"$home/format.log" 2>&1 || { cat "$home/format.log" >&2; return 1; }
  launch
}

# Run the broker on the storage in $home as it is (formatted by start) and wait for its port.
launch() {
  nohup java -cp "$cp" "${jopts[@]}" kafka.Kafka "$home/server.properties" >>"$home/broker.log" 2>&1 &
  echo $! >"$home/broker.pid"
  wait_port
  echo "kafka up on 127.0.0.1:$port"
}

restart() {
  if [ ! -f "$home/server.properties" ] || [ ! -f "$home/logs/meta.properties" ]; then
    echo "no formatted storage in $home: use start" >&2; return 1
  fi
  stop
  launch
}

stop() {
  if [ -f "$home/broker.pid" ]; then
    local pid; pid="$(cat "$home/broker.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$home/broker.pid"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) fetch; restart ;;
  *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
