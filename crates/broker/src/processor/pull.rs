//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361, same header, sent by 4.9+/5.x lite pull
//! consumers): read up to maxMsgNums stored records from a queue, filtered by the tag
//! codes of the consumer's subscription, with long polling.
//!
//! Flow: pre-checks (broker/topic read perm → NO_PERMISSION, unknown group with auto-create off →
//! SUBSCRIPTION_GROUP_NOT_EXIST, unknown topic → TOPIC_NOT_EXIST, bad queue → SYSTEM_ERROR, bad
//! subscription → SUBSCRIPTION_PARSE_FAILED / _NOT_EXIST / _NOT_LATEST); the COMMIT_OFFSET flag
//! stores `commitOffset` (first processing only); then the store read, whose status maps to
//! SUCCESS / PULL_NOT_FOUND / PULL_RETRY_IMMEDIATELY / PULL_OFFSET_MOVED as in the fact sheet.
//! A PULL_NOT_FOUND with the SUSPEND flag is parked in the hold service for suspendTimeoutMillis
//! (shortPollingTimeMills when long polling is off) and re-run once — without suspension — when a
//! matching message arrives or the time runs out. To close the race between the empty read and the
//! parking, the queue's max offset is re-checked right after parking.
//!
//! The response body is the concatenation of the stored records, byte for byte.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use courier_remoting::code::response;
use courier_remoting::header::{
    PullMessageRequestHeader, PullMessageResponseHeader, PULL_FLAG_COMMIT_OFFSET,
    PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::GetStatus;

use super::{error, off_the_runtime};
use crate::config::BrokerConfig;
use crate::context::{BrokerContext, BrokerStats};
use crate::filter::{is_tag_type, PullFilter, SubscriptionData};
use crate::long_poll::WakeReason;
use crate::topic_config::perm;

/// Longest hold honoured (clients send 15-20 s and time out at 30 s; a larger value from the
/// network must not overflow the deadline arithmetic).
const MAX_SUSPEND_MILLIS: u64 = 10 * 60 * 1000;

/// Handles PULL_MESSAGE.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: PullMessageRequestHeader = req.decode_header()?;
    let config = ctx.config();
    if !perm::is_readable(config.broker_permission) {
        let broker_name = &config.broker_name;
        return error(
            &req,
            response::NO_PERMISSION,
            format!("the broker[{broker_name}] pulling message is forbidden (brokerPermission has no read bit)"),
        );
    }
    let Some(group) = ctx.groups.find_or_create(&h.consumer_group)? else {
        return error(
            &req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!(
                "subscription group [{}] does not exist; create it with UPDATE_AND_CREATE_SUBSCRIPTIONGROUP or enable autoCreateSubscriptionGroup",
                h.consumer_group
            ),
        );
    };
    if !group.consume_enable {
        return error(
            &req,
            response::NO_PERMISSION,
            format!(
                "subscription group [{}] no permission to consume (consumeEnable is false)",
                h.consumer_group
            ),
        );
    }
    let Some(topic) = ctx.topics.get(&h.topic) else {
        return error(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", h.topic),
        );
    };
    if !perm::is_readable(topic.perm) {
        return error(
            &req,
            response::NO_PERMISSION,
            format!(
                "the topic[{}] pulling message is forbidden (topic perm {} has no read bit)",
                h.topic, topic.perm
            ),
        );
    }
    if h.queue_id < 0 || h.queue_id >= topic.read_queue_nums {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id, h.topic, topic.read_queue_nums, h.consumer_group
            ),
        );
    }
    let property_filter = config.enable_property_filter;
    // Everything this pull needs of the configuration, read once (one config for the whole
    // request) and not held across the reads and the wait below.
    let (long_polling, short_polling_ms) =
        (config.long_polling_enable, config.short_polling_time_mills);
    let caps = limits(&config, &h);
    drop(config);
    let filter = if h.sys_flag & PULL_FLAG_SUBSCRIPTION != 0 {
        let expression = h.subscription.as_deref().unwrap_or("*");
        let expr_type = h.expression_type.as_deref().unwrap_or("TAG");
        let sub =
            match SubscriptionData::build_typed(&h.topic, expression, expr_type, h.sub_version) {
                Ok(s) => s,
                Err(e) => return error(&req, response::SUBSCRIPTION_PARSE_FAILED, e),
            };
        match PullFilter::for_subscription(&h.topic, &sub, property_filter, &ctx.selectors) {
            Ok(f) => f,
            Err(refused) => return error(&req, refused.code, refused.remark),
        }
    } else {
        if !ctx.consumers.has_group(&h.consumer_group) {
            return error(
                &req,
                response::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's group info not exist for group {}; send a heartbeat first",
                    h.consumer_group
                ),
            );
        }
        let Some(sub) = ctx.consumers.subscription(&h.consumer_group, &h.topic) else {
            return error(
                &req,
                response::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's subscription not exist for topic {}; send a heartbeat first",
                    h.topic
                ),
            );
        };
        if sub.sub_version < h.sub_version {
            return error(
                &req,
                response::SUBSCRIPTION_NOT_LATEST,
                "the consumer's subscription not latest; the broker has not seen the client's newest heartbeat yet",
            );
        }
        match PullFilter::for_subscription(&h.topic, &sub, property_filter, &ctx.selectors) {
            Ok(f) => f,
            // Java registers a heartbeat's selector only if it compiles, and a pull then finds
            // no filter data for the group.
            Err(refused)
                if refused.code == response::SUBSCRIPTION_PARSE_FAILED
                    && !is_tag_type(&sub.expression_type) =>
            {
                return error(
                    &req,
                    response::FILTER_DATA_NOT_EXIST,
                    format!(
                        "The broker's consumer filter data is not exist!Your expression may be wrong! ({})",
                        refused.remark
                    ),
                );
            }
            Err(refused) => return error(&req, refused.code, refused.remark),
        }
    };

    if let Some(moved) = offset_reset(&ctx, &h) {
        return Ok(Some(moved.into_command(&req)));
    }
    if h.sys_flag & PULL_FLAG_COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
        ctx.offsets
            .commit_from_client(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    }

    let (first, filter) = read_off_the_runtime_if_cold(&ctx, &h, filter, caps).await;
    if first.code != response::PULL_NOT_FOUND
        || h.sys_flag & PULL_FLAG_SUSPEND == 0
        || ctx.shutting_down.is_cancelled()
    {
        return Ok(Some(first.into_command(&req)));
    }
    let hold_ms = if long_polling {
        u64::try_from(h.suspend_timeout_millis)
            .unwrap_or(0)
            .min(MAX_SUSPEND_MILLIS)
    } else {
        short_polling_ms.min(MAX_SUSPEND_MILLIS)
    };
    if hold_ms == 0 {
        return Ok(Some(first.into_command(&req)));
    }
    let filter = Arc::new(filter);
    let Some(held) = ctx
        .hold
        .hold(&h.topic, h.queue_id, h.queue_offset, filter.clone())
    else {
        return Ok(Some(first.into_command(&req)));
    };
    BrokerStats::add(&ctx.stats.held_pulls, 1);
    // A message may have been dispatched between the read above and the parking.
    if ctx.store.max_offset(&h.topic, h.queue_id) <= h.queue_offset {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(hold_ms);
        let reason = tokio::select! {
            r = held.wait_until(deadline) => r,
            // Shutting down: answer now so the connection can drain.
            _ = ctx.shutting_down.cancelled() => WakeReason::Timeout,
        };
        // Either way the pull is re-read once; after a timeout that answers PULL_NOT_FOUND with
        // fresh offsets.
        tracing::trace!(topic = %h.topic, queue = h.queue_id, arrived = reason == WakeReason::Arrived, "held pull resumed");
    } else {
        drop(held);
    }
    // A reset while parked wakes the pull (`reset_offset.rs`): it answers the new offset.
    let out = offset_reset(&ctx, &h).unwrap_or_else(|| read(&ctx, &h, &filter, caps));
    Ok(Some(out.into_command(&req)))
}

