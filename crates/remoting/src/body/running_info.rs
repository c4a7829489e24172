//! What a consumer tells about itself when a broker forwards an admin's question to it:
//! GET_CONSUMER_RUNNING_INFO (307) answers a [`ConsumerRunningInfo`] (`mqadmin consumerStatus`,
//! the dashboards' "consumer client info"), CONSUME_MESSAGE_DIRECTLY (309) a
//! [`ConsumeMessageDirectlyResult`] (`mqadmin queryMsgById -g … -d …`: have one client consume
//! one stored message now).
//!
//! Java writes these with fastjson: members in alphabetical order, null members left out, and
//! `mqTable` keyed by message queue in fastjson's object-key form (`queue_map`), so this module
//! writes the running info by hand around that map and reads it back through the fastjson pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::queue_map::{read_map, write_map};
use super::{BodyError, MessageQueue, SubscriptionData};

/// `properties` keys Java's client adds besides its settings.
pub mod prop {
    /// The name servers, each followed by `;`.
    pub const NAMESERVER_ADDR: &str = "PROP_NAMESERVER_ADDR";
    /// Consumer threads (Courier: listener calls that may run at once).
    pub const THREADPOOL_CORE_SIZE: &str = "PROP_THREADPOOL_CORE_SIZE";
    /// "true" for an ordered consumer.
    pub const CONSUME_ORDERLY: &str = "PROP_CONSUMEORDERLY";
    /// "CONSUME_PASSIVELY" (push) or "CONSUME_ACTIVELY" (pull).
    pub const CONSUME_TYPE: &str = "PROP_CONSUME_TYPE";
    /// The client's version name, e.g. "V5_3_3".
    pub const CLIENT_VERSION: &str = "PROP_CLIENT_VERSION";
    /// When the consumer started (Unix ms), as text.
    pub const CONSUMER_START_TIMESTAMP: &str = "PROP_CONSUMER_START_TIMESTAMP";
}

/// One assigned queue as the consumer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcessQueueInfo {
    // Alphabetical, as fastjson writes them.
    /// Messages pulled and not yet consumed.
    pub cached_msg_count: i32,
    pub cached_msg_max_offset: i64,
    pub cached_msg_min_offset: i64,
    #[serde(rename = "cachedMsgSizeInMiB")]
    pub cached_msg_size_in_mib: i32,
    /// The offset the consumer would commit now.
    pub commit_offset: i64,
    /// Java's spelling: the queue was taken away by a rebalance.
    pub droped: bool,
    pub last_consume_timestamp: i64,
    pub last_lock_timestamp: i64,
    pub last_pull_timestamp: i64,
    /// Ordered consumption: the queue is locked on its broker.
    pub locked: bool,
    pub transaction_msg_count: i32,
    pub transaction_msg_max_offset: i64,
    pub transaction_msg_min_offset: i64,
    pub try_unlock_times: i64,
}

/// A consumer's rates for one topic over the last minute.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumeStatus {
    // Alphabetical, as fastjson writes them; the names are Java's getters'.
    /// Messages the listener failed (or asked to retry) in the last hour.
    #[serde(rename = "consumeFailedMsgs")]
    pub consume_failed_msgs: i64,
    #[serde(rename = "consumeFailedTPS")]
    pub consume_failed_tps: f64,
    #[serde(rename = "consumeOKTPS")]
    pub consume_ok_tps: f64,
    /// Mean listener time per message, ms.
    #[serde(rename = "consumeRT")]
    pub consume_rt: f64,
    /// Mean pull round trip, ms.
    #[serde(rename = "pullRT")]
    pub pull_rt: f64,
    /// Messages pulled per second.
    #[serde(rename = "pullTPS")]
    pub pull_tps: f64,
}

