//! `courier mqadmin`: the RocketMQ admin commands operators reach for most, without a JVM — a
//! topic's status (per queue min and max offsets and when it last grew), a consumer group's
//! progress (per queue the broker's and the group's offsets and the lag between them), and
//! resetting a group's offsets to a point in time (re-consume from there, or skip the backlog);
//! and the cluster's layout: its brokers, its topics, a topic's route, and creating or updating a
//! topic on every master; and looking a message up by its msgId (offset or client id) or by key;
//! and asking a group's consumers themselves (`consumers`): their running info, or to consume one
//! message now; a broker's runtime figures and configuration, a group's connections, deleting a
//! topic (`broker_views`); a consumer group's settings (`groups`); sending a message and reading
//! messages back (`messages`).
//! Works against any RocketMQ name server and brokers, Courier's or Apache's. Tables
//! on stdout, or one JSON document with `--json`.

use anyhow::Context;
use clap::{Args, Subcommand};
use courier_client::civil::{civil_from_days, days_from_civil, utc_iso8601_ms};
use courier_client::{
    decode_offset_msg_id, Admin, GroupOnline, MessageExt, MessageTrack, OffsetReset,
};
use courier_remoting::body::{
    ConsumeStats, TopicRouteData, TopicStatsTable, PERM_READ, PERM_WRITE,
};
use serde_json::json;

mod broker_views;
mod cluster_list;
mod consumers;
mod groups;
mod messages;
mod namesrv_config;
mod stats_all;
mod time_span;
mod write_perm;

