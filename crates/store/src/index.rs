//! IndexFiles (`index/yyyyMMddHHmmssSSS`): hash index from `topic#key` to CommitLog offsets.
//!
//! Layout (big-endian): 40-byte header {beginTimestamp i64, endTimestamp i64, beginPhyOffset i64,
//! endPhyOffset i64, hashSlotCount i32, indexCount i32}, then `slots` 4-byte slots (latest entry
//! number for that slot, 0 = empty), then `entries` 20-byte entries {keyHash i32 (abs of Java hash),
//! phyOffset i64, timeDiff i32 (seconds since beginTimestamp), prevIndex i32}.
//!
//! Invariants: indexCount starts at 1 (entry 0 is never used, so 0 can mean "no entry"); a slot
//! holds the newest entry of its chain and each entry links to the previous one with a smaller
//! number; a file is full at `entries` and a new file is started; only the index thread writes.
//! Lookups may return offsets of other keys with the same hash; callers verify the record.

use std::io;
use std::path::{Path, PathBuf};

use crate::mapped_file::MappedFile;
use crate::message::{be_i32, be_i64, java_hash_continue, java_string_hash, property_values};

const HEADER: u64 = 40;

/// Hash stored in entries and used for the slot: abs(Java hash), with i32::MIN mapped to 0.
pub(crate) fn key_hash(key: &str) -> i32 {
    stored_hash(java_string_hash(key))
}

/// The entry/slot form of a Java string hash (see [`key_hash`]).
fn stored_hash(h: i32) -> i32 {
    if h == i32::MIN {
        0
    } else {
        h.abs()
    }
}

/// Java hash of `topic#`, which every key hash of the topic continues.
fn topic_prefix_hash(topic: &str) -> i32 {
    java_hash_continue(java_string_hash(topic), "#")
}

/// [`key_hash`] of every index key of a record, in the order they are indexed: `topic#k` for each
/// non-empty space-separated word of KEYS, then `topic#UNIQ_KEY` when non-empty. One pass over
/// the properties finds both; the `topic#` prefix is hashed once and continued per key, so no
/// key string is built.
#[cfg(test)]
pub(crate) fn record_key_hashes<'a>(topic: &str, props: &'a str) -> impl Iterator<Item = i32> + 'a {
    key_hashes_after(topic_prefix_hash(topic), props)
}

/// [`record_key_hashes`] with the topic's [`topic_prefix_hash`] already computed.
fn key_hashes_after(prefix: i32, props: &str) -> impl Iterator<Item = i32> + '_ {
    let [keys, uniq] = property_values(props, ["KEYS", "UNIQ_KEY"]);
    keys.into_iter()
        .flat_map(|k| k.split(' '))
        .chain(uniq)
        .filter(|k| !k.is_empty())
        .map(move |k| stored_hash(java_hash_continue(prefix, k)))
}

/// How many keys [`KeysAhead`] holds between prefetching a key's slot and writing the key.
const SLOTS_AHEAD: usize = 8;

/// Writes records' keys into an [`IndexService`] a few keys after it has computed them and
/// started loading their slots into the cache.
///
/// Why: a slot is a random 4 bytes of a table of `index_slots` × 4 bytes (20 MB by default), so
/// nearly every key's slot update missed the cache and the TLB, one key after another: the index
/// thread's reading, hashing and slot updates were 7–22 % of a 32 × 1 KiB batch run's throughput
/// on two cores (docs/perf-log.md, session 17). With `SLOTS_AHEAD` keys in flight those misses
/// overlap. Keys are written in the order they were pushed; [`KeysAhead::finish`] writes the
/// rest, and must be called before anyone looks the keys up.
#[derive(Default)]
pub(crate) struct KeysAhead {
    /// (hash, phys, store timestamp), oldest first.
    keys: std::collections::VecDeque<(i32, i64, i64)>,
}

/// A key could not be written (no new index file could be made). Every key of the records
/// before `resume_at` is in; indexing must start again at that record, whose first keys may be
/// in already (lookups drop repeated offsets).
#[derive(Debug)]
pub(crate) struct KeysError {
    pub resume_at: i64,
    pub error: io::Error,
}

