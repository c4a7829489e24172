//! Concurrent producers and long-polling consumers over real TCP: every acknowledged message is
//! pulled exactly once per queue, in queue-offset order, with dense offsets.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{ClientConfig, RemotingClient, RemotingCommand};

const QUEUES: i32 = 4;
const PRODUCERS: usize = 4;
// A multiple of QUEUES, so every queue receives the same number of messages.
const PER_PRODUCER: usize = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_send_and_long_poll_consume() {
    let dir = tempfile::tempdir().unwrap();
    let b = Arc::new(TestBroker::start(small_config(dir.path())).await);
    let total = PRODUCERS * PER_PRODUCER;

    // Consumers start first and long-poll every queue.
    let mut consumers = Vec::new();
    for q in 0..QUEUES {
        let addr = b.addr.clone();
        consumers.push(tokio::spawn(async move {
            let client = RemotingClient::new(ClientConfig::default());
            let mut offset = 0i64;
            let mut bodies = Vec::new();
            while bodies.len() < total / QUEUES as usize {
                let h = PullMessageRequestHeader {
                    consumer_group: "cc".into(),
                    topic: "CT".into(),
                    queue_id: q,
                    queue_offset: offset,
                    max_msg_nums: 32,
                    sys_flag: PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND,
                    commit_offset: 0,
                    suspend_timeout_millis: 5_000,
                    subscription: Some("*".into()),
                    sub_version: 0,
                    expression_type: None,
                    max_msg_bytes: None,
                    request_source: None,
                    proxy_forward_client_id: None,
                };
                let cmd = RemotingCommand::request_with_header(request::PULL_MESSAGE, &h);
                let r = client.invoke(&addr, cmd, TIMEOUT).await.unwrap();
                match r.code {
                    response::SUCCESS => {
                        for (qo, body, _) in decode_records(r.body_bytes()) {
                            assert_eq!(qo, offset, "dense, in order");
                            offset += 1;
                            bodies.push(String::from_utf8(body).unwrap());
                        }
                    }
                    response::PULL_NOT_FOUND => {}
                    // The queue does not exist until its first message is dispatched.
                    response::TOPIC_NOT_EXIST => {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await
                    }
                    other => panic!("pull answered {other}: {:?}", r.remark),
                }
            }
            client.shutdown().await;
            bodies
        }));
    }

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let addr = b.addr.clone();
        producers.push(tokio::spawn(async move {
            let client = RemotingClient::new(ClientConfig::default());
            for i in 0..PER_PRODUCER {
                let q = (i % QUEUES as usize) as i32;
                let cmd = send_cmd(
                    true,
                    send_header("CT", q, ""),
                    format!("{p}-{i}").as_bytes(),
                );
                let r = client.invoke(&addr, cmd, TIMEOUT).await.unwrap();
                assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
            }
            client.shutdown().await;
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    let mut all = HashSet::new();
    for c in consumers {
        // A missing message would otherwise keep its consumer polling forever.
        let bodies = tokio::time::timeout(std::time::Duration::from_secs(60), c)
            .await
            .expect("a consumer did not receive its queue's messages")
            .unwrap();
        for body in bodies {
            assert!(all.insert(body), "duplicate delivery");
        }
    }
    assert_eq!(all.len(), total);
    b.shutdown.cancel();
}
