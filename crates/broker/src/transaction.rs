//! Transactional messages: half messages, their resolution, and check-back.
//!
//! - A send with sysFlag PREPARED (property `TRAN_MSG`="true") is stored as a *half message* in
//!   `RMQ_SYS_TRANS_HALF_TOPIC` queue 0 with its real topic/queue in `REAL_TOPIC`/`REAL_QID` and the
//!   transaction bits cleared, so consumers never see it (`to_half`).
//! - END_TRANSACTION COMMIT re-stores it in its real topic with sysFlag COMMIT and
//!   `preparedTransactionOffset` = the half's physical offset; COMMIT and ROLLBACK both append an
//!   *op* record to `RMQ_SYS_TRANS_OP_HALF_TOPIC` (tag "d", body = half queue offset in decimal).
//! - The check service scans half messages from its progress offset (kept as the committed offset
//!   of group `CID_RMQ_SYS_TRANS` on the half topic, persisted with consumer offsets): a half with
//!   an op is skipped; one younger than `transactionTimeOut` (or its CHECK_IMMUNITY_TIME_IN_SECONDS)
//!   ends the scan; one checked `transactionCheckMax` times is moved to
//!   `TRANS_CHECK_MAX_TIME_TOPIC` and resolved; otherwise a copy with TRANSACTION_CHECK_TIMES + 1 is
//!   appended to the half queue and CHECK_TRANSACTION_STATE (oneway; body = the copy's record
//!   with its real topic and queue put back, header topic = the half topic, as Java sends them)
//!   is sent to a live producer of its group (`PGROUP`). The producer answers with
//!   END_TRANSACTION naming the copy.
//!
//! Invariants: a half queue offset is resolved at most once (the resolved set is rebuilt from the
//! op queue at startup, so a second COMMIT after a restart is still refused); progress only moves
//! past halves that are resolved, re-appended or discarded.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use courier_remoting::code::request;
use courier_remoting::header::CheckTransactionStateRequestHeader;
use courier_remoting::RemotingCommand;
use courier_store::{
    decode_record, encode_properties, encode_record, offset_msg_id, properties_iter, MessageStore,
    MessageToStore, PutResult, PutStatus, StoredMessage, FLAG_TRANSACTION_COMMIT,
    FLAG_TRANSACTION_MASK,
};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::context::BrokerContext;
use crate::schedule::{park_in, PROPERTY_REAL_QUEUE_ID, PROPERTY_REAL_TOPIC};
use crate::topic_config::{
    now_ms, TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC,
};

/// Group whose committed offset on the half topic is the check progress.
pub const CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";
/// Property marking a transactional half message.
pub const PROPERTY_TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Property with the producer group.
pub const PROPERTY_PRODUCER_GROUP: &str = "PGROUP";
/// Property counting check-backs.
pub const PROPERTY_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Property overriding the first check delay (seconds).
pub const PROPERTY_CHECK_IMMUNITY: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";

/// Rewrites a prepared send into a half message. The caller stores the result.
pub fn to_half(msg: &mut MessageToStore) {
    park_in(msg, TRANS_HALF_TOPIC, 0);
    msg.sys_flag &= !FLAG_TRANSACTION_MASK;
}

/// The committed message for a half record.
pub fn committed_message(half: &StoredMessage<'_>) -> Option<MessageToStore> {
    let topic = half.property(PROPERTY_REAL_TOPIC)?;
    let queue_id: i32 = half.property(PROPERTY_REAL_QUEUE_ID)?.parse().ok()?;
    let props: Vec<(&str, &str)> = properties_iter(half.properties())
        .filter(|(k, _)| {
            !matches!(
                *k,
                PROPERTY_REAL_TOPIC
                    | PROPERTY_REAL_QUEUE_ID
                    | PROPERTY_TRANSACTION_PREPARED
                    | PROPERTY_CHECK_TIMES
            )
        })
        .collect();
    Some(MessageToStore {
        topic: topic.to_string(),
        queue_id,
        flag: half.flag(),
        body: bytes::Bytes::copy_from_slice(half.body()),
        properties: encode_properties(&props),
        sys_flag: (half.sys_flag() & !FLAG_TRANSACTION_MASK) | FLAG_TRANSACTION_COMMIT,
        born_timestamp: half.born_timestamp(),
        born_host: half.born_host(),
        reconsume_times: half.reconsume_times(),
        prepared_transaction_offset: half.phys_offset(),
    })
}

/// Resolution state of half messages.
pub struct TransactionService {
    resolved: Mutex<HashSet<i64>>,
}

