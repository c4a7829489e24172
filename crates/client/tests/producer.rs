//! Producer against a real name server and broker: every send mode, then the
//! stored messages are read back with a pull consumer.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::Cluster;
use courier_client::{
    ClientError, Message, MessageExt, MessageQueue, Producer, PullConsumer, PullStatus, SendStatus,
};

/// Every message stored in `topic`, per queue in offset order.
async fn read_all(namesrv: &str, topic: &str) -> BTreeMap<MessageQueue, Vec<MessageExt>> {
    let pc = PullConsumer::connect(namesrv, "reader").unwrap();
    let mut out = BTreeMap::new();
    for q in pc.fetch_queues(topic).await.unwrap() {
        let mut offset = 0;
        let mut msgs = Vec::new();
        loop {
            let r = pc.pull(&q, "*", offset, 32).await.unwrap();
            if r.status != PullStatus::Found {
                break;
            }
            offset = r.next_begin_offset;
            msgs.extend(r.messages);
        }
        out.insert(q, msgs);
    }
    pc.shutdown().await;
    out
}

#[tokio::test]
async fn sync_async_callback_oneway_and_batch_sends_are_all_stored() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("SendModes", 4).await;
    let p = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("pg")
        .build()
        .unwrap();

    let mut expected: HashMap<String, String> = HashMap::new(); // body → UNIQ_KEY ("" = unknown)
    for i in 0..8 {
        let body = format!("sync-{i}");
        let r = p
            .send(Message::new("SendModes", body.clone()).with_tags("TagA"))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(r.msg_id.len(), 32);
        assert_eq!(r.offset_msg_id.len(), 32);
        expected.insert(body, r.msg_id);
    }
    let futures: Vec<_> = (0..8)
        .map(|i| {
            let body = format!("async-{i}");
            (body.clone(), p.send_async(Message::new("SendModes", body)))
        })
        .collect();
    for (body, f) in futures {
        let r = f.await.unwrap();
        expected.insert(body, r.msg_id);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..4 {
        let tx = tx.clone();
        let body = format!("callback-{i}");
        let b = body.clone();
        p.send_with_callback(Message::new("SendModes", body), move |r| {
            let _ = tx.send((b, r));
        });
    }
    for _ in 0..4 {
        let (body, r) = rx.recv().await.unwrap();
        expected.insert(body, r.unwrap().msg_id);
    }
    for i in 0..4 {
        let body = format!("oneway-{i}");
        p.send_oneway(Message::new("SendModes", body.clone()))
            .await
            .unwrap();
        expected.insert(body, String::new());
    }
    let batch: Vec<Message> = (0..10)
        .map(|i| Message::new("SendModes", format!("batch-{i}")).with_keys(format!("k{i}")))
        .collect();
    let r = p.send_batch(batch).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    let batch_ids: Vec<&str> = r.msg_id.split(',').collect();
    assert_eq!(batch_ids.len(), 10);
    assert_eq!(r.offset_msg_id.split(',').count(), 10);
    for (i, id) in batch_ids.iter().enumerate() {
        expected.insert(format!("batch-{i}"), id.to_string());
    }

    // Oneway sends get no answer: wait until everything is readable.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stored = loop {
        let stored = read_all(&cluster.namesrv, "SendModes").await;
        if stored.values().map(Vec::len).sum::<usize>() == 34 {
            break stored;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all 34 messages stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut seen = HashMap::new();
    for (q, msgs) in &stored {
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m.queue_offset, i as i64, "offsets are dense in {q}");
            assert_eq!(m.queue_id, q.queue_id);
            let body = String::from_utf8(m.body.to_vec()).unwrap();
            seen.insert(body, m.clone());
        }
    }
    assert_eq!(seen.len(), expected.len());
    for (body, id) in &expected {
        let m = &seen[body];
        if !id.is_empty() {
            assert_eq!(&m.msg_id, id, "UNIQ_KEY of {body}");
        }
        if body.starts_with("sync") {
            assert_eq!(m.tags(), Some("TagA"));
        }
    }
    // The batch landed consecutively in one queue, from the reported offset.
    let q = &r.queue;
    let in_queue = &stored[q];
    for (i, id) in batch_ids.iter().enumerate() {
        let m = &in_queue[r.queue_offset as usize + i];
        assert_eq!(&m.msg_id, id);
        assert_eq!(m.keys(), Some(format!("k{i}").as_str()));
    }
    // Round-robin: 30 single sends over 4 queues use every queue.
    assert!(stored.values().all(|v| !v.is_empty()));

    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn large_bodies_are_compressed_and_read_back_intact_and_limits_hold() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Big", 1).await;
    let p = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("pg")
        .max_message_size(64 * 1024)
        .build()
        .unwrap();
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 7) as u8 + b'a').collect();
    let r = p
        .send(
            Message::new("Big", body.clone())
                .with_tags("T")
                .with_property("color", "blue"),
        )
        .await
        .unwrap();
    let stored = read_all(&cluster.namesrv, "Big").await;
    let m = &stored[&r.queue][0];
    assert_eq!(m.sys_flag & 0x1, 0x1, "stored compressed");
    assert!(m.store_size < 10_000, "compressed on the wire and on disk");
    assert_eq!(m.body.as_ref(), body.as_slice());
    assert_eq!(m.property("color"), Some("blue"));

    let too_big = p.send(Message::new("Big", vec![1u8; 64 * 1024 + 1])).await;
    assert!(matches!(too_big, Err(ClientError::InvalidMessage(_))));
    let empty = p.send(Message::new("Big", Vec::new())).await;
    assert!(matches!(empty, Err(ClientError::InvalidMessage(_))));
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn selector_keys_pin_queues_and_unknown_topics_are_auto_created() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Keyed", 8).await;
    let p = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("pg")
        .build()
        .unwrap();
    let mut by_key: HashMap<String, MessageQueue> = HashMap::new();
    for round in 0..3 {
        for k in 0..6 {
            let key = format!("order-{k}");
            let r = p
                .send_with_selector(Message::new("Keyed", format!("{round}")), &key)
                .await
                .unwrap();
            let q = by_key.entry(key).or_insert_with(|| r.queue.clone());
            assert_eq!(q, &r.queue);
        }
    }
    let distinct: std::collections::BTreeSet<_> = by_key.values().collect();
    assert!(distinct.len() > 1, "keys spread over queues");

    // No topic created: the producer falls back to TBW102 and the broker creates it.
    let r = p.send(Message::new("AutoCreated", "x")).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    let admin = cluster.admin();
    admin
        .wait_for_route("AutoCreated", 1, Duration::from_secs(10))
        .await
        .unwrap();
    admin.shutdown().await;
    let stored = read_all(&cluster.namesrv, "AutoCreated").await;
    assert_eq!(stored.values().map(Vec::len).sum::<usize>(), 1);
    p.shutdown().await;
    cluster.stop().await;
}

