//! SQL92 property selectors on the broker (`enablePropertyFilter`): the pull path with the
//! subscription in the request and from a heartbeat, CHECK_CLIENT_CONFIG, the long-poll wake-up,
//! and the refusals a Java broker answers with.

mod common;

use std::time::Duration;

use common::*;
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    PullMessageResponseHeader, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use courier_remoting::{ClientConfig, RemotingClient, RemotingCommand};

fn sql_config(dir: &std::path::Path) -> courier_broker::BrokerConfig {
    courier_broker::BrokerConfig {
        enable_property_filter: true,
        ..small_config(dir)
    }
}

/// Sends one message to queue 0 of `topic` with these properties; returns its queue offset.
async fn send(b: &TestBroker, topic: &str, pairs: &[(&str, &str)], body: &[u8]) -> i64 {
    let r = b
        .call(send_cmd(true, send_header(topic, 0, &props(pairs)), body))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    r.ext_field("queueOffset").unwrap().parse().unwrap()
}

/// A pull of queue 0 from `offset` selecting with the SQL92 `expr` (in the request).
fn sql_pull(group: &str, topic: &str, offset: i64, expr: &str) -> RemotingCommand {
    let mut h = pull_header(group, topic, 0, offset);
    h.subscription = Some(expr.into());
    h.expression_type = Some("SQL92".into());
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)
}

fn bodies(r: &RemotingCommand) -> Vec<Vec<u8>> {
    decode_records(r.body_bytes())
        .into_iter()
        .map(|(_, body, _)| body)
        .collect()
}

fn next_begin(r: &RemotingCommand) -> i64 {
    r.decode_header::<PullMessageResponseHeader>()
        .unwrap()
        .next_begin_offset
}

fn check_config(expr_type: &str, expr: &str) -> RemotingCommand {
    let body = serde_json::json!({"clientId": "c1", "group": "g", "subscriptionData": {
        "topic": "S", "subString": expr, "expressionType": expr_type,
        "tagsSet": [], "codeSet": [], "subVersion": 1}});
    RemotingCommand::new_request(request::CHECK_CLIENT_CONFIG)
        .with_body(serde_json::to_vec(&body).unwrap())
}

fn heartbeat(group: &str, topic: &str, expr: &str, version: i64) -> RemotingCommand {
    let body = serde_json::json!({
        "clientID": "client-sql",
        "consumerDataSet": [{
            "groupName": group,
            "consumeType": "CONSUME_PASSIVELY",
            "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
            "unitMode": false,
            "subscriptionDataSet": [{
                "topic": topic, "subString": expr, "expressionType": "SQL92",
                "tagsSet": [], "codeSet": [], "subVersion": version, "classFilterMode": false
            }]
        }],
        "producerDataSet": []
    });
    RemotingCommand::new_request(request::HEART_BEAT).with_body(serde_json::to_vec(&body).unwrap())
}

#[tokio::test]
async fn a_pull_keeps_only_messages_whose_properties_match() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(sql_config(dir.path())).await;
    for a in 0..10 {
        let region = if a % 2 == 0 { "east" } else { "west" };
        let a_text = a.to_string();
        send(
            &b,
            "S",
            &[("a", &a_text), ("region", region), ("TAGS", "T")],
            a_text.as_bytes(),
        )
        .await;
    }
    send(&b, "S", &[("region", "east")], b"no-a").await;

    let r = b
        .call(sql_pull("g", "S", 0, "a > 5 AND region = 'east'"))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), vec![b"6".to_vec(), b"8".to_vec()]);
    assert_eq!(
        next_begin(&r),
        11,
        "the scan went past everything it filtered out"
    );

    // Three-valued logic: a message without `a` matches neither the comparison nor its negation.
    let r = b.call(sql_pull("g", "S", 0, "NOT (a > 5)")).await;
    assert_eq!(bodies(&r).len(), 6, "0..=5, not the message without a");
    let r = b.call(sql_pull("g", "S", 0, "a IS NULL")).await;
    assert_eq!(bodies(&r), vec![b"no-a".to_vec()]);
    // System properties are properties too.
    let r = b
        .call(sql_pull("g", "S", 0, "TAGS = 'T' AND a BETWEEN 2 AND 3"))
        .await;
    assert_eq!(bodies(&r), vec![b"2".to_vec(), b"3".to_vec()]);
    let r = b
        .call(sql_pull("g", "S", 0, "region IN ('west') AND a < 4"))
        .await;
    assert_eq!(bodies(&r), vec![b"1".to_vec(), b"3".to_vec()]);

    // Nothing matches: retry at once from past what was scanned, as for a tag mismatch.
    let r = b.call(sql_pull("g", "S", 0, "a > 100")).await;
    assert_eq!(r.code, response::PULL_RETRY_IMMEDIATELY);
    assert_eq!(next_begin(&r), 11);
    assert!(r.body_bytes().is_empty());
    b.stop().await;
}

