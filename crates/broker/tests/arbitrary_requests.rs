//! Arbitrary well-framed requests to a live broker: random request codes (the broker's own and
//! unknown ones) with random header fields (real field names with numbers at the edges of their
//! types, text, empty and very long values) and random bodies (bytes, JSON-looking text, valid
//! and damaged batch bodies). Every request must get a response on the same connection, and
//! between cases the broker must still store and serve a message. A handler that panics is
//! answered SYSTEM_ERROR with a remark that says so (the remoting layer contains the panic), and
//! the test fails on that remark.

mod common;

use std::sync::OnceLock;

use common::*;
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    CreateTopicRequestHeader, GetMaxOffsetRequestHeader, OffsetResponseHeader,
};
use courier_remoting::message_batch::{encode_batch, BatchMessage};
use courier_remoting::RemotingCommand;
use proptest::prelude::*;

/// Far above any answer time here (pulls are held 200 ms at most), short enough that a failing
/// case does not take minutes.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Codes the broker serves, so that most requests reach a handler rather than the fallback.
const CODES: &[i32] = &[
    request::SEND_MESSAGE,
    request::SEND_MESSAGE_V2,
    request::SEND_BATCH_MESSAGE,
    request::PULL_MESSAGE,
    request::LITE_PULL_MESSAGE,
    request::QUERY_MESSAGE,
    request::VIEW_MESSAGE_BY_ID,
    request::QUERY_CONSUMER_OFFSET,
    request::UPDATE_CONSUMER_OFFSET,
    request::UPDATE_AND_CREATE_TOPIC,
    request::GET_ALL_TOPIC_CONFIG,
    request::GET_BROKER_RUNTIME_INFO,
    request::SEARCH_OFFSET_BY_TIMESTAMP,
    request::GET_MAX_OFFSET,
    request::GET_MIN_OFFSET,
    request::GET_EARLIEST_MSG_STORETIME,
    request::HEART_BEAT,
    request::UNREGISTER_CLIENT,
    request::CONSUMER_SEND_MSG_BACK,
    request::END_TRANSACTION,
    request::GET_CONSUMER_LIST_BY_GROUP,
    request::LOCK_BATCH_MQ,
    request::UNLOCK_BATCH_MQ,
    request::CHECK_CLIENT_CONFIG,
    request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    request::GET_CONSUMER_CONNECTION_LIST,
    request::GET_TOPIC_STATS_INFO,
    request::GET_CONSUME_STATS,
    request::DELETE_TOPIC_IN_BROKER,
    request::DELETE_SUBSCRIPTIONGROUP,
    request::GET_ALL_CONSUMER_OFFSET,
    request::GET_ALL_DELAY_OFFSET,
    request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
    request::GET_BROKER_CONFIG,
    request::UPDATE_BROKER_CONFIG,
    request::GET_TOPIC_CONFIG,
];

/// Header fields the broker's request headers read (the V2 send header's one-letter names
/// among them) by kind of value, plus one no header has.
const NUMBERS: &[&str] = &[
    "queueId",
    "queueOffset",
    "maxMsgNums",
    "sysFlag",
    "commitOffset",
    "subVersion",
    "maxMsgBytes",
    "defaultTopicQueueNums",
    "bornTimestamp",
    "flag",
    "reconsumeTimes",
    "maxReconsumeTimes",
    "offset",
    "maxNum",
    "beginTimestamp",
    "endTimestamp",
    "timestamp",
    "commitLogOffset",
    "tranStateTableOffset",
    "commitOrRollback",
    "delayLevel",
    "readQueueNums",
    "writeQueueNums",
    "perm",
    "topicSysFlag",
    "d",
    "e",
    "f",
    "g",
    "h",
    "j",
    "l",
];
const TEXTS: &[&str] = &[
    "topic",
    "consumerGroup",
    "group",
    "producerGroup",
    "defaultTopic",
    "properties",
    "subscription",
    "expressionType",
    "msgId",
    "key",
    "clientID",
    "transactionId",
    "originTopic",
    "originMsgId",
    "attributes",
    "topicFilterType",
    "a",
    "b",
    "c",
    "i",
    "n",
    "notAField",
];
const FLAGS: &[&str] = &[
    "unitMode",
    "batch",
    "order",
    "force",
    "committed",
    "fromTransactionCheck",
    "k",
    "m",
];

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            i32::MIN as i64,
            i32::MAX as i64,
            -1,
            0,
            1,
            2,
            4 * 1024 * 1024 + 1,
        ])
        .prop_map(|n| n.to_string()),
        2 => any::<i32>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => text(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Names the broker knows or creates, so requests meet existing topics and groups.
        3 => prop::sample::select(vec![
            "T", "TBW102", "Alive", "g", "%RETRY%g", "%DLQ%g", "SCHEDULE_TOPIC_XXXX",
            "RMQ_SYS_TRANS_HALF_TOPIC", "*", "TagA || TagB", "TAG", "SQL92",
        ])
        .prop_map(String::from),
        1 => Just(String::new()),
        2 => "[ -~]{0,40}",
        // Property-list text: name\u{1}value\u{2}…, with the keys the broker reads.
        2 => "((TAGS|KEYS|UNIQ_KEY|DELAY|WAIT|TRAN_MSG|PGROUP|RETRY_TOPIC|MAX_OFFSET|x)\u{1}[ -~]{0,12}\u{2}){0,4}",
        1 => "[a-zA-Z0-9_%|-]{1,300}".prop_map(|s| s.repeat(20)),
    ]
}

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![Just("true".to_string()), Just("false".to_string()), text()]
}

