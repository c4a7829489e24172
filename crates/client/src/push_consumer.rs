//! `PushConsumer`: pulls with long polling and hands messages to a listener
//! (fact sheet §3.2, §3.4, §10).
//!
//! Tasks: one pull task per assigned queue; a rebalance loop (every
//! `rebalance_interval`, and at once on NOTIFY_CONSUMER_IDS_CHANGED); heartbeats;
//! route refresh; offset persistence every `persist_interval`.
//!
//! Invariants:
//! - Clustering: each client takes its AllocateMessageQueueAveragely share of
//!   the sorted readable queues among the sorted consumer ids the broker
//!   reports. Broadcasting: every client takes every queue.
//! - Per queue, the offset that may be committed is the smallest offset pulled
//!   but not yet consumed, or the next offset to pull when nothing is in flight;
//!   so a committed offset never skips an unconsumed message (at-least-once).
//! - A dropped queue stops pulling at once, its offset is persisted, and
//!   consumptions finishing afterwards no longer move its offset.
//! - `Later`, clustering: each message of the batch is sent back
//!   (CONSUMER_SEND_MSG_BACK) and counts as consumed; the broker delivers a copy
//!   through `%RETRY%<group>` after a delay that grows with its reconsume times,
//!   or parks it in `%DLQ%<group>` after `max_reconsume_times`. The group
//!   subscribes to its retry topic by itself, and a retry copy reaches the
//!   listener under its original topic. A message the broker would not take
//!   back is redelivered here after `reconsume_delay`, its offset held
//!   meanwhile. Broadcasting: redelivered here, up to `max_reconsume_times`.
//! - The subscription travels with every pull (PullSysFlag SUBSCRIPTION), so a
//!   pull never depends on the broker having seen a heartbeat first; the
//!   client still re-checks tags, because the broker filters by hash codes.
//! - Ordered (`orderly`): a queue's messages go to the listener from its pull
//!   task, one call at a time in offset order, and a `Later` batch is retried
//!   before anything behind it (after `max_reconsume_times`, a clustering
//!   group parks it in the DLQ). In a clustering group the queue is locked on
//!   its broker before its start offset is read and while any message is
//!   handed over, and its task persists the offset before unlocking it when
//!   the queue is dropped or the consumer stops (`orderly.rs`).
//! - Admins' requests forwarded by a broker (running info, consuming one message
//!   directly, a RocketMQ 4 offset reset) are handled by `admin_calls`; a reset
//!   is applied by the queue's pull task between pulls (`apply_reset`), so it
//!   never races the task's own bookkeeping.
//! - Shutdown: stop pulling, let in-flight consumptions finish, persist
//!   offsets, UNREGISTER_CLIENT, close connections.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_remoting::body::{ConsumerData, HeartbeatData};
use courier_remoting::code::request;
use courier_remoting::processor::Dispatcher;
use courier_remoting::{ConnectionHandle, RemotingCommand};
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::allocate::allocate_averagely;
use crate::broker_api::{PullRequest, PullStatus};
use crate::consume_stats::ConsumeStats;
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::listener::{consume_caught, ConsumeResult, MessageListener};
use crate::message::property;
use crate::message_ext::MessageExt;
use crate::message_queue::MessageQueue;
use crate::offset_store::OffsetStore;
use crate::options::ClientOptions;
use crate::orderly::{self, QueueLock, LOCK_RENEW_INTERVAL, LOCK_RETRY};
use crate::producer::now_ms;
use crate::route::{subscribe_queues, RETRY_GROUP_TOPIC_PREFIX};
use crate::subscription::{MessageSelector, Subscription};

mod admin_calls;

/// How a group shares messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageModel {
    /// Each message goes to one consumer of the group.
    Clustering,
    /// Each message goes to every consumer of the group.
    Broadcasting,
}

impl MessageModel {
    fn wire_name(self) -> &'static str {
        match self {
            MessageModel::Clustering => "CLUSTERING",
            MessageModel::Broadcasting => "BROADCASTING",
        }
    }
}

/// Where a queue without a stored offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeFromWhere {
    /// The queue's end (a brand-new queue starts at 0, as the broker answers).
    LastOffset,
    /// The queue's beginning.
    FirstOffset,
    /// The first message stored at or after this time (ms epoch).
    Timestamp(i64),
}

impl ConsumeFromWhere {
    fn wire_name(self) -> &'static str {
        match self {
            ConsumeFromWhere::LastOffset => "CONSUME_FROM_LAST_OFFSET",
            ConsumeFromWhere::FirstOffset => "CONSUME_FROM_FIRST_OFFSET",
            ConsumeFromWhere::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
        }
    }
}

