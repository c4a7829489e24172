//! Push and pull consumers against a real name server and broker.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{failing_on, recorder, wait_until, Cluster};
use courier_client::{
    ClientError, ConsumeFromWhere, ConsumeResult, Message, MessageExt, MessageModel,
    MessageSelector, PullConsumer, PullStatus, PushConsumer,
};
use parking_lot::Mutex;

fn ids(msgs: &[MessageExt]) -> Vec<String> {
    msgs.iter().map(|m| m.msg_id.clone()).collect()
}

#[tokio::test]
async fn clustering_group_of_two_receives_every_message_exactly_once() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Clustered", 8).await;
    // A long rebalance period: the first consumer gives up half its queues only
    // because the broker sends NOTIFY_CONSUMER_IDS_CHANGED when the second joins.
    let consumer = |got| {
        PushConsumer::builder()
            .namesrv(&cluster.namesrv)
            .group("cg-cluster")
            .subscribe("Clustered", "*")
            .rebalance_interval(Duration::from_secs(120))
            .consume_from(ConsumeFromWhere::FirstOffset)
            .start(got)
    };
    let (got1, l1) = recorder();
    let c1 = consumer(l1).await.unwrap();
    wait_until("c1 owns every queue", Duration::from_secs(10), || {
        let n = c1.assignment().len();
        async move { n == 8 }
    })
    .await;
    let (got2, l2) = recorder();
    let c2 = consumer(l2).await.unwrap();
    wait_until("queues split 4/4", Duration::from_secs(10), || {
        let (a, b) = (c1.assignment(), c2.assignment());
        let union: BTreeSet<_> = a.iter().chain(b.iter()).cloned().collect();
        async move { a.len() == 4 && b.len() == 4 && union.len() == 8 }
    })
    .await;

    let p = cluster.producer();
    let mut sent = BTreeSet::new();
    for i in 0..100 {
        let r = p
            .send(Message::new("Clustered", format!("m{i}")))
            .await
            .unwrap();
        sent.insert(r.msg_id);
    }
    wait_until("100 messages consumed", Duration::from_secs(20), || {
        let n = got1.lock().len() + got2.lock().len();
        async move { n >= 100 }
    })
    .await;
    // Give duplicates a chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = ids(&got1.lock());
    let b = ids(&got2.lock());
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both consumers got messages"
    );
    assert_eq!(a.len() + b.len(), 100, "no duplicates");
    let all: BTreeSet<String> = a.into_iter().chain(b).collect();
    assert_eq!(all, sent);

    // Offsets are committed on shutdown; the broker then reports 100 consumed.
    c1.shutdown().await;
    c2.shutdown().await;
    let pc = PullConsumer::connect(&cluster.namesrv, "cg-cluster").unwrap();
    let mut committed = 0;
    for q in pc.fetch_queues("Clustered").await.unwrap() {
        committed += pc.query_offset(&q).await.unwrap().unwrap_or(0);
    }
    assert_eq!(committed, 100);
    pc.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn broadcasting_group_of_two_each_receive_everything_and_keep_local_offsets() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Broadcast", 4).await;
    let dir = tempfile::tempdir().unwrap();
    let consumer = |name: &str, got| {
        PushConsumer::builder()
            .namesrv(&cluster.namesrv)
            .group("cg-broadcast")
            .instance_name(name)
            .model(MessageModel::Broadcasting)
            .consume_from(ConsumeFromWhere::FirstOffset)
            .offset_dir(dir.path())
            .subscribe("Broadcast", "*")
            .start(got)
    };
    let (got1, l1) = recorder();
    let (got2, l2) = recorder();
    let c1 = consumer("one", l1).await.unwrap();
    let c2 = consumer("two", l2).await.unwrap();
    assert_eq!(c1.assignment().len(), 4);
    assert_eq!(c2.assignment().len(), 4);
    let p = cluster.producer();
    let mut sent = BTreeSet::new();
    for i in 0..40 {
        sent.insert(
            p.send(Message::new("Broadcast", format!("b{i}")))
                .await
                .unwrap()
                .msg_id,
        );
    }
    wait_until("each consumer got 40", Duration::from_secs(20), || {
        let (a, b) = (got1.lock().len(), got2.lock().len());
        async move { a >= 40 && b >= 40 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for got in [&got1, &got2] {
        let got = ids(&got.lock());
        assert_eq!(got.len(), 40);
        assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), sent);
    }
    c1.shutdown().await;
    c2.shutdown().await;
    // Each client's offsets are in its own file and add up to everything.
    for name in ["one", "two"] {
        let path = dir
            .path()
            .join(format!("127.0.0.1@{name}"))
            .join("cg-broadcast")
            .join("offsets.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let total: i64 = v["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["offset"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 40, "{}", path.display());
    }
    // A restarted broadcasting consumer resumes from its file: nothing is redelivered.
    let (got3, l3) = recorder();
    let c3 = consumer("one", l3).await.unwrap();
    p.send(Message::new("Broadcast", "after-restart"))
        .await
        .unwrap();
    wait_until("the new message arrives", Duration::from_secs(10), || {
        let n = got3.lock().len();
        async move { n >= 1 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(got3.lock().len(), 1);
    assert_eq!(got3.lock()[0].body.as_ref(), b"after-restart");
    c3.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn tag_expressions_filter_on_the_broker_and_the_client() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Tagged", 2).await;
    let (got, l) = recorder();
    let c = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("cg-tags")
        .subscribe("Tagged", "TagA || TagB")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .start(l)
        .await
        .unwrap();
    let p = cluster.producer();
    let tags = ["TagA", "TagB", "TagC"];
    for i in 0..30 {
        p.send(Message::new("Tagged", format!("t{i}")).with_tags(tags[i % 3]))
            .await
            .unwrap();
    }
    p.send(Message::new("Tagged", "untagged")).await.unwrap();
    wait_until("20 matching messages", Duration::from_secs(20), || {
        let n = got.lock().len();
        async move { n >= 20 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = got.lock().clone();
    assert_eq!(got.len(), 20);
    assert!(got
        .iter()
        .all(|m| matches!(m.tags(), Some("TagA") | Some("TagB"))));
    // The skipped messages are still there for a TagC reader.
    let pc = PullConsumer::connect(&cluster.namesrv, "cg-tagc").unwrap();
    let mut c_count = 0;
    for q in pc.fetch_queues("Tagged").await.unwrap() {
        let r = pc.pull(&q, "TagC", 0, 32).await.unwrap();
        assert!(r.messages.iter().all(|m| m.tags() == Some("TagC")));
        c_count += r.messages.len();
    }
    assert_eq!(c_count, 10);
    pc.shutdown().await;
    c.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn sql92_selectors_deliver_only_what_they_select() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Priced", 2).await;
    let (got, l) = recorder();
    let selector = MessageSelector::by_sql("price > 50 AND region IN ('eu', 'us') OR vip = TRUE");
    let c = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("cg-sql")
        .subscribe_with("Priced", selector.clone())
        .consume_from(ConsumeFromWhere::FirstOffset)
        .start(l)
        .await
        .unwrap();
    let p = cluster.producer();
    let regions = ["eu", "us", "apac"];
    let mut want = BTreeSet::new();
    for i in 0..30u32 {
        let (price, region, vip) = (i * 5, regions[i as usize % 3], i == 3);
        if (price > 50 && region != "apac") || vip {
            want.insert(format!("m{i}"));
        }
        let mut m = Message::new("Priced", format!("m{i}"))
            .with_property("price", price.to_string())
            .with_property("region", region);
        if vip {
            m = m.with_property("vip", "true");
        }
        p.send(m).await.unwrap();
    }
    wait_until("the selected messages", Duration::from_secs(20), || {
        let n = got.lock().len();
        let want = want.len();
        async move { n >= want }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bodies: BTreeSet<String> = got
        .lock()
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    assert_eq!(bodies, want);
    assert_eq!(got.lock().len(), want.len(), "each once");

    // The pull consumer selects the same way.
    let pc = PullConsumer::connect(&cluster.namesrv, "cg-sql-pull").unwrap();
    let mut pulled = BTreeSet::new();
    for q in pc.fetch_queues("Priced").await.unwrap() {
        let mut offset = 0;
        loop {
            let r = pc
                .pull_selected(&q, &selector, offset, 32, Duration::ZERO)
                .await
                .unwrap();
            pulled.extend(
                r.messages
                    .iter()
                    .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
            );
            if r.status == PullStatus::NoNewMessage || r.next_begin_offset == offset {
                break;
            }
            offset = r.next_begin_offset;
        }
    }
    assert_eq!(pulled, want);

    // A selector the broker cannot compile stops the consumer's start, with the broker's reason.
    let (_, l) = recorder();
    let bad = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("cg-sql-bad")
        .subscribe_with("Priced", MessageSelector::by_sql("price >"))
        .start(l)
        .await;
    match bad {
        Err(ClientError::Broker { code, .. }) => assert_eq!(code, 23, "SUBSCRIPTION_PARSE_FAILED"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a consumer with a broken selector started"),
    }
    pc.shutdown().await;
    c.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn later_and_listener_panics_send_the_message_back_until_it_succeeds() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Retry", 1).await;
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let c2 = calls.clone();
    let done = Arc::new(AtomicUsize::new(0));
    let d2 = done.clone();
    let c = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("cg-later")
        .subscribe("Retry", "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .reconsume_delay(Duration::from_millis(50))
        .start(move |msgs: Vec<MessageExt>| {
            let calls = c2.clone();
            let done = d2.clone();
            async move {
                let mut calls = calls.lock();
                let n = calls.entry(msgs[0].msg_id.clone()).or_default();
                *n += 1;
                // Redeliveries are the broker's copies from the group's retry topic, handed
                // over under the original topic.
                let m = &msgs[0];
                assert_eq!(m.topic, "Retry");
                assert_eq!(m.reconsume_times as usize, *n - 1);
                let via_retry = m.property("RETRY_TOPIC") == Some("Retry");
                assert_eq!(via_retry, *n > 1, "call {n} of {:?}", m.body);
                if *n == 1 && msgs[0].body.as_ref() == b"r0" {
                    drop(calls);
                    // A panicking listener counts as Later, as an exception does in Java.
                    panic!("listener failure on purpose");
                }
                if *n < 3 {
                    ConsumeResult::Later
                } else {
                    done.fetch_add(1, Ordering::SeqCst);
                    ConsumeResult::Success
                }
            }
        })
        .await
        .unwrap();
    let p = cluster.producer();
    for i in 0..3 {
        p.send(Message::new("Retry", format!("r{i}")))
            .await
            .unwrap();
    }
    wait_until("3 messages consumed", Duration::from_secs(10), || {
        let n = done.load(Ordering::SeqCst);
        async move { n == 3 }
    })
    .await;
    assert!(calls.lock().values().all(|n| *n == 3));
    let q = c.assignment()[0].clone();
    assert_eq!(q.topic, "Retry");
    wait_until(
        "offset moves past all three",
        Duration::from_secs(5),
        || {
            let o = c.offset(&q);
            async move { o == Some(3) }
        },
    )
    .await;
    c.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn a_message_failing_every_time_ends_in_the_dead_letter_queue_without_holding_others() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Failing", 1).await;
    let (seen, listener) = failing_on("bad");
    let c = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("cg-dlq")
        .subscribe("Failing", "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .max_reconsume_times(2)
        .start(listener)
        .await
        .unwrap();
    let p = cluster.producer();
    p.send(Message::new("Failing", "bad")).await.unwrap();
    for i in 0..5 {
        p.send(Message::new("Failing", format!("good{i}")))
            .await
            .unwrap();
    }
    // The failing message does not hold the queue: everything behind it is consumed and the
    // offset moves past all six at once.
    let q = c.assignment()[0].clone();
    wait_until(
        "the offset moves past all six",
        Duration::from_secs(10),
        || {
            let o = c.offset(&q);
            async move { o == Some(6) }
        },
    )
    .await;
    let bad = |seen: &[(String, i32)]| -> Vec<i32> {
        seen.iter()
            .filter(|(b, _)| b == "bad")
            .map(|(_, r)| *r)
            .collect()
    };
    wait_until(
        "three deliveries of the bad message",
        Duration::from_secs(15),
        || {
            let n = bad(&seen.lock()).len();
            async move { n >= 3 }
        },
    )
    .await;
    // Its third failure sends it to the dead-letter queue, not back again.
    assert_eq!(cluster.dlq_bodies("cg-dlq").await, [b"bad".to_vec()]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        bad(&seen.lock()),
        [0, 1, 2],
        "delivered with reconsume times 0, 1, 2, then parked"
    );
    let goods = seen
        .lock()
        .iter()
        .filter(|(b, _)| b.starts_with("good"))
        .count();
    assert_eq!(goods, 5);
    c.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn pull_consumer_reads_from_explicit_offsets_and_manages_offsets() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Pulled", 2).await;
    let p = cluster.producer();
    let pc = PullConsumer::connect(&cluster.namesrv, "cg-pull").unwrap();
    let queues = pc.fetch_queues("Pulled").await.unwrap();
    assert_eq!(queues.len(), 2);
    let q = queues[1].clone();
    for i in 0..10 {
        p.send_to_queue(Message::new("Pulled", format!("p{i}")), &q)
            .await
            .unwrap();
    }
    let r = pc.pull(&q, "*", 0, 4).await.unwrap();
    assert_eq!(r.status, PullStatus::Found);
    assert_eq!(
        r.messages
            .iter()
            .map(|m| m.queue_offset)
            .collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(r.next_begin_offset, 4);
    assert_eq!(r.max_offset, 10);
    let r = pc.pull(&q, "*", 4, 32).await.unwrap();
    assert_eq!(r.messages.len(), 6);
    assert_eq!(r.messages[5].body.as_ref(), b"p9");
    let r = pc.pull(&q, "*", 10, 32).await.unwrap();
    assert_eq!(r.status, PullStatus::NoNewMessage);
    assert_eq!(pc.max_offset(&q).await.unwrap(), 10);
    assert_eq!(pc.min_offset(&q).await.unwrap(), 0);

    pc.update_offset(&q, 7).await.unwrap();
    assert_eq!(pc.query_offset(&q).await.unwrap(), Some(7));

    // A long-polling pull on the empty end is answered when a message arrives.
    let p2 = p.clone();
    let q2 = q.clone();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        p2.send_to_queue(Message::new("Pulled", "late"), &q2)
            .await
            .unwrap();
    });
    let r = pc
        .pull_blocking(&q, "*", 10, 32, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(r.status, PullStatus::Found);
    assert_eq!(r.messages[0].body.as_ref(), b"late");
    sender.await.unwrap();
    pc.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn shutdown_completes_while_rebalances_keep_coming() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Churn", 4).await;
    for round in 0..5 {
        let (_got, l) = recorder();
        let c = PushConsumer::builder()
            .namesrv(&cluster.namesrv)
            .group("cg-churn")
            .subscribe("Churn", "*")
            .rebalance_interval(Duration::from_millis(5))
            .start(l)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30 + round * 7)).await;
        c.trigger_rebalance();
        tokio::time::timeout(Duration::from_secs(15), c.shutdown())
            .await
            .unwrap_or_else(|_| panic!("shutdown hung in round {round}"));
    }
    cluster.stop().await;
}
