//! An admin's questions a broker forwards to one consumer, over real TCP:
//! GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309) reach the consumer's
//! connection with the admin's fields (and, for 309, the broker's name, the topic's sys flag and
//! the stored message as the body); the consumer's answer comes back to the admin as it was
//! given; and every refusal — not online, too old, an id that names nothing — is Java's.
//! INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) asks every client of the group (or the one named)
//! for the offsets it holds (GET_CONSUMER_STATUS_FROM_CLIENT, 221) and answers them by client id,
//! leaving out a client that does not answer in time.

mod common;

use std::sync::Arc;

use common::*;
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{
    ClientConfig, ConnectionHandle, Dispatcher, RemotingClient, RemotingCommand,
};
use tokio::sync::mpsc;

/// What the fake consumer saw of a forwarded request: its code, extFields and body.
type Seen = (i32, std::collections::BTreeMap<String, String>, Vec<u8>);

/// A connection registered as consumer `client_id` of group `g` (heartbeat with `version`). It
/// answers both codes with SUCCESS and a body naming what it got, except that a running-info
/// question with `jstackEnable=true` is refused with code 1 and "no jstack here".
async fn consumer(
    b: &TestBroker,
    client_id: &str,
    version: i32,
) -> (RemotingClient, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut d = Dispatcher::new();
    d.register_all(
        &[
            request::GET_CONSUMER_RUNNING_INFO,
            request::CONSUME_MESSAGE_DIRECTLY,
        ],
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let tx = tx.clone();
            async move {
                let fields = req.ext_fields_view().into_owned();
                if fields.get("jstackEnable").map(String::as_str) == Some("true") {
                    return Ok(Some(RemotingCommand::error_to(
                        &req,
                        response::SYSTEM_ERROR,
                        "no jstack here",
                    )));
                }
                let answer = format!(
                    "code {} with {} body bytes",
                    req.code,
                    req.body_bytes().len()
                );
                let _ = tx.send((req.code, fields, req.body_bytes().to_vec()));
                Ok(Some(
                    RemotingCommand::success_to(&req).with_body(answer.into_bytes()),
                ))
            }
        }),
    );
    let client = RemotingClient::with_dispatcher(ClientConfig::default(), d);
    register_consumer(b, &client, client_id, "g", "CT", version).await;
    (client, rx)
}

fn running_info(group: &str, client_id: &str, jstack: bool) -> RemotingCommand {
    RemotingCommand::request_with_header(
        request::GET_CONSUMER_RUNNING_INFO,
        &GetConsumerRunningInfoRequestHeader {
            consumer_group: group.into(),
            client_id: client_id.into(),
            jstack_enable: Some(jstack),
        },
    )
}

fn consume_directly(client_id: Option<&str>, msg_id: &str, topic: Option<&str>) -> RemotingCommand {
    RemotingCommand::request_with_header(
        request::CONSUME_MESSAGE_DIRECTLY,
        &ConsumeMessageDirectlyResultRequestHeader {
            consumer_group: "g".into(),
            client_id: client_id.map(str::to_string),
            msg_id: Some(msg_id.into()),
            topic: topic.map(str::to_string),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn running_info_questions_reach_the_consumer_and_its_answer_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let (_consumer, mut seen) =
        consumer(&b, "c@1", courier_remoting::command::VERSION_V4_9_4).await;

    // The client matched the answer to its request by opaque: it was re-addressed to the
    // admin's request, not left with the broker's call to the consumer.
    let r = b.call(running_info("g", "c@1", false)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert!(r.is_response());
    assert_eq!(r.body_bytes(), b"code 307 with 0 body bytes");
    let (code, fields, _) = seen.recv().await.unwrap();
    assert_eq!(code, request::GET_CONSUMER_RUNNING_INFO);
    assert_eq!(fields["consumerGroup"], "g");
    assert_eq!(fields["clientId"], "c@1");
    assert_eq!(fields["jstackEnable"], "false");

    // A refusal by the consumer is passed on as it was given.
    let r = b.call(running_info("g", "c@1", true)).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(r.remark.as_deref(), Some("no jstack here"));

    // Nobody of that id, or not in that group.
    for (group, client) in [("g", "nobody@1"), ("other", "c@1")] {
        let r = b.call(running_info(group, client, false)).await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert_eq!(
            r.remark.as_deref(),
            Some(format!("The Consumer <{group}> <{client}> not online").as_str())
        );
    }

    // The header's required fields.
    let r = b
        .call(RemotingCommand::new_request(
            request::GET_CONSUMER_RUNNING_INFO,
        ))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("consumerGroup"));
    b.stop().await;
}

#[tokio::test]
async fn consumers_older_than_3_1_8_are_not_asked() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let (_consumer, mut seen) = consumer(&b, "old@1", 40).await;
    let r = b.call(running_info("g", "old@1", false)).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("The Consumer <old@1> Version <40> too low to finish, please upgrade it to V3_1_8_SNAPSHOT")
    );
    assert!(seen.try_recv().is_err(), "nothing was forwarded");
    b.stop().await;
}

