//! A topic's traffic as `mqadmin statsAll` shows it: messages in per second and in the last 24
//! hours (VIEW_BROKER_STATS_DATA `TOPIC_PUT_NUMS` on every master routing it), and for each
//! consumer group of the topic its backlog and consume rate (GET_CONSUME_STATS) and messages
//! consumed in the last 24 hours (VIEW_BROKER_STATS_DATA `GROUP_GET_NUMS`, key `topic@group`).
//! A broker that has no such statistic yet (it answers "not exist") counts as 0.

use courier_remoting::body::{from_json, BrokerStatsData};
use courier_remoting::code::{request, response};
use courier_remoting::header::ViewBrokerStatsDataRequestHeader;
use courier_remoting::RemotingCommand;

use super::Admin;
use crate::error::{decode_failed, Result};
use crate::instance::broker_error;

/// One topic's traffic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicTraffic {
    pub topic: String,
    /// Messages put per second over the last minute.
    pub in_tps: f64,
    /// Messages put in the last 24 hours.
    pub in_day: i64,
    pub groups: Vec<GroupTraffic>,
}

/// One consumer group's traffic on a topic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupTraffic {
    pub group: String,
    /// Messages not consumed yet (the sum of the queues' diffs).
    pub accumulation: i64,
    /// Messages consumed per second over the last minute.
    pub out_tps: f64,
    /// Messages consumed in the last 24 hours.
    pub out_day: i64,
}

impl Admin {
    /// One statistic of the broker at `addr` over the last minute, hour and day
    /// (VIEW_BROKER_STATS_DATA); `None` when the broker keeps no such statistic or key.
    pub async fn broker_stats(
        &self,
        addr: &str,
        name: &str,
        key: &str,
    ) -> Result<Option<BrokerStatsData>> {
        let header = ViewBrokerStatsDataRequestHeader {
            stats_name: name.to_string(),
            stats_key: key.to_string(),
        };
        let cmd = RemotingCommand::request_with_header(request::VIEW_BROKER_STATS_DATA, &header);
        let resp = self
            .instance
            .invoke(addr, cmd, self.instance.options.request_timeout)
            .await?;
        match resp.code {
            response::SUCCESS => from_json(resp.body_bytes())
                .map(Some)
                .map_err(decode_failed("broker stats")),
            response::SYSTEM_ERROR
                if resp
                    .remark
                    .as_deref()
                    .is_some_and(|r| r.ends_with("not exist")) =>
            {
                Ok(None)
            }
            _ => Err(broker_error(addr, &resp)),
        }
    }

    /// `topic`'s traffic and each of its consumer groups' (see the module doc).
    pub async fn topic_traffic(&self, topic: &str) -> Result<TopicTraffic> {
        let masters = self.topic_masters(topic).await?;
        let mut traffic = TopicTraffic {
            topic: topic.to_string(),
            ..Default::default()
        };
        for addr in &masters {
            if let Some(s) = self.broker_stats(addr, "TOPIC_PUT_NUMS", topic).await? {
                traffic.in_tps += s.stats_minute.tps;
                traffic.in_day += s.stats_day.sum;
            }
        }
        for group in self.topic_groups(topic).await? {
            let progress = self.consumer_progress(&group, Some(topic)).await?;
            let mut g = GroupTraffic {
                accumulation: progress.total_diff(),
                out_tps: progress.consume_tps,
                group,
                ..Default::default()
            };
            let key = format!("{topic}@{}", g.group);
            for addr in &masters {
                if let Some(s) = self.broker_stats(addr, "GROUP_GET_NUMS", &key).await? {
                    g.out_day += s.stats_day.sum;
                }
            }
            traffic.groups.push(g);
        }
        Ok(traffic)
    }
}
