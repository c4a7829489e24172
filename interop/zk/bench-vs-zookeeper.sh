#!/usr/bin/env bash
# Courier's keeper against Apache ZooKeeper (Debian package), same machine, same settings:
#   1. `courier bench keeper` on both in one run (ops/s, p50/p99, ratios, verdicts);
#   2. each server populated with ZNODES znodes of SIZE bytes, then its RSS (VmRSS);
#   3. Courier restarted with that tree: after SIGTERM and after SIGKILL, time until it answers.
# Both servers fsync every write (Courier: always; ZooKeeper: forceSync=yes) and listen on
# 127.0.0.1 only. Results go to stdout as JSON lines; logs stay in the work dir.
#
# Usage: interop/zk/bench-vs-zookeeper.sh [COURIER_BIN]
#   COURIER_BIN defaults to target/release/courier under $CARGO_TARGET_DIR or ./target.
# Knobs: CLIENTS (16), OPS (20000), ROUNDS (3, median reported), SIZE (100), ZNODES (1000000),
# ZK_HEAP (2g), KEEP=1 keeps the work dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$here/../../target}/release/courier}
[ -x "$bin" ] || { echo "courier binary not found at $bin; cargo build --release -p courier" >&2; exit 1; }
CLIENTS=${CLIENTS:-16}
OPS=${OPS:-20000}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-100}
ZNODES=${ZNODES:-1000000}
export ZK_HEAP=${ZK_HEAP:-2g}

work=$(mktemp -d /tmp/courier-zk-bench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port)
zport=$(free_port)
cpid=""
cleanup() {
    [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null || true
    "$here/zookeeper.sh" stop "$work/zk" >/dev/null 2>&1 || true
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

ruok() { [ "$( (exec 3<>/dev/tcp/127.0.0.1/"$1" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null || true)" = "imok" ]; }
now_ms() { date +%s%3N; }
rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# Starts the keeper; sets cpid and ready_ms (time from exec until it answers ruok). Not to be
# called in a subshell, or cpid is lost.
start_courier() {
    local t0; t0=$(now_ms)
    "$bin" keeper --port "$cport" --data-dir "$work/courier" --4lw-whitelist '*' --log-level warn \
        >>"$work/courier.log" 2>&1 &
    cpid=$!
    until ruok "$cport"; do
        kill -0 "$cpid" 2>/dev/null || { echo "courier keeper exited; see $work/courier.log" >&2; exit 1; }
        sleep 0.02
    done
    ready_ms=$(( $(now_ms) - t0 ))
}

mkdir -p "$work/zk"
zpid=$("$here/zookeeper.sh" start "$zport" "$work/zk")
start_courier
echo "courier keeper pid $cpid on $cport, zookeeper pid $zpid on $zport, work dir $work" >&2

"$bin" bench keeper --connect "courier=127.0.0.1:$cport,zookeeper=127.0.0.1:$zport" \
    --clients "$CLIENTS" --ops "$OPS" --size "$SIZE" --rounds "$ROUNDS"

base_c=$(rss_mib "$cpid"); base_z=$(rss_mib "$zpid")
"$bin" bench keeper --connect "courier=127.0.0.1:$cport" --populate "$ZNODES" --size "$SIZE" --clients 8
"$bin" bench keeper --connect "zookeeper=127.0.0.1:$zport" --populate "$ZNODES" --size "$SIZE" --clients 8
sleep 2
rss_c=$(rss_mib "$cpid"); rss_z=$(rss_mib "$zpid")

kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true
start_courier; restart_term=$ready_ms
kill -KILL "$cpid"; wait "$cpid" 2>/dev/null || true
start_courier; restart_kill=$ready_ms
rss_c_after=$(rss_mib "$cpid")
du_c=$(du -sm "$work/courier" | cut -f1)

printf '{"bench":"keeper-memory","znodes":%s,"size":%s,"courier_rss_mib":%s,"zookeeper_rss_mib":%s,"courier_rss_before_mib":%s,"zookeeper_rss_before_mib":%s,"zookeeper_heap_max":"%s","rss_ratio":%s,"courier_restart_after_sigterm_ms":%s,"courier_restart_after_sigkill_ms":%s,"courier_rss_after_restart_mib":%s,"courier_data_dir_mib":%s}\n' \
    "$ZNODES" "$SIZE" "$rss_c" "$rss_z" "$base_c" "$base_z" "$ZK_HEAP" \
    "$(python3 -c "print(round($rss_c/$rss_z, 3))")" "$restart_term" "$restart_kill" "$rss_c_after" "$du_c"
