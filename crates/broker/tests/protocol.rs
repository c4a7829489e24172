//! Protocol tests over real TCP: every broker request code with its error cases.

mod common;

use common::*;
use courier_broker::BrokerConfig;
use courier_remoting::body::{
    from_json, ConsumerConnection, GetConsumerListByGroupResponseBody, KvTable,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::message_batch::{encode_batch, BatchMessage};
use courier_remoting::RemotingCommand;

#[tokio::test]
async fn send_v1_v2_then_pull_with_tag_filter() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;

    let p1 = props(&[("TAGS", "TagA"), ("KEYS", "k1"), ("UNIQ_KEY", "U1")]);
    let r = b
        .call(send_cmd(false, send_header("T", 0, &p1), b"one"))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let h: SendMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(h.msg_id.len(), 32);
    assert_eq!(h.queue_id, 0);
    assert_eq!(h.queue_offset, 0);
    assert_eq!(h.transaction_id.as_deref(), Some("U1"));
    assert_eq!(h.msg_region.as_deref(), Some("DefaultRegion"));

    let p2 = props(&[("TAGS", "TagB")]);
    let r = b
        .call(send_cmd(true, send_header("T", 0, &p2), b"two"))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let h2: SendMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(h2.queue_offset, 1);

    let p3 = props(&[("TAGS", "TagA")]);
    let r = b
        .call(send_cmd(true, send_header("T", 0, &p3), b"three"))
        .await;
    assert_eq!(r.code, response::SUCCESS);

    // Everything.
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "T", 0, 0))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let ph: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(ph.next_begin_offset, 3);
    assert_eq!((ph.min_offset, ph.max_offset), (0, 3));
    let recs = decode_records(r.body_bytes());
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[1].1, b"two");

    // Tag filter on the broker: only TagA records.
    let mut ph = pull_header("cg", "T", 0, 0);
    ph.subscription = Some("TagA".into());
    let r = b.call_header(request::PULL_MESSAGE, &ph).await;
    assert_eq!(r.code, response::SUCCESS);
    let recs = decode_records(r.body_bytes());
    let offsets: Vec<i64> = recs.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 2]);
    assert!(recs.iter().all(|r| r.2.as_deref() == Some("TagA")));

    // VIEW_MESSAGE_BY_ID using the physical offset inside the offset msgId.
    let (_, phys) = courier_store::decode_offset_msg_id(&h2.msg_id).unwrap();
    let r = b
        .call_header(
            request::VIEW_MESSAGE_BY_ID,
            &ViewMessageRequestHeader {
                offset: phys,
                topic: None,
            },
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_records(r.body_bytes())[0].1, b"two");
    let r = b
        .call_header(
            request::VIEW_MESSAGE_BY_ID,
            &ViewMessageRequestHeader {
                offset: 1 << 40,
                topic: None,
            },
        )
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);

    // QUERY_MESSAGE by key and by unique key.
    let q = |key: &str| QueryMessageRequestHeader {
        topic: "T".into(),
        key: key.into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
    };
    let r = b.call_header(request::QUERY_MESSAGE, &q("k1")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(decode_records(r.body_bytes())[0].1, b"one");
    let mut cmd = RemotingCommand::request_with_header(request::QUERY_MESSAGE, &q("U1"));
    cmd.ext_fields
        .insert(UNIQUE_KEY_QUERY.to_string(), "true".to_string());
    let r = b.call(cmd).await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b.call_header(request::QUERY_MESSAGE, &q("nope")).await;
    assert_eq!(r.code, response::QUERY_NOT_FOUND);
    b.stop().await;
}

