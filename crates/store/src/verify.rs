//! Online scrub of the CommitLog (`MessageStore::verify`).
//!
//! A clean open trusts the checkpoint and reads only the tail record, so damage to the middle of
//! a cleanly closed log is not found at open. `verify` walks every published record of every
//! retained segment, checks it exactly as crash recovery does (magic, sizes, PHYSICALOFFSET, body
//! CRC) and quarantines each damaged range it finds (the same `corrupt` file and read-skipping as
//! recovery holes), resynchronising at the next self-consistent record within one maximum record
//! length or at the next segment. It never modifies the CommitLog. It is CPU- and I/O-heavy: call
//! it from a blocking context (e.g. `tokio::task::spawn_blocking`). With direct writes it stops
//! where the write-behind buffer begins (the newest few MiB are not in the files yet).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::mapped_file::MappedFile;
use crate::message::{
    be_i64, be_u32, decode_record_with, peek_head, RecordHead, MAGIC_V1, MAGIC_V2, POS_PHYS_OFFSET,
};
use crate::recovery::CorruptRecord;
use crate::store::Inner;

fn valid_at(seg: &MappedFile, off: u64, limit: u64) -> Option<u64> {
    let buf = seg.get(off, limit.checked_sub(off)? as usize)?;
    if buf.len() < 91 {
        return None;
    }
    let magic = be_u32(buf, 4);
    if (magic != MAGIC_V1 && magic != MAGIC_V2)
        || be_i64(buf, POS_PHYS_OFFSET) != (seg.start() + off) as i64
    {
        return None;
    }
    decode_record_with(buf, true)
        .ok()
        .map(|m| m.total_size() as u64)
}

impl Inner {
    pub(crate) fn verify(&self) -> Vec<CorruptRecord> {
        // Records still only in the write-behind buffer are checked on a later call.
        let end = self.cl.max_phys().min(self.cl.file_floor());
        let segs: Vec<Arc<MappedFile>> = self.cl.segments.read().clone();
        let window = self.cfg.max_message_size as u64 + 64 * 1024 + 512;
        let mut found = Vec::new();
        for seg in segs.iter().filter(|s| s.start() < end) {
            // Only bytes below the published end are immutable; stop there.
            let limit = end.min(seg.end()) - seg.start();
            let mut off = 0u64;
            while off < limit {
                let pos = seg.start() + off;
                let hole_end = self
                    .quarantine
                    .read()
                    .range(..=pos)
                    .next_back()
                    .map(|(_, (e, _))| *e);
                if let Some(e) = hole_end.filter(|e| *e > pos) {
                    off = e - seg.start();
                    continue;
                }
                let Some(head) = seg.get(off, 8).map(peek_head) else {
                    break;
                };
                let reason = match head {
                    RecordHead::Blank(sz) if off + sz as u64 == seg.len() => break,
                    RecordHead::Message(sz) if off + sz as u64 <= limit => {
                        match decode_record_with(seg.get(off, sz as usize).unwrap_or(&[]), true) {
                            Ok(m) if m.phys_offset() == pos as i64 => {
                                off += sz as u64;
                                continue;
                            }
                            Ok(m) => format!(
                                "PHYSICALOFFSET field {} does not match position",
                                m.phys_offset()
                            ),
                            Err(e) => e.to_string(),
                        }
                    }
                    other => format!("bad record header {other:?}"),
                };
                let resume = ((off + 1)..(off + window).min(limit))
                    .find(|p| valid_at(seg, *p, limit).is_some())
                    .unwrap_or(seg.len());
                tracing::warn!(offset = pos, "verify: corrupt commitlog record: {reason}");
                found.push(CorruptRecord {
                    offset: pos as i64,
                    resume_offset: (seg.start() + resume) as i64,
                    reason,
                });
                off = resume;
            }
        }
        if !found.is_empty() {
            let mut q = self.quarantine.write();
            for h in &found {
                q.insert(h.offset as u64, (h.resume_offset as u64, h.reason.clone()));
            }
            self.has_quarantine.store(true, Ordering::Release);
            if let Err(e) = crate::store::save_quarantine(&self.root.join("corrupt"), &q) {
                tracing::error!("cannot persist quarantined ranges: {e}");
            }
        }
        found
    }
}