impl KeysAhead {
    /// Queues every key of one record ([`record_key_hashes`]) → `phys`, writing the oldest
    /// queued keys as the window fills. On an error nothing stays queued.
    pub fn push_record(
        &mut self,
        svc: &mut IndexService,
        topic: &str,
        props: &str,
        phys: i64,
        store_ts: i64,
    ) -> Result<(), KeysError> {
        let prefix = svc.topic_prefix(topic);
        for hash in key_hashes_after(prefix, props) {
            if self.keys.len() >= SLOTS_AHEAD {
                self.put_oldest(svc)?;
            }
            svc.prefetch_slot(hash);
            self.keys.push_back((hash, phys, store_ts));
        }
        Ok(())
    }

    /// Writes every queued key. On an error nothing stays queued.
    pub fn finish(&mut self, svc: &mut IndexService) -> Result<(), KeysError> {
        while !self.keys.is_empty() {
            self.put_oldest(svc)?;
        }
        Ok(())
    }

    fn put_oldest(&mut self, svc: &mut IndexService) -> Result<(), KeysError> {
        let Some((hash, phys, ts)) = self.keys.pop_front() else {
            return Ok(());
        };
        svc.put_hash(hash, phys, ts).map_err(|error| {
            self.keys.clear();
            KeysError {
                resume_at: phys,
                error,
            }
        })
    }
}

pub(crate) struct IndexFile {
    /// Owned, never shared: `put_hash` (`&mut self`) is then the only access to the bytes.
    file: MappedFile,
    slots: u32,
    entries: u32,
}

impl IndexFile {
    pub fn file_len(slots: u32, entries: u32) -> u64 {
        HEADER + slots as u64 * 4 + entries as u64 * 20
    }

    pub fn create(path: &Path, slots: u32, entries: u32) -> io::Result<IndexFile> {
        let f = MappedFile::create(path, 0, Self::file_len(slots, entries))?;
        let idx = IndexFile {
            file: f,
            slots,
            entries,
        };
        idx.set_i32(36, 1);
        Ok(idx)
    }

