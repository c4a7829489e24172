//! The command line surface of the `courier` binary: every subcommand and flag, with the help
//! text users read. Parsing only — each subcommand's behaviour lives in its own module, so a new
//! subcommand is one enum variant here plus one module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bench::keeper::KeeperBenchArgs;
use crate::bench::mq::MqBenchArgs;
use crate::bench::store::StoreBenchArgs;
use crate::bench::writer::StoreWriterArgs;

const ABOUT: &str = "Courier: one binary speaking RocketMQ, ZooKeeper and Dubbo.";

const LONG_ABOUT: &str = "\
Courier is a Rust reimplementation of Apache RocketMQ (message queue) and Apache ZooKeeper
(coordination service), with an Apache Dubbo-compatible RPC framework to follow. It speaks their
wire protocols, so existing RocketMQ and ZooKeeper clients talk to it unchanged.

Messages are kept in RocketMQ's own on-disk format (CommitLog, ConsumeQueue, IndexFile), so
offsets and message ids carry over exactly.

Start with `courier dev`: a name server (9876), a broker (10911) and a keeper (2181) in one
process, data under ./courier-data.";

const AFTER_HELP: &str = "\
Examples:
  courier dev                      name server + broker + keeper on 127.0.0.1 (quick start)
  courier bench store              measure the message store against this disk (1-3 min)
  courier bench produce --namesrv 127.0.0.1:9876 --topic Bench --size 1024 --count 100000
  courier bench keeper --connect 127.0.0.1:2181
  courier bench store --quick      a few-second smoke run
  COURIER_LOG=debug courier bench store --quick

Logs go to stderr; set the filter with --log-level or COURIER_LOG (RUST_LOG syntax).";

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "courier",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Log filter in RUST_LOG syntax, e.g. `info`, `courier_store=debug,warn`. The default keeps
    /// openraft's per-election chatter at warn; `openraft=info` brings it back.
    #[arg(
        long,
        global = true,
        env = "COURIER_LOG",
        default_value = "info,openraft=warn"
    )]
    pub log_level: String,

    /// Async runtime worker threads. Default: half the CPUs (at least 1) for the message queue
    /// commands and their benches, all CPUs for `keeper` and `bench keeper`. The broker's store does its disk work on
    /// threads of its own (committer, index, flush), and on small machines fewer async workers
    /// mean fewer cross-thread wake-ups per request (RocketMQ likewise sends on one thread by
    /// default, `sendMessageThreadPoolNums`).
    #[arg(long, global = true, env = "COURIER_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The runtime's worker thread count (see `worker_threads`).
    pub fn runtime_workers(&self) -> usize {
        if let Some(n) = self.worker_threads {
            return n as usize;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        match &self.command {
            Command::Keeper(_) => cpus,
            Command::Bench(b) if matches!(b.target, BenchTarget::Keeper(_)) => cpus,
            _ => (cpus / 2).max(1),
        }
    }
}

/// Every working subcommand. Subcommands that do not work yet are deliberately absent.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure Courier components on this machine.
    #[command(
        long_about = "Measure Courier components on this machine and compare them with the \
targets from the project's issues. Every bench prints progress on stderr, a table at the end, \
and exactly one line of JSON on stdout for scripts.",
        after_help = "Example:\n  courier bench store --quick --json-only | jq .targets"
    )]
    Bench(BenchArgs),

    /// Name server + broker + keeper in one process: the development quick start.
    #[command(
        long_about = "Run a name server, a broker (topics auto-created, SQL92 selectors on) and a keeper \
(ZooKeeper protocol) in one process, data under --data-dir. Prints where each listens once all \
three are ready; Ctrl-C shuts everything down cleanly.",
        after_help = crate::cmd::dev::AFTER_HELP
    )]
    Dev(crate::cmd::dev::DevArgs),

    /// RocketMQ-compatible name server (topic routes, broker registry).
    #[command(after_help = crate::cmd::namesrv::AFTER_HELP)]
    Namesrv(crate::cmd::namesrv::NamesrvArgs),

    /// RocketMQ-compatible broker, configured with RocketMQ's key names in TOML.
    #[command(after_help = crate::cmd::broker::AFTER_HELP)]
    Broker(crate::cmd::broker::BrokerArgs),

    /// ZooKeeper-compatible coordination service.
    #[command(after_help = crate::cmd::keeper::AFTER_HELP)]
    Keeper(crate::cmd::keeper::KeeperArgs),

    /// RocketMQ admin: clusters, brokers, topics and routes, groups' progress, clients and settings, messages by id or key.
    #[command(
        long_about = "Do what RocketMQ's `mqadmin` does for the questions operators ask most, against \
any RocketMQ name server and its brokers (Courier's or Apache's), without a JVM: clusterList, \
brokerStatus, getBrokerConfig, topicList, topicRoute, topicStatus, updateTopic, deleteTopic, \
consumerProgress, consumerStatus, consumerConnection, producerConnection, updateSubGroup, \
deleteSubGroup, resetOffsetByTime, queryMsgById (with each group's track, or consumed directly by \
one client), queryMsgByKey, sendMessage and consumeMessage. Java's command names work as aliases."
    )]
    Mqadmin(crate::cmd::mqadmin::MqadminArgs),
}

/// `courier bench ...`
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: BenchTarget,
}