#[tokio::test]
async fn a_message_to_consume_directly_is_sent_to_the_consumer_with_the_stored_record() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let (_consumer, mut seen) =
        consumer(&b, "c@1", courier_remoting::command::VERSION_V4_9_4).await;
    let r = b
        .call(send_cmd(
            true,
            send_header("CT", 0, &props(&[("TAGS", "a")])),
            b"consume me",
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let msg_id = r
        .decode_header::<SendMessageResponseHeader>()
        .unwrap()
        .msg_id;

    let r = b
        .call(consume_directly(Some("c@1"), &msg_id, Some("CT")))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let (code, fields, body) = seen.recv().await.unwrap();
    assert_eq!(code, request::CONSUME_MESSAGE_DIRECTLY);
    assert_eq!(fields["brokerName"], small_config(dir.path()).broker_name);
    assert_eq!(fields["msgId"], msg_id);
    assert_eq!(fields["topicSysFlag"], "0");
    let record = courier_store::decode_record(&body).unwrap();
    assert_eq!(record.body(), b"consume me");
    assert_eq!(record.topic(), "CT");
    assert_eq!(
        r.body_bytes(),
        format!("code 309 with {} body bytes", body.len()).as_bytes()
    );

    // Refused before anything is forwarded: no client, an id that is not an offset msgId, an
    // offset with no record, a client that is not online.
    let (host, phys) = courier_store::decode_offset_msg_id(&msg_id).unwrap();
    let nowhere = courier_store::offset_msg_id(host, phys + 1_000_000);
    for (cmd, says) in [
        (
            consume_directly(None, &msg_id, None),
            "clientId is required",
        ),
        (
            consume_directly(Some("c@1"), "not-an-id", None),
            "not an offset message id",
        ),
        (
            consume_directly(Some("c@1"), &nowhere, None),
            "no message at offset",
        ),
        (
            consume_directly(Some("gone@1"), &msg_id, None),
            "The Consumer <g> <gone@1> not online",
        ),
    ] {
        let r = b.call(cmd).await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        let remark = r.remark.unwrap_or_default();
        assert!(remark.contains(says), "{remark}");
    }
    assert!(
        seen.try_recv().is_err(),
        "refused requests were not forwarded"
    );
    b.stop().await;
}

/// A connection registered as consumer `client_id` of group `g` that answers
/// GET_CONSUMER_STATUS_FROM_CLIENT with `held` as its offsets, after `delay`, and records the
/// header fields it was asked with.
async fn offsets_holder(
    b: &TestBroker,
    client_id: &str,
    version: i32,
    held: Vec<(i32, i64)>,
    delay: std::time::Duration,
) -> (RemotingClient, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut d = Dispatcher::new();
    d.register(
        request::GET_CONSUMER_STATUS_FROM_CLIENT,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let (tx, held) = (tx.clone(), held.clone());
            async move {
                let _ = tx.send((req.code, req.ext_fields_view().into_owned(), Vec::new()));
                tokio::time::sleep(delay).await;
                let topic = req.ext_field("topic").unwrap_or_default().into_owned();
                let body = courier_remoting::body::GetConsumerStatusBody {
                    message_queue_table: held
                        .iter()
                        .map(|&(queue_id, offset)| {
                            let q = courier_remoting::body::MessageQueue {
                                topic: topic.clone(),
                                broker_name: "broker-a".into(),
                                queue_id,
                            };
                            (q, offset)
                        })
                        .collect(),
                    consumer_table: Vec::new(),
                };
                Ok(Some(
                    RemotingCommand::success_to(&req).with_body(body.to_fastjson()),
                ))
            }
        }),
    );
    let client = RemotingClient::with_dispatcher(ClientConfig::default(), d);
    register_consumer(b, &client, client_id, "g", "CT", version).await;
    (client, rx)
}

