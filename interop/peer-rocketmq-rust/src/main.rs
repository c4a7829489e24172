//! Manual interop check: Courier's own client (`courier-client`) against a server Courier did not
//! write — the crates.io rocketmq-rust name server and broker — so that the client is not only
//! ever tested against Courier's own reading of the protocol.
//!
//! Usage: `courier-peer-rocketmq-rust NAMESRV_ADDR` (interop/peer-rocketmq-rust.sh starts the peer
//! and runs this). Each check runs on its own topic and groups and prints one line, `ok` or
//! `FAIL <reason>`; the process exits 1 if any check failed. Checks do not stop at the first
//! failure, so one run shows everything that works and everything that does not.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_client::{
    Admin, ConsumeFromWhere, ConsumeResult, LocalTransactionState, Message, MessageExt,
    MessageModel, Producer, PullConsumer, PullStatus, PushConsumer, SendStatus,
};

/// What one consumer's listener has received so far.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<MessageExt>>>);

impl Shared {
    fn push_all(&self, msgs: Vec<MessageExt>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(msgs);
    }
    fn snapshot(&self) -> Vec<MessageExt> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

type CheckResult = Result<String, String>;

const MESSAGES: usize = 20;
const ORIGIN: &str = "courier-client";

fn tag_of(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "TagA"
    } else {
        "TagB"
    }
}

fn body_of(i: usize) -> Vec<u8> {
    if i == 3 {
        // Above the client's 4 KiB compression threshold.
        format!("big-{i}-").repeat(1200).into_bytes()
    } else {
        format!("courier client -> rocketmq-rust #{i}").into_bytes()
    }
}

fn message(topic: &str, i: usize) -> Message {
    Message::new(topic, body_of(i))
        .with_tags(tag_of(i))
        .with_keys(format!("key-{i} alt-{i}"))
        .with_property("seq", i.to_string())
        .with_property("origin", ORIGIN)
}

/// Checks every field of a received message; returns its sequence number.
fn check_fields(m: &MessageExt, topic: &str) -> Result<usize, String> {
    let i: usize = m
        .property("seq")
        .and_then(|s| s.parse().ok())
        .filter(|&i| i < MESSAGES)
        .ok_or_else(|| format!("message without a valid seq: {:?}", m.properties))?;
    let wrong = |what: &str| Err(format!("message #{i}: wrong {what}: {:?}", m.properties));
    if m.topic != topic {
        return wrong("topic");
    }
    if m.body.as_ref() != body_of(i).as_slice() {
        return wrong("body");
    }
    if m.tags() != Some(tag_of(i)) {
        return wrong("tags");
    }
    if m.keys() != Some(format!("key-{i} alt-{i}").as_str()) {
        return wrong("keys");
    }
    if m.property("origin") != Some(ORIGIN) {
        return wrong("user property");
    }
    Ok(i)
}

fn counts(msgs: &[MessageExt], topic: &str) -> Result<Vec<usize>, String> {
    let mut c = vec![0; MESSAGES];
    for m in msgs {
        c[check_fields(m, topic)?] += 1;
    }
    Ok(c)
}

async fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out after {secs} s waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

struct Ctx {
    namesrv: String,
    admin: Admin,
    producer: Producer,
    offsets: tempfile::TempDir,
}

impl Ctx {
    async fn topic(&self, topic: &str) -> Result<(), String> {
        self.admin
            .create_topic(topic, 4)
            .await
            .map_err(|e| format!("create_topic {topic}: {e}"))?;
        self.admin
            .wait_for_route(topic, 1, Duration::from_secs(30))
            .await
            .map_err(|e| format!("route for {topic}: {e}"))
    }

    async fn send_numbered(&self, topic: &str) -> Result<HashSet<String>, String> {
        let mut ids = HashSet::new();
        for i in 0..MESSAGES {
            let r = self
                .producer
                .send(message(topic, i))
                .await
                .map_err(|e| format!("send #{i}: {e}"))?;
            if r.status != SendStatus::SendOk {
                return Err(format!("send #{i}: status {:?}", r.status));
            }
            ids.insert(r.msg_id);
        }
        Ok(ids)
    }

    fn consumer(
        &self,
        group: &str,
        instance: &str,
        topic: &str,
        expr: &str,
    ) -> courier_client::PushConsumerBuilder {
        PushConsumer::builder()
            .namesrv(&self.namesrv)
            .group(group)
            .instance_name(instance)
            .subscribe(topic, expr)
            .consume_from(ConsumeFromWhere::FirstOffset)
            .rebalance_interval(Duration::from_secs(1))
            .offset_dir(self.offsets.path())
    }
}

async fn start(
    builder: courier_client::PushConsumerBuilder,
    sink: Shared,
) -> Result<PushConsumer, String> {
    start_with(builder, sink, |_| ConsumeResult::Success).await
}

