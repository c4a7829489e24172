//! `Producer`: sends messages to the brokers of a topic's route (fact sheet
//! §3.1, §12.2).
//!
//! - Queue selection: round-robin over every writable queue of every broker;
//!   after a failure the next attempt avoids the broker that failed, and that
//!   broker is skipped by later sends for `fault_isolation` (unless nothing
//!   else is left). `send_with_selector` hashes a key onto the queue list.
//! - Retries: a sync send makes 1 + `retries` attempts within `send_timeout`,
//!   retrying on transport errors and the response codes Java retries on.
//! - Routes: fetched on first use, refreshed every poll interval; an unknown
//!   topic uses the `TBW102` route so the broker auto-creates it.
//! - Each message gets a fresh UNIQ_KEY (its `msg_id`) and WAIT=true; bodies
//!   over `compress_over` are zlib-compressed (never in batches).
//! - The producer is cheap to clone; clones share connections and state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_remoting::body::{HeartbeatData, ProducerData, TopicRouteData};
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    SendHeaderFields, SendMessageRequestHeader, SendMessageResponseHeader,
};
use courier_remoting::message_batch::{BatchBodyWriter, RECORD_OVERHEAD};
use courier_remoting::processor::Dispatcher;
use courier_remoting::{ConnectionHandle, RemotingCommand, SerializeType};
use parking_lot::Mutex;

use crate::compress::{compress, SYS_FLAG_ZLIB_COMPRESSED};
use crate::error::{decode_failed, ClientError, Result};
use crate::instance::{broker_error, ClientInstance};
use crate::message::{
    java_string_hash, property, Message, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR,
};
use crate::message_ext::MessageExt;
use crate::message_id::UniqIdGenerator;
use crate::message_queue::MessageQueue;
use crate::options::ClientOptions;
use crate::request_reply::{new_correlation_id, ReplyWaiters};
use crate::route::{publish_queues, AUTO_CREATE_TOPIC_KEY};
use crate::transaction::{
    self, LocalTransactionState, SharedChecker, TransactionChecker, TransactionSendResult,
};

/// The broker's verdict on a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    SendOk,
    /// Stored, but the synchronous flush timed out.
    FlushDiskTimeout,
    /// Stored, but the slave did not acknowledge in time.
    FlushSlaveTimeout,
    /// Stored, but no slave was available.
    SlaveNotAvailable,
}

impl SendStatus {
    /// Java's name for it (`SEND_OK`, ...).
    pub fn java_name(self) -> &'static str {
        match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

/// What a successful send returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub status: SendStatus,
    /// UNIQ_KEY of the message (comma-separated for a batch).
    pub msg_id: String,
    /// The broker's offset id (comma-separated for a batch).
    pub offset_msg_id: String,
    pub queue: MessageQueue,
    /// Offset of the (first) message in its queue.
    pub queue_offset: i64,
    /// For a timer message (`Message::with_delay` / `with_deliver_time_ms`) on a RocketMQ 5.3
    /// broker: the handle [`Producer::recall_message`] withdraws it with before its time.
    pub recall_handle: Option<String>,
}

/// Response codes after which a send is retried on another broker (Java's set).
const RETRY_CODES: [i32; 8] = [
    response::TOPIC_NOT_EXIST,
    response::SERVICE_NOT_AVAILABLE,
    response::SYSTEM_ERROR,
    response::SYSTEM_BUSY,
    response::NO_PERMISSION,
    response::NO_BUYER_ID,
    response::NOT_IN_CURRENT_UNIT,
    response::GO_AWAY,
];

/// Producer settings; build with `Producer::builder()`.
#[derive(Debug, Clone)]
pub struct ProducerBuilder {
    pub options: ClientOptions,
    pub group: String,
    /// Total time for a send including retries (3 s).
    pub send_timeout: Duration,
    /// Extra attempts of a sync send on failure (2).
    pub retries: usize,
    /// Largest body (or batch body) accepted (4 MiB).
    pub max_message_size: usize,
    /// Compress single bodies larger than this many bytes (4 KiB); `None` = never.
    pub compress_over: Option<usize>,
    /// zlib level for compressed bodies (5).
    pub compress_level: u32,
    /// Queues per broker for a topic auto-created through `TBW102` (4).
    pub default_topic_queue_nums: i32,
    /// How long a broker that failed a send is avoided (10 s; zero = never).
    pub fault_isolation: Duration,
    /// Use SEND_MESSAGE_V2 short header keys (default) or SEND_MESSAGE long ones.
    pub use_v2_header: bool,
    /// Answers the brokers' transaction check-backs (`transaction_checker`); none by default.
    pub transaction_checker: Option<SharedChecker>,
}

