//! Arbitrary well-framed requests to a live broker (strategies: `courier_remoting::testkit`):
//! every code the broker serves, shaped like its handler's header with values at the edges of
//! their kinds, unshaped requests with random known and unknown fields, and unknown codes; bodies
//! are random bytes, JSON-looking text, heartbeat/lock/subscription-group JSON with random values,
//! and valid or truncated batch bodies. Every request must be answered on the same connection,
//! never with the remark of a handler that panicked (the remoting layer contains the panic and
//! says so), and between cases the broker must still store and serve a message, with no
//! background service restarted after a panic (`serviceRestarts` in GET_BROKER_RUNTIME_INFO; the
//! delay scheduler meets what random sends with DELAY levels 1 and 2 stored, in runs longer
//! than a second).

mod common;

use std::sync::OnceLock;

use common::*;
use courier_remoting::body::{from_json, KvTable};
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    CreateTopicRequestHeader, GetMaxOffsetRequestHeader, OffsetResponseHeader,
};
use courier_remoting::message_batch::{encode_batch, BatchMessage};
use courier_remoting::testkit::{self, Kind::*, Shape};
use courier_remoting::RemotingCommand;
use proptest::prelude::*;

/// Names the broker knows or creates, so that requests meet existing topics and groups.
const NAMES: &[&str] = &[
    "T",
    "TBW102",
    "Alive",
    "g",
    "%RETRY%g",
    "%DLQ%g",
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "*",
    "TagA || TagB",
    "TAG",
    "SQL92",
    // SQL92 selectors, whole and broken: the broker below serves them (`enablePropertyFilter`).
    "a > 1 AND TAGS = 'a'",
    "a BETWEEN 1 AND",
    "NOT (a IS NULL) OR b IN ('x', 'y')",
    // Properties that send a message through the delay scheduler (levels 1 and 2: 1 s and 5 s).
    "DELAY\u{1}1\u{2}",
    "TAGS\u{1}a\u{2}DELAY\u{1}2\u{2}",
    // Timer messages: one second ahead, and a deliver time that is no number.
    "TIMER_DELAY_SEC\u{1}1\u{2}",
    "TIMER_DELIVER_MS\u{1}soon\u{2}",
    // Replies (SEND_REPLY_MESSAGE): the reply topic, and a requester that may be registered.
    "DefaultCluster_REPLY_TOPIC",
    "REPLY_TO_CLIENT\u{1}g\u{2}",
];

