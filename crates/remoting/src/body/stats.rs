//! Admin statistics bodies: GET_TOPIC_STATS_INFO (202) answers a `TopicStatsTable`,
//! GET_CONSUME_STATS (208) a `ConsumeStats` (what `mqadmin topicStatus` and `consumerProgress`
//! print), GET_BROKER_CONSUME_STATS (317) a `ConsumeStatsList`: every group's `ConsumeStats` on
//! one broker (`mqadmin brokerConsumeStats`, and what the RocketMQ exporter scrapes), and
//! VIEW_BROKER_STATS_DATA (315) a `BrokerStatsData`: one statistic over the last minute, hour and
//! day (plain JSON), and QUERY_CONSUME_TIME_SPAN (303) a `QueryConsumeTimeSpanBody`: a group's
//! progress on each queue in store times (plain JSON; the queue is a member, not a map key).
//!
//! Each keys its `offsetTable` by a message queue, written in fastjson's form (`queue_map`).

use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::queue_map::{read_body, read_map, write_body};
use super::{BodyError, MessageQueue};

/// One queue of a topic: its offsets and the store time of its newest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    // Alphabetical, as fastjson writes them.
    pub last_update_timestamp: i64,
    pub max_offset: i64,
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO's body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicStatsTable {
    pub offset_table: Vec<(MessageQueue, TopicOffset)>,
    /// Messages put per second over the last minute.
    pub topic_put_tps: f64,
}

/// One queue of a consumer group's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    // Alphabetical, as fastjson writes them.
    /// The queue's max offset.
    pub broker_offset: i64,
    /// The group's committed offset.
    pub consumer_offset: i64,
    /// Store time of the last consumed message (the one before `consumer_offset`), 0 if none.
    pub last_timestamp: i64,
    /// How far the group has pulled; never behind `consumer_offset`.
    pub pull_offset: i64,
}

/// GET_CONSUME_STATS's body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    /// Messages consumed per second over the last minute.
    pub consume_tps: f64,
    pub offset_table: Vec<(MessageQueue, OffsetWrapper)>,
}

impl TopicStatsTable {
    /// The body as Java's broker writes it.
    pub fn to_fastjson(&self) -> Vec<u8> {
        write_body(&self.offset_table, Some((PUT_TPS, self.topic_put_tps)))
    }

    /// Reads a body in Java's form (or with the keys as JSON-text strings).
    pub fn from_json(bytes: &[u8]) -> Result<Self, BodyError> {
        let (offset_table, topic_put_tps) = read_body(bytes, Some(PUT_TPS))?;
        Ok(TopicStatsTable {
            offset_table,
            topic_put_tps,
        })
    }
}

impl OffsetWrapper {
    /// Messages of the queue the group has not committed yet (`brokerOffset - consumerOffset`,
    /// never negative): the diff `mqadmin consumerProgress` shows.
    pub fn diff(&self) -> i64 {
        (self.broker_offset - self.consumer_offset).max(0)
    }
}

impl ConsumeStats {
    /// The body as Java's broker writes it.
    pub fn to_fastjson(&self) -> Vec<u8> {
        write_body(&self.offset_table, Some((CONSUME_TPS, self.consume_tps)))
    }

    /// Reads a body in Java's form (or with the keys as JSON-text strings).
    pub fn from_json(bytes: &[u8]) -> Result<Self, BodyError> {
        let (offset_table, consume_tps) = read_body(bytes, Some(CONSUME_TPS))?;
        Ok(ConsumeStats {
            consume_tps,
            offset_table,
        })
    }

    /// The sum of every queue's [`OffsetWrapper::diff`] (Java's `computeTotalDiff`).
    pub fn total_diff(&self) -> i64 {
        self.offset_table.iter().map(|(_, w)| w.diff()).sum()
    }
}

/// One span of a statistic: how much it grew, per second, and the average per request (`avgpt`;
/// Courier counts no requests for these, so 0).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerStatsItem {
    // Alphabetical, as fastjson writes them.
    pub avgpt: f64,
    pub sum: i64,
    pub tps: f64,
}

