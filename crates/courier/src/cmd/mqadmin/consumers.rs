//! The mqadmin views that ask a group's consumers themselves, through a broker they are
//! connected to: `consumer-status` (Java's `consumerStatus`: each client's settings,
//! subscriptions, queues and rates, and whether the group's clients agree on what they
//! subscribe to), `get-consumer-status` (Java's `getConsumerStatus`: the offsets each client holds
//! for a topic) and the direct consumption `query-msg-by-id -g GROUP -d CLIENT` asks for.

use clap::Args;
use courier_client::{Admin, ConsumerStatus};
use courier_remoting::body::{prop, CmResult, ConsumeMessageDirectlyResult, ConsumerRunningInfo};
use serde_json::json;

use super::{time_or_dash, Common};

/// `courier mqadmin consumer-status`
#[derive(Debug, Args)]
pub struct ConsumerStatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer group.
    #[arg(long, short = 'g')]
    pub group: String,
    /// Only this client (its client id, as the summary lists it), shown in full.
    #[arg(long = "client-id", short = 'i')]
    pub client_id: Option<String>,
}

/// `courier mqadmin get-consumer-status`
#[derive(Debug, Args)]
pub struct HeldOffsetsArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer group.
    #[arg(long, short = 'g')]
    pub group: String,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Only this client (its client id).
    #[arg(long = "client-id", short = 'i')]
    pub client_id: Option<String>,
}

pub(super) const HELD_OFFSETS_HELP: &str = "\
Examples:
  courier mqadmin get-consumer-status -n 127.0.0.1:9876 -g billing -t OrderEvents
  courier mqadmin getConsumerStatus -g billing -t OrderEvents --json | jq '.clients'

The offsets each client of the group holds in memory for the topic's queues, asked through a
broker the clients are connected to. A consumer commits them every few seconds, so they may be
ahead of consumer-progress's committed offsets; a queue whose offset stays put while
consumer-progress shows a lag is stuck in that client.";

pub(super) const CONSUMER_STATUS_HELP: &str = "\
Examples:
  courier mqadmin consumer-status -n 127.0.0.1:9876 -g billing          one line per client
  courier mqadmin consumerStatus -g billing -i 10.0.0.7@12345#1700000000 that client in full
  courier mqadmin consumer-status -g billing --json | jq '.clients[].info.statusTable'

Each client of the group is asked through a broker it is connected to; the broker forwards the
question and the client answers itself, so a client that is busy or stuck shows as not answering.
The summary warns when the group's clients subscribe to different topics or expressions, which
makes them fight over queues. Rates are per second over the last minute, as the client counts
them; a client's view of a queue (cached messages, last pull) is what to look at when
consumer-progress shows a lag that does not shrink.";

/// Prints what `a` asks for.
pub(super) async fn consumer_status(
    admin: &Admin,
    a: &ConsumerStatusArgs,
) -> anyhow::Result<String> {
    let all = admin
        .consumer_running_info(&a.group, a.client_id.as_deref())
        .await?;
    if all.is_empty() {
        match &a.client_id {
            Some(id) => anyhow::bail!(
                "client {id} is not online in group {}; list the group's clients with consumer-status -g {}",
                a.group,
                a.group
            ),
            None => anyhow::bail!(
                "no consumer of group {} is online; start one (consumer-progress shows the group's offsets meanwhile)",
                a.group
            ),
        }
    }
    Ok(match (a.common.json, a.client_id.is_some()) {
        (true, _) => status_json(&a.group, &all),
        (false, true) => all.iter().map(client_text).collect(),
        (false, false) => summary_table(&all),
    })
}

