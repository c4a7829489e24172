//! INVOKE_BROKER_TO_RESET_OFFSET (222): move a consumer group's offsets on a topic to the first
//! message stored at or after `timestamp` (−1: the end of each queue), or one queue to a given
//! `offset` — `mqadmin resetOffsetByTime`, re-consume or skip, with the group running or not.
//!
//! Done on the broker as RocketMQ 5 does by default (`useServerSideResetOffset`): the new offsets
//! are committed at once and stay pending until the group's next pull of each queue, which
//! answers PULL_OFFSET_MOVED to them (`pull.rs`); until then the clients' commits of their old
//! offsets are ignored (`ConsumerOffsetManager`). Pulls parked on those queues are woken so a
//! running group moves within a round trip rather than at its long-poll timeout. Any client
//! that handles PULL_OFFSET_MOVED follows, so no request to the clients is needed.
//! `isForce=false` (Java 4's option) moves only the queues whose offset goes back. The answer is
//! the new offset of every queue reset (`ResetOffsetBody`).
//!
//! With `useServerSideResetOffset = false` the broker does what RocketMQ 4's did instead: it
//! works out the same offsets, commits nothing, and sends them to every client of the group
//! connected to it (RESET_CONSUMER_CLIENT_OFFSET, oneway), which move to them and commit them.
//! With no client online that cannot work, so it is refused with CONSUMER_NOT_ONLINE.

use std::sync::Arc;

use courier_remoting::body::{MessageQueue, ResetOffsetBody};
use courier_remoting::code::{request, response};
use courier_remoting::{ConnectionHandle, HeaderError, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;

fn field<'a>(req: &'a RemotingCommand, key: &'static str) -> Option<std::borrow::Cow<'a, str>> {
    req.ext_field(key).filter(|v| !v.is_empty())
}

fn number(req: &RemotingCommand, key: &'static str) -> Result<Option<i64>, HeaderError> {
    field(req, key)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| HeaderError::Invalid {
                field: key,
                value: v.into_owned(),
                expected: "long",
            })
        })
        .transpose()
}

/// Handles INVOKE_BROKER_TO_RESET_OFFSET (headers `group`, `topic`, `timestamp`, `isForce`,
/// optional `queueId` and `offset`).
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let group = field(&req, "group")
        .ok_or(HeaderError::Missing("group"))?
        .into_owned();
    let topic = field(&req, "topic")
        .ok_or(HeaderError::Missing("topic"))?
        .into_owned();
    let timestamp = number(&req, "timestamp")?.ok_or(HeaderError::Missing("timestamp"))?;
    let force = !field(&req, "isForce").is_some_and(|v| v.eq_ignore_ascii_case("false"));
    let queue_id = number(&req, "queueId")?.unwrap_or(-1);
    let offset = number(&req, "offset")?.filter(|o| *o != -1);

    let Some(config) = ctx.topics.get(&topic) else {
        return error(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("Topic {topic} does not exist"),
        );
    };
    if ctx.groups.get(&group).is_none() {
        return error(
            &req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("Group {group} does not exist"),
        );
    }
    let store = &ctx.store;
    let target_of = |q: i32| {
        if timestamp < 0 {
            store.max_offset(&topic, q)
        } else {
            store.offset_by_time(&topic, q, timestamp)
        }
    };
    let mut targets = Vec::new();
    if queue_id >= 0 {
        let q = i32::try_from(queue_id)
            .ok()
            .filter(|q| *q < config.read_queue_nums);
        let Some(q) = q else {
            return error(
                &req,
                response::SYSTEM_ERROR,
                format!(
                    "queueId {queue_id} is not a queue of topic {topic} ({} read queues)",
                    config.read_queue_nums
                ),
            );
        };
        let target = match offset {
            Some(o) => {
                let (min, max) = (store.min_offset(&topic, q), store.max_offset(&topic, q));
                if o < min || o > max {
                    return error(
                        &req,
                        response::SYSTEM_ERROR,
                        format!("Target offset {o} not in consume queue range [{min}-{max}]"),
                    );
                }
                o
            }
            None => target_of(q),
        };
        targets.push((q, target));
    } else {
        targets.extend((0..config.read_queue_nums).map(|q| (q, target_of(q))));
    }

    let server_side = ctx.config().use_server_side_reset_offset;
    let mut body = ResetOffsetBody::default();
    for (q, target) in targets {
        let current = ctx.offsets.query(&group, &topic, q);
        let new = if force || current.is_none_or(|c| target < c) {
            if server_side {
                ctx.offsets.assign_reset(&group, &topic, q, target);
                ctx.hold.wake_queue(&topic, q);
            }
            target
        } else {
            current.unwrap_or(target)
        };
        let mq = MessageQueue {
            topic: topic.clone(),
            broker_name: ctx.config().broker_name.clone(),
            queue_id: q,
        };
        body.offset_table.push((mq, new));
    }
    let body = body.to_fastjson();
    if !server_side {
        let clients = ctx.consumers.channels(&group);
        if clients.is_empty() {
            return error(
                &req,
                response::CONSUMER_NOT_ONLINE,
                format!("Consumer not online, so can not reset offset, Group: {group} Topic: {topic} Timestamp: {timestamp}; start the group's consumers, or turn useServerSideResetOffset on"),
            );
        }
        for c in clients {
            let mut push = RemotingCommand::new_request(request::RESET_CONSUMER_CLIENT_OFFSET)
                .with_body(body.clone());
            let fields = push.ext_fields_mut();
            fields.insert("topic".into(), topic.clone());
            fields.insert("group".into(), group.clone());
            fields.insert("timestamp".into(), timestamp.to_string());
            fields.insert("isForce".into(), force.to_string());
            if let Err(e) = c.channel.invoke_oneway(push).await {
                tracing::warn!(%group, client = %c.client_id, error = %e, "could not send an offset reset to a client");
            }
        }
    }
    tracing::info!(%group, %topic, timestamp, force, server_side, "consumer offsets reset");
    Ok(Some(RemotingCommand::success_to(&req).with_body(body)))
}
