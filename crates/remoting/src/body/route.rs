//! Route bodies from the name server (fact sheet §3.5): `TopicRouteData` for
//! GET_ROUTEINFO_BY_TOPIC / REGISTER_TOPIC_IN_NAMESRV and `ClusterInfo` for
//! GET_BROKER_CLUSTER_INFO, plus the permission bits.
//!
//! `brokerAddrs` is keyed by broker id (0 = master); serde writes the keys
//! quoted, which every Java client parses. `topicSynFlag` (≤ 4.8 spelling) is
//! accepted on input as an alias of `topicSysFlag`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Topic may be read.
pub const PERM_READ: i32 = 4;
/// Topic may be written.
pub const PERM_WRITE: i32 = 2;
/// Topic config may be inherited.
pub const PERM_INHERIT: i32 = 1;
/// Priority topic.
pub const PERM_PRIORITY: i32 = 8;
/// Broker id of a master.
pub const MASTER_ID: i64 = 0;

/// One broker group (master and slaves) as seen in routes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    pub cluster: String,
    pub enable_acting_master: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// The master's address, if a master is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }
}

/// One broker's queues for a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    pub broker_name: String,
    pub perm: i32,
    pub read_queue_nums: i32,
    #[serde(alias = "topicSynFlag")]
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

/// The route of one topic.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// "brokerName:queueNum;..." for ordered topics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
    /// Static-topic mapping (5.x); passed through untouched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_by_broker: Option<serde_json::Value>,
}

/// GET_BROKER_CLUSTER_INFO body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{from_json, to_json};

    #[test]
    fn writes_the_field_names_java_parses() {
        let route = TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_addrs: [(0, "127.0.0.1:10911".to_string())].into(),
                broker_name: "broker-a".into(),
                cluster: "DefaultCluster".into(),
                ..Default::default()
            }],
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                perm: 6,
                read_queue_nums: 4,
                write_queue_nums: 4,
                topic_sys_flag: 0,
            }],
            ..Default::default()
        };
        let text = String::from_utf8(to_json(&route)).unwrap();
        assert_eq!(
            text,
            r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#
        );
        let back: TopicRouteData = from_json(text.as_bytes()).unwrap();
        assert_eq!(back, route);
    }

    #[test]
    fn reads_fastjson_unquoted_keys_and_old_flag_name() {
        let raw = br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"b","cluster":"c"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":8,"topicSynFlag":3,"writeQueueNums":8}],"extra":1}"#;
        let route: TopicRouteData = from_json(raw).unwrap();
        assert_eq!(route.broker_datas[0].master_addr(), Some("10.0.0.1:10911"));
        assert_eq!(
            route.broker_datas[0]
                .broker_addrs
                .get(&1)
                .map(String::as_str),
            Some("10.0.0.2:10911")
        );
        assert_eq!(route.queue_datas[0].topic_sys_flag, 3);
        let info: ClusterInfo = from_json(
            br#"{"brokerAddrTable":{"b":{"brokerAddrs":{0:"x:1"},"brokerName":"b","cluster":"c"}},"clusterAddrTable":{"c":["b"]}}"#,
        )
        .unwrap();
        assert_eq!(info.cluster_addr_table["c"].len(), 1);
    }
}
