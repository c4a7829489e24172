//! `courier bench store`: the message store measured against this machine's disk in one run.
//!
//! Order matters and is fixed: disk baseline first (nothing else writing), then per record size a
//! fresh ASYNC_FLUSH store filled twice (put from several tasks, then put_batch) and read back,
//! then SYNC_FLUSH group commit, then reopen of the largest store after a clean shutdown and after
//! a SIGKILLed writer process appended to it. Every figure is derived from the same run directory,
//! which is removed at the end unless `--keep`.
//!
//! Invariants the bench itself checks (a fast but lossy store must not "pass"): every put must
//! return PutOk, the read-back must return exactly the records written, and after the kill the
//! store must hold every record the killed writer had reported acknowledged, less at most what
//! the O_DIRECT write-behind buffer may lose (`writer_loss_allowed`: 0 unless `--direct-writes`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use courier_store::{
    encode_properties, FlushDiskType, GetStatus, MessageStore, MessageToStore, PutStatus,
    StoreConfig,
};
use indicatif::ProgressBar;
use serde::Serialize;

use super::disk::{self, DiskBaseline};
use super::report::{
    emit_json_line, fmt_bytes, fmt_count, mb_per_s, per_s, read_rss, Latency, Progress, Rss, Table,
    Verdict,
};
use crate::cli::{parse_count, parse_dir, parse_size};

/// Flags of `courier bench store`. Unset flags take the full-run default, or the `--quick` one.
#[derive(Debug, Clone, Args)]
pub struct StoreBenchArgs {
    /// Directory to run in; a fresh run-* subdirectory is created inside it
    /// [default: ./courier-bench, or $TMPDIR when the current directory is not writable].
    #[arg(long, value_parser = parse_dir)]
    pub dir: Option<PathBuf>,

    /// Keep the run directory (stores and all) instead of deleting it at the end.
    #[arg(long)]
    pub keep: bool,

    /// Record body sizes for the ASYNC_FLUSH cases, comma-separated [default: 128,1024,4096].
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    pub sizes: Option<Vec<u64>>,

    /// Body bytes written per async case (each size is written twice: put, then put_batch)
    /// [default: 1G; --quick: 8M]. Use 4G to see the memory after writing 4 GiB.
    #[arg(long, value_parser = parse_size)]
    pub bytes: Option<u64>,

    /// Concurrent appender tasks in the ASYNC_FLUSH cases [default: 4].
    #[arg(long)]
    pub async_tasks: Option<usize>,

    /// Records per put_batch call [default: 32].
    #[arg(long)]
    pub batch_size: Option<usize>,

    /// ASYNC_FLUSH cases write through the O_DIRECT write-behind buffer (the store's
    /// `direct_write`, the broker's default) instead of copying into the mapped segments (the
    /// store's default), to measure the broker's way: puts bounded by the disk, reads of all but
    /// the newest 64 MiB from the disk rather than the page cache.
    #[arg(long)]
    pub direct_writes: bool,

    /// Concurrent appenders in the SYNC_FLUSH cases, comma-separated [default: 1,16,64].
    #[arg(long, value_delimiter = ',', value_parser = parse_count)]
    pub sync_concurrency: Option<Vec<usize>>,

    /// Seconds each SYNC_FLUSH case runs [default: 5; --quick: 0.3].
    #[arg(long)]
    pub sync_seconds: Option<f64>,

    /// Body size of the SYNC_FLUSH records [default: 1K].
    #[arg(long, value_parser = parse_size)]
    pub sync_record_size: Option<u64>,

    /// CommitLog segment size [default: 1G; --quick: 4M].
    #[arg(long, value_parser = parse_size)]
    pub segment_size: Option<u64>,

    /// Bytes of the disk's sequential-write baseline [default: 1G; --quick: 16M].
    #[arg(long, value_parser = parse_size)]
    pub disk_bytes: Option<u64>,

    /// Seconds of the single-writer fdatasync baseline [default: 3; --quick: 0.3].
    #[arg(long)]
    pub fdatasync_seconds: Option<f64>,

    /// Bytes the child writer appends before it is killed with SIGKILL [default: 256M; --quick: 4M].
    #[arg(long, value_parser = parse_size)]
    pub kill_bytes: Option<u64>,

    /// Give every record a distinct UNIQ_KEY property, so the IndexFile is written too
    /// (a Java producer always sets one). Off by default: TAGS only.
    #[arg(long)]
    pub uniq_key: bool,

    /// Small everything: a few-second smoke run for CI. Explicit flags still win.
    #[arg(long)]
    pub quick: bool,

    /// Print only the final JSON line: no progress bars, no table.
    #[arg(long)]
    pub json_only: bool,
}

/// The flags with every default resolved.
#[derive(Debug, Clone, Serialize)]
struct Settings {
    quick: bool,
    sizes: Vec<u64>,
    bytes_per_case: u64,
    async_tasks: usize,
    batch_size: usize,
    sync_concurrency: Vec<usize>,
    sync_seconds: f64,
    sync_record_size: u64,
    segment_size: u64,
    disk_bytes: u64,
    fdatasync_seconds: f64,
    kill_bytes: u64,
    uniq_key: bool,
    direct_writes: bool,
}