#[tokio::test]
async fn send_error_cases() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.auto_create_topic_enable = false;
    let b = TestBroker::start(config).await;

    // Missing required header field.
    let mut cmd = send_cmd(false, send_header("T", 0, ""), b"x");
    cmd.ext_fields.remove("topic");
    let r = b.call(cmd).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("topic"));

    // Unknown topic, auto-create off.
    let r = b
        .call(send_cmd(true, send_header("Nope", 0, ""), b"x"))
        .await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST, "{:?}", r.remark);

    // Illegal topic name.
    let r = b
        .call(send_cmd(true, send_header("bad topic", 0, ""), b"x"))
        .await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL);

    // Read-only topic: no write permission bit.
    let r = b
        .call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("RO", 2, 4))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b.call(send_cmd(true, send_header("RO", 0, ""), b"x")).await;
    assert_eq!(r.code, response::NO_PERMISSION, "{:?}", r.remark);

    // Write-only topic: pulls refused.
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("WO", 2, 2))
        .await;
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "WO", 0, 0))
        .await;
    assert_eq!(r.code, response::NO_PERMISSION);

    // Queue id out of range.
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("RW", 2, 6))
        .await;
    let r = b.call(send_cmd(true, send_header("RW", 7, ""), b"x")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    // Negative queue id lets the broker choose.
    let r = b
        .call(send_cmd(true, send_header("RW", -1, ""), b"x"))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let h: SendMessageResponseHeader = r.decode_header().unwrap();
    assert!((0..2).contains(&h.queue_id));

    // Body over maxMessageSize (4 MiB).
    let big = vec![7u8; 4 * 1024 * 1024 + 1];
    let r = b.call(send_cmd(true, send_header("RW", 0, ""), &big)).await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL);
    let remark = r.remark.unwrap();
    assert!(remark.contains("4194304"), "{remark}");

    // Topics clients may not send to.
    let r = b
        .call(send_cmd(
            true,
            send_header("SCHEDULE_TOPIC_XXXX", 0, ""),
            b"x",
        ))
        .await;
    assert_eq!(r.code, response::NO_PERMISSION);

    // Pull error cases: unknown topic, bad queue, bad subscription.
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "Nope", 0, 0))
        .await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "RW", 9, 0))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let mut ph = pull_header("cg", "RW", 0, 0);
    ph.subscription = Some("||".into());
    let r = b.call_header(request::PULL_MESSAGE, &ph).await;
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED);
    let mut ph = pull_header("cg", "RW", 0, 0);
    ph.sys_flag = 0;
    let r = b.call_header(request::PULL_MESSAGE, &ph).await;
    assert_eq!(r.code, response::SUBSCRIPTION_NOT_EXIST, "no heartbeat yet");
    b.stop().await;
}

#[tokio::test]
async fn broker_without_write_permission_refuses_sends() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.broker_permission = 4;
    let b = TestBroker::start(config).await;
    let r = b.call(send_cmd(true, send_header("T", 0, ""), b"x")).await;
    assert_eq!(r.code, response::NO_PERMISSION);
    b.stop().await;
}

#[tokio::test]
async fn batch_send_returns_one_msg_id_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let msgs: Vec<BatchMessage> = (0..3)
        .map(|i| BatchMessage {
            flag: 0,
            body: format!("batch-{i}").into_bytes().into(),
            properties: props(&[("UNIQ_KEY", &format!("B{i}"))]),
        })
        .collect();
    let mut h: SendMessageRequestHeaderV2 =
        send_header("TB", 1, &props(&[("WAIT", "true"), ("UNIQ_KEY", "batch")])).into();
    h.m = Some(true);
    let cmd = RemotingCommand::request_with_header(request::SEND_BATCH_MESSAGE, &h)
        .with_body(encode_batch(&msgs).expect("encodable batch"));
    let r = b.call(cmd).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let rh: SendMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(rh.queue_offset, 0);
    assert_eq!(
        rh.transaction_id.as_deref(),
        Some("batch"),
        "a batch answers with its own UNIQ_KEY, as Java's broker does"
    );
    let ids: Vec<&str> = rh.msg_id.split(',').collect();
    assert_eq!(ids.len(), 3);
    for (i, id) in ids.iter().enumerate() {
        let (_, phys) = courier_store::decode_offset_msg_id(id).unwrap();
        let r = b
            .call_header(
                request::VIEW_MESSAGE_BY_ID,
                &ViewMessageRequestHeader {
                    offset: phys,
                    topic: None,
                },
            )
            .await;
        assert_eq!(r.code, response::SUCCESS);
        assert_eq!(
            decode_records(r.body_bytes())[0].1,
            format!("batch-{i}").as_bytes()
        );
        let m = courier_store::decode_record(r.body_bytes()).unwrap();
        assert_eq!(m.property("WAIT"), Some("true"), "batch property appended");
        assert_eq!(
            m.property("UNIQ_KEY"),
            Some(format!("B{i}").as_str()),
            "own key wins"
        );
    }
    // Garbage batch body.
    let cmd = RemotingCommand::request_with_header(request::SEND_BATCH_MESSAGE, &h)
        .with_body(vec![0, 0, 0, 99, 1]);
    assert_eq!(b.call(cmd).await.code, response::MESSAGE_ILLEGAL);
    b.stop().await;
}

