//! The admin codes over real TCP. GET_TOPIC_STATS_INFO (202) and GET_CONSUME_STATS (208): the
//! offsets and timestamps per queue, Java's object-keyed body form, which topics a group's
//! progress covers, the error cases, and the sampled put and consume rates.
//! QUERY_TOPIC_CONSUME_BY_WHO (300) and QUERY_TOPICS_BY_CONSUMER (343): groups of a topic, topics
//! of a group.
//! INVOKE_BROKER_TO_RESET_OFFSET (222): offsets moved by time, to the end or to one offset, stale
//! client commits ignored until the group's next pull, which answers the new offset — also for
//! a pull parked by long polling.
//! GET_BROKER_CONSUME_STATS (317): every group's progress on the broker at once.
//! VIEW_BROKER_STATS_DATA (315): a topic's puts and a group's gets over a minute, hour and day.
//! CLONE_GROUP_OFFSET (314): one group's committed offsets copied to another.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use courier_remoting::body::{
    BrokerStatsData, ConsumeStats, OffsetWrapper, QueryConsumeTimeSpanBody, ResetOffsetBody,
    TopicStatsTable,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
    PULL_FLAG_SUSPEND,
};
use courier_remoting::{ClientConfig, RemotingClient, RemotingCommand};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn with(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut c = RemotingCommand::new_request(code);
    for (k, v) in fields {
        c.ext_fields.insert(k.to_string(), v.to_string());
    }
    c
}

async fn send(b: &TestBroker, topic: &str, queue: i32, n: usize) {
    for i in 0..n {
        let r = b
            .call(send_cmd(
                true,
                send_header(topic, queue, ""),
                format!("m{i}").as_bytes(),
            ))
            .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    }
}

async fn commit(b: &TestBroker, group: &str, topic: &str, queue: i32, offset: i64) {
    let h = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue,
        commit_offset: offset,
    };
    let r = b.call_header(request::UPDATE_CONSUMER_OFFSET, &h).await;
    assert_eq!(r.code, response::SUCCESS);
}

