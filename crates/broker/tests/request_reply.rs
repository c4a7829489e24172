//! Request-reply over real TCP: a request is stored with CLUSTER, a reply sent with
//! SEND_REPLY_MESSAGE(_V2) is pushed to the requester's connection (PUSH_REPLY_MESSAGE_TO_CLIENT)
//! and stored in `<cluster>_REPLY_TOPIC`, and every way the push can fail answers SYSTEM_ERROR
//! with Java's remark.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{
    ClientConfig, ConnectionHandle, Dispatcher, RemotingClient, RemotingCommand,
};
use tokio::sync::mpsc;

const REPLY_TOPIC: &str = "DefaultCluster_REPLY_TOPIC";

/// A connection registered as producer `client_id` that takes pushed replies (or refuses those
/// whose CORRELATION_ID is "refuse") and hands them to the returned channel.
async fn requester(
    b: &TestBroker,
    client_id: &str,
) -> (
    RemotingClient,
    mpsc::UnboundedReceiver<(ReplyMessageRequestHeader, Vec<u8>)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut d = Dispatcher::new();
    d.register(
        request::PUSH_REPLY_MESSAGE_TO_CLIENT,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let tx = tx.clone();
            async move {
                let h: ReplyMessageRequestHeader = req.decode_header().unwrap();
                let props = h.properties.clone().unwrap_or_default();
                if courier_store::property_value(&props, "CORRELATION_ID") == Some("refuse") {
                    return Ok(Some(RemotingCommand::error_to(
                        &req,
                        response::SYSTEM_ERROR,
                        "no such request",
                    )));
                }
                let _ = tx.send((h, req.body_bytes().to_vec()));
                Ok(Some(RemotingCommand::response_to(
                    &req,
                    response::SUCCESS,
                    None,
                )))
            }
        }),
    );
    let client = RemotingClient::with_dispatcher(ClientConfig::default(), d);
    register_producer(b, &client, client_id, "requesters").await;
    (client, rx)
}

/// A reply to `to` for request `correlation`, with SEND_REPLY_MESSAGE_V2 or SEND_REPLY_MESSAGE.
fn reply(v2: bool, to: Option<&str>, correlation: &str, body: &[u8]) -> RemotingCommand {
    let mut pairs = vec![
        ("MSG_TYPE", "reply"),
        ("CORRELATION_ID", correlation),
        ("TTL", "3000"),
    ];
    if let Some(to) = to {
        pairs.push(("REPLY_TO_CLIENT", to));
    }
    let h = send_header(REPLY_TOPIC, 0, &props(&pairs));
    let cmd = if v2 {
        let v: SendMessageRequestHeaderV2 = h.into();
        RemotingCommand::request_with_header(request::SEND_REPLY_MESSAGE_V2, &v)
    } else {
        RemotingCommand::request_with_header(request::SEND_REPLY_MESSAGE, &h)
    };
    cmd.with_body(body.to_vec())
}

