//! HEART_BEAT (34) body (fact sheet §3.4) and the subscription/connection types
//! shared with GET_CONSUMER_CONNECTION_LIST's `ConsumerConnection`.
//!
//! Enum-valued members (consumeType, messageModel, consumeFromWhere) stay
//! strings so a newer client's value never fails the whole heartbeat; a missing
//! `expressionType` defaults to "TAG" as Java does (ali-ons omits it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `subString` meaning every tag.
pub const SUB_ALL: &str = "*";

fn tag() -> String {
    "TAG".to_string()
}

/// One topic subscription of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    pub class_filter_mode: bool,
    /// Java `String.hashCode` of each tag.
    pub code_set: Vec<i32>,
    #[serde(default = "tag")]
    pub expression_type: String,
    pub sub_string: String,
    pub sub_version: i64,
    pub tags_set: Vec<String>,
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            code_set: Vec::new(),
            expression_type: tag(),
            sub_string: SUB_ALL.to_string(),
            sub_version: 0,
            tags_set: Vec::new(),
            topic: String::new(),
        }
    }
}

/// One consumer group of a client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub consume_from_where: String,
    pub consume_type: String,
    pub group_name: String,
    pub message_model: String,
    pub subscription_data_set: Vec<SubscriptionData>,
    pub unit_mode: bool,
}

/// One producer group of a client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    pub group_name: String,
}

/// HEART_BEAT body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_fingerprint: Option<i32>,
    pub producer_data_set: Vec<ProducerData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_sub: Option<bool>,
}

/// One client connection of a consumer group (GET_CONSUMER_CONNECTION_LIST).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    pub client_addr: String,
    pub client_id: String,
    pub language: String,
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    pub connection_set: Vec<Connection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consume_from_where: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consume_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_model: Option<String>,
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::from_json;

    #[test]
    fn parses_the_java_heartbeat_and_defaults_expression_type() {
        let raw = br#"{"clientID":"192.168.0.10@12345",
 "consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY",
   "groupName":"cg1","messageModel":"CLUSTERING","unitMode":false,
   "subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],
      "subString":"TagA || TagB","subVersion":1700000000000,"tagsSet":["TagA","TagB"],"topic":"TopicTest"}]}],
 "producerDataSet":[{"groupName":"pg1"},{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;
        let hb: HeartbeatData = from_json(raw).unwrap();
        assert_eq!(hb.client_id, "192.168.0.10@12345");
        let sub = &hb.consumer_data_set[0].subscription_data_set[0];
        assert_eq!(sub.expression_type, "TAG");
        assert_eq!(sub.code_set, vec![2598919]);
        assert_eq!(hb.producer_data_set.len(), 2);
    }
}
