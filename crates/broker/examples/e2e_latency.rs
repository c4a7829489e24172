//! Rough in-process end-to-end latency check: produce at a fixed rate, consume with long polling,
//! report produce→consume latency percentiles.
//!
//! `cargo run --release -p courier-broker --example e2e_latency -- [rate_per_s] [seconds] [size]`
//! Starts a broker on 127.0.0.1 with a temporary store (async flush); 4 consumer tasks long-poll
//! one queue each; the producer sends SEND_MESSAGE_V2 round-robin over the 4 queues at
//! `rate_per_s`, each body starting with its send time (ns since start). Client and broker share
//! the machine: a smoke figure, not the benchmark (`courier bench e2e` is).

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_broker::BrokerConfig;
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    PullMessageRequestHeader, PullMessageResponseHeader, SendMessageRequestHeader,
    SendMessageRequestHeaderV2, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use courier_remoting::{ClientConfig, RemotingClient, RemotingCommand};
use tokio_util::sync::CancellationToken;

const QUEUES: i32 = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rate: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let size: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024)
        .max(8);

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
    let start = Instant::now();
    let total = rate * secs;

    // Create the topic's queues before consumers start.
    let setup = RemotingClient::new(ClientConfig::default());
    for q in 0..QUEUES {
        setup
            .invoke(&addr, send(q, 0, size), Duration::from_secs(5))
            .await?;
    }

    let mut consumers = Vec::new();
    for q in 0..QUEUES {
        let addr = addr.clone();
        let expect = total / QUEUES as u64;
        consumers.push(tokio::spawn(async move {
            let client = RemotingClient::new(ClientConfig::default());
            let mut offset = 1i64;
            let mut lat = Vec::with_capacity(expect as usize);
            while (lat.len() as u64) < expect {
                let h = PullMessageRequestHeader {
                    consumer_group: "lat".into(),
                    topic: "Lat".into(),
                    queue_id: q,
                    queue_offset: offset,
                    max_msg_nums: 32,
                    sys_flag: PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND,
                    commit_offset: 0,
                    suspend_timeout_millis: 15_000,
                    subscription: Some("*".into()),
                    sub_version: 0,
                    expression_type: None,
                    max_msg_bytes: None,
                    request_source: None,
                    proxy_forward_client_id: None,
                };
                let cmd = RemotingCommand::request_with_header(request::PULL_MESSAGE, &h);
                let r = client
                    .invoke(&addr, cmd, Duration::from_secs(30))
                    .await
                    .expect("pull failed");
                let now = start.elapsed().as_nanos() as u64;
                if r.code == response::SUCCESS {
                    let body = r.body_bytes();
                    let mut pos = 0;
                    while pos < body.len() {
                        let m = courier_store::decode_record(&body[pos..]).expect("bad record");
                        let mut sent = [0u8; 8];
                        sent.copy_from_slice(&m.body()[..8]);
                        lat.push(now.saturating_sub(u64::from_be_bytes(sent)));
                        pos += m.total_size();
                    }
                }
                let ph: PullMessageResponseHeader = r.decode_header().expect("header");
                offset = ph.next_begin_offset;
            }
            lat
        }));
    }

    let producer = Arc::new(RemotingClient::new(ClientConfig::default()));
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    for n in 0..total {
        ticker.tick().await;
        let permit = sem.clone().acquire_owned().await?;
        let (producer, addr) = (producer.clone(), addr.clone());
        let sent_at = start.elapsed().as_nanos() as u64;
        tokio::spawn(async move {
            let r = producer
                .invoke(
                    &addr,
                    send((n % QUEUES as u64) as i32, sent_at, size),
                    Duration::from_secs(10),
                )
                .await
                .expect("send failed");
            assert_eq!(r.code, response::SUCCESS);
            drop(permit);
        });
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await?);
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1e6;
    println!(
        "{{\"rate\":{rate},\"messages\":{},\"size\":{size},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        all.len(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    shutdown.cancel();
    broker.await??;
    Ok(())
}

fn send(queue: i32, sent_at_ns: u64, size: usize) -> RemotingCommand {
    let h: SendMessageRequestHeaderV2 = SendMessageRequestHeader {
        producer_group: "pg".into(),
        topic: "Lat".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: QUEUES,
        queue_id: queue,
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
    let mut body = vec![b'x'; size];
    body[..8].copy_from_slice(&sent_at_ns.to_be_bytes());
    RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &h).with_body(body)
}