impl Default for ProducerBuilder {
    fn default() -> Self {
        ProducerBuilder {
            options: ClientOptions::default(),
            group: "DEFAULT_PRODUCER".to_string(),
            send_timeout: Duration::from_secs(3),
            retries: 2,
            max_message_size: 4 * 1024 * 1024,
            compress_over: Some(4096),
            compress_level: 5,
            default_topic_queue_nums: 4,
            fault_isolation: Duration::from_secs(10),
            use_v2_header: true,
            transaction_checker: None,
        }
    }
}

impl ProducerBuilder {
    /// Name servers, ";"-separated.
    pub fn namesrv(mut self, addrs: &str) -> Self {
        self.options.set_namesrv(addrs);
        self
    }
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }
    /// Decides the fate of this group's half messages when a broker checks back on them
    /// (CHECK_TRANSACTION_STATE): those ended `Unknown`, or never ended because the producer
    /// died. Needed for `send_in_transaction` to be safe against crashes.
    pub fn transaction_checker(mut self, checker: impl TransactionChecker) -> Self {
        self.transaction_checker = Some(SharedChecker(Arc::new(checker)));
        self
    }
    pub fn send_timeout(mut self, d: Duration) -> Self {
        self.send_timeout = d;
        self
    }
    pub fn retries(mut self, n: usize) -> Self {
        self.retries = n;
        self
    }
    pub fn max_message_size(mut self, n: usize) -> Self {
        self.max_message_size = n;
        self
    }
    pub fn compress_over(mut self, n: Option<usize>) -> Self {
        self.compress_over = n;
        self
    }
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }
    pub fn fault_isolation(mut self, d: Duration) -> Self {
        self.fault_isolation = d;
        self
    }

    /// Creates the producer and starts its route refresh and heartbeat tasks.
    pub fn build(self) -> Result<Producer> {
        if self.group.is_empty() {
            return Err(ClientError::Config(
                "producer group must not be empty".into(),
            ));
        }
        if self.send_timeout.is_zero() {
            return Err(ClientError::Config(
                "send timeout must be above zero".into(),
            ));
        }
        // Replies to this producer's requests arrive pushed by a broker.
        let replies = ReplyWaiters::default();
        let mut dispatcher = Dispatcher::new();
        let waiters = replies.clone();
        dispatcher.register(
            request::PUSH_REPLY_MESSAGE_TO_CLIENT,
            Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
                let answer = waiters.on_push(&req);
                async move { Ok(Some(answer)) }
            }),
        );
        // Check-backs of this group's half messages.
        let group = self.group.clone();
        let checker = self.transaction_checker.clone();
        dispatcher.register(
            request::CHECK_TRANSACTION_STATE,
            Arc::new(move |conn: ConnectionHandle, req: RemotingCommand| {
                let (group, checker) = (group.clone(), checker.clone());
                async move {
                    match checker {
                        Some(c) => transaction::on_check(&group, c.0.as_ref(), conn, req).await,
                        None => tracing::warn!(
                            group,
                            "a broker checks on a half message, but this producer has no transaction_checker"
                        ),
                    }
                    Ok(None)
                }
            }),
        );
        let instance = ClientInstance::new(self.options.clone(), dispatcher)?;
        let uniq = UniqIdGenerator::new(self.options.client_ip);
        let inner = Arc::new(Inner {
            instance: instance.clone(),
            config: self,
            next_queue: AtomicUsize::new(rand::random::<u16>() as usize),
            isolated: Mutex::new(Vec::new()),
            publish_cache: Mutex::new(HashMap::new()),
            uniq,
            replies,
            heartbeated: Mutex::new(HashSet::new()),
            heartbeat_pending: AtomicBool::new(false),
        });
        instance.spawn_periodic(inner.config.options.poll_name_server_interval, |i| {
            i.refresh_routes()
        });
        // The task holds the producer's state weakly: it must not keep a dropped producer alive.
        let weak = Arc::downgrade(&inner);
        instance.spawn_periodic(inner.config.options.heartbeat_interval, move |_| {
            let inner = weak.upgrade();
            async move {
                if let Some(inner) = inner {
                    Producer { inner }.heartbeat().await;
                }
            }
        });
        Ok(Producer { inner })
    }
}

/// A route and the writable queues derived from it.
type PublishInfo = (Arc<TopicRouteData>, Arc<Vec<MessageQueue>>);