/// GET_CONSUMER_RUNNING_INFO's body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumerRunningInfo {
    /// A thread dump when the admin asked for one (`jstackEnable`).
    pub jstack: Option<String>,
    pub mq_table: Vec<(MessageQueue, ProcessQueueInfo)>,
    /// The consumer's settings and the `prop` keys.
    pub properties: BTreeMap<String, String>,
    /// Keyed by topic.
    pub status_table: BTreeMap<String, ConsumeStatus>,
    pub subscription_set: Vec<SubscriptionData>,
    pub user_consumer_info: BTreeMap<String, String>,
}

/// The members of [`ConsumerRunningInfo`] serde can read and write as they are.
#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Plain {
    properties: BTreeMap<String, Value>,
    status_table: BTreeMap<String, ConsumeStatus>,
    subscription_set: Vec<SubscriptionData>,
    user_consumer_info: BTreeMap<String, String>,
}

impl ConsumerRunningInfo {
    /// The body as Java's client writes it.
    pub fn to_fastjson(&self) -> Vec<u8> {
        let mut out = vec![b'{'];
        if let Some(j) = &self.jstack {
            out.extend_from_slice(b"\"jstack\":");
            let _ = serde_json::to_writer(&mut out, j);
            out.push(b',');
        }
        // Java 5 also has the POP consumer's table; Courier's client never pops.
        out.extend_from_slice(b"\"mqPopTable\":{},\"mqTable\":");
        write_map(&mut out, &self.mq_table);
        out.extend_from_slice(b",\"properties\":");
        let _ = serde_json::to_writer(&mut out, &self.properties);
        out.extend_from_slice(b",\"statusTable\":");
        let _ = serde_json::to_writer(&mut out, &self.status_table);
        out.extend_from_slice(b",\"subscriptionSet\":");
        let _ = serde_json::to_writer(&mut out, &self.subscription_set);
        out.extend_from_slice(b",\"userConsumerInfo\":");
        let _ = serde_json::to_writer(&mut out, &self.user_consumer_info);
        out.push(b'}');
        out
    }

    /// Reads a body in Java's form (or with the queue keys as JSON-text strings).
    pub fn from_json(bytes: &[u8]) -> Result<Self, BodyError> {
        let body: Value = super::from_json(bytes)?;
        let mq_table = read_map(body.get("mqTable"), "mqTable")?;
        let jstack = body
            .get("jstack")
            .and_then(Value::as_str)
            .map(str::to_string);
        let plain: Plain = serde_json::from_value(body).map_err(|e| BodyError::Json {
            what: "ConsumerRunningInfo",
            reason: e.to_string(),
        })?;
        // Java's Properties may hold numbers and booleans from the settings; keep their text.
        let properties = plain
            .properties
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
        Ok(ConsumerRunningInfo {
            jstack,
            mq_table,
            properties,
            status_table: plain.status_table,
            subscription_set: plain.subscription_set,
            user_consumer_info: plain.user_consumer_info,
        })
    }
}

/// How the listener took a message handed to it directly (Java's `CMResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CmResult {
    CrSuccess,
    CrLater,
    CrRollback,
    CrCommit,
    CrThrowException,
    CrReturnNull,
}

/// CONSUME_MESSAGE_DIRECTLY's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeMessageDirectlyResult {
    // Alphabetical, as fastjson writes them. The snake_case aliases read what rocketmq-client-rust
    // 1.0 sends (its serde names), so its answers are understood too.
    #[serde(alias = "auto_commit")]
    pub auto_commit: bool,
    /// None when the client could not tell (Java leaves it null for an ordered listener's
    /// other answers).
    #[serde(skip_serializing_if = "Option::is_none", alias = "consume_result")]
    pub consume_result: Option<CmResult>,
    pub order: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Java's spelling.
    #[serde(alias = "spent_time_mills")]
    pub spent_time_mills: i64,
}

