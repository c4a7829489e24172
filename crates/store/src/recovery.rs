//! Startup recovery of the CommitLog and the ConsumeQueues.
//!
//! Clean shutdown (no `abort`, valid checkpoint with a clean end): trust `cleanEndOffset`, verify
//! only the tail record (CRC) and that nothing follows it, drop empty spare segments after it.
//!
//! Crash (or a failed clean check): scan from the start of the segment holding
//! min(checkpoint flushed offset, checkpoint logics offset) (or from the first segment without a
//! checkpoint), validating every record (magic, size, PHYSICALOFFSET == its position, body CRC when
//! `check_crc_on_recover`). Valid records are (re)dispatched to their ConsumeQueue entry. At an
//! invalid record the scanner looks for the next valid record: in the same segment (the smallest CQ
//! entry pointing past it, or a byte-wise search over one maximum record length), or at the start of
//! the next segment. If one exists the bad range is a *hole*: it is reported in
//! `RecoveryReport::corrupt`, remembered in the `corrupt` quarantine file and the scan continues
//! after it (acknowledged records after a damaged one are kept — unlike RocketMQ, which truncates).
//! If none exists the bad bytes are a torn tail: the log ends there, the rest of that segment is
//! zeroed and later segments are deleted.
//!
//! The checkpoint says the ConsumeQueue entries of every record before the scan start are on disk,
//! so each queue's first record after it must lie within the queue's files. One past them means
//! the queue lost files (deleted, or cut short by a hole) whose records the scan would not reach:
//! the scan then starts over from the first segment.
//!
//! Then for every queue: entries pointing at or past the log end are zeroed (max moves back), and
//! for queues the scan touched, never-written entries between max and the first rebuilt offset or
//! the end of what the queue's files held at open, whichever is lower, are filled with the LOST
//! marker, so queue offsets stay dense and the next open finds the same max.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checkpoint::Checkpoint;
use crate::consume_queue::{ConsumeQueue, CqEntry, LOST_ENTRY_PHYS};
use crate::error::StoreError;
use crate::mapped_file::MappedFile;
use crate::message::{
    be_i64, be_u32, decode_record_with, peek_head, RecordHead, MAGIC_V1, MAGIC_V2, POS_PHYS_OFFSET,
};

/// A record found damaged during recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    /// CommitLog offset where the damaged bytes start.
    pub offset: i64,
    /// Offset where valid data resumes (end of the quarantined hole).
    pub resume_offset: i64,
    /// What was wrong.
    pub reason: String,
}

/// What `MessageStore::open` found and did.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// The previous run shut down cleanly and its checkpoint was trusted.
    pub clean_shutdown: bool,
    /// CommitLog bytes read and validated.
    pub scanned_bytes: u64,
    /// Bytes of a torn/invalid tail discarded (as far as its header claimed, at least 1).
    pub truncated_bytes: u64,
    /// Damaged records in the middle of the log (kept as quarantined holes).
    pub corrupt: Vec<CorruptRecord>,
    /// ConsumeQueue entries written or rewritten from the CommitLog.
    pub rebuilt_cq_entries: u64,
    /// ConsumeQueue entries removed because they pointed past the log end.
    pub truncated_cq_entries: u64,
    /// ConsumeQueue entries marked LOST (their record was destroyed).
    pub lost_cq_entries: u64,
    /// Segment files removed because they lay past the log end.
    pub deleted_segments: u32,
    /// Segment files that were shorter than the segment size and were zero-extended.
    pub repaired_segments: u32,
    /// Queues with a file found shorter than a queue file (zero-extended); any makes recovery
    /// rebuild the queues from the first segment.
    pub repaired_cq_files: u32,
    /// The ConsumeQueues did not hold what they should (a queue's newest files deleted, a file
    /// cut short): their entries did not add up to the count of the last clean shutdown, or a
    /// crash scan met a queue's first record past the end of that queue's files. Recovery then
    /// rebuilt the queues from the first segment.
    pub missing_cq_entries: bool,
    /// CommitLog end after recovery.
    pub log_end: i64,
    /// Wall time of recovery.
    pub elapsed: Duration,
}

pub(crate) type CqTable = HashMap<String, HashMap<i32, Arc<ConsumeQueue>>>;