struct Inner {
    instance: Arc<ClientInstance>,
    config: ProducerBuilder,
    next_queue: AtomicUsize,
    /// (broker name, avoid until).
    isolated: Mutex<Vec<(String, Instant)>>,
    /// Per topic: the route the queue list was derived from, and the list.
    publish_cache: Mutex<HashMap<String, PublishInfo>>,
    uniq: UniqIdGenerator,
    /// Requests waiting for their replies.
    replies: ReplyWaiters,
    /// Brokers that took this producer's last heartbeat: they know where to push its replies
    /// and whom to ask about its transactions.
    heartbeated: Mutex<HashSet<String>>,
    /// A heartbeat to a newly met broker is under way (`cache_queues`).
    heartbeat_pending: AtomicBool,
}

/// A message producer. Clones share one client.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

/// A message ready for the wire.
struct Prepared {
    topic: String,
    body: Bytes,
    flag: i32,
    sys_flag: i32,
    properties: String,
    uniq_key: String,
    /// When the message was prepared (Unix ms): its born timestamp on the first attempt.
    born_ms: i64,
    /// A reply (`Message::reply_to`): sent with SEND_REPLY_MESSAGE(_V2) instead of SEND_MESSAGE.
    reply: bool,
}

/// The result of `send_async`: resolves when the broker answered.
pub struct SendFuture(tokio::task::JoinHandle<Result<SendResult>>);

impl Future for SendFuture {
    type Output = Result<SendResult>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(r) => r,
            Err(_) => Err(ClientError::ShutDown),
        })
    }
}

impl Producer {
    /// Settings with Java's defaults.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    /// This producer's client id.
    pub fn client_id(&self) -> &str {
        self.inner.instance.client_id()
    }

