//! `stats-all` (Java's `statsAll`): each topic's traffic and each of its consumer groups' — the
//! backlog, messages in and out per second over the last minute, and in the last 24 hours.

use clap::Args;
use courier_client::{Admin, TopicTraffic};
use serde_json::json;

use super::Common;

/// `courier mqadmin stats-all`
#[derive(Debug, Args)]
pub struct StatsAllArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only this topic (default: every topic but the %RETRY% and %DLQ% ones).
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// Only topics with traffic in the last 24 hours or a backlog.
    #[arg(long, short = 'a')]
    pub active: bool,
}

pub(super) const STATS_ALL_HELP: &str = "\
Examples:
  courier mqadmin stats-all -n 127.0.0.1:9876 -a          topics with traffic or a backlog
  courier mqadmin statsAll -t OrderEvents --json | jq '.topics[0].groups'

Per topic and consumer group: the backlog (#Accumulation: messages stored but not consumed), the
rates in and out over the last minute, and the messages put and consumed in the last 24 hours
(kept by each broker since it started, in hourly steps). A topic nobody consumes shows one line
with no group.";

/// One line per (topic, group), or JSON.
pub(super) async fn stats_all(admin: &Admin, a: &StatsAllArgs) -> anyhow::Result<String> {
    let topics = match &a.topic {
        Some(t) => vec![t.clone()],
        None => admin
            .topic_list()
            .await?
            .into_iter()
            .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
            .collect(),
    };
    let mut all: Vec<TopicTraffic> = Vec::new();
    for topic in topics {
        match admin.topic_traffic(&topic).await {
            Ok(t) => all.push(t),
            // A topic deleted meanwhile, or one only a name server knows: named, not fatal.
            Err(e) if a.topic.is_none() => eprintln!("skipped topic {topic}: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    if a.active {
        all.retain(|t| {
            t.in_day > 0 || t.groups.iter().any(|g| g.out_day > 0 || g.accumulation > 0)
        });
    }
    if a.common.json {
        let topics: Vec<_> = all
            .iter()
            .map(|t| {
                let groups: Vec<_> = t
                    .groups
                    .iter()
                    .map(|g| {
                        json!({"group": g.group, "accumulation": g.accumulation,
                            "outTps": g.out_tps, "outMsg24Hour": g.out_day})
                    })
                    .collect();
                json!({"topic": t.topic, "inTps": t.in_tps, "inMsg24Hour": t.in_day, "groups": groups})
            })
            .collect();
        return Ok(format!("{}\n", json!({ "topics": topics })));
    }
    let line = |topic: &str,
                group: &str,
                acc: String,
                in_tps: f64,
                out: String,
                in_day: i64,
                out_day: String| {
        format!("{topic:<40}  {group:<40}  {acc:>12}  {in_tps:>11.2}  {out:>11}  {in_day:>14}  {out_day:>14}\n")
    };
    let mut out = format!(
        "{:<40}  {:<40}  {:>12}  {:>11}  {:>11}  {:>14}  {:>14}\n",
        "#Topic",
        "#Consumer Group",
        "#Accumulation",
        "#InTPS",
        "#OutTPS",
        "#InMsg24Hour",
        "#OutMsg24Hour"
    );
    for t in &all {
        if t.groups.is_empty() {
            out.push_str(&line(
                &t.topic,
                "",
                String::new(),
                t.in_tps,
                String::new(),
                t.in_day,
                String::new(),
            ));
        }
        for g in &t.groups {
            out.push_str(&line(
                &t.topic,
                &g.group,
                g.accumulation.to_string(),
                t.in_tps,
                format!("{:.2}", g.out_tps),
                t.in_day,
                g.out_day.to_string(),
            ));
        }
    }
    Ok(out)
}
