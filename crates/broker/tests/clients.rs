//! Heartbeats, group membership, NOTIFY_CONSUMER_IDS_CHANGED, long polling and name server
//! registration, over real TCP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use courier_remoting::body::{
    from_json, ConsumerConnection, GetConsumerListByGroupResponseBody, RegisterBrokerBody,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{
    ClientConfig, ConnectionHandle, Dispatcher, RemotingClient, RemotingCommand, ServerConfig,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn heartbeat(client_id: &str, group: &str, sub: &str) -> RemotingCommand {
    let tags: Vec<&str> = if sub == "*" {
        vec![]
    } else {
        sub.split("||").map(str::trim).collect()
    };
    let codes: Vec<i32> = tags
        .iter()
        .map(|t| courier_store::java_string_hash(t))
        .collect();
    // The shape ali-ons sends: no expressionType.
    let body = serde_json::json!({
        "clientID": client_id,
        "consumerDataSet": [{
            "groupName": group,
            "consumeType": "CONSUME_PASSIVELY",
            "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
            "unitMode": false,
            "subscriptionDataSet": [{
                "topic": "TH", "subString": sub, "tagsSet": tags, "codeSet": codes,
                "subVersion": 1, "classFilterMode": false
            }]
        }],
        "producerDataSet": [{"groupName": "pg"}]
    });
    RemotingCommand::new_request(request::HEART_BEAT).with_body(serde_json::to_vec(&body).unwrap())
}

fn notify_client(tx: mpsc::UnboundedSender<String>) -> RemotingClient {
    let mut d = Dispatcher::new();
    d.register(
        request::NOTIFY_CONSUMER_IDS_CHANGED,
        Arc::new(move |_conn: ConnectionHandle, req: RemotingCommand| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(
                    req.ext_field("consumerGroup")
                        .unwrap_or_default()
                        .into_owned(),
                );
                Ok(None)
            }
        }),
    );
    RemotingClient::with_dispatcher(ClientConfig::default(), d)
}

