//! `update-sub-group`, `delete-sub-group` and `clone-group-offset` (Java's `updateSubGroup`,
//! `deleteSubGroup`, `cloneGroupOffset`): a consumer group's settings on the brokers — whether it
//! may consume, whether it may be broadcast, how often a failing message is retried before the
//! dead-letter queue, and the rest of SubscriptionGroupConfig — and starting a group where
//! another one got to.

use clap::Args;
use courier_client::Admin;
use serde_json::{json, Map, Value};

use super::Common;

/// `courier mqadmin update-sub-group`
#[derive(Debug, Args)]
pub struct UpdateSubGroupArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer group.
    #[arg(long, short = 'g')]
    pub group: String,
    /// On the masters of this cluster only (default: every master the name servers know).
    #[arg(long, short = 'c')]
    pub cluster: Option<String>,
    /// Whether the group may consume at all (consumeEnable).
    #[arg(long = "consume-enable", short = 's')]
    pub consume_enable: Option<bool>,
    /// Whether a new group starts from the queue's start (consumeFromMinEnable).
    #[arg(long = "consume-from-min", short = 'm')]
    pub consume_from_min: Option<bool>,
    /// Whether the group may consume in broadcasting mode (consumeBroadcastEnable).
    #[arg(long = "broadcast-enable", short = 'd')]
    pub broadcast_enable: Option<bool>,
    /// Whether the group consumes in order (consumeMessageOrderly).
    #[arg(long, short = 'o')]
    pub orderly: Option<bool>,
    /// Queues of its %RETRY% topic (retryQueueNums).
    #[arg(long = "retry-queue-nums", short = 'q')]
    pub retry_queue_nums: Option<i32>,
    /// Redeliveries before a failing message is parked in its dead-letter queue (retryMaxTimes).
    #[arg(long = "retry-max-times", short = 'r')]
    pub retry_max_times: Option<i32>,
    /// Whether its consumers are told when the group's membership changes
    /// (notifyConsumerIdsChangedEnable).
    #[arg(long = "notify-consumer-ids-changed", short = 'a')]
    pub notify: Option<bool>,
}

/// `courier mqadmin delete-sub-group`
#[derive(Debug, Args)]
pub struct DeleteSubGroupArgs {
    #[command(flatten)]
    pub common: Common,
    /// The consumer group.
    #[arg(long, short = 'g')]
    pub group: String,
    /// From the masters of this cluster only (default: every master the name servers know).
    #[arg(long, short = 'c')]
    pub cluster: Option<String>,
}

/// `courier mqadmin clone-group-offset`
#[derive(Debug, Args)]
pub struct CloneGroupOffsetArgs {
    #[command(flatten)]
    pub common: Common,
    /// The group whose offsets are copied.
    #[arg(long = "src", short = 's')]
    pub src: String,
    /// The group that gets them.
    #[arg(long = "dest", short = 'd')]
    pub dest: String,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Copy even where the source group's running consumers do not subscribe to the topic.
    #[arg(long, short = 'o')]
    pub offline: bool,
}

pub(super) const CLONE_GROUP_OFFSET_HELP: &str = "\
Examples:
  courier mqadmin clone-group-offset -n 127.0.0.1:9876 -s billing -d billing-v2 -t OrderEvents
  courier mqadmin cloneGroupOffset -s billing -d billing-v2 -t OrderEvents -o

Starts a new consumer group where an old one got to, on every broker of the topic: the new
group gets the old group's committed offsets, replacing its own. Run it before the new group's
consumers start: running consumers keep their offsets in memory and commit them over the copy.
Where the old group's running consumers no longer subscribe to the topic nothing is copied,
unless -o (offline) is given.";

pub(super) const UPDATE_SUB_GROUP_HELP: &str = "\
Examples:
  courier mqadmin update-sub-group -n 127.0.0.1:9876 -g billing -r 3      three retries, then the DLQ
  courier mqadmin updateSubGroup -g billing -s false                       stop the group consuming
  courier mqadmin update-sub-group -g audit -d true -c DefaultCluster

Creates the group's settings or replaces them, on every master (of the cluster given): what is
not given takes RocketMQ's default (consume on, broadcasting allowed, 1 retry queue, 16 retries,
membership notifications on), as Java's updateSubGroup does, so repeat every setting you keep.
Brokers create a group's settings with the defaults on its first heartbeat, so this is only
needed to change them.";

pub(super) const DELETE_SUB_GROUP_HELP: &str = "\
Examples:
  courier mqadmin delete-sub-group -n 127.0.0.1:9876 -g old-billing

Deletes the group's settings from every master (of the cluster given). A group whose consumers
still run gets them back with the defaults at its next heartbeat.";

/// `update-sub-group`.
pub(super) async fn update(admin: &Admin, a: &UpdateSubGroupArgs) -> anyhow::Result<String> {
    let mut settings = Map::new();
    let mut set = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            settings.insert(key.to_string(), v);
        }
    };
    set("consumeEnable", a.consume_enable.map(Value::from));
    set("consumeFromMinEnable", a.consume_from_min.map(Value::from));
    set(
        "consumeBroadcastEnable",
        a.broadcast_enable.map(Value::from),
    );
    set("consumeMessageOrderly", a.orderly.map(Value::from));
    set("retryQueueNums", a.retry_queue_nums.map(Value::from));
    set("retryMaxTimes", a.retry_max_times.map(Value::from));
    set("notifyConsumerIdsChangedEnable", a.notify.map(Value::from));
    let brokers = admin
        .update_subscription_group(&a.group, settings.clone(), a.cluster.as_deref())
        .await?;
    Ok(if a.common.json {
        format!(
            "{}\n",
            json!({"group": a.group, "brokers": brokers, "settings": settings})
        )
    } else {
        format!(
            "group {} updated on {} broker(s): {}\n",
            a.group,
            brokers.len(),
            brokers.join(", ")
        )
    })
}

/// `delete-sub-group`.
pub(super) async fn delete(admin: &Admin, a: &DeleteSubGroupArgs) -> anyhow::Result<String> {
    let brokers = admin
        .delete_subscription_group(&a.group, a.cluster.as_deref())
        .await?;
    Ok(if a.common.json {
        format!("{}\n", json!({"group": a.group, "brokers": brokers}))
    } else {
        format!(
            "group {} deleted from {} broker(s): {}\n",
            a.group,
            brokers.len(),
            brokers.join(", ")
        )
    })
}

/// `clone-group-offset`.
pub(super) async fn clone_offsets(
    admin: &Admin,
    a: &CloneGroupOffsetArgs,
) -> anyhow::Result<String> {
    let done = admin
        .clone_group_offset(&a.src, &a.dest, &a.topic, a.offline)
        .await?;
    Ok(if a.common.json {
        let brokers: Map<String, Value> = done
            .into_iter()
            .map(|(b, said)| (b, Value::from(said)))
            .collect();
        format!(
            "{}\n",
            json!({"src": a.src, "dest": a.dest, "topic": a.topic, "brokers": brokers})
        )
    } else {
        done.into_iter()
            .map(|(b, said)| {
                let said = if said.is_empty() {
                    "done".to_string()
                } else {
                    said
                };
                format!(
                    "clone group offset {} -> {} on {b}: {said}\n",
                    a.src, a.dest
                )
            })
            .collect()
    })
}