impl Settings {
    fn resolve(a: &StoreBenchArgs) -> anyhow::Result<Self> {
        let q = a.quick;
        let s = Settings {
            quick: q,
            sizes: a.sizes.clone().unwrap_or_else(|| vec![128, 1024, 4096]),
            bytes_per_case: a.bytes.unwrap_or(if q { 8 << 20 } else { 1 << 30 }),
            async_tasks: a.async_tasks.unwrap_or(4),
            batch_size: a.batch_size.unwrap_or(32),
            sync_concurrency: a
                .sync_concurrency
                .clone()
                .unwrap_or_else(|| vec![1, 16, 64]),
            sync_seconds: a.sync_seconds.unwrap_or(if q { 0.3 } else { 5.0 }),
            sync_record_size: a.sync_record_size.unwrap_or(1024),
            segment_size: a.segment_size.unwrap_or(if q { 4 << 20 } else { 1 << 30 }),
            disk_bytes: a.disk_bytes.unwrap_or(if q { 16 << 20 } else { 1 << 30 }),
            fdatasync_seconds: a.fdatasync_seconds.unwrap_or(if q { 0.3 } else { 3.0 }),
            kill_bytes: a.kill_bytes.unwrap_or(if q { 4 << 20 } else { 256 << 20 }),
            uniq_key: a.uniq_key,
            direct_writes: a.direct_writes,
        };
        if s.async_tasks == 0 || s.batch_size == 0 {
            bail!("--async-tasks and --batch-size must be at least 1");
        }
        if !(s.sync_seconds > 0.0 && s.fdatasync_seconds > 0.0) {
            bail!("--sync-seconds and --fdatasync-seconds must be positive, e.g. 0.5");
        }
        let largest = s.sizes.iter().copied().max().unwrap_or(0);
        if largest + 64 * 1024 > s.segment_size {
            bail!(
                "--segment-size {} is too small for {}-byte records; use at least {}",
                fmt_bytes(s.segment_size),
                largest,
                fmt_bytes(largest + 64 * 1024)
            );
        }
        if largest > 4 << 20 || s.sync_record_size > 4 << 20 {
            bail!("record sizes above 4 MiB exceed the store's max message size; pick smaller --sizes / --sync-record-size");
        }
        Ok(s)
    }
}

#[derive(Debug, Serialize)]
struct AsyncCase {
    record_size: u64,
    /// `put` (one record per call) or `put_batch`.
    api: &'static str,
    tasks: usize,
    batch_size: usize,
    records: u64,
    body_bytes: u64,
    /// Bytes the records occupy in the CommitLog (headers included).
    log_bytes: u64,
    seconds: f64,
    records_per_s: f64,
    /// Body bytes per second, decimal MB.
    mb_per_s: f64,
    log_mb_per_s: f64,
    /// Body MB/s divided by the disk's sequential write bandwidth.
    ratio_to_disk: f64,
    /// With direct writes: the share of the case's time the committer spent in its writes
    /// (near 1: the disk set the pace; a write is counted whole when it ends, so a case shorter
    /// than a few writes can show more than 1), and the time appenders waited for it, summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_busy_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    put_wait_seconds: Option<f64>,
    rss_after: Option<Rss>,
}

/// Both async phases of one record size timed until the async flush thread had msync'ed them:
/// the sustained rate, as opposed to the page-cache rate of `AsyncCase`.
#[derive(Debug, Clone, Serialize)]
struct DurableCase {
    record_size: u64,
    body_bytes: u64,
    /// From the first append until `flushed_phys_offset` caught up with the log end.
    seconds: f64,
    mb_per_s: f64,
    ratio_to_disk: f64,
    /// Of `seconds`, the wait after the last append.
    flush_wait_seconds: f64,
}

#[derive(Debug, Serialize)]
struct SyncCase {
    concurrency: usize,
    record_size: u64,
    records: u64,
    seconds: f64,
    records_per_s: f64,
    /// Records/s divided by the single-writer fdatasync rate of the disk baseline.
    ratio_to_fdatasync: f64,
    /// Records/s divided by the store's own 1-appender SYNC_FLUSH rate (when measured): the
    /// batching factor of group commit, independent of how the flush primitive compares with a
    /// plain write + fdatasync.
    ratio_to_one_appender: Option<f64>,
    latency: Latency,
    /// Puts that returned something other than PutOk (FlushDiskTimeout counts here).
    not_ok: u64,
}

#[derive(Debug, Serialize)]
struct ReadCase {
    record_size: u64,
    records: u64,
    bytes: u64,
    seconds: f64,
    gb_per_s: f64,
    /// CRC32 over every returned byte: proof the bytes were touched.
    crc32: u32,
}

