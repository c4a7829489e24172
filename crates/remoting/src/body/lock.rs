//! Ordered-consumer queue lock bodies (fact sheet §9): LOCK_BATCH_MQ (41)
//! request/response and UNLOCK_BATCH_MQ (42) request, and `MessageQueue`,
//! ordered as Java sorts it (topic, brokerName, queueId).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    // Declaration order is the sort order Java uses.
    pub topic: String,
    pub broker_name: String,
    pub queue_id: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    pub mq_set: Vec<MessageQueue>,
    pub only_this_broker: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

/// UNLOCK_BATCH_MQ body: the same shape as the lock request.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{from_json, to_json};

    #[test]
    fn lock_bodies_use_java_names() {
        let raw = br#"{"consumerGroup":"cg","clientId":"10.0.0.5@1234#8791234","onlyThisBroker":false,"mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"T"}]}"#;
        let req: LockBatchRequestBody = from_json(raw).unwrap();
        assert_eq!(req.mq_set[0].broker_name, "broker-a");
        let resp = LockBatchResponseBody {
            lock_ok_mq_set: req.mq_set.clone(),
        };
        let text = String::from_utf8(to_json(&resp)).unwrap();
        assert_eq!(
            text,
            r#"{"lockOKMQSet":[{"topic":"T","brokerName":"broker-a","queueId":0}]}"#
        );
    }
}