/// A pull of messages that are no longer in memory (older than the 16 MiB write buffer, written
/// with O_DIRECT so never in the page cache) is answered from the disk on the blocking pool,
/// counted in the runtime info's `diskPullsTotal`; a pull at the tail, or of the same messages
/// again (now cached), stays on the async worker. Either way the bytes are the ones sent. A
/// message sent back from there (CONSUMER_SEND_MSG_BACK) is read the same way and arrives whole.
#[tokio::test]
async fn pulls_of_messages_no_longer_in_memory_read_off_the_runtime() {
    const PER_BATCH: usize = 128;
    const BATCHES: usize = 80;
    // The message sent back below: 16 MB into a 42 MB log, far from what pulls at 0 read around.
    const BACK_BATCH: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.direct_write = true;
    cfg.write_buffer_size = 16 << 20;
    cfg.message_index_enable = false;
    let b = TestBroker::start(cfg).await;
    let body = |i: usize| format!("{i:08}").repeat(512).into_bytes();
    let mut back_phys = -1;
    for n in 0..BATCHES {
        let msgs: Vec<BatchMessage> = (0..PER_BATCH)
            .map(|k| BatchMessage {
                flag: 0,
                body: body(n * PER_BATCH + k).into(),
                properties: String::new(),
            })
            .collect();
        let mut h: SendMessageRequestHeaderV2 = send_header("COLD", 0, "").into();
        h.m = Some(true);
        let cmd = RemotingCommand::request_with_header(request::SEND_BATCH_MESSAGE, &h)
            .with_body(encode_batch(&msgs).expect("encodable batch"));
        let r = b.call(cmd).await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        if n == BACK_BATCH {
            let rh: SendMessageResponseHeader = r.decode_header().unwrap();
            let first = rh.msg_id.split(',').next().unwrap();
            back_phys = courier_store::decode_offset_msg_id(first).unwrap().1;
        }
    }
    let disk_pulls = || async {
        let r = b
            .call(RemotingCommand::new_request(
                request::GET_BROKER_RUNTIME_INFO,
            ))
            .await;
        let kv: KvTable = from_json(r.body_bytes()).unwrap();
        kv.table["diskPullsTotal"].parse::<u64>().unwrap()
    };
    let pull = |offset: i64| {
        let b = &b;
        async move {
            let r = b
                .call_header(request::PULL_MESSAGE, &pull_header("cg", "COLD", 0, offset))
                .await;
            assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
            decode_records(r.body_bytes())
        }
    };
    assert_eq!(disk_pulls().await, 0);
    // A consumer sends an old message back (it would have pulled it, then failed on it): read
    // from the disk off the runtime, it reaches the dead-letter queue whole.
    let r = b
        .call_header(
            request::CONSUMER_SEND_MSG_BACK,
            &ConsumerSendMsgBackRequestHeader {
                offset: back_phys,
                group: "cg".into(),
                // Straight to the dead-letter queue: no delay before it can be read back.
                delay_level: -1,
                origin_msg_id: None,
                origin_topic: Some("COLD".into()),
                unit_mode: None,
                max_reconsume_times: None,
            },
        )
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "%DLQ%cg", 0, 0))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(
        decode_records(r.body_bytes())[0].1,
        body(BACK_BATCH * PER_BATCH)
    );
    let total = (PER_BATCH * BATCHES) as i64;
    let tail = pull(total - 1).await;
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].1, body(PER_BATCH * BATCHES - 1));
    assert_eq!(
        disk_pulls().await,
        0,
        "the newest messages are read from memory"
    );
    let cold = pull(0).await;
    assert!(!cold.is_empty());
    for (i, (offset, bytes, _)) in cold.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(*bytes, body(i));
    }
    assert_eq!(
        disk_pulls().await,
        1,
        "20 MB back, the first messages come from the disk"
    );
    assert_eq!(pull(0).await.len(), cold.len());
    assert_eq!(
        disk_pulls().await,
        1,
        "read once, they are in the page cache"
    );
    b.stop().await;
}

