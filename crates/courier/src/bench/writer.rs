//! `courier bench store-writer` (hidden): the child process `courier bench store` SIGKILLs to
//! measure recovery after a real crash. It appends ASYNC_FLUSH records to `KILL_TOPIC` from a few
//! tasks, one queue per task (through the write-behind buffer with `--direct-writes`, like the
//! parent's stores), and reports progress on stdout as `WROTE <records> <bytes>` lines,
//! counting only puts the store answered PutOk. It exits on its own when its stdin closes, so a
//! parent that dies first never leaves it writing forever.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use courier_store::{FlushDiskType, MessageStore, MessageToStore, PutStatus, StoreConfig};

use super::store::{say, KILL_TOPIC};
use crate::cli::parse_size;

/// Flags of the hidden writer subcommand.
#[derive(Debug, Clone, Args)]
pub struct StoreWriterArgs {
    /// Store root directory (created or reopened).
    #[arg(long)]
    pub dir: PathBuf,
    /// CommitLog segment size; must match the store's existing segments.
    #[arg(long, value_parser = parse_size, default_value = "1G")]
    pub segment_size: u64,
    /// Body size of each record.
    #[arg(long, value_parser = parse_size, default_value = "4096")]
    pub record_size: u64,
    /// Concurrent appender tasks.
    #[arg(long, default_value_t = 4)]
    pub tasks: usize,
    /// Write through the O_DIRECT write-behind buffer instead of copying into the mapping.
    #[arg(long)]
    pub direct_writes: bool,
}

pub fn run(args: StoreWriterArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    if args.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    std::thread::spawn(|| {
        // Any read result means the parent closed the pipe or died: stop writing.
        let mut sink = [0u8; 64];
        while let Ok(n) = std::io::stdin().read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        std::process::exit(0);
    });
    let mut config = StoreConfig::new(&args.dir);
    config.commitlog_file_size = args.segment_size;
    config.flush_disk_type = FlushDiskType::AsyncFlush;
    config.direct_write = args.direct_writes;
    let store = {
        let _guard = rt.enter();
        Arc::new(MessageStore::open(config).with_context(|| {
            format!(
                "the writer could not open the store in {}",
                args.dir.display()
            )
        })?)
    };
    say("READY")?;
    let records = Arc::new(AtomicU64::new(0));
    // A plain thread, not a task: appenders that never wait would starve a tokio timer.
    let counted = records.clone();
    let size = args.record_size;
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(20));
        let n = counted.load(Ordering::Acquire);
        if say(&format!("WROTE {n} {}", n * size)).is_err() {
            std::process::exit(0);
        }
    });
    let body = Bytes::from(vec![0x5Au8; args.record_size as usize]);
    rt.block_on(async {
        for t in 0..args.tasks {
            let (store, records, body) = (store.clone(), records.clone(), body.clone());
            tokio::spawn(async move {
                loop {
                    let r = store
                        .put(MessageToStore::new(KILL_TOPIC, t as i32, body.clone()))
                        .await;
                    if !matches!(r.status, PutStatus::PutOk) {
                        tracing::error!("writer put failed: {:?}", r.status);
                        std::process::exit(3);
                    }
                    records.fetch_add(1, Ordering::Release);
                }
            });
        }
        std::future::pending::<anyhow::Result<()>>().await
    })
}
