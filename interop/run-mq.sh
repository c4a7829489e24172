#!/usr/bin/env bash
# Real RocketMQ clients against a real `courier dev` process (part of ./scripts/test):
#   - ali-ons (npm, pure JavaScript)       interop/node, `npm test` (node --test)
#   - rocketmq-client-rust (crates.io)     interop/rocketmq-client-rust, its own cargo project
# Each suite starts `courier dev` itself on free loopback ports with a temporary data dir.
#
#   interop/run-mq.sh                 both suites
#   interop/run-mq.sh node|rust       one of them
#
# Environment:
#   COURIER_BIN        the courier binary to test (default: build it, $CARGO_TARGET_DIR/debug/courier)
#   CARGO_TARGET_DIR   shared by the courier build and the interop crate (default ./target)
#   COURIER_LOG        log filter for the courier dev processes (default warn)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

which=${1:-all}
case "$which" in
  all|node|rust) ;;
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  *) echo "run-mq.sh: unknown argument '$which' (node, rust or nothing)" >&2; exit 2 ;;
esac

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
case "$CARGO_TARGET_DIR" in /*) ;; *) CARGO_TARGET_DIR=$root/$CARGO_TARGET_DIR ;; esac

if [ -z "${COURIER_BIN:-}" ]; then
  cargo build --locked --quiet -p courier
  COURIER_BIN=$CARGO_TARGET_DIR/debug/courier
fi
case "$COURIER_BIN" in /*) ;; *) COURIER_BIN=$root/$COURIER_BIN ;; esac
export COURIER_BIN

status=0

if [ "$which" != rust ]; then
  echo "--> ali-ons against courier dev ($COURIER_BIN)" >&2
  if [ ! -f interop/node/node_modules/ali-ons/package.json ]; then
    (cd interop/node && npm ci --no-audit --no-fund)
  fi
  node_log=$(mktemp)
  (cd interop/node && npm test) 2>&1 | tee "$node_log" || status=1
  # One libtest-style line so ./scripts/test's summary counts these tests too.
  printf 'test result (ali-ons): %s passed; %s failed\n' \
    "$(sed -n 's/^# pass //p' "$node_log" | tail -1)" "$(sed -n 's/^# fail //p' "$node_log" | tail -1)"
  rm -f "$node_log"
fi

if [ "$which" != node ]; then
  echo "--> rocketmq-client-rust against courier dev ($COURIER_BIN)" >&2
  cargo test --locked --manifest-path interop/rocketmq-client-rust/Cargo.toml || status=1
fi

exit "$status"
