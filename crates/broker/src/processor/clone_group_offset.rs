//! CLONE_GROUP_OFFSET (314): `mqadmin cloneGroupOffset`, to start a new consumer group where an
//! old one got to (a migration, a second consumer of the same stream). `destGroup` gets the
//! offsets `srcGroup` committed for `topic`, or for every topic it has offsets for when none is
//! named, replacing what `destGroup` had there. As Java's broker does, a topic that no longer
//! exists is skipped, and so is one that `srcGroup`'s online consumers do not subscribe to, unless
//! `offline` is set; either way the answer is SUCCESS. Running consumers of `destGroup` keep their
//! own offsets in memory and commit them over the copy: clone before they start.

use std::sync::Arc;

use courier_remoting::header::CloneGroupOffsetRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles CLONE_GROUP_OFFSET.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: CloneGroupOffsetRequestHeader = req.decode_header()?;
    let topics = match h.topic.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(t) => vec![t.to_string()],
        None => ctx.offsets.topics_of_group(&h.src_group),
    };
    let online = ctx.consumers.snapshot(&h.src_group);
    let mut cloned = Vec::new();
    for topic in topics {
        if ctx.topics.get(&topic).is_none() {
            tracing::warn!(%topic, "CLONE_GROUP_OFFSET: the topic does not exist; skipped");
            continue;
        }
        if !h.offline.unwrap_or(false) {
            if let Some(o) = &online {
                let subscribed = o.subscriptions.iter().any(|s| s.topic == topic);
                if !o.subscriptions.is_empty() && !subscribed {
                    tracing::warn!(%topic, group = %h.src_group,
                        "CLONE_GROUP_OFFSET: the source group's consumers do not subscribe to it; skipped");
                    continue;
                }
            }
        }
        let queues = ctx
            .offsets
            .clone_offsets(&h.src_group, &h.dest_group, &topic);
        cloned.push(format!("{topic} ({queues} queues)"));
    }
    tracing::info!(src = %h.src_group, dest = %h.dest_group, ?cloned, "CLONE_GROUP_OFFSET");
    let resp = RemotingCommand::success_to(&req);
    Ok(Some(if cloned.is_empty() {
        resp.with_remark("nothing cloned")
    } else {
        resp.with_remark(format!("cloned {}", cloned.join(", ")))
    }))
}