/// `start` with a verdict per delivered message; every delivery is recorded in `sink`, whatever
/// the verdict, and a batch is `Later` if any of its messages is.
async fn start_with(
    builder: courier_client::PushConsumerBuilder,
    sink: Shared,
    verdict: impl Fn(&MessageExt) -> ConsumeResult + Send + Sync + 'static,
) -> Result<PushConsumer, String> {
    let verdict = Arc::new(verdict);
    builder
        .start(move |msgs: Vec<MessageExt>| {
            let sink = sink.clone();
            let verdict = verdict.clone();
            async move {
                let later = msgs.iter().any(|m| verdict(m) == ConsumeResult::Later);
                sink.push_all(msgs);
                if later {
                    ConsumeResult::Later
                } else {
                    ConsumeResult::Success
                }
            }
        })
        .await
        .map_err(|e| format!("push consumer start: {e}"))
}

async fn check_admin(ctx: &Ctx) -> CheckResult {
    let masters = ctx
        .admin
        .master_addrs()
        .await
        .map_err(|e| format!("GET_BROKER_CLUSTER_INFO: {e}"))?;
    ctx.topic("CourierPeerAdmin").await?;
    Ok(format!(
        "masters {masters:?}; UPDATE_AND_CREATE_TOPIC + route"
    ))
}

