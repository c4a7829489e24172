//! `courier bench produce|consume|e2e`: a RocketMQ wire-protocol load generator built on
//! `courier-client`, so one binary measures Courier and any other RocketMQ-compatible broker with
//! the same client code and settings.
//!
//! - `produce` keeps `--concurrency` sends (or batches of `--batch` messages) in flight until
//!   `--count` messages were attempted, shared round-robin among `--producers` producers (each
//!   with its own connections); the latency of a sample is one send's round trip.
//! - `consume` drains every readable queue of the topic from its min offset up to the max offset
//!   seen at start (or `--count` messages), with one pulling task per queue.
//! - `e2e` produces at a fixed `--rate` (message i is due i / rate after the start; `--concurrency`
//!   tasks take the messages in turn, so at most that many sends are in flight) and consumes with
//!   long-polling pulls in the same process; each body starts with the microseconds since the run's start (u64, little endian) when the
//!   send began, so produce→consume latency needs no clock agreement between processes.
//!
//! Output contract (shared with `report`): progress on stderr only, exactly one JSON line on
//! stdout. Errors are counted by kind (`code_N` for a broker answer, `transport`, ...), never
//! fatal, so a run against a struggling broker still reports what it saw.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use clap::Args;
use courier_client::{
    Admin, ClientError, Message, MessageQueue, Producer, PullConsumer, PullStatus, SendStatus,
};
use serde::Serialize;
use tokio::task::JoinSet;

use super::report::{self, emit_json_line, Latency, Progress};
use crate::cli::{parse_count, parse_size};

/// Flags shared by `bench produce`, `bench consume` and `bench e2e`.
#[derive(Debug, Clone, Args)]
pub struct MqBenchArgs {
    /// Name server address(es), `;`-separated.
    #[arg(long, default_value = "127.0.0.1:9876")]
    pub namesrv: String,
    /// Topic to produce to / consume from (created with --queues queues when missing).
    #[arg(long, default_value = "CourierBench")]
    pub topic: String,
    /// Message body size, e.g. 1K (binary units).
    #[arg(long, default_value = "1K", value_parser = parse_size)]
    pub size: u64,
    /// Messages to send (produce, e2e; default 100000 / 10 s at --rate) or to read at most
    /// (consume; default: everything stored when the run starts).
    #[arg(long)]
    pub count: Option<u64>,
    /// Sends (or batches) in flight at once; for e2e the cap on unanswered sends.
    #[arg(long, default_value_t = 128, value_parser = parse_count)]
    pub concurrency: usize,
    /// produce: independent producers (each its own client instance, so its own connection to
    /// every broker) sharing the --concurrency sends in flight round-robin, as when several
    /// applications send to one broker. Each sends one warm-up message before the clock starts.
    #[arg(long, default_value_t = 1, value_parser = parse_count)]
    pub producers: usize,
    /// Send batches of this many messages (SEND_BATCH_MESSAGE); for consume, messages per pull.
    #[arg(long, value_parser = parse_count)]
    pub batch: Option<usize>,
    /// Report the run as sync sends (Java's sync send from N threads). Both modes keep
    /// --concurrency sends in flight with one task each awaiting its send before the next, which
    /// for a window of async sends is the same traffic without a task per send.
    #[arg(long, conflicts_with = "oneway")]
    pub sync: bool,
    /// Oneway sends: no answer, so latency is the time to hand the frame to the connection.
    #[arg(long)]
    pub oneway: bool,
    /// Producer / consumer group.
    #[arg(long, default_value = "courier-bench")]
    pub group: String,
    /// e2e: target production rate in messages per second.
    #[arg(long, default_value_t = 20_000.0)]
    pub rate: f64,
    /// Queues per broker when the bench creates the topic.
    #[arg(long, default_value_t = 8)]
    pub queues: i32,
    /// Sample this process's anonymous memory (VmRSS − RssFile) during the run; report the max,
    /// and its CPU time per message.
    #[arg(long)]
    pub broker_pid: Option<i32>,
    /// No progress bar; only the JSON line on stdout.
    #[arg(long)]
    pub json_only: bool,
}

/// Which of the three MQ benches runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MqBench {
    Produce,
    Consume,
    E2e,
}

