//! Client-session headers (fact sheet §3.3, §3.4, §8): UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), NOTIFY_CONSUMER_IDS_CHANGED (40),
//! CONSUMER_SEND_MSG_BACK (36), END_TRANSACTION (37), CHECK_TRANSACTION_STATE (39).
//! HEART_BEAT (34) has no custom header; its data is the JSON body.

use super::command_header;

command_header! {
    pub struct UnregisterClientRequestHeader {
        client_id: String => "clientID",
        producer_group: Option<String> => "producerGroup",
        consumer_group: Option<String> => "consumerGroup",
    }
}

command_header! {
    pub struct GetConsumerListByGroupRequestHeader {
        consumer_group: String => "consumerGroup",
    }
}

command_header! {
    pub struct NotifyConsumerIdsChangedRequestHeader {
        consumer_group: String => "consumerGroup",
    }
}

command_header! {
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the message being returned.
        offset: i64 => "offset",
        group: String => "group",
        delay_level: i32 => "delayLevel",
        origin_msg_id: Option<String> => "originMsgId",
        origin_topic: Option<String> => "originTopic",
        unit_mode: Option<bool> => "unitMode",
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
    }
}

/// END_TRANSACTION `commitOrRollback`: unknown (check again later).
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// END_TRANSACTION `commitOrRollback`: commit.
pub const TRANSACTION_COMMIT_TYPE: i32 = 8;
/// END_TRANSACTION `commitOrRollback`: roll back.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 12;

command_header! {
    pub struct EndTransactionRequestHeader {
        producer_group: String => "producerGroup",
        tran_state_table_offset: i64 => "tranStateTableOffset",
        commit_log_offset: i64 => "commitLogOffset",
        commit_or_rollback: i32 => "commitOrRollback",
        from_transaction_check: Option<bool> => "fromTransactionCheck",
        msg_id: String => "msgId",
        transaction_id: Option<String> => "transactionId",
        topic: Option<String> => "topic",
    }
}

command_header! {
    pub struct CheckTransactionStateRequestHeader {
        topic: Option<String> => "topic",
        tran_state_table_offset: i64 => "tranStateTableOffset",
        commit_log_offset: i64 => "commitLogOffset",
        msg_id: Option<String> => "msgId",
        transaction_id: Option<String> => "transactionId",
        offset_msg_id: Option<String> => "offsetMsgId",
        broker_name: Option<String> => "bname",
    }
}