#[derive(Debug, Serialize)]
struct Reopen {
    log_bytes: u64,
    seconds: f64,
    clean_shutdown: bool,
    scanned_bytes: u64,
    truncated_bytes: u64,
    corrupt_records: usize,
    rebuilt_cq_entries: u64,
    /// Only for the kill -9 case: records the killed writer reported acknowledged / found after.
    #[serde(skip_serializing_if = "Option::is_none")]
    writer_acked_records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    writer_records_found: Option<u64>,
    /// How many acknowledged records a kill -9 may cost: 0 with mapped writes; with the O_DIRECT
    /// write-behind buffer what it had not written yet (at most the store's
    /// `write_behind_max_uncommitted` bytes plus the puts in flight).
    #[serde(skip_serializing_if = "Option::is_none")]
    writer_loss_allowed: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Memory {
    at_start: Option<Rss>,
    after_async: Option<Rss>,
    /// Body bytes appended (all async cases) when `after_async` was read.
    bytes_written_before: u64,
}

/// The machine the figures come from; on a shared box the load explains a lot.
#[derive(Debug, Serialize)]
struct Machine {
    cpus: usize,
    loadavg_1m_at_start: Option<f64>,
    loadavg_1m_at_end: Option<f64>,
}

fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[derive(Debug, Serialize)]
struct Summary {
    bench: &'static str,
    courier_version: &'static str,
    dir: String,
    kept: bool,
    settings: Settings,
    disk: DiskBaseline,
    async_append: Vec<AsyncCase>,
    async_durable: Vec<DurableCase>,
    sync_append: Vec<SyncCase>,
    read: Vec<ReadCase>,
    reopen_clean: Option<Reopen>,
    reopen_after_kill9: Option<Reopen>,
    memory: Memory,
    targets: Vec<Verdict>,
    all_targets_pass: bool,
    machine: Machine,
    total_seconds: f64,
}

const ASYNC_TOPIC: &str = "BenchAsync";
const BATCH_TOPIC: &str = "BenchBatch";
const SYNC_TOPIC: &str = "BenchSync";
/// Topic the SIGKILLed writer appends to; shared with `bench::writer`.
pub const KILL_TOPIC: &str = "BenchKill";
/// Records per get_messages call, RocketMQ's default pull batch.
const READ_BATCH: u32 = 32;

/// Runs the whole bench and prints the JSON line.
pub fn run(args: StoreBenchArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args)?;
    let started = Instant::now();
    let run_dir = RunDir::create(args.dir.as_deref(), args.keep)?;
    let progress = Progress::new(!args.json_only);
    let root = run_dir.path().to_path_buf();
    tracing::info!("courier bench store running in {}", root.display());

    let rss_start = read_rss();
    let load_start = loadavg_1m();
    let disk = disk::measure(
        &root,
        settings.disk_bytes,
        Duration::from_secs_f64(settings.fdatasync_seconds),
        &progress,
    )?;

    let mut sizes = settings.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let largest = sizes.last().copied().unwrap_or(4096);
    let mut async_cases = Vec::new();
    let mut durable_cases = Vec::new();
    let mut reads = Vec::new();
    let mut rss_after_async = None;
    let mut kept_store: Option<(PathBuf, StoreConfig)> = None;
    let mut body_written = 0u64;
    for &size in &sizes {
        let dir = root.join(format!("async-{size}"));
        let config = store_config(&dir, &settings, FlushDiskType::AsyncFlush);
        let store = open_store(config.clone(), rt)?;
        let records = (settings.bytes_per_case / size).max(settings.async_tasks as u64);
        let size_start = Instant::now();
        let mut size_body = 0u64;
        for (api, topic, batch) in [
            ("put", ASYNC_TOPIC, 1usize),
            ("put_batch", BATCH_TOPIC, settings.batch_size),
        ] {
            let pb = progress.bar(records, format!("async {api} {}", fmt_bytes(size)), "rec/s");
            let wb_before = store.write_behind_stats();
            let phase = rt.block_on(append_phase(
                store.clone(),
                topic,
                size as usize,
                records,
                settings.async_tasks,
                batch,
                settings.uniq_key,
                pb.clone(),
            ))?;
            pb.finish_and_clear();
            body_written += phase.body_bytes;
            size_body += phase.body_bytes;
            let secs = phase.elapsed.as_secs_f64();
            let mbs = mb_per_s(phase.body_bytes, phase.elapsed);
            let wb = wb_before.zip(store.write_behind_stats()).map(|(a, b)| {
                let write = b.write_nanos.saturating_sub(a.write_nanos) as f64 / 1e9;
                let wait = b.wait_nanos.saturating_sub(a.wait_nanos) as f64 / 1e9;
                (write / secs.max(1e-9), wait)
            });
            async_cases.push(AsyncCase {
                record_size: size,
                api,
                tasks: settings.async_tasks,
                batch_size: batch,
                records: phase.records,
                body_bytes: phase.body_bytes,
                log_bytes: phase.log_bytes,
                seconds: secs,
                records_per_s: per_s(phase.records, phase.elapsed),
                mb_per_s: mbs,
                log_mb_per_s: mb_per_s(phase.log_bytes, phase.elapsed),
                ratio_to_disk: mbs / disk.seq_write_mb_s,
                disk_busy_share: wb.map(|w| w.0),
                put_wait_seconds: wb.map(|w| w.1),
                rss_after: read_rss(),
            });
        }
        let durable = wait_durable(&store, &progress)?;
        let durable_elapsed = size_start.elapsed();
        durable_cases.push(DurableCase {
            record_size: size,
            body_bytes: size_body,
            seconds: durable_elapsed.as_secs_f64(),
            mb_per_s: mb_per_s(size_body, durable_elapsed),
            ratio_to_disk: mb_per_s(size_body, durable_elapsed) / disk.seq_write_mb_s,
            flush_wait_seconds: durable.as_secs_f64(),
        });
        rss_after_async = read_rss();
        reads.push(read_back(
            &store,
            size,
            records,
            settings.async_tasks,
            &progress,
        )?);
        store
            .shutdown()
            .with_context(|| format!("clean shutdown of the store in {} failed", dir.display()))?;
        drop(store);
        if size == largest {
            kept_store = Some((dir, config));
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    let sync_cases = sync_phase(&root, &settings, &disk, rt, &progress)?;

    let (reopen_clean, reopen_kill) = match kept_store {
        Some((dir, config)) => {
            let clean = reopen_timed(config.clone(), rt, &progress, "reopen after clean shutdown")?;
            let killed = kill9_reopen(&dir, config, &settings, largest, rt, &progress)?;
            (Some(clean), Some(killed))
        }
        None => (None, None),
    };

    let targets = verdicts(
        &disk,
        &async_cases,
        &durable_cases,
        &sync_cases,
        &reads,
        reopen_clean.as_ref(),
        reopen_kill.as_ref(),
    );
    let summary = Summary {
        bench: "store",
        courier_version: env!("CARGO_PKG_VERSION"),
        dir: root.display().to_string(),
        kept: args.keep,
        all_targets_pass: targets.iter().all(|t| t.pass),
        settings,
        disk,
        async_append: async_cases,
        async_durable: durable_cases.clone(),
        sync_append: sync_cases,
        read: reads,
        reopen_clean,
        reopen_after_kill9: reopen_kill,
        memory: Memory {
            at_start: rss_start,
            after_async: rss_after_async,
            bytes_written_before: body_written,
        },
        targets,
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            loadavg_1m_at_start: load_start,
            loadavg_1m_at_end: loadavg_1m(),
        },
        total_seconds: started.elapsed().as_secs_f64(),
    };
    drop(progress);
    if !args.json_only {
        eprint!("{}", render_tables(&summary));
    }
    run_dir.finish()?;
    emit_json_line(&summary)
}

/// The run directory: created fresh, deleted at the end unless kept.
struct RunDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    /// The default base directory when this run created it; removed again if left empty.
    created_base: Option<PathBuf>,
}