/// `get-consumer-status`: one line per client and queue, or JSON.
pub(super) async fn held_offsets(admin: &Admin, a: &HeldOffsetsArgs) -> anyhow::Result<String> {
    let held = admin
        .consumer_offsets_held(&a.group, &a.topic, a.client_id.as_deref())
        .await?;
    if a.common.json {
        let clients: serde_json::Map<_, _> = held
            .iter()
            .map(|(client, table)| {
                let queues: Vec<_> = table
                    .iter()
                    .map(|(q, o)| json!({"brokerName": q.broker_name, "queueId": q.queue_id, "offset": o}))
                    .collect();
                (client.clone(), json!(queues))
            })
            .collect();
        return Ok(format!(
            "{}\n",
            json!({"group": a.group, "topic": a.topic, "clients": clients})
        ));
    }
    let mut out = format!(
        "get consumer status from client. group={}, topic={}, originClientId={}\n",
        a.group,
        a.topic,
        a.client_id.as_deref().unwrap_or("")
    );
    out.push_str(&format!(
        "{:<50}  {:<15}  {:<8}  {}\n",
        "#clientId", "#brokerName", "#queueId", "#offset"
    ));
    for (client, table) in &held {
        if table.is_empty() {
            out.push_str(&format!("{client:<50}  (holds no offset for this topic)\n"));
        }
        for (q, offset) in table {
            out.push_str(&format!(
                "{client:<50}  {:<15}  {:<8}  {offset}\n",
                q.broker_name, q.queue_id
            ));
        }
    }
    if held.is_empty() {
        out.push_str("(no client answered in time)\n");
    }
    Ok(out)
}

/// True when every client that answered subscribes to the same topics with the same
/// expressions (Java's `analyzeSubscription`); clients that did not answer are left out.
fn same_subscriptions(all: &[ConsumerStatus]) -> bool {
    let mut sets = all.iter().filter_map(|s| s.info.as_ref().ok()).map(|i| {
        i.subscription_set
            .iter()
            .map(|d| (d.topic.as_str(), d.sub_string.as_str()))
            .collect::<Vec<_>>()
    });
    let Some(first) = sets.next() else {
        return true;
    };
    sets.all(|s| s == first)
}

fn summary_table(all: &[ConsumerStatus]) -> String {
    let mut out = format!(
        "{:<40} {:<22} {:<8} {:>7} {:>7} {:>10} {:>10} {:>9}\n",
        "#Client ID", "#Address", "#Lang", "#Queues", "#Cached", "#OK TPS", "#Fail TPS", "#Pull RT"
    );
    for s in all {
        match &s.info {
            Ok(i) => {
                let cached: i64 = i
                    .mq_table
                    .iter()
                    .map(|(_, q)| q.cached_msg_count as i64)
                    .sum();
                let ok: f64 = i.status_table.values().map(|r| r.consume_ok_tps).sum();
                let failed: f64 = i.status_table.values().map(|r| r.consume_failed_tps).sum();
                let pull_rt = i
                    .status_table
                    .values()
                    .map(|r| r.pull_rt)
                    .fold(0.0, f64::max);
                out.push_str(&format!(
                    "{:<40} {:<22} {:<8} {:>7} {:>7} {:>10.1} {:>10.1} {:>7.1}ms\n",
                    s.client_id,
                    s.client_addr,
                    s.language,
                    i.mq_table.len(),
                    cached,
                    ok,
                    failed,
                    pull_rt
                ));
            }
            Err(why) => out.push_str(&format!(
                "{:<40} {:<22} {:<8} did not answer: {why}\n",
                s.client_id, s.client_addr, s.language
            )),
        }
    }
    if same_subscriptions(all) {
        out.push_str("\nEvery client subscribes to the same topics and expressions.\n");
    } else {
        out.push_str(
            "\nWARNING: the clients subscribe differently; queues are shared out as if they did not, so some messages \
             reach a client that filters them away. Give every client of a group the same subscriptions.\n",
        );
    }
    out
}

