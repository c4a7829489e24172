//! `MessageQueue`: one queue of a topic on one broker group. Ordered by topic,
//! broker name, queue id — the order rebalancing sorts queues in, so every
//! client of a group computes the same allocation.

use std::fmt;

/// A (topic, broker name, queue id) triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageQueue {
    pub topic: String,
    pub broker_name: String,
    pub queue_id: i32,
}

impl MessageQueue {
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }

    /// The queue as the wire bodies name it.
    pub(crate) fn to_wire(&self) -> courier_remoting::body::MessageQueue {
        courier_remoting::body::MessageQueue {
            topic: self.topic.clone(),
            broker_name: self.broker_name.clone(),
            queue_id: self.queue_id,
        }
    }

    /// A queue a wire body names.
    pub(crate) fn from_wire(q: courier_remoting::body::MessageQueue) -> Self {
        MessageQueue::new(q.topic, q.broker_name, q.queue_id)
    }
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.topic, self.broker_name, self.queue_id)
    }
}