/// The single JSON line a run prints.
#[derive(Debug, Serialize)]
struct Summary {
    bench: MqBench,
    mode: &'static str,
    namesrv: String,
    topic: String,
    size: u64,
    concurrency: usize,
    /// produce: the independent producers (connections) the sends were shared among.
    #[serde(skip_serializing_if = "Option::is_none")]
    producers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<usize>,
    /// Messages attempted (produce, e2e) or read (consume).
    messages: u64,
    /// Messages the broker accepted (produce, e2e) or that were read (consume).
    ok: u64,
    elapsed_s: f64,
    msgs_per_s: f64,
    mb_per_s: f64,
    /// Per send (produce, e2e) or per pull (consume).
    latency_us: Latency,
    /// Success statuses (produce) by name.
    statuses: BTreeMap<String, u64>,
    /// Failures by kind: `code_N` (broker answer N), `transport`, `no_route`, ...
    errors: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e2e: Option<E2eFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    broker_rss: Option<RssFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<CpuFigures>,
    /// /proc/loadavg (1, 5, 15 min) at the end of the run: other load on a shared machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    load_avg: Option<[f64; 3]>,
}

#[derive(Debug, Serialize)]
struct E2eFigures {
    target_rate: f64,
    /// Rate the producer actually achieved.
    achieved_rate: f64,
    received: u64,
    /// Accepted sends never consumed before the drain deadline.
    missing: u64,
    /// Produce→consume latency of each received message.
    delivery_latency_us: Latency,
}

/// CPU time (user + system) the run cost per message handled, split between the bench and the
/// broker: on a machine they share, it shows which side a change made cheaper, which the
/// throughput alone does not.
#[derive(Debug, Serialize)]
struct CpuFigures {
    /// This bench process (getrusage: all its threads).
    client_us_per_msg: f64,
    /// The `--broker-pid` process (/proc/PID/stat utime + stime, in clock ticks).
    #[serde(skip_serializing_if = "Option::is_none")]
    broker_us_per_msg: Option<f64>,
    /// Share of the whole machine's CPU time that was idle (idle + iowait in /proc/stat) over
    /// the run. With bench and broker on one box, a run with idle CPU left was held back by
    /// latency between the two (each waiting for the other), not by a full machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    machine_idle_pct: Option<f64>,
    /// Share of the whole machine's CPU time the hypervisor gave to other guests (steal in
    /// /proc/stat) over the run: on a shared virtual machine the latency tails follow it (a
    /// vCPU taken away for a few milliseconds holds every message in flight), so a tail is
    /// read together with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    machine_steal_pct: Option<f64>,
}

#[derive(Debug, Serialize)]
struct RssFigures {
    pid: i32,
    max_anon_kib: u64,
    max_anon_mib: f64,
    samples: u64,
}

/// Counts of one worker, merged at the end.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    ok: u64,
    attempted: u64,
    /// When this worker's last send or pull completed: the run ends at the latest of these, so
    /// joining the workers and merging their tallies stays off the clock.
    finished: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.finished = self.finished.max(other.finished);
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.ok += other.ok;
        self.attempted += other.attempted;
    }

    /// Marks this worker done.
    fn finish(mut self) -> Self {
        self.finished = Some(Instant::now());
        self
    }

    /// The run's length: from `start` to the last worker's last completion.
    fn elapsed_since(&self, start: Instant) -> Duration {
        self.finished.map_or_else(|| start.elapsed(), |f| f - start)
    }

    /// Records one send of `msgs` messages.
    fn record(&mut self, msgs: u64, took: Duration, outcome: Result<Option<SendStatus>, String>) {
        self.attempted += msgs;
        self.latencies_us.push(took.as_micros() as u64);
        match outcome {
            Ok(status) => {
                self.ok += msgs;
                // Per send: no formatting and no key allocation once the status was seen.
                let name = status_name(status);
                match self.statuses.get_mut(name) {
                    Some(count) => *count += msgs,
                    None => {
                        self.statuses.insert(name.to_string(), msgs);
                    }
                }
            }
            Err(kind) => *self.errors.entry(kind).or_default() += msgs,
        }
    }
}

/// The summary's name for a send outcome (the `SendStatus` variant's name).
fn status_name(status: Option<SendStatus>) -> &'static str {
    match status {
        None => "Oneway",
        Some(SendStatus::SendOk) => "SendOk",
        Some(SendStatus::FlushDiskTimeout) => "FlushDiskTimeout",
        Some(SendStatus::FlushSlaveTimeout) => "FlushSlaveTimeout",
        Some(SendStatus::SlaveNotAvailable) => "SlaveNotAvailable",
    }
}

