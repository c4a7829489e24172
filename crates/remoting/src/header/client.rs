//! Client-session headers (fact sheet §3.3, §3.4, §8): UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), NOTIFY_CONSUMER_IDS_CHANGED (40),
//! CONSUMER_SEND_MSG_BACK (36), END_TRANSACTION (37), CHECK_TRANSACTION_STATE (39),
//! PUSH_REPLY_MESSAGE_TO_CLIENT (326), GET_CONSUMER_RUNNING_INFO (307) and
//! CONSUME_MESSAGE_DIRECTLY (309) (an admin's question a broker forwards to one consumer).
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

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT (326), broker to requester: the reply a responder sent with
    /// SEND_REPLY_MESSAGE(_V2), with the send's own header fields and where the reply was born
    /// and stored. The body is the reply's body.
    pub struct ReplyMessageRequestHeader {
        producer_group: String => "producerGroup",
        topic: String => "topic",
        default_topic: String => "defaultTopic",
        default_topic_queue_nums: i32 => "defaultTopicQueueNums",
        queue_id: i32 => "queueId",
        sys_flag: i32 => "sysFlag",
        born_timestamp: i64 => "bornTimestamp",
        flag: i32 => "flag",
        properties: Option<String> => "properties",
        reconsume_times: Option<i32> => "reconsumeTimes",
        unit_mode: Option<bool> => "unitMode",
        /// `ip:port` of the responder's connection.
        born_host: String => "bornHost",
        /// `ip:port` of the broker.
        store_host: String => "storeHost",
        store_timestamp: i64 => "storeTimestamp",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (admin to broker) and GET_CONSUMER_STATUS_FROM_CLIENT
    /// (broker to each consumer, without `clientAddr`): the offsets a group's clients hold for a
    /// topic. `clientAddr` (a client id, despite the name) asks only that client.
    pub struct GetConsumerStatusRequestHeader {
        topic: String => "topic",
        group: String => "group",
        client_addr: Option<String> => "clientAddr",
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO: sent to a broker, which forwards it as is to the consumer.
    pub struct GetConsumerRunningInfoRequestHeader {
        consumer_group: String => "consumerGroup",
        client_id: String => "clientId",
        /// Ask for a thread dump as well.
        jstack_enable: Option<bool> => "jstackEnable",
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY: sent to the broker that stored `msgId` (an offset message id);
    /// it adds `brokerName` and the message as the body, and forwards it to the consumer.
    pub struct ConsumeMessageDirectlyResultRequestHeader {
        consumer_group: String => "consumerGroup",
        client_id: Option<String> => "clientId",
        msg_id: Option<String> => "msgId",
        broker_name: Option<String> => "brokerName",
        topic: Option<String> => "topic",
        topic_sys_flag: Option<i32> => "topicSysFlag",
        group_sys_flag: Option<i32> => "groupSysFlag",
    }
}
