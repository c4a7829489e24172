//! QUERY_MESSAGE (12): messages of a topic by key (KEYS) or unique key (UNIQ_KEY) within a store
//! time range, via the store's IndexFile. The body is the concatenation of the stored records;
//! nothing found → QUERY_NOT_FOUND. With `_UNIQUE_KEY_QUERY`="true" at most 32 results are
//! returned, as Java caps unique-key queries.

use std::sync::Arc;

use bytes::BytesMut;
use courier_remoting::code::response;
use courier_remoting::header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, UNIQUE_KEY_QUERY,
};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{error, off_the_runtime, shutting_down};
use crate::context::BrokerContext;
use crate::topic_config::now_ms;

/// Most results per query (Java's `defaultQueryMaxNum`).
const DEFAULT_QUERY_MAX_NUM: usize = 32;

/// Handles QUERY_MESSAGE.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: QueryMessageRequestHeader = req.decode_header()?;
    let mut max = usize::try_from(h.max_num.max(1)).unwrap_or(1);
    if req
        .ext_field(UNIQUE_KEY_QUERY)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        max = max.min(DEFAULT_QUERY_MAX_NUM);
    }
    let store = ctx.store.clone();
    let (topic, key) = (h.topic.clone(), h.key.clone());
    let (begin, end) = (h.begin_timestamp, h.end_timestamp);
    // Index lookups read files and may walk long chains: keep them off the async workers.
    let Some(found) =
        off_the_runtime(move || store.query_by_key(&topic, &key, max, begin, end)).await
    else {
        return shutting_down(&req);
    };
    if found.is_empty() {
        return error(
            &req,
            response::QUERY_NOT_FOUND,
            format!(
                "can not find message of topic {} with key {}, maybe time range not correct",
                h.topic, h.key
            ),
        );
    }
    let mut body = BytesMut::with_capacity(found.iter().map(|b| b.len()).sum());
    for record in &found {
        body.extend_from_slice(record);
    }
    let header = QueryMessageResponseHeader {
        index_last_update_timestamp: now_ms(),
        index_last_update_phyoffset: ctx.store.max_phys_offset(),
    };
    Ok(Some(
        RemotingCommand::success_to(&req)
            .with_header(&header)
            .with_body(body.freeze()),
    ))
}
