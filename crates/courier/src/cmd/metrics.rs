//! The Prometheus `/metrics` endpoint (text exposition format 0.0.4) for the broker and the
//! keeper, served with axum on its own port.
//!
//! Broker figures are read straight from the broker's counters and store offsets. The keeper
//! library keeps its counters private, so its figures come from its own `mntr` four-letter word
//! on its client port, translated line by line (`zk_foo\tN` → `courier_keeper_foo N`); whoever
//! turns /metrics on therefore also needs `mntr` allowed, which the callers arrange.
//!
//! Invariants: a scrape never blocks on a lock held across I/O (only atomics and short reads; the
//! consumer groups' waits, which may read old messages' store times from disk, are read on the
//! blocking pool), and a keeper that does not answer costs at most `KEEPER_TIMEOUT` and yields
//! `courier_keeper_up 0`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use courier_broker::context::BrokerContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const KEEPER_TIMEOUT: Duration = Duration::from_secs(2);

/// What one /metrics endpoint reports.
#[derive(Clone, Default)]
pub struct Sources {
    pub broker: Option<Arc<BrokerContext>>,
    /// The keeper's client address, asked with `mntr`.
    pub keeper: Option<SocketAddr>,
}

/// Binds `addr` and serves `/metrics` until `shutdown`; returns the bound address.
pub async fn start(
    addr: SocketAddr,
    sources: Sources,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = super::bind("the metrics endpoint", addr, "--metrics-port").await?;
    let bound = super::local_addr(&listener)?;
    let sources = Arc::new(sources);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let sources = sources.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    render(&sources).await,
                )
                    .into_response()
            }
        }),
    );
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok((bound, task))
}

/// The whole exposition text.
pub async fn render(sources: &Sources) -> String {
    let mut out = String::new();
    if let Some(b) = &sources.broker {
        broker(&mut out, b);
        // A lagging group's next message may be on disk only: read the store off the workers.
        let ctx = Arc::clone(b);
        match tokio::task::spawn_blocking(move || consumer_waits(&ctx)).await {
            Ok((base, waits)) => wait_family(&mut out, &base, &waits),
            Err(e) => tracing::warn!(error = %e, "could not read the consumer groups' waits"),
        }
    }
    if let Some(k) = sources.keeper {
        keeper(&mut out, k).await;
    }
    out
}

fn metric(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    labels: &str,
    value: impl std::fmt::Display,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name}{labels} {value}");
}

