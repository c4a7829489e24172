//! `consume-time-span` (Java's admin API `queryConsumeTimeSpan`): a consumer group's lag on a
//! topic in store times, per queue: how long its next message has waited.

use clap::Args;
use courier_client::Admin;
use courier_remoting::body::QueueTimeSpan;
use serde_json::json;

use super::{time_or_dash, Common};

/// `courier mqadmin consume-time-span`
#[derive(Debug, Args)]
pub struct TimeSpanArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer group.
    #[arg(long, short = 'g')]
    pub group: String,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
}

pub(super) const TIME_SPAN_HELP: &str = "\
Examples:
  courier mqadmin consume-time-span -n 127.0.0.1:9876 -g billing -t OrderEvents
  courier mqadmin queryConsumeTimeSpan -g billing -t OrderEvents --json | jq '[.queues[].delayMs] | max'

A group's lag in time rather than messages, per queue of the topic on every broker: the store
times of the queue's oldest and newest messages, of the last message the group consumed, and
how long its next message has been waiting (#Delay; 0 when it is caught up). 100,000 messages
behind can be one second of traffic or a day of it; the delay says which, so it is the figure to
alert on. A group with no committed offset on a queue starts at its oldest message.";

/// One line per queue, or JSON.
pub(super) async fn time_span(admin: &Admin, a: &TimeSpanArgs) -> anyhow::Result<String> {
    let spans = admin.consume_time_span(&a.group, &a.topic).await?;
    Ok(if a.common.json {
        render_json(a, &spans)
    } else {
        render_table(&spans)
    })
}

fn render_json(a: &TimeSpanArgs, spans: &[QueueTimeSpan]) -> String {
    let queues: Vec<_> = spans
        .iter()
        .map(|s| {
            json!({
                "brokerName": s.message_queue.broker_name,
                "queueId": s.message_queue.queue_id,
                "minTimeStamp": s.min_time_stamp,
                "maxTimeStamp": s.max_time_stamp,
                "consumeTimeStamp": s.consume_time_stamp,
                "delayMs": s.delay_time,
            })
        })
        .collect();
    format!(
        "{}\n",
        json!({"group": a.group, "topic": a.topic, "queues": queues})
    )
}

fn render_table(spans: &[QueueTimeSpan]) -> String {
    let mut out = format!(
        "{:<22} {:<4} {:<24} {:<24} {:<24} {}\n",
        "#Broker", "#QID", "#Oldest", "#Newest", "#Consumed Up To", "#Delay"
    );
    for s in spans {
        out.push_str(&format!(
            "{:<22} {:<4} {:<24} {:<24} {:<24} {}\n",
            s.message_queue.broker_name,
            s.message_queue.queue_id,
            time_or_dash(s.min_time_stamp),
            time_or_dash(s.max_time_stamp),
            time_or_dash(s.consume_time_stamp),
            delay_text(s.delay_time)
        ));
    }
    out
}

/// A wait in milliseconds as people read it: "0", "850 ms", "12.4 s", "3 h 05 min".
fn delay_text(ms: i64) -> String {
    match ms {
        ..=0 => "0".to_string(),
        1..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_remoting::body::MessageQueue;

    #[test]
    fn delays_read_as_people_say_them() {
        assert_eq!(delay_text(0), "0");
        assert_eq!(delay_text(850), "850 ms");
        assert_eq!(delay_text(12_400), "12.4 s");
        assert_eq!(delay_text(125_000), "2 min 05 s");
        assert_eq!(delay_text(3 * 3_600_000 + 5 * 60_000), "3 h 05 min");
    }

    #[test]
    fn one_line_per_queue_with_dashes_for_no_message() {
        let spans = [QueueTimeSpan {
            consume_time_stamp: -1,
            delay_time: 0,
            max_time_stamp: -1,
            message_queue: MessageQueue {
                topic: "T".into(),
                broker_name: "broker-a".into(),
                queue_id: 3,
            },
            min_time_stamp: -1,
        }];
        let table = render_table(&spans);
        let line = table.lines().nth(1).unwrap();
        assert!(line.starts_with("broker-a"), "{table}");
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            ["broker-a", "3", "-", "-", "-", "0"]
        );
    }
}