async fn topic_stats(b: &TestBroker, topic: &str) -> TopicStatsTable {
    let r = b
        .call(with(request::GET_TOPIC_STATS_INFO, &[("topic", topic)]))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let mut t = TopicStatsTable::from_json(r.body_bytes()).unwrap();
    t.offset_table.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

async fn consume_stats(b: &TestBroker, fields: &[(&str, &str)]) -> ConsumeStats {
    let r = b.call(with(request::GET_CONSUME_STATS, fields)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let mut c = ConsumeStats::from_json(r.body_bytes()).unwrap();
    c.offset_table.sort_by(|a, b| a.0.cmp(&b.0));
    c
}

#[tokio::test]
async fn topic_and_consume_stats_report_offsets_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("ST", 3, 6))
        .await;
    let before = now_ms();
    send(&b, "ST", 0, 3).await;
    send(&b, "ST", 1, 1).await;
    let after = now_ms();

    // Java's body form: the queue object itself is the key.
    let r = b
        .call(with(request::GET_TOPIC_STATS_INFO, &[("topic", "ST")]))
        .await;
    let text = String::from_utf8(r.body_bytes().to_vec()).unwrap();
    assert!(
        text.starts_with(r#"{"offsetTable":{{"brokerName":"broker-a","queueId":"#),
        "{text}"
    );
    let t = topic_stats(&b, "ST").await;
    assert_eq!(t.offset_table.len(), 3);
    let q = |i: usize| &t.offset_table[i];
    assert_eq!((q(0).0.topic.as_str(), q(0).0.queue_id), ("ST", 0));
    assert_eq!((q(0).1.min_offset, q(0).1.max_offset), (0, 3));
    assert_eq!((q(1).1.min_offset, q(1).1.max_offset), (0, 1));
    assert_eq!((q(2).1.max_offset, q(2).1.last_update_timestamp), (0, 0));
    for i in 0..2 {
        let ts = q(i).1.last_update_timestamp;
        assert!(
            before <= ts && ts <= after,
            "queue {i}: {ts} not in {before}..={after}"
        );
    }
    assert_eq!(t.topic_put_tps, 0.0, "no rate before two samples");

    // Progress of a group that committed offsets on queue 0 only.
    commit(&b, "sg", "ST", 0, 2).await;
    let c = consume_stats(&b, &[("consumerGroup", "sg")]).await;
    assert_eq!(
        c.offset_table.len(),
        3,
        "every read queue of the group's topics"
    );
    let w = |i: usize| c.offset_table[i].1;
    assert_eq!(
        (w(0).broker_offset, w(0).consumer_offset, w(0).pull_offset),
        (3, 2, 2)
    );
    assert!(before <= w(0).last_timestamp && w(0).last_timestamp <= after);
    assert_eq!(
        w(1),
        OffsetWrapper {
            broker_offset: 1,
            ..OffsetWrapper::default()
        }
    );
    assert_eq!(c.consume_tps, 0.0);
    // A topic the group never consumed is still reported when named; unknown ones are skipped.
    let c = consume_stats(&b, &[("consumerGroup", "other"), ("topic", "ST")]).await;
    assert_eq!(c.offset_table.len(), 3);
    assert_eq!(c.offset_table[0].1.consumer_offset, 0);
    let c = consume_stats(&b, &[("consumerGroup", "sg"), ("topic", "Nope")]).await;
    assert!(c.offset_table.is_empty());
    let c = consume_stats(&b, &[("consumerGroup", "sg"), ("topicList", "Nope;ST;")]).await;
    assert_eq!(c.offset_table.len(), 3);
    let c = consume_stats(&b, &[("consumerGroup", "nobody")]).await;
    assert!(c.offset_table.is_empty());

    // Who consumes what: groups with offsets on the topic (or online subscribers to it), and the
    // topics a group has offsets for.
    let r = b
        .call(with(
            request::QUERY_TOPIC_CONSUME_BY_WHO,
            &[("topic", "ST")],
        ))
        .await;
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(v["groupList"], serde_json::json!(["sg"]), "{v}");
    let r = b
        .call(with(request::QUERY_TOPICS_BY_CONSUMER, &[("group", "sg")]))
        .await;
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(v["topicList"], serde_json::json!(["ST"]), "{v}");
    let port = b.addr.rsplit(':').next().unwrap();
    assert!(
        v["brokerAddr"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{port}")),
        "{v}"
    );
    let r = b
        .call(with(
            request::QUERY_TOPICS_BY_CONSUMER,
            &[("group", "nobody")],
        ))
        .await;
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(v["topicList"], serde_json::json!([]), "{v}");
    let r = b.call(with(request::QUERY_TOPIC_CONSUME_BY_WHO, &[])).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);

    // Errors: unknown topic, missing required fields.
    let r = b
        .call(with(request::GET_TOPIC_STATS_INFO, &[("topic", "Nope")]))
        .await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    assert!(r.remark.unwrap().contains("Nope"));
    let r = b.call(with(request::GET_TOPIC_STATS_INFO, &[])).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("topic"));
    let r = b
        .call(with(request::GET_CONSUME_STATS, &[("topic", "ST")]))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("consumerGroup"));
    b.stop().await;
}