/// Push consumer settings; build with `PushConsumer::builder()`.
#[derive(Debug, Clone)]
pub struct PushConsumerBuilder {
    pub options: ClientOptions,
    pub group: String,
    pub model: MessageModel,
    pub consume_from: ConsumeFromWhere,
    /// (topic, selector) pairs.
    pub subscriptions: Vec<(String, MessageSelector)>,
    /// Messages per pull (32).
    pub pull_batch_size: i32,
    /// Broker hold time of an empty pull (15 s).
    pub long_poll_suspend: Duration,
    /// Rebalance period (20 s).
    pub rebalance_interval: Duration,
    /// Offset persistence period (5 s).
    pub persist_interval: Duration,
    /// Listener calls running at once (20).
    pub consume_concurrency: usize,
    /// Messages per listener call (1).
    pub consume_batch_max: usize,
    /// Pause pulling a queue with this many messages in flight (1000).
    pub pull_threshold_per_queue: usize,
    /// Wait after a failed pull (1 s).
    pub pull_delay_on_error: Duration,
    /// Delay before redelivering a `Later` batch (1 s).
    pub reconsume_delay: Duration,
    /// Redeliveries of a `Later` batch before it is given up (16).
    pub max_reconsume_times: u32,
    /// Broadcasting offset files' root (`~/.rocketmq_offsets`).
    pub offset_dir: PathBuf,
    /// Ordered consumption (Java's `MessageListenerOrderly`): each queue's messages go to the
    /// listener one call at a time, in queue order (false).
    pub orderly: bool,
}

impl Default for PushConsumerBuilder {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        PushConsumerBuilder {
            options: ClientOptions::default(),
            group: String::new(),
            model: MessageModel::Clustering,
            consume_from: ConsumeFromWhere::LastOffset,
            subscriptions: Vec::new(),
            pull_batch_size: 32,
            long_poll_suspend: Duration::from_secs(15),
            rebalance_interval: Duration::from_secs(20),
            persist_interval: Duration::from_secs(5),
            consume_concurrency: 20,
            consume_batch_max: 1,
            pull_threshold_per_queue: 1000,
            pull_delay_on_error: Duration::from_secs(1),
            reconsume_delay: Duration::from_secs(1),
            max_reconsume_times: 16,
            offset_dir: home.join(".rocketmq_offsets"),
            orderly: false,
        }
    }
}

