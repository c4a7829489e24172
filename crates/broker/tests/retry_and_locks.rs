//! CONSUMER_SEND_MSG_BACK with the delay-level scheduler, DELAY sends, and LOCK/UNLOCK_BATCH_MQ
//! over real TCP.

mod common;

use std::sync::Arc;

use common::*;
use courier_remoting::body::{
    from_json, to_json, LockBatchRequestBody, LockBatchResponseBody, MessageQueue,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::RemotingCommand;

fn long_pull(group: &str, topic: &str, offset: i64) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND,
        commit_offset: 0,
        suspend_timeout_millis: 8_000,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: None,
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
    };
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)
}

fn config(dir: &std::path::Path) -> courier_broker::BrokerConfig {
    let mut c = small_config(dir);
    c.message_delay_level = "1s 1s 1s 1s".into();
    c
}

#[tokio::test]
async fn delayed_send_is_delivered_later_to_its_topic() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(config(dir.path())).await;
    let h = send_header("D", 0, &props(&[("DELAY", "2"), ("TAGS", "t")]));
    let r = b.call(send_cmd(true, h, b"later")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    // Not in the real topic yet: it waits in SCHEDULE_TOPIC_XXXX.
    let max = b
        .call_header(
            request::GET_MAX_OFFSET,
            &GetMaxOffsetRequestHeader {
                topic: "SCHEDULE_TOPIC_XXXX".into(),
                queue_id: 1,
                committed: None,
            },
        )
        .await;
    assert_eq!(
        max.decode_header::<OffsetResponseHeader>().unwrap().offset,
        1
    );
    let r = b.call(long_pull("cg", "D", 0)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let recs = decode_records(r.body_bytes());
    assert_eq!(recs[0].1, b"later");
    let m = courier_store::decode_record(r.body_bytes()).unwrap();
    assert_eq!(m.property("DELAY"), None);
    assert_eq!(m.property("REAL_TOPIC"), Some("D"));
    // The level's progress, as admin tools and slaves read it. It advances just after the
    // re-store that woke the pull, so it may take a moment to show.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let table = loop {
        let r = b
            .call(RemotingCommand::new_request(request::GET_ALL_DELAY_OFFSET))
            .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
        if v["offsetTable"]["2"] == 1 || std::time::Instant::now() > deadline {
            break v["offsetTable"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(table["2"], 1, "{table}");
    b.stop().await;
}

#[tokio::test]
async fn send_back_goes_to_retry_then_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(config(dir.path())).await;
    let h = send_header("S", 0, &props(&[("UNIQ_KEY", "ID1"), ("TAGS", "t")]));
    let r = b.call(send_cmd(true, h, b"payload")).await;
    assert_eq!(r.code, response::SUCCESS);
    let id: SendMessageResponseHeader = r.decode_header().unwrap();
    let (_, phys) = courier_store::decode_offset_msg_id(&id.msg_id).unwrap();

    let back = |offset: i64, max: Option<i32>| ConsumerSendMsgBackRequestHeader {
        offset,
        group: "cg".into(),
        delay_level: 0,
        origin_msg_id: None,
        origin_topic: Some("S".into()),
        unit_mode: None,
        max_reconsume_times: max,
    };
    let r = b
        .call_header(request::CONSUMER_SEND_MSG_BACK, &back(phys, None))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(long_pull("cg", "%RETRY%cg", 0)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let retried = courier_store::decode_record(r.body_bytes()).unwrap();
    assert_eq!(retried.body(), b"payload");
    assert_eq!(retried.reconsume_times(), 1);
    assert_eq!(retried.property("RETRY_TOPIC"), Some("S"));
    assert_eq!(retried.property("ORIGIN_MESSAGE_ID"), Some("ID1"));
    assert_eq!(retried.property("TAGS"), Some("t"));

    // Out of retries: straight to the DLQ.
    let r = b
        .call_header(
            request::CONSUMER_SEND_MSG_BACK,
            &back(retried.phys_offset(), Some(1)),
        )
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b.call(long_pull("cg", "%DLQ%cg", 0)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let dead = courier_store::decode_record(r.body_bytes()).unwrap();
    assert_eq!(dead.reconsume_times(), 2);
    assert_eq!(dead.property("RETRY_TOPIC"), Some("S"));

    // Unknown offset.
    let r = b
        .call_header(request::CONSUMER_SEND_MSG_BACK, &back(1 << 40, None))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    b.stop().await;
}

#[tokio::test]
async fn queue_locks_are_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let b = Arc::new(TestBroker::start(small_config(dir.path())).await);
    let mq = |q| MessageQueue {
        topic: "O".into(),
        broker_name: "broker-a".into(),
        queue_id: q,
    };
    let lock = |client: &str, qs: Vec<i32>| LockBatchRequestBody {
        client_id: client.into(),
        consumer_group: "og".into(),
        mq_set: qs.into_iter().map(mq).collect(),
        only_this_broker: false,
    };
    let call = |code, body: &LockBatchRequestBody| {
        RemotingCommand::new_request(code).with_body(to_json(body))
    };
    let r = b
        .call(call(request::LOCK_BATCH_MQ, &lock("a", vec![0, 1])))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let got: LockBatchResponseBody = from_json(r.body_bytes()).unwrap();
    assert_eq!(got.lock_ok_mq_set.len(), 2);
    let r = b
        .call(call(request::LOCK_BATCH_MQ, &lock("b", vec![1, 2])))
        .await;
    let got: LockBatchResponseBody = from_json(r.body_bytes()).unwrap();
    assert_eq!(got.lock_ok_mq_set, vec![mq(2)]);
    let r = b
        .call(call(request::UNLOCK_BATCH_MQ, &lock("a", vec![1])))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b
        .call(call(request::LOCK_BATCH_MQ, &lock("b", vec![1])))
        .await;
    let got: LockBatchResponseBody = from_json(r.body_bytes()).unwrap();
    assert_eq!(got.lock_ok_mq_set, vec![mq(1)]);
    // A body that is not JSON.
    let r = b
        .call(RemotingCommand::new_request(request::LOCK_BATCH_MQ).with_body(b"{".to_vec()))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    b.shutdown.cancel();
}

#[tokio::test]
async fn retry_topic_send_past_max_goes_to_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(config(dir.path())).await;
    let send = |times: i32| {
        let mut h = send_header("%RETRY%rg", 0, "");
        h.reconsume_times = Some(times);
        h.max_reconsume_times = Some(16);
        send_cmd(true, h, b"r")
    };
    assert_eq!(b.call(send(16)).await.code, response::SUCCESS);
    assert_eq!(b.call(send(17)).await.code, response::SUCCESS);
    let max = |topic: &str| GetMaxOffsetRequestHeader {
        topic: topic.into(),
        queue_id: 0,
        committed: None,
    };
    let r = b
        .call_header(request::GET_MAX_OFFSET, &max("%RETRY%rg"))
        .await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 1);
    let r = b
        .call_header(request::GET_MAX_OFFSET, &max("%DLQ%rg"))
        .await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 1);
    b.stop().await;
}
