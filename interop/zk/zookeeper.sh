#!/usr/bin/env bash
# Starts and stops Apache ZooKeeper (Debian package `zookeeper`) in standalone mode for Courier's
# differential tests and benchmarks. Only 127.0.0.1 is listened on; the AdminServer is off.
#
#   zookeeper.sh start PORT DIR   start in the background, wait for `ruok`, print the pid
#                                 (DIR/zk.pid, log in DIR/zk.log, data in DIR/data)
#   zookeeper.sh stop DIR         stop the server whose pid is in DIR/zk.pid (that pid only)
#
# Knobs: ZK_HEAP (max heap, default 512m), ZK_HEAP_MIN (initial heap, default 64m),
# ZK_TICK (default 2000), ZK_FSYNC (default yes; "no" sets forceSync=no), ZK_EXTRA_CFG (more
# zoo.cfg lines).
set -euo pipefail

ZK_JAR=/usr/share/java/zookeeper.jar
ZK_HEAP=${ZK_HEAP:-512m}
ZK_TICK=${ZK_TICK:-2000}
ZK_FSYNC=${ZK_FSYNC:-yes}

die() { echo "zookeeper.sh: $*" >&2; exit 1; }

start() {
    local port=$1 dir=$2
    [ -f "$ZK_JAR" ] || die "$ZK_JAR not found; install Debian's zookeeper package (scripts/install-test-deps)"
    command -v java >/dev/null || die "java not found; install a JRE (scripts/install-test-deps)"
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<CFG
tickTime=$ZK_TICK
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
extendedTypesEnabled=true
forceSync=$ZK_FSYNC
autopurge.purgeInterval=0
${ZK_EXTRA_CFG:-}
CFG
    cat >"$dir/log4j.properties" <<'L4J'
log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n
L4J
    # zookeeper.jar's manifest Class-Path names its other jars; log4j 1.2 makes the log readable.
    local cp="$dir:$ZK_JAR:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
    nohup java -Xms"${ZK_HEAP_MIN:-64m}" -Xmx"$ZK_HEAP" \
        -Dlog4j.configuration=file:"$dir/log4j.properties" \
        -Dzookeeper.4lw.commands.whitelist='*' \
        -Dzookeeper.admin.enableServer=false \
        -Dzookeeper.extendedTypesEnabled=true \
        -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
        >"$dir/zk.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/zk.pid"
    local i
    for i in $(seq 1 150); do
        if [ "$( (exec 3<>/dev/tcp/127.0.0.1/"$port" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null || true)" = "imok" ]; then
            echo "$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "ZooKeeper exited during startup; see $dir/zk.log"
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    die "ZooKeeper did not answer ruok on 127.0.0.1:$port within 30 s; see $dir/zk.log"
}

stop() {
    local dir=$1 pid
    [ -f "$dir/zk.pid" ] || die "no pid file in $dir"
    pid=$(cat "$dir/zk.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    fi
    rm -f "$dir/zk.pid"
}

case "${1:-}" in
start) start "${2:?usage: zookeeper.sh start PORT DIR}" "${3:?usage: zookeeper.sh start PORT DIR}" ;;
stop) stop "${2:?usage: zookeeper.sh stop DIR}" ;;
*) sed -n '2,10p' "$0"; exit 2 ;;
esac