/// PULL_OFFSET_MOVED to the offset an admin's reset moved the queue to, if one is pending for
/// this group (`ConsumerOffsetManager::take_reset`); the client continues from there.
fn offset_reset(ctx: &BrokerContext, h: &PullMessageRequestHeader) -> Option<PullOutcome> {
    let offset = ctx
        .offsets
        .take_reset(&h.consumer_group, &h.topic, h.queue_id)?;
    Some(PullOutcome {
        code: response::PULL_OFFSET_MOVED,
        header: PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: offset,
            min_offset: ctx.store.min_offset(&h.topic, h.queue_id),
            max_offset: ctx.store.max_offset(&h.topic, h.queue_id),
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
            forbidden_type: None,
        },
        body: None,
    })
}

struct PullOutcome {
    code: i32,
    header: PullMessageResponseHeader,
    body: Option<Bytes>,
}

impl PullOutcome {
    fn into_command(self, req: &RemotingCommand) -> RemotingCommand {
        let mut cmd =
            RemotingCommand::response_to(req, self.code, None).with_header_rendered(&self.header);
        cmd.body = self.body;
        cmd
    }
}

/// `read`, on the blocking pool when the messages are no longer in memory
/// (`MessageStore::reads_from_disk`): a consumer lagging behind the write buffer then waits for
/// the disk alone, while the async workers go on serving sends, heartbeats and other pulls (with
/// the default single worker a page fault there would stall them all; RocketMQ gives pulls a
/// thread pool of their own for the same reason). Reads at the tail stay inline: no thread hop.
async fn read_off_the_runtime_if_cold(
    ctx: &Arc<BrokerContext>,
    h: &PullMessageRequestHeader,
    filter: PullFilter,
    caps: Caps,
) -> (PullOutcome, PullFilter) {
    if !ctx
        .store
        .reads_from_disk(&h.topic, h.queue_id, h.queue_offset, caps.max_bytes)
    {
        return (read(ctx, h, &filter, caps), filter);
    }
    BrokerStats::add(&ctx.stats.disk_pulls, 1);
    let (ctx2, h2, filter2) = (Arc::clone(ctx), h.clone(), filter.clone());
    // Copied bodies: a view of the mapping would have its pages faulted in later by the
    // connection's writer, on the async worker.
    match off_the_runtime(move || read_body(&ctx2, &h2, &filter2, caps, Body::Copied)).await {
        Some(out) => (out, filter),
        // The pool refused it (the runtime is shutting down): read here after all.
        None => (read(ctx, h, &filter, caps), filter),
    }
}

