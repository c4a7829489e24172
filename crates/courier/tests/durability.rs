//! Crash durability of the message path through the real binary: producers send with the broker
//! in SYNC_FLUSH mode to a `courier dev` process, which is killed with SIGKILL mid-stream and
//! restarted on the same data directory, several rounds. Afterwards a pull consumer reads every
//! queue from offset 0 and checks that
//! - queue offsets are contiguous from 0 (no gap, no hole left by recovery);
//! - every send that returned SEND_OK is at the queue offset the broker acknowledged, with its
//!   body intact;
//! - each producer task's messages appear in a queue in the order they were sent.
//!
//! Small CommitLog segments (256 KiB) and ConsumeQueue files (1000 entries) make the rounds
//! cross file boundaries, so recovery across segments is exercised too.

mod servers_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use courier_client::{Message, Producer, PullConsumer, PullStatus, SendStatus};
use parking_lot::Mutex;
use servers_support::{free_port, start_dev};

const TOPIC: &str = "Durable";
const ROUNDS: usize = 5;
const TASKS: usize = 4;

/// (queue id, queue offset) -> body of every acknowledged send.
type Acked = Arc<Mutex<BTreeMap<(i32, i64), String>>>;

const BROKER_TOML: &str = "\
flushDiskType = \"SYNC_FLUSH\"
mappedFileSizeCommitLog = 262144
mappedFileSizeConsumeQueue = 20000
maxHashSlotNum = 1000
maxIndexNum = 4000
";

fn body(round: usize, task: usize, seq: usize) -> String {
    // Padding makes records a few hundred bytes, so a round spans several segments.
    format!("r{round}-t{task}-{seq:06}-{}", "x".repeat(200))
}

fn parse_body(b: &str) -> (usize, usize, usize) {
    let mut it = b.split('-');
    let mut num = |prefix: char| -> usize {
        let part = it.next().unwrap_or_else(|| panic!("malformed body {b:?}"));
        part.trim_start_matches(prefix)
            .parse()
            .unwrap_or_else(|_| panic!("malformed body {b:?}"))
    };
    (num('r'), num('t'), num(' '))
}

/// Sends from `TASKS` tasks until `stop`; records every SEND_OK.
fn spawn_producers(
    producer: Arc<Producer>,
    round: usize,
    acked: Acked,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..TASKS)
        .map(|task| {
            let (producer, acked, count, stop) =
                (producer.clone(), acked.clone(), count.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = body(round, task, seq);
                    seq += 1;
                    match producer.send(Message::new(TOPIC, text.clone())).await {
                        Ok(r) if r.status == SendStatus::SendOk => {
                            let prev = acked
                                .lock()
                                .insert((r.queue.queue_id, r.queue_offset), text);
                            assert!(prev.is_none(), "two acks for one queue offset");
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        // Expected once the process is killed.
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sync_flush_sends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().to_path_buf();
    servers_support::within(Duration::from_secs(90), &logs, async {
        let data = dir.path().join("data");
        let cfg = dir.path().join("broker.toml");
        std::fs::write(&cfg, BROKER_TOML).unwrap();
        let cfg = cfg.to_str().unwrap().to_string();
        let ports = [free_port(), free_port(), free_port()];
        let acked: Acked = Arc::default();

        for round in 0..ROUNDS {
            let log = dir.path().join(format!("dev-{round}.log"));
            let (mut dev, addrs) = start_dev(&data, ports, &["--broker-config", &cfg], &log);
            let producer = Arc::new(
                Producer::builder()
                    .namesrv(&addrs.namesrv.to_string())
                    .group("durable-pg")
                    .retries(0)
                    .send_timeout(Duration::from_secs(2))
                    .build()
                    .unwrap(),
            );
            let count = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let tasks = spawn_producers(
                producer.clone(),
                round,
                acked.clone(),
                count.clone(),
                stop.clone(),
            );
            // Kill at a different point each round, while every task is mid-stream.
            let kill_after = 800 + round * 331;
            let mut waited = 0;
            while count.load(Ordering::Relaxed) < kill_after {
                assert!(
                    waited < 2000,
                    "producers stalled at {count:?} acks; log:\n{}",
                    dev.log_text()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
                waited += 1;
            }
            dev.kill9();
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                t.await.unwrap();
            }
            servers_support::stop_client("producer", producer.shutdown()).await;
        }

        let log = dir.path().join("dev-check.log");
        let (mut dev, addrs) = start_dev(&data, ports, &["--broker-config", &cfg], &log);
        let consumer = PullConsumer::connect(&addrs.namesrv.to_string(), "durable-check").unwrap();
        let queues = consumer.fetch_queues(TOPIC).await.unwrap();
        assert_eq!(queues.len(), 4);
        let mut stored: BTreeMap<(i32, i64), String> = BTreeMap::new();
        for q in &queues {
            let max = consumer.max_offset(q).await.unwrap();
            let mut offset = 0;
            // Per (round, task): the last sequence number seen in this queue.
            let mut last: BTreeMap<(usize, usize), usize> = BTreeMap::new();
            while offset < max {
                let r = consumer.pull(q, "*", offset, 32).await.unwrap();
                assert_eq!(
                    r.status,
                    PullStatus::Found,
                    "queue {} at {offset} of {max}",
                    q.queue_id
                );
                for m in r.messages {
                    assert_eq!(m.queue_offset, offset, "gap in queue {}", q.queue_id);
                    let text = String::from_utf8(m.body.to_vec()).unwrap();
                    let (round, task, seq) = parse_body(&text);
                    if let Some(prev) = last.insert((round, task), seq) {
                        assert!(
                            prev < seq,
                            "queue {} out of order: {prev} then {seq}",
                            q.queue_id
                        );
                    }
                    stored.insert((q.queue_id, offset), text);
                    offset += 1;
                }
            }
        }
        let acked = acked.lock().clone();
        assert!(acked.len() >= 800 * ROUNDS, "only {} acks", acked.len());
        for ((queue, offset), text) in acked.iter() {
            assert_eq!(
                stored.get(&(*queue, *offset)),
                Some(text),
                "acknowledged message at queue {queue} offset {offset} lost or changed"
            );
        }
        eprintln!(
            "{} acknowledged sends over {ROUNDS} SIGKILLs, {} messages stored",
            acked.len(),
            stored.len()
        );
        servers_support::stop_client("consumer", consumer.shutdown()).await;
        let status = dev.terminate();
        assert!(status.success(), "courier dev exited with {status}");
    })
    .await;
}