/// A short, stable name for a failure, used as a key of `errors`.
fn error_kind(e: &ClientError) -> String {
    if let Some(code) = e.response_code() {
        return format!("code_{code}");
    }
    match e {
        ClientError::SendFailed { last, .. } => error_kind(last),
        ClientError::Remoting(_) => "transport".into(),
        ClientError::NoRoute { .. } => "no_route".into(),
        ClientError::NoQueue { .. } => "no_queue".into(),
        ClientError::InvalidMessage(_) => "invalid_message".into(),
        ClientError::ShutDown => "shut_down".into(),
        ClientError::Decode { .. } => "decode".into(),
        _ => "other".into(),
    }
}

/// Runs one MQ bench and prints its JSON line.
pub fn run(
    which: MqBench,
    args: MqBenchArgs,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    if args.oneway && args.batch.is_some() && which != MqBench::Consume {
        anyhow::bail!("--oneway and --batch cannot be combined; drop one of them");
    }
    if which == MqBench::E2e && !(args.rate.is_finite() && args.rate >= 1.0) {
        anyhow::bail!("--rate must be at least 1 message per second");
    }
    if args.size > 4 << 20 {
        anyhow::bail!("--size is over the 4 MiB message limit; use a smaller size");
    }
    let sampler = args.broker_pid.map(RssSampler::start).transpose()?;
    let cpu0 = (
        own_cpu_us(),
        args.broker_pid.and_then(proc_cpu_us),
        machine_ticks(),
    );
    let summary = runtime.block_on(async {
        match which {
            MqBench::Produce => produce(&args).await,
            MqBench::Consume => consume(&args).await,
            MqBench::E2e => e2e(&args).await,
        }
    });
    let rss = sampler.map(RssSampler::stop);
    let cpu1 = (
        own_cpu_us(),
        args.broker_pid.and_then(proc_cpu_us),
        machine_ticks(),
    );
    let mut summary = summary?;
    summary.broker_rss = rss;
    let per_msg = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / summary.ok.max(1) as f64;
    summary.cpu = Some(CpuFigures {
        client_us_per_msg: per_msg(cpu0.0, cpu1.0),
        broker_us_per_msg: cpu0.1.zip(cpu1.1).map(|(a, b)| per_msg(a, b)),
        machine_idle_pct: cpu0.2.zip(cpu1.2).and_then(|(a, b)| idle_pct(a, b)),
        machine_steal_pct: cpu0.2.zip(cpu1.2).and_then(|(a, b)| steal_pct(a, b)),
    });
    summary.load_avg = load_avg();
    if !args.json_only {
        eprintln!("{}", human_line(&summary));
    }
    emit_json_line(&summary)
}

fn human_line(s: &Summary) -> String {
    let mut line = format!(
        "{:?} {}: {} msgs/s, {:.1} MB/s, p50 {} us, p99 {} us, p999 {} us, {} ok of {}",
        s.bench,
        s.mode,
        report::fmt_count(s.msgs_per_s),
        s.mb_per_s,
        s.latency_us.p50_us,
        s.latency_us.p99_us,
        s.latency_us.p999_us,
        s.ok,
        s.messages
    );
    if let Some(e) = &s.e2e {
        line.push_str(&format!(
            "; delivery p50 {} us, p99 {} us, p999 {} us at {:.0} msgs/s, {} missing",
            e.delivery_latency_us.p50_us,
            e.delivery_latency_us.p99_us,
            e.delivery_latency_us.p999_us,
            e.achieved_rate,
            e.missing
        ));
    }
    if let Some(r) = &s.broker_rss {
        line.push_str(&format!("; broker anon RSS max {:.1} MiB", r.max_anon_mib));
    }
    if let Some(c) = &s.cpu {
        line.push_str(&format!(
            "; CPU per message: bench {:.2} us",
            c.client_us_per_msg
        ));
        if let Some(b) = c.broker_us_per_msg {
            line.push_str(&format!(", broker {b:.2} us"));
        }
        if let Some(idle) = c.machine_idle_pct {
            line.push_str(&format!("; machine CPU idle {idle:.0} %"));
        }
        if let Some(steal) = c.machine_steal_pct {
            line.push_str(&format!(", stolen {steal:.1} %"));
        }
    }
    line
}

fn build_producer(args: &MqBenchArgs) -> anyhow::Result<Producer> {
    Producer::builder()
        .namesrv(&args.namesrv)
        .group(args.group.clone())
        // Bodies are sent as given so every broker stores the same bytes.
        .compress_over(None)
        .build()
        .context("could not create the producer; check --namesrv")
}

