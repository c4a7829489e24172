//! Ordered consumption against a real name server and broker: each queue's messages reach the
//! listener one call at a time in queue order, a `Later` message comes back before anything
//! behind it, and a queue moving to a second client of the group is never consumed by both and
//! loses or repeats nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{failing_on, wait_until, Cluster};
use courier_client::{
    ConsumeFromWhere, ConsumeResult, Message, MessageExt, MessageQueue, PushConsumer,
};
use parking_lot::Mutex;

/// One listener call: who consumed which (queue, offset), when it started and ended.
#[derive(Clone, Debug)]
struct Call {
    client: &'static str,
    queue: i32,
    offset: i64,
    body: String,
    start: Instant,
    end: Instant,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// A listener that records each call, takes `busy(offset)` to consume, and answers `Later` the
/// first time it sees a body in `later_once`.
fn listener(
    client: &'static str,
    calls: Calls,
    later_once: &'static [&'static str],
) -> impl Fn(
    Vec<MessageExt>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ConsumeResult> + Send>>
       + Send
       + Sync
       + 'static {
    let refused: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    move |msgs: Vec<MessageExt>| {
        let calls = calls.clone();
        let refused = refused.clone();
        Box::pin(async move {
            let start = Instant::now();
            let m = &msgs[0];
            let body = String::from_utf8_lossy(&m.body).into_owned();
            // Uneven work, so that calls running at once would finish out of order.
            tokio::time::sleep(Duration::from_millis(1 + (m.queue_offset % 3) as u64 * 2)).await;
            let later = later_once.contains(&body.as_str()) && refused.lock().insert(body.clone());
            calls.lock().push(Call {
                client,
                queue: m.queue_id,
                offset: m.queue_offset,
                body,
                start,
                end: Instant::now(),
            });
            if later {
                ConsumeResult::Later
            } else {
                ConsumeResult::Success
            }
        })
    }
}

