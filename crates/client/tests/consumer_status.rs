//! An admin asking a running push consumer about itself through the broker, against a real
//! name server and broker: its running info (settings, subscriptions, every assigned queue with
//! its offsets, per-topic rates) and consuming one stored message directly, with the listener's
//! verdict — success, later, or a panic — coming back to the admin; the offsets it holds for a
//! topic; and what each group of a topic did with a message (its message tracks).

mod common;

use std::time::Duration;

use common::{wait_until, Cluster};
use courier_client::{
    ConsumeFromWhere, ConsumeResult, Message, MessageExt, MessageListener, MessageModel,
    PushConsumer, TrackType,
};
use courier_remoting::body::{prop, CmResult};
use parking_lot::Mutex;
use std::sync::Arc;

/// A listener that records bodies, answers `Later` to "later" and panics on "panic".
fn listener() -> (Arc<Mutex<Vec<String>>>, impl MessageListener) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let l = move |msgs: Vec<MessageExt>| {
        let body = String::from_utf8_lossy(&msgs[0].body).into_owned();
        s.lock().push(body.clone());
        match body.as_str() {
            "panic" => panic!("the listener cannot take this one"),
            "later" => std::future::ready(ConsumeResult::Later),
            _ => std::future::ready(ConsumeResult::Success),
        }
    };
    (seen, l)
}