impl PushConsumerBuilder {
    /// Name servers, ";"-separated.
    pub fn namesrv(mut self, addrs: &str) -> Self {
        self.options.set_namesrv(addrs);
        self
    }
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }
    pub fn model(mut self, model: MessageModel) -> Self {
        self.model = model;
        self
    }
    pub fn consume_from(mut self, from: ConsumeFromWhere) -> Self {
        self.consume_from = from;
        self
    }
    /// Subscribes to `topic` with a tag expression (`*`, `TagA`, `TagA || TagB`).
    pub fn subscribe(self, topic: impl Into<String>, expression: impl Into<String>) -> Self {
        self.subscribe_with(topic, MessageSelector::Tag(expression.into()))
    }

    /// Subscribes to `topic` with a tag expression or an SQL92 selector
    /// (`MessageSelector::by_sql("a > 5 AND region = 'east'")`). `start` asks each broker of the
    /// topic whether it serves the selector (CHECK_CLIENT_CONFIG) and fails with its reason if
    /// not: SQL92 needs `enablePropertyFilter` on the broker and an expression that compiles.
    pub fn subscribe_with(mut self, topic: impl Into<String>, selector: MessageSelector) -> Self {
        self.subscriptions.push((topic.into(), selector));
        self
    }
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.options.instance_name = name.into();
        self
    }
    pub fn long_poll_suspend(mut self, d: Duration) -> Self {
        self.long_poll_suspend = d;
        self
    }
    pub fn rebalance_interval(mut self, d: Duration) -> Self {
        self.rebalance_interval = d;
        self
    }
    pub fn persist_interval(mut self, d: Duration) -> Self {
        self.persist_interval = d;
        self
    }
    pub fn consume_concurrency(mut self, n: usize) -> Self {
        self.consume_concurrency = n;
        self
    }
    pub fn pull_batch_size(mut self, n: i32) -> Self {
        self.pull_batch_size = n;
        self
    }
    pub fn consume_batch_max(mut self, n: usize) -> Self {
        self.consume_batch_max = n;
        self
    }
    pub fn pull_threshold_per_queue(mut self, n: usize) -> Self {
        self.pull_threshold_per_queue = n;
        self
    }
    pub fn max_reconsume_times(mut self, n: u32) -> Self {
        self.max_reconsume_times = n;
        self
    }
    pub fn reconsume_delay(mut self, d: Duration) -> Self {
        self.reconsume_delay = d;
        self
    }
    /// Consume in order: one listener call at a time per queue, in queue order, a `Later` batch
    /// redelivered (after `reconsume_delay`) before anything behind it. In a clustering group each
    /// queue is first locked on its broker, so no two clients ever consume it at once, even while
    /// a rebalance moves it. Send related messages to one queue (`Producer::send_with_selector`).
    pub fn orderly(mut self, on: bool) -> Self {
        self.orderly = on;
        self
    }

    pub fn offset_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.offset_dir = dir.into();
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(ClientError::Config(m.to_string()));
        if self.group.is_empty() {
            return bad("consumer group must not be empty");
        }
        if self.subscriptions.is_empty() {
            return bad("subscribe to at least one topic before starting");
        }
        if self.pull_batch_size <= 0 || self.consume_batch_max == 0 {
            return bad("pull batch size and consume batch size must be at least 1");
        }
        if self.consume_concurrency == 0 || self.pull_threshold_per_queue == 0 {
            return bad("consume concurrency and the pull threshold must be at least 1");
        }
        if self.rebalance_interval.is_zero() || self.persist_interval.is_zero() {
            return bad("rebalance and persist intervals must be above zero");
        }
        Ok(())
    }

    /// Starts consuming: routes, heartbeat, first rebalance, background tasks.
    pub async fn start<L: MessageListener>(self, listener: L) -> Result<PushConsumer> {
        self.validate()?;
        let rebalance = Arc::new(Notify::new());
        let mut dispatcher = Dispatcher::new();
        let notify = rebalance.clone();
        dispatcher.register(
            request::NOTIFY_CONSUMER_IDS_CHANGED,
            Arc::new(move |_c: ConnectionHandle, _r: RemotingCommand| {
                let notify = notify.clone();
                async move {
                    notify.notify_one();
                    Ok(None)
                }
            }),
        );
        let slot = admin_calls::ConsumerSlot::default();
        admin_calls::register(&mut dispatcher, &slot);
        let instance = ClientInstance::new(self.options.clone(), dispatcher)?;
        let offsets = match self.model {
            MessageModel::Clustering => OffsetStore::remote(instance.clone(), &self.group),
            MessageModel::Broadcasting => {
                OffsetStore::local(&self.offset_dir, instance.client_id(), &self.group)?
            }
        };
        let version = now_ms();
        let mut subs: Vec<Subscription> = self
            .subscriptions
            .iter()
            .map(|(t, e)| Subscription::with_selector(t.clone(), e, version))
            .collect();
        // A clustering group consumes its own retry topic, where sent-back messages come back.
        let retry_topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", self.group);
        let own_retry_topic = (self.model == MessageModel::Clustering
            && !subs.iter().any(|s| s.topic == retry_topic))
        .then_some(retry_topic);
        if let Some(t) = &own_retry_topic {
            subs.push(Subscription::with_selector(
                t.clone(),
                &MessageSelector::by_tag("*"),
                version,
            ));
        }
        let inner = Arc::new(Inner {
            permits: Arc::new(Semaphore::new(self.consume_concurrency)),
            instance: instance.clone(),
            config: self,
            subs,
            own_retry_topic,
            listener: Arc::new(listener),
            offsets,
            queues: Mutex::new(HashMap::new()),
            rebalance,
            rebalance_lock: tokio::sync::Mutex::new(()),
            stop_pulling: CancellationToken::new(),
            work: TaskTracker::new(),
            stats: ConsumeStats::default(),
            started_ms: now_ms(),
        });
        let _ = slot.set(Arc::downgrade(&inner));
        for s in &inner.subs {
            if let Err(e) = instance.update_route(&s.topic).await {
                if s.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                    // Created by the broker on the group's first heartbeat, just below.
                    tracing::debug!(topic = %s.topic, error = %e, "no route yet for the retry topic");
                } else {
                    tracing::warn!(topic = %s.topic, error = %e, "no route yet; retried at each rebalance");
                }
            }
            if s.sql92 {
                if let Err(e) = instance
                    .check_client_config(&inner.config.group, &s.to_data())
                    .await
                {
                    instance.close().await;
                    return Err(e);
                }
            }
        }
        inner.heartbeat().await;
        let mut balanced = inner.clone().rebalance_all().await;

        let opts = &inner.config.options;
        instance.spawn_periodic(opts.poll_name_server_interval, |i| i.refresh_routes());
        let hb = inner.clone();
        instance.spawn_periodic(opts.heartbeat_interval, move |_| {
            let hb = hb.clone();
            async move { hb.heartbeat().await }
        });
        if inner.locks_queues() {
            let l = inner.clone();
            instance.spawn_periodic(LOCK_RENEW_INTERVAL, move |_| {
                let l = l.clone();
                async move { l.renew_locks().await }
            });
        }
        let p = inner.clone();
        instance.spawn_periodic(inner.config.persist_interval, move |_| {
            let p = p.clone();
            async move { p.persist_all(true).await }
        });
        let r = inner.clone();
        let stop = inner.stop_pulling.clone();
        instance.spawn(async move {
            // A subscription that could not be balanced (its route not registered yet, as the
            // retry topic right after the group's first heartbeat) is tried again soon, backing
            // off to the rebalance interval.
            let mut retry = Duration::from_secs(1);
            loop {
                let wait = if balanced {
                    r.config.rebalance_interval
                } else {
                    retry.min(r.config.rebalance_interval)
                };
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                    _ = r.rebalance.notified() => {}
                }
                balanced = r.clone().rebalance_all().await;
                retry = if balanced {
                    Duration::from_secs(1)
                } else {
                    retry * 2
                };
            }
        });
        Ok(PushConsumer { inner })
    }
}

