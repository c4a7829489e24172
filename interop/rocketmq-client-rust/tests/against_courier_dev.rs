//! mxsm's `rocketmq-client-rust` 1.0.0 (unmodified, from crates.io) against a real `courier dev`:
//! a producer sends messages with tags, keys and user properties; a clustering group of two push
//! consumers must receive every message exactly once, a broadcasting group of two must receive
//! every message in each consumer, a tag subscription sees only its tag, an SQL92 selector only
//! the messages whose properties it selects, a timer message (deliver time) arrives at its time
//! and not before while a recalled one never does, and the client's admin
//! API reads a topic's status and a group's progress (GET_TOPIC_STATS_INFO, GET_CONSUME_STATS),
//! a server-side offset reset rewinds a running group, a `request` returns the reply a
//! responder group sent for it (request-reply through the cluster's reply topic), an orderly
//! group consumes each key in order, one listener call at a time per queue, the broker's queue
//! locks (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ) keeping a member that claims every queue off the ones
//! another member holds, and a `TransactionMQProducer`'s half messages reach a consumer only once
//! committed — by the local transaction or by its answer to the broker's check-back
//! (CHECK_TRANSACTION_STATE) — and never when rolled back. Each scenario gets its own server,
//! client runtime and groups. Runs without libtest (see Cargo.toml); a failing scenario makes the
//! process exit non-zero with the reason and the server's log tail.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_interop_rocketmq_client_rust::{create_topic, reset_offset, CourierDev, HarnessResult};
use rocketmq_client_rust::{
    AllocateMessageQueueByConfig, BrokerAdmin, ClientResult, ClientRuntime, ClientRuntimeConfig,
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeOrderlyContext,
    ConsumeOrderlyStatus, DefaultMQAdminExt, DefaultMQProducer, DefaultMQPushConsumer,
    LocalTransactionState, MQAdminReadExt, MQAdminTopicStatsReadExt, MQPushConsumer,
    MessageListenerConcurrently, MessageListenerOrderly, MessageQueueListener, MessageSelector,
    MessageUtil, TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_observability::TelemetryRuntimeGuard;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

const MESSAGES: usize = 40;
/// One body above the client's 4 KiB compression threshold, so the compressed flag round-trips.
const BIG_INDEX: usize = 7;
const ORIGIN: &str = "rocketmq-client-rust";

fn body_of(i: usize) -> Vec<u8> {
    if i == BIG_INDEX {
        format!("big-{i}-").repeat(1200).into_bytes()
    } else {
        format!("hello courier #{i} \u{2713}").into_bytes()
    }
}

fn tag_of(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "TagA"
    } else {
        "TagB"
    }
}

/// What a listener saw of one message.
#[derive(Clone)]
struct Got {
    topic: String,
    seq: Option<String>,
    body: Vec<u8>,
    tags: Option<String>,
    keys: Option<Vec<String>>,
    origin: Option<String>,
    /// The `plan` user property of the transactions scenario.
    plan: Option<String>,
    /// TRAN_MSG, the half-message mark, which a committed message no longer carries.
    tran_msg: Option<String>,
    /// The offset message id (store host + commit log offset) the decoder computed.
    msg_id: String,
    /// The client-generated unique key carried in the properties.
    uniq_key: Option<String>,
    reconsume_times: i32,
    /// Where the message sat, so a missing delivery can be named by queue and offset.
    queue_id: i32,
    queue_offset: i64,
}

/// As derived, but a long body shows as its first 48 characters and its length (the compressed
/// one is 9 KB of bytes otherwise).
impl std::fmt::Debug for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = String::from_utf8_lossy(&self.body);
        let body = if text.chars().count() > 48 {
            let head: String = text.chars().take(48).collect();
            format!("{head}... ({} bytes)", self.body.len())
        } else {
            text.into_owned()
        };
        f.debug_struct("Got")
            .field("topic", &self.topic)
            .field("seq", &self.seq)
            .field("body", &body)
            .field("tags", &self.tags)
            .field("keys", &self.keys)
            .field("origin", &self.origin)
            .field("plan", &self.plan)
            .field("tran_msg", &self.tran_msg)
            .field("msg_id", &self.msg_id)
            .field("uniq_key", &self.uniq_key)
            .field("reconsume_times", &self.reconsume_times)
            .field("queue_id", &self.queue_id)
            .field("queue_offset", &self.queue_offset)
            .finish()
    }
}

impl Got {
    /// What a listener records of `m`.
    fn of(m: &MessageExt) -> Got {
        Got {
            topic: m.topic().to_string(),
            seq: m.property("seq").map(str::to_string),
            body: m.body().map(|b| b.to_vec()).unwrap_or_default(),
            tags: m.tags().map(str::to_string),
            keys: m.keys(),
            origin: m.property("origin").map(str::to_string),
            plan: m.property(PLAN).map(str::to_string),
            tran_msg: m.property("TRAN_MSG").map(str::to_string),
            msg_id: m.msg_id().to_string(),
            uniq_key: m.property("UNIQ_KEY").map(str::to_string),
            reconsume_times: m.reconsume_times(),
            queue_id: m.queue_id(),
            queue_offset: m.queue_offset(),
        }
    }
}

/// What a replying listener hands to its scenario for each request it consumed: the request's
/// body and the CORRELATION_ID it read on it, and the reply `MessageUtil::create_reply_message`
/// built. (The listener is synchronous; the scenario sends the reply with its own producer.)
struct ReplyTo {
    request_body: String,
    correlation_id: Option<String>,
    reply: ClientResult<Message>,
}

/// What a listener does besides recording each delivery.
enum Reaction {
    /// Nothing: every message is consumed.
    Accept,
    /// Asks for a redelivery of message #0 the first time it arrives.
    RetryFirst,
    /// Builds a reply (body `re: <request body>`) to every message and hands it over.
    Reply(tokio::sync::mpsc::UnboundedSender<ReplyTo>),
    /// Consumes through mxsm's orderly listener instead of the concurrent one (so the client
    /// locks its queues on the broker), taking `ORDERLY_PAUSE` per call and logging each call in
    /// the shared log.
    InOrder(Arc<Mutex<Vec<OrderlyCall>>>),
}

/// Records every delivery and reacts to it as `reaction` says.
struct Collector {
    sink: Arc<Mutex<Vec<Got>>>,
    reaction: Reaction,
}

impl MessageListenerConcurrently for Collector {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _ctx: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let mut status = ConsumeConcurrentlyStatus::ConsumeSuccess;
        for m in msgs {
            match &self.reaction {
                Reaction::Accept | Reaction::InOrder(_) => {}
                Reaction::RetryFirst => {
                    if m.property("seq") == Some("0") && m.reconsume_times() == 0 {
                        status = ConsumeConcurrentlyStatus::ReconsumeLater;
                    }
                }
                Reaction::Reply(replies) => {
                    let request_body = m
                        .body()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let body = format!("re: {request_body}");
                    // The scenario outlives the consumer's deliveries; a closed channel only
                    // means it already failed.
                    let _ = replies.send(ReplyTo {
                        correlation_id: m.property("CORRELATION_ID").map(str::to_string),
                        reply: MessageUtil::create_reply_message(&m.message, body.as_bytes()),
                        request_body,
                    });
                }
            }
            sink.push(Got::of(m));
        }
        Ok(status)
    }
}

/// How long each orderly listener call takes: the first member is still busy on its queues when
/// the second joins, and two calls on one queue at once would overlap measurably.
const ORDERLY_PAUSE: Duration = Duration::from_millis(50);

/// One call of an orderly listener: who made it, on which queue, when, and what it got.
struct OrderlyCall {
    member: String,
    queue_id: i32,
    start: Instant,
    end: Instant,
    got: Vec<Got>,
}

/// mxsm's orderly listener (`MessageListenerOrderly`): records each delivery like `Collector`
/// and logs the call.
struct InOrder {
    member: String,
    sink: Arc<Mutex<Vec<Got>>>,
    calls: Arc<Mutex<Vec<OrderlyCall>>>,
}

impl MessageListenerOrderly for InOrder {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        ctx: &mut ConsumeOrderlyContext,
    ) -> ClientResult<ConsumeOrderlyStatus> {
        let start = Instant::now();
        let got: Vec<Got> = msgs.iter().map(|m| Got::of(m)).collect();
        std::thread::sleep(ORDERLY_PAUSE);
        let call = OrderlyCall {
            member: self.member.clone(),
            queue_id: ctx.get_message_queue().queue_id(),
            start,
            end: Instant::now(),
            got: got.clone(),
        };
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
        self.sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(got);
        Ok(ConsumeOrderlyStatus::Success)
    }
}

/// Records how many queues of the watched topic the last rebalance gave this consumer.
struct Assigned {
    topic: String,
    count: Arc<AtomicUsize>,
}

impl MessageQueueListener for Assigned {
    fn message_queue_changed(
        &self,
        topic: &str,
        _all: &HashSet<MessageQueue>,
        assigned: &HashSet<MessageQueue>,
    ) {
        if topic == self.topic {
            self.count.store(assigned.len(), Ordering::SeqCst);
        }
    }
}