/// The rates come from totals sampled every 10 s: the group's offsets are persisted and the
/// broker restarted, so the first sample (at start) already has them and one more sample
/// gives a rate.
#[tokio::test]
async fn sampled_rates_reach_the_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("RT", 1, 6))
        .await;
    send(&b, "RT", 0, 5).await;
    commit(&b, "rg", "RT", 0, 1).await;
    b.stop().await;

    // Taken before the store opens, so that the time since it bounds the store's first minute.
    let restarted = std::time::Instant::now();
    let b = TestBroker::start(small_config(dir.path())).await;
    send(&b, "RT", 0, 20).await;
    commit(&b, "rg", "RT", 0, 11).await;
    // One pull that finds the queue's 25 messages and one past its end that finds none: the
    // broker-wide get counters.
    for offset in [0, 25] {
        let r = b
            .call_header(request::PULL_MESSAGE, &pull_header("rg", "RT", 0, offset))
            .await;
        assert!(
            r.code == response::SUCCESS || r.code == response::PULL_NOT_FOUND,
            "{r:?}"
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (put_tps, consume_tps) = loop {
        let t = topic_stats(&b, "RT").await;
        let c = consume_stats(&b, &[("consumerGroup", "rg")]).await;
        if t.topic_put_tps > 0.0 && c.consume_tps > 0.0 {
            break (t.topic_put_tps, c.consume_tps);
        }
        assert!(std::time::Instant::now() < deadline, "no rate after 30 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // 20 puts and 10 consumed between samples about 10 s apart.
    assert!((1.0..=4.0).contains(&put_tps), "{put_tps}");
    assert!((0.5..=2.0).contains(&consume_tps), "{consume_tps}");
    // The same samples as VIEW_BROKER_STATS_DATA's minute, hour and day (`mqadmin statsAll`).
    let stats = |name: &str, key: &str| {
        with(
            request::VIEW_BROKER_STATS_DATA,
            &[("statsName", name), ("statsKey", key)],
        )
    };
    let cluster = courier_broker::BrokerConfig::default().broker_cluster_name;
    for (name, key, sum) in [
        ("TOPIC_PUT_NUMS", "RT", 20),
        ("GROUP_GET_NUMS", "RT@rg", 10),
        // The whole broker (the dashboard's broker chart): 20 stored since the restart, and
        // the first pull returned the queue's 25.
        ("BROKER_PUT_NUMS", cluster.as_str(), 20),
        ("BROKER_GET_NUMS", cluster.as_str(), 25),
    ] {
        let r = b.call(stats(name, key)).await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        let data: BrokerStatsData = courier_remoting::body::from_json(r.body_bytes()).unwrap();
        for item in [data.stats_minute, data.stats_hour, data.stats_day] {
            assert_eq!(item.sum, sum, "{name} {key}: {data:?}");
            assert!(item.tps > 0.0, "{data:?}");
        }
    }
    // The runtime info's rate triples (10 s, minute, 10 minutes) and midnight totals.
    let r = b
        .call(RemotingCommand::new_request(
            request::GET_BROKER_RUNTIME_INFO,
        ))
        .await;
    let kv: courier_remoting::body::KvTable =
        courier_remoting::body::from_json(r.body_bytes()).unwrap();
    let triple = |k: &str| -> Vec<f64> {
        let v = kv.table.get(k).unwrap_or_else(|| panic!("no {k}: {kv:?}"));
        v.split(' ').map(|x| x.parse().unwrap()).collect()
    };
    for k in [
        "putTps",
        "getFoundTps",
        "getMissTps",
        "getTotalTps",
        "getTransferedTps",
        "getTransferredTps",
    ] {
        let t = triple(k);
        assert_eq!(t.len(), 3, "{k}: {t:?}");
        assert!(t.iter().all(|x| *x > 0.0), "{k}: {t:?}");
    }
    assert_eq!(
        triple("getTotalTps")[0],
        triple("getFoundTps")[0] + triple("getMissTps")[0]
    );
    assert_eq!(
        kv.table["msgPutTotalTodayMorning"], "0",
        "no midnight since start: {kv:?}"
    );
    assert_eq!(kv.table["putMessageTimesTotal"], "20");
    // The store's put latency in Java's form: its 13 bands in order, each `label:count `,
    // counting the puts of the current minute (all 20, unless this test ran past the store's
    // first minute), and the longest put in whole ms.
    let bands: Vec<(&str, u64)> = kv.table["putMessageDistributeTime"]
        .split_terminator(' ')
        .map(|e| {
            let (label, n) = e.rsplit_once(':').unwrap();
            (label, n.parse().unwrap())
        })
        .collect();
    let labels: Vec<&str> = bands.iter().map(|b| b.0).collect();
    assert_eq!(labels, courier_store::BAND_LABELS);
    let counted: u64 = bands.iter().map(|b| b.1).sum();
    if restarted.elapsed() < std::time::Duration::from_secs(55) {
        assert_eq!(counted, 20, "{bands:?}");
    }
    let max_ms: u64 = kv.table["putMessageEntireTimeMax"].parse().unwrap();
    assert!(max_ms < 10_000, "{max_ms}");
    let boot: i64 = kv.table["bootTimestamp"].parse().unwrap();
    assert!((now_ms() - boot) < 120_000, "{boot}");
    for (name, key) in [
        ("BROKER_PUT_NUMS", "NoSuchCluster"),
        ("TOPIC_PUT_NUMS", "Nope"),
        ("GROUP_GET_NUMS", "RT"),
        ("SNDBCK_PUT_NUMS", "RT"),
    ] {
        let r = b.call(stats(name, key)).await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert_eq!(
            r.remark.unwrap(),
            format!("The stats <{name}> <{key}> not exist")
        );
    }
    b.stop().await;
}

async fn committed(b: &TestBroker, group: &str, topic: &str, queue: i32) -> i64 {
    let h = QueryConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue,
        set_zero_if_not_found: None,
    };
    let r = b.call_header(request::QUERY_CONSUMER_OFFSET, &h).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    r.ext_field("offset").unwrap().parse().unwrap()
}

/// Topic RS (two queues) and group rg, which the reset tests move.
async fn reset_topic_and_group(b: &TestBroker) {
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("RS", 2, 6))
        .await;
    b.call(
        RemotingCommand::new_request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
            .with_body(br#"{"groupName":"rg"}"#.to_vec()),
    )
    .await;
}

async fn reset(b: &TestBroker, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut all = vec![("group", "rg"), ("topic", "RS"), ("isForce", "true")];
    all.extend_from_slice(fields);
    b.call(with(request::INVOKE_BROKER_TO_RESET_OFFSET, &all))
        .await
}

fn reset_offsets(r: &RemotingCommand) -> Vec<(i32, i64)> {
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let mut v: Vec<(i32, i64)> = ResetOffsetBody::from_json(r.body_bytes())
        .unwrap()
        .offset_table
        .into_iter()
        .map(|(mq, o)| (mq.queue_id, o))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn offset_resets_move_the_group_at_its_next_pull() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    reset_topic_and_group(&b).await;
    send(&b, "RS", 0, 5).await;
    send(&b, "RS", 1, 3).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle = now_ms().to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    send(&b, "RS", 0, 3).await;
    commit(&b, "rg", "RS", 0, 8).await;
    commit(&b, "rg", "RS", 1, 3).await;

    // Back to the first message stored after `middle`: queue 0 to 5, queue 1 stays at its end.
    let r = reset(&b, &[("timestamp", &middle)]).await;
    assert_eq!(reset_offsets(&r), vec![(0, 5), (1, 3)]);
    assert_eq!(committed(&b, "rg", "RS", 0).await, 5);
    // The running client still commits its old position: ignored until it pulls.
    commit(&b, "rg", "RS", 0, 8).await;
    assert_eq!(committed(&b, "rg", "RS", 0).await, 5);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("rg", "RS", 0, 8))
        .await;
    assert_eq!(r.code, response::PULL_OFFSET_MOVED);
    let h: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(h.next_begin_offset, 5);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("rg", "RS", 0, 5))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_records(r.body_bytes()).len(), 3);
    commit(&b, "rg", "RS", 0, 6).await;
    assert_eq!(committed(&b, "rg", "RS", 0).await, 6);
    // Another group's pulls are not affected.
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("other", "RS", 0, 8))
        .await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);

    // To the end; then, without force, a reset that would move forward leaves the offset alone.
    let r = reset(&b, &[("timestamp", "-1")]).await;
    assert_eq!(reset_offsets(&r), vec![(0, 8), (1, 3)]);
    let r = reset(&b, &[("timestamp", "0"), ("queueId", "0"), ("offset", "2")]).await;
    assert_eq!(reset_offsets(&r), vec![(0, 2)]);
    let r = reset(&b, &[("timestamp", "-1"), ("isForce", "false")]).await;
    assert_eq!(reset_offsets(&r), vec![(0, 2), (1, 3)]);
    assert_eq!(committed(&b, "rg", "RS", 0).await, 2);

    // A pull parked at the end of queue 1 answers the reset at once, not at its timeout. (Its
    // earlier resets are still pending, never pulled: the first pull takes them.)
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("rg", "RS", 1, 3))
        .await;
    assert_eq!(r.code, response::PULL_OFFSET_MOVED);
    let mut parked = pull_header("rg", "RS", 1, 3);
    parked.sys_flag |= PULL_FLAG_SUSPEND;
    parked.suspend_timeout_millis = 20_000;
    // Its own client: the test's one is borrowed by the broker handle.
    let client = RemotingClient::new(ClientConfig::default());
    let addr = b.addr.clone();
    let pull = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let cmd = RemotingCommand::request_with_header(request::PULL_MESSAGE, &parked);
        let r = client.invoke(&addr, cmd, TIMEOUT * 3).await.unwrap();
        (r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reset(&b, &[("timestamp", "0"), ("queueId", "1"), ("offset", "1")]).await;
    assert_eq!(reset_offsets(&r), vec![(1, 1)]);
    let (r, waited) = pull.await.unwrap();
    assert_eq!(r.code, response::PULL_OFFSET_MOVED);
    let h: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(h.next_begin_offset, 1);
    assert!(
        waited < Duration::from_secs(10),
        "the parked pull waited {waited:?}"
    );

    // Errors.
    let r = reset(
        &b,
        &[("timestamp", "0"), ("queueId", "0"), ("offset", "99")],
    )
    .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("not in consume queue range"));
    let r = reset(&b, &[("timestamp", "0"), ("queueId", "7")]).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let unknown_topic = [("group", "rg"), ("topic", "Nope"), ("timestamp", "0")];
    let r = b
        .call(with(request::INVOKE_BROKER_TO_RESET_OFFSET, &unknown_topic))
        .await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    let unknown_group = [("group", "nogroup"), ("topic", "RS"), ("timestamp", "0")];
    let r = b
        .call(with(request::INVOKE_BROKER_TO_RESET_OFFSET, &unknown_group))
        .await;
    assert_eq!(r.code, response::SUBSCRIPTION_GROUP_NOT_EXIST);
    let r = reset(&b, &[]).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("timestamp"));
    let r = reset(&b, &[("timestamp", "soon")]).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    b.stop().await;
}