/// `ProcessQueue::reset` when no reset waits.
const NO_RESET: i64 = i64::MIN;

/// A retry copy (pulled from `%RETRY%<group>`) is handed to the listener as the message it
/// copies, under its original topic, as Java does.
fn handed_over_as_original(m: &mut MessageExt) {
    if let Some(t) = m.property(property::RETRY_TOPIC) {
        m.topic = t.to_string();
    }
}

/// `next_offset` of a locked queue before its lock is held and its start read.
const UNKNOWN_OFFSET: i64 = -1;

/// In-flight bookkeeping of one assigned queue.
struct ProcessQueue {
    /// Stops pulling and redelivery waits (rebalance drop or shutdown).
    stop: CancellationToken,
    /// Set by a rebalance drop: the queue's offset no longer moves here.
    dropped: AtomicBool,
    state: Mutex<QueueState>,
    /// Ordered consumption in a clustering group: the queue's lock on its broker.
    lock: QueueLock,
    /// Where a broker's RESET_CONSUMER_CLIENT_OFFSET moves the queue; the pull task applies it
    /// (`apply_reset`), woken by `reset_signal` even from a held pull; `NO_RESET` when none waits.
    reset: AtomicI64,
    reset_signal: Notify,
}

struct QueueState {
    /// Offsets pulled and handed to the listener, not yet consumed, with their body sizes.
    in_flight: BTreeMap<i64, usize>,
    /// The next offset to pull.
    next_offset: i64,
    /// When the queue was last pulled and a listener call on it last ended (Unix ms, 0: never).
    last_pull_ms: i64,
    last_consume_ms: i64,
}

impl ProcessQueue {
    /// The offset that may be committed now.
    fn commit_candidate(&self) -> i64 {
        let s = self.state.lock();
        s.in_flight
            .first_key_value()
            .map_or(s.next_offset, |(o, _)| *o)
    }
}

struct Inner {
    instance: Arc<ClientInstance>,
    config: PushConsumerBuilder,
    subs: Vec<Subscription>,
    /// The group's retry topic when this consumer subscribed to it on its own (clustering).
    own_retry_topic: Option<String>,
    listener: Arc<dyn MessageListener>,
    offsets: OffsetStore,
    queues: Mutex<HashMap<MessageQueue, Arc<ProcessQueue>>>,
    rebalance: Arc<Notify>,
    /// Serialises rebalances (periodic, notified, initial).
    rebalance_lock: tokio::sync::Mutex<()>,
    permits: Arc<Semaphore>,
    stop_pulling: CancellationToken,
    /// Pull and consume tasks.
    work: TaskTracker,
    /// Per-topic rates for the running info.
    stats: ConsumeStats,
    /// When the consumer started (Unix ms).
    started_ms: i64,
}

/// A running push consumer.
pub struct PushConsumer {
    inner: Arc<Inner>,
}

impl PushConsumer {
    /// Settings with Java's defaults.
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder::default()
    }

    /// This consumer's client id.
    pub fn client_id(&self) -> &str {
        self.inner.instance.client_id()
    }

    /// The queues of the subscribed topics this consumer currently pulls, sorted (its group's
    /// retry topic, subscribed on its own, is left out).
    pub fn assignment(&self) -> Vec<MessageQueue> {
        let own_retry = &self.inner.own_retry_topic;
        let mut v: Vec<MessageQueue> = self
            .inner
            .queues
            .lock()
            .keys()
            .filter(|q| Some(&q.topic) != own_retry.as_ref())
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// The offset this consumer would commit for `queue` (next to consume), if known.
    pub fn offset(&self, queue: &MessageQueue) -> Option<i64> {
        self.inner.offsets.cached(queue)
    }

    /// Asks for a rebalance now (as NOTIFY_CONSUMER_IDS_CHANGED does).
    pub fn trigger_rebalance(&self) {
        self.inner.rebalance.notify_one();
    }

    /// Stops pulling, waits for in-flight consumption, persists offsets,
    /// unregisters from the brokers and closes connections.
    pub async fn shutdown(&self) {
        let i = &self.inner;
        if i.stop_pulling.is_cancelled() {
            return;
        }
        i.stop_pulling.cancel();
        // Wait for a running rebalance, so no pull task starts after this;
        // later ones see `stop_pulling` and do nothing. The lock must not be
        // held further: the rebalance loop may be waiting for it.
        drop(i.rebalance_lock.lock().await);
        i.work.close();
        i.work.wait().await;
        i.persist_all(false).await;
        i.instance.unregister_all(None, Some(&i.config.group)).await;
        i.instance.close().await;
    }
}