/// The shape of every code the broker serves.
const HEADERS: &[Shape] = &[
    (
        &[request::SEND_MESSAGE, request::SEND_REPLY_MESSAGE],
        &[
            ("producerGroup", Text),
            ("topic", Text),
            ("defaultTopic", Text),
            ("defaultTopicQueueNums", I32),
            ("queueId", I32),
            ("sysFlag", I32),
            ("bornTimestamp", I64),
            ("flag", I32),
            ("properties", Text),
            ("reconsumeTimes", I32),
            ("unitMode", Flag),
            ("maxReconsumeTimes", I32),
            ("batch", Flag),
        ],
    ),
    (
        &[
            request::SEND_MESSAGE_V2,
            request::SEND_BATCH_MESSAGE,
            request::SEND_REPLY_MESSAGE_V2,
        ],
        &[
            ("a", Text),
            ("b", Text),
            ("c", Text),
            ("d", I32),
            ("e", I32),
            ("f", I32),
            ("g", I64),
            ("h", I32),
            ("i", Text),
            ("j", I32),
            ("k", Flag),
            ("l", I32),
            ("m", Flag),
        ],
    ),
    (
        &[request::PULL_MESSAGE, request::LITE_PULL_MESSAGE],
        &[
            ("consumerGroup", Text),
            ("topic", Text),
            ("queueId", I32),
            ("queueOffset", I64),
            ("maxMsgNums", I32),
            ("sysFlag", I32),
            ("commitOffset", I64),
            ("subscription", Text),
            ("subVersion", I64),
            ("expressionType", Text),
            ("maxMsgBytes", I32),
        ],
    ),
    (
        &[request::QUERY_CONSUMER_OFFSET],
        &[
            ("consumerGroup", Text),
            ("topic", Text),
            ("queueId", I32),
            ("setZeroIfNotFound", Flag),
        ],
    ),
    (
        &[request::UPDATE_CONSUMER_OFFSET],
        &[
            ("consumerGroup", Text),
            ("topic", Text),
            ("queueId", I32),
            ("commitOffset", I64),
        ],
    ),
    (
        &[request::GET_MAX_OFFSET],
        &[("topic", Text), ("queueId", I32), ("committed", Flag)],
    ),
    (
        &[request::GET_MIN_OFFSET, request::GET_EARLIEST_MSG_STORETIME],
        &[("topic", Text), ("queueId", I32)],
    ),
    (
        &[request::SEARCH_OFFSET_BY_TIMESTAMP],
        &[
            ("topic", Text),
            ("queueId", I32),
            ("timestamp", I64),
            ("boundaryType", Text),
        ],
    ),
    (
        &[request::QUERY_MESSAGE],
        &[
            ("topic", Text),
            ("key", Text),
            ("maxNum", I32),
            ("beginTimestamp", I64),
            ("endTimestamp", I64),
        ],
    ),
    (
        &[request::VIEW_MESSAGE_BY_ID],
        &[("offset", I64), ("topic", Text)],
    ),
    (
        &[request::UNREGISTER_CLIENT],
        &[
            ("clientID", Text),
            ("producerGroup", Text),
            ("consumerGroup", Text),
        ],
    ),
    (
        &[
            request::GET_CONSUMER_LIST_BY_GROUP,
            request::GET_CONSUMER_CONNECTION_LIST,
            request::GET_CONSUME_STATS,
            request::DELETE_SUBSCRIPTIONGROUP,
        ],
        &[
            ("consumerGroup", Text),
            ("groupName", Text),
            ("topic", Text),
        ],
    ),
    (
        &[request::CONSUMER_SEND_MSG_BACK],
        &[
            ("offset", I64),
            ("group", Text),
            ("delayLevel", I32),
            ("originMsgId", Text),
            ("originTopic", Text),
            ("unitMode", Flag),
            ("maxReconsumeTimes", I32),
        ],
    ),
    (
        &[request::END_TRANSACTION],
        &[
            ("producerGroup", Text),
            ("tranStateTableOffset", I64),
            ("commitLogOffset", I64),
            ("commitOrRollback", I32),
            ("fromTransactionCheck", Flag),
            ("msgId", Text),
            ("transactionId", Text),
            ("topic", Text),
        ],
    ),
    (
        &[request::UPDATE_AND_CREATE_TOPIC],
        &[
            ("topic", Text),
            ("defaultTopic", Text),
            ("readQueueNums", I32),
            ("writeQueueNums", I32),
            ("perm", I32),
            ("topicFilterType", Text),
            ("topicSysFlag", I32),
            ("order", Flag),
            ("attributes", Text),
        ],
    ),
    (
        &[
            request::DELETE_TOPIC_IN_BROKER,
            request::GET_TOPIC_STATS_INFO,
            request::GET_TOPIC_CONFIG,
        ],
        &[("topic", Text)],
    ),
    (
        &[request::GET_CONSUME_STATS],
        &[
            ("consumerGroup", Text),
            ("topic", Text),
            ("topicList", Text),
        ],
    ),
    (&[request::QUERY_TOPIC_CONSUME_BY_WHO], &[("topic", Text)]),
    (&[request::QUERY_TOPICS_BY_CONSUMER], &[("group", Text)]),
    (
        &[request::RECALL_MESSAGE],
        &[
            ("producerGroup", Text),
            ("topic", Text),
            ("recallHandle", Text),
        ],
    ),
    (
        &[request::GET_CONSUMER_RUNNING_INFO],
        &[
            ("consumerGroup", Text),
            ("clientId", Text),
            ("jstackEnable", Flag),
        ],
    ),
    (
        &[request::CLONE_GROUP_OFFSET],
        &[
            ("srcGroup", Text),
            ("destGroup", Text),
            ("topic", Text),
            ("offline", Flag),
        ],
    ),
    (&[request::GET_BROKER_CONSUME_STATS], &[("isOrder", Flag)]),
    (&[request::GET_SYSTEM_TOPIC_LIST_FROM_BROKER], &[]),
    (
        &[request::QUERY_CONSUME_TIME_SPAN],
        &[("topic", Text), ("group", Text)],
    ),
    (
        &[request::VIEW_BROKER_STATS_DATA],
        &[("statsName", Text), ("statsKey", Text)],
    ),
    (
        &[request::INVOKE_BROKER_TO_GET_CONSUMER_STATUS],
        &[("topic", Text), ("group", Text), ("clientAddr", Text)],
    ),
    (
        &[request::CONSUME_MESSAGE_DIRECTLY],
        &[
            ("consumerGroup", Text),
            ("clientId", Text),
            ("msgId", Text),
            ("topic", Text),
        ],
    ),
    (
        &[request::INVOKE_BROKER_TO_RESET_OFFSET],
        &[
            ("group", Text),
            ("topic", Text),
            ("timestamp", I64),
            ("isForce", Flag),
            ("queueId", I32),
            ("offset", I64),
        ],
    ),
    (
        &[
            request::HEART_BEAT,
            request::LOCK_BATCH_MQ,
            request::UNLOCK_BATCH_MQ,
            request::CHECK_CLIENT_CONFIG,
            request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
            request::GET_ALL_TOPIC_CONFIG,
            request::GET_BROKER_RUNTIME_INFO,
            request::GET_ALL_CONSUMER_OFFSET,
            request::GET_ALL_DELAY_OFFSET,
            request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
            request::GET_BROKER_CONFIG,
            request::UPDATE_BROKER_CONFIG,
        ],
        &[("consumerGroup", Text), ("clientID", Text)],
    ),
];