#[tokio::test]
async fn without_server_side_resets_the_offsets_go_to_the_online_clients() {
    let dir = tempfile::tempdir().unwrap();
    let config = courier_broker::BrokerConfig {
        use_server_side_reset_offset: false,
        ..small_config(dir.path())
    };
    let b = TestBroker::start(config).await;
    reset_topic_and_group(&b).await;
    send(&b, "RS", 0, 5).await;
    commit(&b, "rg", "RS", 0, 5).await;

    // Nobody online: there is no one to move, so the reset is refused.
    let r = reset(&b, &[("timestamp", "0")]).await;
    assert_eq!(r.code, response::CONSUMER_NOT_ONLINE, "{:?}", r.remark);
    assert!(r.remark.unwrap().contains("useServerSideResetOffset"));

    // A client of the group: it gets the offsets, the broker commits nothing itself.
    let (tx, mut pushed) = tokio::sync::mpsc::unbounded_channel();
    let mut d = courier_remoting::Dispatcher::new();
    d.register(
        request::RESET_CONSUMER_CLIENT_OFFSET,
        std::sync::Arc::new(
            move |_c: courier_remoting::ConnectionHandle, req: RemotingCommand| {
                let _ = tx.send(req);
                async { Ok(None) }
            },
        ),
    );
    let client = RemotingClient::with_dispatcher(ClientConfig::default(), d);
    register_consumer(
        &b,
        &client,
        "c@1",
        "rg",
        "RS",
        courier_remoting::command::CURRENT_VERSION,
    )
    .await;

    let r = reset(&b, &[("timestamp", "0")]).await;
    assert_eq!(reset_offsets(&r), vec![(0, 0), (1, 0)]);
    let push = tokio::time::timeout(TIMEOUT, pushed.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(push.is_oneway());
    assert_eq!(push.ext_field("group").as_deref(), Some("rg"));
    assert_eq!(push.ext_field("topic").as_deref(), Some("RS"));
    assert_eq!(push.ext_field("timestamp").as_deref(), Some("0"));
    let mut told: Vec<(i32, i64)> = ResetOffsetBody::from_json(push.body_bytes())
        .unwrap()
        .offset_table
        .into_iter()
        .map(|(mq, o)| (mq.queue_id, o))
        .collect();
    told.sort();
    assert_eq!(told, vec![(0, 0), (1, 0)]);
    assert_eq!(
        committed(&b, "rg", "RS", 0).await,
        5,
        "the clients commit, not the broker"
    );
    // The group's next pull is served as asked: nothing pending on the broker.
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("rg", "RS", 0, 5))
        .await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    b.stop().await;
}

