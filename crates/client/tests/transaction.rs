//! Transactional messages against a real name server and broker: a half committed or rolled back
//! by its local transaction, and halves left undecided settled by the producer's checker when the
//! broker checks back; only committed ones ever reach consumers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{wait_until, Cluster};
use courier_client::{
    LocalTransactionState, Message, MessageExt, Producer, PullConsumer, PullStatus,
};
use parking_lot::Mutex;

/// The bodies stored in queue 0 of `topic`, in order.
async fn bodies(pc: &PullConsumer, topic: &str) -> Vec<String> {
    let q = pc.fetch_queues(topic).await.unwrap()[0].clone();
    let r = pc.pull(&q, "*", 0, 32).await.unwrap();
    if r.status != PullStatus::Found {
        return Vec::new();
    }
    r.messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

#[tokio::test]
async fn halves_are_committed_rolled_back_or_settled_by_the_check_back() {
    let cluster = Cluster::start(1).await;
    cluster.create_topic("Tx", 1).await;
    let checked: Arc<Mutex<Vec<MessageExt>>> = Arc::default();
    let seen = checked.clone();
    let p = Producer::builder()
        .namesrv(&cluster.namesrv)
        .group("tx-group")
        .transaction_checker(move |half: MessageExt| {
            let seen = seen.clone();
            async move {
                let commit = half.body.as_ref() == b"undecided, then committed";
                seen.lock().push(half);
                if commit {
                    LocalTransactionState::Commit
                } else {
                    LocalTransactionState::Rollback
                }
            }
        })
        .build()
        .unwrap();
    let cases = [
        ("committed", LocalTransactionState::Commit),
        ("rolled back", LocalTransactionState::Rollback),
        ("undecided, then committed", LocalTransactionState::Unknown),
        (
            "undecided, then rolled back",
            LocalTransactionState::Unknown,
        ),
    ];
    for (body, state) in cases {
        let r = p
            .send_in_transaction(
                Message::new("Tx", body).with_property("DELAY", "3"),
                |sent| async move {
                    assert!(!sent.msg_id.is_empty());
                    state
                },
            )
            .await
            .unwrap();
        assert_eq!(r.state, state);
    }
    // The broker asks about the two undecided halves, and only about them.
    wait_until(
        "both undecided halves checked",
        Duration::from_secs(15),
        || {
            let n = checked.lock().len();
            async move { n >= 2 }
        },
    )
    .await;
    let pc = PullConsumer::connect(&cluster.namesrv, "tx-reader").unwrap();
    wait_until(
        "the committed ones visible",
        Duration::from_secs(10),
        || {
            let pc = &pc;
            async move { bodies(pc, "Tx").await.len() >= 2 }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        bodies(&pc, "Tx").await,
        ["committed", "undecided, then committed"],
        "nothing rolled back is visible, and no DELAY held a message back"
    );
    let checked = checked.lock().clone();
    let mut asked: Vec<&[u8]> = checked.iter().map(|m| m.body.as_ref()).collect();
    asked.sort();
    asked.dedup();
    assert_eq!(
        asked,
        [
            &b"undecided, then committed"[..],
            b"undecided, then rolled back"
        ]
    );
    assert!(checked.iter().all(
        |m| m.property("PGROUP") == Some("tx-group") && m.property("TRAN_MSG") == Some("true")
    ));
    // The checker sees the message as it was sent: its topic and queue, not the half queue's.
    assert!(
        checked.iter().all(|m| m.topic == "Tx" && m.queue_id == 0),
        "{checked:?}"
    );

    let batch = vec![Message::new("Tx", "x").with_property("TRAN_MSG", "true")];
    assert!(
        p.send_batch(batch).await.is_err(),
        "no transactional batches"
    );
    pc.shutdown().await;
    p.shutdown().await;
    cluster.stop().await;
}
