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
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = b.call(held_pull(topic, Duration::from_secs(2))).await;
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
