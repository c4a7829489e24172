//! The server subcommands as a user runs them: the real `courier` binary, real ports, real data
//! directories. `courier dev` serves a producer and a push consumer, answers `ruok` on the keeper
//! port and shuts down cleanly on SIGTERM; `courier namesrv` plus two `courier broker` processes
//! form one cluster that routes, spreads sends and balances one consumer group over both.

mod servers_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_client::{
    Admin, ConsumeFromWhere, ConsumeResult, Message, MessageExt, MessageSelector, Producer,
    PullConsumer, PushConsumer,
};
use parking_lot::Mutex;
use servers_support::{start_dev, Server};

type Received = Arc<Mutex<Vec<MessageExt>>>;

fn recorder() -> (
    Received,
    impl Fn(Vec<MessageExt>) -> std::future::Ready<ConsumeResult> + Send + Sync + 'static,
) {
    let got: Received = Arc::default();
    let g = got.clone();
    (got, move |msgs: Vec<MessageExt>| {
        g.lock().extend(msgs);
        std::future::ready(ConsumeResult::Success)
    })
}

async fn wait_until<F: FnMut() -> bool>(what: &str, timeout: Duration, mut cond: F) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn four_letter(addr: std::net::SocketAddr, word: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the keeper");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(word.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_clients_and_keeper_then_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().to_path_buf();
    servers_support::within(Duration::from_secs(90), &logs, async {
        let data = dir.path().join("data");
        let (mut dev, addrs) = start_dev(&data, [0, 0, 0], &[], &dir.path().join("dev.log"));
        let ns = addrs.namesrv.to_string();

        assert_eq!(four_letter(addrs.keeper, "ruok"), "imok");

        let producer = Producer::builder()
            .namesrv(&ns)
            .group("dev-pg")
            .build()
            .unwrap();
        let mut sent = BTreeSet::new();
        for i in 0..20 {
            let r = producer
                .send(Message::new("DevTopic", format!("hello {i}")).with_tags("T"))
                .await
                .unwrap();
            assert_eq!(r.queue.broker_name, "broker-a");
            sent.insert(r.msg_id);
        }
        // The first send auto-created the topic, so the consumer finds its route at once (a
        // consumer of a topic that does not exist yet waits for the 30 s route refresh, as in Java).
        let (got, listener) = recorder();
        let consumer = PushConsumer::builder()
            .namesrv(&ns)
            .group("dev-cg")
            .subscribe("DevTopic", "*")
            .rebalance_interval(Duration::from_millis(300))
            .consume_from(ConsumeFromWhere::FirstOffset)
            .start(listener)
            .await
            .unwrap();
        wait_until("20 messages consumed", Duration::from_secs(20), || {
            got.lock().len() >= 20
        })
        .await;
        // And live delivery to the running consumer (its pulls are parked on the broker).
        for i in 20..25 {
            let r = producer
                .send(Message::new("DevTopic", format!("hello {i}")))
                .await
                .unwrap();
            sent.insert(r.msg_id);
        }
        wait_until("25 messages consumed", Duration::from_secs(20), || {
            got.lock().len() >= 25
        })
        .await;
        let received: BTreeSet<String> = got.lock().iter().map(|m| m.msg_id.clone()).collect();
        assert_eq!(received, sent);
        assert_eq!(got.lock().len(), 25, "no duplicates");
        // SQL92 selectors are on in dev: the 20 tagged messages, not the 5 untagged ones.
        let pc = PullConsumer::connect(&ns, "dev-sql").unwrap();
        let selector = MessageSelector::by_sql("TAGS = 'T'");
        let mut selected = 0;
        for q in pc.fetch_queues("DevTopic").await.unwrap() {
            let r = pc
                .pull_selected(&q, &selector, 0, 32, Duration::ZERO)
                .await
                .unwrap();
            selected += r.messages.len();
        }
        assert_eq!(selected, 20);
        pc.shutdown().await;
        // `courier mqadmin`, as an operator runs it: (exit status, stdout, stderr).
        let mqadmin_run = |args: &[&str]| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
                .arg("mqadmin")
                .args(args)
                .args(["--namesrv", &ns])
                .output()
                .unwrap();
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (out.status.success(), text(&out.stdout), text(&out.stderr))
        };
        let mqadmin = |args: &[&str]| {
            let (ok, out, err) = mqadmin_run(args);
            assert!(ok, "{out}{err}");
            out
        };
        // Rewind the running group to the start: the broker moves it at its next pull (parked
        // pulls are woken), and every message is delivered once more.
        let reset = mqadmin(&["reset-offset", "-g", "dev-cg", "-t", "DevTopic", "-s", "0"]);
        assert!(reset.contains("4 queues reset"), "{reset}");
        wait_until("25 messages consumed again", Duration::from_secs(20), || {
            got.lock().len() >= 50
        })
        .await;
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        for m in got.lock().iter() {
            *seen.entry(m.msg_id.clone()).or_default() += 1;
        }
        assert!(seen.len() == 25 && seen.values().all(|n| *n == 2), "{seen:?}");
        // The running group shows its client in the all-groups summary.
        let groups: serde_json::Value =
            serde_json::from_str(&mqadmin(&["consumer-progress", "--json"])).unwrap();
        let running = groups["groups"].as_array().unwrap();
        let running = running.iter().find(|g| g["group"] == "dev-cg").unwrap();
        assert_eq!(running["clients"], 1, "{groups}");
        assert_eq!(running["consumeType"], "CONSUME_PASSIVELY", "{groups}");
        assert_eq!(running["messageModel"], "CLUSTERING", "{groups}");
        // The running client as it reports itself, asked through the broker.
        let status: serde_json::Value = serde_json::from_str(&mqadmin(&[
            "consumer-status", "-g", "dev-cg", "--json",
        ]))
        .unwrap();
        let client = &status["clients"][0];
        assert_eq!(client["clientId"], consumer.client_id(), "{status}");
        assert_eq!(client["info"]["properties"]["consumerGroup"], "dev-cg", "{status}");
        let queues = client["info"]["mqTable"].as_array().unwrap();
        let dev_queues = queues.iter().filter(|q| q["topic"] == "DevTopic").count();
        assert_eq!(dev_queues, 4, "{status}");
        assert_eq!(client["info"]["properties"]["PROP_CLIENT_VERSION"], "V5_3_3", "{status}");
        assert_eq!(status["sameSubscriptions"], true, "{status}");
        let table = mqadmin(&["consumerStatus", "-g", "dev-cg"]);
        assert!(table.starts_with("#Client ID") && table.contains(consumer.client_id()), "{table}");
        // The offsets the consumer holds, from the consumer itself through the broker.
        let held: serde_json::Value = serde_json::from_str(&mqadmin(&[
            "get-consumer-status", "-g", "dev-cg", "-t", "DevTopic", "--json",
        ]))
        .unwrap();
        let queues = held["clients"][consumer.client_id()].as_array().unwrap();
        assert_eq!(queues.len(), 4, "{held}");
        let table = mqadmin(&["getConsumerStatus", "-g", "dev-cg", "-t", "DevTopic"]);
        assert!(table.contains("#clientId") && table.lines().count() == 6, "{table}");
        // Who is connected: the consumer, with its subscription, and the producer.
        let conns: serde_json::Value = serde_json::from_str(&mqadmin(&[
            "consumer-connection", "-g", "dev-cg", "--json",
        ]))
        .unwrap();
        let c = &conns["brokers"][0]["connection"];
        assert_eq!(c["connectionSet"][0]["clientId"], consumer.client_id(), "{conns}");
        assert_eq!(c["subscriptionTable"]["DevTopic"]["subString"], "*", "{conns}");
        let table = mqadmin(&["producerConnection", "-g", "dev-pg"]);
        assert!(table.starts_with("#Broker") && table.lines().count() == 2, "{table}");
        let (ok, _, err) = mqadmin_run(&["producer-connection", "-g", "nobody-pg"]);
        assert!(!ok && err.contains("no producer of group nobody-pg"), "{err}");
        // One message consumed directly by that client: its listener gets it once more.
        let (before, first) = {
            let g = got.lock();
            (g.len(), g[0].offset_msg_id.clone())
        };
        let verdict = mqadmin(&[
            "query-msg-by-id", "-i", &first, "-g", "dev-cg", "-d", consumer.client_id(),
        ]);
        assert!(verdict.contains("CR_SUCCESS"), "{verdict}");
        assert_eq!(got.lock().len(), before + 1);
        servers_support::stop_client("consumer", consumer.shutdown()).await;
        // Three more that the (stopped) group has not consumed: its lag. The first has a key,
        // looked up below with `mqadmin query-msg-by-key` and `query-msg-by-id`.
        let mut keyed = None;
        for i in 25..28 {
            let mut m = Message::new("DevTopic", format!("hello {i}"));
            if i == 25 {
                m = m.with_keys("admin-key");
            }
            let r = producer.send(m).await.unwrap();
            keyed.get_or_insert(r);
        }
        let keyed = keyed.unwrap();
        servers_support::stop_client("producer", producer.shutdown()).await;

        let metrics = servers_support::http_get(addrs.metrics, "/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        // The value of the first sample line starting with `prefix`.
        let sample = |prefix: &str| -> f64 {
            metrics
                .lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {prefix} in {metrics}"))
        };
        assert!(
            metrics.contains(
                "courier_broker_put_messages_total{broker=\"broker-a\",cluster=\"DefaultCluster\"} 28\n"
            ),
            "{metrics}"
        );
        // Per topic and per group: 28 stored, 25 of them consumed and committed at shutdown.
        assert!(
            metrics.contains(
                "courier_broker_topic_messages_total{broker=\"broker-a\",cluster=\"DefaultCluster\",topic=\"DevTopic\"} 28\n"
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "courier_broker_consumer_lag_messages{broker=\"broker-a\",cluster=\"DefaultCluster\",group=\"dev-cg\",topic=\"DevTopic\"} 3\n"
            ),
            "{metrics}"
        );
        // The same lag in time: the oldest of the three was stored before the producer stopped.
        let delay: f64 = metrics
            .lines()
            .find(|l| {
                l.starts_with("courier_broker_consumer_delay_seconds{")
                    && l.contains("group=\"dev-cg\",topic=\"DevTopic\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no delay for dev-cg: {metrics}"));
        assert!(delay > 0.0 && delay < 60.0, "{delay}");
        assert!(metrics.contains("courier_keeper_up 1\n"), "{metrics}");
        // No background service has panicked and been started again.
        assert!(
            metrics.contains(
                "courier_broker_service_restarts_total{broker=\"broker-a\",cluster=\"DefaultCluster\"} 0\n"
            ),
            "{metrics}"
        );
        // The dev broker writes through the O_DIRECT write-behind buffer.
        assert!(
            metrics.contains("courier_broker_commitlog_committed_offset_bytes{"),
            "{metrics}"
        );
        assert!(
            metrics.contains("courier_broker_commitlog_buffer_writes_total{"),
            "{metrics}"
        );
        // At least the chunk the sends went into (the prefault thread makes the rest of the
        // ring in the background).
        assert!(
            sample("courier_broker_commitlog_buffer_chunks{") >= 1.0,
            "{metrics}"
        );
        // 28 sends were committed, each by at least one write that took some time.
        assert!(
            sample("courier_broker_commitlog_buffer_write_seconds_total{") > 0.0,
            "{metrics}"
        );
        assert!(
            metrics.contains("courier_broker_commitlog_buffer_wait_seconds_total{"),
            "{metrics}"
        );
        assert!(metrics.contains("courier_keeper_znode_count "), "{metrics}");
        // The store's put latency: a histogram whose count covers the 28 puts and whose
        // +Inf bucket equals its count.
        assert!(
            metrics.contains("# TYPE courier_broker_put_latency_seconds histogram\n"),
            "{metrics}"
        );
        let puts = sample("courier_broker_put_latency_seconds_count{");
        assert!(puts >= 28.0, "{puts}");
        assert_eq!(
            sample("courier_broker_put_latency_seconds_bucket{broker=\"broker-a\",cluster=\"DefaultCluster\",le=\"+Inf\"}"),
            puts
        );
        assert!(sample("courier_broker_put_latency_seconds_sum{") > 0.0);
        // Every metric the shipped alerting rules use is served.
        let rules = include_str!("../../../deploy/prometheus/courier-alerts.yml");
        let mut used: Vec<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("courier_"))
            .collect();
        used.sort();
        used.dedup();
        assert!(used.len() >= 8, "{used:?}");
        for m in used {
            let served = metrics.lines().any(|l| l.starts_with(m) && l[m.len()..].starts_with(['{', ' ']));
            assert!(served, "deploy/prometheus/courier-alerts.yml uses {m}, which /metrics does not serve");
        }

        // The admin views over the same state, as an operator would ask (`courier mqadmin`).
        let status: serde_json::Value =
            serde_json::from_str(&mqadmin(&["topic-status", "-t", "DevTopic", "--json"])).unwrap();
        let queues = status["queues"].as_array().unwrap();
        assert_eq!(queues.len(), 4, "{status}");
        let total: i64 = queues.iter().map(|q| q["maxOffset"].as_i64().unwrap()).sum();
        assert_eq!(total, 28, "{status}");
        assert!(queues
            .iter()
            .all(|q| q["maxOffset"] == 0 || q["lastUpdateTimestamp"].as_i64().unwrap() > 0));
        let progress: serde_json::Value =
            serde_json::from_str(&mqadmin(&["consumerProgress", "-g", "dev-cg", "--json"])).unwrap();
        assert_eq!(progress["diffTotal"], 3, "{progress}");
        // The group's queues of DevTopic (its retry topic's queue may be listed too, as in Java's
        // output, once the consumer committed an offset for it).
        let dev_queues = progress["queues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["topic"] == "DevTopic")
            .count();
        assert_eq!(dev_queues, 4, "{progress}");
        let table = mqadmin(&["consumer-progress", "-g", "dev-cg", "-t", "DevTopic"]);
        assert!(table.starts_with("#Topic"), "{table}");
        assert!(table.contains("Diff Total: 3\n"), "{table}");
        // Without -g: a summary line per group (the stopped consumer has no clients online).
        let groups: serde_json::Value =
            serde_json::from_str(&mqadmin(&["consumer-progress", "--json"])).unwrap();
        let dev_cg = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == "dev-cg")
            .unwrap_or_else(|| panic!("no dev-cg in {groups}"));
        assert_eq!(dev_cg["diffTotal"], 3, "{groups}");
        assert_eq!(dev_cg["clients"], 0, "{groups}");
        let table = mqadmin(&["consumer-progress"]);
        assert!(table.starts_with("#Group") && table.contains("dev-cg"), "{table}");
        // Rewind the stopped group to the start (re-consume all 28), then skip to the end.
        let diff = |progress: &str| -> i64 {
            let v: serde_json::Value = serde_json::from_str(progress).unwrap();
            v["diffTotal"].as_i64().unwrap()
        };
        let reset: serde_json::Value = serde_json::from_str(&mqadmin(&[
            "resetOffsetByTime", "-g", "dev-cg", "-t", "DevTopic", "-s", "0", "--json",
        ]))
        .unwrap();
        let queues = reset["queues"].as_array().unwrap();
        assert_eq!(queues.len(), 4, "{reset}");
        assert!(queues.iter().all(|q| q["newOffset"] == 0), "{reset}");
        assert_eq!(diff(&mqadmin(&["consumer-progress", "-g", "dev-cg", "--json"])), 28);
        // A new group started where dev-cg is: the same 28 to go.
        let cloned = mqadmin(&["cloneGroupOffset", "-s", "dev-cg", "-d", "dev-clone", "-t", "DevTopic"]);
        assert!(cloned.contains("cloned DevTopic (4 queues)"), "{cloned}");
        assert_eq!(diff(&mqadmin(&["consumer-progress", "-g", "dev-clone", "--json"])), 28);
        // The same lag in the broker-wide view, every group at once.
        let all: serde_json::Value =
            serde_json::from_str(&mqadmin(&["broker-consume-stats", "-l", "1", "--json"])).unwrap();
        let broker = all["brokers"].as_object().and_then(|b| b.values().next()).unwrap();
        let behind: i64 = broker["queues"].as_array().unwrap().iter()
            .filter(|q| q["group"] == "dev-cg" && q["topic"] == "DevTopic")
            .map(|q| q["diff"].as_i64().unwrap())
            .sum();
        assert_eq!(behind, 28, "{all}");
        // And per topic with its traffic (statsAll): the backlog of both groups.
        let traffic: serde_json::Value =
            serde_json::from_str(&mqadmin(&["stats-all", "-t", "DevTopic", "--json"])).unwrap();
        let groups = traffic["topics"][0]["groups"].as_array().unwrap();
        let backlog = |g: &str| groups.iter().find(|x| x["group"] == g).map(|x| x["accumulation"].clone());
        assert_eq!((backlog("dev-cg"), backlog("dev-clone")), (Some(28.into()), Some(28.into())), "{traffic}");
        assert!(mqadmin(&["statsAll", "-a"]).contains("DevTopic"));
        let table = mqadmin(&["brokerConsumeStats"]);
        assert!(table.starts_with("#Topic") && table.contains("Diff Total: "), "{table}");
        // Rewind-only leaves queues that are already further back alone.
        mqadmin(&["reset-offset", "-g", "dev-cg", "-t", "DevTopic", "-s", "now", "--rewind-only"]);
        assert_eq!(diff(&mqadmin(&["consumer-progress", "-g", "dev-cg", "--json"])), 28);
        let table = mqadmin(&["reset-offset", "-g", "dev-cg", "-t", "DevTopic", "-s", "now"]);
        assert!(table.starts_with("#Topic") && table.contains("4 queues reset"), "{table}");
        assert_eq!(diff(&mqadmin(&["consumer-progress", "-g", "dev-cg", "--json"])), 0);
        let (ok, _, err) = mqadmin_run(&["reset-offset", "-g", "dev-cg", "-t", "DevTopic", "-s", "soon"]);
        assert!(!ok && err.contains("not a time"), "{err}");
        // The cluster's layout: its broker, a topic made and routed, listed with the others.
        let clusters: serde_json::Value =
            serde_json::from_str(&mqadmin(&["cluster-list", "--json"])).unwrap();
        let dev_cluster = &clusters["clusters"][0];
        assert_eq!(dev_cluster["cluster"], "DefaultCluster", "{clusters}");
        assert_eq!(dev_cluster["brokers"][0]["brokerName"], "broker-a", "{clusters}");
        let traffic = dev_cluster["brokers"][0]["traffic"].as_object().unwrap();
        assert_eq!(traffic.len(), 1, "{clusters}");
        assert!(traffic.values().all(|t| t["inToday"].as_i64() >= Some(28)), "{clusters}");
        assert!(dev_cluster["brokers"][0]["brokerAddrs"]["0"].is_string(), "{clusters}");
        let made = mqadmin(&["updateTopic", "-t", "AdminMade", "-r", "2", "-w", "2"]);
        assert!(made.contains("topic AdminMade updated on 1 broker(s)"), "{made}");
        let route: serde_json::Value =
            serde_json::from_str(&mqadmin(&["topic-route", "-t", "AdminMade", "--json"])).unwrap();
        let q = &route["queueDatas"][0];
        assert_eq!((&q["brokerName"], &q["readQueueNums"], &q["writeQueueNums"]), (&"broker-a".into(), &2.into(), &2.into()), "{route}");
        let table = mqadmin(&["topicRoute", "-t", "DevTopic"]);
        assert!(table.starts_with("#Broker Name") && table.contains("RW (6)"), "{table}");
        let topics: serde_json::Value =
            serde_json::from_str(&mqadmin(&["topic-list", "--json"])).unwrap();
        let topics: Vec<&str> = topics["topics"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
        // What the RocketMQ dashboard labels as system topics (name server 304, then broker 305).
        let admin = courier_client::Admin::connect(&ns).unwrap();
        let system = admin.system_topics().await.unwrap();
        admin.shutdown().await;
        for t in ["DefaultCluster", "broker-a", "TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRACE_TOPIC", "DefaultCluster_REPLY_TOPIC"] {
            assert!(system.iter().any(|s| s == t), "{t} not in {system:?}");
        }
        assert!(!system.iter().any(|s| s == "DevTopic"), "{system:?}");
        assert!(topics.contains(&"AdminMade") && topics.contains(&"DevTopic"), "{topics:?}");
        assert!(topics.is_sorted(), "{topics:?}");
        let deleted = mqadmin(&["deleteTopic", "-t", "AdminMade"]);
        assert!(deleted.contains("topic AdminMade deleted from 1 broker(s)"), "{deleted}");
        let topics = mqadmin(&["topic-list"]);
        assert!(!topics.lines().any(|t| t == "AdminMade") && topics.contains("DevTopic"), "{topics}");
        let status: serde_json::Value =
            serde_json::from_str(&mqadmin(&["broker-status", "--json"])).unwrap();
        let figures = status["brokers"].as_object().and_then(|b| b.values().next()).unwrap();
        assert!(figures["msgPutTotalTodayNow"].as_str().is_some(), "{status}");
        assert!(mqadmin(&["brokerStatus"]).starts_with("Broker 127.0.0.1:"));
        // A group's settings: consuming switched off, then the settings deleted (the defaults
        // come back with the group's next heartbeat).
        let updated = mqadmin(&["updateSubGroup", "-g", "dev-sql", "-s", "false", "-r", "3"]);
        assert!(updated.contains("group dev-sql updated on 1 broker(s)"), "{updated}");
        let pc = PullConsumer::connect(&ns, "dev-sql").unwrap();
        let q = pc.fetch_queues("DevTopic").await.unwrap().remove(0);
        let refused = pc.pull(&q, "*", 0, 32).await.unwrap_err();
        assert!(refused.to_string().contains("consume"), "{refused}");
        pc.shutdown().await;
        let deleted = mqadmin(&["delete-sub-group", "-g", "dev-sql"]);
        assert!(deleted.contains("group dev-sql deleted from 1 broker(s)"), "{deleted}");
        // A message sent by hand (to a topic of its own: DevTopic's count is checked at the end)
        // and read back from where it was stored.
        let sent: serde_json::Value = serde_json::from_str(&mqadmin(&[
            "sendMessage", "-t", "HandTopic", "-p", "by hand", "-c", "Manual", "-k", "hand-key", "--json",
        ]))
        .unwrap();
        assert_eq!(sent["sendStatus"], "SEND_OK", "{sent}");
        let (broker, queue, offset) = (
            sent["brokerName"].as_str().unwrap().to_string(),
            sent["queueId"].to_string(),
            sent["queueOffset"].to_string(),
        );
        let read: serde_json::Value = serde_json::from_str(&mqadmin(&[
            "consume-message", "-t", "HandTopic", "-b", &broker, "-i", &queue, "-o", &offset, "-c", "1",
            "--json",
        ]))
        .unwrap();
        let m = &read["messages"][0];
        assert_eq!((&m["body"], &m["tags"], &m["keys"]), (&"by hand".into(), &"Manual".into(), &"hand-key".into()), "{read}");
        assert_eq!(m["msgId"], sent["msgId"], "{read}");
        assert!(mqadmin(&["consumeMessage", "-t", "HandTopic"]).contains("Body:             by hand"));
        let config: serde_json::Value =
            serde_json::from_str(&mqadmin(&["getBrokerConfig", "-b", &figures_addr(&status), "--json"])).unwrap();
        assert_eq!(config["brokerName"], "broker-a", "{config}");
        assert_eq!(config["flushDiskType"], "ASYNC_FLUSH", "{config}");
        // The broker made read-only while it runs, as an operator drains it: the route says so
        // at once (the broker registers again), not at the next 30 s registration.
        let ro = mqadmin(&["updateBrokerConfig", "-c", "DefaultCluster", "-k", "brokerPermission", "-v", "4"]);
        assert!(ro.contains("applied now: brokerPermission"), "{ro}");
        wait_until("the route to show the broker read-only", Duration::from_secs(5), || {
            mqadmin(&["topicRoute", "-t", "DevTopic"]).contains("R- (4)")
        })
        .await;
        // `courier dev` without --broker-config has no file for a start-only key.
        let addr = figures_addr(&status);
        let (ok, out, err) =
            mqadmin_run(&["update-broker-config", "-b", &addr, "-k", "flushDiskType", "-v", "SYNC_FLUSH"]);
        assert!(!ok && err.contains("--config FILE"), "{out}{err}");
        let rw = mqadmin(&["update-broker-config", "-b", &addr, "-k", "brokerPermission", "-v", "6"]);
        assert!(rw.contains("update broker config success"), "{rw}");
        wait_until("the route to show the broker writable", Duration::from_secs(5), || {
            mqadmin(&["topicRoute", "-t", "DevTopic"]).contains("RW (6)")
        })
        .await;
        // The same through the name servers only (wipe, then add the write permission back):
        // the route changes at once and a new producer finds no queue to send to.
        let wiped = mqadmin(&["wipe-write-perm", "-b", "broker-a"]);
        assert!(wiped.starts_with(&format!("write permission of broker broker-a wiped in name server {ns}: ")), "{wiped}");
        assert!(mqadmin(&["topicRoute", "-t", "DevTopic"]).contains("R- (4)"));
        let (ok, out, err) = mqadmin_run(&["sendMessage", "-t", "DevTopic", "-p", "refused"]);
        assert!(!ok && err.contains("writable"), "{out}{err}");
        let added: serde_json::Value =
            serde_json::from_str(&mqadmin(&["addWritePerm", "-b", "broker-a", "--json"])).unwrap();
        assert_eq!(added["writable"], true, "{added}");
        assert!(added["nameServers"][0]["topics"].as_i64().unwrap() > 0, "{added}");
        assert!(mqadmin(&["topicRoute", "-t", "DevTopic"]).contains("RW (6)"));
        // The name server's own settings: the topic list switched off and on again.
        let nsc: serde_json::Value = serde_json::from_str(&mqadmin(&["getNamesrvConfig", "--json"])).unwrap();
        assert_eq!(nsc["nameServers"][&ns]["enableAllTopicList"], "true", "{nsc}");
        let set = mqadmin(&["update-namesrv-config", "-k", "enableAllTopicList", "-v", "false"]);
        assert!(set.starts_with("enableAllTopicList = false set on 1 name server(s)"), "{set}");
        let (ok, _, err) = mqadmin_run(&["topic-list"]);
        assert!(!ok && err.contains("disable"), "{err}");
        let (ok, _, err) = mqadmin_run(&["updateNamesrvConfig", "-k", "kvConfigPath", "-v", "/tmp/x"]);
        assert!(!ok && err.contains("black list"), "{err}");
        mqadmin(&["update-namesrv-config", "-k", "enableAllTopicList", "-v", "true"]);
        assert!(mqadmin(&["topic-list"]).contains("DevTopic"));
        let (ok, _, err) = mqadmin_run(&["wipeWritePerm", "-b", "broker-z"]);
        assert!(!ok && err.contains("known brokers: broker-a"), "{err}");
        // With each broker's traffic: 28 messages in and 25 out since it started (its first day).
        let list = mqadmin(&["clusterList"]);
        assert!(list.starts_with("#Cluster Name"), "{list}");
        let row: Vec<&str> = list.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row[..3], ["DefaultCluster", "broker-a", "0"], "{list}");
        assert!(row[7].parse::<i64>().unwrap() >= 28 && row[8].parse::<i64>().unwrap() >= 25, "{list}");
        // Message lookups: by key, by offset msgId (the broker it names), by client msgId (-t).
        let by_key: serde_json::Value = serde_json::from_str(&mqadmin(&[
            "query-msg-by-key", "-t", "DevTopic", "-k", "admin-key", "--json",
        ]))
        .unwrap();
        let hits = by_key["messages"].as_array().unwrap();
        assert_eq!(hits.len(), 1, "{by_key}");
        assert_eq!(hits[0]["msgId"], keyed.msg_id.as_str(), "{by_key}");
        assert_eq!(hits[0]["offsetMsgId"], keyed.offset_msg_id.as_str(), "{by_key}");
        for args in [
            &["queryMsgById", "-i", &keyed.offset_msg_id, "--json"][..],
            &["query-msg-by-id", "-i", &keyed.msg_id, "-t", "DevTopic", "--json"][..],
        ] {
            let m: serde_json::Value = serde_json::from_str(&mqadmin(args)).unwrap();
            assert_eq!(m["msgId"], keyed.msg_id.as_str(), "{m}");
            assert_eq!(m["offsetMsgId"], keyed.offset_msg_id.as_str(), "{m}");
            assert_eq!((&m["keys"], &m["body"], &m["bodyEncoding"]), (&"admin-key".into(), &"hello 25".into(), &"utf-8".into()), "{m}");
            assert_eq!(m["queueId"], keyed.queue.queue_id, "{m}");
            // Sent after the group stopped, then skipped by the reset to `now`: its track says
            // the group is offline and its committed offset is past the message.
            let track = m["tracks"].as_array().and_then(|t| t.iter().find(|t| t["consumerGroup"] == "dev-cg"));
            let track = track.unwrap_or_else(|| panic!("no track for dev-cg: {m}"));
            assert_eq!(track["trackType"], "NOT_ONLINE", "{m}");
            assert!(track["detail"].as_str().unwrap_or("").contains("past the message"), "{m}");
        }
        let (ok, _, err) = mqadmin_run(&["query-msg-by-id", "-i", &keyed.msg_id]);
        assert!(!ok && err.contains("add -t TOPIC"), "{err}");
        // The lag in time: dev-cg was moved past every message, a group with no offsets has
        // every stored message waiting.
        let span = |group: &str| -> serde_json::Value {
            serde_json::from_str(&mqadmin(&["consume-time-span", "-g", group, "-t", "DevTopic", "--json"])).unwrap()
        };
        let caught_up = span("dev-cg");
        let queues = caught_up["queues"].as_array().unwrap();
        assert_eq!(queues.len(), 4, "{caught_up}");
        assert!(queues.iter().all(|q| q["delayMs"] == 0 && q["brokerName"] == "broker-a"), "{caught_up}");
        let stored: Vec<_> = queues.iter().filter(|q| q["maxTimeStamp"].as_i64() > Some(0)).collect();
        assert!(!stored.is_empty() && stored.iter().all(|q| q["consumeTimeStamp"] == q["maxTimeStamp"]), "{caught_up}");
        let nobody = span("dev-nobody");
        let waiting = nobody["queues"].as_array().unwrap().iter().filter(|q| q["delayMs"].as_i64() > Some(0)).count();
        assert_eq!(waiting, stored.len(), "{nobody}");
        assert!(mqadmin(&["queryConsumeTimeSpan", "-g", "dev-cg", "-t", "DevTopic"]).starts_with("#Broker"));

        // Ctrl-C, the way a user stops `courier dev` (the cluster test below stops its processes with
        // SIGTERM).
        dev.signal(libc::SIGINT);
        let status = dev.wait_exit(Duration::from_secs(20));
        assert!(status.success(), "courier dev exited with {status}");
        let broker_root = data.join("broker");
        assert!(
            !broker_root.join("abort").exists(),
            "a clean shutdown removes the abort marker"
        );
        assert!(broker_root.join("checkpoint").exists());

        // The store left behind reopens as a clean shutdown and still holds the messages.
        let config = courier_broker::BrokerConfig {
            store_path_root_dir: broker_root.clone(),
            ..courier_broker::BrokerConfig::default()
        };
        let store = courier_store::MessageStore::open(config.store_config()).unwrap();
        assert!(store.recovery_report().clean_shutdown);
        let stored: i64 = (0..4).map(|q| store.max_offset("DevTopic", q)).sum();
        assert_eq!(stored, 28);
        store.shutdown().unwrap();
    })
    .await;
}