pub(crate) struct Recovered {
    pub log_end: u64,
    /// Start of the last record (None for an empty log).
    pub tail_start: Option<u64>,
    pub last_store_ts: i64,
    pub holes: Vec<CorruptRecord>,
    /// Where crash recovery started scanning (for flushing what it touched).
    pub scan_start: Option<u64>,
}

pub(crate) struct Recovery<'a> {
    pub segments: &'a mut Vec<Arc<MappedFile>>,
    pub cqs: &'a mut CqTable,
    pub cq_root: &'a Path,
    pub cq_entries_per_file: u32,
    pub check_crc: bool,
    pub max_record_len: u64,
    pub report: RecoveryReport,
}

/// Queue offsets the crash scan saw, per topic and queue: [first, max).
#[derive(Default, Clone, Copy)]
struct Touched {
    first: i64,
    max: i64,
}

type TouchedMap = HashMap<String, HashMap<i32, Touched>>;

impl Recovery<'_> {
    /// `repaired_from`: start of the first segment that had to be zero-extended (scan from there).
    pub fn run(
        &mut self,
        crashed: bool,
        ck: Option<Checkpoint>,
        repaired_from: Option<u64>,
    ) -> Result<Recovered, StoreError> {
        let t0 = Instant::now();
        let out = match ck {
            Some(ck) if !crashed && repaired_from.is_none() && ck.clean_end_offset >= 0 => {
                match self.clean(&ck) {
                    Some(r) => {
                        self.report.clean_shutdown = true;
                        r
                    }
                    None => {
                        tracing::warn!(
                            "clean-shutdown checkpoint does not match the commitlog; scanning"
                        );
                        // The checkpoint's offsets cannot be trusted past the tail record it names.
                        let tail = ck.clean_tail_offset.max(0) as u64;
                        self.scan(Some(ck), Some(tail))?
                    }
                }
            }
            _ => self.scan(ck, repaired_from)?,
        };
        self.report.log_end = out.log_end as i64;
        self.report.elapsed = t0.elapsed();
        Ok(out)
    }

    fn seg_index(&self, phys: u64) -> Option<usize> {
        let first = self.segments.first()?;
        if phys < first.start() {
            return None;
        }
        let i = ((phys - first.start()) / first.len()) as usize;
        (i < self.segments.len()).then_some(i)
    }

    fn delete_segments_from(&mut self, idx: usize) {
        while self.segments.len() > idx {
            if let Some(s) = self.segments.pop() {
                let _ = std::fs::remove_file(s.path());
                self.report.deleted_segments += 1;
            }
        }
    }

    fn clean(&mut self, ck: &Checkpoint) -> Option<Recovered> {
        let end = ck.clean_end_offset as u64;
        let mut last_ts = ck.physic_msg_timestamp;
        let tail_start = (ck.clean_tail_offset >= 0).then_some(ck.clean_tail_offset as u64);
        if let Some(t) = tail_start {
            let i = self.seg_index(t)?;
            let seg = &self.segments[i];
            let off = t - seg.start();
            let buf = seg.get(off, (seg.len() - off) as usize)?;
            let m = decode_record_with(buf, true).ok()?;
            if m.phys_offset() != t as i64 || t + m.total_size() as u64 > end {
                return None;
            }
            self.report.scanned_bytes += m.total_size() as u64;
            last_ts = m.store_timestamp();
        }
        // Nothing may follow the end in its segment; later segments must be unused spares.
        let keep = match self.seg_index(end) {
            Some(i) => {
                let seg = &self.segments[i];
                if peek_head(seg.get(end - seg.start(), 8)?) != RecordHead::End {
                    return None;
                }
                i + 1
            }
            None => {
                if self.segments.last().is_some_and(|s| s.end() != end) && !self.segments.is_empty()
                {
                    return None;
                }
                self.segments.len()
            }
        };
        for s in &self.segments[keep..] {
            if peek_head(s.get(0, 8)?) != RecordHead::End {
                return None;
            }
        }
        // The check above reads only the header right at the end. Bytes further on (damage) would
        // sit right after the next appends, and the next clean open would find them there and
        // scan; so the rest of the end's segment is zeroed, as a torn tail is (§7.3).
        if let Some(i) = self.seg_index(end).filter(|i| *i < keep) {
            let seg = &self.segments[i];
            if let Err(e) = seg.zero_from(end - seg.start()) {
                tracing::warn!(error = %e, "cannot zero the commitlog past its end; scanning");
                return None;
            }
        }
        self.delete_segments_from(keep);
        self.finish_queues(end, &HashMap::new());
        Some(Recovered {
            log_end: end,
            tail_start,
            last_store_ts: last_ts,
            holes: Vec::new(),
            scan_start: None,
        })
    }

    fn cq(&mut self, topic: &str, qid: i32) -> Result<Arc<ConsumeQueue>, StoreError> {
        if let Some(q) = self.cqs.get(topic).and_then(|m| m.get(&qid)) {
            return Ok(Arc::clone(q));
        }
        let q = ConsumeQueue::open(self.cq_root, topic, qid, self.cq_entries_per_file)
            .map_err(|e| StoreError::io(self.cq_root.join(topic), e))?;
        let q = Arc::new(q);
        self.cqs
            .entry(topic.to_string())
            .or_default()
            .insert(qid, Arc::clone(&q));
        Ok(q)
    }

    /// A CRC-valid record whose header fields cannot be right (the CRC covers only the body): a
    /// topic that is not a safe directory name, a negative queue id, or a queue offset that is
    /// negative, repeats or goes backwards within its queue, or is absurdly far ahead. Such a
    /// record is treated like any other damaged record.
    fn implausible(
        &self,
        m: &crate::message::StoredMessage<'_>,
        touched: &TouchedMap,
    ) -> Option<String> {
        if !m.is_dispatched() {
            return None;
        }
        if !crate::store::valid_topic(m.topic()) {
            return Some(format!("implausible topic {:?}", m.topic()));
        }
        if m.queue_id() < 0 {
            return Some(format!("implausible queue id {}", m.queue_id()));
        }
        let qo = m.queue_offset();
        let seen = touched
            .get(m.topic())
            .and_then(|t| t.get(&m.queue_id()))
            .copied();
        let cq_max = self
            .cqs
            .get(m.topic())
            .and_then(|t| t.get(&m.queue_id()))
            .map(|q| q.max_offset())
            .unwrap_or(0);
        let base = seen.map(|t| t.max).unwrap_or(0).max(cq_max);
        // No queue can have more records than the whole log could hold (91-byte minimum).
        let room = self.segments.len() as i64
            * self.segments.first().map(|s| s.len() as i64).unwrap_or(0)
            / 91;
        if qo < 0 || qo > base + room {
            return Some(format!("implausible queue offset {qo}"));
        }
        match seen {
            Some(t) if qo < t.max => Some(format!(
                "queue offset {qo} repeats an earlier one (next is {})",
                t.max
            )),
            _ => None,
        }
    }

    /// Is there a valid record at `off` of `seg`?
    fn valid_at(&self, seg: &MappedFile, off: u64) -> Option<u64> {
        let buf = seg.get(off, (seg.len() - off) as usize)?;
        if buf.len() < 91 {
            return None;
        }
        let magic = be_u32(buf, 4);
        if (magic != MAGIC_V1 && magic != MAGIC_V2)
            || be_i64(buf, POS_PHYS_OFFSET) != (seg.start() + off) as i64
        {
            return None;
        }
        decode_record_with(buf, self.check_crc)
            .ok()
            .map(|m| m.total_size() as u64)
    }

    /// Next valid record strictly after `off` within `seg`.
    fn resync(&self, seg: &MappedFile, off: u64) -> Option<u64> {
        let pos = seg.start() + off;
        // Candidate 1: the smallest ConsumeQueue entry pointing past the bad spot in this segment.
        let mut best: Option<u64> = None;
        for q in self.cqs.values().flat_map(|m| m.values()) {
            let (mut lo, mut hi) = (q.min_offset(), q.max_offset());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match q.raw_entry(mid) {
                    Some(e)
                        if e.size > 0 && e.phys != LOST_ENTRY_PHYS && (e.phys as u64) <= pos =>
                    {
                        lo = mid + 1
                    }
                    _ => hi = mid,
                }
            }
            if let Some(e) = q
                .raw_entry(lo)
                .filter(|e| e.size > 0 && e.phys != LOST_ENTRY_PHYS)
            {
                let p = e.phys as u64;
                if p > pos && p < seg.end() && best.is_none_or(|b| p < b) {
                    best = Some(p);
                }
            }
        }
        // Candidate 2: byte-wise search for a self-consistent record within one max record length.
        let window_end = (off + self.max_record_len).min(seg.len().saturating_sub(91));
        let mut p = off + 1;
        while p < window_end && best.is_none_or(|b| seg.start() + p < b) {
            if let Some(b) = seg.get(p + 4, 4) {
                let m = be_u32(b, 0);
                if (m == MAGIC_V1 || m == MAGIC_V2) && self.valid_at(seg, p).is_some() {
                    return Some(p);
                }
            }
            p += 1;
        }
        let b = best?;
        self.valid_at(seg, b - seg.start()).map(|_| b - seg.start())
    }

    /// Scans from the checkpoint's safe point, or from the start of the segment holding
    /// `not_after` if that is earlier; from the first segment if the queues turn out to miss
    /// entries of records before that point.
    fn scan(
        &mut self,
        ck: Option<Checkpoint>,
        not_after: Option<u64>,
    ) -> Result<Recovered, StoreError> {
        let mut not_after = not_after;
        loop {
            if let Some(r) = self.scan_once(ck, not_after)? {
                return Ok(r);
            }
            // A scan from the first segment never gives up, so this goes round once more at most.
            self.report.missing_cq_entries = true;
            not_after = self.segments.first().map(|s| s.start());
        }
    }

    /// One scan (see `scan`). None when it did not start at the first segment and a queue turns
    /// out to miss entries of records before its start: nothing is truncated or finished by
    /// then, and the entries it rewrote are right and stay.
    fn scan_once(
        &mut self,
        ck: Option<Checkpoint>,
        not_after: Option<u64>,
    ) -> Result<Option<Recovered>, StoreError> {
        let mut touched: TouchedMap = HashMap::new();
        let mut holes = Vec::new();
        let Some(first) = self.segments.first().map(|s| s.start()) else {
            self.finish_queues(0, &touched);
            return Ok(Some(Recovered {
                log_end: 0,
                tail_start: None,
                last_store_ts: 0,
                holes,
                scan_start: None,
            }));
        };
        // Everything below min(flushed, logics) is durable in the CommitLog and its CQ entries are
        // flushed, and that offset is a record boundary (both are CommitLog ends at some moment), so
        // the scan can begin there. If the bytes there do not look like a record start (or the end
        // of data), fall back to the start of its segment.
        let (start_idx, mut first_off) = match ck {
            Some(ck) => {
                let mut safe = ck
                    .flushed_offset
                    .min(ck.logics_phy_offset)
                    .max(first as i64) as u64;
                if let Some(limit) = not_after.filter(|l| *l < safe) {
                    safe = self
                        .seg_index(limit)
                        .map(|i| self.segments[i].start())
                        .unwrap_or(first);
                }
                match self.seg_index(safe) {
                    Some(i) => {
                        let seg = &self.segments[i];
                        let off = safe - seg.start();
                        let plausible = match seg.get(off, 8).map(peek_head) {
                            Some(RecordHead::End) => true,
                            Some(RecordHead::Message(_)) => self.valid_at(seg, off).is_some(),
                            _ => false,
                        };
                        (i, if plausible { off } else { 0 })
                    }
                    None => (self.segments.len() - 1, 0),
                }
            }
            None => (0, 0),
        };
        let scan_start = self.segments[start_idx].start() + first_off;
        let from_first = start_idx == 0 && first_off == 0;
        let mut tail_start = None;
        let mut last_ts = 0;
        let mut i = start_idx;
        let mut log_end = self.segments.last().map(|s| s.end()).unwrap_or(0);
        'segs: while i < self.segments.len() {
            let seg = Arc::clone(&self.segments[i]);
            let size = seg.len();
            let mut off = std::mem::take(&mut first_off);
            loop {
                let pos = seg.start() + off;
                let Some(head_bytes) = seg.get(off, 8) else {
                    i += 1;
                    continue 'segs;
                };
                let head = peek_head(head_bytes);
                let reason = match head {
                    RecordHead::Blank(sz) if off + sz as u64 == size => {
                        self.report.scanned_bytes += sz as u64;
                        i += 1;
                        continue 'segs;
                    }
                    RecordHead::Message(sz) if off + sz as u64 <= size => {
                        let buf = seg.get(off, sz as usize).unwrap_or(&[]);
                        match decode_record_with(buf, self.check_crc) {
                            Ok(m) if m.phys_offset() == pos as i64 => match self
                                .implausible(&m, &touched)
                            {
                                Some(why) => why,
                                None => {
                                    self.report.scanned_bytes += sz as u64;
                                    tail_start = Some(pos);
                                    last_ts = m.store_timestamp();
                                    if m.is_dispatched() {
                                        let q = self.cq(m.topic(), m.queue_id())?;
                                        let qo = m.queue_offset();
                                        // The checkpoint says every entry of a record before the
                                        // scan start is on disk, so a queue's first record after
                                        // it lies within the queue's written extent (`max_offset`
                                        // until `finish_queues`). Past it, the queue lost files
                                        // (deleted, or a hole cut its extent short) whose records
                                        // only a scan from the first segment reaches; left
                                        // unwritten, those entries would read as the queue's
                                        // end at the next open, and later puts would be lost.
                                        let first_seen = touched
                                            .get(m.topic())
                                            .is_none_or(|t| !t.contains_key(&m.queue_id()));
                                        if !from_first && first_seen && qo > q.max_offset() {
                                            tracing::warn!(
                                                topic = m.topic(),
                                                queue_id = m.queue_id(),
                                                queue_offset = qo,
                                                queue_end = q.max_offset(),
                                                "consume queue ends before the records the checkpoint says it holds; rebuilding from the first segment"
                                            );
                                            return Ok(None);
                                        }
                                        let e = CqEntry {
                                            phys: pos as i64,
                                            size: sz as i32,
                                            tags_code: m.tags_code(),
                                        };
                                        if q.raw_entry(qo) != Some(e) {
                                            q.ensure_capacity(qo, 1)
                                                .map_err(|err| StoreError::io(q.dir(), err))?;
                                            q.write_entry(qo, e);
                                            self.report.rebuilt_cq_entries += 1;
                                        }
                                        let per_topic = match touched.get_mut(m.topic()) {
                                            Some(t) => t,
                                            None => {
                                                touched.entry(m.topic().to_string()).or_default()
                                            }
                                        };
                                        let t = per_topic.entry(m.queue_id()).or_insert(Touched {
                                            first: qo,
                                            max: qo + 1,
                                        });
                                        t.first = t.first.min(qo);
                                        t.max = t.max.max(qo + 1);
                                    }
                                    off += sz as u64;
                                    continue;
                                }
                            },
                            Ok(m) => format!(
                                "PHYSICALOFFSET field {} does not match position",
                                m.phys_offset()
                            ),
                            Err(e) => e.to_string(),
                        }
                    }
                    RecordHead::End => "zeroed bytes where a record was expected".to_string(),
                    RecordHead::Blank(sz) => {
                        format!("blank record of {sz} bytes does not end the segment")
                    }
                    RecordHead::Message(sz) => {
                        format!("record size {sz} runs past the segment end")
                    }
                    RecordHead::Garbage => {
                        format!(
                            "bad header (size {}, magic {:#010x})",
                            crate::message::be_i32(head_bytes, 0),
                            be_u32(head_bytes, 4)
                        )
                    }
                };
                // Invalid data at `pos`: a hole if valid data follows, else the torn tail.
                if let Some(q) = self.resync(&seg, off) {
                    let resume = seg.start() + q;
                    tracing::warn!(offset = pos, resume, "corrupt commitlog record: {reason}");
                    holes.push(CorruptRecord {
                        offset: pos as i64,
                        resume_offset: resume as i64,
                        reason,
                    });
                    off = q;
                    continue;
                }
                let next_ok = self
                    .segments
                    .get(i + 1)
                    .is_some_and(|n| self.valid_at(n, 0).is_some());
                if next_ok {
                    let resume = seg.end();
                    tracing::warn!(
                        offset = pos,
                        resume,
                        "corrupt commitlog tail of segment: {reason}"
                    );
                    holes.push(CorruptRecord {
                        offset: pos as i64,
                        resume_offset: resume as i64,
                        reason,
                    });
                    i += 1;
                    continue 'segs;
                }
                if head != RecordHead::End {
                    let claimed = match head {
                        RecordHead::Message(sz) | RecordHead::Blank(sz) => {
                            (sz as u64).min(size - off)
                        }
                        _ => 8,
                    };
                    self.report.truncated_bytes += claimed.max(1);
                    tracing::warn!(
                        offset = pos,
                        "torn record at the commitlog tail truncated: {reason}"
                    );
                }
                seg.zero_from(off)
                    .map_err(|e| StoreError::io(seg.path(), e))?;
                log_end = pos;
                self.delete_segments_from(i + 1);
                break 'segs;
            }
        }
        // A queue that lost its last files but has no record past the scan start is not caught
        // above. The checkpoint knows how far the queues reached below its start; entries there
        // are never rewritten or truncated after it, so anything short of that is lost files.
        if !from_first {
            if let Some(ck) = ck.filter(|c| c.cq_entries_floor >= 0) {
                let at = ck.flushed_offset.min(ck.logics_phy_offset);
                let held = self.entries_below(at, &touched);
                if held < ck.cq_entries_floor {
                    tracing::warn!(
                        expected = ck.cq_entries_floor,
                        found = held,
                        "consume queues hold fewer entries than the checkpoint says they flushed; rebuilding from the first segment"
                    );
                    return Ok(None);
                }
            }
        }
        self.finish_queues(log_end, &touched);
        Ok(Some(Recovered {
            log_end,
            tail_start,
            last_store_ts: last_ts,
            holes,
            scan_start: Some(scan_start),
        }))
    }

    /// The checkpoint's `cq_entries_floor` as the queues stand now, for records below `at`:
    /// each queue searched up to the larger of its files' extent and what the scan wrote.
    fn entries_below(&self, at: i64, touched: &TouchedMap) -> i64 {
        let mut n = 0i64;
        for (topic, m) in self.cqs.iter() {
            for (qid, q) in m.iter() {
                let scanned = touched
                    .get(topic)
                    .and_then(|m| m.get(qid))
                    .map_or(0, |t| t.max);
                n = n.wrapping_add(q.entries_below(at, q.max_offset().max(scanned)));
            }
        }
        n
    }

    /// Drops entries at/past `log_end`, sets each queue's max, fills never-written gaps.
    fn finish_queues(&mut self, log_end: u64, touched: &TouchedMap) {
        for (topic, m) in self.cqs.iter() {
            for (qid, q) in m.iter() {
                let t = touched.get(topic).and_then(|m| m.get(qid)).copied();
                // The extent the queue's files had at open (nothing has published since).
                let had = q.max_offset();
                let old_max = had.max(t.map(|t| t.max).unwrap_or(0));
                q.publish(old_max);
                let mut max = old_max;
                while max > q.min_offset() {
                    match q.raw_entry(max - 1) {
                        Some(e)
                            if e.size != 0
                                && (e.is_lost()
                                    || (e.phys >= 0
                                        && e.size > 0
                                        && (e.phys as u64).saturating_add(e.size as u64)
                                            <= log_end)) =>
                        {
                            break
                        }
                        _ => max -= 1,
                    }
                }
                if max < old_max {
                    self.report.truncated_cq_entries += (old_max - max) as u64;
                    q.truncate_to(max);
                }
                // Entries between the files' extent and the first record the scan found have
                // no record in the log (a scan that did not start at the first segment never
                // gets here with such a gap: it starts over from there). Left never-written, the
                // first of them would end the queue at the next open (the extent search and its
                // zeroing past the end assume written entries form a prefix of the last file)
                // and drop every entry after it, acknowledged puts included.
                if let Some(t) = t {
                    for o in t.first.min(had).max(q.min_offset())..max {
                        if q.raw_entry(o).is_some_and(|e| e.size == 0) {
                            q.write_entry(
                                o,
                                CqEntry {
                                    phys: LOST_ENTRY_PHYS,
                                    size: 1,
                                    tags_code: 0,
                                },
                            );
                            self.report.lost_cq_entries += 1;
                        }
                    }
                }
            }
        }
    }
}
