//! Transactional messages over real TCP: half messages, END_TRANSACTION validation, commit,
//! rollback after CHECK_TRANSACTION_STATE, and resolution surviving a restart.

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

fn end(group: &str, table_offset: i64, phys: i64, kind: i32) -> RemotingCommand {
    RemotingCommand::request_with_header(
        request::END_TRANSACTION,
        &EndTransactionRequestHeader {
            producer_group: group.into(),
            tran_state_table_offset: table_offset,
            commit_log_offset: phys,
            commit_or_rollback: kind,
            from_transaction_check: None,
            msg_id: "X".into(),
            transaction_id: None,
            topic: None,
        },
    )
}

fn prepared(uniq: &str) -> RemotingCommand {
    let mut h = send_header(
        "TT",
        0,
        &props(&[("TRAN_MSG", "true"), ("PGROUP", "tpg"), ("UNIQ_KEY", uniq)]),
    );
    h.sys_flag = 0x4;
    send_cmd(true, h, uniq.as_bytes())
}

#[tokio::test]
async fn commit_rollback_and_check_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.transaction_check_interval = 50;
    config.transaction_time_out = 0;
    let b = TestBroker::start(config.clone()).await;

    // A producer that answers check-backs.
    let (tx, mut checks) =
        mpsc::unbounded_channel::<(CheckTransactionStateRequestHeader, Vec<u8>)>();
    let mut d = Dispatcher::new();
    d.register(
        request::CHECK_TRANSACTION_STATE,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((req.decode_header().unwrap(), req.body_bytes().to_vec()));
                Ok(None)
            }
        }),
    );
    let producer = RemotingClient::with_dispatcher(ClientConfig::default(), d);
    register_producer(&b, &producer, "p@1", "tpg").await;

    // Commit before any check-back: the test commits the first half right away.
    let r = producer
        .invoke(&b.addr, prepared("X1"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let h: SendMessageResponseHeader = r.decode_header().unwrap();
    let (_, phys) = courier_store::decode_offset_msg_id(&h.msg_id).unwrap();
    assert_eq!(h.transaction_id.as_deref(), Some("X1"));
    assert_eq!(
        b.max_offset("TT", 0).await,
        0,
        "half messages are invisible"
    );

    let r = b
        .call(end("other", h.queue_offset, phys, TRANSACTION_COMMIT_TYPE))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(r.remark.as_deref(), Some("The producer group wrong"));
    let r = b
        .call(end(
            "tpg",
            h.queue_offset + 7,
            phys,
            TRANSACTION_COMMIT_TYPE,
        ))
        .await;
    assert_eq!(
        r.remark.as_deref(),
        Some("The transaction state table offset wrong")
    );
    let r = b
        .call(end(
            "tpg",
            h.queue_offset,
            phys + 1,
            TRANSACTION_COMMIT_TYPE,
        ))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    // The check service may have superseded the half already; then answer the check instead.
    let r = b
        .call(end("tpg", h.queue_offset, phys, TRANSACTION_COMMIT_TYPE))
        .await;
    if r.code != response::SUCCESS {
        let (c, _) = tokio::time::timeout(Duration::from_secs(10), checks.recv())
            .await
            .unwrap()
            .unwrap();
        let r = b
            .call(end(
                "tpg",
                c.tran_state_table_offset,
                c.commit_log_offset,
                TRANSACTION_COMMIT_TYPE,
            ))
            .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    }
    assert_eq!(b.max_offset("TT", 0).await, 1);
    let r = b
        .call_header(
            request::PULL_MESSAGE,
            &PullMessageRequestHeader {
                consumer_group: "c".into(),
                topic: "TT".into(),
                queue_id: 0,
                queue_offset: 0,
                max_msg_nums: 8,
                sys_flag: PULL_FLAG_SUBSCRIPTION,
                commit_offset: 0,
                suspend_timeout_millis: 0,
                subscription: Some("*".into()),
                sub_version: 0,
                expression_type: None,
                max_msg_bytes: None,
                request_source: None,
                proxy_forward_client_id: None,
            },
        )
        .await;
    let m = courier_store::decode_record(r.body_bytes()).unwrap();
    assert_eq!(m.body(), b"X1");
    assert_eq!(m.property("TRAN_MSG"), None);
    assert_eq!(m.sys_flag() & 0xC, 0x8, "stored as COMMIT");

    // A second half is never resolved by the producer: the broker checks back, the producer
    // rolls back, nothing becomes visible.
    while checks.try_recv().is_ok() {}
    let r = producer
        .invoke(&b.addr, prepared("X2"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    let c = loop {
        let (c, body) = tokio::time::timeout(Duration::from_secs(10), checks.recv())
            .await
            .expect("no CHECK_TRANSACTION_STATE arrived")
            .unwrap();
        if c.transaction_id.as_deref() == Some("X2") {
            // As Java sends it: the header names the half topic, the message is the one the
            // producer sent (its topic and queue), stored at the position END_TRANSACTION names.
            assert_eq!(c.topic.as_deref(), Some("RMQ_SYS_TRANS_HALF_TOPIC"));
            let m = courier_store::decode_record(&body).unwrap();
            assert_eq!((m.topic(), m.queue_id(), m.body()), ("TT", 0, &b"X2"[..]));
            assert_eq!(m.phys_offset(), c.commit_log_offset);
            assert_eq!(m.queue_offset(), c.tran_state_table_offset);
            assert_eq!(m.property("PGROUP"), Some("tpg"));
            break c;
        }
    };
    let r = b
        .call(end(
            "tpg",
            c.tran_state_table_offset,
            c.commit_log_offset,
            TRANSACTION_ROLLBACK_TYPE,
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(b.max_offset("TT", 0).await, 1);
    let again = b
        .call(end(
            "tpg",
            c.tran_state_table_offset,
            c.commit_log_offset,
            TRANSACTION_COMMIT_TYPE,
        ))
        .await;
    assert_eq!(
        again.code,
        response::SYSTEM_ERROR,
        "resolved halves stay resolved"
    );
    producer.shutdown().await;
    b.stop().await;

    // Resolution survives a restart.
    let b = TestBroker::start(config).await;
    let r = b
        .call(end(
            "tpg",
            c.tran_state_table_offset,
            c.commit_log_offset,
            TRANSACTION_COMMIT_TYPE,
        ))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(b.max_offset("TT", 0).await, 1);
    b.stop().await;
}

#[tokio::test]
async fn a_committed_timer_message_waits_for_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(small_config(dir.path())).await;
    let mut h = send_header(
        "TT",
        0,
        &props(&[
            ("TRAN_MSG", "true"),
            ("PGROUP", "tpg"),
            ("TIMER_DELAY_SEC", "2"),
        ]),
    );
    h.sys_flag = 0x4;
    let r = b.call(send_cmd(true, h, b"later")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let sent: SendMessageResponseHeader = r.decode_header().unwrap();
    let (_, phys) = courier_store::decode_offset_msg_id(&sent.msg_id).unwrap();
    let r = b
        .call(end("tpg", sent.queue_offset, phys, TRANSACTION_COMMIT_TYPE))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    // Committed, but its timer now applies: not on the topic yet.
    assert_eq!(b.max_offset("TT", 0).await, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.max_offset("TT", 0).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the committed timer message never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.stop().await;
}
