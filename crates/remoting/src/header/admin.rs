//! Topic administration headers (fact sheet §3.7): UPDATE_AND_CREATE_TOPIC (17),
//! DELETE_TOPIC_IN_BROKER (215), DELETE_TOPIC_IN_NAMESRV (216),
//! REGISTER_TOPIC_IN_NAMESRV (217), GET_TOPICS_BY_CLUSTER (224), and VIEW_BROKER_STATS_DATA (315).

use super::command_header;

command_header! {
    pub struct CreateTopicRequestHeader {
        topic: String => "topic",
        default_topic: String => "defaultTopic",
        read_queue_nums: i32 => "readQueueNums",
        write_queue_nums: i32 => "writeQueueNums",
        perm: i32 => "perm",
        /// "SINGLE_TAG" or "MULTI_TAG".
        topic_filter_type: Option<String> => "topicFilterType",
        topic_sys_flag: Option<i32> => "topicSysFlag",
        order: Option<bool> => "order",
        /// "+k=v,+k2=v2,-k3" attribute changes.
        attributes: Option<String> => "attributes",
        force: Option<bool> => "force",
    }
}

command_header! {
    pub struct DeleteTopicRequestHeader {
        topic: String => "topic",
    }
}

command_header! {
    pub struct DeleteTopicFromNamesrvRequestHeader {
        topic: String => "topic",
        cluster_name: Option<String> => "clusterName",
    }
}

command_header! {
    /// REGISTER_TOPIC_IN_NAMESRV: the body is the topic's TopicRouteData.
    pub struct RegisterTopicRequestHeader {
        topic: String => "topic",
    }
}

command_header! {
    pub struct GetTopicsByClusterRequestHeader {
        cluster: String => "cluster",
    }
}

command_header! {
    /// VIEW_BROKER_STATS_DATA (315): one statistic of a broker, e.g. `TOPIC_PUT_NUMS` of a topic
    /// or `GROUP_GET_NUMS` of `topic@group`.
    pub struct ViewBrokerStatsDataRequestHeader {
        stats_name: String => "statsName",
        stats_key: String => "statsKey",
    }
}
