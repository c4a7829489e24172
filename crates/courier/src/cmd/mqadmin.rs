//! `courier mqadmin`: the two RocketMQ admin views operators reach for most, without a JVM —
//! a topic's status (per queue min and max offsets and when it last grew) and a consumer group's
//! progress (per queue the broker's and the group's offsets and the lag between them). Works
//! against any RocketMQ name server and broker that answer GET_TOPIC_STATS_INFO and
//! GET_CONSUME_STATS, Courier's or Apache's. Tables on stdout, or one JSON document with `--json`.

use anyhow::Context;
use clap::{Args, Subcommand};
use courier_client::civil::utc_iso8601_ms;
use courier_client::Admin;
use courier_remoting::body::{ConsumeStats, TopicStatsTable};
use serde_json::json;

/// `courier mqadmin ...`
#[derive(Debug, Args)]
pub struct MqadminArgs {
    #[command(subcommand)]
    pub command: MqadminCommand,
}

/// The admin views.
#[derive(Debug, Subcommand)]
pub enum MqadminCommand {
    /// Per queue of a topic: min and max offsets and when its newest message was stored.
    #[command(alias = "topicStatus", after_help = TOPIC_STATUS_HELP)]
    TopicStatus(TopicStatusArgs),
    /// Per queue a consumer group reads: broker offset, committed offset and the lag (diff).
    #[command(alias = "consumerProgress", after_help = CONSUMER_PROGRESS_HELP)]
    ConsumerProgress(ConsumerProgressArgs),
}