impl Default for ConsumeMessageDirectlyResult {
    fn default() -> Self {
        ConsumeMessageDirectlyResult {
            auto_commit: true,
            consume_result: None,
            order: false,
            remark: None,
            spent_time_mills: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ConsumerRunningInfo {
        let mq = |q| MessageQueue {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: q,
        };
        ConsumerRunningInfo {
            jstack: None,
            mq_table: vec![
                (
                    mq(0),
                    ProcessQueueInfo {
                        commit_offset: 7,
                        cached_msg_count: 2,
                        cached_msg_min_offset: 7,
                        cached_msg_max_offset: 8,
                        last_pull_timestamp: 1_700_000_000_000,
                        ..Default::default()
                    },
                ),
                (mq(1), ProcessQueueInfo::default()),
            ],
            properties: [(prop::CONSUME_ORDERLY.to_string(), "false".to_string())].into(),
            status_table: [(
                "T".to_string(),
                ConsumeStatus {
                    consume_ok_tps: 12.5,
                    pull_rt: 1.25,
                    ..Default::default()
                },
            )]
            .into(),
            subscription_set: vec![SubscriptionData {
                topic: "T".into(),
                ..Default::default()
            }],
            user_consumer_info: BTreeMap::new(),
        }
    }

    #[test]
    fn running_info_is_written_in_fastjson_form_and_read_back() {
        let info = sample();
        let bytes = info.to_fastjson();
        let text = String::from_utf8(bytes.clone()).unwrap();
        // The queue itself is the key, members alphabetical; null jstack left out.
        assert!(
            text.contains(
                r#""mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"cachedMsgCount":2,"#
            ),
            "{text}"
        );
        assert!(!text.contains("jstack"), "{text}");
        assert!(text.contains(r#""consumeOKTPS":12.5"#), "{text}");
        assert!(text.contains(r#""cachedMsgSizeInMiB":0"#), "{text}");
        assert_eq!(ConsumerRunningInfo::from_json(&bytes).unwrap(), info);

        let with_stack = ConsumerRunningInfo {
            jstack: Some("\"main\" RUNNABLE".into()),
            ..info
        };
        let back = ConsumerRunningInfo::from_json(&with_stack.to_fastjson()).unwrap();
        assert_eq!(back, with_stack);
    }

    #[test]
    fn java_properties_of_other_types_keep_their_text() {
        let body = br#"{"mqTable":{},"properties":{"consumeThreadMin":20,"unitMode":false,"PROP_CONSUMEORDERLY":"true"}}"#;
        let info = ConsumerRunningInfo::from_json(body).unwrap();
        assert_eq!(info.properties["consumeThreadMin"], "20");
        assert_eq!(info.properties["unitMode"], "false");
        assert_eq!(info.properties[prop::CONSUME_ORDERLY], "true");
        assert!(info.mq_table.is_empty());
    }

    #[test]
    fn a_queue_table_that_is_not_an_object_is_refused() {
        let err = ConsumerRunningInfo::from_json(br#"{"mqTable":[1]}"#).unwrap_err();
        assert!(err.to_string().contains("mqTable is [1]"), "{err}");
    }

    #[test]
    fn directly_consumed_result_uses_java_names() {
        let r = ConsumeMessageDirectlyResult {
            consume_result: Some(CmResult::CrLater),
            spent_time_mills: 3,
            ..Default::default()
        };
        let text = String::from_utf8(super::super::to_json(&r)).unwrap();
        assert_eq!(
            text,
            r#"{"autoCommit":true,"consumeResult":"CR_LATER","order":false,"spentTimeMills":3}"#
        );
        let back: ConsumeMessageDirectlyResult = super::super::from_json(text.as_bytes()).unwrap();
        assert_eq!(back, r);
        // rocketmq-client-rust 1.0 answers with its field names in snake_case.
        let mxsm = br#"{"order":false,"auto_commit":true,"consume_result":"CR_LATER","remark":null,"spent_time_mills":3}"#;
        let back: ConsumeMessageDirectlyResult = super::super::from_json(mxsm).unwrap();
        assert_eq!(back, r);
    }
}
