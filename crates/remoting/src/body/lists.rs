//! Small list/table bodies: `TopicList` (GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
//! GET_TOPICS_BY_CLUSTER, QUERY_TOPICS_BY_CONSUMER), `KvTable` (GET_KVLIST_BY_NAMESPACE,
//! GET_BROKER_RUNTIME_INFO), `GroupList` (QUERY_TOPIC_CONSUME_BY_WHO) and
//! `GetConsumerListByGroupResponseBody`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    pub topic_list: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    pub table: BTreeMap<String, String>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO's body: the consumer groups of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    pub group_list: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerListByGroupResponseBody {
    pub consumer_id_list: Vec<String>,
}