/// The most messages and bytes one pull may return.
#[derive(Clone, Copy)]
struct Caps {
    max_count: u32,
    max_bytes: u32,
}

/// The request's limits, capped by the broker's `maxTransferCountOnMessageInMemory` /
/// `maxTransferBytesOnMessageInMemory`.
fn limits(config: &BrokerConfig, h: &PullMessageRequestHeader) -> Caps {
    let max_count = u32::try_from(h.max_msg_nums.max(1))
        .unwrap_or(1)
        .min(config.max_transfer_count_on_message_in_memory);
    let max_bytes = h
        .max_msg_bytes
        .and_then(|b| u32::try_from(b).ok())
        .filter(|b| *b > 0)
        .unwrap_or(u32::MAX)
        .min(config.max_transfer_bytes_on_message_in_memory);
    Caps {
        max_count,
        max_bytes,
    }
}

/// How a pull's body holds its messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// A single message stays a zero-copy view of the store (several are always copied).
    Shared,
    /// Always copied into memory of the response's own.
    Copied,
}

fn read(
    ctx: &BrokerContext,
    h: &PullMessageRequestHeader,
    filter: &PullFilter,
    caps: Caps,
) -> PullOutcome {
    read_body(ctx, h, filter, caps, Body::Shared)
}

fn read_body(
    ctx: &BrokerContext,
    h: &PullMessageRequestHeader,
    filter: &PullFilter,
    caps: Caps,
    how: Body,
) -> PullOutcome {
    let Caps {
        max_count,
        max_bytes,
    } = caps;
    let by_properties = |p: &str| filter.matches_properties(p);
    let r = ctx.store.get_messages_filtered(
        &h.topic,
        h.queue_id,
        h.queue_offset,
        max_count,
        max_bytes,
        filter.codes(),
        filter
            .reads_properties()
            .then_some(&by_properties as &dyn Fn(&str) -> bool),
    );
    let code = match r.status {
        GetStatus::Found => response::SUCCESS,
        GetStatus::NoMatchedMessage | GetStatus::MessageWasRemoving => {
            response::PULL_RETRY_IMMEDIATELY
        }
        GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue => {
            if h.queue_offset != 0 {
                response::PULL_OFFSET_MOVED
            } else {
                response::PULL_NOT_FOUND
            }
        }
        GetStatus::OffsetFoundNull | GetStatus::OffsetOverflowOne => response::PULL_NOT_FOUND,
        GetStatus::OffsetOverflowBadly | GetStatus::OffsetTooSmall => response::PULL_OFFSET_MOVED,
    };
    let body = if code == response::SUCCESS && !r.messages.is_empty() {
        BrokerStats::add(&ctx.stats.pulls_found, 1);
        BrokerStats::add(&ctx.stats.got_messages, r.messages.len() as u64);
        if r.messages.len() == 1 && how == Body::Shared {
            Some(r.messages[0].clone())
        } else {
            let total: usize = r.messages.iter().map(Bytes::len).sum();
            let mut buf = BytesMut::with_capacity(total);
            for m in &r.messages {
                buf.extend_from_slice(m);
            }
            Some(buf.freeze())
        }
    } else {
        BrokerStats::add(&ctx.stats.pulls_missed, 1);
        None
    };
    PullOutcome {
        code,
        header: PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: r.next_begin_offset,
            min_offset: r.min_offset,
            max_offset: r.max_offset,
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
            forbidden_type: None,
        },
        body,
    }
}