/// The one broker address of a `broker-status --json` answer.
fn figures_addr(status: &serde_json::Value) -> String {
    status["brokers"]
        .as_object()
        .and_then(|b| b.keys().next())
        .cloned()
        .unwrap()
}

fn broker_toml(name: &str, root: &std::path::Path) -> String {
    format!(
        "brokerName = \"{name}\"\nstorePathRootDir = \"{}\"\n\
         mappedFileSizeCommitLog = 8388608\nmappedFileSizeConsumeQueue = 20000\n\
         maxHashSlotNum = 1000\nmaxIndexNum = 4000\n",
        root.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namesrv_and_two_broker_processes_form_one_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().to_path_buf();
    servers_support::within(Duration::from_secs(90), &logs, async {
        let p = dir.path();
        let mut ns = Server::start(
            &[
                "namesrv",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                p.join("ns").to_str().unwrap(),
            ],
            &p.join("ns.log"),
        );
        let line = ns.wait_line("listening on", Duration::from_secs(20));
        let ns_addr = servers_support::listening_addr(&line).to_string();

        let mut brokers = Vec::new();
        let mut metrics = None;
        for name in ["broker-a", "broker-b"] {
            let cfg = p.join(format!("{name}.toml"));
            std::fs::write(&cfg, broker_toml(name, &p.join(name))).unwrap();
            let mut args = vec![
                "broker",
                "--config",
                cfg.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--namesrv",
                &ns_addr,
            ];
            if name == "broker-a" {
                args.extend(["--metrics-port", "0"]);
            }
            let mut b = Server::start(&args, &p.join(format!("{name}.log")));
            b.wait_line("listening on", Duration::from_secs(20));
            if name == "broker-a" {
                let line = b.wait_line("/metrics", Duration::from_secs(20));
                metrics = Some(servers_support::metrics_addr(&line));
            }
            brokers.push(b);
        }

        let admin = Admin::connect(&ns_addr).unwrap();
        let mut masters = Vec::new();
        for _ in 0..200 {
            masters = admin.master_addrs().await.unwrap();
            if masters.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let printed: BTreeSet<String> = brokers
            .iter()
            .map(|b| b.addr_of("courier broker").to_string())
            .collect();
        assert_eq!(
            masters.iter().cloned().collect::<BTreeSet<_>>(),
            printed,
            "the name server lists both broker processes"
        );
        admin.create_topic("Spread", 4).await.unwrap();
        admin
            .wait_for_route("Spread", 2, Duration::from_secs(10))
            .await
            .unwrap();

        let consumer = |listener| {
            PushConsumer::builder()
                .namesrv(&ns_addr)
                .group("cg-spread")
                .subscribe("Spread", "*")
                .rebalance_interval(Duration::from_millis(300))
                .consume_from(ConsumeFromWhere::FirstOffset)
                .start(listener)
        };
        let (got1, l1) = recorder();
        let (got2, l2) = recorder();
        let c1 = consumer(l1).await.unwrap();
        let c2 = consumer(l2).await.unwrap();
        wait_until("8 queues split 4/4", Duration::from_secs(15), || {
            let (a, b) = (c1.assignment(), c2.assignment());
            let union: BTreeSet<_> = a.iter().chain(b.iter()).cloned().collect();
            a.len() == 4 && b.len() == 4 && union.len() == 8
        })
        .await;

        let producer = Producer::builder()
            .namesrv(&ns_addr)
            .group("pg-spread")
            .build()
            .unwrap();
        let queues = producer.publish_queues("Spread").await.unwrap();
        let route_brokers: BTreeSet<String> = queues.iter().map(|q| q.broker_name.clone()).collect();
        assert_eq!(queues.len(), 8);
        assert_eq!(
            route_brokers,
            BTreeSet::from(["broker-a".to_string(), "broker-b".to_string()])
        );
        let mut per_broker: BTreeMap<String, usize> = BTreeMap::new();
        let mut sent = BTreeSet::new();
        for i in 0..40 {
            let r = producer
                .send(Message::new("Spread", format!("m{i}")))
                .await
                .unwrap();
            *per_broker.entry(r.queue.broker_name.clone()).or_default() += 1;
            sent.insert(r.msg_id);
        }
        assert_eq!(
            per_broker.len(),
            2,
            "sends reached both brokers: {per_broker:?}"
        );
        assert!(per_broker.values().all(|n| *n >= 10), "{per_broker:?}");

        wait_until("40 messages consumed", Duration::from_secs(20), || {
            got1.lock().len() + got2.lock().len() >= 40
        })
        .await;
        // Anything delivered twice would arrive shortly after the 40th.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let all: Vec<MessageExt> = got1
            .lock()
            .iter()
            .chain(got2.lock().iter())
            .cloned()
            .collect();
        assert_eq!(all.len(), 40, "every message exactly once");
        assert_eq!(
            all.iter()
                .map(|m| m.msg_id.clone())
                .collect::<BTreeSet<_>>(),
            sent
        );
        assert!(
            !got1.lock().is_empty() && !got2.lock().is_empty(),
            "both consumers got work"
        );
        let hosts: BTreeSet<String> = all.iter().map(|m| m.store_host.to_string()).collect();
        assert_eq!(hosts, printed, "messages came from both brokers");
        let text = servers_support::http_get(metrics.unwrap(), "/metrics");
        let want = format!(
            "courier_broker_put_messages_total{{broker=\"broker-a\",cluster=\"DefaultCluster\"}} {}\n",
            per_broker["broker-a"]
        );
        assert!(text.contains(&want), "{want} in {text}");

        servers_support::stop_client("c1", c1.shutdown()).await;
        servers_support::stop_client("c2", c2.shutdown()).await;
        servers_support::stop_client("producer", producer.shutdown()).await;
        for mut b in brokers {
            let status = b.terminate();
            assert!(status.success(), "broker exited with {status}");
        }
        let status = ns.terminate();
        assert!(status.success(), "namesrv exited with {status}");
        for name in ["broker-a", "broker-b"] {
            assert!(
                !p.join(name).join("abort").exists(),
                "{name} shut down cleanly"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_reads_zoo_cfg_answers_four_letter_words_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().to_path_buf();
    servers_support::within(Duration::from_secs(90), &logs, async {
        let data = dir.path().join("zk");
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ninitLimit=10\nclientPort=2181\ndataDir={}\n\
                 4lw.commands.whitelist=ruok, srvr\n",
                data.display()
            ),
        )
        .unwrap();
        let start = || {
            let mut k = Server::start(
                &[
                    "keeper",
                    "--config",
                    cfg.to_str().unwrap(),
                    "--port",
                    "0",
                    "--metrics-port",
                    "0",
                ],
                &dir.path().join("keeper.log"),
            );
            let line = k.wait_line("listening on", Duration::from_secs(20));
            let metrics = k.wait_line("/metrics", Duration::from_secs(20));
            (
                k,
                servers_support::listening_addr(&line),
                servers_support::metrics_addr(&metrics),
            )
        };
        let (mut keeper, addr, metrics) = start();
        // /metrics reads mntr, so turning it on allowed mntr.
        let text = servers_support::http_get(metrics, "/metrics");
        assert!(text.contains("courier_keeper_up 1\n"), "{text}");
        assert!(text.contains("courier_keeper_znode_count 4\n"), "{text}");
        assert_eq!(four_letter(addr, "ruok"), "imok");
        assert!(four_letter(addr, "srvr").contains("Zookeeper version"));
        // Not whitelisted: ZooKeeper answers that it is not executed.
        assert!(four_letter(addr, "conf").contains("not in the whitelist"));
        assert!(data.exists(), "dataDir from zoo.cfg is used");
        keeper.signal(libc::SIGINT);
        let status = keeper.wait_exit(Duration::from_secs(20));
        assert!(status.success(), "keeper exited with {status}");

        let (mut keeper, addr, _) = start();
        assert_eq!(
            four_letter(addr, "ruok"),
            "imok",
            "restarts on the same data"
        );
        assert!(keeper.terminate().success());
    })
    .await;
}