    /// Sends and waits for the broker's answer, retrying on other brokers.
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        let p = self.prepare(msg)?;
        self.send_prepared(p, request::SEND_MESSAGE_V2, None).await
    }

    /// Starts a send and returns at once; await the future for the result.
    pub fn send_async(&self, msg: Message) -> SendFuture {
        let me = self.clone();
        SendFuture(tokio::spawn(async move { me.send(msg).await }))
    }

    /// Starts a send and calls `callback` with its result.
    pub fn send_with_callback<F>(&self, msg: Message, callback: F)
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let me = self.clone();
        tokio::spawn(async move { callback(me.send(msg).await) });
    }

    /// Sends without waiting for (or getting) an answer; no retry.
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        let p = self.prepare(msg)?;
        let queues = self.queues_for(&p.topic).await?;
        let mq = self.select(&queues, None)?;
        let addr = self.inner.instance.master_for(mq)?;
        let cmd = self.command(&p, mq, request::SEND_MESSAGE_V2, p.born_ms);
        self.inner.instance.invoke_oneway(&addr, cmd).await
    }

    /// Sends to the queue `key` hashes to (same key → same queue while the
    /// route is unchanged); retried on the same queue only.
    pub async fn send_with_selector(&self, msg: Message, key: &str) -> Result<SendResult> {
        let p = self.prepare(msg)?;
        let queues = self.queues_for(&p.topic).await?;
        let idx = (java_string_hash(key).unsigned_abs() as usize) % queues.len();
        let mq = queues[idx].clone();
        self.send_prepared(p, request::SEND_MESSAGE_V2, Some(mq))
            .await
    }

    /// Sends to one given queue.
    pub async fn send_to_queue(&self, msg: Message, queue: &MessageQueue) -> Result<SendResult> {
        let p = self.prepare(msg)?;
        if p.topic != queue.topic {
            return Err(ClientError::InvalidMessage(format!(
                "message topic {} differs from the queue's topic {}",
                p.topic, queue.topic
            )));
        }
        self.queues_for(&p.topic).await?;
        self.send_prepared(p, request::SEND_MESSAGE_V2, Some(queue.clone()))
            .await
    }

    /// Sends several messages of one topic as one SEND_BATCH_MESSAGE; they
    /// land consecutively in one queue.
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult> {
        let Some(first) = msgs.first() else {
            return Err(ClientError::InvalidMessage(
                "a batch needs at least one message".into(),
            ));
        };
        let topic = first.topic.clone();
        let size: usize = msgs
            .iter()
            .map(|m| RECORD_OVERHEAD + m.body.len() + properties_len(&m.properties) + 64)
            .sum();
        // Records (and each one's properties with its UNIQ_KEY and WAIT) are written straight
        // into the batch body: no properties string and no copy per message.
        let mut batch = BatchBodyWriter::with_capacity(size);
        // The UNIQ_KEYs comma-joined: the batch's SendResult.msg_id.
        let mut ids = String::with_capacity(msgs.len() * 33);
        // One clock read per batch: every message is born with it and its id carries it.
        let born_ms = now_ms();
        let clock = self.inner.uniq.clock_at(born_ms);
        for m in msgs {
            if m.topic != topic {
                return Err(ClientError::InvalidMessage(format!(
                    "every message of a batch must have one topic; found {} and {}",
                    topic, m.topic
                )));
            }
            if m.property(transaction::PROPERTY_TRANSACTION_PREPARED) == Some("true") {
                return Err(ClientError::InvalidMessage(
                    "transactional messages cannot be sent in a batch; use send_in_transaction"
                        .into(),
                ));
            }
            let timed = [
                property::DELAY_TIME_LEVEL,
                property::TIMER_DELIVER_MS,
                property::TIMER_DELAY_MS,
                property::TIMER_DELAY_SEC,
            ];
            if timed.iter().any(|k| m.property(k).is_some()) {
                return Err(ClientError::InvalidMessage(
                    "messages of a batch cannot have a delay level or a deliver time (brokers ignore them in batches); send them one by one".into(),
                ));
            }
            self.validate(&m)?;
            if !ids.is_empty() {
                ids.push(',');
            }
            let id_at = ids.len();
            self.inner.uniq.push_id_with(&mut ids, &clock);
            let id = &ids[id_at..];
            batch
                .push(m.flag, &m.body, |out| {
                    push_properties_with_ids(out, &m.properties, id)
                })
                .map_err(|e| ClientError::InvalidMessage(e.to_string()))?;
        }
        let body = batch.into_vec();
        if body.len() > self.inner.config.max_message_size {
            return Err(ClientError::InvalidMessage(format!(
                "the batch body is {} bytes, over the {} byte limit; send fewer or smaller messages",
                body.len(),
                self.inner.config.max_message_size
            )));
        }
        let p = Prepared {
            topic,
            body: Bytes::from(body),
            flag: 0,
            sys_flag: 0,
            properties: "WAIT\u{1}true\u{2}".to_string(),
            uniq_key: ids,
            born_ms,
            reply: false,
        };
        self.send_prepared(p, request::SEND_BATCH_MESSAGE, None)
            .await
    }

    /// Sends `msg` as a transactional half message, then runs `local` (the local transaction,
    /// given the send's result) and ends the half as it decides: committed (consumers see it),
    /// rolled back (nobody does) or left `Unknown` for the broker to check back on with the
    /// builder's `transaction_checker`. A half the broker did not store with SEND_OK is rolled
    /// back without running `local`. A DELAY level on `msg` is dropped (Java refuses delayed
    /// transactional messages the same way).
    pub async fn send_in_transaction<F, Fut>(
        &self,
        mut msg: Message,
        local: F,
    ) -> Result<TransactionSendResult>
    where
        F: FnOnce(SendResult) -> Fut,
        Fut: Future<Output = LocalTransactionState>,
    {
        msg.properties.remove(property::DELAY_TIME_LEVEL);
        msg.properties.insert(
            transaction::PROPERTY_TRANSACTION_PREPARED.to_string(),
            "true".to_string(),
        );
        msg.properties.insert(
            property::PRODUCER_GROUP.to_string(),
            self.inner.config.group.clone(),
        );
        // A broker checks back only with producers of the group it has had a heartbeat from.
        self.make_known(&msg.topic).await?;
        let sent = self.send(msg).await?;
        let state = if sent.status == SendStatus::SendOk {
            local(sent.clone()).await
        } else {
            LocalTransactionState::Rollback
        };
        // Oneway, as Java's: if it is lost, the broker checks back.
        match transaction::end_for_send(&self.inner.config.group, &sent, state) {
            Some(cmd) => {
                let addr = self.inner.instance.master_for(&sent.queue)?;
                if let Err(e) = self.inner.instance.invoke_oneway(&addr, cmd).await {
                    tracing::warn!(error = %e, msg_id = %sent.msg_id, "END_TRANSACTION not delivered; the broker will check back");
                }
            }
            None => {
                tracing::warn!(offset_msg_id = %sent.offset_msg_id, "the broker's msgId names no offset; the half is left for the check-back")
            }
        }
        Ok(TransactionSendResult { send: sent, state })
    }

    /// Sends `msg` as a request and waits for its reply (RocketMQ's request-reply): the
    /// message gets CORRELATION_ID, REPLY_TO_CLIENT (this producer's client id) and TTL, a
    /// consumer answers it with [`Message::reply_to`] and a producer's `send`, and the broker
    /// pushes that reply here. `timeout` covers both the send and the wait; when it runs out after
    /// a successful send the error is [`ClientError::RequestTimeout`].
    pub async fn request(&self, mut msg: Message, timeout: Duration) -> Result<MessageExt> {
        let start = Instant::now();
        let correlation_id = new_correlation_id();
        let topic = msg.topic.clone();
        for (k, v) in [
            (property::CORRELATION_ID, correlation_id.clone()),
            (property::REPLY_TO_CLIENT, self.client_id().to_string()),
            (property::TTL, timeout.as_millis().to_string()),
        ] {
            msg.properties.insert(k.to_string(), v);
        }
        // Whichever broker the reply reaches pushes it only to a producer it has had a
        // heartbeat from.
        self.make_known(&topic).await?;
        let mut waiting = self.inner.replies.wait_for(&correlation_id);
        let left = timeout.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, self.send(msg)).await {
            Ok(sent) => sent?,
            Err(_) => {
                return Err(ClientError::RequestTimeout(format!(
                    "send request message to <{topic}> did not finish within {} ms",
                    timeout.as_millis()
                )))
            }
        };
        let left = timeout.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, &mut waiting.reply).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(ClientError::ShutDown),
            Err(_) => Err(ClientError::RequestTimeout(format!(
                "send request message to <{topic}> OK, but wait reply message timeout, {} ms; is a consumer of {topic} answering with Message::reply_to?",
                timeout.as_millis()
            ))),
        }
    }

    /// Makes sure every broker known (the topic's among them, or the auto-create route's for a
    /// new topic) has had this producer's heartbeat, for what a broker calls back: a request's
    /// reply, a transaction check-back.
    async fn make_known(&self, topic: &str) -> Result<()> {
        self.queues_for(topic).await?;
        let all = self.inner.instance.all_master_addrs();
        let unknown_to_some = {
            let known = self.inner.heartbeated.lock();
            all.iter().any(|a| !known.contains(a))
        };
        if unknown_to_some {
            self.heartbeat().await;
        }
        Ok(())
    }

    /// HEART_BEAT with this producer's group to every broker it knows; remembers which took it.
    async fn heartbeat(&self) {
        let i = &self.inner.instance;
        let data = HeartbeatData {
            client_id: i.client_id.clone(),
            producer_data_set: vec![ProducerData {
                group_name: self.inner.config.group.clone(),
            }],
            ..Default::default()
        };
        let took = i.heartbeat_all(&data).await;
        *self.inner.heartbeated.lock() = took.into_iter().collect();
    }

    /// The writable queues the producer would use for `topic`.
    pub async fn publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        Ok(self.queues_for(topic).await?.to_vec())
    }

    /// Unregisters from the brokers, stops background tasks, closes connections.
    pub async fn shutdown(&self) {
        let i = &self.inner.instance;
        if i.is_shut_down() {
            return;
        }
        i.unregister_all(Some(&self.inner.config.group), None).await;
        i.close().await;
    }

    fn validate(&self, m: &Message) -> Result<()> {
        if m.topic.is_empty() {
            return Err(ClientError::InvalidMessage("the topic is empty".into()));
        }
        if m.body.is_empty() {
            return Err(ClientError::InvalidMessage(
                "the body is empty; RocketMQ does not store empty messages".into(),
            ));
        }
        if m.body.len() > self.inner.config.max_message_size {
            return Err(ClientError::InvalidMessage(format!(
                "the body is {} bytes, over the {} byte limit (maxMessageSize)",
                m.body.len(),
                self.inner.config.max_message_size
            )));
        }
        Ok(())
    }

    fn prepare(&self, m: Message) -> Result<Prepared> {
        if self.inner.instance.is_shut_down() {
            return Err(ClientError::ShutDown);
        }
        self.validate(&m)?;
        // One clock read for the id's time field and the born timestamp.
        let born_ms = now_ms();
        let uniq_key = self.inner.uniq.id_at(born_ms);
        let reply = m.is_reply();
        let mut sys_flag = 0;
        if m.property(transaction::PROPERTY_TRANSACTION_PREPARED) == Some("true") {
            sys_flag |= transaction::SYS_FLAG_TRANSACTION_PREPARED;
        }
        let properties = properties_with_ids(m.properties, &uniq_key);
        let mut body = m.body;
        if let Some(limit) = self.inner.config.compress_over {
            if body.len() > limit {
                if let Ok(packed) = compress(&body, self.inner.config.compress_level) {
                    if packed.len() < body.len() {
                        body = Bytes::from(packed);
                        sys_flag |= SYS_FLAG_ZLIB_COMPRESSED;
                    }
                }
            }
        }
        Ok(Prepared {
            topic: m.topic,
            body,
            flag: m.flag,
            sys_flag,
            properties,
            uniq_key,
            born_ms,
            reply,
        })
    }

    /// Writable queues of `topic`, falling back to the TBW102 route. The list
    /// is rebuilt only when the cached route changed.
    async fn queues_for(&self, topic: &str) -> Result<Arc<Vec<MessageQueue>>> {
        let i = &self.inner.instance;
        if let Some(route) = i.route(topic).await? {
            if let Some(q) = self.cached_queues(topic, &route) {
                return Ok(q);
            }
            let queues = publish_queues(&route, topic, None);
            if !queues.is_empty() {
                return Ok(self.cache_queues(topic, route, queues));
            }
        }
        let Some(route) = i.route(AUTO_CREATE_TOPIC_KEY).await? else {
            return Err(ClientError::NoRoute {
                topic: topic.to_string(),
                reason: "no name server knows it or the TBW102 auto-create template".into(),
            });
        };
        if let Some(q) = self.cached_queues(topic, &route) {
            return Ok(q);
        }
        let queues = publish_queues(
            &route,
            topic,
            Some(self.inner.config.default_topic_queue_nums),
        );
        if queues.is_empty() {
            return Err(ClientError::NoQueue {
                topic: topic.to_string(),
                what: "writable",
            });
        }
        Ok(self.cache_queues(topic, route, queues))
    }

    fn cached_queues(
        &self,
        topic: &str,
        route: &Arc<TopicRouteData>,
    ) -> Option<Arc<Vec<MessageQueue>>> {
        match self.inner.publish_cache.lock().get(topic) {
            Some((r, q)) if Arc::ptr_eq(r, route) => Some(q.clone()),
            _ => None,
        }
    }

    fn cache_queues(
        &self,
        topic: &str,
        route: Arc<TopicRouteData>,
        queues: Vec<MessageQueue>,
    ) -> Arc<Vec<MessageQueue>> {
        let queues = Arc::new(queues);
        let unknown_broker = {
            let known = self.inner.heartbeated.lock();
            route
                .broker_datas
                .iter()
                .filter_map(|b| b.master_addr())
                .any(|a| !known.contains(a))
        };
        self.inner
            .publish_cache
            .lock()
            .insert(topic.to_string(), (route, queues.clone()));
        // A broker first met through this route hears from the producer now, not at the next
        // periodic heartbeat (Java's producers heartbeat a second after they start): it then
        // lists the producer (GET_PRODUCER_CONNECTION_LIST) and can call it back. One at a time.
        if unknown_broker && !self.inner.heartbeat_pending.swap(true, Ordering::AcqRel) {
            let weak = Arc::downgrade(&self.inner);
            self.inner.instance.spawn(async move {
                if let Some(inner) = weak.upgrade() {
                    let p = Producer { inner };
                    p.heartbeat().await;
                    p.inner.heartbeat_pending.store(false, Ordering::Release);
                }
            });
        }
        queues
    }

    fn isolate(&self, broker: &str) {
        let d = self.inner.config.fault_isolation;
        if d.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut v = self.inner.isolated.lock();
        v.retain(|(b, until)| b != broker && *until > now);
        v.push((broker.to_string(), now + d));
    }

    /// Round-robin pick, avoiding `avoid` and isolated brokers when possible.
    fn select<'q>(
        &self,
        queues: &'q [MessageQueue],
        avoid: Option<&str>,
    ) -> Result<&'q MessageQueue> {
        if queues.is_empty() {
            return Err(ClientError::NoQueue {
                topic: String::new(),
                what: "writable",
            });
        }
        // Usually no broker is isolated: no clock read, no copy of the list.
        let isolated: Vec<String> = {
            let list = self.inner.isolated.lock();
            if list.is_empty() {
                Vec::new()
            } else {
                let now = Instant::now();
                list.iter()
                    .filter(|(_, until)| *until > now)
                    .map(|(b, _)| b.clone())
                    .collect()
            }
        };
        let start = self.inner.next_queue.fetch_add(1, Ordering::Relaxed);
        let n = queues.len();
        let pick = |ok: &dyn Fn(&MessageQueue) -> bool| {
            (0..n).map(|k| &queues[(start + k) % n]).find(|q| ok(q))
        };
        let chosen =
            pick(&|q| Some(q.broker_name.as_str()) != avoid && !isolated.contains(&q.broker_name))
                .or_else(|| pick(&|q| Some(q.broker_name.as_str()) != avoid))
                .unwrap_or(&queues[start % n]);
        Ok(chosen)
    }

    /// The request for one attempt; `born_ms` is its born timestamp.
    fn command(&self, p: &Prepared, mq: &MessageQueue, code: i32, born_ms: i64) -> RemotingCommand {
        let config = &self.inner.config;
        let fields = SendHeaderFields {
            producer_group: &config.group,
            topic: &p.topic,
            default_topic: AUTO_CREATE_TOPIC_KEY,
            default_topic_queue_nums: config.default_topic_queue_nums,
            queue_id: mq.queue_id,
            sys_flag: p.sys_flag,
            born_timestamp: born_ms,
            flag: p.flag,
            properties: Some(&p.properties),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            batch: Some(code == request::SEND_BATCH_MESSAGE),
            max_reconsume_times: None,
            broker_name: Some(&mq.broker_name),
        };
        // A reply travels with the reply codes, as Java's client sends it: 325 with the short
        // keys, 324 with the long ones.
        let (code, v1_code) = if p.reply && code == request::SEND_MESSAGE_V2 {
            (request::SEND_REPLY_MESSAGE_V2, request::SEND_REPLY_MESSAGE)
        } else {
            (code, request::SEND_MESSAGE)
        };
        let single = code == request::SEND_MESSAGE_V2 || code == request::SEND_REPLY_MESSAGE_V2;
        let v2 = !single || config.use_v2_header;
        let serialize_type = self.inner.instance.options.serialize_type;
        // Rendered straight from the producer's own strings to the header's form: no header
        // struct of copies, no map of owned strings.
        let mut cmd = match (v2, serialize_type) {
            (true, SerializeType::Json) => {
                RemotingCommand::request_with_json_fields(code, fields.to_v2_json_members())
            }
            (true, SerializeType::RocketMq) => {
                RemotingCommand::request_with_plain_fields(code, fields.to_v2_plain_fields())
            }
            (false, _) => RemotingCommand::request_with_owned_header(
                v1_code,
                SendMessageRequestHeader::from(fields),
            ),
        };
        cmd.body = Some(p.body.clone());
        cmd
    }

    async fn send_prepared(
        &self,
        p: Prepared,
        code: i32,
        fixed: Option<MessageQueue>,
    ) -> Result<SendResult> {
        let start = Instant::now();
        let deadline = start + self.inner.config.send_timeout;
        let attempts = 1 + self.inner.config.retries;
        let mut last_err: Option<ClientError> = None;
        let mut last_broker: Option<String> = None;
        let mut made = 0;
        for attempt in 0..attempts {
            let now = if attempt == 0 { start } else { Instant::now() };
            if now >= deadline {
                break;
            }
            let queues;
            let mq = match &fixed {
                Some(q) => q,
                None => {
                    queues = self.queues_for(&p.topic).await?;
                    self.select(&queues, last_broker.as_deref())?
                }
            };
            made += 1;
            // Java stamps each attempt; the first one is the message's preparation time.
            let born_ms = if attempt == 0 { p.born_ms } else { now_ms() };
            match self.send_once(&p, mq, code, born_ms, deadline - now).await {
                Ok((status, h)) => {
                    let queue = MessageQueue::new(p.topic, mq.broker_name.clone(), h.queue_id);
                    return Ok(SendResult {
                        status,
                        msg_id: p.uniq_key,
                        offset_msg_id: h.msg_id,
                        queue,
                        queue_offset: h.queue_offset,
                        recall_handle: h.recall_handle,
                    });
                }
                Err(e) => {
                    let retry = match &e {
                        ClientError::Broker { code, .. } => RETRY_CODES.contains(code),
                        ClientError::Remoting(_) | ClientError::NoRoute { .. } => true,
                        _ => false,
                    };
                    tracing::debug!(queue = %mq, error = %e, retry, "send attempt failed");
                    if !retry {
                        return Err(e);
                    }
                    self.isolate(&mq.broker_name);
                    last_broker = Some(mq.broker_name.clone());
                    last_err = Some(e);
                }
            }
        }
        Err(ClientError::SendFailed {
            topic: p.topic.clone(),
            attempts: made,
            last: Box::new(last_err.unwrap_or_else(|| {
                ClientError::Config(format!(
                    "send timeout of {} ms elapsed before an attempt could be made",
                    self.inner.config.send_timeout.as_millis()
                ))
            })),
        })
    }

    /// One attempt on `mq`: the broker's verdict and its response header.
    /// Withdraws a timer message before its time (RECALL_MESSAGE, RocketMQ 5.3) with the
    /// `recall_handle` its send returned: consumers never see it. Returns the recalled message's
    /// id (its UNIQ_KEY). The broker refuses a handle whose time has passed or that names another
    /// topic (`ClientError::Broker`, code 604).
    pub async fn recall_message(&self, topic: &str, recall_handle: &str) -> Result<String> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(recall_handle.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        // `v1 <topic> <brokerName> <time> <id>`: the broker the timer waits on.
        let broker = raw
            .as_deref()
            .and_then(|r| r.split(' ').nth(2))
            .map(str::to_string)
            .ok_or_else(|| {
                ClientError::InvalidMessage(format!(
                    "{recall_handle:?} is not a recall handle; pass the one the send returned"
                ))
            })?;
        self.queues_for(topic).await?;
        let addr =
            self.inner
                .instance
                .master_addr(&broker)
                .ok_or_else(|| ClientError::NoRoute {
                    topic: topic.to_string(),
                    reason: format!(
                        "broker {broker} of the recall handle has no known master address"
                    ),
                })?;
        let mut cmd = RemotingCommand::new_request(request::RECALL_MESSAGE);
        let fields = cmd.ext_fields_mut();
        fields.insert("producerGroup".into(), self.inner.config.group.clone());
        fields.insert("topic".into(), topic.to_string());
        fields.insert("recallHandle".into(), recall_handle.to_string());
        let resp = self
            .inner
            .instance
            .invoke_ok(&addr, cmd, self.inner.config.send_timeout)
            .await?;
        Ok(resp
            .ext_field("msgId")
            .map(|m| m.into_owned())
            .unwrap_or_default())
    }

    async fn send_once(
        &self,
        p: &Prepared,
        mq: &MessageQueue,
        code: i32,
        born_ms: i64,
        timeout: Duration,
    ) -> Result<(SendStatus, SendMessageResponseHeader)> {
        let addr = self.inner.instance.master_for(mq)?;
        let cmd = self.command(p, mq, code, born_ms);
        let mut resp = self.inner.instance.invoke(&addr, cmd, timeout).await?;
        let status = match resp.code {
            response::SUCCESS => SendStatus::SendOk,
            response::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
            response::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
            response::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
            _ => return Err(broker_error(&addr, &resp)),
        };
        let h: SendMessageResponseHeader = resp
            .take_header()
            .map_err(decode_failed("send response header"))?;
        Ok((status, h))
    }
}

