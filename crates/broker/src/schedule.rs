//! Delay levels (RocketMQ 4.x style): messages with a `DELAY` property, and consumer retries sent
//! back with CONSUMER_SEND_MSG_BACK, wait in `SCHEDULE_TOPIC_XXXX` queue `level - 1` and are
//! re-stored in their real topic/queue when due.
//!
//! Invariants:
//! - A diverted message keeps its original topic and queue in `REAL_TOPIC` / `REAL_QID`; its
//!   level is clamped to the highest configured level. Prepared/rollback transaction records are
//!   never diverted.
//! - Each level's queue holds messages in store order and every message of a level has the same
//!   delay, so deliver times are non-decreasing along the queue: the service reads each level from
//!   its progress offset and stops at the first message not yet due. (Courier's store writes the
//!   TAGS hash, not the deliver time, into the ConsumeQueue of this topic, so the deliver time is
//!   computed from the record's store timestamp.)
//! - Progress (level → next schedule-queue offset to deliver) advances only after the re-store
//!   succeeded, so a crash re-delivers at most the messages in flight (at-least-once); it is
//!   persisted to `config/delayOffset.json` (`{"offsetTable":{"1":12,...}}`, fastjson's unquoted
//!   keys accepted on read) every 10 s and at shutdown.
//! - The delivered copy has `DELAY` removed and otherwise the original properties, body, flag,
//!   born time/host and reconsume count.
//!
//! Timer messages (RocketMQ 5: `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`, `TIMER_DELAY_MS`) ride the
//! same levels instead of a timer wheel of their own ([`divert_if_timer`]): the send computes
//! the deliver time as Java's `HookUtils` does (rounded down to `TIMER_PRECISION_MS`, stored in
//! `TIMER_OUT_MS`) and parks the message at the longest level that does not pass it. When that
//! level is due, a message whose deliver time is still ahead is parked again, at the longest
//! level that fits what remains, until none remains. So the per-level invariant above holds
//! (every parking of a level waits that level's delay), a pending timer survives a restart with
//! the level's progress, and a timer of length D costs about D / (longest level) + a few
//! re-stores. A timer fires no earlier than its rounded deliver time and at most the shortest
//! level (1 s by default) plus the 100 ms poll after it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use courier_store::{
    decode_record, encode_properties, properties_iter, property_value, MessageStore,
    MessageToStore, PutStatus, FLAG_TRANSACTION_MASK, FLAG_TRANSACTION_PREPARED,
    FLAG_TRANSACTION_ROLLBACK,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::json_compat::quote_numeric_keys;
use crate::persist;
use crate::recall::RecallTable;
use crate::topic_config::{now_ms, SCHEDULE_TOPIC};

/// Property holding the delay level.
pub const PROPERTY_DELAY: &str = "DELAY";
/// Property holding the real topic of a diverted message.
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
/// Property holding the real queue id of a diverted message.
pub const PROPERTY_REAL_QUEUE_ID: &str = "REAL_QID";
/// Timer properties a producer sets (RocketMQ 5 `MessageConst`), read in this order of precedence.
pub const PROPERTY_TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
pub const PROPERTY_TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
pub const PROPERTY_TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// The deliver time the broker settled on, in ms (set on send; kept on the delivered copy).
pub const PROPERTY_TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Deliver times are rounded down to this many ms (RocketMQ's `timerPrecisionMs` default).
pub const TIMER_PRECISION_MS: i64 = 1000;

const POLL_INTERVAL: Duration = Duration::from_millis(100);
const PERSIST_INTERVAL: Duration = Duration::from_secs(10);
const BATCH: u32 = 32;

/// Parses `messageDelayLevel` ("1s 5s 10s 30s 1m ... 2h"; units s, m, h, d).
pub fn parse_delay_levels(text: &str) -> Result<Vec<Duration>, String> {
    let mut levels = Vec::new();
    for item in text.split_whitespace() {
        let (num, unit) = item.split_at(item.len().saturating_sub(1));
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("{item:?} must end in s, m, h or d")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{item:?} does not start with a number"))?;
        let total = n
            .checked_mul(secs)
            .ok_or_else(|| format!("{item:?} is too long"))?;
        levels.push(Duration::from_secs(total));
    }
    if levels.is_empty() {
        return Err("no delay level given".to_string());
    }
    Ok(levels)
}

/// Moves a message with a positive `DELAY` level into the schedule topic. Returns the level used.
pub fn divert_if_delayed(msg: &mut MessageToStore, max_level: usize) -> Option<usize> {
    let tx = msg.sys_flag & FLAG_TRANSACTION_MASK;
    if tx == FLAG_TRANSACTION_PREPARED || tx == FLAG_TRANSACTION_ROLLBACK {
        return None;
    }
    let level: i64 = property_value(&msg.properties, PROPERTY_DELAY)?
        .trim()
        .parse()
        .ok()?;
    if level <= 0 || max_level == 0 || msg.topic == SCHEDULE_TOPIC {
        return None;
    }
    let level = (level as usize).min(max_level);
    park_in(msg, SCHEDULE_TOPIC, (level - 1) as i32);
    Some(level)
}

/// Why a send's timer properties are refused; the send answers with Java's code and remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerRefused {
    /// `timerWheelEnable` is off (SYSTEM_ERROR).
    NotEnabled,
    /// Unparsable, or further ahead than `timerMaxDelaySec` (MESSAGE_ILLEGAL).
    Illegal,
}