use broker_views::{
    BrokerConsumeStatsArgs, BrokerStatusArgs, ConnectionArgs, DeleteTopicArgs,
    UpdateBrokerConfigArgs, BROKER_CONFIG_HELP, BROKER_CONSUME_STATS_HELP, BROKER_STATUS_HELP,
    CONNECTION_HELP, DELETE_TOPIC_HELP, UPDATE_BROKER_CONFIG_HELP,
};
use cluster_list::{ClusterListArgs, CLUSTER_LIST_HELP};
use consumers::{ConsumerStatusArgs, HeldOffsetsArgs, CONSUMER_STATUS_HELP, HELD_OFFSETS_HELP};
use groups::{
    CloneGroupOffsetArgs, DeleteSubGroupArgs, UpdateSubGroupArgs, CLONE_GROUP_OFFSET_HELP,
    DELETE_SUB_GROUP_HELP, UPDATE_SUB_GROUP_HELP,
};
use messages::{ConsumeMessageArgs, SendMessageArgs, CONSUME_MESSAGE_HELP, SEND_MESSAGE_HELP};
use namesrv_config::{
    GetNamesrvConfigArgs, UpdateNamesrvConfigArgs, GET_NAMESRV_CONFIG_HELP,
    UPDATE_NAMESRV_CONFIG_HELP,
};
use stats_all::{StatsAllArgs, STATS_ALL_HELP};
use time_span::{TimeSpanArgs, TIME_SPAN_HELP};
use write_perm::{WritePermArgs, ADD_WRITE_PERM_HELP, WIPE_WRITE_PERM_HELP};

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
    /// Every cluster, its broker names, and each broker's id (0 the master) and address.
    #[command(alias = "clusterList", after_help = CLUSTER_LIST_HELP)]
    ClusterList(ClusterListArgs),
    /// Every topic the name servers know, sorted (system and %RETRY% topics included).
    #[command(alias = "topicList", after_help = TOPIC_LIST_HELP)]
    TopicList(TopicListArgs),
    /// A topic's route: its brokers and their addresses, and each broker's queues and perm.
    #[command(alias = "topicRoute", after_help = TOPIC_ROUTE_HELP)]
    TopicRoute(TopicRouteArgs),
    /// Create or update a topic on every master of a cluster (or one broker), then wait for its route.
    #[command(alias = "updateTopic", after_help = UPDATE_TOPIC_HELP)]
    UpdateTopic(UpdateTopicArgs),
    /// One message by its offset msgId (from the broker it names) or client msgId (with -t).
    #[command(alias = "queryMsgById", after_help = QUERY_BY_ID_HELP)]
    QueryMsgById(QueryMsgByIdArgs),
    /// The messages of a topic with a key, one line each, by store time.
    #[command(alias = "queryMsgByKey", after_help = QUERY_BY_KEY_HELP)]
    QueryMsgByKey(QueryMsgByKeyArgs),
    /// Each client of a consumer group as it reports itself: settings, queues, rates.
    #[command(alias = "consumerStatus", after_help = CONSUMER_STATUS_HELP)]
    ConsumerStatus(ConsumerStatusArgs),
    /// A group's lag on a topic in time: per queue, how long its next message has waited.
    #[command(alias = "queryConsumeTimeSpan", after_help = TIME_SPAN_HELP)]
    ConsumeTimeSpan(TimeSpanArgs),
    /// The offsets each client of a group holds in memory for a topic, as the clients answer.
    #[command(alias = "getConsumerStatus", after_help = HELD_OFFSETS_HELP)]
    GetConsumerStatus(HeldOffsetsArgs),
    /// Each consumer of a group connected to the brokers, and what the group subscribes to.
    #[command(alias = "consumerConnection", after_help = CONNECTION_HELP)]
    ConsumerConnection(ConnectionArgs),
    /// Each producer of a group connected to the brokers.
    #[command(alias = "producerConnection", after_help = CONNECTION_HELP)]
    ProducerConnection(ConnectionArgs),
    /// A broker's runtime figures: messages put and got, CommitLog offsets, held pulls, uptime.
    #[command(alias = "brokerStatus", after_help = BROKER_STATUS_HELP)]
    BrokerStatus(BrokerStatusArgs),
    /// The configuration each broker runs with, every key and its value.
    #[command(alias = "getBrokerConfig", after_help = BROKER_CONFIG_HELP)]
    BrokerConfig(BrokerStatusArgs),
    /// Each topic's traffic and each of its groups': backlog, rates, messages in 24 hours.
    #[command(alias = "statsAll", after_help = STATS_ALL_HELP)]
    StatsAll(StatsAllArgs),
    /// Every consumer group's lag on each broker: per queue, broker and committed offsets.
    #[command(alias = "brokerConsumeStats", after_help = BROKER_CONSUME_STATS_HELP)]
    BrokerConsumeStats(BrokerConsumeStatsArgs),
    /// Changes a setting of a broker (or of a cluster's masters); most apply at once.
    #[command(alias = "updateBrokerConfig", after_help = UPDATE_BROKER_CONFIG_HELP)]
    UpdateBrokerConfig(UpdateBrokerConfigArgs),
    /// Deletes a topic from the brokers and the name servers.
    #[command(alias = "deleteTopic", after_help = DELETE_TOPIC_HELP)]
    DeleteTopic(DeleteTopicArgs),
    /// Creates or changes a consumer group's settings (retries, consume on/off, broadcasting).
    #[command(alias = "updateSubGroup", after_help = UPDATE_SUB_GROUP_HELP)]
    UpdateSubGroup(UpdateSubGroupArgs),
    /// Deletes a consumer group's settings from the brokers.
    #[command(alias = "deleteSubGroup", after_help = DELETE_SUB_GROUP_HELP)]
    DeleteSubGroup(DeleteSubGroupArgs),
    /// Starts a consumer group where another got to: copies its committed offsets for a topic.
    #[command(alias = "cloneGroupOffset", after_help = CLONE_GROUP_OFFSET_HELP)]
    CloneGroupOffset(CloneGroupOffsetArgs),
    /// Each name server's own settings.
    #[command(alias = "getNamesrvConfig", after_help = GET_NAMESRV_CONFIG_HELP)]
    GetNamesrvConfig(GetNamesrvConfigArgs),
    /// Changes a setting of every name server while they run (topic lists on/off, ...).
    #[command(alias = "updateNamesrvConfig", after_help = UPDATE_NAMESRV_CONFIG_HELP)]
    UpdateNamesrvConfig(UpdateNamesrvConfigArgs),
    /// Makes a broker read-only in the name servers' routes: producers move to other brokers.
    #[command(alias = "wipeWritePerm", after_help = WIPE_WRITE_PERM_HELP)]
    WipeWritePerm(WritePermArgs),
    /// Gives a broker its write permission back in the name servers' routes.
    #[command(alias = "addWritePerm", after_help = ADD_WRITE_PERM_HELP)]
    AddWritePerm(WritePermArgs),
    /// Sends one message and prints where it was stored.
    #[command(alias = "sendMessage", after_help = SEND_MESSAGE_HELP)]
    SendMessage(SendMessageArgs),
    /// Reads messages from a topic's queues and prints them, committing nothing.
    #[command(alias = "consumeMessage", after_help = CONSUME_MESSAGE_HELP)]
    ConsumeMessage(ConsumeMessageArgs),
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