#[tokio::test]
async fn broker_config_is_answered_as_java_properties() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let r = b
        .call(RemotingCommand::new_request(request::GET_BROKER_CONFIG))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let text = String::from_utf8(r.body_bytes().to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"brokerName=broker-a"), "{text}");
    assert!(
        lines.contains(&"brokerClusterName=DefaultCluster"),
        "{text}"
    );
    assert!(lines.contains(&"flushDiskType=ASYNC_FLUSH"), "{text}");
    assert!(lines.contains(&"brokerIP1=127.0.0.1"), "{text}");
    let port = b.addr.rsplit(':').next().unwrap();
    assert!(
        lines.contains(&format!("listenPort={port}").as_str()),
        "{text}"
    );
    assert!(lines.contains(&"maxMessageSize=4194304"), "{text}");
    assert!(lines.iter().all(|l| l.contains('=')), "{text}");
    let version: serde_json::Value =
        serde_json::from_str(&r.ext_field("version").unwrap()).unwrap();
    assert!(
        version["timestamp"].as_i64().unwrap() > 1_700_000_000_000,
        "{version}"
    );
    b.stop().await;
}

async fn create_group(b: &TestBroker, group: &str) {
    let body = format!(r#"{{"groupName":"{group}"}}"#);
    let r = b
        .call(
            RemotingCommand::new_request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(body.into_bytes()),
        )
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
}

#[tokio::test]
async fn broker_consume_stats_list_every_group_with_its_lag() {
    use courier_remoting::body::ConsumeStatsList;
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("BS", 2, 6))
        .await;
    let mut ordered = create_topic("BO", 1, 6);
    ordered.order = Some(true);
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &ordered)
        .await;
    send(&b, "BS", 0, 5).await;
    send(&b, "BS", 1, 3).await;
    send(&b, "BO", 0, 4).await;
    // g1 is 2 behind on BS and 4 behind on BO; g2 caught up on BS; g3 has no offsets.
    for g in ["g1", "g2", "g3"] {
        create_group(&b, g).await;
    }
    commit(&b, "g1", "BS", 0, 3).await;
    commit(&b, "g1", "BS", 1, 3).await;
    commit(&b, "g1", "BO", 0, 0).await;
    commit(&b, "g2", "BS", 0, 5).await;
    commit(&b, "g2", "BS", 1, 3).await;

    let r = b
        .call(with(
            request::GET_BROKER_CONSUME_STATS,
            &[("isOrder", "false")],
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let list = ConsumeStatsList::from_json(r.body_bytes()).unwrap();
    assert_eq!(list.broker_addr, b.addr);
    let of = |g: &str| {
        list.consume_stats_list
            .iter()
            .find(|(name, _)| name == g)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{g} is not listed: {list:?}"))
    };
    let g1 = of("g1");
    let lag: Vec<(String, i64)> = g1
        .iter()
        .map(|s| (s.offset_table[0].0.topic.clone(), s.total_diff()))
        .collect();
    assert_eq!(lag, [("BO".to_string(), 4), ("BS".to_string(), 2)]);
    let bs = g1
        .iter()
        .find(|s| s.offset_table[0].0.topic == "BS")
        .unwrap();
    assert_eq!(bs.offset_table.len(), 2);
    assert!(bs.offset_table[0].1.last_timestamp > 0, "{bs:?}");
    assert_eq!(of("g2").iter().map(|s| s.total_diff()).sum::<i64>(), 0);
    assert!(of("g3").is_empty());
    assert_eq!(list.total_diff, 6);

    // Only ordered topics.
    let r = b
        .call(with(
            request::GET_BROKER_CONSUME_STATS,
            &[("isOrder", "true")],
        ))
        .await;
    let list = ConsumeStatsList::from_json(r.body_bytes()).unwrap();
    let topics: Vec<&str> = list
        .consume_stats_list
        .iter()
        .flat_map(|(_, s)| s)
        .map(|s| s.offset_table[0].0.topic.as_str())
        .collect();
    assert_eq!(topics, ["BO"]);
    assert_eq!(list.total_diff, 4);
    b.stop().await;
}

#[tokio::test]
async fn clone_group_offset_gives_a_new_group_the_old_ones_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("CL", 2, 6))
        .await;
    commit(&b, "old", "CL", 0, 5).await;
    commit(&b, "old", "CL", 1, 2).await;
    commit(&b, "new", "CL", 0, 99).await;
    let clone = |topic: Option<&str>| {
        let mut fields = vec![("srcGroup", "old"), ("destGroup", "new")];
        if let Some(t) = topic {
            fields.push(("topic", t));
        }
        with(request::CLONE_GROUP_OFFSET, &fields)
    };
    let r = b.call(clone(Some("CL"))).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(r.remark.as_deref(), Some("cloned CL (2 queues)"));
    assert_eq!(committed(&b, "new", "CL", 0).await, 5);
    assert_eq!(committed(&b, "new", "CL", 1).await, 2);
    assert_eq!(
        committed(&b, "old", "CL", 0).await,
        5,
        "the source keeps its offsets"
    );

    // The old group's online consumers subscribe elsewhere: skipped unless offline.
    let client = RemotingClient::new(ClientConfig::default());
    register_consumer(&b, &client, "c@1", "old", "Other", 400).await;
    commit(&b, "old", "CL", 0, 7).await;
    let r = b.call(clone(None)).await;
    assert_eq!(r.remark.as_deref(), Some("nothing cloned"));
    assert_eq!(committed(&b, "new", "CL", 0).await, 5);
    let mut offline = clone(Some("CL"));
    offline.ext_fields.insert("offline".into(), "true".into());
    let r = b.call(offline).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(committed(&b, "new", "CL", 0).await, 7);
    client.shutdown().await;
    b.stop().await;
}