/// Creates the topic on every master (both brokers under test support UPDATE_AND_CREATE_TOPIC)
/// and waits for its route; when that fails the producer falls back to auto-creation.
async fn prepare_topic(args: &MqBenchArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(&args.namesrv).context("could not reach the name server")?;
    let created = admin.create_topic(&args.topic, args.queues).await;
    let outcome = match created {
        Ok(_) => {
            admin
                .wait_for_route(&args.topic, 1, Duration::from_secs(10))
                .await
        }
        Err(e) => Err(e),
    };
    admin.shutdown().await;
    if let Err(e) = outcome {
        tracing::warn!(topic = %args.topic, error = %e, "could not create the topic; relying on broker auto-creation");
    }
    Ok(())
}

fn body(size: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    )
}

async fn produce(args: &MqBenchArgs) -> anyhow::Result<Summary> {
    let count = args.count.unwrap_or(100_000);
    let size = args.size as usize;
    prepare_topic(args).await?;
    let mut producers = Vec::with_capacity(args.producers);
    for _ in 0..args.producers {
        let producer = build_producer(args)?;
        // One send before the clock starts: routes fetched, connection open.
        producer
            .send(Message::new(args.topic.clone(), body(size)))
            .await
            .context("the warm-up send failed; check that a broker is registered with --namesrv")?;
        producers.push(producer);
    }
    let progress = Progress::new(!args.json_only);
    let bar = progress.bar(count, format!("produce {}", args.topic), "msg/s");
    let per_send = args.batch.unwrap_or(1) as u64;
    // Every message shares one payload. Kept for the life of the process so that its clones are
    // plain copies: a shared counted buffer made every message's clone and drop an atomic update
    // of one cache line that both cores fight over, a cost no producer with its own bodies pays.
    let payload = Bytes::from_static(Box::leak(body(size).to_vec().into_boxed_slice()));
    let mode = if args.oneway {
        "oneway"
    } else if args.sync {
        "sync"
    } else {
        "async"
    };
    let issued = Arc::new(AtomicU64::new(0));
    // Claims the next unit of work: how many messages this send carries, or None when done.
    let claim = {
        let issued = issued.clone();
        move || {
            let start = issued.fetch_add(per_send, Ordering::Relaxed);
            (start < count).then(|| per_send.min(count - start))
        }
    };
    let start = Instant::now();
    let mut tally = Tally::default();
    // `concurrency` tasks, each with one send (or batch) in flight at a time: for async mode this
    // is the window of `concurrency` outstanding sends, kept full without a task spawn per send
    // (which cost the bench client about 7 % of its CPU per message, time the broker under test
    // then did not get on a shared machine). Sync mode is the same loop, Java's sync send from N
    // threads; oneway sends do not wait for an answer.
    let oneway = args.oneway;
    let mut workers = JoinSet::new();
    for i in 0..args.concurrency {
        let p = producers[i % producers.len()].clone();
        let claim = claim.clone();
        let bar = bar.clone();
        let topic = args.topic.clone();
        let payload = payload.clone();
        workers.spawn(async move {
            let mut t = Tally::default();
            while let Some(n) = claim() {
                let unit = make_unit(&topic, &payload, n);
                let started = Instant::now();
                let r = send_unit(&p, unit, oneway).await;
                t.record(n, started.elapsed(), r);
                bar.inc(n);
            }
            t.finish()
        });
    }
    while let Some(t) = workers.join_next().await {
        tally.merge(t.context("a send task panicked")?);
    }
    let elapsed = tally.elapsed_since(start);
    bar.finish_and_clear();
    for p in &producers {
        p.shutdown().await;
    }
    Ok(summary(MqBench::Produce, mode, args, count, elapsed, tally))
}

/// What one send carries: a message, or a batch (a single message needs no vector).
enum Unit {
    One(Message),
    Batch(Vec<Message>),
}

fn make_unit(topic: &str, payload: &Bytes, n: u64) -> Unit {
    let msg = || Message::new(topic.to_string(), payload.clone());
    if n > 1 {
        Unit::Batch((0..n).map(|_| msg()).collect())
    } else {
        Unit::One(msg())
    }
}

/// Sends one message, or one batch.
async fn send_unit(p: &Producer, unit: Unit, oneway: bool) -> Result<Option<SendStatus>, String> {
    let r = match unit {
        Unit::Batch(msgs) => p.send_batch(msgs).await.map(|r| Some(r.status)),
        Unit::One(m) if oneway => p.send_oneway(m).await.map(|_| None),
        Unit::One(m) => p.send(m).await.map(|r| Some(r.status)),
    };
    r.map_err(|e| {
        tracing::debug!(error = %e, "send failed");
        error_kind(&e)
    })
}