fn consumer_status(client: Option<&str>) -> RemotingCommand {
    RemotingCommand::request_with_header(
        request::INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
        &GetConsumerStatusRequestHeader {
            topic: "CT".into(),
            group: "g".into(),
            client_addr: client.map(str::to_string),
        },
    )
}

#[tokio::test]
async fn consumer_status_gathers_the_offsets_each_client_holds() {
    use courier_remoting::body::GetConsumerStatusBody;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let r = b.call(consumer_status(None)).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let remark = r.remark.unwrap_or_default();
    assert!(
        remark.contains("No Any Consumer online in the consumer group: [g]"),
        "{remark}"
    );

    let quick = Duration::ZERO;
    let (c1, mut seen1) = offsets_holder(&b, "c@1", 400, vec![(0, 7), (1, 9)], quick).await;
    let (c2, mut seen2) = offsets_holder(&b, "c@2", 400, vec![(2, 3)], quick).await;
    // This one answers after the broker's 5 s: left out, not an error.
    let (c3, _seen3) = offsets_holder(&b, "c@3", 400, vec![(3, 1)], Duration::from_secs(6)).await;
    let r = b.call(consumer_status(None)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let body = GetConsumerStatusBody::from_json(r.body_bytes()).unwrap();
    let tables: Vec<(String, Vec<(i32, i64)>)> = body
        .consumer_table
        .into_iter()
        .map(|(c, t)| (c, t.into_iter().map(|(q, o)| (q.queue_id, o)).collect()))
        .collect();
    assert_eq!(
        tables,
        vec![
            ("c@1".to_string(), vec![(0, 7), (1, 9)]),
            ("c@2".to_string(), vec![(2, 3)]),
        ]
    );
    let (code, fields, _) = seen1.try_recv().unwrap();
    assert_eq!(code, request::GET_CONSUMER_STATUS_FROM_CLIENT);
    assert_eq!(fields.get("topic").map(String::as_str), Some("CT"));
    assert_eq!(fields.get("group").map(String::as_str), Some("g"));
    assert!(seen2.try_recv().is_ok());

    // Only the client named.
    let r = b.call(consumer_status(Some("c@2"))).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let body = GetConsumerStatusBody::from_json(r.body_bytes()).unwrap();
    let clients: Vec<&str> = body
        .consumer_table
        .iter()
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(clients, ["c@2"]);
    assert!(seen1.try_recv().is_err(), "c@1 was not asked");

    // A client older than V3_0_7_SNAPSHOT (ordinal 28) makes it refuse, as Java does.
    let (c4, _seen4) = offsets_holder(&b, "c@4", 27, vec![], quick).await;
    let r = b.call(consumer_status(None)).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let remark = r.remark.unwrap_or_default();
    assert!(remark.contains("does not support this feature"), "{remark}");
    for c in [c1, c2, c3, c4] {
        c.shutdown().await;
    }
    b.stop().await;
}
