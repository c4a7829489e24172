//! PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) request and response headers
//! (fact sheet §3.2) and the PullSysFlag bits.

use super::command_header;

/// PullSysFlag: commit `commitOffset` for the group.
pub const PULL_FLAG_COMMIT_OFFSET: i32 = 0x1;
/// PullSysFlag: the broker may hold (long-poll) the request.
pub const PULL_FLAG_SUSPEND: i32 = 0x2;
/// PullSysFlag: the request carries its subscription expression.
pub const PULL_FLAG_SUBSCRIPTION: i32 = 0x4;
/// PullSysFlag: legacy class filter.
pub const PULL_FLAG_CLASS_FILTER: i32 = 0x8;
/// PullSysFlag: sent by a lite pull consumer.
pub const PULL_FLAG_LITE_PULL_MESSAGE: i32 = 0x10;

command_header! {
    /// PULL_MESSAGE request header.
    pub struct PullMessageRequestHeader {
        consumer_group: String => "consumerGroup",
        topic: String => "topic",
        queue_id: i32 => "queueId",
        queue_offset: i64 => "queueOffset",
        max_msg_nums: i32 => "maxMsgNums",
        sys_flag: i32 => "sysFlag",
        commit_offset: i64 => "commitOffset",
        suspend_timeout_millis: i64 => "suspendTimeoutMillis",
        subscription: Option<String> => "subscription",
        sub_version: i64 => "subVersion",
        expression_type: Option<String> => "expressionType",
        max_msg_bytes: Option<i32> => "maxMsgBytes",
        request_source: Option<i32> => "requestSource",
        proxy_forward_client_id: Option<String> => "proxyFrowardClientId",
    }
}

command_header! {
    /// PULL_MESSAGE response header.
    pub struct PullMessageResponseHeader {
        suggest_which_broker_id: i64 => "suggestWhichBrokerId",
        next_begin_offset: i64 => "nextBeginOffset",
        min_offset: i64 => "minOffset",
        max_offset: i64 => "maxOffset",
        offset_delta: Option<i64> => "offsetDelta",
        topic_sys_flag: Option<i32> => "topicSysFlag",
        group_sys_flag: Option<i32> => "groupSysFlag",
        forbidden_type: Option<i32> => "forbiddenType",
    }
}