/// Every send mode, read back with the pull consumer from offset 0 of every queue.
async fn check_send_modes_and_pull(ctx: &Ctx) -> CheckResult {
    let topic = "CourierPeerSendModes";
    ctx.topic(topic).await?;
    let p = &ctx.producer;
    let mut sent = 0;
    for i in 0..5 {
        p.send(message(topic, i))
            .await
            .map_err(|e| format!("sync send: {e}"))?;
        sent += 1;
    }
    for i in 5..8 {
        p.send_async(message(topic, i))
            .await
            .map_err(|e| format!("async send: {e}"))?;
        sent += 1;
    }
    p.send_oneway(message(topic, 8))
        .await
        .map_err(|e| format!("oneway send: {e}"))?;
    sent += 1;
    let keyed = p
        .send_with_selector(message(topic, 9), "order-42")
        .await
        .map_err(|e| format!("selector send: {e}"))?;
    sent += 1;
    let batch: Vec<Message> = (10..MESSAGES).map(|i| message(topic, i)).collect();
    let batch_len = batch.len();
    let b = p
        .send_batch(batch)
        .await
        .map_err(|e| format!("batch send: {e}"))?;
    sent += batch_len;

    let pc = PullConsumer::connect(&ctx.namesrv, "courier_peer_pull")
        .map_err(|e| format!("pull consumer: {e}"))?;
    let result = async {
        let queues = pc
            .fetch_queues(topic)
            .await
            .map_err(|e| format!("fetch_queues: {e}"))?;
        // The oneway send has no acknowledgement; give it a moment to be stored.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut got = Vec::new();
            for mq in &queues {
                let mut offset = 0;
                loop {
                    let r = pc
                        .pull(mq, "*", offset, 32)
                        .await
                        .map_err(|e| format!("pull {mq:?} at {offset}: {e}"))?;
                    if r.status != PullStatus::Found || r.messages.is_empty() {
                        break;
                    }
                    offset = r.next_begin_offset;
                    got.extend(r.messages);
                }
            }
            if got.len() >= sent || Instant::now() > deadline {
                let c = counts(&got, topic)?;
                if c != vec![1; MESSAGES] {
                    return Err(format!("pulled delivery counts {c:?}, want all 1"));
                }
                let batch_queue: HashSet<i32> = got
                    .iter()
                    .filter(|m| check_fields(m, topic).is_ok_and(|i| i >= 10))
                    .map(|m| m.queue_id)
                    .collect();
                if batch_queue.len() != 1 || !batch_queue.contains(&b.queue.queue_id) {
                    return Err(format!(
                        "batch landed in queues {batch_queue:?}, send result said {}",
                        b.queue.queue_id
                    ));
                }
                return Ok(format!(
                    "sync/async/oneway/selector(queue {})/batch({batch_len} in queue {}) all pulled back intact",
                    keyed.queue.queue_id, b.queue.queue_id
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    pc.shutdown().await;
    result
}

async fn check_clustering(ctx: &Ctx) -> CheckResult {
    let topic = "CourierPeerClustering";
    ctx.topic(topic).await?;
    let group = "courier_peer_clustering";
    let (s1, s2) = (Shared::default(), Shared::default());
    let c1 = start(ctx.consumer(group, "peer-c1", topic, "*"), s1.clone()).await?;
    let c2 = match start(ctx.consumer(group, "peer-c2", topic, "*"), s2.clone()).await {
        Ok(c) => c,
        Err(e) => {
            c1.shutdown().await;
            return Err(e);
        }
    };
    let result = async {
        wait_for("the two consumers to split the 4 queues", 60, || {
            c1.assignment().len() == 2 && c2.assignment().len() == 2
        })
        .await?;
        let ids = ctx.send_numbered(topic).await?;
        wait_for("every message", 60, || {
            s1.snapshot().len() + s2.snapshot().len() >= MESSAGES
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let all: Vec<MessageExt> = s1.snapshot().into_iter().chain(s2.snapshot()).collect();
        let c = counts(&all, topic)?;
        if c != vec![1; MESSAGES] {
            return Err(format!("delivery counts {c:?}, want all 1"));
        }
        if let Some(m) = all.iter().find(|m| !ids.contains(&m.msg_id)) {
            return Err(format!("msg_id {} was never returned by a send", m.msg_id));
        }
        Ok(format!(
            "2 consumers, {} + {} messages, each exactly once",
            s1.snapshot().len(),
            s2.snapshot().len()
        ))
    }
    .await;
    c1.shutdown().await;
    c2.shutdown().await;
    result
}

async fn check_broadcasting(ctx: &Ctx) -> CheckResult {
    let topic = "CourierPeerBroadcast";
    ctx.topic(topic).await?;
    let group = "courier_peer_broadcast";
    let (s1, s2) = (Shared::default(), Shared::default());
    let b = |inst| {
        ctx.consumer(group, inst, topic, "*")
            .model(MessageModel::Broadcasting)
    };
    let c1 = start(b("peer-b1"), s1.clone()).await?;
    let c2 = match start(b("peer-b2"), s2.clone()).await {
        Ok(c) => c,
        Err(e) => {
            c1.shutdown().await;
            return Err(e);
        }
    };
    let result = async {
        wait_for("both consumers to own all 4 queues", 60, || {
            c1.assignment().len() == 4 && c2.assignment().len() == 4
        })
        .await?;
        ctx.send_numbered(topic).await?;
        wait_for("every message in each consumer", 60, || {
            s1.snapshot().len() >= MESSAGES && s2.snapshot().len() >= MESSAGES
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for (n, s) in [&s1, &s2].into_iter().enumerate() {
            let c = counts(&s.snapshot(), topic)?;
            if c != vec![1; MESSAGES] {
                return Err(format!("consumer {}: delivery counts {c:?}", n + 1));
            }
        }
        Ok("2 consumers each received all messages once".to_string())
    }
    .await;
    c1.shutdown().await;
    c2.shutdown().await;
    result
}

/// `topic` created, and one consumer of `group` on it (recording into the returned sink) once
/// it owns all 4 queues.
async fn sole_consumer(
    ctx: &Ctx,
    group: &str,
    instance: &str,
    topic: &str,
    expr: &str,
) -> Result<(Shared, PushConsumer), String> {
    ctx.topic(topic).await?;
    let s = Shared::default();
    let c = start(ctx.consumer(group, instance, topic, expr), s.clone()).await?;
    if let Err(e) = wait_for("the consumer to own all 4 queues", 60, || {
        c.assignment().len() == 4
    })
    .await
    {
        c.shutdown().await;
        return Err(e);
    }
    Ok((s, c))
}

async fn check_tags(ctx: &Ctx) -> CheckResult {
    let topic = "CourierPeerTags";
    let (s, c) = sole_consumer(ctx, "courier_peer_tags", "peer-t1", topic, "TagB").await?;
    let result = async {
        ctx.send_numbered(topic).await?;
        wait_for("the TagB messages", 60, || {
            s.snapshot().len() >= MESSAGES / 2
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = counts(&s.snapshot(), topic)?;
        for (i, n) in got.iter().enumerate() {
            let want = usize::from(tag_of(i) == "TagB");
            if *n != want {
                return Err(format!("#{i} ({}) seen {n} times, want {want}", tag_of(i)));
            }
        }
        Ok("only TagB delivered".to_string())
    }
    .await;
    c.shutdown().await;
    result
}

/// Courier's admin asking a running Courier consumer through the peer broker: the peer forwards
/// GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY to it (RocketMQ's `callConsumer`) and
/// passes its answers back; and the peer lists the producer (which heartbeats a newly met broker
/// at once) among the group's connections.
async fn check_consumer_calls(ctx: &Ctx) -> CheckResult {
    let topic = "CourierPeerStatus";
    let (s, c) = sole_consumer(ctx, "courier_peer_status", "peer-s1", topic, "*").await?;
    let result = async {
        let r = ctx
            .producer
            .send(message(topic, 0))
            .await
            .map_err(|e| format!("send: {e}"))?;
        wait_for("the message", 60, || !s.snapshot().is_empty()).await?;
        let all = ctx
            .admin
            .consumer_running_info("courier_peer_status", None)
            .await
            .map_err(|e| format!("running info: {e}"))?;
        let [one] = &all[..] else {
            return Err(format!("{} clients answered, want 1: {all:?}", all.len()));
        };
        let info = one
            .info
            .as_ref()
            .map_err(|e| format!("running info: {e}"))?;
        let queues = info
            .mq_table
            .iter()
            .filter(|(q, _)| q.topic == topic)
            .count();
        if queues != 4 {
            return Err(format!(
                "running info lists {queues} queues of {topic}, want 4"
            ));
        }
        let verdict = ctx
            .admin
            .consume_message_directly("courier_peer_status", c.client_id(), &r.offset_msg_id)
            .await
            .map_err(|e| format!("consume directly: {e}"))?;
        if verdict.consume_result != Some(courier_client::CmResult::CrSuccess) {
            return Err(format!("consume directly answered {verdict:?}"));
        }
        wait_for("the message handed over again", 10, || {
            s.snapshot().len() == 2
        })
        .await?;
        // The offsets the consumer holds, asked through the peer broker (223 → 221).
        let held = ctx
            .admin
            .consumer_offsets_held("courier_peer_status", topic, None)
            .await
            .map_err(|e| format!("offsets held: {e}"))?;
        let held_queues = held.iter().map(|(_, t)| t.len()).sum::<usize>();
        if held.len() != 1 || held_queues != 4 {
            return Err(format!(
                "offsets held: {held:?}, want one client holding 4 queues"
            ));
        }
        // Every group's progress on the peer broker (317): this group's topic is listed once the
        // consumer committed its offsets (every 5 s).
        let masters = ctx
            .admin
            .master_addrs()
            .await
            .map_err(|e| format!("masters: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut listed_topic = false;
            for m in &masters {
                let list = ctx
                    .admin
                    .broker_consume_stats(m, false)
                    .await
                    .map_err(|e| format!("broker consume stats: {e}"))?;
                listed_topic |= list.consume_stats_list.iter().any(|(g, stats)| {
                    g == "courier_peer_status"
                        && stats
                            .iter()
                            .any(|s| s.offset_table.iter().any(|(q, _)| q.topic == topic))
                });
            }
            if listed_topic {
                break;
            }
            if Instant::now() > deadline {
                return Err(
                    "the peer's broker consume stats do not list courier_peer_status".into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let producers = ctx
            .admin
            .producer_connection("courier_peer_producer")
            .await
            .map_err(|e| format!("producer connection: {e}"))?;
        let listed: usize = producers.iter().map(|(_, c)| c.len()).sum();
        if listed == 0 {
            return Err("the peer lists no producer of courier_peer_producer".into());
        }
        Ok(format!(
            "running info with 4 queues, CR_SUCCESS on a direct consumption, 4 queues held, \
             the group in the broker's consume stats, {listed} producer connection(s)"
        ))
    }
    .await;
    c.shutdown().await;
    result
}

/// The peer name server's WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER (the route of
/// CourierPeerAdmin loses its write bit, then gets it back) and the peer broker's
/// QUERY_CONSUME_TIME_SPAN for the group `check_consumer_calls` ran (its four queues, one with
/// a stored message).
async fn check_write_perm_and_time_span(ctx: &Ctx) -> CheckResult {
    let info = ctx
        .admin
        .cluster_info()
        .await
        .map_err(|e| format!("cluster info: {e}"))?;
    let name = info
        .broker_addr_table
        .keys()
        .next()
        .cloned()
        .ok_or("no broker name")?;
    let topic = "CourierPeerAdmin";
    let writable = || async {
        let route = ctx
            .admin
            .topic_route(topic)
            .await
            .map_err(|e| format!("route of {topic}: {e}"))?;
        let q = route.queue_datas.first().ok_or("no queue data")?;
        // PermName.PERM_WRITE.
        Ok::<_, String>(q.perm & 2 != 0)
    };
    let wiped = ctx
        .admin
        .change_write_perm(&name, true)
        .await
        .map_err(|e| format!("wipe: {e}"))?;
    let after_wipe = writable().await?;
    let added = ctx
        .admin
        .change_write_perm(&name, false)
        .await
        .map_err(|e| format!("add: {e}"))?;
    let after_add = writable().await?;
    if after_wipe || !after_add {
        return Err(format!(
            "writable after wipe: {after_wipe}, after add: {after_add} ({wiped:?}, {added:?})"
        ));
    }
    let spans = ctx
        .admin
        .consume_time_span("courier_peer_status", "CourierPeerStatus")
        .await
        .map_err(|e| format!("consume time span: {e}"))?;
    let stored = spans.iter().filter(|s| s.max_time_stamp > 0).count();
    if spans.len() != 4 || stored == 0 {
        return Err(format!("time span: {spans:?}, want 4 queues, one with messages"));
    }
    Ok(format!(
        "{} topic(s) wiped and {} added back on {name}; time span of 4 queues, {stored} with messages, delays {:?} ms",
        wiped.first().map_or(0, |c| c.topics),
        added.first().map_or(0, |c| c.topics),
        spans.iter().map(|s| s.delay_time).collect::<Vec<_>>()
    ))
}

/// GET_NAMESRV_CONFIG / UPDATE_NAMESRV_CONFIG against the peer name server: `orderMessageEnable`
/// read, flipped, read back and restored.
async fn check_namesrv_config(ctx: &Ctx) -> CheckResult {
    let key = "orderMessageEnable";
    let read = || async {
        let all = ctx
            .admin
            .namesrv_config()
            .await
            .map_err(|e| format!("namesrv config: {e}"))?;
        let (_, kv) = all.into_iter().next().ok_or("no name server answered")?;
        Ok::<_, String>(kv.get(key).cloned())
    };
    let set = |value: &str| {
        let change = vec![(key.to_string(), value.to_string())];
        async move {
            ctx.admin
                .update_namesrv_config(&change)
                .await
                .map_err(|e| format!("update {key}: {e}"))
        }
    };
    let before = read().await?.ok_or(format!("the peer's name server config has no {key}"))?;
    let flipped = if before == "true" { "false" } else { "true" };
    set(flipped).await?;
    let after = read().await?;
    set(&before).await?;
    let restored = read().await?;
    if after.as_deref() != Some(flipped) || restored.as_deref() != Some(before.as_str()) {
        return Err(format!(
            "{key}: {before} -> {after:?} -> {restored:?}, want {before} -> {flipped} -> {before}"
        ));
    }
    Ok(format!("{key} {before} -> {flipped} -> {before}"))
}

/// UPDATE_BROKER_CONFIG against the peer broker: a setting it changes while running
/// (`autoCreateSubscriptionGroup`, flipped) read back with GET_BROKER_CONFIG, then restored.
async fn check_broker_config(ctx: &Ctx) -> CheckResult {
    let masters = ctx
        .admin
        .master_addrs()
        .await
        .map_err(|e| format!("masters: {e}"))?;
    let addr = masters.first().ok_or("no master")?;
    let key = "autoCreateSubscriptionGroup";
    let read = || async {
        ctx.admin
            .broker_config(addr)
            .await
            .map_err(|e| format!("broker config: {e}"))
            .map(|c| c.get(key).cloned())
    };
    let set = |value: String| async move {
        ctx.admin
            .update_broker_config(addr, &[(key.to_string(), value.clone())])
            .await
            .map_err(|e| format!("update {key}={value}: {e}"))
    };
    let before = read()
        .await?
        .ok_or(format!("the peer's config has no {key}"))?;
    let flipped = if before == "true" { "false" } else { "true" };
    set(flipped.into()).await?;
    let after = read().await?;
    set(before.clone()).await?;
    let restored = read().await?;
    if after.as_deref() != Some(flipped) || restored.as_deref() != Some(before.as_str()) {
        return Err(format!(
            "{key}: {before} -> {after:?} -> {restored:?}, want {before} -> {flipped} -> {before}"
        ));
    }
    Ok(format!("{key} {before} -> {flipped} -> {before}"))
}

/// An unknown topic: the producer falls back to the TBW102 route and the broker auto-creates it.
async fn check_auto_create(ctx: &Ctx) -> CheckResult {
    let topic = format!("CourierPeerAuto{}", std::process::id());
    let r = ctx
        .producer
        .send(message(&topic, 0))
        .await
        .map_err(|e| format!("send to unknown topic {topic}: {e}"))?;
    ctx.admin
        .wait_for_route(&topic, 1, Duration::from_secs(40))
        .await
        .map_err(|e| format!("route after auto-create: {e}"))?;
    Ok(format!(
        "sent to queue {} at offset {}, route appeared",
        r.queue.queue_id, r.queue_offset
    ))
}

/// Request-reply: the shared producer's `request`s are answered by a push consumer that replies
/// with `Message::reply_to` through a producer of its own (SEND_REPLY_MESSAGE_V2); the peer
/// pushes each reply back (PUSH_REPLY_MESSAGE_TO_CLIENT) to the request that asked for it.
async fn check_request_reply(ctx: &Ctx) -> CheckResult {
    const REQUESTS: usize = 5;
    let topic = "CourierPeerRequest";
    ctx.topic(topic).await?;
    let responder = Producer::builder()
        .namesrv(&ctx.namesrv)
        .group("courier_peer_responder")
        .build()
        .map_err(|e| format!("responder producer: {e}"))?;
    // What went wrong on the answering side, if anything (the requests only see a timeout).
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let answering = responder.clone();
    let seen = problems.clone();
    let listener = move |msgs: Vec<MessageExt>| {
        let p = answering.clone();
        let seen = seen.clone();
        async move {
            for m in msgs {
                let body = format!("re: {}", String::from_utf8_lossy(&m.body));
                let sent = match Message::reply_to(&m, body) {
                    Ok(reply) => p.send(reply).await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(format!("{e}; request properties {:?}", m.properties)),
                };
                if let Err(e) = sent {
                    seen.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                }
            }
            ConsumeResult::Success
        }
    };
    let consumer = match ctx
        .consumer("courier_peer_answerers", "peer-r1", topic, "*")
        .start(listener)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            responder.shutdown().await;
            return Err(format!("push consumer start: {e}"));
        }
    };
    let result = async {
        wait_for("the answering consumer to own all 4 queues", 60, || {
            consumer.assignment().len() == 4
        })
        .await?;
        let asks: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let requester = ctx.producer.clone();
                let msg = Message::new(topic, format!("q{i}"));
                tokio::spawn(async move { requester.request(msg, Duration::from_secs(10)).await })
            })
            .collect();
        let mut replies = Vec::new();
        let mut failures = Vec::new();
        for (i, ask) in asks.into_iter().enumerate() {
            match ask.await.map_err(|e| e.to_string()) {
                Ok(Ok(reply)) => replies.push((i, reply)),
                Ok(Err(e)) => failures.push(format!("request #{i}: {e}")),
                Err(e) => failures.push(format!("request #{i}: task {e}")),
            }
        }
        let problems = problems.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !failures.is_empty() {
            return Err(format!(
                "{}; answering side: {problems:?}",
                failures.join("; ")
            ));
        }
        let mut reply_topics = HashSet::new();
        for (i, reply) in &replies {
            let want = format!("re: q{i}");
            if reply.body.as_ref() != want.as_bytes() {
                return Err(format!(
                    "request #{i} got {:?}, want {want:?}",
                    String::from_utf8_lossy(&reply.body)
                ));
            }
            if reply.property("REPLY_TO_CLIENT") != Some(ctx.producer.client_id()) {
                return Err(format!(
                    "reply #{i}: REPLY_TO_CLIENT {:?}, want {}",
                    reply.property("REPLY_TO_CLIENT"),
                    ctx.producer.client_id()
                ));
            }
            reply_topics.insert(reply.topic.clone());
        }
        if !problems.is_empty() {
            return Err(format!("answering side: {problems:?}"));
        }
        Ok(format!(
            "{REQUESTS} concurrent requests each got their own reply (via {reply_topics:?})"
        ))
    }
    .await;
    consumer.shutdown().await;
    responder.shutdown().await;
    result
}

/// Transactional messages: a half committed by its local transaction becomes visible, one
/// rolled back never does, and one left `Unknown` is checked back on by the peer broker
/// (CHECK_TRANSACTION_STATE) and committed by the producer's checker.
async fn check_transactions(ctx: &Ctx) -> CheckResult {
    const COMMIT: &str = "tx committed";
    const ROLLBACK: &str = "tx rolled back";
    const UNKNOWN: &str = "tx unknown, then committed by the check-back";
    let topic = "CourierPeerTx";
    ctx.topic(topic).await?;
    // The halves the peer asked about, by body.
    let checked: Arc<Mutex<Vec<String>>> = Arc::default();
    let asked = checked.clone();
    let tx = Producer::builder()
        .namesrv(&ctx.namesrv)
        .group("courier_peer_tx")
        .transaction_checker(move |half: MessageExt| {
            let asked = asked.clone();
            async move {
                let body = String::from_utf8_lossy(&half.body).into_owned();
                let commit = body == UNKNOWN;
                asked.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                if commit {
                    LocalTransactionState::Commit
                } else {
                    LocalTransactionState::Rollback
                }
            }
        })
        .build()
        .map_err(|e| format!("transactional producer: {e}"))?;
    let s = Shared::default();
    let c = match start(
        ctx.consumer("courier_peer_tx_consumer", "peer-x1", topic, "*"),
        s.clone(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            tx.shutdown().await;
            return Err(e);
        }
    };
    let bodies = |s: &Shared| -> Vec<String> {
        s.snapshot()
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect()
    };
    let result = async {
        wait_for("the consumer to own all 4 queues", 60, || {
            c.assignment().len() == 4
        })
        .await?;
        let started = Instant::now();
        for (body, state) in [
            (COMMIT, LocalTransactionState::Commit),
            (ROLLBACK, LocalTransactionState::Rollback),
            (UNKNOWN, LocalTransactionState::Unknown),
        ] {
            let r = tx
                .send_in_transaction(Message::new(topic, body), |sent| async move {
                    if sent.status == SendStatus::SendOk {
                        state
                    } else {
                        LocalTransactionState::Rollback
                    }
                })
                .await
                .map_err(|e| format!("send_in_transaction {body:?}: {e}"))?;
            if r.send.status != SendStatus::SendOk || r.state != state {
                return Err(format!(
                    "send_in_transaction {body:?}: half {:?}, ended {:?}",
                    r.send.status, r.state
                ));
            }
        }
        wait_for("the committed message", 30, || {
            bodies(&s).iter().any(|b| b == COMMIT)
        })
        .await?;
        let visible_after = started.elapsed();
        let asked = || checked.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Err(e) = wait_for("the Unknown half, committed by the check-back", 90, || {
            bodies(&s).iter().any(|b| b == UNKNOWN)
        })
        .await
        {
            return Err(if asked().is_empty() {
                format!("{e}: the peer never checked back (CHECK_TRANSACTION_STATE)")
            } else {
                format!("{e}: the peer checked back on {:?}, the checker committed, yet nothing became visible", asked())
            });
        }
        let checked_after = started.elapsed();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = bodies(&s);
        for (body, want) in [(COMMIT, 1), (ROLLBACK, 0), (UNKNOWN, 1)] {
            let n = got.iter().filter(|b| *b == body).count();
            if n != want {
                return Err(format!("{body:?} delivered {n} times, want {want}; all: {got:?}"));
            }
        }
        if let Some(m) = s.snapshot().iter().find(|m| m.topic != topic) {
            return Err(format!("delivered under topic {}, want {topic}", m.topic));
        }
        let asked = asked();
        if !asked.iter().any(|b| b == UNKNOWN) {
            return Err(format!("the Unknown half became visible, but the checker was asked only about {asked:?}"));
        }
        Ok(format!(
            "commit visible after {:.1} s, rollback never; Unknown checked back ({} check(s): {:?}) and visible after {:.1} s",
            visible_after.as_secs_f64(),
            asked.len(),
            asked,
            checked_after.as_secs_f64()
        ))
    }
    .await;
    c.shutdown().await;
    tx.shutdown().await;
    result
}

/// Ordered consumption: two orderly consumers of one clustering group (queues locked on the
/// peer with LOCK_BATCH_MQ) consume keyed sends; each key's messages arrive in send order, each
/// exactly once, and each queue is consumed by one client only.
async fn check_orderly(ctx: &Ctx) -> CheckResult {
    const KEYS: usize = 8;
    const PER_KEY: usize = 15;
    let topic = "CourierPeerOrderly";
    ctx.topic(topic).await?;
    let group = "courier_peer_orderly";
    // Every delivery, in the order the listener calls saw them, with the client that took it.
    let log: Arc<Mutex<Vec<(&'static str, MessageExt)>>> = Arc::default();
    let (s1, s2) = (Shared::default(), Shared::default());
    let o = |inst: &'static str, sink: &Shared| {
        let log = log.clone();
        start_with(
            ctx.consumer(group, inst, topic, "*").orderly(true),
            sink.clone(),
            move |m| {
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((inst, m.clone()));
                ConsumeResult::Success
            },
        )
    };
    let c1 = o("peer-o1", &s1).await?;
    let c2 = match o("peer-o2", &s2).await {
        Ok(c) => c,
        Err(e) => {
            c1.shutdown().await;
            return Err(e);
        }
    };
    let result = async {
        wait_for("the two consumers to split the 4 queues", 60, || {
            c1.assignment().len() == 2 && c2.assignment().len() == 2
        })
        .await?;
        for seq in 0..PER_KEY {
            for k in 0..KEYS {
                let key = format!("order-{k}");
                let msg = Message::new(topic, format!("{key}#{seq}"))
                    .with_keys(key.clone())
                    .with_property("okey", k.to_string())
                    .with_property("oseq", seq.to_string());
                ctx.producer
                    .send_with_selector(msg, &key)
                    .await
                    .map_err(|e| format!("selector send {key}#{seq}: {e}"))?;
            }
        }
        let total = KEYS * PER_KEY;
        wait_for("every message", 60, || {
            s1.snapshot().len() + s2.snapshot().len() >= total
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let num = |m: &MessageExt, p: &str| -> Result<usize, String> {
            m.property(p)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("message without {p}: {:?}", m.properties))
        };
        let mut per_key = vec![Vec::new(); KEYS];
        let mut queue_owner: std::collections::BTreeMap<i32, HashSet<&str>> = Default::default();
        let mut queues_of_key: Vec<HashSet<i32>> = vec![HashSet::new(); KEYS];
        for (client, m) in &log {
            let k = num(m, "okey")?;
            per_key[k].push(num(m, "oseq")?);
            queue_owner.entry(m.queue_id).or_default().insert(client);
            queues_of_key[k].insert(m.queue_id);
        }
        let want: Vec<usize> = (0..PER_KEY).collect();
        for (k, seqs) in per_key.iter().enumerate() {
            if *seqs != want {
                return Err(format!("key order-{k}: consumed in order {seqs:?}, want {want:?}"));
            }
            if queues_of_key[k].len() != 1 {
                return Err(format!("key order-{k} landed in queues {:?}", queues_of_key[k]));
            }
        }
        if let Some((q, who)) = queue_owner.iter().find(|(_, who)| who.len() > 1) {
            return Err(format!("queue {q} consumed by both clients {who:?}"));
        }
        Ok(format!(
            "{total} messages over {KEYS} keys / {} queues, {} + {} per client, each key in order, exactly once",
            queue_owner.len(),
            s1.snapshot().len(),
            s2.snapshot().len()
        ))
    }
    .await;
    c1.shutdown().await;
    c2.shutdown().await;
    result
}

/// `Later` in a clustering group: the message is sent back (CONSUMER_SEND_MSG_BACK), the peer
/// stores a delayed copy in `%RETRY%<group>` and the consumer gets it again under the original
/// topic with reconsume times 1; everything else is consumed once.
async fn check_later_retry(ctx: &Ctx) -> CheckResult {
    const REFUSED: usize = 5;
    let topic = "CourierPeerLater";
    ctx.topic(topic).await?;
    let group = "courier_peer_later";
    let s = Shared::default();
    let c = start_with(ctx.consumer(group, "peer-l1", topic, "*"), s.clone(), |m| {
        let refuse = m.property("seq") == Some(&REFUSED.to_string()) && m.reconsume_times == 0;
        if refuse {
            ConsumeResult::Later
        } else {
            ConsumeResult::Success
        }
    })
    .await?;
    let result = async {
        wait_for("the consumer to own all 4 queues", 60, || {
            c.assignment().len() == 4
        })
        .await?;
        ctx.send_numbered(topic).await?;
        let sent = Instant::now();
        wait_for("every message", 60, || s.snapshot().len() >= MESSAGES).await?;
        // Level 3 + 0 reconsume times: 10 s on the default delay levels.
        wait_for(
            &format!("message #{REFUSED} to come back from %RETRY%{group}"),
            90,
            || s.snapshot().len() > MESSAGES,
        )
        .await?;
        let back_after = sent.elapsed();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = s.snapshot();
        let c = counts(&got, topic)?;
        let want: Vec<usize> = (0..MESSAGES).map(|i| if i == REFUSED { 2 } else { 1 }).collect();
        if c != want {
            return Err(format!("delivery counts {c:?}, want {want:?}"));
        }
        let again: Vec<&MessageExt> = got
            .iter()
            .filter(|m| check_fields(m, topic).is_ok_and(|i| i == REFUSED))
            .collect();
        let (first, retry) = (again[0], again[1]);
        if first.reconsume_times != 0 || retry.reconsume_times != 1 {
            return Err(format!(
                "reconsume times {} then {}, want 0 then 1",
                first.reconsume_times, retry.reconsume_times
            ));
        }
        if retry.property("RETRY_TOPIC") != Some(topic) {
            return Err(format!(
                "the redelivery's RETRY_TOPIC is {:?}, want {topic}",
                retry.property("RETRY_TOPIC")
            ));
        }
        if retry.msg_id != first.msg_id {
            return Err(format!("the redelivery's msg_id {} differs from {}", retry.msg_id, first.msg_id));
        }
        Ok(format!(
            "#{REFUSED} answered Later came back after {:.1} s under {topic} with reconsume times 1; the other {} once",
            back_after.as_secs_f64(),
            MESSAGES - 1
        ))
    }
    .await;
    c.shutdown().await;
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(namesrv) = std::env::args().nth(1) else {
        eprintln!(
            "usage: courier-peer-rocketmq-rust NAMESRV_ADDR (see interop/peer-rocketmq-rust.sh)"
        );
        return ExitCode::from(2);
    };
    let setup = async {
        let admin = Admin::connect(&namesrv).map_err(|e| format!("admin: {e}"))?;
        // The peer broker registers a moment after its port opens.
        let deadline = Instant::now() + Duration::from_secs(30);
        while admin.master_addrs().await.map_or(true, |m| m.is_empty()) {
            if Instant::now() > deadline {
                return Err(format!("no broker registered with {namesrv} within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let producer = Producer::builder()
            .namesrv(&namesrv)
            .group("courier_peer_producer")
            .build()
            .map_err(|e| format!("producer: {e}"))?;
        let offsets = tempfile::tempdir().map_err(|e| format!("offset dir: {e}"))?;
        Ok::<_, String>(Ctx {
            namesrv: namesrv.clone(),
            admin,
            producer,
            offsets,
        })
    };
    let ctx = match setup.await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    async fn timed<F: std::future::Future<Output = CheckResult>>(f: F) -> (CheckResult, Duration) {
        let started = Instant::now();
        let r = f.await;
        (r, started.elapsed())
    }
    let results = vec![
        (
            "admin: cluster info, create topic, route",
            timed(check_admin(&ctx)).await,
        ),
        (
            "admin: broker config updated and read back",
            timed(check_broker_config(&ctx)).await,
        ),
        (
            "admin: name server config updated and read back",
            timed(check_namesrv_config(&ctx)).await,
        ),
        (
            "producer send modes + pull consumer",
            timed(check_send_modes_and_pull(&ctx)).await,
        ),
        (
            "push consumer: clustering x2",
            timed(check_clustering(&ctx)).await,
        ),
        (
            "push consumer: broadcasting x2",
            timed(check_broadcasting(&ctx)).await,
        ),
        (
            "push consumer: tag expression",
            timed(check_tags(&ctx)).await,
        ),
        (
            "producer: TBW102 auto-create",
            timed(check_auto_create(&ctx)).await,
        ),
        (
            "request-reply: request answered through another producer",
            timed(check_request_reply(&ctx)).await,
        ),
        (
            "transactions: commit, rollback, check-back",
            timed(check_transactions(&ctx)).await,
        ),
        (
            "push consumer: orderly x2 (LOCK_BATCH_MQ)",
            timed(check_orderly(&ctx)).await,
        ),
        (
            "push consumer: Later -> %RETRY% redelivery",
            timed(check_later_retry(&ctx)).await,
        ),
        (
            "admin: consumer running info, direct consumption, offsets held, consume stats, producer connection",
            timed(check_consumer_calls(&ctx)).await,
        ),
        (
            "admin: write permission wiped and added back, consume time span",
            timed(check_write_perm_and_time_span(&ctx)).await,
        ),
    ];
    ctx.producer.shutdown().await;
    ctx.admin.shutdown().await;

    let mut failed = 0;
    for (name, (r, took)) in &results {
        let secs = took.as_secs_f64();
        match r {
            Ok(detail) => println!("ok    {name} ({secs:.1} s): {detail}"),
            Err(e) => {
                failed += 1;
                println!("FAIL  {name} ({secs:.1} s): {e}");
            }
        }
    }
    println!("{} checks, {failed} failed", results.len());
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
