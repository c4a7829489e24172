#!/usr/bin/env bash
# Manual interop check (not run by CI): Courier's own client (crates/client) against the
# crates.io rocketmq-rust 1.0.0 name server and broker, a RocketMQ server Courier did not write.
#
#   interop/peer-rocketmq-rust.sh           start the peer on free loopback ports, run the checks
#                                           (interop/peer-rocketmq-rust/src/main.rs), stop the peer
#
# Checks: admin, send modes + pull, clustering, broadcasting, tags, TBW102 auto-create,
# request-reply, transactions (commit / rollback / check-back), orderly consumption (LOCK_BATCH_MQ),
# Later -> %RETRY% redelivery, the admin's consumer running info, direct consumption, offsets
# held by the consumer, every group's consume stats and producer connections through the peer
# broker, a broker setting and a name server setting changed and read back (UPDATE_BROKER_CONFIG /
# GET_BROKER_CONFIG, UPDATE_NAMESRV_CONFIG / GET_NAMESRV_CONFIG), a
# broker's write permission wiped and added back at the name server and a group's consume time span. Two of them wait on the peer's own timers, with its defaults
# (this script does not change them): the Unknown transaction is settled at the peer's next
# transaction check (transactionCheckInterval 30 s, for halves older than transactionTimeout 6 s;
# the check allows 90 s), and the message answered Later comes back after delay level 3 (10 s).
# Expect the checks to take about 45 s after the build.
#
# The peer binaries are NOT installed by this script (about 12 minutes of compiling on 2 cores);
# install them once with:
#   cargo install --locked --root ~/.cache/courier-peers/rocketmq-rust rocketmq-namesrv@1.0.0
#   cargo install --locked --root ~/.cache/courier-peers/rocketmq-rust rocketmq-broker@1.0.0
#
# Environment:
#   RMQ_BIN        directory holding rocketmq-namesrv-rust and rocketmq-broker-rust
#                  (default ~/.cache/courier-peers/rocketmq-rust/bin)
#   RMQ_LOG        the peer's --log-filter (default warn)
#   KEEP_PEER_DIR  set to 1 to keep the peer's work directory (logs, store) after the run
#
# If the peer broker exits with "Service lifecycle operation failed", another rocketmq-rust
# broker is most likely still running on this machine (seen here: a second one cannot start).
set -euo pipefail
cd "$(dirname "$0")/.."

RMQ_BIN=${RMQ_BIN:-$HOME/.cache/courier-peers/rocketmq-rust/bin}
for b in rocketmq-namesrv-rust rocketmq-broker-rust; do
  if [ ! -x "$RMQ_BIN/$b" ]; then
    echo "peer-rocketmq-rust: $RMQ_BIN/$b not found; install it (see the top of $0) or set RMQ_BIN" >&2
    exit 2
  fi
done

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

work=$(mktemp -d "${TMPDIR:-/tmp}/courier-peer-rmq.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_PEER_DIR:-0}" = 1 ]; then
    echo "peer work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

wait_port() { # port pid name log
  local i
  for ((i = 0; i < 600; i++)); do
    if port_open "$1"; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$3 exited before opening port $1; its log:" >&2
      tail -30 "$4" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$3 did not open port $1 within 60 s; its log:" >&2
  tail -30 "$4" >&2
  return 1
}

ns_port=$(free_port)
# The peer broker also binds listenPort - 2 (the VIP channel) and listenPort + 1 (HA); pick a
# broker port whose neighbours are free too and are not the name server's.
while :; do
  broker_port=$(free_port)
  vip=$((broker_port - 2)) ha=$((broker_port + 1))
  if [ "$vip" != "$ns_port" ] && [ "$ha" != "$ns_port" ] && [ "$vip" -gt 1024 ] &&
    ! port_open "$vip" && ! port_open "$ha"; then
    break
  fi
done
mkdir -p "$work/home" "$work/namesrv" "$work/store"

# The peer reads TOML with RocketMQ's camelCase keys; everything lives under $work and binds
# loopback only.
cat > "$work/namesrv.toml" <<EOF
rocketmqHome = "$work/namesrv"
kvConfigPath = "$work/namesrv/kvConfig.json"
configStorePath = "$work/namesrv/namesrv.properties"
EOF
cat > "$work/broker.toml" <<EOF
[broker]
namesrvAddr = "127.0.0.1:$ns_port"
brokerIp1 = "127.0.0.1"
brokerIp2 = "127.0.0.1"
listenPort = $broker_port
storePathRootDir = "$work/store"
autoCreateTopicEnable = true
autoCreateSubscriptionGroup = true

[broker.brokerServerConfig]
bindAddress = "127.0.0.1"

[broker.brokerIdentity]
brokerName = "peer-broker-a"
brokerClusterName = "DefaultCluster"
brokerId = 0

[store]
storePathRootDir = "$work/store"
EOF

log_filter=${RMQ_LOG:-warn}
HOME="$work/home" ROCKETMQ_HOME="$work/namesrv" "$RMQ_BIN/rocketmq-namesrv-rust" \
  -c "$work/namesrv.toml" --listenPort "$ns_port" --bindAddress 127.0.0.1 --log-filter "$log_filter" \
  > "$work/namesrv.log" 2>&1 < /dev/null &
pids+=($!)
wait_port "$ns_port" "${pids[0]}" "rocketmq-rust name server" "$work/namesrv.log"

HOME="$work/home" ROCKETMQ_HOME="$work/home" "$RMQ_BIN/rocketmq-broker-rust" \
  -c "$work/broker.toml" -n "127.0.0.1:$ns_port" --log-filter "$log_filter" \
  > "$work/broker.log" 2>&1 < /dev/null &
pids+=($!)
wait_port "$broker_port" "${pids[1]}" "rocketmq-rust broker" "$work/broker.log"
echo "peer: rocketmq-rust name server 127.0.0.1:$ns_port, broker 127.0.0.1:$broker_port" >&2

cargo build --quiet --manifest-path interop/peer-rocketmq-rust/Cargo.toml
target=${CARGO_TARGET_DIR:-interop/peer-rocketmq-rust/target}
status=0
"$target/debug/courier-peer-rocketmq-rust" "127.0.0.1:$ns_port" || status=$?
if [ "$status" != 0 ]; then
  echo "--- peer broker log tail ---" >&2
  tail -20 "$work/broker.log" >&2
fi
exit "$status"