    pub fn open(path: &Path, slots: u32, entries: u32) -> io::Result<IndexFile> {
        let f = MappedFile::open(path, 0, Self::file_len(slots, entries))?;
        let idx = IndexFile {
            file: f,
            slots,
            entries,
        };
        if idx.index_count() < 1 {
            idx.set_i32(36, 1);
        }
        Ok(idx)
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
    fn i64_at(&self, at: u64) -> i64 {
        self.file.get(at, 8).map(|b| be_i64(b, 0)).unwrap_or(0)
    }
    fn i32_at(&self, at: u64) -> i32 {
        self.file.get(at, 4).map(|b| be_i32(b, 0)).unwrap_or(0)
    }
    fn set_i32(&self, at: u64, v: i32) {
        self.file.write(at, &v.to_be_bytes());
    }
    pub fn begin_timestamp(&self) -> i64 {
        self.i64_at(0)
    }
    pub fn end_timestamp(&self) -> i64 {
        self.i64_at(8)
    }
    pub fn end_phy_offset(&self) -> i64 {
        self.i64_at(24)
    }
    pub fn index_count(&self) -> i32 {
        self.i32_at(36)
    }
    /// Where the slot of the key whose [`key_hash`] is `hash` lies.
    fn slot_at(&self, hash: i32) -> u64 {
        HEADER + (hash as u64 % self.slots as u64) * 4
    }
    /// Where entry `i` lies (entries follow the slot table).
    fn entry_at(&self, i: i32) -> u64 {
        HEADER + self.slots as u64 * 4 + i as u64 * 20
    }

    /// Adds the key whose [`key_hash`] is `hash` → `phys` (stored at `store_ts`). Returns false
    /// when the file is full.
    pub fn put_hash(&mut self, hash: i32, phys: i64, store_ts: i64) -> bool {
        let slot_at = self.slot_at(hash);
        // SAFETY (the three views below): `&mut self` over a mapping this IndexFile alone owns
        // makes them the only access to the file's bytes while they live, and the header, the
        // slot table and the entry area are disjoint ranges.
        let Some(head) = (unsafe { self.file.get_mut(0, HEADER as usize) }) else {
            return false;
        };
        let count = be_i32(head, 36);
        if count < 1 || count as i64 >= self.entries as i64 {
            return false;
        }
        let (Some(slot), Some(entry)) = (unsafe {
            (
                self.file.get_mut(slot_at, 4),
                self.file.get_mut(self.entry_at(count), 20),
            )
        }) else {
            return false;
        };
        let mut prev = be_i32(slot, 0);
        if prev < 0 || prev >= count {
            prev = 0;
        }
        if count == 1 {
            head[0..8].copy_from_slice(&store_ts.to_be_bytes());
            head[16..24].copy_from_slice(&phys.to_be_bytes());
        }
        let begin = be_i64(head, 0);
        // Both times may come from damaged bytes: saturate rather than overflow.
        let diff = (store_ts.saturating_sub(begin).max(0) / 1000).min(i32::MAX as i64) as i32;
        entry[..4].copy_from_slice(&hash.to_be_bytes());
        entry[4..12].copy_from_slice(&phys.to_be_bytes());
        entry[12..16].copy_from_slice(&diff.to_be_bytes());
        entry[16..].copy_from_slice(&prev.to_be_bytes());
        slot.copy_from_slice(&count.to_be_bytes());
        if prev == 0 {
            let used = be_i32(head, 32).wrapping_add(1);
            head[32..36].copy_from_slice(&used.to_be_bytes());
        }
        head[36..40].copy_from_slice(&(count + 1).to_be_bytes());
        head[8..16].copy_from_slice(&store_ts.to_be_bytes());
        head[24..32].copy_from_slice(&phys.to_be_bytes());
        true
    }

    /// See [`IndexService::prefetch_slot`].
    fn prefetch_slot(&self, hash: i32) {
        if let Some(slot) = self.file.get(self.slot_at(hash), 4) {
            crate::message::prefetch_range(slot, 0, 4);
        }
    }

    /// Offsets recorded for `key` with a store time in `[begin, end]`, newest first.
    pub fn lookup(&self, key: &str, max: usize, begin: i64, end: i64, out: &mut Vec<i64>) {
        if self.end_timestamp() < begin || self.begin_timestamp() > end {
            return;
        }
        let hash = key_hash(key);
        let count = self.index_count();
        let mut cur = self.i32_at(self.slot_at(hash));
        let base = self.begin_timestamp();
        let mut steps = 0u32;
        while cur > 0 && cur < count && out.len() < max && steps < self.entries {
            let Some(e) = self.file.get(self.entry_at(cur), 20) else {
                break;
            };
            let h = be_i32(e, 0);
            let phys = be_i64(e, 4);
            let ts = base.saturating_add(be_i32(e, 12) as i64 * 1000);
            let prev = be_i32(e, 16);
            // Seconds resolution: widen the window by the truncation.
            if h == hash && ts <= end && ts.saturating_add(999) >= begin {
                out.push(phys);
            }
            if prev >= cur {
                break;
            }
            cur = prev;
            steps += 1;
        }
    }

    pub fn flush(&self) -> io::Result<()> {
        self.file.flush_range(0, self.file.len())
    }
}

/// All IndexFiles of a store, oldest first.
pub(crate) struct IndexService {
    dir: PathBuf,
    slots: u32,
    entries: u32,
    pub files: Vec<IndexFile>,
    /// The last topic indexed and the Java hash of `topic#`: records of one topic come in runs.
    prefix: Option<(String, i32)>,
}

/// `yyyyMMddHHmmssSSS` in local time, as RocketMQ names index files.
pub(crate) fn index_file_name(ms: i64) -> String {
    let secs = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ms.rem_euclid(1000)
    )
}