/// One client in full: the `-i` view.
fn client_text(s: &ConsumerStatus) -> String {
    let mut out = format!(
        "Client {} at {} ({} client, version ordinal {}), asked through broker {}\n",
        s.client_id, s.client_addr, s.language, s.version, s.broker
    );
    let i = match &s.info {
        Ok(i) => i,
        Err(why) => {
            out.push_str(&format!("It did not answer: {why}\n"));
            return out;
        }
    };
    out.push_str("\n#Setting                         #Value\n");
    for (k, v) in &i.properties {
        out.push_str(&format!("{k:<32} {}\n", setting_value(k, v)));
    }
    out.push_str("\n#Topic                           #Expression\n");
    for d in &i.subscription_set {
        out.push_str(&format!(
            "{:<32} {} ({})\n",
            d.topic, d.sub_string, d.expression_type
        ));
    }
    out.push_str(&format!(
        "\n{:<32} {:<16} {:>4} {:>12} {:>7} {:>12} {:>12} {:>6}  {:<24}  {}\n",
        "#Topic",
        "#Broker",
        "#QID",
        "#Commit",
        "#Cached",
        "#Min",
        "#Max",
        "#Lock",
        "#Last Pull",
        "#Last Consume"
    ));
    for (q, p) in &i.mq_table {
        out.push_str(&format!(
            "{:<32} {:<16} {:>4} {:>12} {:>7} {:>12} {:>12} {:>6}  {:<24}  {}\n",
            q.topic,
            q.broker_name,
            q.queue_id,
            p.commit_offset,
            p.cached_msg_count,
            p.cached_msg_min_offset,
            p.cached_msg_max_offset,
            if p.locked { "yes" } else { "-" },
            time_or_dash(p.last_pull_timestamp),
            time_or_dash(p.last_consume_timestamp)
        ));
    }
    out.push_str(&format!(
        "\n{:<32} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}\n",
        "#Topic", "#Pull TPS", "#Pull RT", "#OK TPS", "#Fail TPS", "#Cons RT", "#Failed 1h"
    ));
    for (topic, r) in &i.status_table {
        out.push_str(&format!(
            "{:<32} {:>10.1} {:>8.1}ms {:>10.1} {:>10.1} {:>8.1}ms {:>12}\n",
            topic,
            r.pull_tps,
            r.pull_rt,
            r.consume_ok_tps,
            r.consume_failed_tps,
            r.consume_rt,
            r.consume_failed_msgs
        ));
    }
    if let Some(j) = &i.jstack {
        out.push_str(&format!("\n{j}\n"));
    }
    out
}

/// A setting as people read it: the start time as a date besides its milliseconds.
fn setting_value(key: &str, v: &str) -> String {
    match (key, v.parse::<i64>()) {
        (prop::CONSUMER_START_TIMESTAMP, Ok(ms)) => format!("{v} ({})", time_or_dash(ms)),
        _ => v.to_string(),
    }
}

fn info_json(i: &ConsumerRunningInfo) -> serde_json::Value {
    let queues: Vec<_> = i
        .mq_table
        .iter()
        .map(|(q, p)| json!({"topic": q.topic, "brokerName": q.broker_name, "queueId": q.queue_id, "processQueue": p}))
        .collect();
    json!({
        "properties": i.properties,
        "subscriptionSet": i.subscription_set,
        "mqTable": queues,
        "statusTable": i.status_table,
        "jstack": i.jstack,
    })
}

fn status_json(group: &str, all: &[ConsumerStatus]) -> String {
    let clients: Vec<_> = all
        .iter()
        .map(|s| {
            let (info, error) = match &s.info {
                Ok(i) => (info_json(i), serde_json::Value::Null),
                Err(e) => (serde_json::Value::Null, json!(e)),
            };
            json!({
                "clientId": s.client_id,
                "clientAddr": s.client_addr,
                "language": s.language,
                "version": s.version,
                "broker": s.broker,
                "info": info,
                "error": error,
            })
        })
        .collect();
    format!(
        "{}\n",
        json!({"group": group, "sameSubscriptions": same_subscriptions(all), "clients": clients})
    )
}

/// The verdict of a direct consumption, as a line or JSON.
pub(super) fn direct_result(
    client_id: &str,
    r: &ConsumeMessageDirectlyResult,
    as_json: bool,
) -> String {
    if as_json {
        return format!("{}\n", serde_json::to_string(r).unwrap_or_default());
    }
    let verdict = match r.consume_result {
        Some(CmResult::CrSuccess) => "consumed it (CR_SUCCESS)",
        Some(CmResult::CrLater) => "asked for it later (CR_LATER)",
        Some(CmResult::CrThrowException) => "failed on it (CR_THROW_EXCEPTION)",
        Some(CmResult::CrReturnNull) => "returned no verdict (CR_RETURN_NULL)",
        Some(CmResult::CrCommit) => "committed it (CR_COMMIT)",
        Some(CmResult::CrRollback) => "rolled it back (CR_ROLLBACK)",
        None => "gave no verdict",
    };
    let mut line = format!("client {client_id} {verdict} in {} ms", r.spent_time_mills);
    if let Some(remark) = &r.remark {
        line.push_str(&format!(": {remark}"));
    }
    line.push('\n');
    line
}
