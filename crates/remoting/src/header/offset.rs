//! Consumer-offset and queue-offset headers (fact sheet §3.3): QUERY_CONSUMER_OFFSET
//! (14), UPDATE_CONSUMER_OFFSET (15), GET_MAX_OFFSET (30), GET_MIN_OFFSET (31),
//! SEARCH_OFFSET_BY_TIMESTAMP (29), GET_EARLIEST_MSG_STORETIME (32), CLONE_GROUP_OFFSET (314).

use super::command_header;

command_header! {
    pub struct QueryConsumerOffsetRequestHeader {
        consumer_group: String => "consumerGroup",
        topic: String => "topic",
        queue_id: i32 => "queueId",
        set_zero_if_not_found: Option<bool> => "setZeroIfNotFound",
    }
}

command_header! {
    /// Response header of QUERY_CONSUMER_OFFSET, GET_MAX_OFFSET, GET_MIN_OFFSET
    /// and SEARCH_OFFSET_BY_TIMESTAMP (all carry one `offset`).
    pub struct OffsetResponseHeader {
        offset: i64 => "offset",
    }
}

command_header! {
    pub struct UpdateConsumerOffsetRequestHeader {
        consumer_group: String => "consumerGroup",
        topic: String => "topic",
        queue_id: i32 => "queueId",
        commit_offset: i64 => "commitOffset",
    }
}

command_header! {
    pub struct GetMaxOffsetRequestHeader {
        topic: String => "topic",
        queue_id: i32 => "queueId",
        committed: Option<bool> => "committed",
    }
}

command_header! {
    pub struct GetMinOffsetRequestHeader {
        topic: String => "topic",
        queue_id: i32 => "queueId",
    }
}

command_header! {
    pub struct SearchOffsetRequestHeader {
        topic: String => "topic",
        queue_id: i32 => "queueId",
        timestamp: i64 => "timestamp",
        /// "lower" (default) or "upper".
        boundary_type: Option<String> => "boundaryType",
    }
}

command_header! {
    pub struct GetEarliestMsgStoretimeRequestHeader {
        topic: String => "topic",
        queue_id: i32 => "queueId",
    }
}

command_header! {
    pub struct GetEarliestMsgStoretimeResponseHeader {
        timestamp: i64 => "timestamp",
    }
}

command_header! {
    /// CLONE_GROUP_OFFSET (314): `mqadmin cloneGroupOffset`. `destGroup` gets the offsets
    /// `srcGroup` committed for `topic`; `offline` skips the check that `srcGroup`'s online
    /// consumers subscribe to the topic.
    pub struct CloneGroupOffsetRequestHeader {
        src_group: String => "srcGroup",
        dest_group: String => "destGroup",
        topic: Option<String> => "topic",
        offline: Option<bool> => "offline",
    }
}

command_header! {
    /// QUERY_CONSUME_TIME_SPAN (303): per queue of `topic` on the broker, the store times of its
    /// oldest and newest messages, of the last one `group` consumed, and how long the next one
    /// has waited.
    pub struct QueryConsumeTimeSpanRequestHeader {
        topic: String => "topic",
        group: String => "group",
    }
}