impl IndexService {
    pub fn open(dir: &Path, slots: u32, entries: u32) -> io::Result<IndexService> {
        std::fs::create_dir_all(dir)?;
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            } else if name.len() == 17 && name.bytes().all(|b| b.is_ascii_digit()) {
                names.push(name);
            }
        }
        names.sort();
        let mut files = Vec::new();
        let want = IndexFile::file_len(slots, entries);
        for n in names {
            let p = dir.join(&n);
            let len = std::fs::metadata(&p)?.len();
            if len > want {
                // Written with a larger geometry: keep the data out of the way, do not misread it.
                tracing::warn!(file = %p.display(), "index file larger than index_slots/index_entries imply; ignoring it");
                continue;
            }
            files.push(IndexFile::open(&p, slots, entries)?);
        }
        Ok(IndexService {
            dir: dir.to_path_buf(),
            slots,
            entries,
            files,
            prefix: None,
        })
    }

    /// Offset after which records still need indexing (end of the newest file's last record start).
    pub fn last_indexed_phys(&self) -> Option<i64> {
        self.files
            .iter()
            .rev()
            .find(|f| f.index_count() > 1)
            .map(|f| f.end_phy_offset())
    }

    /// Adds one key, starting a new file when the newest is full.
    #[cfg(test)]
    pub fn put(&mut self, key: &str, phys: i64, store_ts: i64) -> io::Result<()> {
        self.put_hash(key_hash(key), phys, store_ts)
    }

    /// Indexes every key of one record (see [`record_key_hashes`]) → `phys`. On an error the
    /// record's first keys may already be in; indexing it again adds them twice, which lookups
    /// tolerate (callers drop repeated offsets).
    #[cfg(test)]
    pub fn put_record(
        &mut self,
        topic: &str,
        props: &str,
        phys: i64,
        store_ts: i64,
    ) -> io::Result<()> {
        let prefix = self.topic_prefix(topic);
        for hash in key_hashes_after(prefix, props) {
            self.put_hash(hash, phys, store_ts)?;
        }
        Ok(())
    }

    /// [`topic_prefix_hash`] of `topic`, remembered for the next record of the same topic.
    fn topic_prefix(&mut self, topic: &str) -> i32 {
        match &self.prefix {
            Some((t, h)) if t == topic => *h,
            _ => {
                let h = topic_prefix_hash(topic);
                self.prefix = Some((topic.to_string(), h));
                h
            }
        }
    }

    /// Starts loading the slot `hash` lands on in the newest file into the cache.
    fn prefetch_slot(&self, hash: i32) {
        if let Some(f) = self.files.last() {
            f.prefetch_slot(hash);
        }
    }

    /// Adds the key whose [`key_hash`] is `hash`, starting a new file when the newest is full.
    pub fn put_hash(&mut self, hash: i32, phys: i64, store_ts: i64) -> io::Result<()> {
        if let Some(f) = self.files.last_mut() {
            if f.put_hash(hash, phys, store_ts) {
                return Ok(());
            }
        }
        let mut name_ms = crate::message::now_ms();
        let mut path = self.dir.join(index_file_name(name_ms));
        while path.exists() {
            name_ms += 1;
            path = self.dir.join(index_file_name(name_ms));
        }
        let mut f = IndexFile::create(&path, self.slots, self.entries)?;
        if let Some(prev) = self.files.last() {
            prev.flush()?;
        }
        f.put_hash(hash, phys, store_ts);
        self.files.push(f);
        Ok(())
    }

    pub fn lookup(&self, key: &str, max: usize, begin: i64, end: i64) -> Vec<i64> {
        let mut out = Vec::new();
        for f in self.files.iter().rev() {
            if out.len() >= max {
                break;
            }
            f.lookup(key, max, begin, end, &mut out);
        }
        out
    }

    /// A descriptor of the newest file, to sync it after the index lock is released, so the
    /// write-back does not hold the lock. Older files were synced when the next one was started.
    pub fn newest_file(&self) -> io::Result<Option<std::fs::File>> {
        self.files.last().map(|f| f.file.clone_file()).transpose()
    }

    /// Deletes files whose newest entry points below `min_phys` (never the newest file).
    pub fn delete_below(&mut self, min_phys: i64) -> usize {
        let mut n = 0;
        while self.files.len() > 1 && self.files[0].end_phy_offset() < min_phys {
            let f = self.files.remove(0);
            let _ = std::fs::remove_file(f.path());
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_query_chain_and_rollover() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = IndexService::open(dir.path(), 4, 8).unwrap();
        let t0 = 1_700_000_000_000;
        for i in 0..20i64 {
            let key = format!("T#k{}", i % 3);
            svc.put(&key, i * 10, t0 + i * 1000).unwrap();
        }
        // 7 usable entries per file (entry 0 unused) → 3 files for 20 keys.
        assert_eq!(svc.files.len(), 3);
        assert_eq!(svc.files[0].index_count(), 8);
        let mut got = svc.lookup("T#k1", 100, 0, i64::MAX);
        got.sort();
        assert_eq!(got, vec![10, 40, 70, 100, 130, 160, 190]);
        let few = svc.lookup("T#k1", 2, 0, i64::MAX);
        assert_eq!(few.len(), 2);
        let window = svc.lookup("T#k0", 100, t0 + 3000, t0 + 9000);
        let mut window = window;
        window.sort();
        assert_eq!(window, vec![30, 60, 90]);
        assert_eq!(svc.last_indexed_phys(), Some(190));
        drop(svc);
        let mut svc = IndexService::open(dir.path(), 4, 8).unwrap();
        assert_eq!(svc.files.len(), 3);
        assert_eq!(svc.lookup("T#k2", 100, 0, i64::MAX).len(), 6);
        assert_eq!(svc.delete_below(100), 1);
        assert_eq!(svc.files.len(), 2);
    }

    /// Every file's bytes, oldest file first.
    fn contents(dir: &Path) -> Vec<Vec<u8>> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    fn props(i: i64) -> String {
        let keys = ["", "a", "a b", "b  c"][i as usize % 4];
        crate::encode_properties(&[("KEYS", keys), ("UNIQ_KEY", &format!("U{i}"))])
    }

    /// Keys written through `KeysAhead` land exactly as written one by one: the same entries,
    /// chains, headers and file rollovers, byte for byte.
    #[test]
    fn keys_written_ahead_make_the_same_files_as_keys_written_at_once() {
        let (once, ahead) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut a = IndexService::open(once.path(), 7, 40).unwrap();
        let mut b = IndexService::open(ahead.path(), 7, 40).unwrap();
        let mut keys = KeysAhead::default();
        let t0 = 1_700_000_000_000;
        for i in 0..60i64 {
            let topic = if i % 5 == 0 { "Other" } else { "T" };
            a.put_record(topic, &props(i), i * 100, t0 + i * 10)
                .unwrap();
            keys.push_record(&mut b, topic, &props(i), i * 100, t0 + i * 10)
                .unwrap();
            if i == 30 {
                keys.finish(&mut b).unwrap();
            }
        }
        assert!(!keys.keys.is_empty(), "the last keys are still queued");
        keys.finish(&mut b).unwrap();
        assert!(a.files.len() > 2, "the run rolls over files");
        drop((a, b));
        assert_eq!(contents(once.path()), contents(ahead.path()));
    }

    /// When a key cannot be written (here: no new index file can be made), the error names the
    /// record to start again at, and nothing stays queued.
    #[test]
    fn a_key_that_cannot_be_written_names_its_record_and_clears_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let idx = dir.path().join("index");
        // 3 usable entries: the fourth key needs a second file.
        let mut svc = IndexService::open(&idx, 7, 4).unwrap();
        let mut keys = KeysAhead::default();
        let one_key = |i: i64| crate::encode_properties(&[("UNIQ_KEY", &format!("U{i}"))]);
        for i in 0..3i64 {
            keys.push_record(&mut svc, "T", &one_key(i), i * 100, 1)
                .unwrap();
        }
        keys.finish(&mut svc).unwrap();
        std::fs::remove_dir_all(&idx).unwrap();
        let mut failed = None;
        for i in 3..30i64 {
            if let Err(e) = keys.push_record(&mut svc, "T", &one_key(i), i * 100, 1) {
                failed = Some((i, e));
                break;
            }
        }
        let (at, e) = failed.expect("a key past the full file was written");
        // Keys are written SLOTS_AHEAD behind: record 3's key, the first that needs a new
        // file, is written when record 3 + SLOTS_AHEAD's is queued.
        assert_eq!(at as usize, 3 + SLOTS_AHEAD, "{e:?}");
        assert_eq!(e.resume_at, 300);
        assert!(keys.keys.is_empty());
        assert!(keys.finish(&mut svc).is_ok());
    }

    /// Timestamps come from files and records that may be damaged: a header's begin time or a
    /// record's store time at the edges of i64 must not overflow the arithmetic (the fuzz target
    /// `recover` found the index thread panicking on `store_ts - begin`).
    #[test]
    fn damaged_timestamps_do_not_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge");
        let mut f = IndexFile::create(&path, 4, 8).unwrap();
        f.put_hash(key_hash("T#a"), 100, 1_700_000_000_000);
        for begin in [i64::MIN, i64::MAX] {
            f.file.write(0, &begin.to_be_bytes());
            assert!(f.put_hash(key_hash("T#a"), 200, i64::MAX));
            assert!(f.put_hash(key_hash("T#a"), 300, i64::MIN));
            let mut out = Vec::new();
            f.lookup("T#a", 10, i64::MIN, i64::MAX, &mut out);
            assert!(!out.is_empty());
        }
    }

    /// The keys as first indexed: KEYS split on spaces, then UNIQ_KEY, empty ones dropped, each
    /// hashed as the built string `topic#key`.
    fn key_hashes_reference(topic: &str, props: &str) -> Vec<i32> {
        use crate::message::property_value;
        let keys = property_value(props, "KEYS")
            .into_iter()
            .flat_map(|k| k.split(' '));
        keys.chain(property_value(props, "UNIQ_KEY"))
            .filter(|k| !k.is_empty())
            .map(|k| key_hash(&format!("{topic}#{k}")))
            .collect()
    }

    #[test]
    fn record_keys_cover_every_word_of_keys_then_uniq_key() {
        use crate::message::encode_properties;
        let h = |k: &str| key_hash(&format!("Topic#{k}"));
        let props = encode_properties(&[("KEYS", " a  b c "), ("UNIQ_KEY", "U1"), ("TAGS", "t")]);
        let got: Vec<i32> = record_key_hashes("Topic", &props).collect();
        assert_eq!(got, vec![h("a"), h("b"), h("c"), h("U1")]);
        // Empty KEYS, only spaces, no properties at all.
        let only_uniq = encode_properties(&[("KEYS", "   "), ("UNIQ_KEY", "U2")]);
        assert_eq!(
            record_key_hashes("Topic", &only_uniq).collect::<Vec<_>>(),
            vec![h("U2")]
        );
        assert_eq!(record_key_hashes("Topic", "").count(), 0);
        // Non-ASCII keys and topic hash by UTF-16 units, as Java does.
        let props = encode_properties(&[("KEYS", "clé 😀")]);
        assert_eq!(
            record_key_hashes("Tópic", &props).collect::<Vec<_>>(),
            vec![key_hash("Tópic#clé"), key_hash("Tópic#😀")]
        );
    }

    #[test]
    fn keys_put_by_hash_are_found_by_name() {
        use crate::message::encode_properties;
        let dir = tempfile::tempdir().unwrap();
        let mut svc = IndexService::open(dir.path(), 16, 64).unwrap();
        let props = encode_properties(&[("KEYS", "k1 k2 k1"), ("UNIQ_KEY", "ID7")]);
        for hash in record_key_hashes("T", &props) {
            svc.put_hash(hash, 500, 1_700_000_000_000).unwrap();
        }
        for key in ["T#k1", "T#k2", "T#ID7"] {
            assert!(svc.lookup(key, 10, 0, i64::MAX).contains(&500), "{key}");
        }
        // Records of alternating topics: the cached `topic#` hash follows the topic.
        for (i, topic) in ["T", "U", "U", "T"].iter().enumerate() {
            let props = encode_properties(&[("UNIQ_KEY", "same")]);
            svc.put_record(topic, &props, 1000 + i as i64, 1_700_000_000_000)
                .unwrap();
        }
        assert_eq!(svc.lookup("T#same", 10, 0, i64::MAX), vec![1003, 1000]);
        assert_eq!(svc.lookup("U#same", 10, 0, i64::MAX), vec![1002, 1001]);
        // "k1" twice in KEYS is indexed twice, as before.
        assert_eq!(svc.lookup("T#k1", 10, 0, i64::MAX), vec![500, 500]);
        assert!(!svc.lookup("T#k", 10, 0, i64::MAX).contains(&500));
        assert!(!svc.lookup("U#k1", 10, 0, i64::MAX).contains(&500));
    }

    proptest::proptest! {
        /// Hashing `topic#` once and continuing per key gives the same hashes, in the same
        /// order, as building each key string.
        #[test]
        fn record_key_hashes_match_reference(
            topic in "[A-Za-z0-9_é%]{1,20}",
            keys in proptest::option::of("[ a-zé😀0-9]{0,30}"),
            uniq in proptest::option::of("[A-F0-9 ]{0,32}"),
        ) {
            let mut pairs = vec![("TAGS", "x")];
            if let Some(k) = &keys {
                pairs.push(("KEYS", k));
            }
            if let Some(u) = &uniq {
                pairs.push(("UNIQ_KEY", u));
            }
            let props = crate::message::encode_properties(&pairs);
            let got: Vec<i32> = record_key_hashes(&topic, &props).collect();
            proptest::prop_assert_eq!(got, key_hashes_reference(&topic, &props));
        }
    }

    /// The checkpoint takes what it needs under the index lock and syncs the newest index file
    /// after releasing it: the write-back must not stall the index thread or key lookups.
    #[test]
    fn checkpoint_syncs_the_index_outside_its_lock() {
        use crate::test_util::{msg, rt, small_store, wait_until};
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_store(dir.path(), 1 << 20, crate::FlushDiskType::AsyncFlush);
        // Every checkpoint syncs the index.
        cfg.index_flush_interval = std::time::Duration::from_nanos(1);
        let store = crate::MessageStore::open(cfg).unwrap();
        let runtime = rt();
        for seq in 0..20 {
            let r = runtime.block_on(store.put(msg("IX", 0, seq, 100)));
            assert_eq!(r.status, crate::PutStatus::PutOk);
        }
        let inner = store.test_inner();
        wait_until("the index thread never caught up", || {
            inner.index_lag() == 0
        });
        // Without the background threads nothing else takes the lock or writes a checkpoint.
        store.test_stop_threads();
        *inner.test_index_lock_free_at_sync.lock() = None;
        inner.write_checkpoint(None).unwrap();
        assert_eq!(
            *inner.test_index_lock_free_at_sync.lock(),
            Some(true),
            "the index file was synced under the index lock"
        );
        let hits = store.query_by_key("IX", "k0-7", 4, 0, i64::MAX);
        assert_eq!(
            hits.len(),
            1,
            "the index still answers after the checkpoint"
        );
        store.shutdown().unwrap();
    }

    /// The checkpoint advances its index offset only when it syncs the index: at most every
    /// `index_flush_interval`, and at a clean shutdown. In between it repeats the last sync's
    /// offset, so a crash re-indexes from there and every key is still found.
    #[test]
    fn the_index_is_synced_at_most_every_index_flush_interval() {
        use crate::checkpoint::CheckpointFile;
        use crate::test_util::{msg, rt, small_store};
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_store(dir.path(), 1 << 20, crate::FlushDiskType::AsyncFlush);
        // Long enough that no test machine reaches it; `test_age_index_sync` stands in for
        // the wait.
        let interval = Duration::from_secs(3600);
        cfg.index_flush_interval = interval;
        let ck_path = dir.path().join("checkpoint");
        let index_offset = || {
            let (_, ck) = CheckpointFile::open(&ck_path).unwrap();
            ck.expect("a checkpoint").index_phy_offset
        };
        let store = crate::MessageStore::open(cfg.clone()).unwrap();
        let runtime = rt();
        let inner = store.test_inner();
        store.test_stop_threads();
        let put_and_index = |seqs: std::ops::Range<u32>| {
            for seq in seqs {
                let r = runtime.block_on(store.put(msg("IX", 0, seq, 100)));
                assert_eq!(r.status, crate::PutStatus::PutOk);
            }
            // A lookup catches the index up with the log (the index thread is stopped).
            assert!(!store.query_by_key("IX", "k0-0", 1, 0, i64::MAX).is_empty());
            inner.cl.max_phys() as i64
        };
        inner.write_checkpoint(None).unwrap();
        let first = index_offset();
        let end = put_and_index(0..20);
        inner.write_checkpoint(None).unwrap();
        assert_eq!(index_offset(), first, "synced again within the interval");
        inner.test_age_index_sync(interval);
        inner.write_checkpoint(None).unwrap();
        assert_eq!(index_offset(), end, "not synced after the interval");
        let end = put_and_index(20..40);
        inner.write_checkpoint(None).unwrap();
        assert!(index_offset() < end, "synced again within the interval");
        // A crash now (dropped without a shutdown): the reopened store re-indexes from the last
        // sync and finds every key.
        drop(store);
        let store = crate::MessageStore::open(cfg.clone()).unwrap();
        for seq in [0, 19, 20, 39] {
            let hits = store.query_by_key("IX", &format!("k0-{seq}"), 4, 0, i64::MAX);
            assert_eq!(hits.len(), 1, "key k0-{seq} after the crash");
        }
        // A clean shutdown syncs whatever the interval.
        let end = store.test_inner().cl.max_phys() as i64;
        store.shutdown().unwrap();
        assert_eq!(index_offset(), end, "not synced at shutdown");
    }

    /// Caught up with a trickle of puts, the index thread sleeps `INDEX_POLL` between rounds,
    /// not a millisecond, and what it lags behind is still found by key.
    #[test]
    fn a_caught_up_index_thread_does_not_wake_every_millisecond() {
        use crate::test_util::{msg, rt, small_store, wait_until};
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_store(dir.path(), 1 << 20, crate::FlushDiskType::AsyncFlush);
        let store = crate::MessageStore::open(cfg).unwrap();
        let runtime = rt();
        let inner = store.test_inner();
        let sleeps = || inner.index.as_ref().unwrap().lock().sleeps;
        let before = sleeps();
        let started = std::time::Instant::now();
        for seq in 0..100 {
            let r = runtime.block_on(store.put(msg("IX", 0, seq, 100)));
            assert_eq!(r.status, crate::PutStatus::PutOk);
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        let (slept, elapsed_ms) = (sleeps() - before, started.elapsed().as_millis() as u64);
        // One sleep per millisecond would be 300 or more; one per 10 ms is about 30.
        assert!(
            slept * 5 < elapsed_ms,
            "{slept} sleeps in {elapsed_ms} ms of trickling puts"
        );
        let hits = store.query_by_key("IX", "k0-99", 4, 0, i64::MAX);
        assert_eq!(hits.len(), 1, "the newest put is found by key");
        wait_until("the index thread never caught up", || {
            inner.index_lag() == 0
        });
        store.shutdown().unwrap();
    }

    #[test]
    fn file_name_shape() {
        let n = index_file_name(1_700_000_000_123);
        assert_eq!(n.len(), 17);
        assert!(n.ends_with("123"));
        assert_eq!(key_hash("x"), 120);
    }
}