impl TransactionService {
    /// Rebuilds the resolved set from the op queue.
    pub fn load(store: &MessageStore) -> TransactionService {
        let mut resolved = HashSet::new();
        let mut offset = store.min_offset(TRANS_OP_HALF_TOPIC, 0);
        loop {
            let r = store.get_messages(TRANS_OP_HALF_TOPIC, 0, offset, 256, u32::MAX, None);
            if r.messages.is_empty() {
                break;
            }
            for b in &r.messages {
                if let Ok(m) = decode_record(b) {
                    for part in std::str::from_utf8(m.body()).unwrap_or("").split(',') {
                        if let Ok(o) = part.trim().parse::<i64>() {
                            resolved.insert(o);
                        }
                    }
                }
            }
            offset = r.next_begin_offset;
        }
        TransactionService {
            resolved: Mutex::new(resolved),
        }
    }

    /// True when the half at this queue offset was committed, rolled back or discarded.
    pub fn is_resolved(&self, half_queue_offset: i64) -> bool {
        self.resolved.lock().contains(&half_queue_offset)
    }

    /// Claims the half for resolution; false when someone already resolved it.
    pub fn claim(&self, half_queue_offset: i64) -> bool {
        self.resolved.lock().insert(half_queue_offset)
    }

    /// Gives a claim back (the commit could not be stored).
    pub fn unclaim(&self, half_queue_offset: i64) {
        self.resolved.lock().remove(&half_queue_offset);
    }

    /// Appends the op record that marks the half resolved.
    pub async fn write_op(&self, store: &MessageStore, half_queue_offset: i64) -> PutResult {
        let mut op = MessageToStore::new(
            TRANS_OP_HALF_TOPIC,
            0,
            half_queue_offset.to_string().into_bytes(),
        );
        op.properties = encode_properties(&[("TAGS", "d"), ("WAIT", "false")]);
        store.put(op).await
    }

