//! RocketMQ 5 timer messages over real TCP: a send with a deliver time is held until then (never
//! delivered early), survives a broker restart while pending, and is refused with Java's codes
//! when illegal or when timers are switched off.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    PullMessageRequestHeader, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use courier_remoting::RemotingCommand;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A pull of queue 0 of `topic` held by the broker for up to `hold`.
fn held_pull(topic: &str, hold: Duration) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        sys_flag: PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND,
        suspend_timeout_millis: hold.as_millis() as i64,
        ..pull_header("tg", topic, 0, 0)
    };
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)
}

/// Waits (at most 15 s) until queue 0 of `topic` holds a message; returns its record and when
/// it came.
async fn wait_delivered(b: &TestBroker, topic: &str) -> (Vec<u8>, i64) {
    wait_delivered_from(b, topic, 0).await
}

/// [`wait_delivered`] for the message at queue offset `offset`.
async fn wait_delivered_from(b: &TestBroker, topic: &str, offset: i64) -> (Vec<u8>, i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut h: PullMessageRequestHeader = held_pull(topic, Duration::from_secs(2))
            .decode_header()
            .unwrap();
        h.queue_offset = offset;
        let r = b.call_header(request::PULL_MESSAGE, &h).await;
        if r.code == response::SUCCESS {
            return (r.body_bytes().to_vec(), now_ms());
        }
        assert!(Instant::now() < deadline, "the timer message never arrived");
    }
}

#[tokio::test]
async fn a_timer_message_arrives_at_its_time_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let at = now_ms() + 3_300;
    let at_text = at.to_string();
    let h = send_header(
        "Tm",
        0,
        &props(&[("TIMER_DELIVER_MS", &at_text), ("TAGS", "t")]),
    );
    let r = b.call(send_cmd(true, h, b"at three")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    // Parked, not on its topic.
    let r = b.call(pull_header_cmd("Tm")).await;
    assert_ne!(r.code, response::SUCCESS, "delivered at once");

    let (record, arrived) = wait_delivered(&b, "Tm").await;
    let m = courier_store::decode_record(&record).unwrap();
    let out: i64 = m.property("TIMER_OUT_MS").unwrap().parse().unwrap();
    assert_eq!(
        out,
        at / 1000 * 1000,
        "rounded down to the second, as Java does"
    );
    assert!(
        arrived >= out,
        "arrived {} ms before its time",
        out - arrived
    );
    // Late by at most the 1 s level and its poll, with room for a loaded machine.
    assert!(arrived - out < 4_000, "arrived {} ms late", arrived - out);
    assert_eq!(m.body(), b"at three");
    assert_eq!(m.property("TAGS"), Some("t"));
    assert_eq!(m.topic(), "Tm");
    b.stop().await;
}

fn pull_header_cmd(topic: &str) -> RemotingCommand {
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &pull_header("tg", topic, 0, 0))
}

#[tokio::test]
async fn a_pending_timer_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let h = send_header("Tr", 0, &props(&[("TIMER_DELAY_SEC", "3")]));
    let sent = now_ms();
    assert_eq!(
        b.call(send_cmd(true, h, b"kept")).await.code,
        response::SUCCESS
    );
    b.stop().await;

    let b = TestBroker::start(small_config(dir.path())).await;
    let (record, arrived) = wait_delivered(&b, "Tr").await;
    let m = courier_store::decode_record(&record).unwrap();
    assert_eq!(m.body(), b"kept");
    assert!(
        arrived - sent >= 2_000,
        "the 3 s timer fired after {} ms",
        arrived - sent
    );
    // Delivered once: nothing more after it.
    let next = PullMessageRequestHeader {
        queue_offset: 1,
        ..pull_header("tg", "Tr", 0, 0)
    };
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let r = b.call_header(request::PULL_MESSAGE, &next).await;
    assert_ne!(r.code, response::SUCCESS, "delivered twice");
    b.stop().await;
}