/// VIEW_BROKER_STATS_DATA's body.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerStatsData {
    pub stats_day: BrokerStatsItem,
    pub stats_hour: BrokerStatsItem,
    pub stats_minute: BrokerStatsItem,
}

/// One queue's times in QUERY_CONSUME_TIME_SPAN's answer, each milliseconds since the epoch
/// (-1 where the queue has no such message).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueTimeSpan {
    // Alphabetical, as fastjson writes them. The aliases read the snake_case names the
    // rocketmq-rust 1.0 broker writes instead of Java's.
    /// The store time of the last message the group consumed (the oldest message's when it has
    /// consumed none).
    #[serde(alias = "consume_time_stamp")]
    pub consume_time_stamp: i64,
    /// How long the group's next message has been waiting, in milliseconds; 0 when it is
    /// caught up.
    #[serde(alias = "delay_time")]
    pub delay_time: i64,
    /// The store time of the queue's newest message.
    #[serde(alias = "max_time_stamp")]
    pub max_time_stamp: i64,
    #[serde(alias = "message_queue")]
    pub message_queue: MessageQueue,
    /// The store time of the queue's oldest message.
    #[serde(alias = "min_time_stamp")]
    pub min_time_stamp: i64,
}

/// QUERY_CONSUME_TIME_SPAN's body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryConsumeTimeSpanBody {
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

/// GET_BROKER_CONSUME_STATS's body: per consumer group (in the order the broker lists them),
/// one `ConsumeStats` per topic it has committed offsets for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStatsList {
    pub broker_addr: String,
    pub consume_stats_list: Vec<(String, Vec<ConsumeStats>)>,
    /// The sum of every listed queue's diff.
    pub total_diff: i64,
    /// Messages pulled but not committed; Courier keeps no separate pull offset, so 0.
    pub total_inflight_diff: i64,
}

impl ConsumeStatsList {
    /// The body as Java's broker writes it: `{"brokerAddr":…,"consumeStatsList":[{"group":
    /// [<ConsumeStats>,…]},…],"totalDiff":…,"totalInflightDiff":…}`, one single-member object per
    /// group, as Java's list of maps comes out.
    pub fn to_fastjson(&self) -> Vec<u8> {
        let mut out = b"{\"brokerAddr\":".to_vec();
        out.extend_from_slice(&serde_json::to_vec(&self.broker_addr).unwrap_or_default());
        out.extend_from_slice(b",\"consumeStatsList\":[");
        for (i, (group, stats)) in self.consume_stats_list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            out.extend_from_slice(&serde_json::to_vec(group).unwrap_or_default());
            out.extend_from_slice(b":[");
            for (j, s) in stats.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&s.to_fastjson());
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(
            format!(
                "],\"totalDiff\":{},\"totalInflightDiff\":{}}}",
                self.total_diff, self.total_inflight_diff
            )
            .as_bytes(),
        );
        out
    }

    /// Reads a body in Java's form (or with the queue keys as JSON-text strings).
    pub fn from_json(bytes: &[u8]) -> Result<Self, BodyError> {
        let invalid = |reason: String| BodyError::Json {
            what: "broker consume stats",
            reason,
        };
        let body: Value = super::from_json(bytes)?;
        let mut consume_stats_list = Vec::new();
        for entry in body
            .get("consumeStatsList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let groups = entry
                .as_object()
                .ok_or_else(|| invalid(format!("a consumeStatsList entry is {entry}")))?;
            for (group, stats) in groups {
                let stats = stats
                    .as_array()
                    .ok_or_else(|| invalid(format!("group {group}'s stats are {stats}")))?
                    .iter()
                    .map(ConsumeStats::from_value)
                    .collect::<Result<_, _>>()?;
                consume_stats_list.push((group.clone(), stats));
            }
        }
        let number = |name: &str| body.get(name).and_then(Value::as_i64).unwrap_or(0);
        Ok(ConsumeStatsList {
            broker_addr: body
                .get("brokerAddr")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            consume_stats_list,
            total_diff: number("totalDiff"),
            total_inflight_diff: number("totalInflightDiff"),
        })
    }
}

