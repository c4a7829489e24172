//! `update-sub-group` and `delete-sub-group` (Java's `updateSubGroup`, `deleteSubGroup`): a
//! consumer group's settings on the brokers — whether it may consume, whether it may be
//! broadcast, how often a failing message is retried before the dead-letter queue, and the rest
//! of SubscriptionGroupConfig.

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
