//! Rough in-process load check of the broker's send and pull paths over loopback TCP.
//!
//! `cargo run --release -p courier-broker --example send_load -- [messages] [size] [in_flight]`
//! Starts a broker on 127.0.0.1 with a temporary store (async flush), sends `messages` bodies of
//! `size` bytes with SEND_MESSAGE_V2 keeping `in_flight` requests outstanding over 4 connections,
//! then pulls them all back, and prints msgs/s for both phases. Client and broker share the
//! machine, so this is a smoke figure, not a benchmark (`courier bench` is the benchmark).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_broker::BrokerConfig;
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    PullMessageRequestHeader, PullMessageResponseHeader, SendMessageRequestHeader,
    SendMessageRequestHeaderV2, PULL_FLAG_SUBSCRIPTION,
};
use courier_remoting::{ClientConfig, RemotingClient, RemotingCommand};
use tokio_util::sync::CancellationToken;

const CONNECTIONS: usize = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let total: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let in_flight: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(128);

    let dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let config = BrokerConfig {
        store_path_root_dir: dir.path().to_path_buf(),
        listen_port: port,
        mapped_file_size_commit_log: 256 * 1024 * 1024,
        ..BrokerConfig::default()
    };
    let shutdown = CancellationToken::new();
    let broker = tokio::spawn(courier_broker::run(config, listener, shutdown.clone()));
    let addr = format!("127.0.0.1:{port}");
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let queues = 4;

    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<Arc<RemotingClient>> = (0..CONNECTIONS)
        .map(|_| Arc::new(RemotingClient::new(ClientConfig::default())))
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..in_flight {
        let client = clients[w % CONNECTIONS].clone();
        let (addr, body, sent) = (addr.clone(), body.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let h: SendMessageRequestHeaderV2 = SendMessageRequestHeader {
                    producer_group: "pg".into(),
                    topic: "Load".into(),
                    default_topic: "TBW102".into(),
                    default_topic_queue_nums: queues,
                    queue_id: (n % queues as u64) as i32,
                    sys_flag: 0,
                    born_timestamp: 0,
                    flag: 0,
                    properties: None,
                    reconsume_times: None,
                    unit_mode: None,
                    max_reconsume_times: None,
                    batch: None,
                    broker_name: None,
                }
                .into();
                let cmd = RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &h)
                    .with_body(body.clone());
                let r = client
                    .invoke(&addr, cmd, Duration::from_secs(10))
                    .await
                    .expect("send failed");
                assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let send_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut pulled = 0u64;
    for q in 0..queues {
        let mut offset = 0i64;
        loop {
            let h = PullMessageRequestHeader {
                consumer_group: "cg".into(),
                topic: "Load".into(),
                queue_id: q,
                queue_offset: offset,
                max_msg_nums: 32,
                sys_flag: PULL_FLAG_SUBSCRIPTION,
                commit_offset: 0,
                suspend_timeout_millis: 0,
                subscription: Some("*".into()),
                sub_version: 0,
                expression_type: None,
                max_msg_bytes: None,
                request_source: None,
                proxy_forward_client_id: None,
            };
            let r = clients[0]
                .invoke(
                    &addr,
                    RemotingCommand::request_with_header(request::PULL_MESSAGE, &h),
                    Duration::from_secs(10),
                )
                .await?;
            if r.code != response::SUCCESS {
                break;
            }
            let ph: PullMessageResponseHeader = r.decode_header()?;
            pulled += (ph.next_begin_offset - offset) as u64;
            offset = ph.next_begin_offset;
        }
    }
    let pull_secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"sent\":{total},\"size\":{size},\"in_flight\":{in_flight},\"send_msgs_per_s\":{:.0},\"send_mb_per_s\":{:.1},\"pulled\":{pulled},\"pull_msgs_per_s\":{:.0}}}",
        total as f64 / send_secs,
        total as f64 * size as f64 / send_secs / 1e6,
        pulled as f64 / pull_secs
    );
    shutdown.cancel();
    broker.await??;
    Ok(())
}