impl ConsumeStats {
    /// One `ConsumeStats` inside a larger body that `from_json` already normalized.
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        Ok(ConsumeStats {
            consume_tps: v.get(CONSUME_TPS).and_then(Value::as_f64).unwrap_or(0.0),
            offset_table: read_map(v.get("offsetTable"), "offsetTable")?,
        })
    }
}

const PUT_TPS: &str = "topicPutTps";
const CONSUME_TPS: &str = "consumeTps";

#[cfg(test)]
mod tests {
    use super::super::test_queue as mq;
    use super::*;

    #[test]
    fn topic_stats_are_written_as_java_writes_them_and_read_back() {
        let t = TopicStatsTable {
            offset_table: vec![(
                mq("T", 1),
                TopicOffset {
                    last_update_timestamp: 1_700_000_000_000,
                    max_offset: 12,
                    min_offset: 2,
                },
            )],
            topic_put_tps: 0.0,
        };
        let body = t.to_fastjson();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"lastUpdateTimestamp":1700000000000,"maxOffset":12,"minOffset":2}},"topicPutTps":0.0}"#
        );
        assert_eq!(TopicStatsTable::from_json(&body).unwrap(), t);
    }

    #[test]
    fn consume_stats_round_trip_with_several_queues_and_escapes() {
        let c = ConsumeStats {
            consume_tps: 12.5,
            offset_table: vec![
                (
                    mq("a\"b", 0),
                    OffsetWrapper {
                        broker_offset: 10,
                        consumer_offset: 7,
                        last_timestamp: 5,
                        pull_offset: 9,
                    },
                ),
                (mq("a\"b", 1), OffsetWrapper::default()),
            ],
        };
        let body = c.to_fastjson();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(text.starts_with(r#"{"consumeTps":12.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"a\"b"}:{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":5,"pullOffset":9}"#), "{text}");
        let mut back = ConsumeStats::from_json(&body).unwrap();
        back.offset_table.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(back, c);
    }

    #[test]
    fn broker_consume_stats_are_written_as_java_writes_them_and_read_back() {
        let w = |b, c| OffsetWrapper {
            broker_offset: b,
            consumer_offset: c,
            last_timestamp: 0,
            pull_offset: c,
        };
        let list = ConsumeStatsList {
            broker_addr: "127.0.0.1:10911".into(),
            consume_stats_list: vec![
                (
                    "g\"1".into(),
                    vec![ConsumeStats {
                        consume_tps: 1.5,
                        offset_table: vec![(mq("T", 0), w(10, 4)), (mq("T", 1), w(3, 3))],
                    }],
                ),
                ("g2".into(), Vec::new()),
            ],
            total_diff: 6,
            total_inflight_diff: 0,
        };
        let body = list.to_fastjson();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(
            text.starts_with(r#"{"brokerAddr":"127.0.0.1:10911","consumeStatsList":[{"g\"1":[{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:"#),
            "{text}"
        );
        assert!(
            text.ends_with(r#"},{"g2":[]}],"totalDiff":6,"totalInflightDiff":0}"#),
            "{text}"
        );
        assert_eq!(ConsumeStatsList::from_json(&body).unwrap(), list);
        assert!(ConsumeStatsList::from_json(br#"{"consumeStatsList":[3]}"#).is_err());
        assert_eq!(
            ConsumeStatsList::from_json(b"{}").unwrap(),
            ConsumeStatsList::default()
        );
    }

    #[test]
    fn empty_tables_and_garbage() {
        let c = ConsumeStats::default();
        assert_eq!(c.to_fastjson(), br#"{"consumeTps":0.0,"offsetTable":{}}"#);
        assert_eq!(ConsumeStats::from_json(&c.to_fastjson()).unwrap(), c);
        assert!(TopicStatsTable::from_json(b"{\"offsetTable\":{7:{}}}").is_err());
        assert!(TopicStatsTable::from_json(b"not json").is_err());
    }
}