/// `courier mqadmin topic-list`
#[derive(Debug, Args)]
pub struct TopicListArgs {
    #[command(flatten)]
    pub common: Common,
}

/// `courier mqadmin topic-route`
#[derive(Debug, Args)]
pub struct TopicRouteArgs {
    #[command(flatten)]
    pub common: Common,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
}

/// `courier mqadmin update-topic`
#[derive(Debug, Args)]
pub struct UpdateTopicArgs {
    #[command(flatten)]
    pub common: Common,
    /// The topic to create or update.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Read queues per broker.
    #[arg(long = "read-queues", short = 'r', default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..))]
    pub read: i32,
    /// Write queues per broker.
    #[arg(long = "write-queues", short = 'w', default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..))]
    pub write: i32,
    /// On every master of this cluster (default: every master the name servers know).
    #[arg(long, short = 'c', conflicts_with = "broker")]
    pub cluster: Option<String>,
    /// On this one broker only (its address, host:port).
    #[arg(long, short = 'b')]
    pub broker: Option<String>,
}

/// `courier mqadmin query-msg-by-id`
#[derive(Debug, Args)]
pub struct QueryMsgByIdArgs {
    #[command(flatten)]
    pub common: Common,
    /// The msgId: an offset msgId (what SendResult's offsetMsgId holds) or a client msgId.
    #[arg(long = "msg-id", short = 'i')]
    pub msg_id: String,
    /// The topic; needed to look up a client msgId (UNIQ_KEY).
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// With -d: the consumer group whose client should consume the message now.
    #[arg(long = "consumer-group", short = 'g', requires = "client_id")]
    pub group: Option<String>,
    /// With -g: the client (its client id) that should consume the message now, whatever its
    /// offsets say; its listener's verdict is printed. Offsets do not move.
    #[arg(long = "client-id", short = 'd', requires = "group")]
    pub client_id: Option<String>,
}

/// `courier mqadmin query-msg-by-key`
#[derive(Debug, Args)]
pub struct QueryMsgByKeyArgs {
    #[command(flatten)]
    pub common: Common,
    /// The topic.
    #[arg(long, short = 't')]
    pub topic: String,
    /// The key (one of the message's KEYS; case-sensitive).
    #[arg(long, short = 'k')]
    pub key: String,
    /// At most this many messages from each broker.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(i32).range(1..))]
    pub max: i32,
}

const QUERY_BY_ID_HELP: &str = "\
Examples:
  courier mqadmin query-msg-by-id -n 127.0.0.1:9876 -i 7F00000100002A9F0000000000001A2B
  courier mqadmin queryMsgById -i 7F000001B2C418B4AAC2355D2A840005 -t OrderEvents   client msgId
  courier mqadmin query-msg-by-id -i 7F00000100002A9F0000000000001A2B --json | jq -r .body

An offset msgId names the broker that stored the message and where: it is asked directly. Any
other id is a client msgId (UNIQ_KEY, what consumers see as msgId), looked up in the message
index of every master routing the topic given with -t. The body prints as text when it is UTF-8,
else as hex (its first 256 bytes). With --json, \"body\" is the text when it is UTF-8 and base64
otherwise, as \"bodyEncoding\" (utf-8 or base64) says; several messages (a resent client msgId)
are a list under \"messages\".

Under each message, its tracks: every consumer group of the topic and what it did with it —
CONSUMED (its committed offset is past it), CONSUMED_BUT_FILTERED (past it, but its tags leave it
out), NOT_CONSUME_YET, NOT_ONLINE (with what its committed offset says), PULL or
CONSUME_BROADCASTING (offsets the brokers do not see). Committed offsets trail consumption by up
to the clients' commit interval (5 s by default).

  courier mqadmin query-msg-by-id -i 7F00000100002A9F0000000000001A2B -g billing -d 10.0.0.7@12345#1
