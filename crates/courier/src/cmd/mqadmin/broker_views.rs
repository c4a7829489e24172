//! `broker-status`, `broker-config`, `update-broker-config`, `broker-consume-stats`,
//! `consumer-connection`, `producer-connection` and `delete-topic`: a broker's runtime figures
//! and configuration, changing that configuration, every group's lag on it, who is connected as
//! a group's consumers or producers, and deleting a topic (Java's `brokerStatus`,
//! `getBrokerConfig`, `updateBrokerConfig`, `brokerConsumeStats`, `consumerConnection`,
//! `producerConnection`, `deleteTopic`).

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Args;
use courier_client::Admin;
use serde_json::json;

use super::Common;

/// `courier mqadmin broker-status` / `broker-config`
#[derive(Debug, Args)]
pub struct BrokerStatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// One broker (its address, host:port); default: every master the name servers know.
    #[arg(long, short = 'b')]
    pub broker: Option<String>,
}

/// `courier mqadmin broker-consume-stats`
#[derive(Debug, Args)]
pub struct BrokerConsumeStatsArgs {
    #[command(flatten)]
    pub common: Common,
    /// One broker (its address, host:port); default: every master the name servers know.
    #[arg(long, short = 'b')]
    pub broker: Option<String>,
    /// Only ordered topics.
    #[arg(long, short = 'o')]
    pub ordered: bool,
    /// Only queues at least this far behind (their diff).
    #[arg(long, short = 'l', default_value_t = 0)]
    pub level: i64,
}

/// `courier mqadmin update-broker-config`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["broker", "cluster"])))]
pub struct UpdateBrokerConfigArgs {
    #[command(flatten)]
    pub common: Common,
    /// One broker (its address, host:port).
    #[arg(long, short = 'b')]
    pub broker: Option<String>,
    /// Every master of this cluster.
    #[arg(long, short = 'c')]
    pub cluster: Option<String>,
    /// The key, under RocketMQ's name (e.g. brokerPermission).
    #[arg(long, short = 'k')]
    pub key: String,
    /// The new value.
    #[arg(long, short = 'v')]
    pub value: String,
}

/// `courier mqadmin consumer-connection` / `producer-connection`
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer or producer group.
    #[arg(long, short = 'g')]
    pub group: String,
}

/// `courier mqadmin delete-topic`
#[derive(Debug, Args)]
pub struct DeleteTopicArgs {
    #[command(flatten)]
    pub common: Common,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Only from the masters of this cluster (default: every master the name servers know).
    #[arg(long, short = 'c')]
    pub cluster: Option<String>,
}

pub(super) const BROKER_STATUS_HELP: &str = "\
Examples:
  courier mqadmin broker-status -n 127.0.0.1:9876                  every master
  courier mqadmin brokerStatus -b 127.0.0.1:10911 --json | jq -r .commitLogMaxOffset

Each broker's runtime figures by name, as it reports them: messages put and got since it
started (msgPutTotalTodayNow, msgGetTotalTodayNow), its CommitLog offsets (flushedPhysOffset
trailing commitLogMaxOffset by more than a few MB means the disk is behind), pulls held by long
polling, topics, uptime and version.";

pub(super) const BROKER_CONFIG_HELP: &str = "\
Examples:
  courier mqadmin broker-config -n 127.0.0.1:9876                  every master
  courier mqadmin getBrokerConfig -b 127.0.0.1:10911 --json | jq -r .flushDiskType

The configuration each broker runs with, every key with its value, defaults included, under
RocketMQ's names (the keys of the broker's config file): check what a broker really uses.";

pub(super) const BROKER_CONSUME_STATS_HELP: &str = "\
Examples:
  courier mqadmin broker-consume-stats -n 127.0.0.1:9876               every master, every queue
  courier mqadmin brokerConsumeStats -b 127.0.0.1:10911 -l 1000        queues 1,000 or more behind
  courier mqadmin broker-consume-stats --json | jq '.brokers[].totalDiff'