#[tokio::test]
async fn selectors_that_do_not_compile_or_are_not_enabled_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(sql_config(dir.path())).await;
    send(&b, "S", &[("a", "1")], b"x").await;

    let r = b
        .call(check_config("SQL92", "a > 1 AND region = 'east'"))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(check_config("SQL92", "a > AND")).await;
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED);
    assert!(
        !r.remark.unwrap_or_default().is_empty(),
        "the parser's reason is the remark"
    );
    let r = b.call(check_config("XPATH", "/a")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("XPATH"));

    let r = b.call(sql_pull("g", "S", 0, "a >")).await;
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED);
    b.stop().await;

    // RocketMQ's default: no property filter, and Java's remark.
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    send(&b, "S", &[("a", "1")], b"x").await;
    for r in [
        b.call(check_config("SQL92", "a > 0")).await,
        b.call(sql_pull("g", "S", 0, "a > 0")).await,
    ] {
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert_eq!(
            r.remark.as_deref(),
            Some("The broker does not support consumer to filter message by SQL92")
        );
    }
    b.stop().await;
}

#[tokio::test]
async fn a_heartbeat_registered_selector_serves_pulls_without_the_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(sql_config(dir.path())).await;
    for a in ["1", "7", "9"] {
        send(&b, "S", &[("a", a)], a.as_bytes()).await;
    }
    assert_eq!(
        b.call(heartbeat("hg", "S", "a >= 7", 5)).await.code,
        response::SUCCESS
    );
    let mut h = pull_header("hg", "S", 0, 0);
    h.sys_flag &= !PULL_FLAG_SUBSCRIPTION;
    h.subscription = None;
    h.sub_version = 5;
    let r = b.call_header(request::PULL_MESSAGE, &h).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), vec![b"7".to_vec(), b"9".to_vec()]);

    // A registered selector that does not compile: Java has no filter data for the group.
    assert_eq!(
        b.call(heartbeat("bad", "S", "a >=", 5)).await.code,
        response::SUCCESS
    );
    h.consumer_group = "bad".into();
    let r = b.call_header(request::PULL_MESSAGE, &h).await;
    assert_eq!(r.code, response::FILTER_DATA_NOT_EXIST);
    assert!(r.remark.unwrap().contains("not exist"));

    // The group's retry topic is matched by its own subscription (`*`), never by the selector.
    b.call_header(
        request::UPDATE_AND_CREATE_TOPIC,
        &create_topic("%RETRY%hg", 1, 6),
    )
    .await;
    send(&b, "%RETRY%hg", &[("a", "0")], b"retry").await;
    let r = b.call(sql_pull("hg", "%RETRY%hg", 0, "a >= 7")).await;
    assert_eq!(bodies(&r), vec![b"retry".to_vec()]);
    b.stop().await;
}

#[tokio::test]
async fn a_parked_pull_wakes_only_for_a_message_it_selects() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(sql_config(dir.path())).await;
    let start = send(&b, "S", &[("a", "0")], b"old").await + 1;
    let mut cmd = sql_pull("g", "S", start, "a = 42");
    let mut h: courier_remoting::header::PullMessageRequestHeader = cmd.decode_header().unwrap();
    h.sys_flag |= PULL_FLAG_SUSPEND;
    h.suspend_timeout_millis = 20_000;
    cmd = RemotingCommand::request_with_header(request::PULL_MESSAGE, &h);
    // Its own connection, so that the sends below do not queue behind it.
    let puller = RemotingClient::new(ClientConfig::default());
    let addr = b.addr.clone();
    let parked = tokio::spawn(async move {
        let r = puller
            .invoke(&addr, cmd, Duration::from_secs(30))
            .await
            .unwrap();
        puller.shutdown().await;
        r
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&b, "S", &[("a", "41")], b"other").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !parked.is_finished(),
        "a message the selector rejects does not answer the pull"
    );
    let at = std::time::Instant::now();
    send(&b, "S", &[("a", "42")], b"wanted").await;
    let r = tokio::time::timeout(Duration::from_secs(5), parked)
        .await
        .expect("the matching message answers the parked pull at once")
        .unwrap();
    assert!(at.elapsed() < Duration::from_secs(5));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), vec![b"wanted".to_vec()]);
    b.stop().await;
}
