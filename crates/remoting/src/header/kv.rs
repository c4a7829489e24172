//! Name-server KV config headers (fact sheet §3.7): PUT_KV_CONFIG (100),
//! GET_KV_CONFIG (101), DELETE_KV_CONFIG (102), GET_KVLIST_BY_NAMESPACE (219).

use super::command_header;

command_header! {
    pub struct PutKvConfigRequestHeader {
        namespace: String => "namespace",
        key: String => "key",
        value: String => "value",
    }
}

command_header! {
    pub struct GetKvConfigRequestHeader {
        namespace: String => "namespace",
        key: String => "key",
    }
}

command_header! {
    pub struct GetKvConfigResponseHeader {
        value: Option<String> => "value",
    }
}

command_header! {
    pub struct DeleteKvConfigRequestHeader {
        namespace: String => "namespace",
        key: String => "key",
    }
}

command_header! {
    pub struct GetKvListByNamespaceRequestHeader {
        namespace: String => "namespace",
    }
}