/// The schedule's part of storing a message (a single send, a committed transaction): a timer
/// ([`divert_if_timer`]) or else a DELAY level ([`divert_if_delayed`]) parks it in the schedule
/// topic. Returns whether a timer parked it. Every single send passes here, so a message without
/// a timer costs one substring scan, and the clock is read only for one with.
pub fn divert_scheduled(
    msg: &mut MessageToStore,
    schedule: &ScheduleService,
    config: &BrokerConfig,
) -> Result<bool, TimerRefused> {
    let parked = msg.properties.contains("TIMER_")
        && divert_if_timer(
            msg,
            &schedule.levels,
            config.timer_wheel_enable,
            Duration::from_secs(config.timer_max_delay_sec),
            now_ms(),
        )?;
    divert_if_delayed(msg, schedule.max_level());
    Ok(parked)
}

/// Handles a send's timer properties as RocketMQ 5's `HookUtils.handleScheduleMessage`: a
/// `DELAY` level wins (the timer properties are dropped); a deliver time still ahead parks the
/// message in the schedule topic with `TIMER_OUT_MS` (see the module doc); one already past
/// leaves it to be stored at once. Returns whether the message was parked.
pub fn divert_if_timer(
    msg: &mut MessageToStore,
    levels: &[Duration],
    enabled: bool,
    max_delay: Duration,
    now_ms: i64,
) -> Result<bool, TimerRefused> {
    let tx = msg.sys_flag & FLAG_TRANSACTION_MASK;
    if tx == FLAG_TRANSACTION_PREPARED || tx == FLAG_TRANSACTION_ROLLBACK {
        return Ok(false);
    }
    let timer_keys = [
        PROPERTY_TIMER_DELAY_SEC,
        PROPERTY_TIMER_DELAY_MS,
        PROPERTY_TIMER_DELIVER_MS,
    ];
    let delayed = property_value(&msg.properties, PROPERTY_DELAY)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|level| level > 0);
    if delayed {
        if timer_keys
            .iter()
            .any(|k| property_value(&msg.properties, k).is_some())
        {
            let props: Vec<(&str, &str)> = properties_iter(&msg.properties)
                .filter(|(k, _)| !timer_keys.contains(k))
                .collect();
            msg.properties = encode_properties(&props);
        }
        return Ok(false);
    }
    // A copy the schedule already handled (it carries its settled time) is never re-timed.
    if msg.topic == SCHEDULE_TOPIC
        || property_value(&msg.properties, PROPERTY_TIMER_OUT_MS).is_some()
    {
        return Ok(false);
    }
    let value = |k: &str| property_value(&msg.properties, k).map(|v| v.parse::<i64>());
    let deliver_ms = if let Some(sec) = value(PROPERTY_TIMER_DELAY_SEC) {
        sec.ok()
            .and_then(|s| s.checked_mul(1000))
            .and_then(|ms| now_ms.checked_add(ms))
    } else if let Some(ms) = value(PROPERTY_TIMER_DELAY_MS) {
        ms.ok().and_then(|ms| now_ms.checked_add(ms))
    } else if let Some(at) = value(PROPERTY_TIMER_DELIVER_MS) {
        at.ok()
    } else {
        return Ok(false);
    };
    if !enabled {
        return Err(TimerRefused::NotEnabled);
    }
    let Some(mut deliver_ms) = deliver_ms else {
        return Err(TimerRefused::Illegal);
    };
    if deliver_ms <= now_ms {
        return Ok(false);
    }
    if deliver_ms - now_ms > max_delay.as_millis().min(i64::MAX as u128) as i64 {
        return Err(TimerRefused::Illegal);
    }
    // Java's rounding: down to the precision, and an exact multiple one step further down.
    deliver_ms = if deliver_ms % TIMER_PRECISION_MS == 0 {
        deliver_ms - TIMER_PRECISION_MS
    } else {
        deliver_ms / TIMER_PRECISION_MS * TIMER_PRECISION_MS
    };
    let out = deliver_ms.to_string();
    let mut props: Vec<(&str, &str)> = properties_iter(&msg.properties).collect();
    props.push((PROPERTY_TIMER_OUT_MS, &out));
    msg.properties = encode_properties(&props);
    if deliver_ms <= now_ms || levels.is_empty() {
        return Ok(false);
    }
    park_in(
        msg,
        SCHEDULE_TOPIC,
        level_for(levels, deliver_ms - now_ms) as i32 - 1,
    );
    Ok(true)
}

