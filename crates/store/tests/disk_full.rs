//! Running out of disk for real: the store lives on a small tmpfs which is then filled with ballast
//! files. When a new segment cannot be created the put fails with CreateMappedFileFailed, nothing
//! half-written becomes visible, offsets do not move; once space is freed appends succeed again and
//! queue offsets continue densely. Skipped (with a message) where tmpfs cannot be mounted.

mod common_util;

use std::path::{Path, PathBuf};
use std::process::Command;

use common_util::{msg, small_config};
use courier_store::{decode_record, FlushDiskType, MessageStore, PutStatus};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<(tempfile::TempDir, Tmpfs)> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            let p = dir.path().to_path_buf();
            Some((dir, Tmpfs(p)))
        } else {
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem with 16 KiB ballast files until ENOSPC; returns them.
fn fill(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let chunk = vec![0x5Au8; 16 * 1024];
    for i in 0.. {
        let p = dir.join(format!("ballast-{i}"));
        if std::fs::write(&p, &chunk).is_err() {
            let _ = std::fs::remove_file(&p);
            break;
        }
        files.push(p);
    }
    files
}

#[test]
fn enospc_at_segment_creation_fails_cleanly_and_recovers() {
    enospc_case(FlushDiskType::AsyncFlush);
}

/// The same with SYNC_FLUSH, whose segments are written with pwrite and pre-faulted by readahead.
#[test]
fn enospc_with_sync_flush_fails_cleanly_and_recovers() {
    enospc_case(FlushDiskType::SyncFlush);
}

fn enospc_case(flush: FlushDiskType) {
    let Some((_guard_dir, fs)) = Tmpfs::mount("2m") else {
        eprintln!("SKIPPED disk_full test: cannot mount tmpfs here (needs root / CAP_SYS_ADMIN)");
        return;
    };
    let root = fs.0.join("store");
    let mut cfg = small_config(&root);
    cfg.commitlog_file_size = 256 * 1024;
    cfg.cq_entries_per_file = 1024;
    cfg.flush_disk_type = flush;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = MessageStore::open(cfg.clone()).unwrap();
    // The first put creates the queue's CQ file while there is still room.
    let first = rt.block_on(store.put(msg("D", 0, vec![0; 4000], "", "")));
    assert_eq!(first.status, PutStatus::PutOk);
    let ballast = fill(&fs.0);
    assert!(!ballast.is_empty());

    let mut ok = 1i64;
    let failure = loop {
        let r = rt.block_on(store.put(msg("D", 0, vec![ok as u8; 4000], "", "")));
        if r.status != PutStatus::PutOk {
            break r;
        }
        ok += 1;
        assert!(ok < 2000, "the disk never filled up");
    };
    assert_eq!(
        failure.status,
        PutStatus::CreateMappedFileFailed,
        "{failure:?}"
    );
    assert!(
        failure.reason.as_deref().unwrap_or("").contains("segment"),
        "{failure:?}"
    );
    let end = store.max_phys_offset();
    assert_eq!(store.max_offset("D", 0), ok);
    // Still full: fails again, still nothing moves.
    let again = rt.block_on(store.put(msg("D", 0, vec![1; 4000], "", "")));
    assert_eq!(again.status, PutStatus::CreateMappedFileFailed);
    assert_eq!(store.max_phys_offset(), end);
    assert_eq!(store.max_offset("D", 0), ok);
    // Everything acknowledged is readable.
    let g = store.get_messages("D", 0, ok - 1, 1, 1 << 20, None);
    assert_eq!(
        decode_record(&g.messages[0]).unwrap().body()[0],
        (ok - 1) as u8
    );

    for b in &ballast {
        std::fs::remove_file(b).unwrap();
    }
    let r = rt.block_on(store.put(msg("D", 0, vec![ok as u8; 4000], "", "")));
    assert_eq!(r.status, PutStatus::PutOk, "{r:?}");
    assert_eq!(r.queue_offset, ok);
    assert_eq!(
        r.phys_offset as u64 % cfg.commitlog_file_size,
        0,
        "continues in a new segment"
    );
    store.shutdown().unwrap();
    drop(store);

    let store = MessageStore::open(cfg).unwrap();
    assert!(store.recovery_report().clean_shutdown);
    assert_eq!(store.max_offset("D", 0), ok + 1);
    for o in 0..=ok {
        let g = store.get_messages("D", 0, o, 1, 1 << 20, None);
        assert_eq!(decode_record(&g.messages[0]).unwrap().body()[0], o as u8);
    }
    store.shutdown().unwrap();
}
