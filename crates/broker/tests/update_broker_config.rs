//! UPDATE_BROKER_CONFIG (25) over real TCP: keys that apply at once change what the running
//! broker does (its permission, the message size limit, topic auto-creation), start-only keys
//! go to the config file for the next start, and refused updates change nothing.

mod common;

use common::*;
use courier_broker::BrokerConfig;
use courier_remoting::body::{read_properties, write_properties};
use courier_remoting::code::{request, response};
use courier_remoting::header::PullMessageResponseHeader;
use courier_remoting::RemotingCommand;

async fn update(b: &TestBroker, pairs: &[(&str, &str)]) -> RemotingCommand {
    let cmd = RemotingCommand::new_request(request::UPDATE_BROKER_CONFIG)
        .with_body(write_properties(pairs).into_bytes());
    b.call(cmd).await
}

async fn running(b: &TestBroker) -> Vec<(String, String)> {
    let r = b
        .call(RemotingCommand::new_request(request::GET_BROKER_CONFIG))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    read_properties(&String::from_utf8_lossy(r.body_bytes()))
}

async fn value(b: &TestBroker, key: &str) -> String {
    running(b)
        .await
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("GET_BROKER_CONFIG has no {key}"))
}

async fn send(b: &TestBroker, topic: &str, body: &[u8]) -> RemotingCommand {
    b.call(send_cmd(true, send_header(topic, 0, ""), body))
        .await
}

#[tokio::test]
async fn a_read_only_broker_refuses_sends_and_serves_pulls_until_it_is_writable_again() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let r = b
        .call_header(request::UPDATE_AND_CREATE_TOPIC, &create_topic("RO", 1, 6))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(send(&b, "RO", b"before").await.code, response::SUCCESS);

    let r = update(&b, &[("brokerPermission", "4")]).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let said = r.remark.unwrap_or_default();
    assert!(said.contains("applied now: brokerPermission"), "{said}");
    assert!(said.contains("not saved"), "{said}");
    let r = send(&b, "RO", b"refused").await;
    assert_eq!(r.code, response::NO_PERMISSION, "{:?}", r.remark);
    let pull = b
        .call_header(request::PULL_MESSAGE, &pull_header("g", "RO", 0, 0))
        .await;
    assert_eq!(pull.code, response::SUCCESS, "{:?}", pull.remark);
    let h: PullMessageResponseHeader = pull.decode_header().unwrap();
    assert_eq!(h.next_begin_offset, 1);
    assert_eq!(value(&b, "brokerPermission").await, "4");

    let r = update(&b, &[("brokerPermission", "6")]).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(send(&b, "RO", b"after").await.code, response::SUCCESS);
    b.stop().await;
}

#[tokio::test]
async fn message_size_and_topic_auto_creation_change_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    assert_eq!(
        send(&b, "Auto1", &[7u8; 2048]).await.code,
        response::SUCCESS
    );

    let r = update(
        &b,
        &[
            ("maxMessageSize", "1024"),
            ("autoCreateTopicEnable", "false"),
        ],
    )
    .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = send(&b, "Auto1", &[7u8; 2048]).await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{:?}", r.remark);
    assert_eq!(send(&b, "Auto1", &[7u8; 512]).await.code, response::SUCCESS);
    let r = send(&b, "Auto2", b"x").await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST, "{:?}", r.remark);

    let r = update(&b, &[("autoCreateTopicEnable", "true")]).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(send(&b, "Auto2", b"x").await.code, response::SUCCESS);
    b.stop().await;
}

#[tokio::test]
async fn refused_updates_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let before = running(&b).await;
    // (the update, the answer's code, what its remark must name)
    type Case<'a> = (&'a [(&'a str, &'a str)], i32, &'a str);
    let cases: [Case; 5] = [
        (
            &[("maxMessageSize", "1024"), ("noSuchKey", "1")],
            response::INVALID_PARAMETER,
            "noSuchKey",
        ),
        (
            &[("maxMessageSize", "1024"), ("configBlackList", "")],
            response::NO_PERMISSION,
            "black list",
        ),
        (
            &[("maxMessageSize", "1024"), ("brokerPermission", "9")],
            response::INVALID_PARAMETER,
            "brokerPermission",
        ),
        (
            &[("longPollingEnable", "maybe")],
            response::INVALID_PARAMETER,
            "longPollingEnable",
        ),
        // A start-only key with no config file to keep it in.
        (
            &[("maxMessageSize", "1024"), ("flushDiskType", "SYNC_FLUSH")],
            response::INVALID_PARAMETER,
            "--config",
        ),
    ];
    for (pairs, code, says) in cases {
        let r = update(&b, pairs).await;
        let remark = r.remark.clone().unwrap_or_default();
        assert_eq!(r.code, code, "{pairs:?}: {remark}");
        assert!(remark.contains(says), "{pairs:?}: {remark}");
    }
    assert_eq!(running(&b).await, before);
    // An empty update is a no-op, as in Java.
    let r = b
        .call(RemotingCommand::new_request(request::UPDATE_BROKER_CONFIG))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    b.stop().await;
}

#[tokio::test]
async fn the_config_file_keeps_the_changes_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broker.toml");
    let store = dir.path().join("store");
    let text = format!(
        "# broker-a of the test cluster\nbrokerName = \"broker-a\"  # its name in routes\n\
         storePathRootDir = {:?}\nmappedFileSizeCommitLog = 8388608\n",
        store.display().to_string()
    );
    std::fs::write(&file, &text).unwrap();
    let b =
        TestBroker::start_with_file(BrokerConfig::load(&file).unwrap(), Some(file.as_path())).await;
    let r = update(
        &b,
        &[("flushDiskType", "SYNC_FLUSH"), ("maxMessageSize", "2048")],
    )
    .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let said = r.remark.unwrap_or_default();
    assert!(said.contains("applied now: maxMessageSize"), "{said}");
    assert!(
        said.contains("applied at the next start: flushDiskType"),
        "{said}"
    );
    assert!(
        said.contains(&format!("saved to {}", file.display())),
        "{said}"
    );
    // The running broker keeps its flush type; the file has both, and the operator's lines.
    assert_eq!(value(&b, "flushDiskType").await, "ASYNC_FLUSH");
    assert_eq!(value(&b, "maxMessageSize").await, "2048");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.starts_with(&text), "{saved}");
    b.stop().await;

    let again = TestBroker::start(BrokerConfig::load(&file).unwrap()).await;
    assert_eq!(value(&again, "flushDiskType").await, "SYNC_FLUSH");
    assert_eq!(value(&again, "maxMessageSize").await, "2048");
    again.stop().await;
}