fn consumer_builder(cluster: &Cluster, topic: &str) -> courier_client::PushConsumerBuilder {
    PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("ordered")
        .subscribe(topic, "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .consume_concurrency(8)
        .reconsume_delay(Duration::from_millis(50))
        .orderly(true)
}

#[tokio::test]
async fn each_queue_is_consumed_in_order_one_call_at_a_time() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Ordered", 4).await;
    let p = cluster.producer();
    // Eight keys over four queues; each key's messages keep their order in its queue.
    for seq in 0..25 {
        for key in 0..8 {
            p.send_with_selector(
                Message::new("Ordered", format!("k{key}-{seq}")),
                &format!("k{key}"),
            )
            .await
            .unwrap();
        }
    }
    let calls: Calls = Arc::default();
    let c = consumer_builder(&cluster, "Ordered")
        .start(listener("a", calls.clone(), &["k0-5", "k3-20"]))
        .await
        .unwrap();
    wait_until("every message consumed", Duration::from_secs(30), || {
        let done = calls.lock().len() >= 202;
        async move { done }
    })
    .await;
    c.shutdown().await;

    let calls = calls.lock().clone();
    assert_eq!(calls.len(), 202, "200 messages, two of them twice");
    let mut per_queue: BTreeMap<i32, Vec<&Call>> = BTreeMap::new();
    for call in &calls {
        per_queue.entry(call.queue).or_default().push(call);
    }
    for (queue, mut qcalls) in per_queue {
        qcalls.sort_by_key(|c| c.start);
        for pair in qcalls.windows(2) {
            assert!(
                pair[1].start >= pair[0].end,
                "queue {queue}: two calls at once: {pair:?}"
            );
            assert!(
                pair[1].offset == pair[0].offset + 1 || pair[1].offset == pair[0].offset,
                "queue {queue}: offset {} after {}",
                pair[1].offset,
                pair[0].offset
            );
            if pair[1].offset == pair[0].offset {
                assert!(["k0-5", "k3-20"].contains(&pair[0].body.as_str()));
            }
        }
    }
    // Each key's messages arrived in the order they were sent.
    for key in 0..8 {
        let seqs: Vec<u32> = calls
            .iter()
            .filter_map(|c| c.body.strip_prefix(&format!("k{key}-")))
            .map(|s| s.parse().unwrap())
            .collect();
        let mut dedup = seqs.clone();
        dedup.dedup();
        assert_eq!(dedup, (0..25).collect::<Vec<_>>(), "key k{key}: {seqs:?}");
    }
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn a_queue_handed_over_is_never_consumed_twice_or_by_two_clients() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Handover", 4).await;
    let calls: Calls = Arc::default();
    let a = consumer_builder(&cluster, "Handover")
        .rebalance_interval(Duration::from_secs(120))
        .start(listener("a", calls.clone(), &[]))
        .await
        .unwrap();
    wait_until("a owns every queue", Duration::from_secs(10), || {
        let n = a.assignment().len();
        async move { n == 4 }
    })
    .await;

    // Messages keep coming while the second client joins and the queues move.
    let p = cluster.producer();
    let sender = tokio::spawn(async move {
        for i in 0..400 {
            p.send(Message::new("Handover", format!("m{i}")))
                .await
                .unwrap();
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        p.shutdown().await;
    });
    wait_until("a has consumed some", Duration::from_secs(10), || {
        let n = calls.lock().len();
        async move { n >= 60 }
    })
    .await;
    let b = consumer_builder(&cluster, "Handover")
        .rebalance_interval(Duration::from_secs(120))
        .start(listener("b", calls.clone(), &[]))
        .await
        .unwrap();
    sender.await.unwrap();
    wait_until("every message consumed", Duration::from_secs(30), || {
        let n = calls.lock().len();
        async move { n >= 400 }
    })
    .await;
    // Let anything consumed twice show up before judging.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let owned: BTreeSet<MessageQueue> = a.assignment().into_iter().chain(b.assignment()).collect();
    assert_eq!(owned.len(), 4);
    assert!(!b.assignment().is_empty(), "b took over some queues");
    a.shutdown().await;
    b.shutdown().await;

    let calls = calls.lock().clone();
    let mut seen = BTreeSet::new();
    for c in &calls {
        assert!(
            seen.insert(c.body.clone()),
            "{} consumed twice (again: {c:?})",
            c.body
        );
    }
    assert_eq!(seen.len(), 400);
    let mut per_queue: BTreeMap<i32, Vec<&Call>> = BTreeMap::new();
    for c in &calls {
        per_queue.entry(c.queue).or_default().push(c);
    }
    let mut moved = 0;
    for (queue, mut qcalls) in per_queue {
        qcalls.sort_by_key(|c| c.start);
        for pair in qcalls.windows(2) {
            assert!(
                pair[1].start >= pair[0].end,
                "queue {queue} consumed by two calls at once: {pair:?}"
            );
            assert_eq!(
                pair[1].offset,
                pair[0].offset + 1,
                "queue {queue}: {pair:?}"
            );
            moved += usize::from(pair[1].client != pair[0].client);
        }
    }
    assert!(moved >= 1, "some queue changed hands mid-stream");
    cluster.stop().await;
}

#[tokio::test]
async fn an_ordered_message_failing_every_time_is_parked_in_the_dead_letter_queue() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Poisoned", 1).await;
    let p = cluster.producer();
    for body in ["poison", "after0", "after1"] {
        p.send(Message::new("Poisoned", body)).await.unwrap();
    }
    let (seen, listener) = failing_on("poison");
    let c = consumer_builder(&cluster, "Poisoned")
        .max_reconsume_times(2)
        .start(listener)
        .await
        .unwrap();
    wait_until(
        "the messages behind it consumed",
        Duration::from_secs(15),
        || {
            let done = seen.lock().iter().any(|(b, _)| b == "after1");
            async move { done }
        },
    )
    .await;
    // Three tries in place (the queue waits), then it is parked and the queue moves on in order.
    let got = seen.lock().clone();
    let want: Vec<(String, i32)> = [
        ("poison", 0),
        ("poison", 1),
        ("poison", 2),
        ("after0", 0),
        ("after1", 0),
    ]
    .iter()
    .map(|(b, r)| (b.to_string(), *r))
    .collect();
    assert_eq!(got, want);
    assert_eq!(cluster.dlq_bodies("ordered").await, [b"poison".to_vec()]);
    c.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}