fn summary(
    bench: MqBench,
    mode: &'static str,
    args: &MqBenchArgs,
    messages: u64,
    elapsed: Duration,
    mut tally: Tally,
) -> Summary {
    Summary {
        bench,
        mode,
        namesrv: args.namesrv.clone(),
        topic: args.topic.clone(),
        size: args.size,
        concurrency: args.concurrency,
        producers: (bench == MqBench::Produce).then_some(args.producers),
        batch: args.batch,
        messages,
        ok: tally.ok,
        elapsed_s: elapsed.as_secs_f64(),
        msgs_per_s: report::per_s(tally.ok, elapsed),
        mb_per_s: report::mb_per_s(tally.ok * args.size, elapsed),
        latency_us: Latency::from_samples(&mut tally.latencies_us),
        statuses: tally.statuses,
        errors: tally.errors,
        e2e: None,
        broker_rss: None,
        cpu: None,
        load_avg: None,
    }
}

/// A pull consumer of `--group` and the queues of `--topic`.
async fn pull_consumer(
    args: &MqBenchArgs,
) -> anyhow::Result<(Arc<PullConsumer>, Vec<MessageQueue>)> {
    let pc = Arc::new(
        PullConsumer::connect(&args.namesrv, args.group.clone())
            .context("could not create the pull consumer; check --namesrv")?,
    );
    let queues = pc
        .fetch_queues(&args.topic)
        .await
        .with_context(|| format!("no route for topic {}; produce to it first", args.topic))?;
    Ok((pc, queues))
}

async fn consume(args: &MqBenchArgs) -> anyhow::Result<Summary> {
    let (pc, queues) = pull_consumer(args).await?;
    // The work: each queue from its min offset to the max offset seen now.
    let mut ranges = Vec::with_capacity(queues.len());
    let mut available = 0u64;
    for q in queues {
        let lo = pc.min_offset(&q).await.context("GET_MIN_OFFSET failed")?;
        let hi = pc.max_offset(&q).await.context("GET_MAX_OFFSET failed")?;
        if hi > lo {
            available += (hi - lo) as u64;
            ranges.push((q, lo, hi));
        }
    }
    let want = args.count.map_or(available, |c| c.min(available));
    let per_pull = args.batch.unwrap_or(32) as i32;
    let progress = Progress::new(!args.json_only);
    let bar = progress.bar(want, format!("consume {}", args.topic), "msg/s");
    let read = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (q, lo, hi) in ranges {
        let pc = pc.clone();
        let read = read.clone();
        let bar = bar.clone();
        tasks.spawn(async move { drain_queue(&pc, q, lo, hi, per_pull, want, &read, &bar).await });
    }
    let mut tally = Tally::default();
    while let Some(t) = tasks.join_next().await {
        tally.merge(t.context("a pull task panicked")?);
    }
    let elapsed = tally.elapsed_since(start);
    bar.finish_and_clear();
    pc.shutdown().await;
    let mut s = summary(
        MqBench::Consume,
        "pull",
        args,
        tally.attempted,
        elapsed,
        tally,
    );
    s.batch = Some(per_pull as usize);
    Ok(s)
}