impl Inner {
    fn heartbeat_data(&self) -> HeartbeatData {
        HeartbeatData {
            client_id: self.instance.client_id.clone(),
            consumer_data_set: vec![ConsumerData {
                consume_from_where: self.config.consume_from.wire_name().to_string(),
                consume_type: "CONSUME_PASSIVELY".to_string(),
                group_name: self.config.group.clone(),
                message_model: self.config.model.wire_name().to_string(),
                subscription_data_set: self.subs.iter().map(Subscription::to_data).collect(),
                unit_mode: false,
            }],
            ..Default::default()
        }
    }

    async fn heartbeat(&self) {
        let data = self.heartbeat_data();
        self.instance.heartbeat_all(&data).await;
    }

    async fn persist_all(&self, oneway: bool) {
        let queues: Vec<MessageQueue> = self.queues.lock().keys().cloned().collect();
        self.offsets.persist(&queues, oneway).await;
    }

    /// Rebalances every subscription; false when one could not be (no route yet, say).
    async fn rebalance_all(self: Arc<Self>) -> bool {
        let _guard = self.rebalance_lock.lock().await;
        if self.stop_pulling.is_cancelled() {
            return true;
        }
        let mut all = true;
        for sub in &self.subs {
            match self.allocation(&sub.topic).await {
                Ok(mine) => self.clone().apply(sub, mine).await,
                Err(e) => {
                    all = false;
                    tracing::warn!(topic = %sub.topic, error = %e, "rebalance failed; retried soon")
                }
            }
        }
        all
    }

    /// The queues of `topic` this client should own now.
    async fn allocation(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route = match self.instance.route(topic).await? {
            Some(r) => r,
            None => {
                return Err(ClientError::NoRoute {
                    topic: topic.to_string(),
                    reason: "no name server knows it".into(),
                })
            }
        };
        let all = subscribe_queues(&route, topic);
        if self.config.model == MessageModel::Broadcasting {
            return Ok(all);
        }
        let addr = route
            .broker_datas
            .iter()
            .filter_map(|b| b.master_addr())
            .next()
            .map(str::to_string)
            .ok_or_else(|| ClientError::NoQueue {
                topic: topic.to_string(),
                what: "readable",
            })?;
        let ids = self
            .instance
            .consumer_ids(&addr, &self.config.group)
            .await?;
        Ok(allocate_averagely(&self.instance.client_id, &all, &ids))
    }