/// `courier mqadmin topic-status`
#[derive(Debug, Args)]
pub struct TopicStatusArgs {
    /// Name server address(es), `;`-separated.
    #[arg(
        long,
        short = 'n',
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    pub namesrv: String,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `courier mqadmin consumer-progress`
#[derive(Debug, Args)]
pub struct ConsumerProgressArgs {
    /// Name server address(es), `;`-separated.
    #[arg(
        long,
        short = 'n',
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    pub namesrv: String,
    /// The consumer group.
    #[arg(long, short = 'g')]
    pub group: String,
    /// Only this topic (default: every topic the group has consumed, on every broker).
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

const TOPIC_STATUS_HELP: &str = "\
Examples:
  courier mqadmin topic-status -n 127.0.0.1:9876 -t OrderEvents
  courier mqadmin topicStatus -t OrderEvents --json | jq '.queues[] | .maxOffset'

The put rate is messages per second over the last minute, summed over the brokers.";

const CONSUMER_PROGRESS_HELP: &str = "\
Examples:
  courier mqadmin consumer-progress -n 127.0.0.1:9876 -g billing
  courier mqadmin consumerProgress -g billing -t OrderEvents --json | jq .diffTotal

Diff is the broker offset minus the committed offset: messages the group has not confirmed yet.
Clients commit every few seconds, so a running group shows a small diff even when it keeps up;
a diff that keeps growing means the group falls behind. Broadcasting groups keep their offsets
in the clients and show none here.";

/// Runs one admin view and prints it.
pub fn run(args: MqadminArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    runtime.block_on(async move {
        match args.command {
            MqadminCommand::TopicStatus(a) => {
                let admin = connect(&a.namesrv)?;
                let t = admin.topic_status(&a.topic).await;
                admin.shutdown().await;
                let t = t.with_context(|| format!("could not read the status of topic {}", a.topic))?;
                print!("{}", if a.json { topic_json(&a.topic, &t) } else { topic_table(&t) });
            }
            MqadminCommand::ConsumerProgress(a) => {
                let admin = connect(&a.namesrv)?;
                let c = admin.consumer_progress(&a.group, a.topic.as_deref()).await;
                admin.shutdown().await;
                let c = c.with_context(|| format!("could not read the progress of group {}", a.group))?;
                if c.offset_table.is_empty() && !a.json {
                    eprintln!(
                        "group {} has no committed offsets{}; check the group name (it is case-sensitive)",
                        a.group,
                        a.topic.as_deref().map(|t| format!(" on topic {t}")).unwrap_or_default()
                    );
                }
                print!("{}", if a.json { progress_json(&a.group, &c) } else { progress_table(&c) });
            }
        }
        Ok(())
    })
}

fn connect(namesrv: &str) -> anyhow::Result<Admin> {
    Admin::connect(namesrv).with_context(|| {
        format!("could not set up a client for name server {namesrv}; check --namesrv")
    })
}

fn topic_table(t: &TopicStatsTable) -> String {
    let mut out = format!(
        "{:<32} {:>4} {:>14} {:>14}  {}\n",
        "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
    );
    for (mq, o) in &t.offset_table {
        out.push_str(&format!(
            "{:<32} {:>4} {:>14} {:>14}  {}\n",
            mq.broker_name,
            mq.queue_id,
            o.min_offset,
            o.max_offset,
            time_or_dash(o.last_update_timestamp)
        ));
    }
    out.push_str(&format!(
        "\nPut TPS (last minute): {:.2}\n",
        t.topic_put_tps
    ));
    out
}

fn topic_json(topic: &str, t: &TopicStatsTable) -> String {
    let queues: Vec<_> = t
        .offset_table
        .iter()
        .map(|(mq, o)| {
            json!({
                "brokerName": mq.broker_name,
                "queueId": mq.queue_id,
                "minOffset": o.min_offset,
                "maxOffset": o.max_offset,
                "lastUpdateTimestamp": o.last_update_timestamp,
            })
        })
        .collect();
    let doc = json!({ "topic": topic, "putTps": t.topic_put_tps, "queues": queues });
    format!("{doc}\n")
}

fn diff_total(c: &ConsumeStats) -> i64 {
    c.offset_table
        .iter()
        .map(|(_, w)| (w.broker_offset - w.consumer_offset).max(0))
        .sum()
}

fn progress_table(c: &ConsumeStats) -> String {
    let mut out = format!(
        "{:<32} {:<24} {:>4} {:>14} {:>16} {:>10}  {}\n",
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Diff",
        "#LastTime"
    );
    for (mq, w) in &c.offset_table {
        out.push_str(&format!(
            "{:<32} {:<24} {:>4} {:>14} {:>16} {:>10}  {}\n",
            mq.topic,
            mq.broker_name,
            mq.queue_id,
            w.broker_offset,
            w.consumer_offset,
            (w.broker_offset - w.consumer_offset).max(0),
            time_or_dash(w.last_timestamp)
        ));
    }
    out.push_str(&format!(
        "\nConsume TPS (last minute): {:.2}\nDiff Total: {}\n",
        c.consume_tps,
        diff_total(c)
    ));
    out
}

fn progress_json(group: &str, c: &ConsumeStats) -> String {
    let queues: Vec<_> = c
        .offset_table
        .iter()
        .map(|(mq, w)| {
            json!({
                "topic": mq.topic,
                "brokerName": mq.broker_name,
                "queueId": mq.queue_id,
                "brokerOffset": w.broker_offset,
                "consumerOffset": w.consumer_offset,
                "diff": (w.broker_offset - w.consumer_offset).max(0),
                "lastTimestamp": w.last_timestamp,
            })
        })
        .collect();
    let doc = json!({
        "group": group,
        "consumeTps": c.consume_tps,
        "diffTotal": diff_total(c),
        "queues": queues,
    });
    format!("{doc}\n")
}

/// A store timestamp (ms since the epoch) as UTC ISO 8601, or "-" when there is none (≤ 0).
fn time_or_dash(ms: i64) -> String {
    if ms <= 0 {
        "-".to_string()
    } else {
        utc_iso8601_ms(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_timestamp_prints_as_a_dash() {
        assert_eq!(time_or_dash(0), "-");
        assert_eq!(time_or_dash(-1), "-");
        assert_eq!(time_or_dash(1), "1970-01-01T00:00:00.001Z");
    }
}
