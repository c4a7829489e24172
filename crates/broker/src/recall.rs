//! Recalling timer messages (RocketMQ 5.3, RECALL_MESSAGE): the handle a timer send answers with,
//! and the table of recalled timers the schedule consults before it delivers one.
//!
//! Handle: URL-safe base64 (padded) of `v1 <topic> <brokerName> <deliverMs + 1> <UNIQ_KEY>`,
//! Java's `RecallMessageHandle.HandleV1`; the time is the settled `TIMER_OUT_MS` plus one, as
//! Java writes it ("consider of floor").
//!
//! Invariants: a recall is on disk (`config/timerRecall.json`, written atomically) before it is
//! acknowledged, so an acknowledged recall survives a crash; an entry leaves the table when the
//! schedule drops the message it names, or a day after its deliver time (by then the message
//! was delivered or dropped, unless the broker was down that whole day, when the recall is
//! forgotten rather than kept forever).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;
use crate::persist;

/// How long after its deliver time a recall is kept when no message came to be dropped.
const KEEP_AFTER_DUE_MS: i64 = 24 * 3600 * 1000;

/// A decoded recall handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallHandle {
    pub topic: String,
    pub broker_name: String,
    /// Deliver time, ms (the settled time plus one).
    pub deliver_ms: i64,
    /// The message's UNIQ_KEY.
    pub msg_id: String,
}

impl RecallHandle {
    /// The handle for a timer message settled at `timer_out_ms`.
    pub fn encode(topic: &str, broker_name: &str, timer_out_ms: i64, msg_id: &str) -> String {
        let raw = format!("v1 {topic} {broker_name} {} {msg_id}", timer_out_ms + 1);
        URL_SAFE.encode(raw)
    }

    /// Parses a handle; `None` for anything that is not a version-1 handle.
    pub fn decode(handle: &str) -> Option<RecallHandle> {
        let raw = String::from_utf8(URL_SAFE.decode(handle.trim()).ok()?).ok()?;
        let mut items = raw.split(' ');
        if items.next()? != "v1" {
            return None;
        }
        let (topic, broker_name, time, msg_id) =
            (items.next()?, items.next()?, items.next()?, items.next()?);
        Some(RecallHandle {
            topic: topic.to_string(),
            broker_name: broker_name.to_string(),
            deliver_ms: time.parse().ok()?,
            msg_id: msg_id.to_string(),
        })
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RecallFile {
    /// `topic+UNIQ_KEY` (Java's delete key) → deliver time, ms.
    #[serde(default)]
    recalled: BTreeMap<String, i64>,
}

/// The recalled timers, persisted in `config/timerRecall.json`.
pub struct RecallTable {
    file: persist::TableFile,
    recalled: Mutex<BTreeMap<String, i64>>,
    /// Entries were taken since the file was last written: the schedule's periodic persist
    /// writes (and fsyncs) it only then.
    taken: AtomicBool,
}

fn key(topic: &str, msg_id: &str) -> String {
    format!("{topic}+{msg_id}")
}

impl RecallTable {
    /// Loads the table (or its .bak).
    pub fn load(config_dir: &std::path::Path) -> Result<RecallTable, BrokerError> {
        let path: PathBuf = config_dir.join("timerRecall.json");
        let loaded = persist::load(&path, |text| {
            serde_json::from_str::<RecallFile>(text).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        Ok(RecallTable {
            file: persist::TableFile::new(path),
            recalled: Mutex::new(loaded.recalled),
            taken: AtomicBool::new(false),
        })
    }

    /// Records a recall and writes the table (blocking: an fsync). Entries long past their
    /// time are dropped on the way.
    pub fn recall(
        &self,
        topic: &str,
        msg_id: &str,
        deliver_ms: i64,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        {
            let mut recalled = self.recalled.lock();
            recalled.retain(|_, due| due.saturating_add(KEEP_AFTER_DUE_MS) > now_ms);
            recalled.insert(key(topic, msg_id), deliver_ms);
        }
        self.persist()
    }

    /// Whether the timer message `msg_id` of `topic` was recalled; a recalled one leaves the
    /// table (it is dropped now). The table is written back with the schedule's progress.
    pub fn take(&self, topic: &str, msg_id: &str) -> bool {
        let mut recalled = self.recalled.lock();
        let taken = !recalled.is_empty() && recalled.remove(&key(topic, msg_id)).is_some();
        if taken {
            self.taken.store(true, Ordering::Release);
        }
        taken
    }

    /// Recalls waiting for their message.
    pub fn len(&self) -> usize {
        self.recalled.lock().len()
    }

    /// Whether no recall is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes timerRecall.json.
    pub fn persist(&self) -> Result<(), BrokerError> {
        self.taken.store(false, Ordering::Release);
        self.file.write_json(|| RecallFile {
            recalled: self.recalled.lock().clone(),
        })
    }

    /// Writes timerRecall.json if a recall was taken since the last write (a recall itself is
    /// written at once, by [`recall`](Self::recall)).
    pub fn persist_if_taken(&self) -> Result<(), BrokerError> {
        if self.taken.load(Ordering::Acquire) {
            self.persist()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_in_javas_form() {
        let h = RecallHandle::encode("Orders", "broker-a", 1_700_000_007_000, "AC11000100002A9F");
        // Java: Base64.getUrlEncoder() of "v1 Orders broker-a 1700000007001 AC11000100002A9F".
        assert_eq!(
            String::from_utf8(URL_SAFE.decode(&h).unwrap()).unwrap(),
            "v1 Orders broker-a 1700000007001 AC11000100002A9F"
        );
        let d = RecallHandle::decode(&h).unwrap();
        assert_eq!(
            d,
            RecallHandle {
                topic: "Orders".into(),
                broker_name: "broker-a".into(),
                deliver_ms: 1_700_000_007_001,
                msg_id: "AC11000100002A9F".into(),
            }
        );
        for bad in [
            "",
            "!!",
            &URL_SAFE.encode("v2 a b 1 c"),
            &URL_SAFE.encode("v1 a b x c"),
            &URL_SAFE.encode("v1 a b 1"),
        ] {
            assert_eq!(RecallHandle::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn recalls_persist_and_are_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let t = RecallTable::load(dir.path()).unwrap();
        t.recall("T", "ID1", 5_000, 1_000).unwrap();
        t.recall("T", "OLD", 0, 1_000).unwrap();
        let again = RecallTable::load(dir.path()).unwrap();
        assert_eq!(again.len(), 2);
        assert!(!again.take("U", "ID1"), "another topic's message");
        let file = dir.path().join("timerRecall.json");
        std::fs::remove_file(&file).unwrap();
        again.persist_if_taken().unwrap();
        assert!(!file.exists(), "nothing taken: nothing written");
        assert!(again.take("T", "ID1"));
        again.persist_if_taken().unwrap();
        assert!(file.exists(), "a taken recall is written back");
        assert!(!again.take("T", "ID1"), "taken once");
        // A day past its time, an entry nobody took is dropped at the next recall.
        again.recall("T", "ID2", 200_000_000, 100_000_000).unwrap();
        assert!(!again.take("T", "OLD"));
        assert!(again.take("T", "ID2"));
    }
}