    /// One check-back pass; returns how many checks were sent.
    pub async fn check_once(&self, ctx: &BrokerContext) -> usize {
        let store = &ctx.store;
        let cfg = &ctx.config();
        let mut offset = ctx
            .offsets
            .query(CHECK_GROUP, TRANS_HALF_TOPIC, 0)
            .unwrap_or(0)
            .max(store.min_offset(TRANS_HALF_TOPIC, 0));
        // Only halves that exist now: copies appended by this pass are checked next time.
        let end = store.max_offset(TRANS_HALF_TOPIC, 0);
        let mut checks = 0;
        'scan: while offset < end {
            // Halves wait up to the check interval and beyond: maybe no longer in memory.
            let r = crate::blocking::get_messages(store, TRANS_HALF_TOPIC, 0, offset, 32, u32::MAX)
                .await;
            if r.messages.is_empty() {
                break;
            }
            for b in &r.messages {
                let Ok(half) = decode_record(b) else {
                    offset += 1;
                    continue;
                };
                let qo = half.queue_offset();
                if qo >= end {
                    break 'scan;
                }
                if !self.is_resolved(qo) {
                    let immunity_ms = half
                        .property(PROPERTY_CHECK_IMMUNITY)
                        .and_then(|s| s.parse::<i64>().ok())
                        .map(|s| s.saturating_mul(1000))
                        .unwrap_or(cfg.transaction_time_out as i64);
                    let age =
                        now_ms().saturating_sub(half.born_timestamp().max(half.store_timestamp()));
                    if age < immunity_ms {
                        break 'scan;
                    }
                    let times: i32 = half
                        .property(PROPERTY_CHECK_TIMES)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    if times >= cfg.transaction_check_max {
                        if !self.discard(store, &half).await {
                            break 'scan;
                        }
                    } else if !self.check_back(ctx, &half, times).await {
                        break 'scan;
                    } else {
                        checks += 1;
                    }
                }
                offset = qo + 1;
                ctx.offsets.commit(CHECK_GROUP, TRANS_HALF_TOPIC, 0, offset);
            }
        }
        checks
    }

    async fn discard(&self, store: &MessageStore, half: &StoredMessage<'_>) -> bool {
        let mut msg = MessageToStore::new(
            TRANS_CHECK_MAX_TIME_TOPIC,
            0,
            bytes::Bytes::copy_from_slice(half.body()),
        );
        msg.properties = half.properties().to_string();
        msg.flag = half.flag();
        msg.born_timestamp = half.born_timestamp();
        msg.born_host = half.born_host();
        let put = store.put(msg).await;
        if !matches!(put.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
            return false;
        }
        tracing::warn!(
            half_offset = half.queue_offset(),
            "transaction half message discarded after too many check-backs"
        );
        self.claim(half.queue_offset());
        let _ = self.write_op(store, half.queue_offset()).await;
        true
    }

    async fn check_back(&self, ctx: &BrokerContext, half: &StoredMessage<'_>, times: i32) -> bool {
        let store = &ctx.store;
        let times_s = times.saturating_add(1).to_string();
        let props: Vec<(&str, &str)> = properties_iter(half.properties())
            .filter(|(k, _)| *k != PROPERTY_CHECK_TIMES)
            .chain(std::iter::once((PROPERTY_CHECK_TIMES, times_s.as_str())))
            .collect();
        let copy = MessageToStore {
            topic: TRANS_HALF_TOPIC.to_string(),
            queue_id: 0,
            flag: half.flag(),
            body: bytes::Bytes::copy_from_slice(half.body()),
            properties: encode_properties(&props),
            sys_flag: half.sys_flag(),
            born_timestamp: half.born_timestamp(),
            born_host: half.born_host(),
            reconsume_times: half.reconsume_times(),
            prepared_transaction_offset: 0,
        };
        let put = store.put(copy).await;
        if !matches!(put.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
            return false;
        }
        // The original is superseded by the copy: resolve it durably so it is never committed
        // as well as the copy.
        self.claim(half.queue_offset());
        let _ = self.write_op(store, half.queue_offset()).await;
        let group = half.property(PROPERTY_PRODUCER_GROUP).unwrap_or("");
        let Some(channel) = ctx.producers.any_channel(group) else {
            tracing::debug!(
                group,
                "no live producer to check a transaction with; will retry"
            );
            return true;
        };
        let Some(record) = store.message_by_phys_offset(put.phys_offset) else {
            return true;
        };
        let Some(checked) = as_checked(&record) else {
            tracing::warn!(
                offset = put.phys_offset,
                "a half message without its real topic; not checked"
            );
            return true;
        };
        // As Java's `sendCheckMessage`: the header names the half topic, the message its own.
        let header = CheckTransactionStateRequestHeader {
            topic: Some(TRANS_HALF_TOPIC.to_string()),
            tran_state_table_offset: put.queue_offset,
            commit_log_offset: put.phys_offset,
            msg_id: half.property("UNIQ_KEY").map(str::to_string),
            transaction_id: half.property("UNIQ_KEY").map(str::to_string),
            offset_msg_id: Some(offset_msg_id(ctx.config().broker_addr(), put.phys_offset)),
            broker_name: Some(ctx.config().broker_name.clone()),
        };
        let cmd = RemotingCommand::request_with_header(request::CHECK_TRANSACTION_STATE, &header)
            .with_body(checked);
        if let Err(e) = channel.invoke_oneway(cmd).await {
            tracing::debug!(error = %e, "CHECK_TRANSACTION_STATE not delivered");
        }
        true
    }

    /// Runs check passes every `transactionCheckInterval` until `stop`.
    pub async fn run(self: Arc<Self>, ctx: Arc<BrokerContext>, stop: CancellationToken) {
        loop {
            let period = Duration::from_millis(ctx.config().transaction_check_interval.max(10));
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(period) => {}
            }
            self.check_once(&ctx).await;
        }
    }
}
/// A stored half message (a record of the half queue) as a producer's check-back gets it, as
/// Java's `sendCheckMessage` sends it: with its real topic and queue (`REAL_TOPIC` / `REAL_QID`),
/// everything else as stored, so a checker sees the message it sent. None without those
/// properties.
fn as_checked(record: &[u8]) -> Option<Vec<u8>> {
    let m = decode_record(record).ok()?;
    let topic = m.property(PROPERTY_REAL_TOPIC)?;
    let queue_id = m.property(PROPERTY_REAL_QUEUE_ID)?.parse().ok()?;
    let msg = MessageToStore {
        topic: topic.to_string(),
        queue_id,
        flag: m.flag(),
        body: bytes::Bytes::copy_from_slice(m.body()),
        properties: m.properties().to_string(),
        sys_flag: m.sys_flag(),
        born_timestamp: m.born_timestamp(),
        born_host: m.born_host(),
        reconsume_times: m.reconsume_times(),
        prepared_transaction_offset: m.prepared_transaction_offset(),
    };
    Some(encode_record(
        &msg,
        m.queue_offset(),
        m.phys_offset(),
        m.store_timestamp(),
        m.store_host(),
    ))
}
