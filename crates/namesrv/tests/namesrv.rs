//! The name server over real TCP on 127.0.0.1, driven by `RemotingClient` the
//! way brokers and clients drive Java's.

use std::time::Duration;

use courier_namesrv::{run, NamesrvConfig};
use courier_remoting::body::{
    from_json, to_json, ClusterInfo, DataVersion, KvTable, QueueData, RegisterBrokerBody,
    TopicConfig, TopicConfigSerializeWrapper, TopicList, TopicRouteData,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{RemotingClient, RemotingCommand, SerializeType};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(10);

struct Ns {
    addr: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

async fn start_with(config: NamesrvConfig) -> Ns {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    let task = tokio::spawn(async move { run(config, listener, s).await.unwrap() });
    Ns {
        addr,
        shutdown,
        task,
        _dir: None,
    }
}

async fn start() -> Ns {
    let dir = tempfile::tempdir().unwrap();
    let mut ns = start_with(NamesrvConfig::new(dir.path())).await;
    ns._dir = Some(dir);
    ns
}

fn register_body(topics: &[(&str, i32)], counter: i64) -> RegisterBrokerBody {
    let mut wrapper = TopicConfigSerializeWrapper {
        data_version: DataVersion {
            counter,
            state_version: 0,
            timestamp: 1_700_000_000_000,
        },
        ..Default::default()
    };
    for (t, q) in topics {
        wrapper.topic_config_table.insert(
            t.to_string(),
            TopicConfig {
                topic_name: t.to_string(),
                read_queue_nums: *q,
                write_queue_nums: *q,
                ..Default::default()
            },
        );
    }
    RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: wrapper,
    }
}

fn register_cmd(name: &str, addr: &str, id: i64, body: &RegisterBrokerBody) -> RemotingCommand {
    let header = RegisterBrokerRequestHeader {
        broker_name: name.into(),
        broker_addr: addr.into(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: format!("{addr}-ha"),
        broker_id: id,
        compressed: Some(false),
        body_crc32: Some(0),
        ..Default::default()
    };
    RemotingCommand::request_with_header(request::REGISTER_BROKER, &header).with_body(to_json(body))
}

/// Registers a broker serving `topics` (name, queue count) at data version `counter`.
async fn register(
    client: &RemotingClient,
    ns: &str,
    name: &str,
    addr: &str,
    id: i64,
    topics: &[(&str, i32)],
    counter: i64,
) -> RemotingCommand {
    let cmd = register_cmd(name, addr, id, &register_body(topics, counter));
    client.invoke(ns, cmd, T).await.unwrap()
}

async fn route(client: &RemotingClient, addr: &str, topic: &str) -> RemotingCommand {
    let cmd = RemotingCommand::request_with_header(
        request::GET_ROUTEINFO_BY_TOPIC,
        &GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: None,
        },
    );
    client.invoke(addr, cmd, T).await.unwrap()
}

#[tokio::test]
async fn register_then_route_with_java_field_names() {
    let ns = start().await;
    let broker = RemotingClient::default();
    let resp = register(
        &broker,
        &ns.addr,
        "broker-a",
        "127.0.0.1:10911",
        0,
        &[("TopicTest", 4)],
        1,
    )
    .await;
    assert_eq!(resp.code, response::SUCCESS, "{resp:?}");
    let slave = register(
        &broker,
        &ns.addr,
        "broker-a",
        "127.0.0.1:10921",
        1,
        &[("TopicTest", 4)],
        1,
    )
    .await;
    let sh: RegisterBrokerResponseHeader = slave.decode_header().unwrap();
    assert_eq!(sh.master_addr.as_deref(), Some("127.0.0.1:10911"));
    assert_eq!(sh.ha_server_addr.as_deref(), Some("127.0.0.1:10911-ha"));

    let client = RemotingClient::default();
    let resp = route(&client, &ns.addr, "TopicTest").await;
    assert_eq!(resp.code, response::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(resp.body_bytes()).unwrap();
    assert_eq!(v["brokerDatas"][0]["brokerAddrs"]["0"], "127.0.0.1:10911");
    assert_eq!(v["brokerDatas"][0]["brokerAddrs"]["1"], "127.0.0.1:10921");
    assert_eq!(v["brokerDatas"][0]["brokerName"], "broker-a");
    assert_eq!(v["brokerDatas"][0]["cluster"], "DefaultCluster");
    assert_eq!(v["queueDatas"][0]["perm"], 6);
    assert_eq!(v["queueDatas"][0]["readQueueNums"], 4);
    assert_eq!(v["queueDatas"][0]["writeQueueNums"], 4);
    assert!(v["filterServerTable"].is_object());

    let missing = route(&client, &ns.addr, "Nope").await;
    assert_eq!(missing.code, response::TOPIC_NOT_EXIST);
    assert_eq!(
        missing.remark.as_deref(),
        Some("No topic route info in name server for the topic: Nope")
    );

    let info = ask(&client, &ns.addr, request::GET_BROKER_CLUSTER_INFO).await;
    let info: ClusterInfo = from_json(info.body_bytes()).unwrap();
    assert!(info.cluster_addr_table["DefaultCluster"].contains("broker-a"));
    assert_eq!(info.broker_addr_table["broker-a"].broker_addrs.len(), 2);

    let all = ask(
        &client,
        &ns.addr,
        request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
    )
    .await;
    let all: TopicList = from_json(all.body_bytes()).unwrap();
    assert!(all.topic_list.contains("TopicTest"));
    let by_cluster = client
        .invoke(
            &ns.addr,
            RemotingCommand::request_with_header(
                request::GET_TOPICS_BY_CLUSTER,
                &GetTopicsByClusterRequestHeader {
                    cluster: "DefaultCluster".into(),
                },
            ),
            T,
        )
        .await
        .unwrap();
    let by_cluster: TopicList = from_json(by_cluster.body_bytes()).unwrap();
    assert_eq!(by_cluster.topic_list.len(), 1);
    // GET_SYSTEM_TOPIC_LIST_FROM_NS: the cluster and broker names, and a broker to ask next.
    let system = ask(&client, &ns.addr, request::GET_SYSTEM_TOPIC_LIST_FROM_NS).await;
    assert_eq!(system.code, response::SUCCESS);
    let system: TopicList = from_json(system.body_bytes()).unwrap();
    let names: Vec<&str> = system.topic_list.iter().map(String::as_str).collect();
    assert_eq!(names, ["DefaultCluster", "broker-a"]);
    let addr = system.broker_addr.expect("a broker address");
    assert!(
        info.broker_addr_table["broker-a"]
            .broker_addrs
            .values()
            .any(|a| *a == addr),
        "{addr}"
    );
}

#[tokio::test]
async fn system_topic_list_without_brokers_is_empty_and_names_no_broker() {
    let ns = start().await;
    let client = RemotingClient::default();
    let r = ask(&client, &ns.addr, request::GET_SYSTEM_TOPIC_LIST_FROM_NS).await;
    assert_eq!(r.code, response::SUCCESS);
    // Java clients refuse a SUCCESS without a body.
    let list: TopicList = from_json(r.body_bytes()).unwrap();
    assert!(
        list.topic_list.is_empty() && list.broker_addr.is_none(),
        "{list:?}"
    );
}

#[tokio::test]
async fn binary_header_requests_are_served_too() {
    let ns = start().await;
    let client = RemotingClient::default();
    let mut cmd = register_cmd("b", "127.0.0.1:1", 0, &register_body(&[("T", 2)], 1));
    cmd.serialize_type = SerializeType::RocketMq;
    let resp = client.invoke(&ns.addr, cmd, T).await.unwrap();
    assert_eq!(resp.code, response::SUCCESS);
    assert_eq!(resp.serialize_type, SerializeType::RocketMq);
}

#[tokio::test]
async fn compressed_register_and_crc_check() {
    let ns = start().await;
    let client = RemotingClient::default();
    let body = register_body(&[("Zipped", 3)], 1).encode_compressed();
    let mut header = RegisterBrokerRequestHeader {
        broker_name: "z".into(),
        broker_addr: "127.0.0.1:2".into(),
        cluster_name: "C".into(),
        ha_server_addr: "x".into(),
        broker_id: 0,
        compressed: Some(true),
        body_crc32: Some(crc32fast::hash(&body) as i32 ^ 1),
        ..Default::default()
    };
    let bad = RemotingCommand::request_with_header(request::REGISTER_BROKER, &header)
        .with_body(body.clone());
    let resp = client.invoke(&ns.addr, bad, T).await.unwrap();
    assert_eq!(resp.code, response::SYSTEM_ERROR);
    assert_eq!(resp.remark.as_deref(), Some("crc32 not match"));
    assert_eq!(
        route(&client, &ns.addr, "Zipped").await.code,
        response::TOPIC_NOT_EXIST
    );

    header.body_crc32 = Some(crc32fast::hash(&body) as i32);
    let good =
        RemotingCommand::request_with_header(request::REGISTER_BROKER, &header).with_body(body);
    assert_eq!(
        client.invoke(&ns.addr, good, T).await.unwrap().code,
        response::SUCCESS
    );
    let r = route(&client, &ns.addr, "Zipped").await;
    let r: TopicRouteData = from_json(r.body_bytes()).unwrap();
    assert_eq!(r.queue_datas[0].read_queue_nums, 3);
}

#[tokio::test]
async fn missing_header_field_is_a_system_error_with_java_text() {
    let ns = start().await;
    let client = RemotingClient::default();
    let resp = ask(&client, &ns.addr, request::GET_ROUTEINFO_BY_TOPIC).await;
    assert_eq!(resp.code, response::SYSTEM_ERROR);
    assert_eq!(
        resp.remark.as_deref(),
        Some("the custom field <topic> is null")
    );
    let resp = ask(&client, &ns.addr, request::PULL_MESSAGE).await;
    assert_eq!(resp.code, response::REQUEST_CODE_NOT_SUPPORTED);
}

#[tokio::test]
async fn query_data_version_reports_changes() {
    let ns = start().await;
    let client = RemotingClient::default();
    register(&client, &ns.addr, "a", "127.0.0.1:3", 0, &[("T", 1)], 7).await;
    let ask = |counter: i64| {
        RemotingCommand::request_with_header(
            request::QUERY_DATA_VERSION,
            &QueryDataVersionRequestHeader {
                broker_name: "a".into(),
                broker_addr: "127.0.0.1:3".into(),
                cluster_name: "DefaultCluster".into(),
                broker_id: 0,
            },
        )
        .with_body(to_json(&DataVersion {
            counter,
            state_version: 0,
            timestamp: 1_700_000_000_000,
        }))
    };
    let same = client.invoke(&ns.addr, ask(7), T).await.unwrap();
    let h: QueryDataVersionResponseHeader = same.decode_header().unwrap();
    assert_eq!(h.changed, Some(false));
    let stored: DataVersion = from_json(same.body_bytes()).unwrap();
    assert_eq!(stored.counter, 7);
    let newer = client.invoke(&ns.addr, ask(8), T).await.unwrap();
    assert_eq!(
        newer
            .decode_header::<QueryDataVersionResponseHeader>()
            .unwrap()
            .changed,
        Some(true)
    );
}

#[tokio::test]
async fn write_perm_delete_and_register_topic() {
    let ns = start().await;
    let client = RemotingClient::default();
    register(
        &client,
        &ns.addr,
        "a",
        "127.0.0.1:4",
        0,
        &[("T", 2), ("U", 2)],
        1,
    )
    .await;
    let wipe = client
        .invoke(
            &ns.addr,
            RemotingCommand::request_with_header(
                request::WIPE_WRITE_PERM_OF_BROKER,
                &WipeWritePermOfBrokerRequestHeader {
                    broker_name: "a".into(),
                },
            ),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        wipe.decode_header::<WipeWritePermOfBrokerResponseHeader>()
            .unwrap()
            .wipe_topic_count,
        2
    );
    let r: TopicRouteData = from_json(route(&client, &ns.addr, "T").await.body_bytes()).unwrap();
    assert_eq!(r.queue_datas[0].perm, 4);
    let add = client
        .invoke(
            &ns.addr,
            RemotingCommand::request_with_header(
                request::ADD_WRITE_PERM_OF_BROKER,
                &AddWritePermOfBrokerRequestHeader {
                    broker_name: "a".into(),
                },
            ),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        add.decode_header::<AddWritePermOfBrokerResponseHeader>()
            .unwrap()
            .add_topic_count,
        2
    );

    let del = RemotingCommand::request_with_header(
        request::DELETE_TOPIC_IN_NAMESRV,
        &DeleteTopicFromNamesrvRequestHeader {
            topic: "U".into(),
            cluster_name: None,
        },
    );
    assert_eq!(
        client.invoke(&ns.addr, del, T).await.unwrap().code,
        response::SUCCESS
    );
    assert_eq!(
        route(&client, &ns.addr, "U").await.code,
        response::TOPIC_NOT_EXIST
    );

    let new_route = TopicRouteData {
        queue_datas: vec![QueueData {
            broker_name: "a".into(),
            perm: 6,
            read_queue_nums: 1,
            write_queue_nums: 1,
            topic_sys_flag: 0,
        }],
        ..Default::default()
    };
    let reg = RemotingCommand::request_with_header(
        request::REGISTER_TOPIC_IN_NAMESRV,
        &RegisterTopicRequestHeader {
            topic: "%RETRY%cg".into(),
        },
    )
    .with_body(to_json(&new_route));
    assert_eq!(
        client.invoke(&ns.addr, reg, T).await.unwrap().code,
        response::SUCCESS
    );
    assert_eq!(
        route(&client, &ns.addr, "%RETRY%cg").await.code,
        response::SUCCESS
    );
}

#[tokio::test]
async fn kv_config_is_served_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let ns = start_with(NamesrvConfig::new(dir.path())).await;
    let client = RemotingClient::default();
    let put = |ns_: &str, k: &str, v: &str| {
        RemotingCommand::request_with_header(
            request::PUT_KV_CONFIG,
            &PutKvConfigRequestHeader {
                namespace: ns_.into(),
                key: k.into(),
                value: v.into(),
            },
        )
    };
    let get = |ns_: &str, k: &str| {
        RemotingCommand::request_with_header(
            request::GET_KV_CONFIG,
            &GetKvConfigRequestHeader {
                namespace: ns_.into(),
                key: k.into(),
            },
        )
    };
    assert_eq!(
        client
            .invoke(&ns.addr, put("ns", "a", "1"), T)
            .await
            .unwrap()
            .code,
        response::SUCCESS
    );
    assert_eq!(
        client
            .invoke(&ns.addr, put("ns", "b", "2"), T)
            .await
            .unwrap()
            .code,
        response::SUCCESS
    );
    let got = client.invoke(&ns.addr, get("ns", "a"), T).await.unwrap();
    assert_eq!(
        got.decode_header::<GetKvConfigResponseHeader>()
            .unwrap()
            .value
            .as_deref(),
        Some("1")
    );
    let missing = client.invoke(&ns.addr, get("ns", "zz"), T).await.unwrap();
    assert_eq!(missing.code, response::QUERY_NOT_FOUND);
    assert_eq!(
        missing.remark.as_deref(),
        Some("No config item, Namespace: ns Key: zz")
    );
    let del = RemotingCommand::request_with_header(
        request::DELETE_KV_CONFIG,
        &DeleteKvConfigRequestHeader {
            namespace: "ns".into(),
            key: "b".into(),
        },
    );
    assert_eq!(
        client.invoke(&ns.addr, del, T).await.unwrap().code,
        response::SUCCESS
    );
    let list = RemotingCommand::request_with_header(
        request::GET_KVLIST_BY_NAMESPACE,
        &GetKvListByNamespaceRequestHeader {
            namespace: "ns".into(),
        },
    );
    let table: KvTable =
        from_json(client.invoke(&ns.addr, list, T).await.unwrap().body_bytes()).unwrap();
    assert_eq!(table.table.len(), 1);

    // Restart on the same data dir: the KV config survives.
    ns.shutdown.cancel();
    ns.task.await.unwrap();
    let ns2 = start_with(NamesrvConfig::new(dir.path())).await;
    let got = client.invoke(&ns2.addr, get("ns", "a"), T).await.unwrap();
    assert_eq!(
        got.decode_header::<GetKvConfigResponseHeader>()
            .unwrap()
            .value
            .as_deref(),
        Some("1")
    );
}

async fn wait_until_gone(client: &RemotingClient, addr: &str, topic: &str) {
    // Bounded wait for an asynchronous removal; the bound is generous, not a timing assertion.
    for _ in 0..400 {
        if route(client, addr, topic).await.code == response::TOPIC_NOT_EXIST {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("topic {topic} still routed");
}

#[tokio::test]
async fn silent_brokers_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NamesrvConfig::new(dir.path());
    config.broker_expiry = Duration::from_millis(200);
    config.scan_interval = Duration::from_millis(50);
    let ns = start_with(config).await;
    let broker = RemotingClient::default();
    register(&broker, &ns.addr, "a", "127.0.0.1:5", 0, &[("Exp", 1)], 1).await;
    let client = RemotingClient::default();
    assert_eq!(
        route(&client, &ns.addr, "Exp").await.code,
        response::SUCCESS
    );
    wait_until_gone(&client, &ns.addr, "Exp").await;
}

#[tokio::test]
async fn brokers_are_dropped_when_their_connection_closes() {
    let ns = start().await;
    let broker = RemotingClient::default();
    register(&broker, &ns.addr, "a", "127.0.0.1:6", 0, &[("Conn", 1)], 1).await;
    let client = RemotingClient::default();
    assert_eq!(
        route(&client, &ns.addr, "Conn").await.code,
        response::SUCCESS
    );
    broker.shutdown().await;
    wait_until_gone(&client, &ns.addr, "Conn").await;
}

#[tokio::test]
async fn unregister_removes_routes() {
    let ns = start().await;
    let client = RemotingClient::default();
    register(&client, &ns.addr, "a", "127.0.0.1:7", 0, &[("Un", 1)], 1).await;
    let un = RemotingCommand::request_with_header(
        request::UNREGISTER_BROKER,
        &UnregisterBrokerRequestHeader {
            broker_name: "a".into(),
            broker_addr: "127.0.0.1:7".into(),
            cluster_name: "DefaultCluster".into(),
            broker_id: 0,
        },
    );
    assert_eq!(
        client.invoke(&ns.addr, un, T).await.unwrap().code,
        response::SUCCESS
    );
    assert_eq!(
        route(&client, &ns.addr, "Un").await.code,
        response::TOPIC_NOT_EXIST
    );
}

/// GET_NAMESRV_CONFIG / UPDATE_NAMESRV_CONFIG: Java's keys as properties text; a topic list
/// switched off is refused as Java refuses it; black-listed and unknown keys change nothing.
#[tokio::test]
async fn namesrv_config_is_read_and_changed_while_running() {
    let ns = start().await;
    let client = RemotingClient::default();
    let update = |text: &str| {
        RemotingCommand::new_request(request::UPDATE_NAMESRV_CONFIG)
            .with_body(text.as_bytes().to_vec())
    };
    let before = namesrv_config(&client, &ns.addr).await;
    assert_eq!(before["enableAllTopicList"], "true");
    assert_eq!(before["orderMessageEnable"], "false");
    assert!(
        before["kvConfigPath"].ends_with("kvConfig.json"),
        "{before:?}"
    );

    let r = client
        .invoke(&ns.addr, update("enableAllTopicList=false\n"), T)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let all = ask(
        &client,
        &ns.addr,
        request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
    )
    .await;
    assert_eq!(
        (all.code, all.remark.as_deref()),
        (response::SYSTEM_ERROR, Some("disable"))
    );
    assert_eq!(
        namesrv_config(&client, &ns.addr).await["enableAllTopicList"],
        "false"
    );

    let r = client
        .invoke(&ns.addr, update("kvConfigPath=/tmp/elsewhere\n"), T)
        .await
        .unwrap();
    assert_eq!(
        (r.code, r.remark.as_deref()),
        (
            response::NO_PERMISSION,
            Some("Can not update config in black list.")
        )
    );
    let r = client
        .invoke(
            &ns.addr,
            update("enableAllTopicList=true\nlistenPort=1\n"),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, response::INVALID_PARAMETER);
    assert!(r.remark.unwrap().contains("unknown key listenPort"));
    assert_eq!(
        namesrv_config(&client, &ns.addr).await["enableAllTopicList"],
        "false",
        "nothing changed"
    );

    let r = client
        .invoke(&ns.addr, update("enableAllTopicList=true\n"), T)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    let all = ask(
        &client,
        &ns.addr,
        request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
    )
    .await;
    assert_eq!(all.code, response::SUCCESS);
}

async fn namesrv_config(
    client: &RemotingClient,
    addr: &str,
) -> std::collections::BTreeMap<String, String> {
    let r = ask(client, addr, request::GET_NAMESRV_CONFIG).await;
    assert_eq!(r.code, response::SUCCESS);
    courier_remoting::body::read_properties(&String::from_utf8_lossy(r.body_bytes()))
        .into_iter()
        .collect()
}

/// The answer to a request of `code` with no header or body.
async fn ask(client: &RemotingClient, addr: &str, code: i32) -> RemotingCommand {
    client
        .invoke(addr, RemotingCommand::new_request(code), T)
        .await
        .unwrap()
}