#[tokio::test]
async fn heartbeat_membership_and_notify() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let (tx_a, mut rx_a) = mpsc::unbounded_channel();
    let a = notify_client(tx_a);
    let r = a
        .invoke(
            &b.addr,
            heartbeat("10.0.0.1@a", "cg", "TagA || TagB"),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    // A's own join notifies the group (A itself).
    assert_eq!(rx_a.recv().await.unwrap(), "cg");

    let (tx_b, _rx_b) = mpsc::unbounded_channel();
    let c2 = notify_client(tx_b);
    let r = c2
        .invoke(
            &b.addr,
            heartbeat("10.0.0.2@b", "cg", "TagA || TagB"),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(rx_a.recv().await.unwrap(), "cg", "A told that B joined");

    assert_eq!(list(&b).await, vec!["10.0.0.1@a", "10.0.0.2@b"]);

    let r = b
        .call_header(
            request::GET_CONSUMER_CONNECTION_LIST,
            &GetConsumerListByGroupRequestHeader {
                consumer_group: "cg".into(),
            },
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let cc: ConsumerConnection = from_json(r.body_bytes()).unwrap();
    assert_eq!(cc.connection_set.len(), 2);
    assert_eq!(cc.message_model.as_deref(), Some("CLUSTERING"));
    assert_eq!(cc.subscription_table["TH"].expression_type, "TAG");

    // The group's retry topic exists right after the heartbeat.
    let r = b
        .call(RemotingCommand::new_request(request::GET_ALL_TOPIC_CONFIG))
        .await;
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert!(v["topicConfigTable"]["%RETRY%cg"].is_object());

    // A pull without the SUBSCRIPTION flag uses the heartbeat's subscription (TagA || TagB).
    for tag in ["TagC", "TagB"] {
        let h = send_header("TH", 0, &props(&[("TAGS", tag)]));
        assert_eq!(b.call(send_cmd(true, h, tag.as_bytes())).await.code, 0);
    }
    let ph = PullMessageRequestHeader {
        consumer_group: "cg".into(),
        topic: "TH".into(),
        queue_id: 0,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: 0,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: None,
        sub_version: 1,
        expression_type: None,
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
    };
    let r = b.call_header(request::PULL_MESSAGE, &ph).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let recs = decode_records(r.body_bytes());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].2.as_deref(), Some("TagB"));
    // A newer subscription version than the broker knows.
    let mut newer = ph.clone();
    newer.sub_version = 2;
    let r = b.call_header(request::PULL_MESSAGE, &newer).await;
    assert_eq!(r.code, response::SUBSCRIPTION_NOT_LATEST);

    // B leaves: A is told, the list shrinks.
    let r = c2
        .invoke(
            &b.addr,
            RemotingCommand::request_with_header(
                request::UNREGISTER_CLIENT,
                &UnregisterClientRequestHeader {
                    client_id: "10.0.0.2@b".into(),
                    producer_group: Some("pg".into()),
                    consumer_group: Some("cg".into()),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(rx_a.recv().await.unwrap(), "cg");
    assert_eq!(list(&b).await, vec!["10.0.0.1@a"]);

    // A's connection closing removes it.
    a.shutdown().await;
    let mut gone = false;
    for _ in 0..200 {
        let h = GetConsumerListByGroupRequestHeader {
            consumer_group: "cg".into(),
        };
        let r = b.call_header(request::GET_CONSUMER_LIST_BY_GROUP, &h).await;
        if r.code == response::SYSTEM_ERROR {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "closed connection was not removed from the group");
    c2.shutdown().await;
    b.stop().await;
}

async fn list(b: &TestBroker) -> Vec<String> {
    let h = GetConsumerListByGroupRequestHeader {
        consumer_group: "cg".into(),
    };
    let r = b.call_header(request::GET_CONSUMER_LIST_BY_GROUP, &h).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    from_json::<GetConsumerListByGroupResponseBody>(r.body_bytes())
        .unwrap()
        .consumer_id_list
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(i32, RemotingCommand)>) -> (i32, RemotingCommand) {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

fn suspended_pull(topic: &str, sub: &str, offset: i64, suspend_ms: i64) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: "lp".into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some(sub.into()),
        sub_version: 0,
        expression_type: None,
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
    };
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)
}

async fn wait_held(b: &TestBroker, n: usize) {
    for _ in 0..1000 {
        let r = b
            .call(RemotingCommand::new_request(
                request::GET_BROKER_RUNTIME_INFO,
            ))
            .await;
        let kv: courier_remoting::body::KvTable = from_json(r.body_bytes()).unwrap();
        if kv.table["heldPullRequests"] == n.to_string() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("pull never parked");
}

#[tokio::test]
async fn long_poll_is_woken_by_a_matching_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let b = Arc::new(TestBroker::start(small_config(dir.path())).await);
    // Create the topic with one message so the queue exists, then long-poll past it.
    let h = send_header("LP", 0, &props(&[("TAGS", "TagA")]));
    assert_eq!(b.call(send_cmd(true, h, b"first")).await.code, 0);

    // Hold time (60 s) far exceeds the client timeout (10 s): only a wake-up can answer in time.
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.call(suspended_pull("LP", "TagA", 1, 60_000)).await })
    };
    wait_held(&b, 1).await;
    // A non-matching tag does not wake the pull ...
    let h = send_header("LP", 0, &props(&[("TAGS", "TagB")]));
    assert_eq!(b.call(send_cmd(true, h, b"other")).await.code, 0);
    // ... a matching one does.
    let h = send_header("LP", 0, &props(&[("TAGS", "TagA")]));
    assert_eq!(b.call(send_cmd(true, h, b"wanted")).await.code, 0);
    let r = waiter.await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let recs = decode_records(r.body_bytes());
    assert_eq!(recs.len(), 1, "the TagB record is filtered out");
    assert_eq!(recs[0].1, b"wanted");
    assert_eq!(recs[0].0, 2);
    wait_held(&b, 0).await;

    // An absurd suspend time from the network is capped, not an overflow.
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.call(suspended_pull("LP", "*", 3, i64::MAX)).await })
    };
    wait_held(&b, 1).await;
    let h = send_header("LP", 0, &props(&[("TAGS", "TagC")]));
    assert_eq!(b.call(send_cmd(true, h, b"fourth")).await.code, 0);
    let r = waiter.await.unwrap();
    assert_eq!(r.code, response::SUCCESS);

    // A short suspend time on an empty queue ends in PULL_NOT_FOUND with fresh offsets.
    let r = b.call(suspended_pull("LP", "*", 4, 50)).await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    let ph: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(ph.max_offset, 4);

    // Shutdown answers parked pulls instead of waiting out their suspend time.
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.call(suspended_pull("LP", "*", 4, 60_000)).await })
    };
    wait_held(&b, 1).await;
    b.shutdown.cancel();
    let r = waiter.await.unwrap();
    assert_eq!(r.code, response::PULL_NOT_FOUND);
}