#[tokio::test]
async fn replies_are_pushed_to_their_requester_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let (req_client, mut pushed) = requester(&b, "req@1").await;

    // The request: an ordinary send, stored with the broker's cluster.
    let request_props = props(&[
        ("CORRELATION_ID", "c-1"),
        ("REPLY_TO_CLIENT", "req@1"),
        ("TTL", "3000"),
    ]);
    let r = req_client
        .invoke(
            &b.addr,
            send_cmd(true, send_header("RR", 0, &request_props), b"question"),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b
        .call_header(request::PULL_MESSAGE, &pull_header("g", "RR", 0, 0))
        .await;
    let stored = courier_store::decode_record(r.body_bytes()).unwrap();
    assert_eq!(stored.property("CLUSTER"), Some("DefaultCluster"));
    assert_eq!(stored.property("REPLY_TO_CLIENT"), Some("req@1"));

    // The reply, from another connection, in both header forms.
    for (i, v2) in [true, false].into_iter().enumerate() {
        let body = format!("answer {i}");
        let r = b
            .call(reply(v2, Some("req@1"), "c-1", body.as_bytes()))
            .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        let h: SendMessageResponseHeader = r.decode_header().unwrap();
        assert_eq!(h.queue_offset, i as i64, "stored in the reply topic");
        let (_, phys) = courier_store::decode_offset_msg_id(&h.msg_id).unwrap();
        assert!(phys >= 0);

        let (ph, pbody) = tokio::time::timeout(Duration::from_secs(5), pushed.recv())
            .await
            .expect("no reply was pushed")
            .unwrap();
        assert_eq!(pbody, body.as_bytes());
        assert_eq!(ph.topic, REPLY_TOPIC);
        assert_eq!(ph.producer_group, "pg");
        assert_eq!(ph.born_timestamp, 1_700_000_000_000);
        assert_eq!(ph.store_host, b.addr);
        assert!(ph.born_host.starts_with("127.0.0.1:"), "{}", ph.born_host);
        assert!(ph.store_timestamp > 1_700_000_000_000);
        let p = ph.properties.unwrap();
        assert_eq!(
            courier_store::property_value(&p, "CORRELATION_ID"),
            Some("c-1")
        );
        assert_eq!(courier_store::property_value(&p, "MSG_TYPE"), Some("reply"));
        let pushed_at: i64 = courier_store::property_value(&p, "PUSH_REPLY_TIME")
            .expect("PUSH_REPLY_TIME")
            .parse()
            .unwrap();
        assert!(pushed_at >= ph.store_timestamp - 1000);
    }
    assert_eq!(b.max_offset(REPLY_TOPIC, 0).await, 2);

    // Nobody to push to: refused with Java's remarks, stored all the same.
    let r = b.call(reply(true, Some("ghost@9"), "c-2", b"x")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("push reply message fail, channel of <ghost@9> not found.")
    );
    let r = b.call(reply(true, None, "c-3", b"x")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("reply message properties[REPLY_TO_CLIENT] is null")
    );
    // The requester refuses it.
    let r = b.call(reply(true, Some("req@1"), "refuse", b"x")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("push reply message to req@1 fail.")
    );
    assert_eq!(b.max_offset(REPLY_TOPIC, 0).await, 5);
    assert!(pushed.try_recv().is_err(), "nothing else was pushed");

    // The send path's checks come first.
    let mut h = send_header(
        "SCHEDULE_TOPIC_XXXX",
        0,
        &props(&[("REPLY_TO_CLIENT", "req@1")]),
    );
    h.queue_id = 0;
    let r = b
        .call(
            RemotingCommand::request_with_header(request::SEND_REPLY_MESSAGE, &h)
                .with_body(b"x".to_vec()),
        )
        .await;
    assert_eq!(r.code, response::NO_PERMISSION, "{:?}", r.remark);
    let mut h = send_header(REPLY_TOPIC, 5, &props(&[("REPLY_TO_CLIENT", "req@1")]));
    h.queue_id = 5;
    let r = b
        .call(
            RemotingCommand::request_with_header(request::SEND_REPLY_MESSAGE, &h)
                .with_body(b"x".to_vec()),
        )
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("queueId[5] is illegal"));
    assert!(pushed.try_recv().is_err(), "a refused send pushes nothing");

    req_client.shutdown().await;
    b.stop().await;
}

#[tokio::test]
async fn without_storing_replies_the_answer_has_no_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.store_reply_message_enable = false;
    let b = TestBroker::start(config).await;
    let (req_client, mut pushed) = requester(&b, "req@2").await;
    let r = b.call(reply(true, Some("req@2"), "c-1", b"answer")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let h: SendMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!((h.msg_id.as_str(), h.queue_offset), ("0", 0));
    let (_, body) = pushed.recv().await.unwrap();
    assert_eq!(body, b"answer");
    assert_eq!(b.max_offset(REPLY_TOPIC, 0).await, 0, "nothing stored");
    req_client.shutdown().await;
    b.stop().await;
}