fn broker(out: &mut String, ctx: &BrokerContext) {
    let labels = format!("{{{}}}", broker_labels(ctx));
    let s = &ctx.stats;
    let counters = [
        (
            "courier_broker_put_messages_total",
            "Messages stored since start.",
            s.put_messages.load(Ordering::Relaxed),
        ),
        (
            "courier_broker_got_messages_total",
            "Messages returned by pulls since start.",
            s.got_messages.load(Ordering::Relaxed),
        ),
        (
            "courier_broker_held_pulls_total",
            "Pulls parked by long polling since start.",
            s.held_pulls.load(Ordering::Relaxed),
        ),
        (
            "courier_broker_disk_pulls_total",
            "Pulls that read messages no longer in memory (a consumer lagging behind the write buffer); they run on the blocking pool so the async workers keep serving everyone else.",
            s.disk_pulls.load(Ordering::Relaxed),
        ),
        (
            "courier_broker_service_restarts_total",
            "Background services (delay schedule, transaction check, registration, offset persistence, idle-client scan) started again after a panic; the error log names the service and the panic.",
            s.service_restarts.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        metric(out, name, "counter", help, &labels, v);
    }
    let gauges = [
        (
            "courier_broker_commitlog_max_offset_bytes",
            "End of the CommitLog.",
            ctx.store.max_phys_offset(),
        ),
        (
            "courier_broker_commitlog_min_offset_bytes",
            "Start of the oldest retained CommitLog segment.",
            ctx.store.min_phys_offset(),
        ),
        (
            "courier_broker_commitlog_flushed_offset_bytes",
            "CommitLog bytes known to be on disk.",
            ctx.store.flushed_phys_offset(),
        ),
        (
            "courier_broker_topics",
            "Topics in the broker's topic table.",
            ctx.topics.len() as i64,
        ),
        (
            "courier_broker_uptime_seconds",
            "Seconds since the broker started.",
            ctx.started.elapsed().as_secs() as i64,
        ),
    ];
    for (name, help, v) in gauges {
        metric(out, name, "gauge", help, &labels, v);
    }
    per_topic_and_group(out, ctx);
    put_latency(out, ctx);
    // The O_DIRECT write-behind buffer (directWrite): waits mean the disk is slower than the
    // producers; the committed offset trailing far behind the max offset means the same.
    if let Some(w) = ctx.store.write_behind_stats() {
        let counters = [
            (
                "courier_broker_commitlog_buffer_writes_total",
                "Writes of the write-behind buffer (O_DIRECT, or plain where the filesystem refuses it).",
                w.direct_writes + w.buffered_writes,
            ),
            (
                "courier_broker_commitlog_buffer_write_bytes_total",
                "Bytes written by those writes (with the zero padding of partial blocks).",
                w.written_bytes,
            ),
            (
                "courier_broker_commitlog_buffer_waits_total",
                "Puts that waited for the write-behind buffer to be written (disk slower than producers).",
                w.waits_for_room,
            ),
        ];
        for (name, help, v) in counters {
            metric(out, name, "counter", help, &labels, v);
        }
        let seconds = [
            (
                "courier_broker_commitlog_buffer_write_seconds_total",
                "Time spent in those writes; its rate is the share of time the disk was busy with the log (near 1: the disk sets the pace).",
                w.write_nanos,
            ),
            (
                "courier_broker_commitlog_buffer_wait_seconds_total",
                "Time puts spent waiting for the write-behind buffer to be written (summed over puts waiting at once).",
                w.wait_nanos,
            ),
        ];
        for (name, help, nanos) in seconds {
            metric(out, name, "counter", help, &labels, nanos as f64 / 1e9);
        }
        metric(
            out,
            "courier_broker_commitlog_committed_offset_bytes",
            "gauge",
            "CommitLog bytes written to the files (the rest is only in the write-behind buffer).",
            &labels,
            w.committed,
        );
        metric(
            out,
            "courier_broker_commitlog_buffer_chunks",
            "gauge",
            "Memory chunks of the write-behind buffer that exist (4 MiB each for segments of 4 MiB or more): writeBufferSize's worth, plus chunks retired while a reader still held them.",
            &labels,
            w.chunks,
        );
    }
}

/// The store's put latency since start as a Prometheus histogram: `histogram_quantile(0.99,
/// rate(courier_broker_put_latency_seconds_bucket[5m]))` is the p99 of the last five minutes.
fn put_latency(out: &mut String, ctx: &BrokerContext) {
    let name = "courier_broker_put_latency_seconds";
    let base = broker_labels(ctx);
    let l = ctx.store.put_latency();
    let _ = writeln!(
        out,
        "# HELP {name} Time from a put (one message or one batch) reaching the store to its result; under SYNC_FLUSH it includes the disk flush."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (le_us, n) in courier_store::BUCKET_BOUNDS_US.iter().zip(l.buckets) {
        let le = *le_us as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{base},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{base},le=\"+Inf\"}} {}", l.count);
    let _ = writeln!(out, "{name}_sum{{{base}}} {}", l.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{{{base}}} {}", l.count);
}

/// Per topic, the messages its queues hold in all (their max offsets, a counter while the topic
/// lives), and per consumer group and topic the lag: those max offsets minus the group's
/// committed offsets, what `mqadmin consumerProgress` calls the diff and what alerts watch.
/// Broadcasting groups keep their offsets in the clients and have no lag here.
fn per_topic_and_group(out: &mut String, ctx: &BrokerContext) {
    let base = broker_labels(ctx);
    let mut topics = ctx.topic_message_totals();
    topics.sort();
    family(
        out,
        "courier_broker_topic_messages_total",
        "counter",
        "Messages stored in the topic's queues since it was created (the sum of their max offsets).",
        topics
            .iter()
            .map(|(t, n)| (format!("{{{base},topic=\"{}\"}}", escape(t)), *n)),
    );
    let stored: std::collections::HashMap<&str, u64> =
        topics.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let mut lags: Vec<((String, String), u64)> = ctx
        .offsets
        .totals()
        .into_iter()
        .filter_map(|((group, topic), consumed)| {
            let total = *stored.get(topic.as_str())?;
            Some(((group, topic), total.saturating_sub(consumed)))
        })
        .collect();
    lags.sort();
    family(
        out,
        "courier_broker_consumer_lag_messages",
        "gauge",
        "Messages of the topic the consumer group has not committed yet (max offsets minus committed offsets, over the topic's queues).",
        lags.iter().map(|((g, t), lag)| {
            (
                format!("{{{base},group=\"{}\",topic=\"{}\"}}", escape(g), escape(t)),
                *lag,
            )
        }),
    );
}

/// (group, topic) and how long the group's oldest unconsumed message of the topic has waited, ms.
type Waits = Vec<((String, String), i64)>;

/// Per consumer group and topic (groups with offsets on the broker), how long the group's
/// oldest unconsumed message has waited; with the broker's label text.
fn consumer_waits(ctx: &BrokerContext) -> (String, Waits) {
    let base = broker_labels(ctx);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut waits: Waits = ctx
        .offsets
        .totals()
        .into_iter()
        .filter_map(|((group, topic), _)| {
            let queues = ctx.topics.get(&topic)?.read_queue_nums;
            let wait =
                courier_broker::time_span::longest_wait_ms(ctx, &group, &topic, queues, now_ms);
            Some(((group, topic), wait))
        })
        .collect();
    waits.sort();
    (base, waits)
}

/// `courier_broker_consumer_delay_seconds`: what a lag alert should watch.
fn wait_family(out: &mut String, base: &str, waits: &[((String, String), i64)]) {
    if waits.is_empty() {
        return;
    }
    let name = "courier_broker_consumer_delay_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} How long the consumer group's oldest unconsumed message of the topic has waited since it was stored (0 when caught up): the lag in time, over the topic's queues."
    );
    let _ = writeln!(out, "# TYPE {name} gauge");
    for ((g, t), ms) in waits {
        let _ = writeln!(
            out,
            "{name}{{{base},group=\"{}\",topic=\"{}\"}} {:.3}",
            escape(g),
            escape(t),
            *ms as f64 / 1000.0
        );
    }
}

/// The labels every broker sample carries: `broker="…",cluster="…"` (without braces).
fn broker_labels(ctx: &BrokerContext) -> String {
    let config = ctx.config();
    format!(
        "broker=\"{}\",cluster=\"{}\"",
        escape(&config.broker_name),
        escape(&config.broker_cluster_name)
    )
}

/// One metric with a sample per label set (HELP and TYPE once); nothing when there is no sample.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl Iterator<Item = (String, u64)>,
) {
    let mut samples = samples.peekable();
    if samples.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

async fn keeper(out: &mut String, addr: SocketAddr) {
    let text = tokio::time::timeout(KEEPER_TIMEOUT, ask_mntr(addr)).await;
    let text = match text {
        Ok(Ok(t)) if t.contains("zk_version") => t,
        Ok(Ok(t)) => {
            tracing::warn!(answer = %t.trim(), "the keeper refused mntr; allow it to get keeper metrics");
            String::new()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not ask the keeper for mntr");
            String::new()
        }
        Err(_) => String::new(),
    };
    let up = u8::from(!text.is_empty());
    metric(
        out,
        "courier_keeper_up",
        "gauge",
        "1 if the keeper answered mntr.",
        "",
        up,
    );
    for line in text.lines() {
        let Some((key, value)) = line.split_once('\t') else {
            continue;
        };
        let Some(name) = key.strip_prefix("zk_") else {
            continue;
        };
        let value = match value.strip_prefix("0x") {
            Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
            None => value.parse::<f64>().ok(),
        };
        let Some(value) = value else { continue };
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        metric(
            out,
            &format!("courier_keeper_{name}"),
            "gauge",
            &format!("ZooKeeper mntr zk_{name}."),
            "",
            value,
        );
    }
}

async fn ask_mntr(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"mntr").await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