/// JSON bodies of the shapes the broker parses (heartbeat, lock/unlock, subscription group)
/// with arbitrary values in them.
fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let text = || testkit::text(NAMES);
    (
        text(),
        text(),
        testkit::value(I32, NAMES),
        text(),
        text(),
        testkit::value(I64, NAMES),
        testkit::value(Flag, NAMES),
    )
        .prop_map(
        |(topic, group, queue, sub, expr, version, flag)| {
            let esc = |s: &str| serde_json::to_string(s).unwrap();
            let (topic, group, sub, expr) = (esc(&topic), esc(&group), esc(&sub), esc(&expr));
            let json = format!(
                concat!(
                    r#"{{"clientID":"c1","clientId":"c1","consumerGroup":{g},"groupName":{g},"#,
                    r#""consumeEnable":{f},"retryQueueNums":{q},"retryMaxTimes":{q},"#,
                    r#""consumerDataSet":[{{"groupName":{g},"consumeType":"CONSUME_PASSIVELY","#,
                    r#""messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","#,
                    r#""subscriptionDataSet":[{{"topic":{t},"subString":{s},"tagsSet":[{s}],"#,
                    r#""codeSet":[{q}],"subVersion":{v},"expressionType":{e}}}],"unitMode":{f}}}],"#,
                    r#""producerDataSet":[{{"groupName":{g}}}],"#,
                    r#""mqSet":[{{"topic":{t},"brokerName":"broker-a","queueId":{q}}}]}}"#
                ),
                g = group,
                t = topic,
                s = sub,
                e = expr,
                q = queue.parse::<i64>().unwrap_or(0),
                v = version.parse::<i64>().unwrap_or(0),
                f = flag == "true",
            );
            json.into_bytes()
        },
    )
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    let batch = (1usize..5, any::<u8>(), 0usize..64).prop_map(|(n, fill, cut)| {
        let msgs: Vec<BatchMessage> = (0..n)
            .map(|i| BatchMessage {
                flag: 0,
                body: vec![fill; 10 + i].into(),
                properties: format!("KEYS\u{1}k{i}\u{2}"),
            })
            .collect();
        let mut b = encode_batch(&msgs).expect("small batch encodes");
        // Damaged from the end: a truncated last record, or none at all.
        b.truncate(b.len().saturating_sub(cut));
        b
    });
    prop_oneof![
        2 => Just(None),
        2 => testkit::junk_body().prop_map(Some),
        2 => batch.prop_map(Some),
        2 => json_body().prop_map(Some),
    ]
}