With -g and -d, that client of the group consumes the message now (its listener gets it once more,
whatever the group's offsets say) and its verdict is printed; nothing is retried or committed.
consumer-status lists the group's client ids.";

const QUERY_BY_KEY_HELP: &str = "\
Examples:
  courier mqadmin query-msg-by-key -n 127.0.0.1:9876 -t OrderEvents -k order-1234
  courier mqadmin queryMsgByKey -t OrderEvents -k order-1234 --max 16 --json | jq -r '.messages[].msgId'

Looks the key up in the message index of every master routing the topic, over all time; --max
caps the messages from each broker. Keys are indexed only while the broker's messageIndexEnable
is on (the default). Take a msgId to `query-msg-by-id` for the message's properties and body.";

const TOPIC_LIST_HELP: &str = "\
Examples:
  courier mqadmin topic-list -n 127.0.0.1:9876
  courier mqadmin topicList --json | jq -r '.topics[]' | grep -v '^%RETRY%'

One topic per line. %RETRY%<group> topics belong to consumer groups; the others in capitals with
underscores (TBW102, SCHEDULE_TOPIC_XXXX, RMQ_SYS_...) are the brokers' own.";

const TOPIC_ROUTE_HELP: &str = "\
Examples:
  courier mqadmin topic-route -n 127.0.0.1:9876 -t OrderEvents
  courier mqadmin topicRoute -t OrderEvents --json | jq '.queueDatas'

What producers and consumers get from the name server: which brokers serve the topic, at which
addresses, and how many read and write queues each has. Perm: R readable, W writable.";

const UPDATE_TOPIC_HELP: &str = "\
Examples:
  courier mqadmin update-topic -n 127.0.0.1:9876 -t OrderEvents              8 read, 8 write queues
  courier mqadmin updateTopic -t OrderEvents -r 16 -w 16 -c DefaultCluster
  courier mqadmin update-topic -t OrderEvents -b 127.0.0.1:10911             one broker only

Creates the topic (perm RW) or changes its queue counts where it exists, then waits until the name
servers route it through those brokers. Shrinking the write queues first and the read queues after
consumers drained the dropped queues loses no message.";

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
            MqadminCommand::ClusterList(a) => {
                let what = || "could not read the cluster list from the name server".to_string();
                let view = async |admin: &Admin| cluster_list::cluster_list(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::TopicList(a) => {
                let admin = connect(&a.common.namesrv)?;
                let t = admin.topic_list().await;
                admin.shutdown().await;
                let t = t.context("could not read the topic list from the name server")?;
                if a.common.json {
                    println!("{}", json!({ "topics": t }));
                } else {
                    t.iter().for_each(|t| println!("{t}"));
                }
            }
            MqadminCommand::TopicRoute(a) => {
                let admin = connect(&a.common.namesrv)?;
                let r = admin.topic_route(&a.topic).await;
                admin.shutdown().await;
                let r = r.with_context(|| format!("could not read the route of topic {}", a.topic))?;
                print!("{}", if a.common.json { route_json(&a.topic, &r) } else { route_table(&r) });
            }
            MqadminCommand::UpdateTopic(a) => {
                let admin = connect(&a.common.namesrv)?;
                let done = update_topic(&admin, &a).await;
                admin.shutdown().await;
                let brokers = done.with_context(|| format!("could not create or update topic {}", a.topic))?;
                print!("{}", if a.common.json { update_json(&a, &brokers) } else { update_table(&a, &brokers) });
            }
            MqadminCommand::QueryMsgById(a) => {
                let admin = connect(&a.common.namesrv)?;
                let found = query_by_id(&admin, &a.msg_id, a.topic.as_deref()).await;
                let found = match found {
                    Ok(f) => f,
                    Err(e) => {
                        admin.shutdown().await;
                        return Err(e.context(format!("could not look up message {}", a.msg_id)));
                    }
                };
                if let (Some(group), Some(client)) = (&a.group, &a.client_id) {
                    let done = consume_found(&admin, group, client, &found).await;
                    admin.shutdown().await;
                    print!("{}", consumers::direct_result(client, &done?, a.common.json));
                    return Ok(());
                }
                // Which groups have consumed each message; a failure here still shows the message.
                let mut tracks = Vec::with_capacity(found.len());
                for m in &found {
                    tracks.push(admin.message_tracks(m).await.map_err(|e| e.to_string()));
                }
                admin.shutdown().await;
                print!("{}", if a.common.json { messages_json(&found, &tracks) } else { messages_text(&found, &tracks) });
            }
            MqadminCommand::ConsumerStatus(a) => {
                let what = || format!("could not ask group {}'s consumers", a.group);
                let view = async |admin: &Admin| consumers::consumer_status(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::GetConsumerStatus(a) => {
                let what = || format!("could not ask group {}'s consumers for their offsets", a.group);
                let view = async |admin: &Admin| consumers::held_offsets(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::ConsumerConnection(a) => {
                let what = || format!("could not list group {}'s consumers", a.group);
                let view = async |admin: &Admin| broker_views::consumer_connection(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::ProducerConnection(a) => {
                let what = || format!("could not list group {}'s producers", a.group);
                let view = async |admin: &Admin| broker_views::producer_connection(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::BrokerStatus(a) => {
                let what = || "could not read the brokers' status".to_string();
                let view = async |admin: &Admin| broker_views::broker_status(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::BrokerConfig(a) => {
                let what = || "could not read the brokers' configuration".to_string();
                let view = async |admin: &Admin| broker_views::broker_config(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::StatsAll(a) => {
                let what = || "could not read the topics' traffic".to_string();
                let view = async |admin: &Admin| stats_all::stats_all(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::BrokerConsumeStats(a) => {
                let what = || "could not read the brokers' consume stats".to_string();
                let view = async |admin: &Admin| broker_views::broker_consume_stats(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::UpdateBrokerConfig(a) => {
                let what = || format!("could not set {} on the brokers", a.key);
                let view = async |admin: &Admin| broker_views::update_broker_config(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::UpdateSubGroup(a) => {
                let what = || format!("could not update group {}", a.group);
                let view = async |admin: &Admin| groups::update(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::DeleteSubGroup(a) => {
                let what = || format!("could not delete group {}", a.group);
                let view = async |admin: &Admin| groups::delete(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::CloneGroupOffset(a) => {
                let what = || format!("could not clone group {}'s offsets to {}", a.src, a.dest);
                let view = async |admin: &Admin| groups::clone_offsets(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::ConsumeTimeSpan(a) => {
                let what = || format!("could not read group {}'s time span on {}", a.group, a.topic);
                let view = async |admin: &Admin| time_span::time_span(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::GetNamesrvConfig(a) => {
                let what = || "could not read the name servers' configuration".to_string();
                let view = async |admin: &Admin| namesrv_config::get(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::UpdateNamesrvConfig(a) => {
                let what = || format!("could not set {} on the name servers", a.key);
                let view = async |admin: &Admin| namesrv_config::update(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::WipeWritePerm(a) => {
                let what = || format!("could not wipe broker {}'s write permission", a.broker_name);
                let view = async |admin: &Admin| write_perm::change(admin, &a, true).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::AddWritePerm(a) => {
                let what = || format!("could not give broker {} its write permission back", a.broker_name);
                let view = async |admin: &Admin| write_perm::change(admin, &a, false).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::SendMessage(a) => {
                let sent = messages::send(&a.common.namesrv, &a).await;
                print!("{}", sent.with_context(|| format!("could not send to topic {}", a.topic))?);
            }
            MqadminCommand::ConsumeMessage(a) => {
                let read = messages::consume(&a.common.namesrv, &a).await;
                print!("{}", read.with_context(|| format!("could not read topic {}", a.topic))?);
            }
            MqadminCommand::DeleteTopic(a) => {
                let what = || format!("could not delete topic {}", a.topic);
                let view = async |admin: &Admin| broker_views::delete_topic(admin, &a).await;
                show(&a.common.namesrv, what, view).await?
            }
            MqadminCommand::QueryMsgByKey(a) => {
                let admin = connect(&a.common.namesrv)?;
                let found = admin.query_by_key(&a.topic, &a.key, a.max).await;
                admin.shutdown().await;
                let found = found.with_context(|| {
                    format!("could not look up key {} in topic {}", a.key, a.topic)
                })?;
                print!("{}", if a.common.json { key_json(&a, &found) } else { key_table(&found) });
            }
        }
        Ok(())
    })
}

/// Connects to `namesrv`, runs `view`, shuts the admin down whatever it returned, and prints what
/// it rendered (`what` says what failed).
async fn show(
    namesrv: &str,
    what: impl FnOnce() -> String,
    view: impl AsyncFnOnce(&Admin) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let admin = connect(namesrv)?;
    let shown = view(&admin).await;
    admin.shutdown().await;
    print!("{}", shown.with_context(what)?);
    Ok(())
}

/// Sends the topic's config to the chosen masters and waits until they route it; returns them.
async fn update_topic(admin: &Admin, a: &UpdateTopicArgs) -> anyhow::Result<Vec<String>> {
    let brokers = match (&a.broker, &a.cluster) {
        (Some(b), _) => vec![b.clone()],
        (None, Some(c)) => admin.cluster_masters(c).await?,
        (None, None) => admin.master_addrs().await?,
    };
    anyhow::ensure!(
        !brokers.is_empty(),
        "the name server lists no broker; start one and let it register, or name one with -b"
    );
    for b in &brokers {
        admin
            .update_topic_on(b, &a.topic, a.read, a.write)
            .await
            .with_context(|| format!("broker {b} refused the topic"))?;
    }
    admin
        .wait_for_route(&a.topic, brokers.len(), std::time::Duration::from_secs(10))
        .await?;
    Ok(brokers)
}

/// Has `client` of `group` consume the message looked up (Java's `queryMsgById -g -d`): sent to
/// the broker that stored it, by its offset msgId.
async fn consume_found(
    admin: &Admin,
    group: &str,
    client: &str,
    found: &[MessageExt],
) -> anyhow::Result<courier_remoting::body::ConsumeMessageDirectlyResult> {
    let [m] = found else {
        anyhow::bail!(
            "the id names {} messages (a resent client msgId); pick one by its offset msgId (query-msg-by-id without -g/-d lists them)",
            found.len()
        );
    };
    admin
        .consume_message_directly(group, client, &m.offset_msg_id)
        .await
        .with_context(|| {
            format!(
                "client {client} of group {group} could not be asked to consume {}",
                m.offset_msg_id
            )
        })
}

/// An offset msgId from the broker it names (falling back to the index when `topic` is given and
/// that fails, as Java does); any other id as a client msgId in `topic`'s brokers' index.
async fn query_by_id(
    admin: &Admin,
    msg_id: &str,
    topic: Option<&str>,
) -> anyhow::Result<Vec<MessageExt>> {
    if decode_offset_msg_id(msg_id).is_some() {
        match (admin.view_message(msg_id).await, topic) {
            (Ok(m), _) => return Ok(vec![m]),
            (Err(e), None) => return Err(e.into()),
            (Err(_), Some(_)) => {}
        }
    }
    let Some(topic) = topic else {
        anyhow::bail!(
            "{msg_id} is not an offset msgId, so it is looked up as a client msgId (UNIQ_KEY), which needs its topic: add -t TOPIC"
        );
    };
    Ok(admin.query_by_uniq_key(topic, msg_id).await?)
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

/// A topic perm as letters: `RW`, `R-`, `-W` or `--`.
fn perm_letters(perm: i32) -> String {
    let r = if perm & PERM_READ != 0 { 'R' } else { '-' };
    let w = if perm & PERM_WRITE != 0 { 'W' } else { '-' };
    format!("{r}{w}")
}

fn route_table(r: &TopicRouteData) -> String {
    let mut out = format!(
        "{:<24} {:<24} {:>4}  {}\n",
        "#Broker Name", "#Cluster", "#BID", "#Addr"
    );
    for b in &r.broker_datas {
        for (id, addr) in &b.broker_addrs {
            out.push_str(&format!(
                "{:<24} {:<24} {id:>4}  {addr}\n",
                b.broker_name, b.cluster
            ));
        }
    }
    out.push_str(&format!(
        "\n{:<24} {:>12} {:>13}  {}\n",
        "#Broker Name", "#Read Queues", "#Write Queues", "#Perm"
    ));
    for q in &r.queue_datas {
        out.push_str(&format!(
            "{:<24} {:>12} {:>13}  {} ({})\n",
            q.broker_name,
            q.read_queue_nums,
            q.write_queue_nums,
            perm_letters(q.perm),
            q.perm
        ));
    }
    out
}

fn route_json(topic: &str, r: &TopicRouteData) -> String {
    let doc = json!({ "topic": topic, "brokerDatas": r.broker_datas, "queueDatas": r.queue_datas });
    format!("{doc}\n")
}

fn update_table(a: &UpdateTopicArgs, brokers: &[String]) -> String {
    let mut out = format!(
        "{:<24} {:>12} {:>13}  {}\n",
        "#Broker Addr", "#Read Queues", "#Write Queues", "#Perm"
    );
    for b in brokers {
        out.push_str(&format!("{b:<24} {:>12} {:>13}  RW (6)\n", a.read, a.write));
    }
    out.push_str(&format!(
        "\ntopic {} updated on {} broker(s) and routed\n",
        a.topic,
        brokers.len()
    ));
    out
}

fn update_json(a: &UpdateTopicArgs, brokers: &[String]) -> String {
    let doc = json!({
        "topic": a.topic,
        "readQueueNums": a.read,
        "writeQueueNums": a.write,
        "perm": 6,
        "brokers": brokers,
    });
    format!("{doc}\n")
}

/// Most body bytes printed as hex when the body is not text.
const HEX_BODY_LIMIT: usize = 256;

/// A body as people read it: the text when it is UTF-8, else the hex of its first bytes.
fn body_text(body: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(body) {
        return text.to_string();
    }
    let shown = &body[..body.len().min(HEX_BODY_LIMIT)];
    let hex: String = shown.iter().map(|b| format!("{b:02X}")).collect();
    if shown.len() < body.len() {
        format!(
            "(not UTF-8; hex of the first {} of {} bytes) {hex}",
            shown.len(),
            body.len()
        )
    } else {
        format!("(not UTF-8; hex) {hex}")
    }
}

/// Each message's consumer groups and what they did with it (`Admin::message_tracks`), or why
/// that could not be read.
type Tracks = Result<Vec<MessageTrack>, String>;

fn messages_text(found: &[MessageExt], tracks: &[Tracks]) -> String {
    let mut out = String::new();
    for (i, (m, t)) in found.iter().zip(tracks).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&message_text(m));
        match t {
            Ok(t) if t.is_empty() => {
                out.push_str("Message Tracks:   no consumer group knows the topic\n")
            }
            Ok(t) => {
                out.push_str("Message Tracks:\n");
                for track in t {
                    out.push_str(&format!(
                        "  {:<32} {:<22} {}\n",
                        track.group,
                        track.track.java_name(),
                        track.detail.as_deref().unwrap_or("")
                    ));
                }
            }
            Err(e) => out.push_str(&format!("Message Tracks:   could not be read: {e}\n")),
        }
    }
    out
}

/// One message's fields, a line each, its body as text (or hex when it is not UTF-8).
fn message_text(m: &MessageExt) -> String {
    let props: Vec<String> = m
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut out = String::new();
    for (name, value) in [
        ("Topic", m.topic.clone()),
        ("Queue ID", m.queue_id.to_string()),
        ("Queue Offset", m.queue_offset.to_string()),
        ("Tags", m.tags().unwrap_or("-").to_string()),
        ("Keys", m.keys().unwrap_or("-").to_string()),
        ("Msg ID", m.msg_id.clone()),
        ("Offset Msg ID", m.offset_msg_id.clone()),
        (
            "Born Timestamp",
            format!("{} ({})", m.born_timestamp, time_or_dash(m.born_timestamp)),
        ),
        (
            "Store Timestamp",
            format!(
                "{} ({})",
                m.store_timestamp,
                time_or_dash(m.store_timestamp)
            ),
        ),
        ("Born Host", m.born_host.to_string()),
        ("Store Host", m.store_host.to_string()),
        ("Reconsume Times", m.reconsume_times.to_string()),
        ("Properties", props.join(", ")),
        ("Body Size", m.body.len().to_string()),
        ("Body", body_text(&m.body)),
    ] {
        out.push_str(&format!("{:<17} {value}\n", format!("{name}:")));
    }
    out
}

fn message_json(m: &MessageExt) -> serde_json::Value {
    use base64::Engine;
    let (body, encoding) = match std::str::from_utf8(&m.body) {
        Ok(text) => (text.to_string(), "utf-8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&m.body),
            "base64",
        ),
    };
    json!({
        "topic": m.topic,
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "tags": m.tags(),
        "keys": m.keys(),
        "msgId": m.msg_id,
        "offsetMsgId": m.offset_msg_id,
        "bornTimestamp": m.born_timestamp,
        "bornTime": time_or_dash(m.born_timestamp),
        "storeTimestamp": m.store_timestamp,
        "storeTime": time_or_dash(m.store_timestamp),
        "bornHost": m.born_host.to_string(),
        "storeHost": m.store_host.to_string(),
        "reconsumeTimes": m.reconsume_times,
        "properties": m.properties,
        "bodySize": m.body.len(),
        "body": body,
        "bodyEncoding": encoding,
    })
}

/// One message as one JSON document; several (a resent client msgId) as `{"messages": [...]}`.
fn messages_json(found: &[MessageExt], tracks: &[Tracks]) -> String {
    let with_tracks = |m: &MessageExt, t: &Tracks| {
        let mut v = message_json(m);
        match t {
            Ok(t) => {
                let t: Vec<_> = t
                    .iter()
                    .map(|t| json!({"consumerGroup": t.group, "trackType": t.track.java_name(), "detail": t.detail}))
                    .collect();
                v["tracks"] = json!(t);
            }
            Err(e) => v["tracksError"] = json!(e),
        }
        v
    };
    match (found, tracks) {
        ([m], [t]) => format!("{}\n", with_tracks(m, t)),
        _ => {
            let all: Vec<_> = found
                .iter()
                .zip(tracks)
                .map(|(m, t)| with_tracks(m, t))
                .collect();
            format!("{}\n", json!({ "messages": all }))
        }
    }
}

fn key_table(found: &[MessageExt]) -> String {
    let mut out = format!(
        "{:<34} {:>4} {:>12}  {:<24}  {}\n",
        "#Message ID", "#QID", "#Offset", "#Store Time", "#Tags"
    );
    for m in found {
        out.push_str(&format!(
            "{:<34} {:>4} {:>12}  {:<24}  {}\n",
            m.msg_id,
            m.queue_id,
            m.queue_offset,
            time_or_dash(m.store_timestamp),
            m.tags().unwrap_or("-")
        ));
    }
    out
}

fn key_json(a: &QueryMsgByKeyArgs, found: &[MessageExt]) -> String {
    let all: Vec<_> = found
        .iter()
        .map(|m| {
            json!({
                "msgId": m.msg_id,
                "offsetMsgId": m.offset_msg_id,
                "brokerAddr": m.store_host.to_string(),
                "queueId": m.queue_id,
                "queueOffset": m.queue_offset,
                "storeTimestamp": m.store_timestamp,
                "storeTime": time_or_dash(m.store_timestamp),
                "tags": m.tags(),
                "keys": m.keys(),
            })
        })
        .collect();
    format!(
        "{}\n",
        json!({ "topic": a.topic, "key": a.key, "messages": all })
    )
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
    fn perms_print_as_letters() {
        assert_eq!(perm_letters(6), "RW");
        assert_eq!(perm_letters(4), "R-");
        assert_eq!(perm_letters(2), "-W");
        assert_eq!(perm_letters(0), "--");
    }

    #[test]
    fn bodies_print_as_text_or_truncated_hex() {
        assert_eq!(body_text(b"hello"), "hello");
        assert_eq!(body_text(&[0xFF, 0x01]), "(not UTF-8; hex) FF01");
        let long = body_text(&[0xFF; 300]);
        assert!(
            long.starts_with("(not UTF-8; hex of the first 256 of 300 bytes) FFFF"),
            "{long}"
        );
        assert!(long.ends_with(&"FF".repeat(256)), "{long}");
    }

    #[test]
    fn no_timestamp_prints_as_a_dash() {
        assert_eq!(time_or_dash(0), "-");
        assert_eq!(time_or_dash(-1), "-");
        assert_eq!(time_or_dash(1), "1970-01-01T00:00:00.001Z");
    }
}
