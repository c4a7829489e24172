//! Arbitrary well-framed requests to a live name server (strategies: `courier_remoting::testkit`):
//! every code it serves, shaped like its handler's header with values at the edges of their
//! kinds, unshaped requests and unknown codes; bodies are random bytes, JSON-looking text, and
//! broker registrations with random topics, queue counts, permissions and data versions, plain
//! or compressed, whole or truncated. Every request must be answered, never with the remark of a
//! handler that panicked, and between cases the name server must still register a broker and
//! route its topic.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use courier_namesrv::{run, NamesrvConfig};
use courier_remoting::body::{
    from_json, to_json, DataVersion, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper,
    TopicRouteData,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};
use courier_remoting::testkit::{self, Kind, Kind::*, Shape};
use courier_remoting::{RemotingClient, RemotingCommand};
use proptest::prelude::*;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Names the name server knows, so that requests meet registered brokers, clusters and topics.
const NAMES: &[&str] = &[
    "DefaultCluster",
    "broker-a",
    "127.0.0.1:10911",
    "127.0.0.1:10912",
    "Alive",
    "TBW102",
    "ORDER_TOPIC_CONFIG",
    "%RETRY%g",
];

const BROKER: &[(&str, Kind)] = &[
    ("brokerName", Text),
    ("brokerAddr", Text),
    ("clusterName", Text),
    ("haServerAddr", Text),
    ("brokerId", I64),
    ("heartbeatTimeoutMillis", I64),
    ("enableActingMaster", Flag),
    ("compressed", Flag),
    ("bodyCrc32", I32),
    ("zoneName", Text),
];

/// The shape of every code the name server serves.
const HEADERS: &[Shape] = &[
    (
        &[
            request::REGISTER_BROKER,
            request::UNREGISTER_BROKER,
            request::QUERY_DATA_VERSION,
            request::BROKER_HEARTBEAT,
        ],
        BROKER,
    ),
    (
        &[
            request::WIPE_WRITE_PERM_OF_BROKER,
            request::ADD_WRITE_PERM_OF_BROKER,
        ],
        &[("brokerName", Text)],
    ),
    (
        &[
            request::GET_ROUTEINFO_BY_TOPIC,
            request::DELETE_TOPIC_IN_NAMESRV,
            request::REGISTER_TOPIC_IN_NAMESRV,
        ],
        &[
            ("topic", Text),
            ("acceptStandardJsonOnly", Flag),
            ("clusterName", Text),
        ],
    ),
    (
        &[
            request::GET_BROKER_CLUSTER_INFO,
            request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            request::GET_TOPICS_BY_CLUSTER,
            request::GET_SYSTEM_TOPIC_LIST_FROM_NS,
        ],
        &[("cluster", Text)],
    ),
    (
        &[request::GET_NAMESRV_CONFIG, request::UPDATE_NAMESRV_CONFIG],
        &[("key", Text)],
    ),
    (
        &[
            request::PUT_KV_CONFIG,
            request::GET_KV_CONFIG,
            request::DELETE_KV_CONFIG,
            request::GET_KVLIST_BY_NAMESPACE,
        ],
        &[("namespace", Text), ("key", Text), ("value", Text)],
    ),
];

/// A broker registration body with random topics, queue counts, permissions and data version,
/// as JSON or in the compressed form, whole or cut short.
fn register_body() -> impl Strategy<Value = Vec<u8>> {
    let topic = (
        testkit::text(NAMES),
        testkit::value(I32, NAMES),
        testkit::value(I32, NAMES),
        testkit::value(I32, NAMES),
    );
    (
        prop::collection::vec(topic, 0..4),
        any::<i64>(),
        any::<bool>(),
        0usize..64,
    )
        .prop_map(|(topics, counter, compressed, cut)| {
            let num = |s: &str| s.parse::<i32>().unwrap_or(0);
            let mut wrapper = TopicConfigSerializeWrapper {
                data_version: DataVersion {
                    counter,
                    state_version: 0,
                    timestamp: 1_700_000_000_000,
                },
                ..Default::default()
            };
            for (name, read, write, perm) in topics {
                wrapper.topic_config_table.insert(
                    name.clone(),
                    TopicConfig {
                        topic_name: name,
                        read_queue_nums: num(&read),
                        write_queue_nums: num(&write),
                        perm: num(&perm),
                        attributes: BTreeMap::new(),
                        ..Default::default()
                    },
                );
            }
            let body = RegisterBrokerBody {
                filter_server_list: vec![],
                topic_config_serialize_wrapper: wrapper,
            };
            let mut bytes = if compressed {
                body.encode_compressed()
            } else {
                to_json(&body).to_vec()
            };
            bytes.truncate(bytes.len().saturating_sub(cut));
            bytes
        })
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => testkit::junk_body().prop_map(Some),
        2 => register_body().prop_map(Some),
    ]
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    addr: String,
    client: RemotingClient,
    _shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