#[tokio::test]
async fn illegal_timers_and_switched_off_timers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let four_days = (now_ms() + 4 * 86_400_000).to_string();
    for bad in [
        ("TIMER_DELIVER_MS", four_days.as_str()),
        ("TIMER_DELAY_SEC", "in a while"),
    ] {
        let r = b
            .call(send_cmd(true, send_header("Tx", 0, &props(&[bad])), b"x"))
            .await;
        assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{bad:?}");
        assert!(r.remark.unwrap().contains("259200000ms"));
    }
    // A deliver time already past is simply stored.
    let h = send_header("Tx", 0, &props(&[("TIMER_DELIVER_MS", "1000")]));
    assert_eq!(
        b.call(send_cmd(true, h, b"now")).await.code,
        response::SUCCESS
    );
    assert_eq!(b.call(pull_header_cmd("Tx")).await.code, response::SUCCESS);
    b.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let off = courier_broker::BrokerConfig {
        timer_wheel_enable: false,
        ..small_config(dir.path())
    };
    let b = TestBroker::start(off).await;
    let h = send_header("Tx", 0, &props(&[("TIMER_DELAY_SEC", "5")]));
    let r = b.call(send_cmd(true, h, b"x")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("timerWheelEnable"));
    b.stop().await;
}

fn recall(topic: &str, handle: &str) -> RemotingCommand {
    let mut c = RemotingCommand::new_request(request::RECALL_MESSAGE);
    let f = c.ext_fields_mut();
    f.insert("producerGroup".into(), "pg".into());
    f.insert("topic".into(), topic.into());
    f.insert("recallHandle".into(), handle.into());
    c
}

#[tokio::test]
async fn a_recalled_timer_message_is_never_delivered_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let send = |id: &str| {
        let h = send_header(
            "Rc",
            0,
            &props(&[("TIMER_DELAY_SEC", "3"), ("UNIQ_KEY", id)]),
        );
        send_cmd(true, h, id.as_bytes())
    };
    let r = b.call(send("RECALLED")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let handle = r
        .ext_field("recallHandle")
        .expect("a timer send answers a recall handle")
        .into_owned();
    let kept = b.call(send("KEPT")).await;
    assert!(kept.ext_field("recallHandle").is_some());
    // A plain send has no handle.
    let plain = b
        .call(send_cmd(true, send_header("Rc", 0, ""), b"plain"))
        .await;
    assert!(plain.ext_field("recallHandle").is_none());

    // Refusals first: a handle for another topic, garbage, a time already past.
    assert_eq!(
        b.call(recall("Other", &handle)).await.code,
        response::TOPIC_NOT_EXIST
    );
    b.call_header(
        request::UPDATE_AND_CREATE_TOPIC,
        &create_topic("Other", 1, 6),
    )
    .await;
    let r = b.call(recall("Other", &handle)).await;
    assert_eq!(
        (r.code, r.remark.as_deref()),
        (
            response::ILLEGAL_OPERATION,
            Some("recall failed, topic not match")
        )
    );
    assert_eq!(
        b.call(recall("Rc", "not a handle")).await.code,
        response::ILLEGAL_OPERATION
    );
    let past = courier_broker::recall::RecallHandle::encode("Rc", "broker-a", 1_000, "RECALLED");
    let r = b.call(recall("Rc", &past)).await;
    assert_eq!(
        r.remark.as_deref(),
        Some("recall failed, timestamp invalid")
    );

    let r = b.call(recall("Rc", &handle)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(r.ext_field("msgId").as_deref(), Some("RECALLED"));
    // The recall is on disk before it is answered: a restart keeps it.
    b.stop().await;
    let b = TestBroker::start(small_config(dir.path())).await;

    let (record, _) = wait_delivered_from(&b, "Rc", 1).await;
    let m = courier_store::decode_record(&record).unwrap();
    assert_eq!(
        m.body(),
        b"KEPT",
        "offset 1 holds the kept message, not the recalled one"
    );
    // Past both deliver times: the topic holds the plain message and the kept one only.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        b.max_offset("Rc", 0).await,
        2,
        "the recalled message was delivered"
    );
    b.stop().await;
}
