//! Broker ↔ name server headers (fact sheet §3.6): REGISTER_BROKER (103),
//! UNREGISTER_BROKER (104), QUERY_DATA_VERSION (322),
//! WIPE_WRITE_PERM_OF_BROKER (205), ADD_WRITE_PERM_OF_BROKER (327).

use super::command_header;

command_header! {
    pub struct RegisterBrokerRequestHeader {
        broker_name: String => "brokerName",
        broker_addr: String => "brokerAddr",
        cluster_name: String => "clusterName",
        ha_server_addr: String => "haServerAddr",
        broker_id: i64 => "brokerId",
        heartbeat_timeout_millis: Option<i64> => "heartbeatTimeoutMillis",
        enable_acting_master: Option<bool> => "enableActingMaster",
        /// The body is the zlib "compressed" register layout instead of JSON.
        compressed: Option<bool> => "compressed",
        /// CRC32 of the body; 0 or absent skips the check.
        body_crc32: Option<i32> => "bodyCrc32",
        zone_name: Option<String> => "zoneName",
    }
}

command_header! {
    pub struct RegisterBrokerResponseHeader {
        ha_server_addr: Option<String> => "haServerAddr",
        master_addr: Option<String> => "masterAddr",
    }
}

command_header! {
    pub struct UnregisterBrokerRequestHeader {
        broker_name: String => "brokerName",
        broker_addr: String => "brokerAddr",
        cluster_name: String => "clusterName",
        broker_id: i64 => "brokerId",
    }
}

command_header! {
    pub struct QueryDataVersionRequestHeader {
        broker_name: String => "brokerName",
        broker_addr: String => "brokerAddr",
        cluster_name: String => "clusterName",
        broker_id: i64 => "brokerId",
    }
}

command_header! {
    pub struct QueryDataVersionResponseHeader {
        changed: Option<bool> => "changed",
    }
}

command_header! {
    pub struct WipeWritePermOfBrokerRequestHeader {
        broker_name: String => "brokerName",
    }
}

command_header! {
    pub struct WipeWritePermOfBrokerResponseHeader {
        wipe_topic_count: i32 => "wipeTopicCount",
    }
}

command_header! {
    pub struct AddWritePermOfBrokerRequestHeader {
        broker_name: String => "brokerName",
    }
}

command_header! {
    pub struct AddWritePermOfBrokerResponseHeader {
        add_topic_count: i32 => "addTopicCount",
    }
}
