//! END_TRANSACTION (37): a producer commits or rolls back a half message (usually oneway).
//!
//! Validation (RocketMQ's texts): the half must exist at `commitLogOffset` (else SYSTEM_ERROR
//! "Find prepared transaction message failed"), belong to `producerGroup` ("The producer group
//! wrong"), sit at `tranStateTableOffset` in the half queue ("The transaction state table offset
//! wrong"), and not be resolved already. COMMIT stores the real message and an op record;
//! ROLLBACK only the op record; NOT_TYPE (unknown) leaves it for the check-back. A committed
//! message with a timer or a DELAY level waits in the schedule from the commit on, as in Java
//! (a half message's timer is not looked at before).

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::header::{
    EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::{decode_record, PutStatus};

use super::error;
use crate::context::BrokerContext;
use crate::schedule::divert_scheduled;
use crate::topic_config::TRANS_HALF_TOPIC;
use crate::transaction::{committed_message, PROPERTY_PRODUCER_GROUP};

/// Handles END_TRANSACTION.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: EndTransactionRequestHeader = req.decode_header()?;
    let commit = match h.commit_or_rollback {
        TRANSACTION_COMMIT_TYPE => true,
        TRANSACTION_ROLLBACK_TYPE => false,
        _ => return Ok(Some(RemotingCommand::success_to(&req))),
    };
    let found = ctx
        .store
        .message_by_phys_offset(h.commit_log_offset)
        .filter(|b| decode_record(b).is_ok_and(|m| m.topic() == TRANS_HALF_TOPIC));
    let Some(record) = found else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            "Find prepared transaction message failed",
        );
    };
    let half = match decode_record(&record) {
        Ok(m) => m,
        Err(e) => return error(&req, response::SYSTEM_ERROR, e.to_string()),
    };
    if half.property(PROPERTY_PRODUCER_GROUP) != Some(h.producer_group.as_str()) {
        return error(&req, response::SYSTEM_ERROR, "The producer group wrong");
    }
    if half.queue_offset() != h.tran_state_table_offset {
        return error(
            &req,
            response::SYSTEM_ERROR,
            "The transaction state table offset wrong",
        );
    }
    let qo = half.queue_offset();
    if !ctx.transactions.claim(qo) {
        return error(
            &req,
            response::SYSTEM_ERROR,
            "The transaction was already committed, rolled back or superseded by a check-back copy",
        );
    }
    if commit {
        let Some(mut msg) = committed_message(&half) else {
            ctx.transactions.unclaim(qo);
            return error(
                &req,
                response::SYSTEM_ERROR,
                "the half message has no REAL_TOPIC/REAL_QID",
            );
        };
        // As Java's commit path: the committed message's timer (or DELAY level) now applies.
        let broker = ctx.settings.snapshot();
        if divert_scheduled(&mut msg, &ctx.schedule, &broker).is_err() {
            ctx.transactions.unclaim(qo);
            return error(
                &req,
                response::SYSTEM_ERROR,
                format!(
                    "storing the committed message failed: its timer is illegal or disabled (deliver time within {} ms, timerWheelEnable {})",
                    broker.timer_max_delay_sec * 1000,
                    broker.timer_wheel_enable
                ),
            );
        }
        let put = ctx.store.put(msg).await;
        if !matches!(put.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
            ctx.transactions.unclaim(qo);
            return error(
                &req,
                response::SYSTEM_ERROR,
                format!(
                    "storing the committed message failed: {:?} {}",
                    put.status,
                    put.reason.unwrap_or_default()
                ),
            );
        }
    }
    let op = ctx.transactions.write_op(&ctx.store, qo).await;
    if op.status != PutStatus::PutOk {
        tracing::warn!(status = ?op.status, "transaction op record not stored; a restart may check this half again");
    }
    Ok(Some(RemotingCommand::success_to(&req)))
}