Every consumer group's progress on each broker in one call: per topic the group has committed
offsets for, each queue's broker offset, the group's committed offset, the difference (its
lag) and when the last consumed message was stored. Topics the group's running consumers no
longer subscribe to are left out. For one group across all brokers, consumer-progress -g.";

pub(super) const UPDATE_BROKER_CONFIG_HELP: &str = "\
Examples:
  courier mqadmin update-broker-config -b 127.0.0.1:10911 -k brokerPermission -v 4
  courier mqadmin updateBrokerConfig -c DefaultCluster -k maxMessageSize -v 1048576

Changes one setting of a broker, or of every master of a cluster, under RocketMQ's key names.
Each broker says what it did. Most request-path keys apply at once: brokerPermission (4 =
read-only: producers move to other brokers, consumers drain this one; 6 = read and write again),
autoCreateTopicEnable, autoCreateSubscriptionGroup, namesrvAddr, maxMessageSize,
longPollingEnable, enablePropertyFilter and the other keys listed in the README. The rest (the
store's files and flushing, ports, names) are used only when the broker starts: they are written
to the broker's config file for its next start. A broker started from a config file saves every
change in it, keeping its comments; one started without a file keeps a change only until it
stops, and refuses start-only keys. An unknown key, a key listed in configBlackList, or a value
that does not fit is refused, and nothing changes.";

pub(super) const CONNECTION_HELP: &str = "\
Examples:
  courier mqadmin consumer-connection -n 127.0.0.1:9876 -g billing
  courier mqadmin producerConnection -g order-service --json | jq '.brokers[].connections[].clientId'

Every client of the group connected to each master broker: its client id, address, language and
version; for consumers also the group's consume type, model, where new queues start, and the
subscriptions the clients registered (clients of one group that subscribe differently fight over
queues). A client connects to every broker it uses, so it is listed once per broker.";

pub(super) const DELETE_TOPIC_HELP: &str = "\
Examples:
  courier mqadmin delete-topic -n 127.0.0.1:9876 -t OldEvents
  courier mqadmin deleteTopic -t OldEvents -c DefaultCluster

Deletes the topic from the brokers (its configuration and the consumer offsets kept for it),
then from every name server, so that producers and consumers stop finding it. Messages already
stored are not erased at once: they age out with the CommitLog (fileReservedTime). Producers
still sending to the topic re-create it on brokers that auto-create topics.";

/// `broker-status`: one block (or JSON member) per broker.
pub(super) async fn broker_status(admin: &Admin, a: &BrokerStatusArgs) -> anyhow::Result<String> {
    let mut all = Vec::new();
    for b in brokers_of(admin, a.broker.as_deref()).await? {
        let kv = admin.broker_runtime_info(&b).await?;
        all.push((b, kv));
    }
    Ok(per_broker(a, all))
}

/// `broker-config`: the same shape as `broker-status`.
pub(super) async fn broker_config(admin: &Admin, a: &BrokerStatusArgs) -> anyhow::Result<String> {
    let mut all = Vec::new();
    for b in brokers_of(admin, a.broker.as_deref()).await? {
        let kv = admin.broker_config(&b).await?;
        all.push((b, kv));
    }
    Ok(per_broker(a, all))
}

/// `broker-consume-stats`: one line per queue at or above the level, or JSON.
pub(super) async fn broker_consume_stats(
    admin: &Admin,
    a: &BrokerConsumeStatsArgs,
) -> anyhow::Result<String> {
    let mut all = Vec::new();
    for b in brokers_of(admin, a.broker.as_deref()).await? {
        let list = admin.broker_consume_stats(&b, a.ordered).await?;
        all.push((b, list));
    }
    // (broker, group, queue, progress) for every queue at or above the level.
    let rows = all.iter().flat_map(|(b, list)| {
        list.consume_stats_list
            .iter()
            .flat_map(move |(group, stats)| {
                stats.iter().flat_map(move |s| {
                    s.offset_table
                        .iter()
                        .filter(|(_, w)| w.diff() >= a.level)
                        .map(move |(q, w)| (b, group, q, w))
                })
            })
    });
    if a.common.json {
        let mut brokers = serde_json::Map::new();
        for (b, list) in &all {
            brokers.insert(
                b.clone(),
                json!({"totalDiff": list.total_diff, "queues": []}),
            );
        }
        for (b, group, q, w) in rows {
            let queue = json!({
                "group": group, "topic": q.topic, "brokerName": q.broker_name, "queueId": q.queue_id,
                "brokerOffset": w.broker_offset, "consumerOffset": w.consumer_offset,
                "diff": w.diff(), "lastTimestamp": w.last_timestamp,
            });
            if let Some(queues) = brokers[b.as_str()]["queues"].as_array_mut() {
                queues.push(queue);
            }
        }
        return Ok(format!("{}\n", json!({ "brokers": brokers })));
    }
    let mut out = format!(
        "{:<32}  {:<32}  {:<16}  {:>4}  {:>14}  {:>16}  {:>10}  {}\n",
        "#Topic",
        "#Group",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Diff",
        "#LastTime"
    );
    for (_, group, q, w) in rows {
        out.push_str(&format!(
            "{:<32}  {:<32}  {:<16}  {:>4}  {:>14}  {:>16}  {:>10}  {}\n",
            q.topic,
            group,
            q.broker_name,
            q.queue_id,
            w.broker_offset,
            w.consumer_offset,
            w.diff(),
            super::time_or_dash(w.last_timestamp)
        ));
    }
    for (b, list) in &all {
        out.push_str(&format!("Diff Total: {} ({b})\n", list.total_diff));
    }
    Ok(out)
}

/// `update-broker-config`: each broker's account of the change.
pub(super) async fn update_broker_config(
    admin: &Admin,
    a: &UpdateBrokerConfigArgs,
) -> anyhow::Result<String> {
    let brokers = match (&a.broker, &a.cluster) {
        (Some(b), _) => vec![b.clone()],
        (None, Some(c)) => admin.cluster_masters(c).await?,
        (None, None) => Vec::new(),
    };
    anyhow::ensure!(
        !brokers.is_empty(),
        "cluster {} has no master registered with the name server; `courier mqadmin clusterList` \
         shows the clusters",
        a.cluster.as_deref().unwrap_or_default()
    );
    let settings = [(a.key.clone(), a.value.clone())];
    let mut done = Vec::new();
    for b in brokers {
        let said = admin
            .update_broker_config(&b, &settings)
            .await
            .with_context(|| format!("broker {b} refused {}={}", a.key, a.value))?;
        done.push((b, said));
    }
    if a.common.json {
        let brokers: serde_json::Map<_, _> =
            done.into_iter().map(|(b, said)| (b, json!(said))).collect();
        return Ok(format!("{}\n", json!({ "brokers": brokers })));
    }
    Ok(done
        .into_iter()
        .map(|(b, said)| {
            let said = if said.is_empty() {
                "done".to_string()
            } else {
                said
            };
            format!("update broker config success, {b}: {said}\n")
        })
        .collect())
}

/// The broker `-b` names, or every master.
async fn brokers_of(admin: &Admin, broker: Option<&str>) -> anyhow::Result<Vec<String>> {
    let brokers = match broker {
        Some(b) => vec![b.to_string()],
        None => admin.master_addrs().await?,
    };
    anyhow::ensure!(
        !brokers.is_empty(),
        "the name server lists no broker; start one and let it register, or name one with -b"
    );
    Ok(brokers)
}

/// One block of `key : value` lines per broker, or JSON: the table itself for one broker named
/// with -b, else `{"brokers":{addr:table}}`.
fn per_broker(a: &BrokerStatusArgs, all: Vec<(String, BTreeMap<String, String>)>) -> String {
    if a.common.json {
        return match &all[..] {
            [(_, kv)] if a.broker.is_some() => format!("{}\n", json!(kv)),
            _ => {
                let brokers: serde_json::Map<_, _> =
                    all.into_iter().map(|(b, kv)| (b, json!(kv))).collect();
                format!("{}\n", json!({ "brokers": brokers }))
            }
        };
    }
    key_value_blocks("Broker", &all)
}

/// One block per server, `<what> <address>` then a `key : value` line per setting.
pub(super) fn key_value_blocks(what: &str, all: &[(String, BTreeMap<String, String>)]) -> String {
    let mut out = String::new();
    for (i, (addr, kv)) in all.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{what} {addr}\n"));
        for (k, v) in kv {
            out.push_str(&format!("  {k:<40} : {v}\n"));
        }
    }
    out
}

