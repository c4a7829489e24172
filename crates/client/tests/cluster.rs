//! A two-broker cluster (two brokers, one name server): routes list both,
//! producers spread over both, one consumer group spans both.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{recorder, wait_until, Cluster};
use courier_client::{ConsumeFromWhere, Message, Producer, PushConsumer};

#[tokio::test]
async fn producer_spreads_over_two_brokers_and_one_group_consumes_from_both() {
    let cluster = Cluster::start(2).await;
    cluster.create_topic("TwoBrokers", 4).await;

    let consumer = |got| {
        PushConsumer::builder()
            .namesrv(&cluster.namesrv)
            .group("cg-two")
            .subscribe("TwoBrokers", "*")
            .rebalance_interval(Duration::from_millis(500))
            .consume_from(ConsumeFromWhere::FirstOffset)
            .start(got)
    };
    let (got1, l1) = recorder();
    let (got2, l2) = recorder();
    let c1 = consumer(l1).await.unwrap();
    let c2 = consumer(l2).await.unwrap();
    wait_until("8 queues split 4/4", Duration::from_secs(10), || {
        let (a, b) = (c1.assignment(), c2.assignment());
        let union: BTreeSet<_> = a.iter().chain(b.iter()).cloned().collect();
        async move { a.len() == 4 && b.len() == 4 && union.len() == 8 }
    })
    .await;
    let brokers: BTreeSet<String> = c1
        .assignment()
        .into_iter()
        .chain(c2.assignment())
        .map(|q| q.broker_name)
        .collect();
    assert_eq!(brokers.len(), 2, "the group spans both brokers");

    let p = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("pg")
        .build()
        .unwrap();
    assert_eq!(p.publish_queues("TwoBrokers").await.unwrap().len(), 8);
    let mut per_broker: HashMap<String, usize> = HashMap::new();
    let mut sent = BTreeSet::new();
    for i in 0..40 {
        let r = p
            .send(Message::new("TwoBrokers", format!("x{i}")))
            .await
            .unwrap();
        *per_broker.entry(r.queue.broker_name.clone()).or_default() += 1;
        sent.insert(r.msg_id);
    }
    assert_eq!(
        per_broker.len(),
        2,
        "sends went to both brokers: {per_broker:?}"
    );
    assert!(per_broker.values().all(|n| *n == 20), "{per_broker:?}");

    wait_until("40 messages consumed", Duration::from_secs(20), || {
        let n = got1.lock().len() + got2.lock().len();
        async move { n >= 40 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: Vec<String> = got1
        .lock()
        .iter()
        .chain(got2.lock().iter())
        .map(|m| m.msg_id.clone())
        .collect();
    assert_eq!(all.len(), 40, "exactly once");
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), sent);
    let stored_on: BTreeSet<String> = got1
        .lock()
        .iter()
        .chain(got2.lock().iter())
        .map(|m| m.store_host.to_string())
        .collect();
    assert_eq!(stored_on.len(), 2, "messages came from both brokers");

    c1.shutdown().await;
    c2.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}
