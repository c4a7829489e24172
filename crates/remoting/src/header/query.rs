//! Message lookup headers (fact sheet §3.3): QUERY_MESSAGE (12) by key or unique
//! key, VIEW_MESSAGE_BY_ID (33) by commit-log offset.

use super::command_header;

/// extField that turns QUERY_MESSAGE into a lookup by UNIQ_KEY (client msgId).
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

command_header! {
    pub struct QueryMessageRequestHeader {
        topic: String => "topic",
        key: String => "key",
        max_num: i32 => "maxNum",
        begin_timestamp: i64 => "beginTimestamp",
        end_timestamp: i64 => "endTimestamp",
    }
}

command_header! {
    pub struct QueryMessageResponseHeader {
        index_last_update_timestamp: i64 => "indexLastUpdateTimestamp",
        index_last_update_phyoffset: i64 => "indexLastUpdatePhyoffset",
    }
}

command_header! {
    pub struct ViewMessageRequestHeader {
        /// Commit-log physical offset.
        offset: i64 => "offset",
        topic: Option<String> => "topic",
    }
}