/// One name server for every case: what earlier cases registered is part of what later cases
/// run into.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = testkit::server_runtime();
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let addr = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let config = NamesrvConfig::new(dir.path());
            let s = shutdown.clone();
            tokio::spawn(async move { run(config, listener, s).await.unwrap() });
            addr
        });
        Shared {
            runtime,
            addr,
            client: RemotingClient::default(),
            _shutdown: shutdown,
            _dir: dir,
        }
    })
}

/// The name server still registers a broker and routes its topic to it. Each check registers a
/// newer data version: a random DELETE_TOPIC_IN_NAMESRV may have removed the topic, and, as in
/// RocketMQ, a registration whose data version did not change leaves the topics as they are.
async fn still_serves(s: &Shared) -> Result<(), TestCaseError> {
    static VERSION: AtomicI64 = AtomicI64::new(1);
    let mut wrapper = TopicConfigSerializeWrapper {
        data_version: DataVersion {
            counter: VERSION.fetch_add(1, Ordering::Relaxed),
            state_version: 0,
            timestamp: 1_700_000_000_000,
        },
        ..Default::default()
    };
    wrapper.topic_config_table.insert(
        "Alive".into(),
        TopicConfig {
            topic_name: "Alive".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            ..Default::default()
        },
    );
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: wrapper,
    };
    let header = RegisterBrokerRequestHeader {
        broker_name: "alive-broker".into(),
        broker_addr: "127.0.0.1:20911".into(),
        cluster_name: "AliveCluster".into(),
        ha_server_addr: "127.0.0.1:20912".into(),
        broker_id: 0,
        compressed: Some(false),
        body_crc32: Some(0),
        ..Default::default()
    };
    let cmd = RemotingCommand::request_with_header(request::REGISTER_BROKER, &header)
        .with_body(to_json(&body));
    let r = s.client.invoke(&s.addr, cmd, testkit::ANSWER_WITHIN).await;
    let r = r.map_err(|e| TestCaseError::fail(format!("register after the case: {e:?}")))?;
    prop_assert_eq!(r.code, response::SUCCESS, "register: {:?}", r.remark);
    let route = GetRouteInfoRequestHeader {
        topic: "Alive".into(),
        accept_standard_json_only: None,
    };
    let cmd = RemotingCommand::request_with_header(request::GET_ROUTEINFO_BY_TOPIC, &route);
    let r = s.client.invoke(&s.addr, cmd, testkit::ANSWER_WITHIN).await;
    let r = r.map_err(|e| TestCaseError::fail(format!("route after the case: {e:?}")))?;
    prop_assert_eq!(r.code, response::SUCCESS, "route: {:?}", r.remark);
    let data: TopicRouteData =
        from_json(r.body_bytes()).map_err(|e| TestCaseError::fail(format!("route body: {e}")))?;
    prop_assert!(
        data.broker_datas
            .iter()
            .any(|b| b.broker_name == "alive-broker"),
        "the registered broker is not in the route"
    );
    Ok(())
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
    fn every_request_gets_a_response(
        cmds in prop::collection::vec(testkit::request(HEADERS, NAMES, body()), 1..12)
    ) {
        let s = shared();
        s.runtime.block_on(async {
            testkit::expect_answers(&s.client, &s.addr, cmds).await?;
            still_serves(s).await
        })?;
    }
}