fn command() -> impl Strategy<Value = RemotingCommand> {
    testkit::request(HEADERS, NAMES, body()).prop_map(|mut cmd| {
        // A pull may be held until its suspend time runs out, as it should be; keep that under
        // the client's timeout.
        if cmd.code == request::PULL_MESSAGE || cmd.code == request::LITE_PULL_MESSAGE {
            cmd.ext_fields_mut()
                .insert("suspendTimeoutMillis".into(), "200".into());
        }
        cmd
    })
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    broker: TestBroker,
    _dir: tempfile::TempDir,
}

/// One broker for every case: state left by earlier cases (topics, groups, offsets) is part of
/// what later cases run into.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = testkit::server_runtime();
        let dir = tempfile::tempdir().unwrap();
        let config = courier_broker::BrokerConfig {
            enable_property_filter: true,
            ..small_config(dir.path())
        };
        let broker = runtime.block_on(TestBroker::start(config));
        Shared {
            runtime,
            broker,
            _dir: dir,
        }
    })
}

/// The broker still stores a message and reports it in the queue's max offset. The topic is
/// (re)created first: random admin requests may legitimately have deleted it, or changed the
/// TBW102 template that auto-creation inherits from.
async fn still_serves(b: &TestBroker) -> Result<(), TestCaseError> {
    let create = CreateTopicRequestHeader {
        topic: "Alive".into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 4,
        write_queue_nums: 4,
        perm: 6,
        topic_filter_type: None,
        topic_sys_flag: None,
        order: None,
        attributes: None,
        force: None,
    };
    let r = b
        .call_header(request::UPDATE_AND_CREATE_TOPIC, &create)
        .await;
    prop_assert_eq!(
        r.code,
        response::SUCCESS,
        "create the topic: {:?}",
        r.remark
    );
    let before = max_offset(b).await?;
    let r = b
        .call(send_cmd(false, send_header("Alive", 0, ""), b"alive"))
        .await;
    prop_assert_eq!(
        r.code,
        response::SUCCESS,
        "send after the case: {:?}",
        r.remark
    );
    prop_assert_eq!(max_offset(b).await?, before + 1);
    // No background service (the delay scheduler meets the DELAY levels of random sends) has
    // panicked and been started again.
    let r = b
        .call(RemotingCommand::new_request(
            request::GET_BROKER_RUNTIME_INFO,
        ))
        .await;
    let kv: KvTable = from_json(r.body_bytes())
        .map_err(|e| TestCaseError::fail(format!("runtime info body: {e}")))?;
    prop_assert_eq!(
        kv.table.get("serviceRestarts").map(String::as_str),
        Some("0")
    );
    Ok(())
}

async fn max_offset(b: &TestBroker) -> Result<i64, TestCaseError> {
    let h = GetMaxOffsetRequestHeader {
        topic: "Alive".into(),
        queue_id: 0,
        committed: None,
    };
    let r = b.call_header(request::GET_MAX_OFFSET, &h).await;
    if r.code != response::SUCCESS {
        return Ok(0);
    }
    let h: OffsetResponseHeader = r
        .decode_header()
        .map_err(|e| TestCaseError::fail(format!("max offset header: {e}")))?;
    Ok(h.offset)
}

proptest! {
    // Each failing run waits out the client's timeout per request left unanswered, so shrinking
    // is kept short; the failure message names the code and fields anyway.
    // 128 cases in CI; PROPTEST_CASES=N runs more (e.g. for an hour on a spare machine).
    #![proptest_config(ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { ProptestConfig::default().cases } else { 128 },
        max_shrink_iters: 16,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_gets_a_response(cmds in prop::collection::vec(command(), 1..12)) {
        let s = shared();
        s.runtime.block_on(async {
            testkit::expect_answers(&s.broker.client, &s.broker.addr, cmds).await?;
            still_serves(&s.broker).await
        })?;
    }
}