#[tokio::test]
async fn offsets_queries_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    for i in 0..5 {
        let r = b
            .call(send_cmd(
                true,
                send_header("TO", 2, ""),
                format!("m{i}").as_bytes(),
            ))
            .await;
        assert_eq!(r.code, response::SUCCESS);
    }
    let off = |r: RemotingCommand| -> i64 {
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        r.decode_header::<OffsetResponseHeader>().unwrap().offset
    };
    let max = b
        .call_header(
            request::GET_MAX_OFFSET,
            &GetMaxOffsetRequestHeader {
                topic: "TO".into(),
                queue_id: 2,
                committed: None,
            },
        )
        .await;
    assert_eq!(off(max), 5);
    let min = b
        .call_header(
            request::GET_MIN_OFFSET,
            &GetMinOffsetRequestHeader {
                topic: "TO".into(),
                queue_id: 2,
            },
        )
        .await;
    assert_eq!(off(min), 0);
    let search = b
        .call_header(
            request::SEARCH_OFFSET_BY_TIMESTAMP,
            &SearchOffsetRequestHeader {
                topic: "TO".into(),
                queue_id: 2,
                timestamp: 0,
                boundary_type: None,
            },
        )
        .await;
    assert_eq!(off(search), 0);
    let r = b
        .call_header(
            request::GET_EARLIEST_MSG_STORETIME,
            &GetEarliestMsgStoretimeRequestHeader {
                topic: "TO".into(),
                queue_id: 2,
            },
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let ts = r
        .decode_header::<GetEarliestMsgStoretimeResponseHeader>()
        .unwrap()
        .timestamp;
    assert!(ts > 1_600_000_000_000, "{ts}");

    let query = |zero: Option<bool>| QueryConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "TO".into(),
        queue_id: 2,
        set_zero_if_not_found: zero,
    };
    let r = b
        .call_header(request::QUERY_CONSUMER_OFFSET, &query(Some(false)))
        .await;
    assert_eq!(r.code, response::QUERY_NOT_FOUND);
    let r = b
        .call_header(request::QUERY_CONSUMER_OFFSET, &query(None))
        .await;
    assert_eq!(off(r), 0, "queue still starts at 0");

    let r = b
        .call_header(
            request::UPDATE_CONSUMER_OFFSET,
            &UpdateConsumerOffsetRequestHeader {
                consumer_group: "cg".into(),
                topic: "TO".into(),
                queue_id: 2,
                commit_offset: 3,
            },
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b
        .call_header(request::QUERY_CONSUMER_OFFSET, &query(Some(false)))
        .await;
    assert_eq!(off(r), 3);

    // Commit piggy-backed on a pull.
    let mut ph = pull_header("cg", "TO", 2, 3);
    ph.sys_flag |= PULL_FLAG_COMMIT_OFFSET;
    ph.commit_offset = 4;
    let r = b.call_header(request::PULL_MESSAGE, &ph).await;
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_records(r.body_bytes()).len(), 2);
    let r = b
        .call_header(request::QUERY_CONSUMER_OFFSET, &query(Some(false)))
        .await;
    assert_eq!(off(r), 4);

    // Offset moved / not found semantics.
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "TO", 2, 5))
        .await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "TO", 2, 99))
        .await;
    assert_eq!(r.code, response::PULL_OFFSET_MOVED);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "TO", 3, 7))
        .await;
    assert_eq!(
        r.code,
        response::PULL_OFFSET_MOVED,
        "empty queue, offset != 0"
    );
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "TO", 3, 0))
        .await;
    assert_eq!(r.code, response::PULL_NOT_FOUND, "empty queue, offset 0");

    // Missing field.
    let mut cmd = RemotingCommand::request_with_header(
        request::GET_MAX_OFFSET,
        &GetMaxOffsetRequestHeader {
            topic: "TO".into(),
            queue_id: 2,
            committed: None,
        },
    );
    cmd.ext_fields.remove("queueId");
    let r = b.call(cmd).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("queueId"));

    // Offsets and auto-created topics survive a restart.
    b.stop().await;
    let b = TestBroker::start(small_config(dir.path())).await;
    let r = b
        .call_header(request::QUERY_CONSUMER_OFFSET, &query(Some(false)))
        .await;
    assert_eq!(off(r), 4);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("cg", "TO", 2, 0))
        .await;
    assert_eq!(decode_records(r.body_bytes()).len(), 5);
    b.stop().await;
}

