//! Shared harness for the broker's protocol tests: a broker on 127.0.0.1:<free port> over a
//! temporary store directory, and a RemotingClient to talk to it.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use courier_broker::{BrokerConfig, BrokerError};
use courier_remoting::code::request;
use courier_remoting::header::{
    CreateTopicRequestHeader, GetMaxOffsetRequestHeader, OffsetResponseHeader,
    PullMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    PULL_FLAG_SUBSCRIPTION,
};
use courier_remoting::{ClientConfig, CommandHeader, RemotingClient, RemotingCommand};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestBroker {
    pub addr: String,
    pub shutdown: CancellationToken,
    pub handle: Option<JoinHandle<Result<(), BrokerError>>>,
    pub client: RemotingClient,
}

pub fn small_config(dir: &Path) -> BrokerConfig {
    BrokerConfig {
        store_path_root_dir: dir.to_path_buf(),
        mapped_file_size_commit_log: 8 * 1024 * 1024,
        mapped_file_size_consume_queue: 1000 * 20,
        max_hash_slot_num: 1000,
        max_index_num: 4000,
        ..BrokerConfig::default()
    }
}

impl TestBroker {
    pub async fn start(config: BrokerConfig) -> TestBroker {
        Self::start_with_file(config, None).await
    }

    /// A broker started as `courier broker --config FILE` starts one: UPDATE_BROKER_CONFIG
    /// writes its changes into `file`.
    pub async fn start_with_file(mut config: BrokerConfig, file: Option<&Path>) -> TestBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        config.listen_port = port;
        let shutdown = CancellationToken::new();
        let (token, file) = (shutdown.clone(), file.map(Path::to_path_buf));
        let handle = tokio::spawn(async move {
            let ctx = courier_broker::server::open(config).await?;
            if let Some(file) = file {
                ctx.settings.save_changes_to(file);
            }
            courier_broker::server::serve(ctx.clone(), listener, token).await;
            courier_broker::server::close(&ctx).await
        });
        TestBroker {
            addr: format!("127.0.0.1:{port}"),
            shutdown,
            handle: Some(handle),
            client: RemotingClient::new(ClientConfig::default()),
        }
    }

    pub async fn call(&self, cmd: RemotingCommand) -> RemotingCommand {
        self.client.invoke(&self.addr, cmd, TIMEOUT).await.unwrap()
    }

    pub async fn call_header<H: CommandHeader>(&self, code: i32, h: &H) -> RemotingCommand {
        self.call(RemotingCommand::request_with_header(code, h))
            .await
    }

    /// GET_MAX_OFFSET of one queue: the offset its next message will get.
    pub async fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        let h = GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id,
            committed: None,
        };
        let r = self.call_header(request::GET_MAX_OFFSET, &h).await;
        r.decode_header::<OffsetResponseHeader>().unwrap().offset
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
        self.client.shutdown().await;
    }
}

/// Registers `client` with the broker as producer `client_id` of `group` (HEART_BEAT), so the
/// broker can call it back on this connection.
pub async fn register_producer(
    b: &TestBroker,
    client: &RemotingClient,
    client_id: &str,
    group: &str,
) {
    let hb = serde_json::json!({"clientID": client_id, "producerDataSet": [{"groupName": group}], "consumerDataSet": []});
    heartbeat(b, client, &hb, courier_remoting::command::CURRENT_VERSION).await;
}

/// Registers `client` with the broker as push consumer `client_id` of `group`, clustering, all
/// of `topic`, reporting client version `version` (HEART_BEAT).
pub async fn register_consumer(
    b: &TestBroker,
    client: &RemotingClient,
    client_id: &str,
    group: &str,
    topic: &str,
    version: i32,
) {
    let hb = serde_json::json!({
        "clientID": client_id,
        "consumerDataSet": [{
            "groupName": group,
            "consumeType": "CONSUME_PASSIVELY",
            "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
            "unitMode": false,
            "subscriptionDataSet": [{"topic": topic, "subString": "*", "tagsSet": [], "codeSet": [],
                "subVersion": 1, "classFilterMode": false}]
        }],
        "producerDataSet": []
    });
    heartbeat(b, client, &hb, version).await;
}

async fn heartbeat(
    b: &TestBroker,
    client: &RemotingClient,
    body: &serde_json::Value,
    version: i32,
) {
    let mut cmd = RemotingCommand::new_request(request::HEART_BEAT)
        .with_body(serde_json::to_vec(body).unwrap());
    cmd.version = version;
    let r = client.invoke(&b.addr, cmd, TIMEOUT).await.unwrap();
    assert_eq!(r.code, courier_remoting::code::response::SUCCESS);
}

/// A PULL_MESSAGE header for up to 32 messages of any tag, answered at once (no suspend).
pub fn pull_header(group: &str, topic: &str, queue: i32, offset: i64) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: PULL_FLAG_SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
    }
}

/// UPDATE_AND_CREATE_TOPIC's header for a topic of `queues` read and write queues.
pub fn create_topic(topic: &str, queues: i32, perm: i32) -> CreateTopicRequestHeader {
    CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm,
        topic_filter_type: None,
        topic_sys_flag: None,
        order: None,
        attributes: None,
        force: None,
    }
}

pub fn send_header(topic: &str, queue_id: i32, properties: &str) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(properties.to_string()),
        reconsume_times: None,
        unit_mode: None,
        max_reconsume_times: None,
        batch: None,
        broker_name: None,
    }
}

/// SEND_MESSAGE (long keys) or SEND_MESSAGE_V2 (short keys).
pub fn send_cmd(v2: bool, h: SendMessageRequestHeader, body: &[u8]) -> RemotingCommand {
    let cmd = if v2 {
        let v: SendMessageRequestHeaderV2 = h.into();
        RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &v)
    } else {
        RemotingCommand::request_with_header(request::SEND_MESSAGE, &h)
    };
    cmd.with_body(body.to_vec())
}

pub fn props(pairs: &[(&str, &str)]) -> String {
    courier_store::encode_properties(pairs)
}

/// Decodes a PULL / QUERY_MESSAGE body into (queue offset, body, TAGS) triples.
pub fn decode_records(body: &[u8]) -> Vec<(i64, Vec<u8>, Option<String>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let m = courier_store::decode_record(&body[pos..]).unwrap();
        out.push((
            m.queue_offset(),
            m.body().to_vec(),
            m.property("TAGS").map(str::to_string),
        ));
        pos += m.total_size();
    }
    out
}