/// How a member subscribes.
#[derive(Clone, Copy)]
enum Selecting<'a> {
    Tags(&'a str),
    Sql92(&'a str),
}

struct Member {
    consumer: DefaultMQPushConsumer,
    got: Arc<Mutex<Vec<Got>>>,
    assigned: Arc<AtomicUsize>,
}

impl Member {
    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

// Every argument is one knob of the scenario table; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn start_member(
    rt: &Arc<ClientRuntime>,
    dev: &CourierDev,
    group: &str,
    instance: &str,
    topic: &str,
    selecting: Selecting<'_>,
    model: MessageModel,
    reaction: Reaction,
    claim: Option<Vec<MessageQueue>>,
) -> HarnessResult<Member> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let assigned = Arc::new(AtomicUsize::new(0));
    let mut config = rocketmq_client_rust::ClientConfig::default();
    // Two members of one group in one process need distinct client ids, as in two processes.
    config.set_instance_name(instance.into());
    let mut builder = DefaultMQPushConsumer::builder(rt.clone())
        .client_config(config)
        .name_server_addr(dev.namesrv_addr.clone())
        .consumer_group(group)
        .message_model(model)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .message_queue_listener(Some(Arc::new(Assigned {
            topic: topic.to_string(),
            count: assigned.clone(),
        })));
    // A claim replaces the member's share of the queues (the client's default, averagely among
    // the group) with these queues, whoever else is in the group.
    if let Some(queues) = claim {
        let strategy = AllocateMessageQueueByConfig::new(queues);
        builder = builder.allocate_message_queue_strategy(Arc::new(strategy));
    }
    let mut consumer = builder.build();
    let subscribed = match selecting {
        Selecting::Tags(e) => consumer.subscribe(topic, e).await,
        Selecting::Sql92(e) => {
            consumer
                .subscribe_with_selector(topic, Some(MessageSelector::by_sql(e)))
                .await
        }
    };
    subscribed.map_err(|e| format!("{instance}: subscribe {topic}: {e}"))?;
    match reaction {
        Reaction::InOrder(calls) => consumer.register_message_listener_orderly(InOrder {
            member: instance.to_string(),
            sink: got.clone(),
            calls,
        }),
        reaction => consumer.register_message_listener_concurrently(Collector {
            sink: got.clone(),
            reaction,
        }),
    }
    consumer
        .start()
        .await
        .map_err(|e| format!("{instance}: start: {e}"))?;
    Ok(Member {
        consumer,
        got,
        assigned,
    })
}

/// Two members of `group` subscribed to all of `topic`, each on its own runtime, as two
/// processes would be; instance names `<name>-1` and `<name>-2`.
async fn start_pair(
    rts: &[Arc<ClientRuntime>; 2],
    dev: &CourierDev,
    group: &str,
    name: &str,
    topic: &str,
    model: MessageModel,
) -> HarnessResult<[Member; 2]> {
    let first = start_member(
        &rts[0],
        dev,
        group,
        &format!("{name}-1"),
        topic,
        Selecting::Tags("*"),
        model,
        Reaction::Accept,
        None,
    )
    .await?;
    let second = start_member(
        &rts[1],
        dev,
        group,
        &format!("{name}-2"),
        topic,
        Selecting::Tags("*"),
        model,
        Reaction::Accept,
        None,
    )
    .await?;
    Ok([first, second])
}

/// Waits until every member's last rebalance gave it `each` queues of the watched topic.
async fn wait_assigned(members: &[Member], each: usize, what: &str) -> HarnessResult<()> {
    wait_for(what, || {
        members
            .iter()
            .all(|m| m.assigned.load(Ordering::SeqCst) == each)
    })
    .await
}

async fn wait_for(what: &str, done: impl FnMut() -> bool) -> HarnessResult<()> {
    wait_for_within(Duration::from_secs(60), what, done).await
}

