//! `courier mqadmin`: the RocketMQ admin commands operators reach for most, without a JVM — a
//! topic's status (per queue min and max offsets and when it last grew), a consumer group's
//! progress (per queue the broker's and the group's offsets and the lag between them), and
//! resetting a group's offsets to a point in time (re-consume from there, or skip the backlog). Works against any RocketMQ name server and brokers, Courier's or Apache's. Tables
//! on stdout, or one JSON document with `--json`.

use anyhow::Context;
use clap::{Args, Subcommand};
use courier_client::civil::{civil_from_days, days_from_civil, utc_iso8601_ms};
use courier_client::{Admin, GroupOnline, OffsetReset};
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
    /// Move a group's offsets to the first message stored at or after a time (re-consume or skip).
    #[command(alias = "resetOffsetByTime", after_help = RESET_OFFSET_HELP)]
    ResetOffset(ResetOffsetArgs),
}

/// What every admin command takes.
#[derive(Debug, Args)]
pub struct Common {
    /// Name server address(es), `;`-separated.
    #[arg(
        long,
        short = 'n',
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    pub namesrv: String,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `courier mqadmin reset-offset`
#[derive(Debug, Args)]
pub struct ResetOffsetArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer group.
    #[arg(long, short = 'g')]
    pub group: String,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Where to: milliseconds since the epoch, an ISO 8601 UTC time (2026-11-27T04:30:00Z,
    /// optionally with .mmm), or `now` (the end of every queue: skip the backlog).
    #[arg(long, short = 's', value_parser = parse_when)]
    pub timestamp: When,
    /// Only move offsets back (re-consume); leave queues already before that time alone.
    #[arg(long)]
    pub rewind_only: bool,
}

/// A `--timestamp`: a time, or the end of the queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(i64),
    Now,
}

/// `courier mqadmin topic-status`
#[derive(Debug, Args)]
pub struct TopicStatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
}

/// `courier mqadmin consumer-progress`
#[derive(Debug, Args)]
pub struct ConsumerProgressArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer group (default: a summary line for every group the cluster knows).
    #[arg(long, short = 'g')]
    pub group: Option<String>,
    /// Only this topic (default: every topic the group has consumed, on every broker).
    #[arg(long, short = 't', requires = "group")]
    pub topic: Option<String>,
}

const TOPIC_STATUS_HELP: &str = "\
Examples:
  courier mqadmin topic-status -n 127.0.0.1:9876 -t OrderEvents
  courier mqadmin topicStatus -t OrderEvents --json | jq '.queues[] | .maxOffset'

The put rate is messages per second over the last minute, summed over the brokers.";

const CONSUMER_PROGRESS_HELP: &str = "\
Examples:
  courier mqadmin consumer-progress -n 127.0.0.1:9876            every group: clients, rate, lag
  courier mqadmin consumer-progress -n 127.0.0.1:9876 -g billing
  courier mqadmin consumerProgress -g billing -t OrderEvents --json | jq .diffTotal

Diff is the broker offset minus the committed offset: messages the group has not confirmed yet.
Clients commit every few seconds, so a running group shows a small diff even when it keeps up;
a diff that keeps growing means the group falls behind. Broadcasting groups keep their offsets
in the clients and show none here.";

const RESET_OFFSET_HELP: &str = "\
Examples:
  courier mqadmin reset-offset -n 127.0.0.1:9876 -g billing -t OrderEvents -s 2026-11-27T04:00:00Z
  courier mqadmin resetOffsetByTime -g billing -t OrderEvents -s now       skip the backlog

