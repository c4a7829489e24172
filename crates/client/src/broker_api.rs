//! Typed broker calls shared by the consumers: PULL_MESSAGE (§3.2), consumer
//! offsets and queue offsets (§3.3), GET_CONSUMER_LIST_BY_GROUP, HEART_BEAT
//! (§3.4) and UNREGISTER_CLIENT. Each call resolves the queue's broker master
//! from the route cache and fails with a message naming the broker when it is
//! unknown.

use std::time::Duration;

use courier_remoting::body::{
    from_json, to_json, GetConsumerListByGroupResponseBody, HeartbeatData, SubscriptionData,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    ConsumerSendMsgBackRequestHeader, GetConsumerListByGroupRequestHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, OffsetResponseHeader,
    PullMessageRequestHeader, PullMessageResponseHeader, QueryConsumerOffsetRequestHeader,
    SearchOffsetRequestHeader, UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use courier_remoting::{CommandHeader, RemotingCommand, SerializeType};

use crate::error::{decode_failed, ClientError, Result};
use crate::instance::{broker_error, ClientInstance};
use crate::message_ext::{decode_messages, MessageExt};
use crate::message_queue::MessageQueue;

/// Outcome of a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages were returned (possibly all filtered out client-side).
    Found,
    /// No new message (after the long poll, if any).
    NoNewMessage,
    /// The broker filtered everything in range; pull again from `next_begin_offset`.
    NoMatchedMessage,
    /// The requested offset is illegal; continue from `next_begin_offset`.
    OffsetIllegal,
}

/// What a pull returned.
#[derive(Debug, Clone)]
pub struct PullResult {
    pub status: PullStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    pub messages: Vec<MessageExt>,
}

/// Parameters of one pull.
#[derive(Debug, Clone)]
pub(crate) struct PullRequest<'a> {
    pub group: &'a str,
    pub queue: &'a MessageQueue,
    pub offset: i64,
    pub max_nums: i32,
    pub expression: &'a str,
    /// `TAG` or `SQL92`.
    pub expression_type: &'a str,
    pub sub_version: i64,
    /// Long-poll hold time; zero = answer at once.
    pub suspend: Duration,
    /// Piggy-backed committed offset (FLAG_COMMIT_OFFSET), if any.
    pub commit_offset: Option<i64>,
}

/// Extra time a pull waits beyond the broker's hold time.
const PULL_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

impl ClientInstance {
    pub(crate) fn master_for(&self, queue: &MessageQueue) -> Result<String> {
        self.master_addr(&queue.broker_name)
            .ok_or_else(|| ClientError::NoRoute {
                topic: queue.topic.clone(),
                reason: format!("broker {} has no known master address", queue.broker_name),
            })
    }

    /// PULL_MESSAGE with the subscription carried in the request.
    pub(crate) async fn pull(&self, req: PullRequest<'_>) -> Result<PullResult> {
        use courier_remoting::header::{
            PULL_FLAG_COMMIT_OFFSET, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
        };
        let addr = self.master_for(req.queue)?;
        let mut sys_flag = PULL_FLAG_SUBSCRIPTION;
        if !req.suspend.is_zero() {
            sys_flag |= PULL_FLAG_SUSPEND;
        }
        if req.commit_offset.is_some() {
            sys_flag |= PULL_FLAG_COMMIT_OFFSET;
        }
        let header = PullMessageRequestHeader {
            consumer_group: req.group.to_string(),
            topic: req.queue.topic.clone(),
            queue_id: req.queue.queue_id,
            queue_offset: req.offset,
            max_msg_nums: req.max_nums,
            sys_flag,
            commit_offset: req.commit_offset.unwrap_or(0),
            suspend_timeout_millis: req.suspend.as_millis() as i64,
            subscription: Some(req.expression.to_string()),
            sub_version: req.sub_version,
            expression_type: Some(req.expression_type.to_string()),
            ..Default::default()
        };
        // One pull per delivered batch (often a single message at moderate rates): rendered
        // straight to the header's form rather than through an extFields map.
        let cmd = match self.options.serialize_type {
            SerializeType::Json => RemotingCommand::request_with_json_fields(
                request::PULL_MESSAGE,
                header.json_members(),
            ),
            SerializeType::RocketMq => RemotingCommand::request_with_plain_fields(
                request::PULL_MESSAGE,
                header.plain_fields(),
            ),
        };
        let timeout = req.suspend + PULL_TIMEOUT_MARGIN;
        let resp = self.invoke(&addr, cmd, timeout).await?;
        let status = match resp.code {
            response::SUCCESS => PullStatus::Found,
            response::PULL_NOT_FOUND => PullStatus::NoNewMessage,
            response::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMessage,
            response::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
            _ => return Err(broker_error(&addr, &resp)),
        };
        let h: PullMessageResponseHeader = resp
            .decode_header()
            .map_err(decode_failed("pull response header"))?;
        let messages = if status == PullStatus::Found {
            decode_messages(resp.body_bytes())?
        } else {
            Vec::new()
        };
        Ok(PullResult {
            status,
            next_begin_offset: h.next_begin_offset,
            min_offset: h.min_offset,
            max_offset: h.max_offset,
            messages,
        })
    }