#[tokio::test]
async fn admin_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config: BrokerConfig = small_config(dir.path());
    config.auto_create_subscription_group = false;
    let b = TestBroker::start(config).await;

    let r = b
        .call_header(
            request::UPDATE_AND_CREATE_TOPIC,
            &create_topic("Admin", 3, 6),
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b
        .call_header(
            request::UPDATE_AND_CREATE_TOPIC,
            &create_topic("bad name", 3, 6),
        )
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);

    let r = b
        .call(RemotingCommand::new_request(request::GET_ALL_TOPIC_CONFIG))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(v["topicConfigTable"]["Admin"]["writeQueueNums"], 3);
    assert!(v["dataVersion"]["counter"].as_i64().unwrap() >= 1);

    let r = b
        .call(RemotingCommand::new_request(
            request::GET_BROKER_RUNTIME_INFO,
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let kv: KvTable = from_json(r.body_bytes()).unwrap();
    assert!(kv.table.contains_key("commitLogMaxOffset"));
    assert!(kv.table.contains_key("msgPutTotalTodayNow"));

    // Unknown group with auto-create off.
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("g1", "Admin", 0, 0))
        .await;
    assert_eq!(r.code, response::SUBSCRIPTION_GROUP_NOT_EXIST);
    // Create it disabled, then enabled.
    let body = br#"{"groupName":"g1","consumeEnable":false}"#.to_vec();
    let r = b
        .call(
            RemotingCommand::new_request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(body),
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("g1", "Admin", 0, 0))
        .await;
    assert_eq!(r.code, response::NO_PERMISSION);
    let body = br#"{"groupName":"g1"}"#.to_vec();
    b.call(
        RemotingCommand::new_request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).with_body(body),
    )
    .await;
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("g1", "Admin", 0, 0))
        .await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    let r = b
        .call(
            RemotingCommand::new_request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(b"not json".to_vec()),
        )
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);

    // Consumer list / connection list of a group nobody joined.
    let r = b
        .call_header(
            request::GET_CONSUMER_LIST_BY_GROUP,
            &GetConsumerListByGroupRequestHeader {
                consumer_group: "g1".into(),
            },
        )
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let r = b
        .call_header(
            request::GET_CONSUMER_CONNECTION_LIST,
            &GetConsumerListByGroupRequestHeader {
                consumer_group: "g1".into(),
            },
        )
        .await;
    assert_eq!(r.code, response::CONSUMER_NOT_ONLINE);
    let _ = (
        ConsumerConnection::default(),
        GetConsumerListByGroupResponseBody::default(),
    );
    b.stop().await;
}

