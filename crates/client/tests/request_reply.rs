//! Request-reply against a real name server and two brokers: requests from one producer are
//! answered by a push consumer through another producer, each reply reaching the request that
//! asked for it whichever broker it went through; a request nobody answers times out.

mod common;

use std::time::{Duration, Instant};

use common::{wait_until, Cluster};
use courier_client::{
    property, ClientError, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer,
    PushConsumer,
};

#[tokio::test]
async fn requests_get_their_own_replies_across_brokers() {
    let cluster = Cluster::start(2).await;
    cluster.create_topic("Questions", 4).await;

    // The responder: answers every request with "re: <body>" through its own producer.
    let responder = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("responders")
        .build()
        .unwrap();
    let answering = responder.clone();
    let listener = move |msgs: Vec<MessageExt>| {
        let p = answering.clone();
        async move {
            for m in msgs {
                let body = format!("re: {}", String::from_utf8_lossy(&m.body));
                let reply = Message::reply_to(&m, body).expect("a request carries CLUSTER");
                if p.send(reply).await.is_err() {
                    return ConsumeResult::Later;
                }
            }
            ConsumeResult::Success
        }
    };
    let consumer = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("answerers")
        .subscribe("Questions", "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .start(listener)
        .await
        .unwrap();
    wait_until(
        "the consumer owns every queue",
        Duration::from_secs(10),
        || {
            let n = consumer.assignment().len();
            async move { n == 8 }
        },
    )
    .await;

    let requester = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("requesters")
        .build()
        .unwrap();
    // Concurrent requests, spread over both brokers by the producer's round-robin; replies
    // come back through whichever broker the responder's send picked.
    let asks: Vec<_> = (0..16)
        .map(|i| {
            let r = requester.clone();
            tokio::spawn(async move {
                let msg = Message::new("Questions", format!("q{i}"));
                (i, r.request(msg, Duration::from_secs(10)).await)
            })
        })
        .collect();
    let mut brokers = std::collections::BTreeSet::new();
    for ask in asks {
        let (i, reply) = ask.await.unwrap();
        let reply = reply.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(&reply.body[..], format!("re: q{i}").as_bytes());
        assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
        assert_eq!(reply.property(property::MSG_TYPE), Some("reply"));
        assert_eq!(
            reply.property(property::REPLY_TO_CLIENT),
            Some(requester.client_id())
        );
        assert!(reply.property(property::PUSH_REPLY_TIME).is_some());
        assert!(reply.property(property::ARRIVE_TIME).is_some());
        brokers.insert(reply.store_host);
    }
    assert_eq!(brokers.len(), 2, "replies came through both brokers");

    consumer.shutdown().await;
    // Nobody answers now: the request is sent, and its wait runs out.
    let started = Instant::now();
    let err = requester
        .request(
            Message::new("Questions", "anyone?"),
            Duration::from_millis(600),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::RequestTimeout(_)), "{err}");
    assert!(
        err.to_string()
            .contains("wait reply message timeout, 600 ms"),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(550));

    requester.shutdown().await;
    responder.shutdown().await;
    cluster.stop().await;
}