#[tokio::test]
async fn registers_with_name_server_on_start_on_change_and_unregisters() {
    // A fake name server that records what brokers tell it.
    let (tx, mut rx) = mpsc::unbounded_channel::<(i32, RemotingCommand)>();
    let mut d = Dispatcher::new();
    d.register_all(
        &[request::REGISTER_BROKER, request::UNREGISTER_BROKER],
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((req.code, req.clone()));
                Ok(Some(RemotingCommand::success_to(&req)))
            }
        }),
    );
    let ns = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ns_addr = ns.local_addr().unwrap().to_string();
    let ns_stop = CancellationToken::new();
    let ns_task = tokio::spawn(courier_remoting::serve(
        ns,
        Arc::new(d),
        ServerConfig::default(),
        ns_stop.clone(),
    ));

    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.namesrv_addr = Some(format!("{ns_addr};"));
    config.broker_name = "broker-x".into();
    let b = TestBroker::start(config).await;

    let (code, req) = next(&mut rx).await;
    assert_eq!(code, request::REGISTER_BROKER);
    let h: RegisterBrokerRequestHeader = req.decode_header().unwrap();
    assert_eq!(h.broker_name, "broker-x");
    assert_eq!(h.broker_addr, b.addr);
    assert_eq!(h.cluster_name, "DefaultCluster");
    let body = RegisterBrokerBody::decode(req.body_bytes(), false).unwrap();
    let table = &body.topic_config_serialize_wrapper.topic_config_table;
    assert!(table.contains_key("TBW102"));
    assert!(!table.contains_key("NewTopic"));

    // Creating a topic re-registers at once (the period is 30 s; the wait above is 20 s).
    let r = b
        .call_header(
            request::UPDATE_AND_CREATE_TOPIC,
            &CreateTopicRequestHeader {
                topic: "NewTopic".into(),
                default_topic: "TBW102".into(),
                read_queue_nums: 2,
                write_queue_nums: 2,
                perm: 6,
                topic_filter_type: None,
                topic_sys_flag: None,
                order: None,
                attributes: None,
                force: None,
            },
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let (code, req) = next(&mut rx).await;
    assert_eq!(code, request::REGISTER_BROKER);
    let body = RegisterBrokerBody::decode(req.body_bytes(), false).unwrap();
    let t = &body.topic_config_serialize_wrapper.topic_config_table["NewTopic"];
    assert_eq!((t.read_queue_nums, t.perm), (2, 6));

    b.stop().await;
    let mut saw_unregister = false;
    while let Ok(Some((code, _))) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        if code == request::UNREGISTER_BROKER {
            saw_unregister = true;
            break;
        }
    }
    assert!(saw_unregister);
    ns_stop.cancel();
    ns_task.await.unwrap();
}