/// What `courier bench` can measure.
#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Message store: disk baseline, async/sync appends, reads, reopen, memory.
    #[command(
        long_about = "Measure the message store (CommitLog + ConsumeQueue) in one run:

  1. the disk itself: sequential O_DIRECT write bandwidth and the single-writer fdatasync rate,
     in the same directory as the store;
  2. ASYNC_FLUSH appends per record size, with put() from a few tasks and with put_batch();
  3. SYNC_FLUSH appends with 1, 16 and 64 concurrent appenders (group commit), p50/p99 latency;
  4. read-back through get_messages() from the page cache, checksumming every byte;
  5. reopen of a cleanly closed log, and reopen after the writer was killed with SIGKILL;
  6. resident memory (RssAnon / RssFile) after the async appends.

Each figure is compared with its target and the verdicts are part of the JSON line.",
        after_help = "Examples:
  courier bench store                         full run, about 1-3 minutes
  courier bench store --quick --json-only     CI smoke run, JSON only
  courier bench store --bytes 4G --keep --dir /data/bench
                                              RSS after writing 4 GiB, keep the files"
    )]
    Store(StoreBenchArgs),

    /// RocketMQ produce throughput against any name server (C sends in flight, optional batches).
    #[command(after_help = "Examples:
  courier bench produce --namesrv 127.0.0.1:9876 --size 1K --count 200000 --concurrency 128
  courier bench produce --batch 32 --count 320000 --broker-pid $(pgrep -n courier)")]
    Produce(MqBenchArgs),

    /// RocketMQ consume throughput: drain a topic with pulls from every queue.
    #[command(
        after_help = "Example:\n  courier bench consume --namesrv 127.0.0.1:9876 --topic CourierBench"
    )]
    Consume(MqBenchArgs),

    /// Produce at a fixed rate and consume at once: produce->consume latency percentiles.
    #[command(
        after_help = "Example:\n  courier bench e2e --rate 20000 --count 200000 --broker-pid $(pgrep -n courier)"
    )]
    E2e(MqBenchArgs),

    /// ZooKeeper-protocol load (create/get/set/delete, 90% read mix) on one or more servers.
    #[command(after_help = "Examples:
  courier bench keeper --connect 127.0.0.1:2181 --clients 16 --ops 20000 --size 100
  courier bench keeper --connect courier=127.0.0.1:2181,zookeeper=127.0.0.1:2182
                          same load on both, in turn; ratios are courier / zookeeper
  courier bench keeper --connect 127.0.0.1:2181 --populate 1000000
                          create 1,000,000 znodes and leave them (memory, restart time)
  interop/zk/bench-vs-zookeeper.sh starts both servers and runs all of it")]
    Keeper(KeeperBenchArgs),

    /// Internal: the child process `bench store` kills with SIGKILL.
    #[command(hide = true)]
    StoreWriter(StoreWriterArgs),
}

/// Parses a byte size such as `4096`, `64K`, `256MiB`, `1G` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. 4096, 64K, 256M or 1G"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{s}`; use K, M, G or T (binary multiples)"
            ))
        }
    };
    let bytes = value * mult as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("`{s}` must be at least 1 byte"));
    }
    Ok(bytes as u64)
}

/// Parses a positive count, one element of a list such as `1,16,64`.
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("counts must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a count; write e.g. 1,16,64")),
    }
}

/// A directory argument that must be usable as a store root.
pub fn parse_dir(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("the directory must not be empty; pass e.g. --dir /data/courier-bench".into());
    }
    Ok(PathBuf::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn worker_threads_default_per_command_and_flag_wins() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("courier").chain(args.iter().copied()))
                .unwrap()
                .runtime_workers()
        };
        assert_eq!(workers(&["dev"]), (cpus / 2).max(1));
        assert_eq!(
            workers(&["broker", "--config", "b.toml"]),
            (cpus / 2).max(1)
        );
        assert_eq!(workers(&["keeper"]), cpus);
        assert_eq!(
            workers(&["bench", "keeper", "--connect", "127.0.0.1:2181"]),
            cpus
        );
        assert_eq!(workers(&["--worker-threads", "3", "dev"]), 3);
        assert_eq!(workers(&["keeper", "--worker-threads", "1"]), 1);
        assert!(Cli::try_parse_from(["courier", "--worker-threads", "0", "dev"]).is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bench_store_lists_parse_from_the_command_line() {
        let cli = Cli::try_parse_from([
            "courier",
            "bench",
            "store",
            "--sizes",
            "128,1K,4K",
            "--sync-concurrency",
            "1,16,64",
            "--bytes",
            "4G",
        ])
        .expect("parse");
        let Command::Bench(BenchArgs {
            target: BenchTarget::Store(a),
        }) = cli.command
        else {
            panic!("parsed into the wrong subcommand");
        };
        assert_eq!(a.sizes, Some(vec![128, 1024, 4096]));
        assert_eq!(a.sync_concurrency, Some(vec![1, 16, 64]));
        assert_eq!(a.bytes, Some(4 << 30));
        let cli = Cli::try_parse_from(["courier", "bench", "store"]).expect("parse defaults");
        let Command::Bench(BenchArgs {
            target: BenchTarget::Store(a),
        }) = cli.command
        else {
            panic!("parsed into the wrong subcommand");
        };
        assert_eq!(a.sizes, None);
        assert!(
            Cli::try_parse_from(["courier", "bench", "store", "--sync-concurrency", "1,0"])
                .is_err()
        );
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("0.5G"), Ok(512 << 20));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(parse_count("16"), Ok(16));
        assert!(parse_count("0").is_err());
    }
}