impl RunDir {
    fn create(base: Option<&Path>, keep: bool) -> anyhow::Result<Self> {
        let mut created_base = None;
        let base = match base {
            Some(b) => b.to_path_buf(),
            None => {
                let local = PathBuf::from("courier-bench");
                let existed = local.is_dir();
                if std::fs::create_dir_all(&local).is_ok() {
                    if !existed {
                        created_base = Some(local.clone());
                    }
                    local
                } else {
                    std::env::temp_dir()
                }
            }
        };
        std::fs::create_dir_all(&base).with_context(|| {
            format!(
                "could not create {}; pass --dir with a writable directory",
                base.display()
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&base)
            .with_context(|| {
                format!(
                    "could not create a run directory in {}; pass --dir with a writable directory",
                    base.display()
                )
            })?;
        let path = std::fs::canonicalize(dir.path()).unwrap_or_else(|_| dir.path().to_path_buf());
        if keep {
            let kept = dir.keep();
            Ok(RunDir {
                dir: None,
                path: kept,
                created_base: None,
            })
        } else {
            Ok(RunDir {
                dir: Some(dir),
                path,
                created_base,
            })
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn finish(self) -> anyhow::Result<()> {
        if let Some(dir) = self.dir {
            let shown = dir.path().display().to_string();
            dir.close().with_context(|| {
                format!("could not delete the run directory {shown}; remove it by hand")
            })?;
        }
        if let Some(base) = self.created_base {
            // remove_dir only succeeds on an empty directory, so nobody else's files go.
            let _ = std::fs::remove_dir(base);
        }
        Ok(())
    }
}

fn store_config(dir: &Path, s: &Settings, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size = s.segment_size;
    c.flush_disk_type = flush;
    c.direct_write = s.direct_writes;
    c
}

fn open_store(
    config: StoreConfig,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Arc<MessageStore>> {
    let dir = config.root_dir.clone();
    // Entered so a store that spawns onto tokio finds a runtime; open itself blocks on this thread.
    let _guard = rt.enter();
    let store = MessageStore::open(config)
        .with_context(|| format!("could not open the message store in {}", dir.display()))?;
    Ok(Arc::new(store))
}

struct Phase {
    records: u64,
    body_bytes: u64,
    log_bytes: u64,
    elapsed: Duration,
}

/// Appends `records` bodies of `size` bytes from `tasks` tasks, each to its own queue.
#[allow(clippy::too_many_arguments)]
async fn append_phase(
    store: Arc<MessageStore>,
    topic: &'static str,
    size: usize,
    records: u64,
    tasks: usize,
    batch: usize,
    uniq_key: bool,
    pb: ProgressBar,
) -> anyhow::Result<Phase> {
    let body = Bytes::from(pattern_body(size));
    let tag_props = encode_properties(&[("TAGS", "TagA")]);
    let log_bytes = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let mine = records / tasks as u64 + u64::from((t as u64) < records % tasks as u64);
        let (store, body, props, log_bytes, pb) = (
            store.clone(),
            // A copy per task: a shared Bytes would bounce its refcount between cores.
            Bytes::copy_from_slice(&body),
            tag_props.clone(),
            log_bytes.clone(),
            pb.clone(),
        );
        handles.push(tokio::spawn(async move {
            let queue = t as i32;
            let make = |seq: u64| {
                let mut m = MessageToStore::new(topic, queue, body.clone());
                m.properties = if uniq_key {
                    encode_properties(&[("TAGS", "TagA"), ("UNIQ_KEY", &format!("{t:08X}{seq:024X}"))])
                } else {
                    props.clone()
                };
                m
            };
            let mut done = 0u64;
            let mut wrote = 0u64;
            let mut since_tick = 0u64;
            while done < mine {
                let n = (batch as u64).min(mine - done);
                let r = if batch == 1 {
                    store.put(make(done)).await
                } else {
                    store
                        .put_batch((done..done + n).map(make).collect())
                        .await
                };
                if !matches!(r.status, PutStatus::PutOk) {
                    bail!(
                        "the store answered {:?} to an async {} of {size}-byte records after {done} records; \
                         check free disk space in the run directory and the log above",
                        r.status,
                        if batch == 1 { "put" } else { "put_batch" }
                    );
                }
                done += n;
                wrote += r.wrote_bytes.max(0) as u64;
                since_tick += n;
                if since_tick >= 256 {
                    pb.inc(since_tick);
                    since_tick = 0;
                }
            }
            pb.inc(since_tick);
            log_bytes.fetch_add(wrote, Ordering::Relaxed);
            Ok(done)
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.context("an appender task panicked")??;
    }
    let elapsed = start.elapsed();
    Ok(Phase {
        records: total,
        body_bytes: total * size as u64,
        log_bytes: log_bytes.load(Ordering::Relaxed),
        elapsed,
    })
}

/// Waits until the ASYNC_FLUSH thread has flushed the log up to its end, less the few pages it
/// may legitimately leave for its next thorough flush; returns how long that took.
fn wait_durable(store: &MessageStore, progress: &Progress) -> anyhow::Result<Duration> {
    // flush_least_pages (4) x 4 KiB: below that the flush thread waits for flush_thorough_interval.
    const SLACK: i64 = 4 * 4096;
    let pb = progress.spinner("waiting for the async flush");
    let start = Instant::now();
    let target = store.max_phys_offset() - SLACK;
    while store.flushed_phys_offset() < target {
        if start.elapsed() > Duration::from_secs(300) {
            bail!(
                "the async flush did not reach the log end within 5 minutes (flushed {} of {}); the disk is stalled or far too slow",
                store.flushed_phys_offset(),
                store.max_phys_offset()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    pb.finish_and_clear();
    Ok(start.elapsed())
}

/// Bytes that differ record to record position-wise but cost nothing to produce per put.
fn pattern_body(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Reads every record of both async topics back through get_messages and CRCs every byte.
fn read_back(
    store: &MessageStore,
    size: u64,
    records_per_topic: u64,
    queues: usize,
    progress: &Progress,
) -> anyhow::Result<ReadCase> {
    let expected = records_per_topic * 2;
    let pb = progress.bar(expected, format!("read back {}", fmt_bytes(size)), "rec/s");
    let mut hasher = crc32fast::Hasher::new();
    let (mut records, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    for topic in [ASYNC_TOPIC, BATCH_TOPIC] {
        for q in 0..queues as i32 {
            let max = store.max_offset(topic, q);
            let mut offset = store.min_offset(topic, q);
            while offset < max {
                let r = store.get_messages(topic, q, offset, READ_BATCH, u32::MAX, None);
                if !matches!(r.status, GetStatus::Found) || r.messages.is_empty() {
                    bail!(
                        "reading {topic} queue {q} at offset {offset} (max {max}) returned {:?}; \
                         the store lost records it acknowledged",
                        r.status
                    );
                }
                for m in &r.messages {
                    hasher.update(m);
                    bytes += m.len() as u64;
                }
                records += r.messages.len() as u64;
                pb.inc(r.messages.len() as u64);
                offset = r.next_begin_offset;
            }
        }
    }
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    if records != expected {
        bail!("read back {records} records but {expected} were written; the store lost or duplicated records");
    }
    Ok(ReadCase {
        record_size: size,
        records,
        bytes,
        seconds: elapsed.as_secs_f64(),
        gb_per_s: bytes as f64 / 1e9 / elapsed.as_secs_f64().max(1e-9),
        crc32: hasher.finalize(),
    })
}

fn sync_phase(
    root: &Path,
    s: &Settings,
    disk: &DiskBaseline,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> anyhow::Result<Vec<SyncCase>> {
    let dir = root.join("sync");
    let store = open_store(store_config(&dir, s, FlushDiskType::SyncFlush), rt)?;
    let body = Bytes::from(pattern_body(s.sync_record_size as usize));
    let props = encode_properties(&[("TAGS", "TagA")]);
    let mut cases = Vec::new();
    for &c in &s.sync_concurrency {
        let pb = progress.spinner(format!("sync flush, {c} appenders"));
        let run_for = Duration::from_secs_f64(s.sync_seconds);
        let (mut lat, elapsed, not_ok) = rt.block_on(async {
            let start = Instant::now();
            let mut handles = Vec::with_capacity(c);
            for t in 0..c {
                let (store, body, props) =
                    (store.clone(), Bytes::copy_from_slice(&body), props.clone());
                handles.push(tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(4096);
                    let mut not_ok = 0u64;
                    while start.elapsed() < run_for {
                        let mut m = MessageToStore::new(SYNC_TOPIC, (t % 8) as i32, body.clone());
                        m.properties = props.clone();
                        let t0 = Instant::now();
                        let r = store.put(m).await;
                        samples.push(t0.elapsed().as_micros() as u64);
                        if !matches!(r.status, PutStatus::PutOk) {
                            not_ok += 1;
                        }
                    }
                    (samples, not_ok)
                }));
            }
            let mut all = Vec::new();
            let mut not_ok = 0;
            for h in handles {
                let (samples, n) = h.await.context("a sync appender task panicked")?;
                all.extend(samples);
                not_ok += n;
            }
            anyhow::Ok((all, start.elapsed(), not_ok))
        })?;
        pb.finish_and_clear();
        let records = lat.len() as u64;
        let rate = per_s(records, elapsed);
        cases.push(SyncCase {
            concurrency: c,
            record_size: s.sync_record_size,
            records,
            seconds: elapsed.as_secs_f64(),
            records_per_s: rate,
            ratio_to_fdatasync: rate / disk.fdatasync_per_s,
            ratio_to_one_appender: None,
            latency: Latency::from_samples(&mut lat),
            not_ok,
        });
    }
    if let Some(one) = cases
        .iter()
        .find(|c| c.concurrency == 1)
        .map(|c| c.records_per_s)
    {
        for c in &mut cases {
            c.ratio_to_one_appender = Some(c.records_per_s / one);
        }
    }
    store
        .shutdown()
        .with_context(|| format!("clean shutdown of the store in {} failed", dir.display()))?;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(cases)
}

fn reopen_timed(
    config: StoreConfig,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
    what: &str,
) -> anyhow::Result<Reopen> {
    let pb = progress.spinner(what.to_string());
    let start = Instant::now();
    let store = open_store(config, rt)?;
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    let rep = store.recovery_report();
    let out = Reopen {
        log_bytes: (store.max_phys_offset() - store.min_phys_offset()).max(0) as u64,
        seconds: elapsed.as_secs_f64(),
        clean_shutdown: rep.clean_shutdown,
        scanned_bytes: rep.scanned_bytes,
        truncated_bytes: rep.truncated_bytes,
        corrupt_records: rep.corrupt.len(),
        rebuilt_cq_entries: rep.rebuilt_cq_entries,
        writer_acked_records: None,
        writer_records_found: None,
        writer_loss_allowed: None,
    };
    store
        .shutdown()
        .context("clean shutdown after the reopen failed")?;
    Ok(out)
}

/// Kills the child on every exit path, so a failed bench never leaves a writer running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lets a child `courier bench store-writer` append to the store in `dir`, SIGKILLs it after it
/// reported `kill_bytes`, and times the reopen that has to recover from it.
fn kill9_reopen(
    dir: &Path,
    config: StoreConfig,
    s: &Settings,
    record_size: u64,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> anyhow::Result<Reopen> {
    let exe = std::env::current_exe()
        .context("cannot find the courier executable to start the writer child")?;
    let mut child = KillOnDrop(
        Command::new(exe)
            .args(["bench", "store-writer", "--dir"])
            .arg(dir)
            .arg("--segment-size")
            .arg(s.segment_size.to_string())
            .arg("--record-size")
            .arg(record_size.to_string())
            .arg("--tasks")
            .arg(s.async_tasks.to_string())
            .args(s.direct_writes.then_some("--direct-writes"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("could not start the writer child process")?,
    );
    let stdout = child
        .0
        .stdout
        .take()
        .context("the writer child has no stdout pipe")?;
    let pb = progress.bar(s.kill_bytes, "writer child (to be killed)", "B/s");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lines = BufReader::new(stdout).lines();
    let acked = loop {
        let line = match lines.next() {
            Some(Ok(l)) => l,
            Some(Err(e)) => return Err(e).context("reading the writer child's output failed"),
            None => bail!("the writer child exited before it was killed; see its messages above"),
        };
        if let Some(rest) = line.strip_prefix("WROTE ") {
            let mut it = rest
                .split_whitespace()
                .map(|v| v.parse::<u64>().unwrap_or(0));
            let (records, bytes) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
            pb.set_position(bytes.min(s.kill_bytes));
            if bytes >= s.kill_bytes {
                break records;
            }
        }
        if Instant::now() > deadline {
            bail!("the writer child did not write {} within 2 minutes; the disk is too slow for --kill-bytes", fmt_bytes(s.kill_bytes));
        }
    };
    // std's kill() is SIGKILL on Unix: no destructor, no flush, no checkpoint.
    child
        .0
        .kill()
        .context("could not SIGKILL the writer child")?;
    let status = child.0.wait().context("could not reap the writer child")?;
    pb.finish_and_clear();
    tracing::info!("writer child killed ({status}) after {acked} acknowledged records");

    // The child opened its store with the same buffer settings as `config`.
    let max_unwritten = config.write_behind_max_uncommitted();
    let pb = progress.spinner("reopen after kill -9");
    let start = Instant::now();
    let store = open_store(config, rt)?;
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    let found: u64 = (0..s.async_tasks as i32)
        .map(|q| (store.max_offset(KILL_TOPIC, q) - store.min_offset(KILL_TOPIC, q)).max(0) as u64)
        .sum();
    let rep = store.recovery_report();
    let allowed = if s.direct_writes {
        max_unwritten / record_size.max(1) + s.async_tasks as u64
    } else {
        0
    };
    let out = Reopen {
        log_bytes: (store.max_phys_offset() - store.min_phys_offset()).max(0) as u64,
        seconds: elapsed.as_secs_f64(),
        clean_shutdown: rep.clean_shutdown,
        scanned_bytes: rep.scanned_bytes,
        truncated_bytes: rep.truncated_bytes,
        corrupt_records: rep.corrupt.len(),
        rebuilt_cq_entries: rep.rebuilt_cq_entries,
        writer_acked_records: Some(acked),
        writer_records_found: Some(found),
        writer_loss_allowed: Some(allowed),
    };
    store
        .shutdown()
        .context("clean shutdown after the kill -9 reopen failed")?;
    if found + allowed < acked {
        bail!(
            "after kill -9 the store holds {found} of the {acked} records the writer had acknowledged, \
             more than the {allowed} the write-behind buffer may lose; the store lost acknowledged data \
             (a bug: report it with this output)"
        );
    }
    Ok(out)
}

fn verdicts(
    disk: &DiskBaseline,
    asyncs: &[AsyncCase],
    durable: &[DurableCase],
    syncs: &[SyncCase],
    reads: &[ReadCase],
    clean: Option<&Reopen>,
    killed: Option<&Reopen>,
) -> Vec<Verdict> {
    let not_measured = |what: &str| Some(format!("not measured: {what}"));
    let put = |size: u64| {
        asyncs
            .iter()
            .find(|c| c.api == "put" && c.record_size == size)
    };
    let mut v = Vec::new();

    let c4k = put(4096);
    v.push(
        Verdict::at_least(
            "async_put_4KiB_mb_s_ratio_to_disk",
            c4k.map_or(f64::NAN, |c| c.ratio_to_disk),
            0.70,
            "x disk",
        )
        .with_note(if c4k.is_none() {
            not_measured("--sizes lacks 4096")
        } else {
            Some(format!(
                "disk {:.0} MB/s ({}); appends land in the page cache; until flushed to disk: {}",
                disk.seq_write_mb_s,
                disk.tool,
                durable.iter().find(|d| d.record_size == 4096).map_or_else(
                    || "?".to_string(),
                    |d| format!("{:.2} x disk", d.ratio_to_disk)
                )
            ))
        }),
    );
    let c128 = put(128);
    v.push(
        Verdict::at_least(
            "async_put_128B_records_per_s",
            c128.map_or(f64::NAN, |c| c.records_per_s),
            1_000_000.0,
            "records/s",
        )
        .with_note(
            c128.is_none()
                .then(|| "not measured: --sizes lacks 128".to_string()),
        ),
    );
    let s64 = syncs
        .iter()
        .find(|c| c.concurrency == 64)
        .or_else(|| syncs.iter().max_by_key(|c| c.concurrency));
    v.push(
        Verdict::at_least(
            "sync_64_appenders_ratio_to_fdatasync",
            s64.map_or(f64::NAN, |c| c.ratio_to_fdatasync),
            30.0,
            "x fdatasync",
        )
        .with_note(match s64 {
            Some(c) if c.concurrency != 64 => {
                Some(format!("measured with {} appenders, not 64", c.concurrency))
            }
            Some(c) => Some(format!(
                "single writer {:.0} fdatasync/s; {} x the store's 1-appender rate",
                disk.fdatasync_per_s,
                c.ratio_to_one_appender
                    .map_or_else(|| "?".to_string(), |r| format!("{r:.1}"))
            )),
            None => not_measured("no sync case"),
        }),
    );
    let read = reads.iter().max_by_key(|r| r.record_size);
    v.push(
        Verdict::at_least(
            "read_gb_s",
            read.map_or(f64::NAN, |r| r.gb_per_s),
            2.0,
            "GB/s",
        )
        .with_note(read.map(|r| format!("{}-byte records", r.record_size))),
    );
    let scale_note = |r: Option<&Reopen>| match r {
        Some(r) if r.log_bytes < 2 << 30 => Some(format!(
            "log is {}, smaller than the 2 GiB the target is stated for",
            fmt_bytes(r.log_bytes)
        )),
        Some(r) => Some(format!("log is {}", fmt_bytes(r.log_bytes))),
        None => not_measured("no async case"),
    };
    v.push(
        Verdict::below(
            "reopen_clean_seconds",
            clean.map_or(f64::NAN, |r| r.seconds),
            1.0,
            "s",
        )
        .with_note(scale_note(clean)),
    );
    v.push(
        Verdict::below(
            "reopen_after_kill9_seconds",
            killed.map_or(f64::NAN, |r| r.seconds),
            5.0,
            "s",
        )
        .with_note(scale_note(killed)),
    );
    v
}

fn render_tables(s: &Summary) -> String {
    let mut out = String::new();
    let d = &s.disk;
    out.push_str(&format!(
        "\ncourier bench store — {}\n\ndisk ({}{}): sequential write {:.0} MB/s ({} in {:.2} s); \
         4 KiB write+fdatasync {:.0}/s\n\n",
        s.dir,
        d.tool,
        if d.direct_io {
            ", O_DIRECT"
        } else {
            ", buffered"
        },
        d.seq_write_mb_s,
        fmt_bytes(d.seq_write_bytes),
        d.seq_write_seconds,
        d.fdatasync_per_s
    ));
    let mut t = Table::new(
        "ASYNC_FLUSH appends",
        &[
            "size",
            "api",
            "records",
            "seconds",
            "records/s",
            "MB/s",
            "x disk",
            "disk busy",
            "RssAnon",
        ],
    );
    for c in &s.async_append {
        t.row(vec![
            fmt_bytes(c.record_size),
            if c.api == "put" {
                format!("put x{}", c.tasks)
            } else {
                format!("batch {} x{}", c.batch_size, c.tasks)
            },
            fmt_count(c.records as f64),
            format!("{:.2}", c.seconds),
            fmt_count(c.records_per_s),
            format!("{:.0}", c.mb_per_s),
            format!("{:.2}", c.ratio_to_disk),
            c.disk_busy_share
                .map(|b| format!("{:.0} %", b * 100.0))
                .unwrap_or_else(|| "-".into()),
            c.rss_after
                .map(|r| fmt_bytes(r.rss_anon_kib * 1024))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    out.push_str(&t.render());
    let mut t = Table::new(
        "\nASYNC_FLUSH until flushed to disk (both phases per size)",
        &["size", "bytes", "seconds", "MB/s", "x disk", "flush wait s"],
    );
    for d in &s.async_durable {
        t.row(vec![
            fmt_bytes(d.record_size),
            fmt_bytes(d.body_bytes),
            format!("{:.2}", d.seconds),
            format!("{:.0}", d.mb_per_s),
            format!("{:.2}", d.ratio_to_disk),
            format!("{:.2}", d.flush_wait_seconds),
        ]);
    }
    out.push_str(&t.render());
    let mut t = Table::new(
        "\nSYNC_FLUSH appends (group commit)",
        &[
            "appenders",
            "records/s",
            "x fdatasync",
            "x 1 appender",
            "p50 us",
            "p99 us",
            "max us",
            "not ok",
        ],
    );
    for c in &s.sync_append {
        t.row(vec![
            c.concurrency.to_string(),
            fmt_count(c.records_per_s),
            format!("{:.1}", c.ratio_to_fdatasync),
            c.ratio_to_one_appender
                .map_or_else(|| "-".to_string(), |r| format!("{r:.1}")),
            c.latency.p50_us.to_string(),
            c.latency.p99_us.to_string(),
            c.latency.max_us.to_string(),
            c.not_ok.to_string(),
        ]);
    }
    out.push_str(&t.render());
    let mut t = Table::new(
        "\nread back (page cache)",
        &["size", "records", "bytes", "GB/s"],
    );
    for r in &s.read {
        t.row(vec![
            fmt_bytes(r.record_size),
            fmt_count(r.records as f64),
            fmt_bytes(r.bytes),
            format!("{:.2}", r.gb_per_s),
        ]);
    }
    out.push_str(&t.render());
    let mut t = Table::new(
        "\nreopen",
        &[
            "case",
            "log",
            "seconds",
            "clean",
            "scanned",
            "truncated",
            "corrupt",
        ],
    );
    for (name, r) in [
        ("clean shutdown", &s.reopen_clean),
        ("after kill -9", &s.reopen_after_kill9),
    ] {
        if let Some(r) = r {
            t.row(vec![
                name.into(),
                fmt_bytes(r.log_bytes),
                format!("{:.3}", r.seconds),
                r.clean_shutdown.to_string(),
                fmt_bytes(r.scanned_bytes),
                fmt_bytes(r.truncated_bytes),
                r.corrupt_records.to_string(),
            ]);
        }
    }
    out.push_str(&t.render());
    if let Some(m) = s.memory.after_async {
        out.push_str(&format!(
            "\nmemory after writing {}: RssAnon {}, RssFile {}\n",
            fmt_bytes(s.memory.bytes_written_before),
            fmt_bytes(m.rss_anon_kib * 1024),
            fmt_bytes(m.rss_file_kib * 1024)
        ));
    }
    let mut t = Table::new(
        "\ntargets",
        &["target", "measured", "goal", "verdict", "note"],
    );
    for v in &s.targets {
        t.row(vec![
            v.name.clone(),
            format!("{:.3} {}", v.measured, v.unit),
            format!("{} {}", v.comparison, v.target),
            if v.pass { "PASS" } else { "FAIL" }.into(),
            v.note.clone().unwrap_or_default(),
        ]);
    }
    out.push_str(&t.render());
    let load = |l: Option<f64>| l.map_or_else(|| "?".to_string(), |v| format!("{v:.2}"));
    out.push_str(&format!(
        "\ntotal {:.1} s on {} CPUs; 1-minute load average {} at start, {} at end\n",
        s.total_seconds,
        s.machine.cpus,
        load(s.machine.loadavg_1m_at_start),
        load(s.machine.loadavg_1m_at_end)
    ));
    out
}

/// Writes a line to stdout and flushes it at once; the parent reads these as they come.
pub fn say(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