#[tokio::test]
async fn a_running_consumer_reports_its_state_and_consumes_a_message_directly() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Watched", 4).await;
    let (seen, l) = listener();
    let consumer = PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group("watched-group")
        .subscribe("Watched", "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .start(l)
        .await
        .unwrap();
    let p = cluster.producer();
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(
            p.send(Message::new("Watched", format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    wait_until("20 consumed", Duration::from_secs(20), || {
        let n = seen.lock().len();
        async move { n >= 20 }
    })
    .await;

    let admin = cluster.admin();
    let all = admin
        .consumer_running_info("watched-group", None)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let status = &all[0];
    assert_eq!(status.client_id, consumer.client_id());
    let info = status.info.as_ref().expect("the consumer answered");
    assert_eq!(info.properties["consumerGroup"], "watched-group");
    assert_eq!(info.properties["messageModel"], "CLUSTERING");
    assert_eq!(info.properties[prop::CONSUME_ORDERLY], "false");
    assert_eq!(info.properties[prop::CONSUME_TYPE], "CONSUME_PASSIVELY");
    assert_eq!(
        info.properties[prop::NAMESERVER_ADDR],
        format!("{};", cluster.namesrv)
    );
    let topics: Vec<&str> = info
        .subscription_set
        .iter()
        .map(|s| s.topic.as_str())
        .collect();
    assert_eq!(topics, ["%RETRY%watched-group", "Watched"]);
    // Every queue of the topic is this consumer's, each with where it got to.
    let watched: Vec<_> = info
        .mq_table
        .iter()
        .filter(|(q, _)| q.topic == "Watched")
        .collect();
    assert_eq!(watched.len(), 4);
    let committed: i64 = watched.iter().map(|(_, pq)| pq.commit_offset).sum();
    assert_eq!(committed, 20, "{watched:?}");
    assert!(watched
        .iter()
        .all(|(_, pq)| pq.cached_msg_count == 0 && !pq.droped));
    assert!(watched.iter().all(|(_, pq)| pq.last_pull_timestamp > 0));
    let rates = &info.status_table["Watched"];
    assert!(
        rates.consume_ok_tps > 0.0 && rates.pull_tps > 0.0,
        "{rates:?}"
    );
    assert_eq!(rates.consume_failed_msgs, 0);

    // The offsets it holds for the topic (INVOKE_BROKER_TO_GET_CONSUMER_STATUS, answered by the
    // consumer itself): one per queue, 20 messages in all, matching its running info.
    let held = admin
        .consumer_offsets_held("watched-group", "Watched", None)
        .await
        .unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].0, consumer.client_id());
    let queues: Vec<i32> = held[0].1.iter().map(|(q, _)| q.queue_id).collect();
    assert_eq!(queues, [0, 1, 2, 3]);
    assert_eq!(held[0].1.iter().map(|(_, o)| o).sum::<i64>(), 20);
    let only = admin
        .consumer_offsets_held("watched-group", "Watched", Some("other@1"))
        .await
        .unwrap();
    assert!(only.is_empty(), "{only:?}");

    // One message handed over again, whatever the offsets say.
    let r = admin
        .consume_message_directly(
            "watched-group",
            consumer.client_id(),
            &sent[3].offset_msg_id,
        )
        .await
        .unwrap();
    assert_eq!(r.consume_result, Some(CmResult::CrSuccess));
    assert!(!r.order && r.auto_commit);
    assert_eq!(seen.lock().last().map(String::as_str), Some("m3"));
    assert_eq!(seen.lock().len(), 21);

    // The listener's other answers.
    for (body, expected) in [
        ("later", CmResult::CrLater),
        ("panic", CmResult::CrThrowException),
    ] {
        // Sent to another topic the group does not consume, so only the direct call sees it.
        cluster.create_topic("Elsewhere", 1).await;
        let r = p.send(Message::new("Elsewhere", body)).await.unwrap();
        let verdict = admin
            .consume_message_directly("watched-group", consumer.client_id(), &r.offset_msg_id)
            .await
            .unwrap();
        assert_eq!(verdict.consume_result, Some(expected), "{body}");
    }

    // Refusals name what is wrong.
    let err = admin
        .consume_message_directly("watched-group", "nobody@1", &sent[0].offset_msg_id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not online"), "{err}");
    let err = admin
        .consume_message_directly("watched-group", consumer.client_id(), &sent[0].msg_id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an offset msgId"), "{err}");
    assert!(admin
        .consumer_running_info("nobody-group", None)
        .await
        .unwrap()
        .is_empty());
    assert!(admin
        .consumer_running_info("watched-group", Some("other@1"))
        .await
        .unwrap()
        .is_empty());

    admin.shutdown().await;
    consumer.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}

/// A push consumer of `group` on `topic` from its first offset, committing every 100 ms. Pulls
/// are held 1 s at most: a group whose tags leave the message out is not woken by its arrival,
/// and moves past it only when its held pull times out.
async fn consumer_of(
    cluster: &Cluster,
    group: &str,
    tags: &str,
    model: MessageModel,
    listener: impl MessageListener,
) -> PushConsumer {
    PushConsumer::builder()
        .namesrv(&cluster.namesrv)
        .group(group)
        .model(model)
        .subscribe("Tracked", tags)
        .consume_from(ConsumeFromWhere::FirstOffset)
        .persist_interval(Duration::from_millis(100))
        .long_poll_suspend(Duration::from_secs(1))
        .offset_dir(std::env::temp_dir().join("courier-track-offsets"))
        .start(listener)
        .await
        .unwrap()
}

#[tokio::test]
async fn message_tracks_tell_what_each_group_did_with_a_message() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Tracked", 1).await;
    let ok = |_m: Vec<MessageExt>| std::future::ready(ConsumeResult::Success);
    let slow = |_m: Vec<MessageExt>| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        ConsumeResult::Success
    };
    // Offline by the time the message arrives, with an offset committed before it.
    let gone = consumer_of(&cluster, "track-gone", "*", MessageModel::Clustering, ok).await;
    wait_until("track-gone's queue", Duration::from_secs(10), || {
        let n = gone.assignment().len();
        async move { n == 1 }
    })
    .await;
    gone.shutdown().await;
    let all = consumer_of(&cluster, "track-all", "*", MessageModel::Clustering, ok).await;
    let other = consumer_of(
        &cluster,
        "track-other",
        "Other",
        MessageModel::Clustering,
        ok,
    )
    .await;
    let every = consumer_of(&cluster, "track-every", "*", MessageModel::Broadcasting, ok).await;
    let stuck = consumer_of(&cluster, "track-stuck", "*", MessageModel::Clustering, slow).await;

    let p = cluster.producer();
    let sent = p
        .send(Message::new("Tracked", "tracked").with_tags("TagA"))
        .await
        .unwrap();
    let admin = cluster.admin();
    for group in ["track-all", "track-other"] {
        wait_until(
            "the group's offset committed past it",
            Duration::from_secs(20),
            || {
                let admin = &admin;
                async move {
                    admin
                        .consumer_progress(group, Some("Tracked"))
                        .await
                        .is_ok_and(|c| c.offset_table.iter().any(|(_, w)| w.consumer_offset > 0))
                }
            },
        )
        .await;
    }
    let msg = admin.view_message(&sent.offset_msg_id).await.unwrap();
    let tracks = admin.message_tracks(&msg).await.unwrap();
    let of = |g: &str| {
        tracks
            .iter()
            .find(|t| t.group == g)
            .unwrap_or_else(|| panic!("no track for {g}: {tracks:?}"))
    };
    assert_eq!(of("track-all").track, TrackType::Consumed, "{tracks:?}");
    assert_eq!(
        of("track-other").track,
        TrackType::ConsumedButFiltered,
        "{tracks:?}"
    );
    assert_eq!(
        of("track-every").track,
        TrackType::ConsumeBroadcasting,
        "{tracks:?}"
    );
    assert_eq!(
        of("track-stuck").track,
        TrackType::NotConsumeYet,
        "{tracks:?}"
    );
    let gone_track = of("track-gone");
    assert_eq!(gone_track.track, TrackType::NotOnline, "{tracks:?}");
    assert!(
        gone_track
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("has not reached"),
        "{gone_track:?}"
    );

    admin.shutdown().await;
    for c in [all, other, every] {
        c.shutdown().await;
    }
    // `stuck` is left to the runtime's end: its listener holds the message for 30 s.
    drop(stuck);
    p.shutdown().await;
    cluster.stop().await;
}