/// QUERY_CONSUME_TIME_SPAN: per write queue, the store times of the oldest and newest messages
/// and of the last one the group consumed, and how long its next message has waited.
#[tokio::test]
async fn consume_time_span_tells_a_groups_lag_in_store_times() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("TS", 2, 6))
        .await;
    let before = now_ms();
    send(&b, "TS", 0, 5).await;
    let after = now_ms();
    commit(&b, "behind", "TS", 0, 2).await;
    commit(&b, "done", "TS", 0, 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let span = |group: &str| {
        let group = group.to_string();
        let b = &b;
        async move {
            let r = b
                .call(with(
                    request::QUERY_CONSUME_TIME_SPAN,
                    &[("topic", "TS"), ("group", &group)],
                ))
                .await;
            assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
            let body: QueryConsumeTimeSpanBody =
                courier_remoting::body::from_json(r.body_bytes()).unwrap();
            body.consume_time_span_set
        }
    };
    let behind = span("behind").await;
    assert_eq!(behind.len(), 2, "{behind:?}");
    let (q0, q1) = (&behind[0], &behind[1]);
    assert_eq!(
        (q0.message_queue.topic.as_str(), q0.message_queue.queue_id),
        ("TS", 0)
    );
    assert!(
        before <= q0.min_time_stamp && q0.min_time_stamp <= q0.consume_time_stamp,
        "{q0:?}"
    );
    assert!(
        q0.consume_time_stamp <= q0.max_time_stamp && q0.max_time_stamp <= after,
        "{q0:?}"
    );
    // Its next message (offset 2) was stored before the 300 ms sleep.
    assert!(q0.delay_time >= 300 && q0.delay_time < 60_000, "{q0:?}");
    // An empty queue has no times and no delay.
    assert_eq!(
        (q1.min_time_stamp, q1.max_time_stamp, q1.delay_time),
        (-1, -1, 0),
        "{q1:?}"
    );
    // Caught up: consumed up to the newest message, nothing waiting.
    let done = span("done").await;
    assert_eq!(
        done[0].consume_time_stamp, done[0].max_time_stamp,
        "{done:?}"
    );
    assert_eq!(done[0].delay_time, 0, "{done:?}");
    // A group with no offset starts at the oldest message, which has waited longest.
    let fresh = span("fresh").await;
    assert_eq!(
        fresh[0].consume_time_stamp, fresh[0].min_time_stamp,
        "{fresh:?}"
    );
    assert!(fresh[0].delay_time >= q0.delay_time, "{fresh:?} {q0:?}");
    let r = b
        .call(with(
            request::QUERY_CONSUME_TIME_SPAN,
            &[("topic", "Nope"), ("group", "behind")],
        ))
        .await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    assert_eq!(r.remark.as_deref(), Some("topic[Nope] not exist"));
    b.stop().await;
}
