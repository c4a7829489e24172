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
    Admin, ConsumeFromWhere, ConsumeResult, Message, MessageExt, MessageModel, Producer,
    PullConsumer, PullStatus, PushConsumer, SendStatus,
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
    builder
        .start(move |msgs: Vec<MessageExt>| {
            let sink = sink.clone();
            async move {
                sink.push_all(msgs);
                ConsumeResult::Success
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

async fn check_tags(ctx: &Ctx) -> CheckResult {
    let topic = "CourierPeerTags";
    ctx.topic(topic).await?;
    let s = Shared::default();
    let c = start(
        ctx.consumer("courier_peer_tags", "peer-t1", topic, "TagB"),
        s.clone(),
    )
    .await?;
    let result = async {
        wait_for("the consumer to own all 4 queues", 60, || {
            c.assignment().len() == 4
        })
        .await?;
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