The group may be running: each broker moves it at its next pull (RocketMQ 5's server-side reset;
Courier's brokers too). A broker that cannot do that gets the offsets queue by queue, which needs
the group's consumers stopped first (the command refuses otherwise). Each queue moves to the first
message stored at or after the time (to its end for `now`, or for a time after its last message).";

/// Parses `--timestamp`.
fn parse_when(s: &str) -> Result<When, String> {
    if s.eq_ignore_ascii_case("now") {
        return Ok(When::Now);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return if ms >= 0 {
            Ok(When::At(ms))
        } else {
            Err("a time before 1970 is not a store time".into())
        };
    }
    parse_iso_utc(s).map(When::At).ok_or_else(|| {
        format!("`{s}` is not a time; use milliseconds since the epoch, `now`, or UTC like 2026-11-27T04:30:00Z")
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z` as milliseconds since the epoch.
fn parse_iso_utc(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, millis) = match time.split_once('.') {
        Some((hms, frac)) if frac.len() == 3 => (hms, frac.parse::<i64>().ok()?),
        Some(_) => return None,
        None => (time, 0),
    };
    let mut t = hms.splitn(3, ':').map(str::parse::<i64>);
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&da)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60).contains(&se);
    if !valid {
        return None;
    }
    let days = days_from_civil(y, mo as u32, da as u32);
    // A day past the month's end (2026-02-30) would roll over: refuse it instead.
    if civil_from_days(days) != (y, mo as u32, da as u32) {
        return None;
    }
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + millis)
}

/// Runs one admin view and prints it.
pub fn run(args: MqadminArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    runtime.block_on(async move {
        match args.command {
            MqadminCommand::TopicStatus(a) => {
                let admin = connect(&a.common.namesrv)?;
                let t = admin.topic_status(&a.topic).await;
                admin.shutdown().await;
                let t = t.with_context(|| format!("could not read the status of topic {}", a.topic))?;
                print!("{}", if a.common.json { topic_json(&a.topic, &t) } else { topic_table(&t) });
            }
            MqadminCommand::ConsumerProgress(a) => {
                let admin = connect(&a.common.namesrv)?;
                let Some(group) = a.group else {
                    let all = all_groups(&admin).await;
                    admin.shutdown().await;
                    let all = all.context("could not list the consumer groups' progress")?;
                    print!("{}", if a.common.json { groups_json(&all) } else { groups_table(&all) });
                    return Ok(());
                };
                let c = admin.consumer_progress(&group, a.topic.as_deref()).await;
                admin.shutdown().await;
                let c = c.with_context(|| format!("could not read the progress of group {group}"))?;
                if c.offset_table.is_empty() && !a.common.json {
                    eprintln!(
                        "group {group} has no committed offsets{}; check the group name (it is case-sensitive)",
                        a.topic.as_deref().map(|t| format!(" on topic {t}")).unwrap_or_default()
                    );
                }
                print!("{}", if a.common.json { progress_json(&group, &c) } else { progress_table(&c) });
            }
            MqadminCommand::ResetOffset(a) => {
                let admin = connect(&a.common.namesrv)?;
                let when = match a.timestamp {
                    When::At(ms) => Some(ms),
                    When::Now => None,
                };
                let r = admin
                    .reset_offset_by_time(&a.group, &a.topic, when, !a.rewind_only)
                    .await;
                admin.shutdown().await;
                let r = r.with_context(|| {
                    format!("could not reset the offsets of group {} on topic {}", a.group, a.topic)
                })?;
                print!("{}", if a.common.json { reset_json(&a.group, &r) } else { reset_table(&r) });
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
            w.diff(),
            time_or_dash(w.last_timestamp)
        ));
    }
    out.push_str(&format!(
        "\nConsume TPS (last minute): {:.2}\nDiff Total: {}\n",
        c.consume_tps,
        c.total_diff()
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
                "diff": w.diff(),
                "lastTimestamp": w.last_timestamp,
            })
        })
        .collect();
    let doc = json!({
        "group": group,
        "consumeTps": c.consume_tps,
        "diffTotal": c.total_diff(),
        "queues": queues,
    });
    format!("{doc}\n")
}

/// One line of the all-groups summary.
struct GroupSummary {
    group: String,
    online: GroupOnline,
    stats: ConsumeStats,
}

/// Every group's clients online and progress, as Java's `consumerProgress` without `-g` lists them.
async fn all_groups(admin: &Admin) -> anyhow::Result<Vec<GroupSummary>> {
    let mut out = Vec::new();
    for group in admin.consumer_groups().await? {
        let online = admin.consumer_connections(&group).await?;
        let stats = admin.consumer_progress(&group, None).await?;
        out.push(GroupSummary {
            group,
            online,
            stats,
        });
    }
    Ok(out)
}

fn groups_table(all: &[GroupSummary]) -> String {
    let mut out = format!(
        "{:<40} {:>6} {:<18} {:<13} {:>10} {:>12}\n",
        "#Group", "#Count", "#Type", "#Model", "#TPS", "#Diff Total"
    );
    for g in all {
        out.push_str(&format!(
            "{:<40} {:>6} {:<18} {:<13} {:>10.2} {:>12}\n",
            g.group,
            g.online.clients,
            g.online.consume_type.as_deref().unwrap_or("-"),
            g.online.message_model.as_deref().unwrap_or("-"),
            g.stats.consume_tps,
            g.stats.total_diff()
        ));
    }
    out
}

fn groups_json(all: &[GroupSummary]) -> String {
    let groups: Vec<_> = all
        .iter()
        .map(|g| {
            json!({
                "group": g.group,
                "clients": g.online.clients,
                "consumeType": g.online.consume_type,
                "messageModel": g.online.message_model,
                "consumeTps": g.stats.consume_tps,
                "diffTotal": g.stats.total_diff(),
            })
        })
        .collect();
    format!("{}\n", json!({ "groups": groups }))
}

fn reset_table(r: &[OffsetReset]) -> String {
    let mut out = format!(
        "{:<32} {:<24} {:>4} {:>14} {:>14}\n",
        "#Topic", "#Broker Name", "#QID", "#Old Offset", "#New Offset"
    );
    for x in r {
        out.push_str(&format!(
            "{:<32} {:<24} {:>4} {:>14} {:>14}\n",
            x.queue.topic,
            x.queue.broker_name,
            x.queue.queue_id,
            x.old.map_or_else(|| "-".to_string(), |o| o.to_string()),
            x.new
        ));
    }
    out.push_str(&format!(
        "\n{} queues reset; a running group continues from these offsets at its next pull\n",
        r.len()
    ));
    out
}

fn reset_json(group: &str, r: &[OffsetReset]) -> String {
    let queues: Vec<_> = r
        .iter()
        .map(|x| {
            json!({
                "topic": x.queue.topic,
                "brokerName": x.queue.broker_name,
                "queueId": x.queue.queue_id,
                "oldOffset": x.old,
                "newOffset": x.new,
            })
        })
        .collect();
    format!("{}\n", json!({ "group": group, "queues": queues }))
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
    fn timestamps_parse_as_millis_now_or_utc() {
        assert_eq!(parse_when("now"), Ok(When::Now));
        assert_eq!(parse_when("0"), Ok(When::At(0)));
        assert_eq!(parse_when("1795753812345"), Ok(When::At(1_795_753_812_345)));
        assert_eq!(
            parse_when("2026-11-27T04:30:12Z"),
            Ok(When::At(1_795_753_812_000))
        );
        assert_eq!(
            parse_when("2026-11-27T04:30:12.345Z"),
            Ok(When::At(1_795_753_812_345))
        );
        assert_eq!(
            parse_when("2000-02-29T00:00:00Z"),
            Ok(When::At(951_782_400_000))
        );
        for bad in [
            "-5",
            "yesterday",
            "2026-11-27T04:30:12",
            "2026-11-27 04:30:12Z",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T04:30:12.3Z",
        ] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
        for ms in [0, 1, 951_782_400_123, 1_795_753_812_345] {
            assert_eq!(parse_when(&utc_iso8601_ms(ms)), Ok(When::At(ms)));
        }
    }

    #[test]
    fn no_timestamp_prints_as_a_dash() {
        assert_eq!(time_or_dash(0), "-");
        assert_eq!(time_or_dash(-1), "-");
        assert_eq!(time_or_dash(1), "1970-01-01T00:00:00.001Z");
    }
}
