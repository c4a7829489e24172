//! Which consumer groups have consumed a message: the "message track" `mqadmin queryMsgById`
//! prints under a message. Every group the topic's brokers know as its consumers (online ones,
//! and those with committed offsets on it: QUERY_TOPIC_CONSUME_BY_WHO) gets one verdict, worked
//! out as Java's admin does: a push group has consumed the message once its committed offset on
//! the message's queue (GET_CONSUME_STATS) is past the message's queue offset, unless its
//! subscription's tags leave the message out; a pull group and a broadcasting group keep their
//! progress themselves, and a group with no consumer online is reported as such (with what its
//! committed offset says, which Java leaves out).

use std::collections::BTreeSet;

use courier_remoting::body::{from_json, ConsumerConnection, GroupList};
use courier_remoting::code::request;
use courier_remoting::RemotingCommand;

use super::Admin;
use crate::error::{decode_failed, Result};
use crate::message_ext::MessageExt;

/// What a group has done with a message (Java's `TrackType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackType {
    /// Its committed offset is past the message.
    Consumed,
    /// Consumed past it, but its subscription's tags do not take the message: skipped.
    ConsumedButFiltered,
    /// A pull consumer: it commits where it likes, nothing can be told.
    Pull,
    /// Its committed offset has not reached the message yet.
    NotConsumeYet,
    /// No consumer of the group is connected to the brokers.
    NotOnline,
    /// A broadcasting group: each client keeps its own offsets.
    ConsumeBroadcasting,
    /// The brokers could not be asked.
    Unknown,
}

impl TrackType {
    /// Java's name for it.
    pub fn java_name(self) -> &'static str {
        match self {
            TrackType::Consumed => "CONSUMED",
            TrackType::ConsumedButFiltered => "CONSUMED_BUT_FILTERED",
            TrackType::Pull => "PULL",
            TrackType::NotConsumeYet => "NOT_CONSUME_YET",
            TrackType::NotOnline => "NOT_ONLINE",
            TrackType::ConsumeBroadcasting => "CONSUME_BROADCASTING",
            TrackType::Unknown => "UNKNOWN",
        }
    }
}

/// One group's verdict on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTrack {
    pub group: String,
    pub track: TrackType,
    /// Why, when it is not plain: the group's committed offset, or the error.
    pub detail: Option<String>,
}

impl Admin {
    /// The consumer groups of `topic` on every master routing it (QUERY_TOPIC_CONSUME_BY_WHO:
    /// groups with consumers online subscribed to it, and groups with offsets on it), sorted.
    pub async fn topic_groups(&self, topic: &str) -> Result<BTreeSet<String>> {
        let mut groups = BTreeSet::new();
        for addr in self.topic_masters(topic).await? {
            let mut cmd = RemotingCommand::new_request(request::QUERY_TOPIC_CONSUME_BY_WHO);
            cmd.ext_fields.insert("topic".into(), topic.to_string());
            let resp = self
                .instance
                .invoke_ok(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            let list: GroupList =
                from_json(resp.body_bytes()).map_err(decode_failed("consumer group list"))?;
            groups.extend(list.group_list);
        }
        Ok(groups)
    }

    /// Each consumer group of `msg`'s topic with what it has done with `msg` (sorted by group).
    pub async fn message_tracks(&self, msg: &MessageExt) -> Result<Vec<MessageTrack>> {
        let groups = self.topic_groups(&msg.topic).await?;
        let mut tracks = Vec::with_capacity(groups.len());
        for group in groups {
            let (track, detail) = match self.track(msg, &group).await {
                Ok(t) => t,
                Err(e) => (TrackType::Unknown, Some(e.to_string())),
            };
            tracks.push(MessageTrack {
                group,
                track,
                detail,
            });
        }
        Ok(tracks)
    }

    async fn track(&self, msg: &MessageExt, group: &str) -> Result<(TrackType, Option<String>)> {
        let online = self.online_connection(group).await?;
        let Some(online) = online else {
            let detail = match self.committed_offset(msg, group).await? {
                Some(o) if o > msg.queue_offset => {
                    format!("no consumer online; its committed offset {o} is past the message (consumed)")
                }
                Some(o) => format!(
                    "no consumer online; its committed offset {o} has not reached the message"
                ),
                None => {
                    "no consumer online, and no committed offset on the message's queue".to_string()
                }
            };
            return Ok((TrackType::NotOnline, Some(detail)));
        };
        if online.consume_type.as_deref() == Some("CONSUME_ACTIVELY") {
            return Ok((TrackType::Pull, None));
        }
        if online.message_model.as_deref() == Some("BROADCASTING") {
            return Ok((TrackType::ConsumeBroadcasting, None));
        }
        let committed = self.committed_offset(msg, group).await?;
        let detail = Some(match committed {
            Some(o) => format!("committed offset {o}, message at {}", msg.queue_offset),
            None => format!("no committed offset yet, message at {}", msg.queue_offset),
        });
        if committed.is_none_or(|o| o <= msg.queue_offset) {
            return Ok((TrackType::NotConsumeYet, detail));
        }
        // Java's test: the group's subscription to the topic names tags, and not the message's.
        let filtered = online.subscription_table.get(&msg.topic).is_some_and(|s| {
            let tags = &s.tags_set;
            !tags.is_empty()
                && !tags.iter().any(|t| t == "*")
                && !msg.tags().is_some_and(|m| tags.iter().any(|t| t == m))
        });
        let track = if filtered {
            TrackType::ConsumedButFiltered
        } else {
            TrackType::Consumed
        };
        Ok((track, detail))
    }

    /// The group's consumer connections as the first master that has any reports them.
    async fn online_connection(&self, group: &str) -> Result<Option<ConsumerConnection>> {
        Ok(self
            .consumer_connection(group)
            .await?
            .into_iter()
            .next()
            .map(|(_, c)| c))
    }

    /// The group's committed offset on the queue `msg` is stored in (the queue of the broker that
    /// stored it), if it has one.
    async fn committed_offset(&self, msg: &MessageExt, group: &str) -> Result<Option<i64>> {
        let route = self.topic_route(&msg.topic).await?;
        let store_host = msg.store_host.to_string();
        let Some(broker) = route
            .broker_datas
            .iter()
            .find(|b| b.master_addr() == Some(store_host.as_str()))
        else {
            return Ok(None);
        };
        let progress = self.consumer_progress(group, Some(&msg.topic)).await?;
        Ok(progress
            .offset_table
            .iter()
            .find(|(q, _)| {
                q.topic == msg.topic
                    && q.broker_name == broker.broker_name
                    && q.queue_id == msg.queue_id
            })
            .map(|(_, w)| w.consumer_offset))
    }
}