#[tokio::test]
async fn sends_fail_over_to_the_other_broker_when_one_is_stopped() {
    let mut cluster = Cluster::start(2).await;
    cluster.create_topic("Failover", 2).await;
    let p = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("pg")
        // Keep picking the dead broker, so every second send needs a retry.
        .fault_isolation(Duration::ZERO)
        .build()
        .unwrap();
    // A second producer that never retries, to show what the retry buys.
    let no_retry = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("pg2")
        .retries(0)
        .fault_isolation(Duration::ZERO)
        .build()
        .unwrap();
    for producer in [&p, &no_retry] {
        let queues = producer.publish_queues("Failover").await.unwrap();
        assert_eq!(queues.len(), 4, "route cached with both brokers");
    }
    cluster.stop_broker("broker-b").await;
    for i in 0..20 {
        let r = p
            .send(Message::new("Failover", format!("m{i}")))
            .await
            .unwrap_or_else(|e| panic!("send {i} failed: {e}"));
        assert_eq!(r.queue.broker_name, "broker-a");
    }
    let mut failures = 0;
    for i in 0..4 {
        if no_retry
            .send(Message::new("Failover", format!("n{i}")))
            .await
            .is_err()
        {
            failures += 1;
        }
    }
    assert!(
        failures > 0,
        "without retries a send to the stopped broker fails"
    );
    no_retry.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

/// The client's default (ROCKETMQ binary) and Java's default (JSON) header encodings, each
/// through sends of every kind, a pull and the offset calls.
#[tokio::test]
async fn both_header_encodings_work_end_to_end() {
    use courier_client::SerializeType;
    let cluster = Cluster::start(1).await;
    for (topic, st) in [
        ("Binary", SerializeType::RocketMq),
        ("Json", SerializeType::Json),
    ] {
        cluster.create_topic(topic, 2).await;
        let mut options = courier_client::ClientOptions::default();
        options.set_namesrv(&cluster.namesrv);
        options.serialize_type = st;
        let p = Producer::builder()
            .options(options.clone())
            .group(format!("pg-{topic}"))
            .build()
            .unwrap();
        let r = p
            .send(Message::new(topic, "one").with_tags("B"))
            .await
            .unwrap();
        p.send_oneway(Message::new(topic, "oneway")).await.unwrap();
        let batch: Vec<Message> = (0..3)
            .map(|i| Message::new(topic, format!("batch-{i}")).with_tags("B"))
            .collect();
        let b = p.send_batch(batch).await.unwrap();
        assert_eq!(b.msg_id.split(',').count(), 3, "{st:?}");
        let pc = PullConsumer::new(options, format!("cg-{topic}")).unwrap();
        let got = pc.pull(&r.queue, "B", r.queue_offset, 1).await.unwrap();
        assert_eq!(got.messages[0].msg_id, r.msg_id, "{st:?}");
        assert_eq!(&got.messages[0].body[..], b"one");
        let got = pc.pull(&b.queue, "B", b.queue_offset, 3).await.unwrap();
        let ids: Vec<&str> = got.messages.iter().map(|m| m.msg_id.as_str()).collect();
        assert_eq!(ids.join(","), b.msg_id, "{st:?}");
        pc.update_offset(&r.queue, 1).await.unwrap();
        assert_eq!(pc.query_offset(&r.queue).await.unwrap(), Some(1), "{st:?}");
        pc.shutdown().await;
        p.shutdown().await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn timer_messages_arrive_at_their_deliver_time_and_batches_refuse_them() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Timed", 1).await;
    let p = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("pg-timer")
        .build()
        .unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let at = now() + 2_400;
    let sent = p
        .send(Message::new("Timed", "at").with_deliver_time_ms(at))
        .await
        .unwrap();
    p.send(Message::new("Timed", "after").with_delay(Duration::from_millis(1_200)))
        .await
        .unwrap();
    // A third one is recalled with the handle its send returned: it never arrives.
    let doomed = p
        .send(Message::new("Timed", "recalled").with_delay(Duration::from_millis(1_500)))
        .await
        .unwrap();
    let handle = doomed
        .recall_handle
        .expect("a timer send returns a recall handle");
    assert_eq!(
        p.recall_message("Timed", &handle).await.unwrap(),
        doomed.msg_id
    );
    assert!(sent.recall_handle.is_some());
    let pc = PullConsumer::connect(&cluster.namesrv, "timer-reader").unwrap();
    let q = sent.queue.clone();
    let r = pc.pull(&q, "*", 0, 32).await.unwrap();
    assert!(
        r.messages.is_empty(),
        "a timer message was delivered at once"
    );

    let mut got: Vec<(String, i64)> = Vec::new();
    let mut offset = 0;
    while got.len() < 2 {
        let r = pc
            .pull_blocking(&q, "*", offset, 32, Duration::from_secs(5))
            .await
            .unwrap();
        let arrived = now();
        for m in &r.messages {
            got.push((String::from_utf8_lossy(&m.body).into_owned(), arrived));
            let out: i64 = m.property("TIMER_OUT_MS").unwrap().parse().unwrap();
            assert!(arrived >= out, "delivered {} ms early", out - arrived);
        }
        offset = r.next_begin_offset;
    }
    let order: Vec<&str> = got.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(
        order,
        ["after", "at"],
        "the shorter timer first, the recalled one never"
    );
    let r = pc
        .pull_blocking(&q, "*", offset, 32, Duration::from_millis(1_500))
        .await
        .unwrap();
    assert!(r.messages.is_empty(), "the recalled message arrived");
    assert!(got[1].1 >= at / 1000 * 1000);

    let batch = vec![
        Message::new("Timed", "a"),
        Message::new("Timed", "b").with_deliver_time_ms(at),
    ];
    assert!(matches!(
        p.send_batch(batch).await,
        Err(ClientError::InvalidMessage(_))
    ));
    pc.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}
