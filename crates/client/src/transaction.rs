//! Transactional messages, the producer's side (Java's `TransactionMQProducer`).
//!
//! `Producer::send_in_transaction` sends a half message (properties TRAN_MSG=true and PGROUP =
//! the producer's group, sysFlag TRANSACTION_PREPARED), which the broker keeps invisible; then it
//! runs the caller's local transaction and ends the half with END_TRANSACTION (37, oneway) to the
//! broker that stored it: COMMIT makes it visible, ROLLBACK discards it, UNKNOWN leaves it for
//! the broker's check-back. The check-back is CHECK_TRANSACTION_STATE (39, oneway) on any
//! connection of a producer of the group, carrying the half message; the producer's
//! [`TransactionChecker`] decides, and its END_TRANSACTION (`fromTransactionCheck`) goes back on
//! that connection.
//!
//! Invariants: a half whose send did not answer SEND_OK is rolled back without running the local
//! transaction, as Java does; END_TRANSACTION names the half by its position (its CommitLog
//! offset, read from the offset msgId, and its offset in the half queue), which the broker checks
//! against what it stored.

use std::future::Future;
use std::pin::Pin;

use courier_remoting::code::request;
use courier_remoting::header::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use courier_remoting::{ConnectionHandle, RemotingCommand};

use crate::message::property;
use crate::message_ext::{decode_message, MessageExt};
use crate::message_id::decode_offset_msg_id;
use crate::producer::SendResult;

/// Marks a half message (Java's `PROPERTY_TRANSACTION_PREPARED`).
pub(crate) const PROPERTY_TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// sysFlag of a half message (Java's `TRANSACTION_PREPARED_TYPE`).
pub(crate) const SYS_FLAG_TRANSACTION_PREPARED: i32 = 0x4;

/// The outcome of a local transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTransactionState {
    /// Make the message visible to consumers.
    Commit,
    /// Discard the message.
    Rollback,
    /// Not decided yet: the broker asks the group's [`TransactionChecker`] later.
    Unknown,
}

impl LocalTransactionState {
    fn wire(self) -> i32 {
        match self {
            LocalTransactionState::Commit => TRANSACTION_COMMIT_TYPE,
            LocalTransactionState::Rollback => TRANSACTION_ROLLBACK_TYPE,
            LocalTransactionState::Unknown => TRANSACTION_NOT_TYPE,
        }
    }
}

/// What `send_in_transaction` returns: the half message's send and how it was ended.
#[derive(Debug, Clone)]
pub struct TransactionSendResult {
    pub send: SendResult,
    pub state: LocalTransactionState,
}

/// Decides, when the broker asks, whether a half message left [`LocalTransactionState::Unknown`]
/// (or never ended: the producer died) is committed or rolled back. Any
/// `Fn(MessageExt) -> impl Future<Output = LocalTransactionState>` closure is one.
pub trait TransactionChecker: Send + Sync + 'static {
    fn check(
        &self,
        half: MessageExt,
    ) -> Pin<Box<dyn Future<Output = LocalTransactionState> + Send + 'static>>;
}

impl<F, Fut> TransactionChecker for F
where
    F: Fn(MessageExt) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = LocalTransactionState> + Send + 'static,
{
    fn check(
        &self,
        half: MessageExt,
    ) -> Pin<Box<dyn Future<Output = LocalTransactionState> + Send + 'static>> {
        Box::pin(self(half))
    }
}

/// A producer's checker, shared by its connections' handlers.
#[derive(Clone)]
pub struct SharedChecker(pub(crate) std::sync::Arc<dyn TransactionChecker>);

impl std::fmt::Debug for SharedChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransactionChecker")
    }
}

/// The CommitLog offset an offset msgId names (for IPv4 and IPv6 hosts).
pub(crate) fn commit_log_offset_of(offset_msg_id: &str) -> Option<i64> {
    decode_offset_msg_id(offset_msg_id).map(|(_, offset)| offset)
}

/// END_TRANSACTION for the half `sent` stored.
pub(crate) fn end_for_send(
    group: &str,
    sent: &SendResult,
    state: LocalTransactionState,
) -> Option<RemotingCommand> {
    let header = EndTransactionRequestHeader {
        producer_group: group.to_string(),
        tran_state_table_offset: sent.queue_offset,
        commit_log_offset: commit_log_offset_of(&sent.offset_msg_id)?,
        commit_or_rollback: state.wire(),
        from_transaction_check: Some(false),
        msg_id: sent.msg_id.clone(),
        transaction_id: Some(sent.msg_id.clone()),
        topic: Some(sent.queue.topic.clone()),
    };
    Some(RemotingCommand::request_with_header(
        request::END_TRANSACTION,
        &header,
    ))
}

/// Handles CHECK_TRANSACTION_STATE: asks `checker` about the half in the request's body and ends
/// it on the same connection. Nothing is answered to the check itself (it is oneway).
pub(crate) async fn on_check(
    group: &str,
    checker: &dyn TransactionChecker,
    conn: ConnectionHandle,
    req: RemotingCommand,
) {
    let header: CheckTransactionStateRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "a transaction check-back without a usable header");
            return;
        }
    };
    let half = match decode_message(req.body_bytes()) {
        Ok((m, _)) => m,
        Err(e) => {
            tracing::warn!(error = %e, "a transaction check-back whose message does not decode");
            return;
        }
    };
    let msg_id = half
        .property(property::UNIQ_KEY)
        .map(str::to_string)
        .or(header.msg_id.clone())
        .unwrap_or_else(|| half.msg_id.clone());
    let topic = half.topic.clone();
    let state = checker.check(half).await;
    let end = EndTransactionRequestHeader {
        producer_group: group.to_string(),
        tran_state_table_offset: header.tran_state_table_offset,
        commit_log_offset: header.commit_log_offset,
        commit_or_rollback: state.wire(),
        from_transaction_check: Some(true),
        msg_id,
        transaction_id: header.transaction_id,
        // The message's own topic: brokers name the half topic in the check's header.
        topic: Some(topic),
    };
    let cmd = RemotingCommand::request_with_header(request::END_TRANSACTION, &end);
    if let Err(e) = conn.invoke_oneway(cmd).await {
        tracing::warn!(error = %e, "cannot end a checked transaction; the broker asks again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_id::offset_msg_id;

    #[test]
    fn the_commit_log_offset_is_read_back_from_both_id_forms() {
        for host in ["10.1.2.3:10911", "[::1]:10911"] {
            let id = offset_msg_id(host.parse().unwrap(), 0x0123_4567_89AB);
            assert_eq!(commit_log_offset_of(&id), Some(0x0123_4567_89AB));
        }
        assert_eq!(commit_log_offset_of("0"), None);
        assert_eq!(commit_log_offset_of("zzzzzzzzzzzzzzzz"), None);
    }
}