/// The longest level (1-based) whose delay does not exceed `remaining_ms`, or the shortest
/// level when even that is longer (the timer then fires up to that level late, never early).
fn level_for(levels: &[Duration], remaining_ms: i64) -> usize {
    levels
        .iter()
        .enumerate()
        .filter(|(_, d)| d.as_millis() as i64 <= remaining_ms)
        .max_by_key(|(_, d)| **d)
        .map_or_else(
            || {
                levels
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, d)| **d)
                    .map_or(1, |(i, _)| i + 1)
            },
            |(i, _)| i + 1,
        )
}

/// Moves a message into a system topic's queue (delays, half messages), recording where it was
/// headed in REAL_TOPIC / REAL_QID; a pair from an earlier move is replaced, not duplicated.
pub fn park_in(msg: &mut MessageToStore, system_topic: &str, queue_id: i32) {
    let queue = msg.queue_id.to_string();
    let mut props: Vec<(&str, &str)> = properties_iter(&msg.properties)
        .filter(|(k, _)| *k != PROPERTY_REAL_TOPIC && *k != PROPERTY_REAL_QUEUE_ID)
        .collect();
    props.push((PROPERTY_REAL_TOPIC, &msg.topic));
    props.push((PROPERTY_REAL_QUEUE_ID, &queue));
    msg.properties = encode_properties(&props);
    msg.topic = system_topic.to_string();
    msg.queue_id = queue_id;
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OffsetFile {
    #[serde(default)]
    offset_table: BTreeMap<usize, i64>,
}

/// The schedule service: delay levels and per-level delivery progress.
pub struct ScheduleService {
    levels: Vec<Duration>,
    file: persist::TableFile,
    offsets: Mutex<BTreeMap<usize, i64>>,
    /// Recalled timer messages, dropped instead of delivered.
    pub recalls: RecallTable,
}

impl ScheduleService {
    /// Loads `config/delayOffset.json` (or its .bak).
    pub fn load(config_dir: PathBuf, levels: Vec<Duration>) -> Result<Self, BrokerError> {
        let path = config_dir.join("delayOffset.json");
        let loaded = persist::load(&path, |text| {
            serde_json::from_str::<OffsetFile>(&quote_numeric_keys(text)).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        Ok(ScheduleService {
            levels,
            file: persist::TableFile::new(path),
            offsets: Mutex::new(loaded.offset_table),
            recalls: RecallTable::load(&config_dir)?,
        })
    }

    /// Number of delay levels.
    pub fn max_level(&self) -> usize {
        self.levels.len()
    }

    /// The delay of each level, level 1 first.
    pub fn levels(&self) -> &[Duration] {
        &self.levels
    }

    /// Delivery progress of a level (next schedule-queue offset).
    pub fn offset(&self, level: usize) -> i64 {
        self.offsets.lock().get(&level).copied().unwrap_or(0)
    }

    fn snapshot(&self) -> OffsetFile {
        OffsetFile {
            offset_table: self.offsets.lock().clone(),
        }
    }

    /// The progress as delayOffset.json holds it (`{"offsetTable":{"1":12,...}}`): the body of
    /// GET_ALL_DELAY_OFFSET, which admin tools and slaves read.
    pub fn encode(&self) -> Vec<u8> {
        courier_remoting::body::to_json(&self.snapshot())
    }

    /// Writes delayOffset.json (and timerRecall.json when dropped messages shrank it).
    pub fn persist(&self) -> Result<(), BrokerError> {
        self.file.write_json(|| self.snapshot())?;
        self.recalls.persist_if_taken()
    }

    /// Delivers every due message of every level; returns how many were delivered.
    pub async fn deliver_due(&self, store: &Arc<MessageStore>, now_ms: i64) -> usize {
        let mut delivered = 0;
        for level in 1..=self.levels.len() {
            delivered += self.deliver_level(store, level, now_ms).await;
        }
        delivered
    }

    async fn deliver_level(&self, store: &Arc<MessageStore>, level: usize, now_ms: i64) -> usize {
        let delay_ms = self.levels[level - 1].as_millis() as i64;
        let queue = (level - 1) as i32;
        let mut offset = self.offset(level);
        // A pass takes only what was parked before it: a timer parked again on this level
        // waits for the next pass (it is never due at once on a true clock, but a pass must end
        // whatever clock it is given).
        let end = store.max_offset(SCHEDULE_TOPIC, queue);
        let mut delivered = 0;
        'outer: loop {
            if offset >= end {
                break;
            }
            // Due messages were stored up to the longest delay ago: maybe no longer in memory.
            let r = crate::blocking::get_messages(
                store,
                SCHEDULE_TOPIC,
                queue,
                offset,
                BATCH,
                u32::MAX,
            )
            .await;
            use courier_store::GetStatus::*;
            match r.status {
                Found => {}
                OffsetTooSmall | OffsetOverflowBadly => {
                    offset = r.next_begin_offset;
                    self.offsets.lock().insert(level, offset);
                    continue;
                }
                _ => break,
            }
            for record in &r.messages {
                if offset >= end {
                    break 'outer;
                }
                let Ok(m) = decode_record(record) else {
                    tracing::warn!(level, offset, "undecodable schedule record skipped");
                    offset += 1;
                    continue;
                };
                if m.store_timestamp().saturating_add(delay_ms) > now_ms {
                    break 'outer;
                }
                let next = m.queue_offset() + 1;
                let timer = m
                    .property(PROPERTY_TIMER_OUT_MS)
                    .and_then(|v| v.parse::<i64>().ok());
                // A recalled timer is dropped when its time comes (RECALL_MESSAGE, `recall.rs`).
                let recalled = timer.is_some_and(|at| at <= now_ms)
                    && m.property(PROPERTY_REAL_TOPIC)
                        .zip(m.property("UNIQ_KEY"))
                        .is_some_and(|(topic, id)| self.recalls.take(topic, id));
                if recalled {
                    tracing::debug!(
                        level,
                        offset = m.queue_offset(),
                        "recalled timer message dropped"
                    );
                    offset = next;
                    self.offsets.lock().insert(level, offset);
                    continue;
                }
                let due = restore(&m).map(|mut msg| {
                    // A timer with time left is parked again at the level that fits it.
                    if let Some(left) = timer.map(|at| at - now_ms).filter(|left| *left > 0) {
                        park_in(
                            &mut msg,
                            SCHEDULE_TOPIC,
                            level_for(&self.levels, left) as i32 - 1,
                        );
                    }
                    msg
                });
                match due {
                    Some(msg) => {
                        let put = store.put(msg).await;
                        if !matches!(put.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
                            tracing::warn!(level, status = ?put.status, reason = ?put.reason, "delayed message not delivered; will retry");
                            break 'outer;
                        }
                        delivered += 1;
                    }
                    None => {
                        tracing::warn!(
                            level,
                            offset = m.queue_offset(),
                            "schedule record without REAL_TOPIC/REAL_QID skipped"
                        );
                    }
                }
                offset = next;
                self.offsets.lock().insert(level, offset);
            }
            if r.messages.is_empty() {
                break;
            }
        }
        delivered
    }

    /// Runs delivery every 100 ms and persistence every 10 s until `stop`; persists at the end.
    pub async fn run(self: Arc<Self>, store: Arc<MessageStore>, stop: CancellationToken) {
        let mut last_persist = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
            self.deliver_due(&store, now_ms()).await;
            if last_persist.elapsed() >= PERSIST_INTERVAL {
                last_persist = tokio::time::Instant::now();
                // An fsync: kept off the async worker, as the consumer offsets' is.
                let me = Arc::clone(&self);
                if let Some(Err(e)) = crate::blocking::off_the_runtime(move || me.persist()).await {
                    tracing::warn!(error = %e, "persisting delayOffset.json failed");
                }
            }
        }
        if let Err(e) = self.persist() {
            tracing::warn!(error = %e, "persisting delayOffset.json failed");
        }
    }
}

/// The message to re-store for a due schedule record.
fn restore(m: &courier_store::StoredMessage<'_>) -> Option<MessageToStore> {
    let topic = m.property(PROPERTY_REAL_TOPIC)?;
    let queue_id: i32 = m.property(PROPERTY_REAL_QUEUE_ID)?.parse().ok()?;
    let props: Vec<(&str, &str)> = properties_iter(m.properties())
        .filter(|(k, _)| *k != PROPERTY_DELAY)
        .collect();
    Some(MessageToStore {
        topic: topic.to_string(),
        queue_id,
        flag: m.flag(),
        body: bytes::Bytes::copy_from_slice(m.body()),
        properties: encode_properties(&props),
        sys_flag: m.sys_flag(),
        born_timestamp: m.born_timestamp(),
        born_host: m.born_host(),
        reconsume_times: m.reconsume_times(),
        prepared_transaction_offset: m.prepared_transaction_offset(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_levels_parse() {
        let l = parse_delay_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h")
            .unwrap();
        assert_eq!(l.len(), 18);
        assert_eq!(l[2], Duration::from_secs(10));
        assert_eq!(l[17], Duration::from_secs(7200));
        assert!(parse_delay_levels("").is_err());
        assert!(parse_delay_levels("5").is_err());
        assert!(parse_delay_levels("xs").is_err());
    }

    #[test]
    fn divert_keeps_real_topic_and_clamps_level() {
        let mut m = MessageToStore::new("T", 3, &b"x"[..]);
        m.properties = encode_properties(&[("DELAY", "99"), ("TAGS", "a")]);
        assert_eq!(divert_if_delayed(&mut m, 18), Some(18));
        assert_eq!(m.topic, SCHEDULE_TOPIC);
        assert_eq!(m.queue_id, 17);
        assert_eq!(property_value(&m.properties, "REAL_TOPIC"), Some("T"));
        assert_eq!(property_value(&m.properties, "REAL_QID"), Some("3"));
        assert_eq!(property_value(&m.properties, "TAGS"), Some("a"));

        let mut plain = MessageToStore::new("T", 0, &b"x"[..]);
        assert_eq!(divert_if_delayed(&mut plain, 18), None);
        plain.properties = encode_properties(&[("DELAY", "0")]);
        assert_eq!(divert_if_delayed(&mut plain, 18), None);
        let mut prepared = MessageToStore::new("T", 0, &b"x"[..]);
        prepared.properties = encode_properties(&[("DELAY", "2")]);
        prepared.sys_flag = FLAG_TRANSACTION_PREPARED;
        assert_eq!(divert_if_delayed(&mut prepared, 18), None);
    }

    fn small_store(dir: &std::path::Path) -> Arc<MessageStore> {
        let mut cfg = courier_store::StoreConfig::new(dir);
        cfg.commitlog_file_size = 1 << 20;
        cfg.cq_entries_per_file = 1000;
        cfg.index_slots = 100;
        cfg.index_entries = 400;
        Arc::new(MessageStore::open(cfg).unwrap())
    }

    fn timer_message(props: &[(&str, &str)]) -> MessageToStore {
        let mut m = MessageToStore::new("Real", 1, &b"t"[..]);
        m.properties = encode_properties(props);
        m
    }

    #[test]
    fn timer_properties_are_read_as_java_reads_them() {
        let levels =
            parse_delay_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h")
                .unwrap();
        let week = Duration::from_secs(3 * 24 * 3600);
        let now = 1_700_000_000_300;
        let divert = |m: &mut MessageToStore| divert_if_timer(m, &levels, true, week, now);

        // DELAY_SEC wins over DELIVER_MS; the deliver time is rounded down to the second and
        // the message waits at the longest level that does not pass it (7.3 s → 5 s).
        let mut m = timer_message(&[("TIMER_DELAY_SEC", "7"), ("TIMER_DELIVER_MS", "1")]);
        assert_eq!(divert(&mut m), Ok(true));
        assert_eq!((m.topic.as_str(), m.queue_id), (SCHEDULE_TOPIC, 1));
        assert_eq!(
            property_value(&m.properties, "TIMER_OUT_MS"),
            Some("1700000007000")
        );
        assert_eq!(property_value(&m.properties, "REAL_TOPIC"), Some("Real"));
        assert_eq!(property_value(&m.properties, "REAL_QID"), Some("1"));

        // An exact multiple of the precision goes one step earlier, as in Java.
        let mut m = timer_message(&[("TIMER_DELIVER_MS", "1700000090000")]);
        assert_eq!(divert(&mut m), Ok(true));
        assert_eq!(
            property_value(&m.properties, "TIMER_OUT_MS"),
            Some("1700000089000")
        );
        assert_eq!(m.queue_id, 4, "88.7 s → the 1 min level");

        let mut m = timer_message(&[("TIMER_DELAY_MS", "2500")]);
        assert_eq!(divert(&mut m), Ok(true));
        assert_eq!(m.queue_id, 0, "2.2 s → the 1 s level");

        // Past or now: stored at once, untouched.
        let mut m = timer_message(&[("TIMER_DELIVER_MS", "1700000000000")]);
        assert_eq!(divert(&mut m), Ok(false));
        assert_eq!(m.topic, "Real");
        assert_eq!(property_value(&m.properties, "TIMER_OUT_MS"), None);

        // Refused: not a number, too far ahead, or timers switched off.
        for bad in [
            ("TIMER_DELAY_SEC", "soon"),
            ("TIMER_DELAY_SEC", "9999999999999999"),
        ] {
            assert_eq!(
                divert(&mut timer_message(&[bad])),
                Err(TimerRefused::Illegal)
            );
        }
        let four_days = (now + 4 * 86_400_000).to_string();
        let mut far = timer_message(&[("TIMER_DELIVER_MS", four_days.as_str())]);
        assert_eq!(divert(&mut far), Err(TimerRefused::Illegal));
        let mut off = timer_message(&[("TIMER_DELAY_SEC", "5")]);
        assert_eq!(
            divert_if_timer(&mut off, &levels, false, week, now),
            Err(TimerRefused::NotEnabled)
        );

        // A DELAY level wins and the timer properties are dropped; a settled copy is left alone.
        let mut m = timer_message(&[("DELAY", "2"), ("TIMER_DELAY_SEC", "60"), ("TAGS", "a")]);
        assert_eq!(divert(&mut m), Ok(false));
        assert_eq!(property_value(&m.properties, "TIMER_DELAY_SEC"), None);
        assert_eq!(property_value(&m.properties, "TAGS"), Some("a"));
        let mut m = timer_message(&[("TIMER_DELAY_SEC", "60"), ("TIMER_OUT_MS", "1")]);
        assert_eq!(divert(&mut m), Ok(false));
        let mut m = timer_message(&[("TIMER_DELAY_SEC", "60")]);
        m.sys_flag = FLAG_TRANSACTION_PREPARED;
        assert_eq!(divert(&mut m), Ok(false));
    }

    #[test]
    fn the_level_for_a_remaining_time_is_the_longest_that_fits() {
        let levels = parse_delay_levels("5s 1s 1m").unwrap();
        assert_eq!(level_for(&levels, 70_000), 3);
        assert_eq!(level_for(&levels, 59_999), 1);
        assert_eq!(level_for(&levels, 4_999), 2);
        assert_eq!(
            level_for(&levels, 300),
            2,
            "shorter than every level: the shortest"
        );
    }

    #[tokio::test]
    async fn a_timer_hops_down_the_levels_and_is_delivered_once_its_time_has_come() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let levels = parse_delay_levels("1s 5s").unwrap();
        let svc = ScheduleService::load(dir.path().join("config"), levels.clone()).unwrap();
        let start = now_ms();
        let at = (start + 12_500).to_string();
        let mut m = timer_message(&[("TIMER_DELIVER_MS", at.as_str()), ("TAGS", "t")]);
        let week = Duration::from_secs(7 * 86_400);
        assert_eq!(
            divert_if_timer(&mut m, &levels, true, week, start),
            Ok(true)
        );
        let out: i64 = property_value(&m.properties, "TIMER_OUT_MS")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(store.put(m).await.status, PutStatus::PutOk);

        // The 5 s level is due after 6 s, but 6 s remain: parked again, nothing delivered.
        svc.deliver_due(&store, start + 6_000).await;
        assert_eq!(store.max_offset("Real", 1), 0);
        assert_eq!(
            store.max_offset(SCHEDULE_TOPIC, 1),
            2,
            "parked twice on the 5 s level"
        );
        // Its time has come.
        svc.deliver_due(&store, out).await;
        let r = store.get_messages("Real", 1, 0, 10, u32::MAX, None);
        assert_eq!(r.messages.len(), 1);
        let got = decode_record(&r.messages[0]).unwrap();
        assert_eq!(got.body(), b"t");
        assert_eq!(got.property("TAGS"), Some("t"));
        assert_eq!(got.property("TIMER_OUT_MS"), Some(out.to_string().as_str()));
        assert_eq!(
            got.property("TIMER_DELIVER_MS"),
            Some(at.as_str()),
            "kept, as in Java"
        );
        assert_eq!(
            svc.deliver_due(&store, out + 60_000).await,
            0,
            "delivered once"
        );
        store.shutdown().unwrap();
    }

    #[tokio::test]
    async fn due_messages_are_restored_in_order_and_progress_persists() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let svc = ScheduleService::load(
            dir.path().join("config"),
            parse_delay_levels("1s 1h").unwrap(),
        )
        .unwrap();
        for (i, level) in [(0, "1"), (1, "2"), (2, "1")] {
            let mut m = MessageToStore::new("Real", 2, format!("m{i}").into_bytes());
            m.properties = encode_properties(&[("DELAY", level), ("TAGS", "t")]);
            assert!(divert_if_delayed(&mut m, svc.max_level()).is_some());
            assert_eq!(store.put(m).await.status, PutStatus::PutOk);
        }
        assert_eq!(store.max_offset("Real", 2), 0);
        // Not due yet.
        assert_eq!(svc.deliver_due(&store, now_ms()).await, 0);
        // 2 s later level 1 is due, level 2 (1 h) is not.
        assert_eq!(svc.deliver_due(&store, now_ms() + 2_000).await, 2);
        let r = store.get_messages("Real", 2, 0, 10, u32::MAX, None);
        let bodies: Vec<Vec<u8>> = r
            .messages
            .iter()
            .map(|b| decode_record(b).unwrap().body().to_vec())
            .collect();
        assert_eq!(bodies, vec![b"m0".to_vec(), b"m2".to_vec()]);
        let first = decode_record(&r.messages[0]).unwrap();
        assert_eq!(first.property("DELAY"), None);
        assert_eq!(first.property("TAGS"), Some("t"));
        assert_eq!(
            first.tags_code(),
            i64::from(courier_store::java_string_hash("t"))
        );
        assert_eq!(svc.offset(1), 2);
        svc.persist().unwrap();
        let again = ScheduleService::load(
            dir.path().join("config"),
            parse_delay_levels("1s 1h").unwrap(),
        )
        .unwrap();
        assert_eq!(again.offset(1), 2);
        assert_eq!(
            again.deliver_due(&store, now_ms() + 2_000).await,
            0,
            "no re-delivery"
        );
        assert_eq!(again.deliver_due(&store, now_ms() + 7_200_000).await, 1);
        store.shutdown().unwrap();
    }
}