/// `consumer-connection`.
pub(super) async fn consumer_connection(
    admin: &Admin,
    a: &ConnectionArgs,
) -> anyhow::Result<String> {
    let all = admin.consumer_connection(&a.group).await?;
    anyhow::ensure!(
        !all.is_empty(),
        "no consumer of group {} is connected to any master broker",
        a.group
    );
    if a.common.json {
        let brokers: Vec<_> = all
            .iter()
            .map(|(b, c)| json!({"broker": b, "connection": c}))
            .collect();
        return Ok(format!(
            "{}\n",
            json!({"group": a.group, "brokers": brokers})
        ));
    }
    let mut out = connections_table(
        all.iter()
            .flat_map(|(b, c)| c.connection_set.iter().map(move |x| (b.as_str(), x))),
    );
    let (_, first) = &all[0];
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "\nConsume type: {}   Message model: {}   Consume from: {}\n\n{:<32} {}\n",
        or_dash(&first.consume_type),
        or_dash(&first.message_model),
        or_dash(&first.consume_from_where),
        "#Topic",
        "#Subscription"
    ));
    for (topic, s) in &first.subscription_table {
        out.push_str(&format!(
            "{topic:<32} {} ({})\n",
            s.sub_string, s.expression_type
        ));
    }
    Ok(out)
}