/// Each known field present with probability 0.6.
fn fields() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    fn some_of<S: Strategy<Value = String>>(
        names: &'static [&'static str],
        value: S,
    ) -> impl Strategy<Value = Vec<(&'static str, String)>> {
        prop::collection::vec(prop::option::weighted(0.6, value), names.len()).prop_map(
            move |vals| {
                names
                    .iter()
                    .zip(vals)
                    .filter_map(|(n, v)| v.map(|v| (*n, v)))
                    .collect()
            },
        )
    }
    (
        some_of(NUMBERS, number()),
        some_of(TEXTS, text()),
        some_of(FLAGS, flag()),
    )
        .prop_map(|(a, b, c)| a.into_iter().chain(b).chain(c).collect())
}

/// The kind of value a header field holds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    I32,
    I64,
    Text,
    Flag,
}
use Kind::*;

/// Request codes and the header fields their handler reads, with their kinds.
type Shape = (&'static [i32], &'static [(&'static str, Kind)]);

/// The shape of every code the broker serves.
const HEADERS: &[Shape] = &[
    (
        &[request::SEND_MESSAGE],
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
        &[request::SEND_MESSAGE_V2, request::SEND_BATCH_MESSAGE],
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

fn value(kind: Kind) -> BoxedStrategy<String> {
    match kind {
        I32 => prop_oneof![
            4 => prop::sample::select(vec![i32::MIN, -1, 0, 1, 2, 3, 7, 8, 16, 18, 19, i32::MAX])
                .prop_map(|n| n.to_string()),
            2 => any::<i32>().prop_map(|n| n.to_string()),
            1 => number(),
        ]
        .boxed(),
        I64 => prop_oneof![
            3 => number(),
            1 => (0i64..100_000).prop_map(|n| n.to_string()),
        ]
        .boxed(),
        Text => text().boxed(),
        Flag => flag().boxed(),
    }
}

/// A request shaped like what the code's handler reads: each of its fields present with
/// probability 0.9, valued by kind, mostly at the edges.
fn shaped() -> impl Strategy<Value = (i32, Vec<(&'static str, String)>)> {
    prop::sample::select(HEADERS).prop_flat_map(|(codes, fields)| {
        let values: Vec<_> = fields
            .iter()
            .map(|&(name, kind)| {
                prop::option::weighted(0.9, value(kind)).prop_map(move |v| (name, v))
            })
            .collect();
        (prop::sample::select(codes), values).prop_map(|(code, vals)| {
            (
                code,
                vals.into_iter()
                    .filter_map(|(n, v)| v.map(|v| (n, v)))
                    .collect(),
            )
        })
    })
}

/// JSON bodies of the shapes the broker parses (heartbeat, lock/unlock, subscription group)
/// with arbitrary values in them.
fn json_body() -> impl Strategy<Value = Vec<u8>> {
    (text(), text(), value(I32), text(), text(), value(I64), value(Flag)).prop_map(
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
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Some),
        1 => "[{}\\[\\]\":,a-zA-Z0-9 ]{0,200}".prop_map(|s| Some(s.into_bytes())),
        2 => batch.prop_map(Some),
        2 => json_body().prop_map(Some),
    ]
}

fn command() -> impl Strategy<Value = RemotingCommand> {
    let unshaped = (
        prop_oneof![4 => prop::sample::select(CODES), 1 => 0i32..2000],
        fields(),
    );
    let request = prop_oneof![3 => shaped(), 1 => unshaped];
    (request, body()).prop_map(|((code, fields), body)| {
        let mut cmd = RemotingCommand::new_request(code);
        {
            let ext = cmd.ext_fields_mut();
            for (k, v) in fields {
                ext.insert(k.to_string(), v);
            }
            // A pull may be held until its suspend time runs out, as it should be; keep that
            // under the client's timeout.
            if code == request::PULL_MESSAGE || code == request::LITE_PULL_MESSAGE {
                ext.insert("suspendTimeoutMillis".into(), "200".into());
            }
        }
        match body {
            Some(b) => cmd.with_body(b),
            None => cmd,
        }
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let broker = runtime.block_on(TestBroker::start(small_config(dir.path())));
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
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_request_gets_a_response(cmds in prop::collection::vec(command(), 1..12)) {
        let s = shared();
        s.runtime.block_on(async {
            for cmd in cmds {
                let code = cmd.code;
                let fields = format!("{:?}", cmd.ext_fields_view());
                let r = s.broker.client.invoke(&s.broker.addr, cmd, ANSWER_WITHIN).await;
                let r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        return Err(TestCaseError::fail(format!(
                            "code {code} with {fields} got no response: {e:?}"
                        )))
                    }
                };
                let remark = r.remark.unwrap_or_default();
                prop_assert!(
                    !remark.contains("panicked"),
                    "code {} with {} panicked the handler: {}",
                    code,
                    fields,
                    remark
                );
            }
            still_serves(&s.broker).await
        })?;
    }
}
