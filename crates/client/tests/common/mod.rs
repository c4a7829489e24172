//! Test harness: a real name server and real brokers, in-process, on
//! 127.0.0.1 ports the OS picks, each broker over its own temporary store.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_broker::{BrokerConfig, BrokerError};
use courier_client::{Admin, ConsumeResult, MessageExt, MessageListener};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Broker {
    pub name: String,
    pub addr: String,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<(), BrokerError>>>,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("broker task").expect("broker run");
        }
    }
}

pub struct Cluster {
    pub namesrv: String,
    ns_stop: CancellationToken,
    ns_task: JoinHandle<()>,
    _ns_dir: tempfile::TempDir,
    pub brokers: Vec<Broker>,
}

async fn start_broker(namesrv: &str, name: &str, tweak: fn(&mut BrokerConfig)) -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = BrokerConfig {
        broker_name: name.to_string(),
        listen_port: port,
        namesrv_addr: Some(namesrv.to_string()),
        store_path_root_dir: dir.path().to_path_buf(),
        mapped_file_size_commit_log: 8 * 1024 * 1024,
        mapped_file_size_consume_queue: 1000 * 20,
        max_hash_slot_num: 1000,
        max_index_num: 4000,
        enable_property_filter: true,
        // Sent-back messages come back after a second rather than after 10 s or more.
        message_delay_level: vec!["1s"; 18].join(" "),
        // Halves left undecided are checked back on within about a second.
        transaction_check_interval: 200,
        transaction_time_out: 1000,
        ..BrokerConfig::default()
    };
    tweak(&mut config);
    let stop = CancellationToken::new();
    let task = tokio::spawn(courier_broker::run(config, listener, stop.clone()));
    Broker {
        name: name.to_string(),
        addr: format!("127.0.0.1:{port}"),
        stop,
        task: Some(task),
        _dir: dir,
    }
}

impl Cluster {
    /// A name server and `brokers` brokers named broker-a, broker-b, ...
    pub async fn start(brokers: usize) -> Cluster {
        Self::start_with(brokers, |_| {}).await
    }

    /// [`Cluster::start`] with every broker's configuration changed by `tweak`.
    pub async fn start_with(brokers: usize, tweak: fn(&mut BrokerConfig)) -> Cluster {
        let ns_dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let namesrv = listener.local_addr().unwrap().to_string();
        let ns_stop = CancellationToken::new();
        let config = courier_namesrv::NamesrvConfig::new(ns_dir.path());
        let s = ns_stop.clone();
        let ns_task = tokio::spawn(async move {
            courier_namesrv::run(config, listener, s)
                .await
                .expect("name server run")
        });
        let mut list = Vec::new();
        for i in 0..brokers {
            let name = format!("broker-{}", (b'a' + i as u8) as char);
            list.push(start_broker(&namesrv, &name, tweak).await);
        }
        let c = Cluster {
            namesrv,
            ns_stop,
            ns_task,
            _ns_dir: ns_dir,
            brokers: list,
        };
        // Every broker registers at start; wait until the name server has them all.
        let admin = c.admin();
        wait_until("brokers registered", Duration::from_secs(10), || {
            let admin = &admin;
            async move { admin.master_addrs().await.map(|m| m.len()).unwrap_or(0) >= brokers }
        })
        .await;
        admin.shutdown().await;
        c
    }

    /// A producer of group "pg" on this cluster.
    pub fn producer(&self) -> courier_client::Producer {
        courier_client::Producer::builder()
            .namesrv(&self.namesrv)
            .group("pg")
            .build()
            .unwrap()
    }

    /// The bodies parked in `group`'s dead-letter queue, once its topic has a route.
    pub async fn dlq_bodies(&self, group: &str) -> Vec<Vec<u8>> {
        let topic = format!("%DLQ%{group}");
        let admin = self.admin();
        admin
            .wait_for_route(&topic, 1, Duration::from_secs(10))
            .await
            .unwrap();
        admin.shutdown().await;
        let pc = courier_client::PullConsumer::connect(&self.namesrv, "dlq-reader").unwrap();
        let queues = pc.fetch_queues(&topic).await.unwrap();
        let r = pc.pull(&queues[0], "*", 0, 32).await.unwrap();
        pc.shutdown().await;
        r.messages.iter().map(|m| m.body.to_vec()).collect()
    }

    pub fn admin(&self) -> Admin {
        Admin::connect(&self.namesrv).unwrap()
    }

    /// Creates `topic` with `queues` queues on every broker and waits for its route.
    pub async fn create_topic(&self, topic: &str, queues: i32) {
        let admin = self.admin();
        admin.create_topic(topic, queues).await.unwrap();
        admin
            .wait_for_route(topic, self.brokers.len(), Duration::from_secs(10))
            .await
            .unwrap();
        admin.shutdown().await;
    }

    /// Stops broker `name` (it unregisters from the name server).
    pub async fn stop_broker(&mut self, name: &str) {
        let i = self
            .brokers
            .iter()
            .position(|b| b.name == name)
            .expect("known broker");
        self.brokers.remove(i).stop().await;
    }

    pub async fn stop(self) {
        for b in self.brokers {
            b.stop().await;
        }
        self.ns_stop.cancel();
        let _ = self.ns_task.await;
    }
}

/// Polls `cond` every 20 ms until it holds; panics after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Messages a test listener received.
pub type Received = Arc<Mutex<Vec<MessageExt>>>;

/// (body, reconsume times) of every delivery a [`failing_on`] listener saw, in order.
pub type Deliveries = Arc<Mutex<Vec<(String, i32)>>>;

/// A listener that records every delivery and answers `Later` to the message whose body is
/// `bad` (every time), `Success` to the others.
pub fn failing_on(bad: &'static str) -> (Deliveries, impl MessageListener) {
    let seen: Deliveries = Arc::default();
    let s = seen.clone();
    let listener = move |msgs: Vec<MessageExt>| {
        let body = String::from_utf8_lossy(&msgs[0].body).into_owned();
        s.lock().push((body.clone(), msgs[0].reconsume_times));
        std::future::ready(if body == bad {
            ConsumeResult::Later
        } else {
            ConsumeResult::Success
        })
    };
    (seen, listener)
}

/// A listener that records what it receives and always succeeds.
pub fn recorder() -> (Received, impl MessageListener) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let listener = move |msgs: Vec<MessageExt>| {
        g.lock().extend(msgs);
        std::future::ready(ConsumeResult::Success)
    };
    (got, listener)
}