/// `producer-connection`.
pub(super) async fn producer_connection(
    admin: &Admin,
    a: &ConnectionArgs,
) -> anyhow::Result<String> {
    let all = admin.producer_connection(&a.group).await?;
    anyhow::ensure!(
        !all.is_empty(),
        "no producer of group {} is connected to any master broker (producers connect when they first send)",
        a.group
    );
    if a.common.json {
        let brokers: Vec<_> = all
            .iter()
            .map(|(b, c)| json!({"broker": b, "connections": c}))
            .collect();
        return Ok(format!(
            "{}\n",
            json!({"group": a.group, "brokers": brokers})
        ));
    }
    Ok(connections_table(
        all.iter()
            .flat_map(|(b, c)| c.iter().map(move |x| (b.as_str(), x))),
    ))
}

fn connections_table<'a>(
    rows: impl Iterator<Item = (&'a str, &'a courier_remoting::body::Connection)>,
) -> String {
    let mut out = format!(
        "{:<22} {:<40} {:<22} {:<8} {}\n",
        "#Broker", "#Client ID", "#Client Address", "#Lang", "#Version"
    );
    for (b, c) in rows {
        out.push_str(&format!(
            "{:<22} {:<40} {:<22} {:<8} {}\n",
            b, c.client_id, c.client_addr, c.language, c.version
        ));
    }
    out
}

/// `delete-topic`.
pub(super) async fn delete_topic(admin: &Admin, a: &DeleteTopicArgs) -> anyhow::Result<String> {
    let brokers = admin.delete_topic(&a.topic, a.cluster.as_deref()).await?;
    Ok(if a.common.json {
        format!("{}\n", json!({"topic": a.topic, "brokers": brokers}))
    } else {
        format!(
            "topic {} deleted from {} broker(s) ({}) and the name servers\n",
            a.topic,
            brokers.len(),
            brokers.join(", ")
        )
    })
}
