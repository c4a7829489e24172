//! `send-message` and `consume-message` (Java's `sendMessage`, `consumeMessage`): put one message
//! into a topic and read messages back from its queues, to check a topic end to end by hand.
//! Reading commits nothing: no consumer group's offsets move.

use clap::Args;
use courier_client::{Message, MessageExt, MessageQueue, Producer, PullConsumer, PullStatus};
use serde_json::json;

use super::{message_json, message_text, Common};

/// `courier mqadmin send-message`
#[derive(Debug, Args)]
pub struct SendMessageArgs {
    #[command(flatten)]
    pub common: Common,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// The body (UTF-8 text).
    #[arg(long = "body", short = 'p')]
    pub body: String,
    /// Keys, space-separated (indexed: query-msg-by-key finds the message by each).
    #[arg(long, short = 'k')]
    pub keys: Option<String>,
    /// The tag.
    #[arg(long = "tags", short = 'c')]
    pub tags: Option<String>,
    /// With -i: send to this broker's queue (its broker name), instead of the next queue in turn.
    #[arg(long = "broker-name", short = 'b', requires = "queue_id")]
    pub broker_name: Option<String>,
    /// With -b: the queue id.
    #[arg(long = "queue-id", short = 'i', requires = "broker_name")]
    pub queue_id: Option<i32>,
}

/// `courier mqadmin consume-message`
#[derive(Debug, Args)]
pub struct ConsumeMessageArgs {
    #[command(flatten)]
    pub common: Common,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Only this broker's queues (its broker name).
    #[arg(long = "broker-name", short = 'b')]
    pub broker_name: Option<String>,
    /// Only this queue id.
    #[arg(long = "queue-id", short = 'i')]
    pub queue_id: Option<i32>,
    /// Start at this offset in each queue read (default: each queue's first retained message).
    #[arg(long, short = 'o')]
    pub offset: Option<i64>,
    /// Read at most this many messages in all.
    #[arg(long = "count", short = 'c', default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
}

pub(super) const SEND_MESSAGE_HELP: &str = "\
Examples:
  courier mqadmin send-message -n 127.0.0.1:9876 -t OrderEvents -p 'hello' -c TagA -k order-1
  courier mqadmin sendMessage -t OrderEvents -p 'hello' -b broker-a -i 3 --json

Sends one message and prints where it was stored: broker, queue, offset, its client msgId and
offset msgId (query-msg-by-id takes either).";

pub(super) const CONSUME_MESSAGE_HELP: &str = "\
Examples:
  courier mqadmin consume-message -n 127.0.0.1:9876 -t OrderEvents -c 10
  courier mqadmin consumeMessage -t OrderEvents -b broker-a -i 3 -o 1200 --json | jq -r '.messages[].body'

Reads messages from each queue of the topic (or the one named) from its first retained message
(or -o), up to -c in all, and prints them. Nothing is committed: no consumer group's progress
moves, so this is safe to run against a live topic.";

/// `send-message`.
pub(super) async fn send(namesrv: &str, a: &SendMessageArgs) -> anyhow::Result<String> {
    let producer = Producer::builder()
        .namesrv(namesrv)
        .group("courier-mqadmin")
        .build()?;
    let mut msg = Message::new(a.topic.clone(), a.body.clone().into_bytes());
    if let Some(t) = &a.tags {
        msg = msg.with_tags(t.clone());
    }
    if let Some(k) = &a.keys {
        msg = msg.with_keys(k.clone());
    }
    let sent = match (&a.broker_name, a.queue_id) {
        (Some(b), Some(q)) => {
            let queue = MessageQueue::new(a.topic.clone(), b.clone(), q);
            producer.send_to_queue(msg, &queue).await
        }
        _ => producer.send(msg).await,
    };
    producer.shutdown().await;
    let r = sent?;
    Ok(if a.common.json {
        format!(
            "{}\n",
            json!({
                "brokerName": r.queue.broker_name,
                "queueId": r.queue.queue_id,
                "queueOffset": r.queue_offset,
                "sendStatus": r.status.java_name(),
                "msgId": r.msg_id,
                "offsetMsgId": r.offset_msg_id,
            })
        )
    } else {
        format!(
            "{:<24} {:>4} {:>12}  {:<10} {:<34} {}\n{:<24} {:>4} {:>12}  {:<10} {:<34} {}\n",
            "#Broker Name",
            "#QID",
            "#Offset",
            "#Result",
            "#Msg ID",
            "#Offset Msg ID",
            r.queue.broker_name,
            r.queue.queue_id,
            r.queue_offset,
            r.status.java_name(),
            r.msg_id,
            r.offset_msg_id
        )
    })
}

/// `consume-message`.
pub(super) async fn consume(namesrv: &str, a: &ConsumeMessageArgs) -> anyhow::Result<String> {
    // The group every RocketMQ broker keeps for tools (Java's TOOLS_CONSUMER), so reading works on
    // brokers that do not create groups on first use; nothing is committed for it.
    let pc = PullConsumer::connect(namesrv, "TOOLS_CONSUMER")?;
    let read = read(&pc, a).await;
    pc.shutdown().await;
    let found = read?;
    Ok(if a.common.json {
        let all: Vec<_> = found.iter().map(message_json).collect();
        format!("{}\n", json!({"topic": a.topic, "messages": all}))
    } else if found.is_empty() {
        "no message in the queues read\n".to_string()
    } else {
        let blocks: Vec<String> = found.iter().map(message_text).collect();
        blocks.join("\n")
    })
}

async fn read(pc: &PullConsumer, a: &ConsumeMessageArgs) -> anyhow::Result<Vec<MessageExt>> {
    let queues: Vec<MessageQueue> = pc
        .fetch_queues(&a.topic)
        .await?
        .into_iter()
        .filter(|q| a.broker_name.as_ref().is_none_or(|b| *b == q.broker_name))
        .filter(|q| a.queue_id.is_none_or(|i| i == q.queue_id))
        .collect();
    anyhow::ensure!(
        !queues.is_empty(),
        "topic {} has no readable queue{}; check the names with topic-route",
        a.topic,
        match (&a.broker_name, a.queue_id) {
            (None, None) => String::new(),
            (b, q) => format!(
                " matching{}{}",
                b.as_ref()
                    .map(|b| format!(" broker {b}"))
                    .unwrap_or_default(),
                q.map(|q| format!(" queue {q}")).unwrap_or_default()
            ),
        }
    );
    let mut left = a.count as usize;
    let mut found = Vec::new();
    for q in queues {
        let mut offset = match a.offset {
            Some(o) => o,
            None => pc.min_offset(&q).await?,
        };
        while left > 0 {
            let want = left.min(32) as i32;
            let r = pc.pull(&q, "*", offset, want).await?;
            if r.status != PullStatus::Found || r.messages.is_empty() {
                break;
            }
            left = left.saturating_sub(r.messages.len());
            offset = r.next_begin_offset;
            found.extend(r.messages.into_iter().take(want as usize));
        }
    }
    Ok(found)
}