    /// Drops queues of `sub.topic` no longer owned and starts newly owned ones.
    async fn apply(self: Arc<Self>, sub: &Subscription, mine: Vec<MessageQueue>) {
        let wanted: BTreeSet<MessageQueue> = mine.into_iter().collect();
        let dropped: Vec<(MessageQueue, Arc<ProcessQueue>)> = {
            let mut q = self.queues.lock();
            let gone: Vec<MessageQueue> = q
                .keys()
                .filter(|k| k.topic == sub.topic && !wanted.contains(*k))
                .cloned()
                .collect();
            gone.into_iter()
                .filter_map(|k| q.remove(&k).map(|pq| (k, pq)))
                .collect()
        };
        for (mq, pq) in dropped {
            pq.dropped.store(true, Ordering::SeqCst);
            pq.stop.cancel();
            // A locked queue's own task persists its offset and unlocks it once its
            // consumption has stopped (`release`).
            if !self.locks_queues() {
                self.offsets.update(&mq, pq.commit_candidate(), false);
                self.offsets.persist_and_remove(&mq).await;
            }
            tracing::info!(queue = %mq, "queue dropped by rebalance");
        }
        for mq in wanted {
            if self.queues.lock().contains_key(&mq) {
                continue;
            }
            // A locked queue's start is read once the lock is held (`pull_loop`): only then has
            // its previous owner persisted where it stopped.
            let start = if self.locks_queues() {
                UNKNOWN_OFFSET
            } else {
                match self.start_offset(&mq).await {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::warn!(queue = %mq, error = %e, "cannot compute the start offset; retried next rebalance");
                        continue;
                    }
                }
            };
            let pq = Arc::new(ProcessQueue {
                stop: self.stop_pulling.child_token(),
                dropped: AtomicBool::new(false),
                state: Mutex::new(QueueState {
                    in_flight: BTreeMap::new(),
                    next_offset: start,
                    last_pull_ms: 0,
                    last_consume_ms: 0,
                }),
                lock: QueueLock::default(),
                reset: AtomicI64::new(NO_RESET),
                reset_signal: Notify::new(),
            });
            if start != UNKNOWN_OFFSET {
                self.offsets.update(&mq, start, false);
            }
            self.queues.lock().insert(mq.clone(), pq.clone());
            tracing::info!(queue = %mq, offset = start, "queue assigned");
            let me = self.clone();
            let sub = sub.clone();
            self.work
                .spawn(async move { me.pull_loop(mq, sub, pq).await });
        }
    }

    async fn start_offset(&self, mq: &MessageQueue) -> Result<i64> {
        if let Some(o) = self.offsets.read(mq).await? {
            if o >= 0 {
                return Ok(o);
            }
        }
        match self.config.consume_from {
            ConsumeFromWhere::LastOffset => self.instance.max_offset(mq).await,
            ConsumeFromWhere::FirstOffset => Ok(0),
            ConsumeFromWhere::Timestamp(ts) => self.instance.search_offset(mq, ts).await,
        }
    }

    fn record_offset(&self, mq: &MessageQueue, pq: &ProcessQueue) {
        if !pq.dropped.load(Ordering::SeqCst) {
            self.offsets.update(mq, pq.commit_candidate(), false);
        }
    }

    async fn pause(&self, pq: &ProcessQueue, d: Duration) {
        tokio::select! {
            _ = pq.stop.cancelled() => {}
            _ = tokio::time::sleep(d) => {}
        }
    }

    async fn pull_loop(
        self: Arc<Self>,
        mq: MessageQueue,
        sub: Subscription,
        pq: Arc<ProcessQueue>,
    ) {
        if self.locks_queues() && !self.lock_and_start(&mq, &pq).await {
            return;
        }
        self.pull_until_stopped(&mq, &sub, &pq).await;
        if self.locks_queues() {
            self.release(&mq, &pq).await;
        }
    }

    async fn pull_until_stopped(
        self: &Arc<Self>,
        mq: &MessageQueue,
        sub: &Subscription,
        pq: &Arc<ProcessQueue>,
    ) {
        let (mq, pq) = (mq.clone(), pq.clone());
        while !pq.stop.is_cancelled() {
            self.apply_reset(&mq, &pq).await;
            let (offset, in_flight) = {
                let s = pq.state.lock();
                (s.next_offset, s.in_flight.len())
            };
            if in_flight >= self.config.pull_threshold_per_queue {
                self.pause(&pq, Duration::from_millis(50)).await;
                continue;
            }
            let req = PullRequest {
                group: &self.config.group,
                queue: &mq,
                offset,
                max_nums: self.config.pull_batch_size,
                expression: &sub.expression,
                expression_type: sub.expression_type(),
                sub_version: sub.version,
                suspend: self.config.long_poll_suspend,
                commit_offset: None,
            };
            let pull_started = Instant::now();
            let result = tokio::select! {
                _ = pq.stop.cancelled() => break,
                _ = pq.reset_signal.notified() => continue,
                r = self.instance.pull(req) => r,
            };
            if pq.reset.load(Ordering::Acquire) != NO_RESET {
                // Pulled from where the queue was before the reset: dropped, pulled again.
                continue;
            }
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(queue = %mq, error = %e, "pull failed; retrying after a delay");
                    self.pause(&pq, self.config.pull_delay_on_error).await;
                    continue;
                }
            };
            match result.status {
                PullStatus::Found => {
                    self.stats
                        .pulled(&mq.topic, result.messages.len(), pull_started.elapsed());
                    let mut msgs: Vec<MessageExt> = result
                        .messages
                        .into_iter()
                        .filter(|m| sub.matches(m.tags()))
                        .collect();
                    if sub.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                        // A retry copy is handed over as the message it copies, as Java does.
                        msgs.iter_mut().for_each(handed_over_as_original);
                    }
                    {
                        let mut s = pq.state.lock();
                        s.next_offset = result.next_begin_offset;
                        s.last_pull_ms = now_ms();
                        s.in_flight
                            .extend(msgs.iter().map(|m| (m.queue_offset, m.body.len())));
                    }
                    self.record_offset(&mq, &pq);
                    if self.config.orderly {
                        // In queue order, one call at a time; the next pull waits for them.
                        for chunk in msgs.chunks(self.config.consume_batch_max) {
                            if !self.consume_orderly(&mq, &pq, chunk.to_vec()).await {
                                break;
                            }
                        }
                        continue;
                    }
                    for chunk in msgs.chunks(self.config.consume_batch_max) {
                        let permit = tokio::select! {
                            _ = pq.stop.cancelled() => break,
                            p = self.permits.clone().acquire_owned() => match p {
                                Ok(p) => p,
                                Err(_) => break,
                            },
                        };
                        let me = self.clone();
                        let mq = mq.clone();
                        let pq = pq.clone();
                        let batch = chunk.to_vec();
                        self.work.spawn(async move {
                            let _permit = permit;
                            me.consume(mq, pq, batch).await;
                        });
                    }
                }
                PullStatus::NoNewMessage | PullStatus::NoMatchedMessage => {
                    // A long poll's round trip is mostly the broker holding it: not counted.
                    {
                        let mut s = pq.state.lock();
                        s.next_offset = result.next_begin_offset;
                        s.last_pull_ms = now_ms();
                    }
                    self.record_offset(&mq, &pq);
                }
                PullStatus::OffsetIllegal => {
                    // The broker moved the queue: an admin's reset (back to re-consume, or to
                    // the end), or the offset left the retained range. Go on from its offset;
                    // messages still being consumed no longer hold the committed offset back.
                    tracing::warn!(queue = %mq, offset, next = result.next_begin_offset, "the broker moved the pull offset; continuing from there");
                    self.move_queue(&mq, &pq, result.next_begin_offset);
                }
            }
        }
    }

    /// Moves the queue to where a broker's RESET_CONSUMER_CLIENT_OFFSET put it, if one is
    /// waiting, and commits that at once (Java 4's clients persist a reset queue's offset as
    /// they apply it).
    async fn apply_reset(&self, mq: &MessageQueue, pq: &ProcessQueue) {
        let to = pq.reset.swap(NO_RESET, Ordering::AcqRel);
        if to == NO_RESET {
            return;
        }
        tracing::warn!(queue = %mq, offset = to, "offset reset by the broker; continuing from there");
        if self.move_queue(mq, pq, to) {
            self.offsets.persist(std::slice::from_ref(mq), true).await;
        }
    }

    /// The next pull of the queue starts at `to`, and messages still being consumed no longer
    /// hold the committed offset back: it is `to` now (unless the queue was dropped, whose offset
    /// no longer moves here; false then).
    fn move_queue(&self, mq: &MessageQueue, pq: &ProcessQueue, to: i64) -> bool {
        {
            let mut s = pq.state.lock();
            s.next_offset = to;
            s.in_flight.clear();
        }
        let live = !pq.dropped.load(Ordering::SeqCst);
        if live {
            self.offsets.update(mq, to, true);
        }
        live
    }

    /// Ordered consumption in a clustering group: queues are locked on their brokers.
    fn locks_queues(&self) -> bool {
        self.config.orderly && self.config.model == MessageModel::Clustering
    }

    /// Waits for the queue's lock, then reads where to start (the previous owner persisted its
    /// offset before it unlocked). False when the queue was given up or the consumer stopped
    /// first.
    async fn lock_and_start(&self, mq: &MessageQueue, pq: &ProcessQueue) -> bool {
        let group = &self.config.group;
        loop {
            if pq.stop.is_cancelled() {
                return false;
            }
            if !pq.lock.is_held() {
                orderly::lock(&self.instance, group, &[(mq.clone(), &pq.lock)]).await;
            }
            if pq.lock.is_held() {
                match self.start_offset(mq).await {
                    Ok(o) => {
                        pq.state.lock().next_offset = o;
                        self.offsets.update(mq, o, false);
                        tracing::info!(queue = %mq, offset = o, "queue locked; consuming in order");
                        return true;
                    }
                    Err(e) => {
                        tracing::warn!(queue = %mq, error = %e, "cannot compute the start offset; retrying")
                    }
                }
            }
            self.pause(pq, LOCK_RETRY).await;
        }
    }

    /// Hands one batch to the listener while the queue's lock is held, until it is consumed (or
    /// given up after `max_reconsume_times`). False when the queue was given up or the consumer
    /// stopped first: the batch stays uncommitted.
    async fn consume_orderly(
        &self,
        mq: &MessageQueue,
        pq: &ProcessQueue,
        mut batch: Vec<MessageExt>,
    ) -> bool {
        let offsets: Vec<i64> = batch.iter().map(|m| m.queue_offset).collect();
        let mut attempt = 0u32;
        loop {
            if self.locks_queues() && !pq.lock.is_held() {
                // Lost (not renewed in time) or taken over: ask again, consume nothing meanwhile.
                orderly::lock(
                    &self.instance,
                    &self.config.group,
                    &[(mq.clone(), &pq.lock)],
                )
                .await;
                if !pq.lock.is_held() {
                    self.pause(pq, LOCK_RETRY).await;
                    if pq.stop.is_cancelled() {
                        return false;
                    }
                    continue;
                }
            }
            let permit = tokio::select! {
                _ = pq.stop.cancelled() => return false,
                p = self.permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return false,
                },
            };
            let result = self.call_listener(mq, pq, batch.clone()).await;
            drop(permit);
            if result == ConsumeResult::Success {
                break;
            }
            attempt += 1;
            if attempt > self.config.max_reconsume_times {
                if !self.locks_queues() {
                    tracing::warn!(queue = %mq, "giving up on a batch after {attempt} redeliveries");
                    break;
                }
                // Java parks such a message in the dead-letter queue and moves on; the queue
                // stays blocked only while the broker would not take it.
                batch = self.send_back_all(mq, batch, -1).await;
                if batch.is_empty() {
                    tracing::warn!(queue = %mq, "a batch failed {attempt} times; parked in the dead-letter queue");
                    break;
                }
            }
            if !self.before_redelivery(pq, &mut batch).await {
                return false;
            }
        }
        self.consumed(mq, pq, &offsets);
        true
    }

    /// A locked queue's consumption has stopped: persist where it got to, then unlock, so the
    /// next owner starts right after it.
    async fn release(&self, mq: &MessageQueue, pq: &ProcessQueue) {
        self.offsets.update(mq, pq.commit_candidate(), false);
        if pq.dropped.load(Ordering::SeqCst) {
            self.offsets.persist_and_remove(mq).await;
        } else {
            self.offsets.persist(std::slice::from_ref(mq), false).await;
        }
        orderly::unlock(
            &self.instance,
            &self.config.group,
            &[(mq.clone(), &pq.lock)],
        )
        .await;
    }

    /// Renews the locks of every queue this client consumes (LOCK_RENEW_INTERVAL).
    async fn renew_locks(&self) {
        let queues: Vec<(MessageQueue, Arc<ProcessQueue>)> = self
            .queues
            .lock()
            .iter()
            .map(|(q, pq)| (q.clone(), pq.clone()))
            .collect();
        let locks: Vec<(MessageQueue, &QueueLock)> =
            queues.iter().map(|(q, pq)| (q.clone(), &pq.lock)).collect();
        if !locks.is_empty() {
            orderly::lock(&self.instance, &self.config.group, &locks).await;
        }
    }

    async fn consume(&self, mq: MessageQueue, pq: Arc<ProcessQueue>, mut batch: Vec<MessageExt>) {
        let offsets: Vec<i64> = batch.iter().map(|m| m.queue_offset).collect();
        let mut attempt = 0u32;
        loop {
            let result = self.call_listener(&mq, &pq, batch.clone()).await;
            if result == ConsumeResult::Success {
                break;
            }
            if self.config.model == MessageModel::Clustering {
                // Java's RECONSUME_LATER: the broker takes each message back and redelivers it
                // through the retry topic, so this queue moves on; only what it would not take
                // is retried here.
                batch = self.send_back_all(&mq, batch, 0).await;
                if batch.is_empty() {
                    break;
                }
            } else {
                attempt += 1;
                if attempt > self.config.max_reconsume_times {
                    tracing::warn!(queue = %mq, "giving up on a batch after {attempt} redeliveries");
                    break;
                }
            }
            if !self.before_redelivery(&pq, &mut batch).await {
                return;
            }
        }
        self.consumed(&mq, &pq, &offsets);
    }

    /// One listener call on messages of `mq`, counted in the consumer's statistics.
    async fn call_listener(
        &self,
        mq: &MessageQueue,
        pq: &ProcessQueue,
        batch: Vec<MessageExt>,
    ) -> ConsumeResult {
        let (n, started) = (batch.len(), Instant::now());
        let result = consume_caught(self.listener.as_ref(), batch).await;
        self.stats.consumed(
            &mq.topic,
            n,
            result == ConsumeResult::Success,
            started.elapsed(),
        );
        pq.state.lock().last_consume_ms = now_ms();
        result
    }

    /// Waits `reconsume_delay` before a batch is handed over again and counts the redelivery.
    /// False when the queue was given up or the consumer stopped meanwhile: the batch's offsets
    /// then stay uncommitted, so it is delivered again later.
    async fn before_redelivery(&self, pq: &ProcessQueue, batch: &mut [MessageExt]) -> bool {
        tokio::select! {
            _ = pq.stop.cancelled() => return false,
            _ = tokio::time::sleep(self.config.reconsume_delay) => {}
        }
        for m in batch {
            m.reconsume_times += 1;
        }
        true
    }

    /// The messages at `offsets` are done with: the queue's committable offset may pass them.
    fn consumed(&self, mq: &MessageQueue, pq: &ProcessQueue, offsets: &[i64]) {
        {
            let mut s = pq.state.lock();
            for o in offsets {
                s.in_flight.remove(o);
            }
        }
        self.record_offset(mq, pq);
    }

    /// Sends every message of `batch` back to the broker it was pulled from (`delay_level` 0: to
    /// the retry topic with the broker's back-off; −1: to the dead-letter queue); returns those it
    /// would not take.
    async fn send_back_all(
        &self,
        mq: &MessageQueue,
        batch: Vec<MessageExt>,
        delay_level: i32,
    ) -> Vec<MessageExt> {
        let mut kept = Vec::new();
        for m in batch {
            let sent = self
                .instance
                .send_back(
                    &mq.broker_name,
                    &self.config.group,
                    &m,
                    delay_level,
                    self.config.max_reconsume_times,
                )
                .await;
            if let Err(e) = sent {
                tracing::warn!(queue = %mq, offset = m.queue_offset, error = %e, "cannot send a message back for a later retry; redelivering it here");
                kept.push(m);
            }
        }
        kept
    }
}