#[tokio::test]
async fn one_broker_serves_several_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vip = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (main_addr, vip_addr) = (
        main.local_addr().unwrap().to_string(),
        vip.local_addr().unwrap().to_string(),
    );
    let mut config = small_config(dir.path());
    config.listen_port = main.local_addr().unwrap().port();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(courier_broker::run_on(
        config,
        vec![main, vip],
        stop.clone(),
    ));
    let client = courier_remoting::RemotingClient::new(Default::default());
    let r = client
        .invoke(
            &vip_addr,
            send_cmd(true, send_header("V", 0, ""), b"via vip"),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    let r = client
        .invoke(
            &main_addr,
            RemotingCommand::request_with_header(
                request::PULL_MESSAGE,
                &pull_header("cg", "V", 0, 0),
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(decode_records(r.body_bytes())[0].1, b"via vip");
    client.shutdown().await;
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn lite_pull_and_check_client_config() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    assert_eq!(
        b.call(send_cmd(true, send_header("L", 0, ""), b"lite"))
            .await
            .code,
        0
    );
    let r = b
        .call_header(request::LITE_PULL_MESSAGE, &pull_header("cg", "L", 0, 0))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_records(r.body_bytes())[0].1, b"lite");

    let check = |expr_type: &str| {
        let body = serde_json::json!({"group": "cg", "subscriptionData": {
            "topic": "L", "subString": "a > 1", "expressionType": expr_type,
            "tagsSet": [], "codeSet": [], "subVersion": 1}});
        RemotingCommand::new_request(request::CHECK_CLIENT_CONFIG)
            .with_body(serde_json::to_vec(&body).unwrap())
    };
    let r = b.call(check("SQL92")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("SQL92"));
    assert_eq!(b.call(check("TAG")).await.code, response::SUCCESS);
    b.stop().await;
}

#[tokio::test]
async fn admin_tool_codes() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    b.call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("Del", 2, 6))
        .await;
    let with = |code: i32, k: &str, v: &str| {
        let mut c = RemotingCommand::new_request(code);
        c.ext_fields.insert(k.to_string(), v.to_string());
        c
    };
    let r = b
        .call(with(request::GET_TOPIC_CONFIG, "topic", "Del"))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(v["readQueueNums"], 2);
    let r = b
        .call(with(request::DELETE_TOPIC_IN_BROKER, "topic", "Del"))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b
        .call(with(request::GET_TOPIC_CONFIG, "topic", "Del"))
        .await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    let r = b
        .call(with(request::DELETE_TOPIC_IN_BROKER, "topic", "TBW102"))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    // Missing header field.
    let r = b
        .call(RemotingCommand::new_request(request::GET_TOPIC_CONFIG))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("topic"));

    let body = br#"{"groupName":"ag"}"#.to_vec();
    b.call(
        RemotingCommand::new_request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).with_body(body),
    )
    .await;
    let r = b
        .call(RemotingCommand::new_request(
            request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        ))
        .await;
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert!(v["subscriptionGroupTable"]["ag"].is_object());
    let r = b
        .call(with(request::DELETE_SUBSCRIPTIONGROUP, "groupName", "ag"))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b
        .call(RemotingCommand::new_request(
            request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        ))
        .await;
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert!(v["subscriptionGroupTable"]["ag"].is_null());

    b.call_header(
        request::UPDATE_CONSUMER_OFFSET,
        &UpdateConsumerOffsetRequestHeader {
            consumer_group: "og".into(),
            topic: "OT".into(),
            queue_id: 1,
            commit_offset: 9,
        },
    )
    .await;
    let r = b
        .call(RemotingCommand::new_request(
            request::GET_ALL_CONSUMER_OFFSET,
        ))
        .await;
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(v["offsetTable"]["OT@og"]["1"], 9);

    let r = b
        .call(with(
            request::GET_PRODUCER_CONNECTION_LIST,
            "producerGroup",
            "nobody",
        ))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let hb = serde_json::json!({"clientID": "p@1", "producerDataSet": [{"groupName": "pg1"}]});
    b.call(
        RemotingCommand::new_request(request::HEART_BEAT)
            .with_body(serde_json::to_vec(&hb).unwrap()),
    )
    .await;
    let r = b
        .call(with(
            request::GET_PRODUCER_CONNECTION_LIST,
            "producerGroup",
            "pg1",
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(v["connectionSet"][0]["clientId"], "p@1");
    b.stop().await;
}
