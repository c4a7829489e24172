//! Topic administration headers (fact sheet §3.7): UPDATE_AND_CREATE_TOPIC (17),
//! DELETE_TOPIC_IN_BROKER (215), DELETE_TOPIC_IN_NAMESRV (216),
//! REGISTER_TOPIC_IN_NAMESRV (217), GET_TOPICS_BY_CLUSTER (224).

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