    /// QUERY_CONSUMER_OFFSET; `None` when the broker has no offset for the group.
    pub(crate) async fn query_consumer_offset(
        &self,
        group: &str,
        queue: &MessageQueue,
    ) -> Result<Option<i64>> {
        let addr = self.master_for(queue)?;
        let cmd = RemotingCommand::request_with_header(
            request::QUERY_CONSUMER_OFFSET,
            &QueryConsumerOffsetRequestHeader {
                consumer_group: group.to_string(),
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                set_zero_if_not_found: None,
            },
        );
        let resp = self
            .invoke(&addr, cmd, self.options.request_timeout)
            .await?;
        match resp.code {
            response::SUCCESS => Ok(Some(offset_of(&resp)?)),
            response::QUERY_NOT_FOUND => Ok(None),
            _ => Err(broker_error(&addr, &resp)),
        }
    }

    /// UPDATE_CONSUMER_OFFSET, oneway (as Java sends it) or awaited.
    pub(crate) async fn update_consumer_offset(
        &self,
        group: &str,
        queue: &MessageQueue,
        offset: i64,
        oneway: bool,
    ) -> Result<()> {
        let addr = self.master_for(queue)?;
        let cmd = RemotingCommand::request_with_header(
            request::UPDATE_CONSUMER_OFFSET,
            &UpdateConsumerOffsetRequestHeader {
                consumer_group: group.to_string(),
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                commit_offset: offset,
            },
        );
        if oneway {
            self.invoke_oneway(&addr, cmd).await
        } else {
            self.invoke_ok(&addr, cmd, self.options.request_timeout)
                .await
                .map(|_| ())
        }
    }