/// The wire properties of a message: its own plus UNIQ_KEY = `id` and WAIT = true. Usually the
/// two are appended after the user's (sorted) pairs, without a map insert and re-encode per
/// message (order on the wire carries no meaning); a message that set either gets them replaced
/// in the map.
fn properties_with_ids(props: BTreeMap<String, String>, id: &str) -> String {
    let mut out = Vec::with_capacity(properties_len(&props) + 64);
    push_properties_with_ids(&mut out, &props, id);
    // Only &str pieces and ASCII separators were written.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `properties_with_ids`, appended to `out` (a batch body).
fn push_properties_with_ids(out: &mut Vec<u8>, props: &BTreeMap<String, String>, id: &str) {
    let mut pair = |k: &str, v: &str| {
        out.extend_from_slice(k.as_bytes());
        out.push(NAME_VALUE_SEPARATOR as u8);
        out.extend_from_slice(v.as_bytes());
        out.push(PROPERTY_SEPARATOR as u8);
    };
    if props.contains_key(property::UNIQ_KEY) || props.contains_key(property::WAIT_STORE_MSG_OK) {
        let mut props = props.clone();
        props.insert(property::UNIQ_KEY.to_string(), id.to_string());
        props.insert(property::WAIT_STORE_MSG_OK.to_string(), "true".into());
        for (k, v) in &props {
            pair(k, v);
        }
        return;
    }
    for (k, v) in props {
        pair(k, v);
    }
    // Keys and separators as one literal each side of the id (same bytes as two `pair` calls).
    out.extend_from_slice(b"UNIQ_KEY\x01");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\x02WAIT\x01true\x02");
}

/// Bytes of the encoded properties.
fn properties_len(props: &BTreeMap<String, String>) -> usize {
    props.iter().map(|(k, v)| k.len() + v.len() + 2).sum()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::decode_properties;

    #[test]
    fn ids_are_appended_or_replace_the_users_own() {
        let mut props = BTreeMap::new();
        props.insert("TAGS".to_string(), "TagA".to_string());
        let text = properties_with_ids(props.clone(), "ID1");
        assert_eq!(
            text,
            "TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}ID1\u{2}WAIT\u{1}true\u{2}"
        );
        // A user's own UNIQ_KEY / WAIT never survives next to the producer's.
        props.insert(property::UNIQ_KEY.to_string(), "MINE".to_string());
        props.insert(property::WAIT_STORE_MSG_OK.to_string(), "false".to_string());
        let decoded = decode_properties(&properties_with_ids(props, "ID2"));
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[property::UNIQ_KEY], "ID2");
        assert_eq!(decoded[property::WAIT_STORE_MSG_OK], "true");
        assert_eq!(decoded["TAGS"], "TagA");
    }
}
