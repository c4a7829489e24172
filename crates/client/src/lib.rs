//! `courier-client`: Courier's own RocketMQ client over the remoting protocol
//! (`courier-remoting`), usable against Courier's broker or Apache RocketMQ's.
//!
//! - `Producer`: sync / async / oneway / batch sends, round-robin or keyed
//!   queue selection, retries on another broker, route refresh; request-reply
//!   (`Producer::request`, answered with `Message::reply_to`); transactional
//!   messages (`Producer::send_in_transaction`, check-backs answered by the
//!   builder's `transaction_checker`).
//! - `PushConsumer`: long-polling pulls into a concurrent listener, clustering
//!   (average allocation, broker-stored offsets) or broadcasting (local offset
//!   file), rebalancing on a timer and on NOTIFY_CONSUMER_IDS_CHANGED; answers
//!   an admin's GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY, and follows a
//!   RocketMQ 4 broker's RESET_CONSUMER_CLIENT_OFFSET.
//! - `PullConsumer`: pulls from explicit offsets and manages offsets itself.
//! - `MessageExt` / `decode_messages`: the stored-record decoder for PULL bodies.
//! - `Admin`: create topics and wait for their routes (tools, tests, benches).
//!
//! Every client object must be created inside a tokio runtime; each owns its
//! connections and background tasks and stops them in `shutdown()`.

mod admin;
mod allocate;
mod broker_api;
pub mod civil;
mod compress;
mod consume_stats;
mod error;
mod instance;
mod listener;
mod message;
mod message_ext;
mod message_id;
mod message_queue;
mod offset_store;
mod options;
mod orderly;
mod producer;
mod pull_consumer;
mod push_consumer;
mod request_reply;
mod route;
mod subscription;
mod transaction;

pub use admin::{
    Admin, ConsumerStatus, GroupOnline, GroupTraffic, HeldOffsets, MessageTrack, OffsetReset,
    PermChange, TopicTraffic, TrackType,
};
pub use allocate::allocate_averagely;
pub use broker_api::{PullResult, PullStatus};
pub use compress::compress;
pub use courier_remoting::body::{
    CmResult, ConsumeMessageDirectlyResult, ConsumeStatus, ConsumerRunningInfo, ProcessQueueInfo,
};
pub use courier_remoting::SerializeType;
pub use error::{ClientError, Result};
pub use listener::{ConsumeFuture, ConsumeResult, MessageListener};
pub use message::{decode_properties, encode_properties, java_string_hash, property, Message};
pub use message_ext::{decode_message, decode_messages, MessageExt};
pub use message_id::{decode_offset_msg_id, offset_msg_id, UniqIdGenerator};
pub use message_queue::MessageQueue;
pub use options::ClientOptions;
pub use producer::{Producer, ProducerBuilder, SendFuture, SendResult, SendStatus};
pub use pull_consumer::PullConsumer;
pub use push_consumer::{ConsumeFromWhere, MessageModel, PushConsumer, PushConsumerBuilder};
pub use request_reply::reply_topic;
pub use subscription::{MessageSelector, Subscription};
pub use transaction::{LocalTransactionState, TransactionChecker, TransactionSendResult};
