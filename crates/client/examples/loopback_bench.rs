//! A quick loopback measurement of the client: starts a name server and a
//! broker in this process (127.0.0.1, temporary store), produces N messages of
//! S bytes with C sends in flight, then consumes them with a push consumer.
//! Client and broker share the process and the machine, so this is a smoke
//! figure, not a benchmark; `courier bench` is the real one.
//!
//! `cargo run --release -p courier-client --example loopback_bench -- [N] [S] [C] [json|binary]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_client::{Admin, ConsumeFromWhere, ConsumeResult, Message, Producer, PushConsumer};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| argv.get(i).map_or(Ok(default), |a| a.parse::<usize>());
    let count = num(0, 100_000)?;
    let size = num(1, 1024)?;
    let concurrency = num(2, 128)?.max(1);
    let serialize_type = match argv.get(3).map(String::as_str) {
        Some("binary") => courier_client::SerializeType::RocketMq,
        _ => courier_client::SerializeType::Json,
    };

    let dir = tempfile::tempdir()?;
    let stop = CancellationToken::new();
    let ns_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let namesrv = ns_listener.local_addr()?.to_string();
    let ns_config = courier_namesrv::NamesrvConfig::new(dir.path().join("namesrv"));
    let ns_task = tokio::spawn(courier_namesrv::run(ns_config, ns_listener, stop.clone()));
    let b_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let config = courier_broker::BrokerConfig {
        listen_port: b_listener.local_addr()?.port(),
        namesrv_addr: Some(namesrv.clone()),
        store_path_root_dir: dir.path().join("broker"),
        ..Default::default()
    };
    let broker_task = tokio::spawn(courier_broker::run(config, b_listener, stop.clone()));

    let admin = Admin::connect(&namesrv)?;
    while admin.master_addrs().await?.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin.create_topic("LoopBench", 8).await?;
    admin
        .wait_for_route("LoopBench", 1, Duration::from_secs(10))
        .await?;

    let mut options = courier_client::ClientOptions::default();
    options.set_namesrv(&namesrv);
    options.serialize_type = serialize_type;
    let producer = Producer::builder()
        .options(options.clone())
        .group("bench-pg")
        .build()?;
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (p, next, body) = (producer.clone(), next.clone(), body.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let t = Instant::now();
                p.send(Message::new("LoopBench", body.clone())).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, courier_client::ClientError>(lat)
        }));
    }
    let mut lat = Vec::with_capacity(count);
    for w in workers {
        lat.extend(w.await??);
    }
    let produce_secs = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "produce ({serialize_type:?} headers): {count} x {size} B, {concurrency} in flight: {:.0} msgs/s, {:.1} MB/s, p50 {:?}, p99 {:?}",
        count as f64 / produce_secs,
        (count * size) as f64 / produce_secs / 1e6,
        pct(0.50),
        pct(0.99)
    );

    let consumed = Arc::new(AtomicUsize::new(0));
    let c2 = consumed.clone();
    let started = Instant::now();
    let consumer = PushConsumer::builder()
        .options(options)
        .group("bench-cg")
        .subscribe("LoopBench", "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .start(move |msgs: Vec<courier_client::MessageExt>| {
            c2.fetch_add(msgs.len(), Ordering::Relaxed);
            std::future::ready(ConsumeResult::Success)
        })
        .await?;
    while consumed.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let consume_secs = started.elapsed().as_secs_f64();
    println!(
        "consume: {count} messages in {consume_secs:.2} s: {:.0} msgs/s",
        count as f64 / consume_secs
    );
    consumer.shutdown().await;
    producer.shutdown().await;
    admin.shutdown().await;
    stop.cancel();
    broker_task.await??;
    ns_task.await??;
    Ok(())
}