/// Pulls `q` from `lo` to `hi`, stopping early once `want` messages were read by all tasks.
#[allow(clippy::too_many_arguments)]
async fn drain_queue(
    pc: &PullConsumer,
    q: MessageQueue,
    lo: i64,
    hi: i64,
    per_pull: i32,
    want: u64,
    read: &AtomicU64,
    bar: &indicatif::ProgressBar,
) -> Tally {
    let mut t = Tally::default();
    let mut offset = lo;
    let mut failures = 0;
    while offset < hi && read.load(Ordering::Relaxed) < want {
        let started = Instant::now();
        match pc.pull(&q, "*", offset, per_pull).await {
            Ok(r) => {
                t.latencies_us.push(started.elapsed().as_micros() as u64);
                let n = r.messages.len() as u64;
                if r.status == PullStatus::NoNewMessage || r.next_begin_offset <= offset {
                    break;
                }
                offset = r.next_begin_offset;
                read.fetch_add(n, Ordering::Relaxed);
                t.ok += n;
                t.attempted += n;
                *t.statuses.entry(format!("{:?}", r.status)).or_default() += 1;
                bar.inc(n);
            }
            Err(e) => {
                *t.errors.entry(error_kind(&e)).or_default() += 1;
                failures += 1;
                if failures > 10 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    t.finish()
}

/// The run's clock for e2e bodies: microseconds since `base`.
fn stamp(base: Instant) -> u64 {
    base.elapsed().as_micros() as u64
}

async fn e2e(args: &MqBenchArgs) -> anyhow::Result<Summary> {
    let count = args
        .count
        .unwrap_or_else(|| (args.rate * 10.0).ceil() as u64)
        .max(1);
    let size = (args.size as usize).max(8);
    prepare_topic(args).await?;
    let producer = build_producer(args)?;
    producer
        .send(Message::new(args.topic.clone(), body(size)))
        .await
        .context("the warm-up send failed; check that a broker is registered with --namesrv")?;
    let (pc, queues) = pull_consumer(args).await?;
    let base = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let mut consumers = JoinSet::new();
    for q in queues {
        let from = pc.max_offset(&q).await.context("GET_MAX_OFFSET failed")?;
        let pc = pc.clone();
        let stop = stop.clone();
        let received = received.clone();
        consumers.spawn(async move {
            let mut lat = Vec::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut offset = from;
            while !stop.load(Ordering::Relaxed) {
                match pc
                    .pull_blocking(&q, "*", offset, 32, Duration::from_millis(500))
                    .await
                {
                    Ok(r) => {
                        let now = stamp(base);
                        for m in &r.messages {
                            if let Some(ts) = m.body.get(..8) {
                                let mut b = [0u8; 8];
                                b.copy_from_slice(ts);
                                lat.push(now.saturating_sub(u64::from_le_bytes(b)));
                            }
                        }
                        received.fetch_add(r.messages.len() as u64, Ordering::Relaxed);
                        offset = r.next_begin_offset.max(offset);
                    }
                    Err(e) => {
                        *errors
                            .entry(format!("pull_{}", error_kind(&e)))
                            .or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (lat, errors)
        });
    }
    let progress = Progress::new(!args.json_only);
    let bar = progress.bar(
        count,
        format!("e2e {} @ {}/s", args.topic, args.rate),
        "msg/s",
    );
    // `concurrency` tasks claim the messages in turn, each waiting for its message's due time
    // (message i is due i / rate after the start) and then sending it: at most `concurrency`
    // sends in flight, a late send followed by the overdue ones at once, and no task spawned
    // and boxed per message (copying the futures into their boxes and allocating them was
    // about 4 % of the bench client's samples at 20,000 msgs/s, time the broker under test then
    // did not get on a shared machine).
    let padding = body(size - 8);
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..args.concurrency {
        let (p, bar, issued) = (producer.clone(), bar.clone(), issued.clone());
        let (topic, padding, rate) = (args.topic.clone(), padding.clone(), args.rate);
        workers.spawn(async move {
            let mut t = Tally::default();
            loop {
                let i = issued.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
                let mut b = BytesMut::with_capacity(size);
                b.put_u64_le(stamp(base));
                b.extend_from_slice(&padding);
                let msg = Message::new(topic.clone(), b.freeze());
                let started = Instant::now();
                let r = send_unit(&p, Unit::One(msg), false).await;
                t.record(1, started.elapsed(), r);
                bar.inc(1);
            }
            t.finish()
        });
    }
    let mut tally = Tally::default();
    while let Some(t) = workers.join_next().await {
        tally.merge(t.context("a send task panicked")?);
    }
    let produce_elapsed = start.elapsed();
    bar.finish_and_clear();
    // Let the consumers catch up on everything accepted, within a bounded drain.
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < tally.ok && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut delivery = Vec::new();
    while let Some(done) = consumers.join_next().await {
        let (lat, errors) = done.context("a pull task panicked")?;
        delivery.extend(lat);
        for (k, v) in errors {
            *tally.errors.entry(k).or_default() += v;
        }
    }
    producer.shutdown().await;
    pc.shutdown().await;
    let got = delivery.len() as u64;
    let achieved = report::per_s(tally.ok, produce_elapsed);
    let ok = tally.ok;
    let mut s = summary(MqBench::E2e, "async", args, count, produce_elapsed, tally);
    s.size = size as u64;
    s.e2e = Some(E2eFigures {
        target_rate: args.rate,
        achieved_rate: achieved,
        received: got,
        missing: ok.saturating_sub(got),
        delivery_latency_us: Latency::from_samples(&mut delivery),
    });
    Ok(s)
}

/// Samples another process's anonymous resident memory on a thread until stopped.
struct RssSampler {
    pid: i32,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(u64, u64)>,
}

impl RssSampler {
    fn start(pid: i32) -> anyhow::Result<Self> {
        anon_rss_kib(pid).with_context(|| {
            format!(
                "cannot read /proc/{pid}/status; is --broker-pid a running process of this user?"
            )
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut max, mut samples) = (0u64, 0u64);
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = anon_rss_kib(pid) {
                    max = max.max(kib);
                    samples += 1;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (max, samples)
        });
        Ok(RssSampler { pid, stop, handle })
    }

    fn stop(self) -> RssFigures {
        self.stop.store(true, Ordering::Relaxed);
        let (max, samples) = self.handle.join().unwrap_or((0, 0));
        RssFigures {
            pid: self.pid,
            max_anon_kib: max,
            max_anon_mib: max as f64 / 1024.0,
            samples,
        }
    }
}

/// VmRSS minus RssFile from /proc/PID/status: resident memory excluding mapped files.
fn anon_rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_anon_rss(&status)
}

fn parse_anon_rss(status: &str) -> Option<u64> {
    Some(
        report::status_kib(status, "VmRSS:")?
            .saturating_sub(report::status_kib(status, "RssFile:")?),
    )
}

/// User + system CPU time of this process so far, in microseconds.
fn own_cpu_us() -> u64 {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// User + system CPU time of process `pid` so far, in microseconds (None if unreadable).
fn proc_cpu_us(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: plain sysconf query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Some(parse_stat_ticks(&stat)? * 1_000_000 / hz)
}

/// utime + stime (fields 14 and 15, clock ticks) of a /proc/PID/stat line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The whole machine's CPU time so far, from /proc/stat.
fn machine_ticks() -> Option<MachineTicks> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Clock ticks of all CPUs together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MachineTicks {
    /// Everything but idle, steal included.
    busy: u64,
    idle: u64,
    /// Part of `busy`: time the hypervisor ran other guests on this machine's vCPUs.
    steal: u64,
}

impl MachineTicks {
    fn total(&self) -> u64 {
        self.busy + self.idle
    }
}

/// The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal guest
/// guest_nice. Idle is idle + iowait (a CPU waiting for I/O runs nothing); busy is the rest up to
/// steal. Guest time is already counted in user and nice, so it is left out.
fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 5 {
        return None;
    }
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    Some(MachineTicks {
        busy: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
        idle: at(3) + at(4),
        steal: at(7),
    })
}

/// Percent of the machine's CPU time between two readings that `part` picks out; None when no
/// tick passed (a run shorter than a clock tick says nothing).
fn share_pct(
    before: MachineTicks,
    after: MachineTicks,
    part: impl Fn(&MachineTicks) -> u64,
) -> Option<f64> {
    let all = after.total().saturating_sub(before.total());
    let got = part(&after).saturating_sub(part(&before));
    (all > 0).then(|| 100.0 * got as f64 / all as f64)
}

fn idle_pct(before: MachineTicks, after: MachineTicks) -> Option<f64> {
    share_pct(before, after, |t| t.idle)
}

fn steal_pct(before: MachineTicks, after: MachineTicks) -> Option<f64> {
    share_pct(before, after, |t| t.steal)
}

fn load_avg() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_ticks_split_busy_from_idle_and_iowait_without_guest_time() {
        let stat = "cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 5\n";
        // busy = user 10 + nice 20 + system 30 + irq 60 + softirq 70 + steal 80; idle = 40 + 50.
        let t = |busy, idle, steal| MachineTicks { busy, idle, steal };
        assert_eq!(parse_machine_ticks(stat), Some(t(270, 90, 80)));
        // Old kernels print fewer columns; what is there still counts.
        assert_eq!(parse_machine_ticks("cpu  1 2 3 4 5\n"), Some(t(6, 9, 0)));
        assert_eq!(parse_machine_ticks("cpu0 1 2 3 4 5\n"), None);
        assert_eq!(parse_machine_ticks("cpu  1 x 3 4 5\n"), None);
        assert_eq!(idle_pct(t(270, 90, 80), t(300, 120, 80)), Some(50.0));
        assert_eq!(steal_pct(t(270, 90, 80), t(300, 120, 95)), Some(25.0));
        assert_eq!(idle_pct(t(270, 90, 80), t(270, 90, 80)), None);
        assert_eq!(steal_pct(t(270, 90, 80), t(270, 90, 80)), None);
    }

    #[test]
    fn machine_ticks_of_this_machine_advance_with_time() {
        let a = machine_ticks().expect("/proc/stat is readable");
        std::thread::sleep(Duration::from_millis(300));
        let b = machine_ticks().unwrap();
        // 300 ms of wall time is at least 300 ms of CPU time (busy or idle) on every CPU; at
        // 100 ticks a second, well over 10 ticks in all.
        assert!(b.total() >= a.total() + 10, "{a:?} -> {b:?}");
        assert!(idle_pct(a, b).is_some_and(|p| (0.0..=100.0).contains(&p)));
        assert!(steal_pct(a, b).is_some_and(|p| (0.0..=100.0).contains(&p)));
    }

    #[test]
    fn anon_rss_excludes_mapped_files() {
        let status =
            "Name:\tcourier\nVmRSS:\t  300000 kB\nRssAnon:\t  100000 kB\nRssFile:\t  190000 kB\n";
        assert_eq!(parse_anon_rss(status), Some(110_000));
        assert_eq!(parse_anon_rss("Name: x\n"), None);
    }

    #[test]
    fn stat_ticks_are_counted_after_the_command_name() {
        let stat =
            "4242 (courier (x) y) S 1 4242 4242 0 -1 4194560 2719 0 0 0 173 41 0 0 20 0 9 0 1234 0";
        assert_eq!(parse_stat_ticks(stat), Some(214));
        assert_eq!(parse_stat_ticks("4242 (courier) S 1"), None);
        // This very process: readable, not going backwards, and equal to what getrusage says
        // (to the clock tick, 10 ms here) after 200 ms of CPU, which a wrong pair of fields
        // would not be.
        let me = std::process::id() as i32;
        let a = proc_cpu_us(me).unwrap();
        let start = own_cpu_us();
        let mut x = 0u64;
        while own_cpu_us() < start + 200_000 {
            for i in 0..100_000u64 {
                x = x.wrapping_add(i * i);
            }
        }
        std::hint::black_box(x);
        let (via_proc, via_rusage) = (proc_cpu_us(me).unwrap(), own_cpu_us());
        assert!(via_proc >= a);
        assert!(
            via_proc.abs_diff(via_rusage) <= 50_000,
            "/proc says {via_proc} us, getrusage {via_rusage} us"
        );
    }

    #[test]
    fn tallies_merge_counts_by_status_and_error() {
        let mut a = Tally::default();
        a.record(1, Duration::from_micros(10), Ok(Some(SendStatus::SendOk)));
        a.record(32, Duration::from_micros(20), Err("code_14".into()));
        let mut b = Tally::default();
        b.record(1, Duration::from_micros(30), Ok(None));
        a.merge(b);
        assert_eq!(a.attempted, 34);
        assert_eq!(a.ok, 2);
        assert_eq!(a.statuses.get("SendOk"), Some(&1));
        assert_eq!(a.statuses.get("Oneway"), Some(&1));
        assert_eq!(a.errors.get("code_14"), Some(&32));
        assert_eq!(a.latencies_us.len(), 3);
    }

    #[test]
    fn the_run_ends_at_the_last_workers_finish_not_at_the_merge() {
        let start = Instant::now();
        let early = Tally::default().finish();
        std::thread::sleep(Duration::from_millis(20));
        let late = Tally::default().finish();
        let mut all = Tally::default();
        all.merge(late);
        all.merge(early);
        let ran = all.elapsed_since(start);
        // Merged 50 ms after the last finish: the run still ends at that finish.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(all.elapsed_since(start), ran);
        assert!(ran >= Duration::from_millis(20) && ran < start.elapsed());
        // No worker finished (nothing ran): the clock runs up to now.
        let before = start.elapsed();
        assert!(Tally::default().elapsed_since(start) >= before);
    }

    #[test]
    fn broker_answers_are_keyed_by_code() {
        let e = ClientError::SendFailed {
            topic: "T".into(),
            attempts: 3,
            last: Box::new(ClientError::Broker {
                addr: "a".into(),
                code: 14,
                remark: "busy".into(),
            }),
        };
        assert_eq!(error_kind(&e), "code_14");
        assert_eq!(error_kind(&ClientError::ShutDown), "shut_down");
    }

    #[test]
    fn status_names_are_the_variant_names() {
        for status in [
            SendStatus::SendOk,
            SendStatus::FlushDiskTimeout,
            SendStatus::FlushSlaveTimeout,
            SendStatus::SlaveNotAvailable,
        ] {
            assert_eq!(status_name(Some(status)), format!("{status:?}"));
        }
        assert_eq!(status_name(None), "Oneway");
    }
}