    /// GET_MAX_OFFSET: the offset the next message of the queue will get.
    pub(crate) async fn max_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let addr = self.master_for(queue)?;
        let cmd = RemotingCommand::request_with_header(
            request::GET_MAX_OFFSET,
            &GetMaxOffsetRequestHeader {
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                committed: None,
            },
        );
        let resp = self
            .invoke_ok(&addr, cmd, self.options.request_timeout)
            .await?;
        offset_of(&resp)
    }

    /// GET_MIN_OFFSET: the smallest offset still stored.
    pub(crate) async fn min_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let addr = self.master_for(queue)?;
        let cmd = RemotingCommand::request_with_header(
            request::GET_MIN_OFFSET,
            &GetMinOffsetRequestHeader {
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
            },
        );
        let resp = self
            .invoke_ok(&addr, cmd, self.options.request_timeout)
            .await?;
        offset_of(&resp)
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP (lower boundary).
    pub(crate) async fn search_offset(&self, queue: &MessageQueue, timestamp: i64) -> Result<i64> {
        let addr = self.master_for(queue)?;
        let cmd = RemotingCommand::request_with_header(
            request::SEARCH_OFFSET_BY_TIMESTAMP,
            &SearchOffsetRequestHeader {
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                timestamp,
                boundary_type: None,
            },
        );
        let resp = self
            .invoke_ok(&addr, cmd, self.options.request_timeout)
            .await?;
        offset_of(&resp)
    }

    /// CONSUMER_SEND_MSG_BACK of a message pulled from `broker`: the broker stores a copy in
    /// `%RETRY%<group>` to be delivered after a delay that grows with its reconsume times (delay
    /// level 0: the broker's choice, 3 + reconsumeTimes), or in `%DLQ%<group>` once they reach
    /// `max_reconsume_times`, or at once with a negative `delay_level`.
    pub(crate) async fn send_back(
        &self,
        broker: &str,
        group: &str,
        msg: &MessageExt,
        delay_level: i32,
        max_reconsume_times: u32,
    ) -> Result<()> {
        let addr = self
            .master_addr(broker)
            .ok_or_else(|| ClientError::NoRoute {
                topic: msg.topic.clone(),
                reason: format!("broker {broker} has no known master address"),
            })?;
        let cmd = RemotingCommand::request_with_header(
            request::CONSUMER_SEND_MSG_BACK,
            &ConsumerSendMsgBackRequestHeader {
                offset: msg.commit_log_offset,
                group: group.to_string(),
                delay_level,
                origin_msg_id: Some(msg.msg_id.clone()),
                origin_topic: Some(msg.topic.clone()),
                unit_mode: Some(false),
                max_reconsume_times: Some(max_reconsume_times.min(i32::MAX as u32) as i32),
            },
        );
        self.invoke_ok(&addr, cmd, self.options.request_timeout)
            .await?;
        Ok(())
    }

    /// GET_CONSUMER_LIST_BY_GROUP from `addr`, sorted.
    pub(crate) async fn consumer_ids(&self, addr: &str, group: &str) -> Result<Vec<String>> {
        let cmd = RemotingCommand::request_with_header(
            request::GET_CONSUMER_LIST_BY_GROUP,
            &GetConsumerListByGroupRequestHeader {
                consumer_group: group.to_string(),
            },
        );
        let resp = self
            .invoke_ok(addr, cmd, self.options.request_timeout)
            .await?;
        let body: GetConsumerListByGroupResponseBody =
            from_json(resp.body_bytes()).map_err(decode_failed("consumer id list"))?;
        let mut ids = body.consumer_id_list;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// CHECK_CLIENT_CONFIG to every master routing `sub.topic`: does it serve this selector?
    /// The first refusal is the error, with the broker's reason (Java's client fails its start the
    /// same way, before any pull could be refused one by one).
    pub(crate) async fn check_client_config(
        &self,
        group: &str,
        sub: &SubscriptionData,
    ) -> Result<()> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct CheckClientRequestBody<'a> {
            client_id: &'a str,
            group: &'a str,
            subscription_data: &'a SubscriptionData,
        }
        let Some(route) = self.route(&sub.topic).await? else {
            return Ok(());
        };
        let body = to_json(&CheckClientRequestBody {
            client_id: &self.client_id,
            group,
            subscription_data: sub,
        });
        for addr in crate::route::masters_of(&route) {
            let cmd =
                RemotingCommand::new_request(request::CHECK_CLIENT_CONFIG).with_body(body.clone());
            self.invoke_ok(&addr, cmd, self.options.request_timeout)
                .await?;
        }
        Ok(())
    }

    /// HEART_BEAT to every master in the route cache; returns those that accepted it.
    pub(crate) async fn heartbeat_all(&self, data: &HeartbeatData) -> Vec<String> {
        let body = to_json(data);
        let mut ok = Vec::new();
        for addr in self.all_master_addrs() {
            let cmd = RemotingCommand::new_request(request::HEART_BEAT).with_body(body.clone());
            match self
                .invoke_ok(&addr, cmd, self.options.request_timeout)
                .await
            {
                Ok(_) => ok.push(addr),
                Err(e) => tracing::warn!(broker = %addr, error = %e, "heartbeat failed"),
            }
        }
        ok
    }

    /// UNREGISTER_CLIENT to every master in the route cache (best effort).
    pub(crate) async fn unregister_all(
        &self,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) {
        for addr in self.all_master_addrs() {
            let cmd = RemotingCommand::request_with_header(
                request::UNREGISTER_CLIENT,
                &UnregisterClientRequestHeader {
                    client_id: self.client_id.clone(),
                    producer_group: producer_group.map(str::to_string),
                    consumer_group: consumer_group.map(str::to_string),
                },
            );
            if let Err(e) = self
                .invoke_ok(&addr, cmd, self.options.request_timeout)
                .await
            {
                tracing::debug!(broker = %addr, error = %e, "unregister failed");
            }
        }
    }
}

fn offset_of(resp: &RemotingCommand) -> Result<i64> {
    resp.decode_header::<OffsetResponseHeader>()
        .map(|h| h.offset)
        .map_err(decode_failed("offset response header"))
}