/// `wait_for` with another limit than 60 s.
async fn wait_for_within(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> HarnessResult<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!(
                "timed out after {} s waiting for {what}",
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The ids a send result carries: the client's unique key and the broker's offset message id.
#[derive(Default)]
struct SentIds {
    uniq_keys: HashSet<String>,
    offset_ids: HashSet<String>,
}

/// A started producer of `group`.
async fn started_producer(
    rt: &Arc<ClientRuntime>,
    dev: &CourierDev,
    group: &str,
) -> HarnessResult<DefaultMQProducer> {
    let mut producer = DefaultMQProducer::builder(rt.clone())
        .producer_group(group)
        .name_server_addr(dev.namesrv_addr.clone())
        .build();
    producer
        .start()
        .await
        .map_err(|e| format!("producer start: {e}"))?;
    Ok(producer)
}

/// Sends the message `built` describes (`what` names it in errors); the send must answer
/// SEND_OK. With an `order_key` it goes through mxsm's selector send
/// (`send_with_selector_timeout`), whose selector puts every message of one key on one queue
/// (`key % queues`).
async fn send_ok<E: std::fmt::Display>(
    producer: &DefaultMQProducer,
    built: Result<Message, E>,
    order_key: Option<usize>,
    what: &str,
) -> HarnessResult<rocketmq_client_rust::SendResult> {
    let msg = built.map_err(|e| format!("building {what}: {e}"))?;
    let sent = match order_key {
        None => producer.send_with_timeout(msg, 5000).await,
        Some(key) => {
            let by_key = |mqs: &[MessageQueue], _: &Message, key: &usize| {
                mqs.get(key % mqs.len().max(1)).cloned()
            };
            producer
                .send_with_selector_timeout(msg, by_key, key, 5000)
                .await
        }
    };
    match sent {
        Ok(Some(r)) if r.send_status == rocketmq_client_rust::SendStatus::SendOk => Ok(r),
        Ok(other) => Err(format!("send {what}: unexpected result {other:?}")),
        Err(e) => Err(format!("send {what}: {e}")),
    }
}

/// Message #`i` to `topic`, as `check` expects it: `body_of(i)`, `tag_of(i)`, keys `key-<i>` and
/// `alt-<i>`, user properties `seq` and `origin`, and the `extra` ones.
fn numbered_message(topic: &str, i: usize, extra: &[(&str, &str)]) -> Result<Message, String> {
    let mut built = Message::builder()
        .topic(topic)
        .tags(tag_of(i))
        .keys(vec![format!("key-{i}"), format!("alt-{i}")])
        .body_slice(&body_of(i))
        .raw_property("seq", i.to_string())
        .and_then(|b| b.raw_property("origin", ORIGIN));
    for (k, v) in extra {
        built = built.and_then(|b| b.raw_property(*k, *v));
    }
    built.and_then(|b| b.build()).map_err(|e| e.to_string())
}

/// Sends the numbered messages; returns the ids of the acknowledged sends.
async fn send_all(
    rt: &Arc<ClientRuntime>,
    dev: &CourierDev,
    topic: &str,
) -> HarnessResult<SentIds> {
    let mut producer = started_producer(rt, dev, "rust_client_producer").await?;
    let mut ids = SentIds::default();
    let mut outcome = Ok(());
    for i in 0..MESSAGES {
        let built = numbered_message(topic, i, &[]);
        match send_ok(&producer, built, None, &format!("message #{i}")).await {
            Ok(r) => {
                ids.uniq_keys
                    .insert(r.msg_id.map(|m| m.to_string()).unwrap_or_default());
                ids.offset_ids.insert(r.offset_msg_id.unwrap_or_default());
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    producer.shutdown().await;
    outcome.map(|()| ids)
}

/// Checks every field of one received message against what was sent; returns its index.
fn check(got: &Got, topic: &str) -> HarnessResult<usize> {
    let i: usize = got
        .seq
        .as_deref()
        .and_then(|s| s.parse().ok())
        .filter(|&i| i < MESSAGES)
        .ok_or_else(|| format!("received a message without a valid seq property: {got:?}"))?;
    let expect = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("message #{i}: wrong {what}: {got:?}"))
        }
    };
    expect(got.topic == topic, "topic")?;
    expect(got.body == body_of(i), "body")?;
    expect(got.tags.as_deref() == Some(tag_of(i)), "tags")?;
    expect(
        got.keys == Some(vec![format!("key-{i}"), format!("alt-{i}")]),
        "keys",
    )?;
    expect(got.origin.as_deref() == Some(ORIGIN), "user property")?;
    expect(!got.msg_id.is_empty(), "msgId")?;
    Ok(i)
}

fn counts(msgs: &[Got], topic: &str) -> HarnessResult<Vec<usize>> {
    let mut counts = vec![0; MESSAGES];
    for m in msgs {
        counts[check(m, topic)?] += 1;
    }
    Ok(counts)
}

async fn clustering(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientClustering";
    create_topic(dev, topic)?;
    let group = "rust_client_clustering";
    let mut members =
        start_pair(rts, dev, group, "cluster", topic, MessageModel::Clustering).await?;
    let result = async {
        // Send only once the 4 queues are split 2/2: a queue changing hands mid-stream before
        // the 5 s offset commit would legitimately be redelivered.
        wait_assigned(&members, 2, "the two consumers to split the 4 queues").await?;
        let ids = send_all(&rts[0], dev, topic).await?;
        wait_for("every message to arrive", || {
            members.iter().map(|m| m.got().len()).sum::<usize>() >= MESSAGES
        })
        .await?;
        // Let late duplicates show up before counting.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let all: Vec<Got> = members.iter().flat_map(|m| m.got()).collect();
        let c = counts(&all, topic)?;
        if c != vec![1; MESSAGES] {
            return Err(format!(
                "clustering: per-message delivery counts {c:?}, want all 1"
            ));
        }
        for (n, m) in members.iter().enumerate() {
            if m.got().is_empty() {
                return Err(format!("clustering: consumer {} got no share", n + 1));
            }
        }
        for g in &all {
            if !ids.offset_ids.contains(&g.msg_id) {
                return Err(format!(
                    "clustering: offset msgId {} was never returned by a send",
                    g.msg_id
                ));
            }
            if !g
                .uniq_key
                .as_ref()
                .is_some_and(|k| ids.uniq_keys.contains(k))
            {
                return Err(format!(
                    "clustering: UNIQ_KEY {:?} was never returned by a send",
                    g.uniq_key
                ));
            }
        }
        Ok(())
    }
    .await;
    for m in &mut members {
        m.consumer.shutdown().await;
    }
    result
}

async fn broadcasting(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientBroadcast";
    create_topic(dev, topic)?;
    let group = "rust_client_broadcast";
    let mut members =
        start_pair(rts, dev, group, "bcast", topic, MessageModel::Broadcasting).await?;
    let result = async {
        wait_assigned(
            &members,
            4,
            "each broadcasting consumer to own all 4 queues",
        )
        .await?;
        send_all(&rts[0], dev, topic).await?;
        wait_for("every message in each consumer", || {
            members.iter().all(|m| m.got().len() >= MESSAGES)
        })
        .await
        .map_err(|e| {
            let got: Vec<usize> = members.iter().map(|m| m.got().len()).collect();
            format!(
                "{e} (of {MESSAGES}, the consumers received {got:?}; {})",
                missing_report(&members)
            )
        })?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for (n, m) in members.iter().enumerate() {
            let c = counts(&m.got(), topic)?;
            if c != vec![1; MESSAGES] {
                return Err(format!(
                    "broadcasting: consumer {} delivery counts {c:?}, want all 1",
                    n + 1
                ));
            }
        }
        Ok(())
    }
    .await;
    for m in &mut members {
        m.consumer.shutdown().await;
    }
    result
}

/// For each consumer, the (queue, offset) places another member of the group saw but it did not.
fn missing_report(members: &[Member]) -> String {
    let seen: Vec<HashSet<(i32, i64)>> = members
        .iter()
        .map(|m| {
            m.got()
                .iter()
                .map(|g| (g.queue_id, g.queue_offset))
                .collect()
        })
        .collect();
    let all: HashSet<(i32, i64)> = seen.iter().flatten().copied().collect();
    let mut parts = Vec::new();
    for (n, mine) in seen.iter().enumerate() {
        let mut missing: Vec<(i32, i64)> = all.difference(mine).copied().collect();
        missing.sort_unstable();
        parts.push(format!(
            "consumer {} lacks (queue, offset) {missing:?}",
            n + 1
        ));
    }
    parts.join("; ")
}

/// A fresh `topic` and one member of `group` owning all of its 4 queues.
async fn sole_member(
    rt: &Arc<ClientRuntime>,
    dev: &CourierDev,
    topic: &str,
    group: &str,
    selecting: Selecting<'_>,
    reaction: Reaction,
) -> HarnessResult<Member> {
    create_topic(dev, topic)?;
    let mut m = start_member(
        rt,
        dev,
        group,
        &format!("{group}-1"),
        topic,
        selecting,
        MessageModel::Clustering,
        reaction,
        None,
    )
    .await?;
    let owned = wait_for("the consumer to own all 4 queues", || {
        m.assigned.load(Ordering::SeqCst) == 4
    })
    .await;
    if let Err(e) = owned {
        m.consumer.shutdown().await;
        return Err(e);
    }
    Ok(m)
}

/// One consumer owning all of `topic` with `selecting`: every message `selects` picks arrives
/// exactly once, and no other does.
async fn selective(
    rt: &Arc<ClientRuntime>,
    dev: &CourierDev,
    topic: &str,
    group: &str,
    selecting: Selecting<'_>,
    selects: fn(usize) -> bool,
) -> HarnessResult<()> {
    let mut m = sole_member(rt, dev, topic, group, selecting, Reaction::Accept).await?;
    let want_total = (0..MESSAGES).filter(|&i| selects(i)).count();
    let result = async {
        send_all(rt, dev, topic).await?;
        wait_for("the selected messages", || m.got().len() >= want_total).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let c = counts(&m.got(), topic)?;
        for (i, n) in c.iter().enumerate() {
            let want = usize::from(selects(i));
            if *n != want {
                return Err(format!(
                    "{group}: message #{i} ({}) seen {n} times, want {want}",
                    tag_of(i)
                ));
            }
        }
        Ok(())
    }
    .await;
    m.consumer.shutdown().await;
    result
}

async fn tag_filter(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let selects = |i: usize| tag_of(i) == "TagB";
    selective(
        &rts[0],
        dev,
        "RustClientTags",
        "rust_client_tags",
        Selecting::Tags("TagB"),
        selects,
    )
    .await
}

/// The selector the SQL92 scenario subscribes with, and which messages it selects: `seq` is a
/// string property, compared as a number; TAGS is a property like any other.
const SQL92_SELECTOR: &str = "seq BETWEEN 5 AND 9 OR (TAGS = 'TagA' AND seq >= 30)";

async fn sql92_filter(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let selects = |i: usize| (5..=9).contains(&i) || (tag_of(i) == "TagA" && i >= 30);
    let selecting = Selecting::Sql92(SQL92_SELECTOR);
    selective(
        &rts[0],
        dev,
        "RustClientSql",
        "rust_client_sql",
        selecting,
        selects,
    )
    .await
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Two messages with a deliver time 3 s ahead (the client's `deliver_time_ms`, RocketMQ 5's
/// TIMER_DELIVER_MS); the producer recalls the first with the handle its send answered
/// (`recall_message`, RocketMQ 5.3). The other reaches the consumer once, at its time (rounded
/// down to the second, as the broker's timer does) and not before; the recalled one never does.
async fn timer(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientTimer";
    let selecting = Selecting::Tags("*");
    let group = "rust_client_timer";
    let mut m = sole_member(&rts[0], dev, topic, group, selecting, Reaction::Accept).await?;
    let result = async {
        let mut producer = started_producer(&rts[0], dev, "rust_client_timer_producer").await?;
        let at = unix_ms() + 3_000;
        let mut handles = Vec::new();
        let mut failure = None;
        for body in [&b"recalled"[..], b"timed"] {
            let built = Message::builder()
                .topic(topic)
                .body_slice(body)
                .deliver_time_ms(at)
                .build();
            match send_ok(&producer, built, None, "a timer message").await {
                Ok(r) => handles.push(r.recall_handle.clone()),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let recalled = match (failure, handles.first()) {
            (Some(f), _) => Err(f),
            (None, Some(Some(handle))) => producer
                .recall_message(topic, handle.as_str())
                .await
                .map_err(|e| format!("recall: {e}")),
            (None, other) => Err(format!(
                "the timer send answered no recall handle: {other:?}"
            )),
        };
        producer.shutdown().await;
        if recalled?.is_empty() {
            return Err("the recall answered no message id".into());
        }
        wait_for("the timer message", || !m.got().is_empty()).await?;
        let arrived = unix_ms();
        // The broker's settled time: rounded down to the second, an exact second one earlier.
        let due = (at - 1) / 1000 * 1000;
        if arrived < due {
            return Err(format!(
                "the timer message arrived {} ms early",
                due - arrived
            ));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = m.got();
        if got.len() != 1 || got[0].body != b"timed" {
            return Err(format!(
                "timer: want the unrecalled message once, got {got:?}"
            ));
        }
        Ok(())
    }
    .await;
    m.consumer.shutdown().await;
    result
}

/// ReconsumeLater: CONSUMER_SEND_MSG_BACK puts the message on %RETRY%group after delay level 3
/// (10 s), and the client gets it back once more with reconsumeTimes 1 and its fields intact.
async fn retry(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientRetry";
    let selecting = Selecting::Tags("*");
    let group = "rust_client_retry";
    let mut m = sole_member(&rts[0], dev, topic, group, selecting, Reaction::RetryFirst).await?;
    let result = async {
        send_all(&rts[0], dev, topic).await?;
        wait_for("the redelivery of #0", || m.got().len() > MESSAGES).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = m.got();
        let c = counts(&got, topic)?;
        let mut want = vec![1; MESSAGES];
        want[0] = 2;
        if c != want {
            return Err(format!("retry: delivery counts {c:?}, want {want:?}"));
        }
        let times: Vec<i32> = got
            .iter()
            .filter(|g| g.seq.as_deref() == Some("0"))
            .map(|g| g.reconsume_times)
            .collect();
        if times != vec![0, 1] {
            return Err(format!(
                "retry: reconsumeTimes of #0's deliveries {times:?}, want [0, 1]"
            ));
        }
        Ok(())
    }
    .await;
    m.consumer.shutdown().await;
    result
}

type Scenario =
    for<'a> fn(
        &'a [Arc<ClientRuntime>; 2],
        &'a CourierDev,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = HarnessResult<()>> + 'a>>;

/// The client's Tokio runtime, with room for a burst of listener calls.
///
/// The client runs each `consume_message` call on the runtime's metadata-io blocking lane, whose
/// queue defaults to 8 × the CPU count. On a 2-core machine that is 16 waiting calls: two
/// broadcasting consumers that each receive 40 messages at once overflow it, the client fails
/// those calls with `runtime.capacity.exhausted`, and — as RocketMQ does for broadcasting — drops
/// a message whose consumption failed. (Seen with `RUST_CLIENT_LOG=warn`; the broker had
/// delivered every message to both consumers.) A deeper queue keeps the test about the broker.
fn runtime_owner() -> HarnessResult<RuntimeOwner> {
    let mut config = RuntimeConfig::default();
    config.blocking_lane_policies.metadata_io.max_queue_depth = 4096;
    RuntimeOwner::plan(config)
        .map_err(|e| format!("client runtime config: {e:?}"))?
        .build()
        .map_err(|e| format!("client runtime owner: {e}"))
}

/// The client's admin API (what `mqadmin topicStatus` and `consumerProgress` ask): after a
/// clustering group consumed everything, the topic's queues add up to every message sent, each
/// non-empty queue has a last-update time, and the group's progress shows no lag.
async fn admin_statistics(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientAdminStats";
    create_topic(dev, topic)?;
    let group = "rust_client_admin_stats";
    let mut members = start_pair(rts, dev, group, "stats", topic, MessageModel::Clustering).await?;
    let consumed = async {
        send_all(&rts[0], dev, topic).await?;
        wait_for("every message to arrive", || {
            members.iter().map(|m| m.got().len()).sum::<usize>() >= MESSAGES
        })
        .await
    }
    .await;
    // Shutting down commits the consumed offsets to the broker.
    for m in &mut members {
        m.consumer.shutdown().await;
    }
    consumed?;

    let mut admin = started_admin(&rts[0], dev).await?;
    let result = async {
        let broker = dev.broker_addr.clone();
        let stats = admin
            .topic_stats_at(broker.clone().into(), topic.into())
            .await
            .map_err(|e| format!("admin: topic stats: {e}"))?;
        let table = stats.get_offset_table();
        let total: i64 = table.values().map(|o| o.get_max_offset()).sum();
        if table.len() != 4 || total != MESSAGES as i64 {
            return Err(format!(
                "topic stats: {} queues holding {total} messages, want 4 holding {MESSAGES}",
                table.len()
            ));
        }
        for (mq, o) in table {
            if o.get_max_offset() > 0 && o.get_last_update_timestamp() <= 0 {
                return Err(format!(
                    "topic stats: queue {} has no last-update time",
                    mq.queue_id()
                ));
            }
        }
        let progress = admin
            .examine_consume_stats(
                group.into(),
                Some(topic.into()),
                None,
                Some(broker.into()),
                None,
            )
            .await
            .map_err(|e| format!("admin: consume stats: {e}"))?;
        let consumed: i64 = progress
            .get_offset_table()
            .values()
            .map(|w| w.get_consumer_offset())
            .sum();
        if progress.get_offset_table().len() != 4
            || consumed != MESSAGES as i64
            || progress.compute_total_diff() != 0
        {
            return Err(format!(
                "consume stats: {} queues, {consumed} consumed, lag {}; want 4, {MESSAGES}, 0",
                progress.get_offset_table().len(),
                progress.compute_total_diff()
            ));
        }
        Ok(())
    }
    .await;
    admin.shutdown().await;
    result
}

/// mxsm's admin changes the broker's configuration while it runs (UPDATE_BROKER_CONFIG, what
/// `mqadmin updateBrokerConfig` sends: Java properties text) and reads it back (GET_BROKER_CONFIG).
/// A lower `maxMessageSize` refuses the producer's 2 KiB message at once, the old value lets it
/// through again, and a key the broker does not know is refused rather than ignored. A broker
/// that ignored the update would store the 2 KiB message; one without the code refuses it.
async fn broker_config_update(
    rts: &[Arc<ClientRuntime>; 2],
    dev: &CourierDev,
) -> HarnessResult<()> {
    let topic = "RustClientBrokerConfig";
    create_topic(dev, topic)?;
    let producer = started_producer(&rts[0], dev, "rust_client_config_producer").await?;
    let mut admin = started_admin(&rts[0], dev).await?;
    let broker = dev.broker_addr.clone();
    let result = async {
        fn limit<K: std::fmt::Display, V: std::fmt::Display>(
            config: &HashMap<K, V>,
        ) -> Option<String> {
            config
                .iter()
                .find(|(k, _)| k.to_string() == "maxMessageSize")
                .map(|(_, v)| v.to_string())
        }
        let read = async || {
            admin
                .get_broker_config(broker.clone().into())
                .await
                .map_err(|e| format!("admin: get broker config: {e}"))
        };
        let set = async |value: &str| {
            admin
                .update_broker_config(
                    broker.clone().into(),
                    HashMap::from([("maxMessageSize".into(), value.into())]),
                )
                .await
                .map_err(|e| format!("admin: update maxMessageSize={value}: {e}"))
        };
        let message = || {
            Message::builder()
                .topic(topic)
                .body_slice(&[b'x'; 2048])
                .build()
        };
        let before = limit(&read().await?);
        if before.as_deref() != Some("4194304") {
            return Err(format!(
                "maxMessageSize before the update: {before:?}, want 4194304"
            ));
        }
        set("1024").await?;
        let after = limit(&read().await?);
        if after.as_deref() != Some("1024") {
            return Err(format!(
                "maxMessageSize after the update: {after:?}, want 1024"
            ));
        }
        let msg = message().map_err(|e| format!("building the 2 KiB message: {e}"))?;
        match producer.send_with_timeout(msg, 5000).await {
            Ok(sent) => {
                return Err(format!(
                    "a 2 KiB message was stored with maxMessageSize 1024: {sent:?}"
                ))
            }
            // The client hides the broker's code; its error class says the broker refused it
            // (MESSAGE_ILLEGAL), not that no route or connection was found.
            Err(e) if e.to_string().contains("broker.operation.failed") => {}
            Err(e) => {
                return Err(format!(
                    "the 2 KiB message failed, but not at the broker: {e}"
                ))
            }
        }
        set("4194304").await?;
        send_ok(
            &producer,
            message(),
            None,
            "the 2 KiB message after the limit went back",
        )
        .await?;
        let unknown = admin
            .update_broker_config(
                broker.clone().into(),
                HashMap::from([("noSuchBrokerKey".into(), "1".into())]),
            )
            .await;
        if unknown.is_ok() {
            return Err("an unknown key was accepted".into());
        }
        Ok(())
    }
    .await;
    admin.shutdown().await;
    let mut producer = producer;
    producer.shutdown().await;
    result
}

/// mxsm's admin client, started against this scenario's name server.
async fn started_admin(
    rt: &Arc<ClientRuntime>,
    dev: &CourierDev,
) -> HarnessResult<DefaultMQAdminExt> {
    let mut admin = DefaultMQAdminExt::new(rt.clone());
    admin.set_namesrv_addr(dev.namesrv_addr.as_str());
    admin
        .start()
        .await
        .map_err(|e| format!("admin: start: {e}"))?;
    Ok(admin)
}

/// `courier mqadmin` run against this scenario's name server; its stdout, or why it failed.
async fn mqadmin(dev: &CourierDev, args: &[&str]) -> HarnessResult<String> {
    let bin = std::env::var("COURIER_BIN").map_err(|_| "COURIER_BIN is not set".to_string())?;
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("mqadmin")
        .args(args)
        .args(["-n", &dev.namesrv_addr]);
    // Blocking: the client answering the broker runs on the client runtime's threads meanwhile.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| format!("mqadmin: {e}"))?
        .map_err(|e| format!("mqadmin: {e}"))?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(format!(
            "mqadmin {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        ))
    }
}

/// Courier's `mqadmin consumerStatus`, `getConsumerStatus` and `queryMsgById -g -d` against this
/// client: the broker forwards GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY to it and
/// asks it GET_CONSUMER_STATUS_FROM_CLIENT, and what it answers (its running info in Java's
/// fastjson form, the offsets it holds, its listener's verdict on one message handed to it again)
/// comes back through the broker to Courier's admin.
async fn consumer_status(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientStatus";
    create_topic(dev, topic)?;
    let group = "rust_client_status";
    let mut member = start_member(
        &rts[0],
        dev,
        group,
        "status-1",
        topic,
        Selecting::Tags("*"),
        MessageModel::Clustering,
        Reaction::Accept,
        None,
    )
    .await?;
    let result = async {
        let ids = send_all(&rts[1], dev, topic).await?;
        wait_for("every message to arrive", || member.got().len() >= MESSAGES).await?;
        let status = mqadmin(dev, &["consumer-status", "-g", group, "--json"]).await?;
        let v: serde_json::Value =
            serde_json::from_str(&status).map_err(|e| format!("consumer-status JSON: {e}: {status}"))?;
        let client = &v["clients"][0];
        let info = &client["info"];
        let queues = info["mqTable"].as_array().map_or(0, |t| {
            t.iter().filter(|q| q["topic"] == topic).count()
        });
        let subscribed = info["subscriptionSet"]
            .as_array()
            .is_some_and(|s| s.iter().any(|d| d["topic"] == topic));
        if queues != 4 || !subscribed {
            return Err(format!("consumer-status: {queues} queues of {topic}, subscribed {subscribed}; want 4 and true: {status}"));
        }
        let client_id = client["clientId"].as_str().unwrap_or_default().to_string();
        // The offsets it holds (INVOKE_BROKER_TO_GET_CONSUMER_STATUS, answered by mxsm's client
        // to the broker's GET_CONSUMER_STATUS_FROM_CLIENT): one per queue of the topic. Offsets
        // are kept once a queue is pulled, so all four are there after every message arrived.
        let held = mqadmin(dev, &["getConsumerStatus", "-g", group, "-t", topic, "--json"]).await?;
        let v: serde_json::Value = serde_json::from_str(&held)
            .map_err(|e| format!("getConsumerStatus JSON: {e}: {held}"))?;
        let queues = v["clients"][client_id.as_str()].as_array().map_or(0, Vec::len);
        if queues != 4 {
            return Err(format!("getConsumerStatus: {queues} queues held by {client_id}, want 4: {held}"));
        }
        let one = ids.offset_ids.iter().next().cloned().unwrap_or_default();
        let verdict = mqadmin(
            dev,
            &["query-msg-by-id", "-i", &one, "-g", group, "-d", &client_id],
        )
        .await?;
        if !verdict.contains("CR_SUCCESS") {
            return Err(format!("direct consumption: {verdict}"));
        }
        wait_for("the message handed over again", || {
            member.got().len() == MESSAGES + 1
        })
        .await
    }
    .await;
    member.consumer.shutdown().await;
    result
}

/// A server-side offset reset (INVOKE_BROKER_TO_RESET_OFFSET, what RocketMQ 5's
/// `mqadmin resetOffsetByTime` sends) rewinds a running clustering group: the client follows the
/// PULL_OFFSET_MOVED its next pulls get, and every message is delivered again.
async fn reset_rewinds(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientReset";
    create_topic(dev, topic)?;
    let group = "rust_client_reset";
    let mut members = start_pair(rts, dev, group, "reset", topic, MessageModel::Clustering).await?;
    let result = async {
        wait_assigned(&members, 2, "the two consumers to split the 4 queues").await?;
        send_all(&rts[0], dev, topic).await?;
        let total = || members.iter().map(|m| m.got().len()).sum::<usize>();
        wait_for("every message to arrive", || total() >= MESSAGES).await?;
        reset_offset(dev, group, topic, 0)?;
        wait_for("every message to arrive again", || total() >= 2 * MESSAGES).await?;
        let all: Vec<Got> = members.iter().flat_map(|m| m.got()).collect();
        let c = counts(&all, topic)?;
        if c.iter().any(|n| *n < 2) {
            return Err(format!(
                "reset: per-message delivery counts {c:?}, want each at least 2"
            ));
        }
        Ok(())
    }
    .await;
    for m in &mut members {
        m.consumer.shutdown().await;
    }
    result
}

/// How many requests the request-reply scenario makes, one after another.
const REQUESTS: usize = 8;
/// How long the responder holds each reply before sending it (see `ask_and_answer`).
const REPLY_AFTER: Duration = Duration::from_millis(250);
/// The reply topic of `courier dev`'s cluster (`<cluster>_REPLY_TOPIC`); every broker creates it.
const REPLY_TOPIC: &str = "DefaultCluster_REPLY_TOPIC";

/// What mxsm's `request` returns. (The trait is not imported: in scope, its `property` would
/// shadow the `&str` one of `MessageExt` the listeners use.)
type ReplyMessage = Box<dyn rocketmq_model::common::message::MessageTrait + Send>;

/// The replies a requester's `request` calls returned, each with its request's body, and what the
/// responder read on each request it answered: body → CORRELATION_ID.
type Exchanged = (Vec<(String, ReplyMessage)>, HashMap<String, Option<String>>);

/// `requester` asks `q0`..`q7` on `topic`, one `request` at a time, while every reply the
/// responder's listener hands over on `to_send` goes out through `replier`.
async fn ask_and_answer(
    requester: &DefaultMQProducer,
    replier: &DefaultMQProducer,
    topic: &str,
    to_send: &mut tokio::sync::mpsc::UnboundedReceiver<ReplyTo>,
) -> HarnessResult<Exchanged> {
    let mut read = HashMap::new();
    let replying = async {
        while let Some(r) = to_send.recv().await {
            let what = format!("the reply to {:?}", r.request_body);
            read.insert(r.request_body, r.correlation_id);
            // mxsm's `request` 1.0.0 loses a reply that arrives before it starts waiting: the
            // reply is stored, but its wake-up (`Notify::notify_waiters`) keeps no permit, so the
            // request times out holding it. On a loaded machine the requester's task can still
            // be between its send and its wait when Courier pushes the reply (the scenario failed
            // about one run in eight beside two busy loops). Replying a little later keeps the
            // check on Courier's part, which is pushing every reply to its own requester.
            tokio::time::sleep(REPLY_AFTER).await;
            send_ok(replier, r.reply, None, &what).await?;
        }
        Err::<(), String>("the responder's listener went away".into())
    };
    let requesting = async {
        let mut answers = Vec::new();
        for i in 0..REQUESTS {
            let asked = format!("q{i}");
            let msg = Message::builder()
                .topic(topic)
                .body_slice(asked.as_bytes())
                .build()
                .map_err(|e| format!("building request {asked}: {e}"))?;
            // On a broker without request-reply no reply ever comes back: this times out.
            let reply = requester
                .request(msg, 10_000)
                .await
                .map_err(|e| format!("request {asked}: {e}"))?;
            answers.push((asked, reply));
        }
        Ok(answers)
    };
    // The replying loop only ends on a failure; the requests decide when this is done.
    let answers = tokio::select! {
        answers = requesting => answers,
        Err(e) = replying => Err(e),
    }?;
    Ok((answers, read))
}

/// RocketMQ request-reply: a requester's `request` sends `q0`..`q7` to a fresh topic, one at a
/// time, each waiting for its reply. A responder group (on the other runtime, as another process)
/// builds each reply with `MessageUtil::create_reply_message` — which needs the CLUSTER property
/// the broker stores on the request — and a producer of the responder's sends it (the client's
/// SEND_REPLY_MESSAGE_V2). The broker pushes it to the requester's connection
/// (PUSH_REPLY_MESSAGE_TO_CLIENT): each request must return its own reply, body `re: q<i>`, on
/// the cluster's reply topic, carrying the CORRELATION_ID the responder read on the request.
/// A broker without request-reply never pushes a reply, so the first request times out.
async fn request_reply(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientRequest";
    let (replies, mut to_send) = tokio::sync::mpsc::unbounded_channel();
    let selecting = Selecting::Tags("*");
    let group = "rust_client_responder";
    let reaction = Reaction::Reply(replies);
    let mut m = sole_member(&rts[1], dev, topic, group, selecting, reaction).await?;
    let result = async {
        let mut replier = started_producer(&rts[1], dev, "rust_client_replier").await?;
        let requester = started_producer(&rts[0], dev, "rust_client_requester").await;
        let exchanged = match &requester {
            Ok(requester) => ask_and_answer(requester, &replier, topic, &mut to_send).await,
            Err(e) => Err(e.clone()),
        };
        if let Ok(mut requester) = requester {
            requester.shutdown().await;
        }
        replier.shutdown().await;
        let (answers, read) = exchanged?;
        for (asked, reply) in &answers {
            let body = reply
                .get_body()
                .map(|b| String::from_utf8_lossy(b).into_owned());
            let want = format!("re: {asked}");
            if body.as_deref() != Some(want.as_str()) {
                return Err(format!(
                    "request {asked} returned a reply with body {body:?}, want {want:?}: {reply:?}"
                ));
            }
            if reply.topic().as_str() != REPLY_TOPIC {
                return Err(format!(
                    "the reply to {asked} came on topic {}, want {REPLY_TOPIC}",
                    reply.topic()
                ));
            }
            let correlation = reply.get_properties().get("CORRELATION_ID");
            let correlation = correlation.map(|c| c.as_str());
            match read.get(asked) {
                None => {
                    return Err(format!(
                        "request {asked} was answered, but the responder never saw it"
                    ))
                }
                Some(None) => {
                    return Err(format!(
                        "the responder read no CORRELATION_ID on request {asked}"
                    ))
                }
                Some(Some(id)) if correlation != Some(id.as_str()) => {
                    return Err(format!(
                        "the reply to {asked} carries CORRELATION_ID {correlation:?}, \
                         but the request carried {id:?}"
                    ))
                }
                Some(Some(_)) => {}
            }
        }
        let ids: HashSet<_> = read.values().collect();
        if ids.len() != REQUESTS || read.len() != REQUESTS {
            return Err(format!(
                "want {REQUESTS} requests with distinct CORRELATION_IDs at the responder, \
                 it read {read:?}"
            ));
        }
        Ok(())
    }
    .await;
    m.consumer.shutdown().await;
    result
}

/// Keys of the orderly scenario and messages per key; each key's messages go to one queue.
const ORDER_KEYS: usize = 8;
const PER_KEY: usize = 20;
/// How many messages of each key go out before the second member joins: 30 a queue, 1.5 s of
/// work for the first member. Its rebalance (about 0.5 s after the second member started) and
/// the second member's first lock requests (mxsm rebalances at most once a second, counting from
/// its start) both find it still busy.
const BEFORE_JOIN: usize = 15;

/// Sends message `seq` of every key for each `seq` of `seqs` (key after key, so two keys
/// interleave on each queue), body `k<key>-<seq>`, message key `k<key>` and a `seq` property,
/// by mxsm's selector send; records the queue each key's sends landed on in `placed`.
async fn send_keyed(
    producer: &DefaultMQProducer,
    topic: &str,
    seqs: std::ops::Range<usize>,
    placed: &mut HashMap<usize, HashSet<i32>>,
) -> HarnessResult<()> {
    for seq in seqs {
        for key in 0..ORDER_KEYS {
            let what = format!("k{key}-{seq}");
            let built = Message::builder()
                .topic(topic)
                .keys(vec![format!("k{key}")])
                .body_slice(what.as_bytes())
                .raw_property("seq", seq.to_string())
                .and_then(|b| b.build());
            let sent = send_ok(producer, built, Some(key), &what).await?;
            let queue = sent.message_queue.map_or(-1, |q| q.queue_id());
            placed.entry(key).or_default().insert(queue);
        }
    }
    Ok(())
}

/// The key and sequence number of an orderly message, checked against its body.
fn key_seq(got: &Got) -> HarnessResult<(usize, usize)> {
    let key = got
        .keys
        .as_ref()
        .and_then(|k| k.first())
        .and_then(|k| k.strip_prefix('k'))
        .and_then(|k| k.parse::<usize>().ok());
    let seq = got.seq.as_deref().and_then(|s| s.parse::<usize>().ok());
    match (key, seq) {
        (Some(k), Some(s))
            if k < ORDER_KEYS && s < PER_KEY && got.body == format!("k{k}-{s}").as_bytes() =>
        {
            Ok((k, s))
        }
        _ => Err(format!("orderly: an unexpected message: {got:?}")),
    }
}

/// Checks the orderly listener calls of both members, queue by queue in the order they started:
/// no call starts before the previous one on its queue ended, whichever member made them; each
/// key arrives on one queue, in sequence from #0 to its last message, each message once (and at
/// increasing queue offsets). The one repeat allowed: when a queue changes hands, the new owner
/// may first get again what the old owner's last call on it got — mxsm, like RocketMQ's Java
/// client, does not commit the offset of a batch that was being consumed while its queue was
/// dropped in a rebalance, so that batch is redelivered to the next owner. Returns the queues
/// that changed hands.
fn check_orderly(calls: &[OrderlyCall]) -> HarnessResult<BTreeSet<i32>> {
    let Some(origin) = calls.iter().map(|c| c.start).min() else {
        return Err("orderly: the listener was never called".into());
    };
    let ms = |t: Instant| t.duration_since(origin).as_secs_f64() * 1000.0;
    let mut by_queue: BTreeMap<i32, Vec<&OrderlyCall>> = BTreeMap::new();
    for c in calls {
        by_queue.entry(c.queue_id).or_default().push(c);
    }
    let mut queue_of_key: HashMap<usize, i32> = HashMap::new();
    let mut next = [0; ORDER_KEYS];
    let mut handed_over = BTreeSet::new();
    for (queue, mut calls) in by_queue {
        calls.sort_by_key(|c| c.start);
        let mut previous: Option<&OrderlyCall> = None;
        // What the current owner may get again: the previous owner's last call.
        let mut repeatable: Vec<(usize, usize)> = Vec::new();
        let mut last_offset = -1;
        for c in calls {
            if let Some(p) = previous {
                if c.start < p.end {
                    return Err(format!(
                        "orderly: on queue {queue}, a call of {} ({:.1}..{:.1} ms) began before \
                         the previous call of {} ({:.1}..{:.1} ms) ended",
                        c.member,
                        ms(c.start),
                        ms(c.end),
                        p.member,
                        ms(p.start),
                        ms(p.end)
                    ));
                }
                if c.member != p.member {
                    handed_over.insert(queue);
                    repeatable = p.got.iter().map(key_seq).collect::<HarnessResult<_>>()?;
                }
            }
            for g in &c.got {
                let (k, s) = key_seq(g)?;
                let home = *queue_of_key.entry(k).or_insert(queue);
                if home != queue {
                    return Err(format!(
                        "orderly: key k{k} arrived on queues {home} and {queue}"
                    ));
                }
                if s == next[k] && g.queue_offset > last_offset {
                    next[k] += 1;
                    last_offset = g.queue_offset;
                    repeatable.clear();
                } else if let Some(i) = repeatable.iter().position(|&m| m == (k, s)) {
                    repeatable.remove(i);
                } else {
                    return Err(format!(
                        "orderly: {} got k{k}-{s} (queue {queue} offset {}) at {:.1} ms; want \
                         k{k}-{} next, above offset {last_offset}",
                        c.member,
                        g.queue_offset,
                        ms(c.start),
                        next[k]
                    ));
                }
            }
            previous = Some(c);
        }
    }
    if let Some(k) = next.iter().position(|&n| n != PER_KEY) {
        return Err(format!(
            "orderly: key k{k} got #0..#{} of its {PER_KEY} messages",
            next[k]
        ));
    }
    Ok(handed_over)
}

/// An orderly clustering group: with mxsm's `MessageListenerOrderly` the client pulls a queue only
/// once the broker granted it the queue's lock (LOCK_BATCH_MQ, renewed every 20 s) and gives it
/// back with UNLOCK_BATCH_MQ. 8 keys × 20 messages, each key on one queue by the selector send.
/// The first member owns all 4 queues and works through the first 15 of each key, 50 ms a call.
/// Once it has consumed from every queue, a second member joins on its own runtime, claiming all
/// 4 queues (mxsm's `AllocateMessageQueueByConfig`, as a member with a stale view of the group
/// would): the first member gives up 2 queues mid-stream and keeps 2, so only the broker's
/// locks stand between the newcomer and the 2 queues the first member is still consuming — it
/// must get the 2 given up (once the first member let go of them) and never the other 2. Then
/// the last 5 of each key go out. `check_orderly` says what else must hold.
async fn orderly(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientOrderly";
    let group = "rust_client_orderly";
    let second = format!("{group}-2");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let all = Selecting::Tags("*");
    let reaction = Reaction::InOrder(calls.clone());
    let mut members = vec![sole_member(&rts[0], dev, topic, group, all, reaction).await?];
    let result = async {
        let mut producer = started_producer(&rts[0], dev, "rust_client_orderly_producer").await?;
        let mut placed = HashMap::new();
        let sent = async {
            send_keyed(&producer, topic, 0..BEFORE_JOIN, &mut placed).await?;
            wait_for("the first member to consume from every queue", || {
                let queues: HashSet<i32> = members[0].got().iter().map(|g| g.queue_id).collect();
                queues.len() == 4
            })
            .await?;
            let queues = members[0]
                .consumer
                .fetch_subscribe_message_queues(topic)
                .await
                .map_err(|e| format!("fetching the queues of {topic}: {e}"))?;
            let model = MessageModel::Clustering;
            let reaction = Reaction::InOrder(calls.clone());
            let claim = Some(queues);
            let newcomer = start_member(
                &rts[1], dev, group, &second, topic, all, model, reaction, claim,
            );
            members.push(newcomer.await?);
            // Once the first member kept 2 queues it has unlocked the other 2. (The newcomer's
            // count is no sign: mxsm reports its claim under whichever subscribed topic it
            // rebalanced first, which may be the group's retry topic.)
            wait_for("the first member to give up 2 queues", || {
                members[0].assigned.load(Ordering::SeqCst) == 2
            })
            .await?;
            send_keyed(&producer, topic, BEFORE_JOIN..PER_KEY, &mut placed).await
        }
        .await;
        producer.shutdown().await;
        sent?;
        if let Some((k, queues)) = placed.iter().find(|(_, q)| q.len() != 1) {
            return Err(format!(
                "orderly: the sends of key k{k} went to queues {queues:?}"
            ));
        }
        wait_for("every message to arrive", || {
            let bodies: HashSet<Vec<u8>> = members
                .iter()
                .flat_map(|m| m.got())
                .map(|g| g.body)
                .collect();
            bodies.len() >= ORDER_KEYS * PER_KEY
        })
        .await?;
        // Let late duplicates show up before checking.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let calls = calls.lock().unwrap_or_else(|p| p.into_inner());
        let handed_over = check_orderly(&calls)?;
        let taken: BTreeSet<i32> = calls
            .iter()
            .filter(|c| c.member == second)
            .map(|c| c.queue_id)
            .collect();
        if handed_over.len() != 2 || taken != handed_over {
            return Err(format!(
                "orderly: queues {handed_over:?} changed hands and the second member consumed \
                 from {taken:?}; want the 2 queues the first member gave up in both, and none of \
                 the 2 it kept (locked by the first member, though the second claimed them)"
            ));
        }
        Ok(())
    }
    .await;
    // The claiming member first: it would take the other's queues once they are unlocked.
    for m in members.iter_mut().rev() {
        m.consumer.shutdown().await;
    }
    result
}

/// The user property that tells the transactions scenario's local transactions what to answer.
const PLAN: &str = "plan";
/// How many transactional messages the transactions scenario sends: #0..#7, two of each plan.
const TRANSACTIONS: usize = 8;
/// How long the transactions scenario waits for the check-backs after its last send. `courier
/// dev` runs the broker's defaults: a check pass every 30 s (`transactionCheckInterval`) from the
/// broker's start, a half older than 6 s (`transactionTimeOut`) checked. The sends end a few
/// seconds after the start, so the first pass checks them; should it find no producer of the
/// group registered yet (a producer heartbeats every 30 s), the next pass, 30 s later, does.
const CHECK_BACK_WITHIN: Duration = Duration::from_secs(75);

/// What the transactions scenario's producer does with a message, named by its `plan` property.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Plan {
    /// The local transaction commits: the message is visible at once.
    Commit,
    /// The local transaction rolls back: never visible.
    Rollback,
    /// The local transaction answers UNKNOW; the broker's check-back is answered COMMIT.
    CheckCommits,
    /// The local transaction answers UNKNOW; the broker's check-back is answered ROLLBACK.
    CheckRollsBack,
}

impl Plan {
    const ALL: [Plan; 4] = [
        Plan::Commit,
        Plan::Rollback,
        Plan::CheckRollsBack,
        Plan::CheckCommits,
    ];

    /// Message #`i`'s plan. #7 (`BIG_INDEX`, the compressed body) is committed by a check-back.
    fn of(i: usize) -> Plan {
        Plan::ALL[i % Plan::ALL.len()]
    }

    fn name(self) -> &'static str {
        match self {
            Plan::Commit => "commit",
            Plan::Rollback => "rollback",
            Plan::CheckCommits => "unknown-then-commit",
            Plan::CheckRollsBack => "unknown-then-rollback",
        }
    }

    fn named(name: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.name() == name)
    }

    /// What the local transaction answers right after the half message was stored.
    fn executed(self) -> LocalTransactionState {
        match self {
            Plan::Commit => LocalTransactionState::CommitMessage,
            Plan::Rollback => LocalTransactionState::RollbackMessage,
            Plan::CheckCommits | Plan::CheckRollsBack => LocalTransactionState::Unknown,
        }
    }

    /// What a check-back is answered: the transaction's final outcome.
    fn checked(self) -> LocalTransactionState {
        match self {
            Plan::Commit | Plan::CheckCommits => LocalTransactionState::CommitMessage,
            Plan::Rollback | Plan::CheckRollsBack => LocalTransactionState::RollbackMessage,
        }
    }

    fn undecided(self) -> bool {
        self.executed() == LocalTransactionState::Unknown
    }

    fn visible(self) -> bool {
        self.checked() == LocalTransactionState::CommitMessage
    }
}

/// mxsm's `TransactionListener` of the transactions scenario: both the local transaction and the
/// check-back answer as the message's `plan` property says (a message without one stays
/// undecided); every check-back is recorded.
struct LocalTransactions {
    checks: Arc<Mutex<Vec<Got>>>,
}

impl TransactionListener for LocalTransactions {
    fn execute_local_transaction(
        &self,
        msg: &dyn rocketmq_model::common::message::MessageTrait,
        _arg: Option<&(dyn std::any::Any + Send + Sync)>,
    ) -> LocalTransactionState {
        let plan = msg.get_properties().get(PLAN).and_then(|p| Plan::named(p));
        plan.map_or(LocalTransactionState::Unknown, Plan::executed)
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let got = Got::of(msg);
        let plan = got.plan.as_deref().and_then(Plan::named);
        self.checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(got);
        plan.map_or(LocalTransactionState::Unknown, Plan::checked)
    }
}

/// The numbers of the transactions scenario's messages whose plan `keep` selects.
fn planned(keep: fn(Plan) -> bool) -> BTreeSet<usize> {
    (0..TRANSACTIONS).filter(|&i| keep(Plan::of(i))).collect()
}

/// The message numbers in `msgs` (those without a valid `seq` are left out; `counts` names them).
fn seqs(msgs: &[Got]) -> BTreeSet<usize> {
    msgs.iter()
        .filter_map(|g| g.seq.as_deref()?.parse().ok())
        .collect()
}

/// What a transactional send answered: the message's UNIQ_KEY and the queue of its half message
/// (where the broker commits it).
struct SentTransaction {
    uniq_key: String,
    queue_id: i32,
}

/// Sends the transactions scenario's messages through `send_message_in_transaction`; each must
/// answer SEND_OK with its plan's local transaction state.
async fn send_transactions(
    producer: &TransactionMQProducer,
    topic: &str,
) -> HarnessResult<Vec<SentTransaction>> {
    let mut sent = Vec::new();
    for i in 0..TRANSACTIONS {
        let plan = Plan::of(i);
        let msg = numbered_message(topic, i, &[(PLAN, plan.name())])
            .map_err(|e| format!("building transactional message #{i}: {e}"))?;
        let answer = producer
            .send_message_in_transaction(msg, None::<()>)
            .await
            .map_err(|e| format!("transactional send #{i} ({}): {e}", plan.name()))?;
        let result = match (&answer.send_result, answer.local_transaction_state) {
            (Some(r), Some(state))
                if r.send_status == rocketmq_client_rust::SendStatus::SendOk
                    && state == plan.executed() =>
            {
                r
            }
            _ => {
                return Err(format!(
                    "transactional send #{i} ({}) answered {answer:?}; want SEND_OK and local \
                     state {}",
                    plan.name(),
                    plan.executed()
                ))
            }
        };
        sent.push(SentTransaction {
            uniq_key: result
                .msg_id
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_default(),
            queue_id: result.message_queue.as_ref().map_or(-1, |q| q.queue_id()),
        });
    }
    Ok(sent)
}

/// Checks what arrived (at the consumer or in a check-back) against the sends: every field
/// `check` knows, the `plan` property, the UNIQ_KEY the send returned and the queue it named;
/// `want` says which message numbers must appear, each once.
fn check_transactional(
    msgs: &[Got],
    topic: &str,
    sent: &[SentTransaction],
    want: &BTreeSet<usize>,
    what: &str,
) -> HarnessResult<()> {
    let c = counts(msgs, topic).map_err(|e| format!("{what}: {e}"))?;
    let wanted: Vec<usize> = (0..MESSAGES)
        .map(|i| usize::from(want.contains(&i)))
        .collect();
    if c != wanted {
        let plans: Vec<String> = (0..TRANSACTIONS)
            .map(|i| format!("#{i} {}", Plan::of(i).name()))
            .collect();
        return Err(format!(
            "{what}: counts per message {:?}, want {:?} (plans: {})",
            &c[..TRANSACTIONS],
            &wanted[..TRANSACTIONS],
            plans.join(", ")
        ));
    }
    for g in msgs {
        let i = check(g, topic)?;
        let s = &sent[i];
        if g.plan.as_deref() != Some(Plan::of(i).name())
            || g.uniq_key.as_deref() != Some(s.uniq_key.as_str())
            || g.queue_id != s.queue_id
        {
            return Err(format!(
                "{what}: message #{i} lost its plan property, UNIQ_KEY or queue (the send \
                 returned {} on queue {}): {g:?}",
                s.uniq_key, s.queue_id
            ));
        }
    }
    Ok(())
}

/// RocketMQ transactional messages through mxsm's `TransactionMQProducer`: 8 messages to a fresh
/// topic, each a half message (TRAN_MSG, PGROUP, sysFlag TRANSACTION_PREPARED) whose local
/// transaction then answers by its `plan` property — 2 COMMIT_MESSAGE, 2 ROLLBACK_MESSAGE
/// (END_TRANSACTION right after the send), 4 UNKNOW. The broker checks each undecided one back
/// (CHECK_TRANSACTION_STATE to the producer, once it is older than `transactionTimeOut`, at the
/// next check pass); `check_local_transaction` answers COMMIT for 2 of them (one with the
/// compressed body) and ROLLBACK for the other 2. A consumer owning the topic must get the 2
/// committed ones at once and nothing else before the check-backs, then the 2 committed by a
/// check-back, each once with its body, properties and queue (no TRAN_MSG left), and none rolled
/// back. Each undecided message is checked back once, the decided ones never; the message a
/// check-back hands to `check_local_transaction` has its body and properties, and — as
/// RocketMQ's broker restores REAL_TOPIC and REAL_QID before sending it — its real topic and
/// queue. This waits for the broker's first check pass, about 30 s after its start.
async fn transactions(rts: &[Arc<ClientRuntime>; 2], dev: &CourierDev) -> HarnessResult<()> {
    let topic = "RustClientTransactions";
    let selecting = Selecting::Tags("*");
    let group = "rust_client_transactions";
    let mut m = sole_member(&rts[0], dev, topic, group, selecting, Reaction::Accept).await?;
    let checks = Arc::new(Mutex::new(Vec::new()));
    let checked = || checks.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let result = async {
        // On the other runtime, as another process would be.
        let mut producer = TransactionMQProducer::builder(rts[1].clone())
            .producer_group("rust_client_transaction_producer")
            .name_server_addr(dev.namesrv_addr.clone())
            .transaction_listener(LocalTransactions {
                checks: checks.clone(),
            })
            .build();
        producer
            .start()
            .await
            .map_err(|e| format!("transaction producer start: {e}"))?;
        let outcome = async {
            let sent = send_transactions(&producer, topic).await?;
            let sent_at = Instant::now();
            let committed = planned(|p| p == Plan::Commit);
            wait_for("the messages committed by their sends", || {
                seqs(&m.got()).is_superset(&committed)
            })
            .await?;
            let early = m.got();
            if seqs(&early) != committed {
                return Err(format!(
                    "before any check-back the consumer got #{:?}, want only #{committed:?} \
                     (committed by their sends): {early:?}",
                    seqs(&early)
                ));
            }
            let undecided = planned(Plan::undecided);
            let what = "a check-back of each undecided transaction";
            wait_for_within(CHECK_BACK_WITHIN, what, || {
                seqs(&checked()).is_superset(&undecided)
            })
            .await
            .map_err(|e| {
                format!(
                    "{e}: check_local_transaction saw #{:?} of #{undecided:?}",
                    seqs(&checked())
                )
            })?;
            let checked_after = sent_at.elapsed().as_secs_f64();
            let visible = planned(Plan::visible);
            wait_for("the messages committed by a check-back", || {
                seqs(&m.got()).is_superset(&visible)
            })
            .await?;
            // Let anything rolled back, late or duplicated show up before checking.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let got = m.got();
            check_transactional(&got, topic, &sent, &visible, "consumer")?;
            if let Some(g) = got.iter().find(|g| g.tran_msg.is_some()) {
                return Err(format!("a committed message still carries TRAN_MSG: {g:?}"));
            }
            // Where each check-back said its message was, checked last (below); the rest of
            // it first, as if it named the real place.
            let checks = checked();
            let mut misplaced = Vec::new();
            let mut placed = Vec::new();
            for g in checks {
                let real = g.seq.as_deref().and_then(|s| s.parse::<usize>().ok());
                let real = real.and_then(|i| sent.get(i)).map_or(-1, |s| s.queue_id);
                if g.topic != topic || g.queue_id != real {
                    misplaced.push(format!(
                        "#{} on {} queue {} (sent to {topic} queue {real})",
                        g.seq.as_deref().unwrap_or("?"),
                        g.topic,
                        g.queue_id
                    ));
                }
                placed.push(Got {
                    topic: topic.to_string(),
                    queue_id: real,
                    ..g
                });
            }
            check_transactional(&placed, topic, &sent, &undecided, "check-backs")
                .map_err(|e| format!("{e} (checked back {checked_after:.1} s after the sends)"))?;
            if !misplaced.is_empty() {
                return Err(format!(
                    "every delivery and every check-back's body, properties and count were \
                     right, but check_local_transaction got its messages on another topic or \
                     queue than they were sent to: {}. RocketMQ's broker puts a half message's \
                     REAL_TOPIC and REAL_QID back before it sends CHECK_TRANSACTION_STATE \
                     (checked back {checked_after:.1} s after the sends)",
                    misplaced.join(", ")
                ));
            }
            Ok(())
        }
        .await;
        producer.shutdown().await;
        outcome
    }
    .await;
    m.consumer.shutdown().await;
    result
}

/// One scenario on a fresh server and two fresh client runtimes: the second member of a group
/// gets its own runtime (its own connection pool and client instance), as a second process would.
fn run(name: &'static str, scenario: Scenario) -> HarnessResult<()> {
    let dev = CourierDev::start()?;
    let owner = runtime_owner()?;
    let telemetry = TelemetryRuntimeGuard::noop();
    let runtimes = [name, "second-member"].map(|scope| {
        ClientRuntime::try_new(
            owner.root_context().component(scope),
            ClientRuntimeConfig::default(),
            telemetry.handle(),
        )
    });
    let outcome = match runtimes {
        [Ok(a), Ok(b)] => owner.block_on(async {
            let rts = [a, b];
            let r = scenario(&rts, &dev).await;
            for rt in &rts {
                let report = rt.shutdown().await;
                if r.is_ok() && !report.is_healthy() {
                    return Err(format!("client runtime shutdown: {}", report.to_json()));
                }
            }
            r
        }),
        [Err(e), _] | [_, Err(e)] => Err(format!("client runtime: {e}")),
    };
    let _ = owner.shutdown_runtime_blocking();
    let log = dev.log();
    let status = dev.stop()?;
    let outcome = outcome.and_then(|()| {
        if status.success() {
            Ok(())
        } else {
            Err(format!("courier dev did not shut down cleanly ({status})"))
        }
    });
    outcome.map_err(|e| format!("{e}\n--- courier dev log tail ---\n{log}"))
}

fn main() -> ExitCode {
    // The client logs through `tracing`; RUST_CLIENT_LOG (an EnvFilter, e.g. `info`) shows them.
    if let Ok(filter) = std::env::var("RUST_CLIENT_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .init();
    }
    // The broadcasting offset store writes under $HOME unless told otherwise; keep it in a
    // temporary directory. Set before any client thread exists.
    let offsets = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("creating the offset-store dir: {e}");
            return ExitCode::FAILURE;
        }
    };
    std::env::set_var("rocketmq.client.localOffsetStoreDir", offsets.path());

    let scenarios: [(&'static str, Scenario); 13] = [
        ("clustering_two_consumers_each_message_once", |rts, dev| {
            Box::pin(clustering(rts, dev))
        }),
        ("broadcasting_two_consumers_every_message", |rts, dev| {
            Box::pin(broadcasting(rts, dev))
        }),
        ("tag_subscription_sees_only_its_tag", |rts, dev| {
            Box::pin(tag_filter(rts, dev))
        }),
        ("sql92_selector_sees_only_what_it_selects", |rts, dev| {
            Box::pin(sql92_filter(rts, dev))
        }),
        (
            "timer_message_arrives_at_its_deliver_time_a_recalled_one_never",
            |rts, dev| Box::pin(timer(rts, dev)),
        ),
        (
            "reconsume_later_comes_back_through_retry_topic",
            |rts, dev| Box::pin(retry(rts, dev)),
        ),
        ("admin_topic_status_and_consumer_progress", |rts, dev| {
            Box::pin(admin_statistics(rts, dev))
        }),
        (
            "courier_mqadmin_asks_the_running_consumer_through_the_broker",
            |rts, dev| Box::pin(consumer_status(rts, dev)),
        ),
        ("admin_changes_the_running_broker_config", |rts, dev| {
            Box::pin(broker_config_update(rts, dev))
        }),
        (
            "server_side_offset_reset_rewinds_a_running_group",
            |rts, dev| Box::pin(reset_rewinds(rts, dev)),
        ),
        (
            "request_reply_each_request_returns_its_own_reply",
            |rts, dev| Box::pin(request_reply(rts, dev)),
        ),
        (
            "orderly_consumption_keeps_each_queue_in_order",
            |rts, dev| Box::pin(orderly(rts, dev)),
        ),
        (
            "transactional_messages_commit_roll_back_and_check_back",
            |rts, dev| Box::pin(transactions(rts, dev)),
        ),
    ];
    // As with libtest, a free argument runs only the scenarios whose name contains it
    // (`cargo test -- broadcasting`); flags cargo passes (`--nocapture` ...) are ignored.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut failed = 0;
    let mut ran = 0;
    for (name, scenario) in scenarios {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let started = Instant::now();
        let outcome = run(name, scenario);
        match outcome {
            Ok(()) => println!(
                "test {name} ... ok ({:.1} s)",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED\n{e}");
            }
        }
    }
    println!(
        "test result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        ran - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
