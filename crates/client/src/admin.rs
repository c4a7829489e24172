//! Administration for tools and tests: list the clusters, topics and a
//! topic's route as the name servers know them (GET_BROKER_CLUSTER_INFO,
//! GET_ALL_TOPIC_LIST_FROM_NAMESERVER, GET_ROUTEINFO_BY_TOPIC); create or
//! update a topic on every master of a cluster (UPDATE_AND_CREATE_TOPIC to
//! each master), wait until the name servers route
//! it through a given number of brokers (brokers re-register a changed topic
//! table at once, so the wait is short), and read a topic's status and a
//! consumer group's progress from every master that has them, merged
//! (GET_TOPIC_STATS_INFO, GET_CONSUME_STATS: what `mqadmin topicStatus` and
//! `consumerProgress` show); and rewind (or skip) a group's committed offsets
//! to a point in time, as `mqadmin resetOffsetByTime` does: each broker is
//! asked to reset them (INVOKE_BROKER_TO_RESET_OFFSET; a running group then
//! moves at its next pull). A broker that cannot (REQUEST_CODE_NOT_SUPPORTED,
//! or Java 4's CONSUMER_NOT_ONLINE for a stopped group) gets the offsets one
//! queue at a time (SEARCH_OFFSET_BY_TIMESTAMP, then UPDATE_CONSUMER_OFFSET),
//! which is refused while the group has consumers online: they would commit
//! their in-memory offsets over the reset ones. And look messages up, as
//! `mqadmin queryMsgById` and `queryMsgByKey` do: by offset msgId from the
//! broker it names (VIEW_MESSAGE_BY_ID), or by client msgId (UNIQ_KEY) or key
//! from every master routing the topic (QUERY_MESSAGE, through the brokers'
//! message index), with which consumer groups have consumed it (`message_track`). And the
//! brokers' runtime figures, a group's connections and deleting a topic (`broker_views`). And ask a group's consumers themselves, through a broker
//! they are connected to: for their running info (GET_CONSUMER_RUNNING_INFO:
//! `mqadmin consumerStatus`), or to consume one stored message now
//! (CONSUME_MESSAGE_DIRECTLY: `mqadmin queryMsgById -g … -d …`), or for the offsets they
//! hold for a topic (`offsets_held`: `mqadmin getConsumerStatus`). And a topic's traffic in and
//! out over the last minute and day (`traffic`: `mqadmin statsAll`). And take a broker's write
//! permission away in the name servers' routes or give it back (`write_perm`: `mqadmin
//! wipeWritePerm`, `addWritePerm`). And a group's lag in store times (`time_span`). And the name
//! servers' own settings (`namesrv_config`).

use std::time::{Duration, Instant};

use courier_remoting::body::{
    from_json, ClusterInfo, ConsumeMessageDirectlyResult, ConsumeStats, ConsumerRunningInfo,
    ResetOffsetBody, TopicList, TopicRouteData, TopicStatsTable,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    ConsumeMessageDirectlyResultRequestHeader, CreateTopicRequestHeader,
    GetConsumerRunningInfoRequestHeader, QueryMessageRequestHeader, ViewMessageRequestHeader,
    UNIQUE_KEY_QUERY,
};
use courier_remoting::processor::Dispatcher;
use courier_remoting::RemotingCommand;

use crate::error::{decode_failed, ClientError, Result};
use crate::instance::{broker_error, ClientInstance};
use crate::message_ext::{decode_message, decode_messages, MessageExt};
use crate::message_id::decode_offset_msg_id;
use crate::message_queue::MessageQueue;
use crate::options::ClientOptions;
use crate::route::{masters_of, subscribe_queues, AUTO_CREATE_TOPIC_KEY, RETRY_GROUP_TOPIC_PREFIX};

mod broker_views;
mod message_track;
mod namesrv_config;
mod offsets_held;
mod time_span;
mod traffic;
mod write_perm;

pub use message_track::{MessageTrack, TrackType};
pub use offsets_held::HeldOffsets;
pub use traffic::{GroupTraffic, TopicTraffic};
pub use write_perm::PermChange;

/// Admin calls against one set of name servers.
pub struct Admin {
    instance: std::sync::Arc<ClientInstance>,
}

impl Admin {
    pub fn new(options: ClientOptions) -> Result<Self> {
        Ok(Admin {
            instance: ClientInstance::new(options, Dispatcher::new())?,
        })
    }

    /// Shorthand: name servers as a ";"-separated list.
    pub fn connect(namesrv: &str) -> Result<Self> {
        let mut o = ClientOptions::default();
        o.set_namesrv(namesrv);
        Self::new(o)
    }

    /// Every cluster, broker name and broker address (by id, 0 the master) the name servers
    /// know (GET_BROKER_CLUSTER_INFO: what `mqadmin clusterList` shows).
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let cmd = RemotingCommand::new_request(request::GET_BROKER_CLUSTER_INFO);
        let resp = self.instance.invoke_namesrv(cmd).await?;
        if resp.code != response::SUCCESS {
            return Err(broker_error("name server", &resp));
        }
        from_json(resp.body_bytes()).map_err(decode_failed("cluster info"))
    }

    /// Master addresses of every broker the name server knows, sorted.
    pub async fn master_addrs(&self) -> Result<Vec<String>> {
        let info = self.cluster_info().await?;
        let mut v: Vec<String> = info
            .broker_addr_table
            .values()
            .filter_map(|b| b.master_addr().map(str::to_string))
            .collect();
        v.sort();
        Ok(v)
    }

    /// Master addresses of the brokers of `cluster`, sorted; an unknown cluster (or one
    /// without a master) is refused with the clusters the name servers do know.
    pub async fn cluster_masters(&self, cluster: &str) -> Result<Vec<String>> {
        let info = self.cluster_info().await?;
        let mut v: Vec<String> = info
            .cluster_addr_table
            .get(cluster)
            .into_iter()
            .flatten()
            .filter_map(|name| info.broker_addr_table.get(name)?.master_addr())
            .map(str::to_string)
            .collect();
        v.sort();
        if v.is_empty() {
            let known: Vec<&str> = info.cluster_addr_table.keys().map(String::as_str).collect();
            return Err(ClientError::Refused(format!(
                "cluster {cluster} has no master broker registered (known clusters: {}); check the name (it is case-sensitive) or start its brokers",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
        Ok(v)
    }

    /// Every topic the name servers know, sorted (GET_ALL_TOPIC_LIST_FROM_NAMESERVER: what
    /// `mqadmin topicList` shows; system and `%RETRY%` topics included).
    pub async fn topic_list(&self) -> Result<Vec<String>> {
        let cmd = RemotingCommand::new_request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
        let resp = self.instance.invoke_namesrv(cmd).await?;
        if resp.code != response::SUCCESS {
            return Err(broker_error("name server", &resp));
        }
        let list: TopicList = from_json(resp.body_bytes()).map_err(decode_failed("topic list"))?;
        Ok(list.topic_list.into_iter().collect())
    }

    /// The names RocketMQ's tools label as system topics, gathered as Java's client does: the
    /// name servers' list (GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster and broker names) and, from
    /// the broker it names, that broker's (GET_SYSTEM_TOPIC_LIST_FROM_BROKER), sorted.
    pub async fn system_topics(&self) -> Result<Vec<String>> {
        let cmd = RemotingCommand::new_request(request::GET_SYSTEM_TOPIC_LIST_FROM_NS);
        let resp = self.instance.invoke_namesrv(cmd).await?;
        if resp.code != response::SUCCESS {
            return Err(broker_error("name server", &resp));
        }
        let mut list: TopicList =
            from_json(resp.body_bytes()).map_err(decode_failed("system topic list"))?;
        if let Some(addr) = list.broker_addr.take().filter(|a| !a.trim().is_empty()) {
            let cmd = RemotingCommand::new_request(request::GET_SYSTEM_TOPIC_LIST_FROM_BROKER);
            let resp = self
                .instance
                .invoke_ok(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            let broker: TopicList =
                from_json(resp.body_bytes()).map_err(decode_failed("system topic list"))?;
            list.topic_list.extend(broker.topic_list);
        }
        Ok(list.topic_list.into_iter().collect())
    }

    /// Creates (or updates) `topic` with `queues` read and write queues and
    /// perm RW on one broker.
    pub async fn create_topic_on(&self, broker_addr: &str, topic: &str, queues: i32) -> Result<()> {
        self.update_topic_on(broker_addr, topic, queues, queues)
            .await
    }

    /// Creates (or updates) `topic` with `read` read and `write` write queues and perm RW on
    /// one broker (UPDATE_AND_CREATE_TOPIC: what `mqadmin updateTopic` sends).
    pub async fn update_topic_on(
        &self,
        broker_addr: &str,
        topic: &str,
        read: i32,
        write: i32,
    ) -> Result<()> {
        let cmd = RemotingCommand::request_with_header(
            request::UPDATE_AND_CREATE_TOPIC,
            &CreateTopicRequestHeader {
                topic: topic.to_string(),
                default_topic: AUTO_CREATE_TOPIC_KEY.to_string(),
                read_queue_nums: read,
                write_queue_nums: write,
                perm: 6,
                topic_filter_type: Some("SINGLE_TAG".to_string()),
                topic_sys_flag: Some(0),
                order: Some(false),
                attributes: None,
                force: None,
            },
        );
        self.instance
            .invoke_ok(broker_addr, cmd, self.instance.options.request_timeout)
            .await
            .map(|_| ())
    }

    /// Creates `topic` on every master broker; returns their addresses.
    pub async fn create_topic(&self, topic: &str, queues: i32) -> Result<Vec<String>> {
        let masters = self.master_addrs().await?;
        if masters.is_empty() {
            return Err(ClientError::NoRoute {
                topic: topic.to_string(),
                reason: "the name server lists no broker; start one and let it register".into(),
            });
        }
        for m in &masters {
            self.create_topic_on(m, topic, queues).await?;
        }
        Ok(masters)
    }

    /// Waits until the name servers route `topic` through at least `brokers`
    /// brokers with readable queues, or `timeout` passes.
    pub async fn wait_for_route(
        &self,
        topic: &str,
        brokers: usize,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(route) = self.instance.fetch_route(topic).await? {
                let mut names: Vec<String> = subscribe_queues(&route, topic)
                    .into_iter()
                    .map(|q| q.broker_name)
                    .collect();
                names.dedup();
                if names.len() >= brokers {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(ClientError::NoRoute {
                    topic: topic.to_string(),
                    reason: format!(
                        "not routed through {brokers} broker(s) within {} ms",
                        timeout.as_millis()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A fresh route of `topic` from the name servers (GET_ROUTEINFO_BY_TOPIC: what `mqadmin
    /// topicRoute` shows), kept in the route cache, which the per-queue calls use.
    pub async fn topic_route(&self, topic: &str) -> Result<std::sync::Arc<TopicRouteData>> {
        self.instance
            .update_route(topic)
            .await?
            .ok_or_else(|| ClientError::NoRoute {
                topic: topic.to_string(),
                reason: "the name server has no route for it".into(),
            })
    }

    /// Master addresses of the brokers the name servers route `topic` through, sorted.
    async fn topic_masters(&self, topic: &str) -> Result<Vec<String>> {
        Ok(masters_of(&*self.topic_route(topic).await?))
    }

    /// Every queue of `topic` on every broker routing it: min and max offsets and the store
    /// time of the newest message; `topic_put_tps` is the sum of the brokers' rates.
    pub async fn topic_status(&self, topic: &str) -> Result<TopicStatsTable> {
        let mut all = TopicStatsTable::default();
        for addr in self.topic_masters(topic).await? {
            let mut cmd = RemotingCommand::new_request(request::GET_TOPIC_STATS_INFO);
            cmd.ext_fields.insert("topic".into(), topic.to_string());
            let resp = self
                .instance
                .invoke_ok(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            let t = TopicStatsTable::from_json(resp.body_bytes())
                .map_err(decode_failed("topic stats"))?;
            all.offset_table.extend(t.offset_table);
            all.topic_put_tps += t.topic_put_tps;
        }
        all.offset_table.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// A consumer group's progress on every queue it consumes (of `topic` only, if given),
    /// from every master broker: the topic's brokers when a topic is named, else all of them.
    pub async fn consumer_progress(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats> {
        let masters = match topic {
            Some(t) => self.topic_masters(t).await?,
            None => self.master_addrs().await?,
        };
        let mut all = ConsumeStats::default();
        for addr in masters {
            let mut cmd = RemotingCommand::new_request(request::GET_CONSUME_STATS);
            cmd.ext_fields
                .insert("consumerGroup".into(), group.to_string());
            if let Some(t) = topic {
                cmd.ext_fields.insert("topic".into(), t.to_string());
            }
            let resp = self
                .instance
                .invoke_ok(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            let c = ConsumeStats::from_json(resp.body_bytes())
                .map_err(decode_failed("consume stats"))?;
            all.offset_table.extend(c.offset_table);
            all.consume_tps += c.consume_tps;
        }
        all.offset_table.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// Every consumer group the cluster knows: the groups behind the `%RETRY%<group>` topics
    /// the name servers list (brokers create one for each group that consumes), sorted.
    pub async fn consumer_groups(&self) -> Result<Vec<String>> {
        Ok(self
            .topic_list()
            .await?
            .iter()
            .filter_map(|t| t.strip_prefix(RETRY_GROUP_TOPIC_PREFIX))
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The group's consumers online, summed over the master brokers, with the consume type and
    /// message model the first broker that knows the group reports.
    pub async fn consumer_connections(&self, group: &str) -> Result<GroupOnline> {
        let mut online = GroupOnline::default();
        for (_, c) in self.consumer_connection(group).await? {
            online.clients += c.connection_set.len();
            online.consume_type = online.consume_type.or(c.consume_type);
            online.message_model = online.message_model.or(c.message_model);
        }
        Ok(online)
    }

    /// Sets `group`'s committed offset on every readable queue of `topic` to the first message
    /// stored at or after `timestamp_ms` (`None`: the end of the queue, skipping everything).
    /// Without `force`, only offsets that move back (a rewind) are changed. Returns each queue
    /// with its old offset (`None`: none yet) and the offset it has now.
    pub async fn reset_offset_by_time(
        &self,
        group: &str,
        topic: &str,
        timestamp_ms: Option<i64>,
        force: bool,
    ) -> Result<Vec<OffsetReset>> {
        let route = self.topic_route(topic).await?;
        let queues = subscribe_queues(&route, topic);
        let mut old = Vec::with_capacity(queues.len());
        for q in &queues {
            old.push(self.instance.query_consumer_offset(group, q).await?);
        }
        let mut out = Vec::new();
        for b in &route.broker_datas {
            let Some(addr) = b.master_addr() else {
                continue;
            };
            let mine = || {
                queues
                    .iter()
                    .zip(&old)
                    .filter(|(q, _)| q.broker_name == b.broker_name)
            };
            let mut cmd = RemotingCommand::new_request(request::INVOKE_BROKER_TO_RESET_OFFSET);
            for (k, v) in [
                ("group", group.to_string()),
                ("topic", topic.to_string()),
                ("timestamp", timestamp_ms.unwrap_or(-1).to_string()),
                ("isForce", force.to_string()),
            ] {
                cmd.ext_fields.insert(k.into(), v);
            }
            let resp = self
                .instance
                .invoke(addr, cmd, self.instance.options.request_timeout)
                .await?;
            match resp.code {
                response::SUCCESS => {
                    let body = ResetOffsetBody::from_json(resp.body_bytes())
                        .map_err(decode_failed("offset reset"))?;
                    for (q, o) in mine() {
                        let new = body
                            .offset_table
                            .iter()
                            .find(|(mq, _)| mq.queue_id == q.queue_id)
                            .map_or(o.unwrap_or(0), |(_, n)| *n);
                        out.push(OffsetReset {
                            queue: q.clone(),
                            old: *o,
                            new,
                        });
                    }
                }
                response::REQUEST_CODE_NOT_SUPPORTED | response::CONSUMER_NOT_ONLINE => {
                    self.refuse_if_online(addr, group).await?;
                    for (q, o) in mine() {
                        let target = match timestamp_ms {
                            Some(ts) => self.instance.search_offset(q, ts).await?,
                            None => self.instance.max_offset(q).await?,
                        };
                        let new = if force || o.is_none_or(|o| target < o) {
                            self.instance
                                .update_consumer_offset(group, q, target, false)
                                .await?;
                            target
                        } else {
                            o.unwrap_or(target)
                        };
                        out.push(OffsetReset {
                            queue: q.clone(),
                            old: *o,
                            new,
                        });
                    }
                }
                _ => return Err(broker_error(addr, &resp)),
            }
        }
        Ok(out)
    }

    /// The message an offset msgId names, from the broker it names (VIEW_MESSAGE_BY_ID with the
    /// CommitLog offset it carries: what `mqadmin queryMsgById` asks first). A client msgId
    /// (UNIQ_KEY) is refused: look it up with [`Admin::query_by_uniq_key`].
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt> {
        let Some((host, offset)) = decode_offset_msg_id(offset_msg_id) else {
            return Err(ClientError::Refused(format!(
                "{offset_msg_id} is not an offset msgId (32 hex digits naming a broker and a CommitLog offset); if it is a client msgId, look it up by its topic"
            )));
        };
        let addr = host.to_string();
        let cmd = RemotingCommand::request_with_header(
            request::VIEW_MESSAGE_BY_ID,
            &ViewMessageRequestHeader {
                offset,
                topic: None,
            },
        );
        let resp = self
            .instance
            .invoke(&addr, cmd, self.instance.options.request_timeout)
            .await?;
        match resp.code {
            response::SUCCESS => decode_message(resp.body_bytes()).map(|(m, _)| m),
            response::SYSTEM_ERROR => Err(ClientError::Refused(format!(
                "broker {addr} has no message at CommitLog offset {offset} (msgId {offset_msg_id}): {}; check that the id is from this cluster",
                resp.remark.as_deref().unwrap_or("retention may have deleted it")
            ))),
            _ => Err(broker_error(&addr, &resp)),
        }
    }

    /// The messages of `topic` whose client msgId (UNIQ_KEY) is `msg_id`, from every master
    /// routing the topic (QUERY_MESSAGE with `_UNIQUE_KEY_QUERY=true`, over all time). More than
    /// one when the producer resent it (a retry) or it was consumed and sent back for retry.
    pub async fn query_by_uniq_key(&self, topic: &str, msg_id: &str) -> Result<Vec<MessageExt>> {
        let found = self.query_index(topic, msg_id, 32, true).await?;
        let found: Vec<MessageExt> = found.into_iter().filter(|m| m.msg_id == msg_id).collect();
        if found.is_empty() {
            return Err(ClientError::Refused(format!(
                "no message with msgId {msg_id} in topic {topic}; check the topic (a client msgId is looked up by it) and that the brokers' messageIndexEnable is on"
            )));
        }
        Ok(found)
    }

    /// The messages of `topic` with `key` among their keys (KEYS), at most `max` from each master
    /// routing the topic (QUERY_MESSAGE over all time: what `mqadmin queryMsgByKey` asks),
    /// sorted by store time.
    pub async fn query_by_key(&self, topic: &str, key: &str, max: i32) -> Result<Vec<MessageExt>> {
        let found = self.query_index(topic, key, max, false).await?;
        let mut found: Vec<MessageExt> = found
            .into_iter()
            .filter(|m| m.keys().is_some_and(|k| k.split(' ').any(|k| k == key)))
            .collect();
        if found.is_empty() {
            return Err(ClientError::Refused(format!(
                "no message with key {key} in topic {topic}; keys are indexed only when the broker's messageIndexEnable is on (keys are case-sensitive)"
            )));
        }
        found.sort_by_key(|m| (m.store_timestamp, m.commit_log_offset));
        Ok(found)
    }

    /// QUERY_MESSAGE for `key` (a UNIQ_KEY when `uniq`) on every master routing `topic`, from the
    /// epoch to now; the records of all of them, duplicates (the same broker and offset) dropped.
    async fn query_index(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        uniq: bool,
    ) -> Result<Vec<MessageExt>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::MAX, |d| d.as_millis() as i64);
        let mut out: Vec<MessageExt> = Vec::new();
        for addr in self.topic_masters(topic).await? {
            let mut cmd = RemotingCommand::request_with_header(
                request::QUERY_MESSAGE,
                &QueryMessageRequestHeader {
                    topic: topic.to_string(),
                    key: key.to_string(),
                    max_num: max,
                    begin_timestamp: 0,
                    end_timestamp: now,
                },
            );
            if uniq {
                cmd.ext_fields
                    .insert(UNIQUE_KEY_QUERY.into(), "true".to_string());
            }
            let resp = self
                .instance
                .invoke(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            match resp.code {
                response::SUCCESS => {
                    for m in decode_messages(resp.body_bytes())? {
                        if !out.iter().any(|o| o.offset_msg_id == m.offset_msg_id) {
                            out.push(m);
                        }
                    }
                }
                response::QUERY_NOT_FOUND => {}
                _ => return Err(broker_error(&addr, &resp)),
            }
        }
        Ok(out)
    }

    /// Each client of `group` online (only `client_id`, if given), with the running info it
    /// reports: GET_CONSUMER_RUNNING_INFO through the first master broker listing it, which
    /// forwards the question (what `mqadmin consumerStatus` shows). Sorted by client id; empty
    /// when none is online. A client that did not answer is listed with the broker's reason.
    pub async fn consumer_running_info(
        &self,
        group: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<ConsumerStatus>> {
        let mut found: Vec<ConsumerStatus> = Vec::new();
        for (addr, online) in self.consumer_connection(group).await? {
            for c in online.connection_set {
                let wanted = client_id.is_none_or(|id| id == c.client_id);
                if !wanted || found.iter().any(|f| f.client_id == c.client_id) {
                    continue;
                }
                let cmd = RemotingCommand::request_with_header(
                    request::GET_CONSUMER_RUNNING_INFO,
                    &GetConsumerRunningInfoRequestHeader {
                        consumer_group: group.to_string(),
                        client_id: c.client_id.clone(),
                        jstack_enable: Some(false),
                    },
                );
                // The broker waits up to 10 s for the consumer; leave it that long.
                let answer = self
                    .instance
                    .invoke(&addr, cmd, CONSUMER_CALL_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| match r.code {
                        response::SUCCESS => ConsumerRunningInfo::from_json(r.body_bytes())
                            .map_err(|e| e.to_string()),
                        code => Err(format!(
                            "code {code}: {}",
                            r.remark.as_deref().unwrap_or("no remark")
                        )),
                    });
                found.push(ConsumerStatus {
                    client_id: c.client_id,
                    client_addr: c.client_addr,
                    language: c.language,
                    version: c.version,
                    broker: addr.clone(),
                    info: answer,
                });
            }
        }
        found.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(found)
    }

    /// Has `client_id`, a consumer of `group`, consume the message `offset_msg_id` names now,
    /// whatever its offsets say (CONSUME_MESSAGE_DIRECTLY to the broker that stored it, which
    /// hands the message to that consumer's listener and returns its verdict). Offsets do not
    /// move and a failure is not retried: this is for checking a listener against a message, or
    /// pushing one message through again by hand.
    pub async fn consume_message_directly(
        &self,
        group: &str,
        client_id: &str,
        offset_msg_id: &str,
    ) -> Result<ConsumeMessageDirectlyResult> {
        let Some((host, _)) = decode_offset_msg_id(offset_msg_id) else {
            return Err(ClientError::Refused(format!(
                "{offset_msg_id} is not an offset msgId; find the message's offset msgId first (query-msg-by-id -t TOPIC with its client msgId prints it)"
            )));
        };
        let addr = host.to_string();
        let cmd = RemotingCommand::request_with_header(
            request::CONSUME_MESSAGE_DIRECTLY,
            &ConsumeMessageDirectlyResultRequestHeader {
                consumer_group: group.to_string(),
                client_id: Some(client_id.to_string()),
                msg_id: Some(offset_msg_id.to_string()),
                ..Default::default()
            },
        );
        let resp = self
            .instance
            .invoke(&addr, cmd, CONSUMER_CALL_TIMEOUT)
            .await?;
        match resp.code {
            response::SUCCESS => {
                from_json(resp.body_bytes()).map_err(decode_failed("consume-directly result"))
            }
            response::SYSTEM_ERROR | response::CONSUME_MSG_TIMEOUT => {
                Err(ClientError::Refused(format!(
                    "{addr}: {}",
                    resp.remark
                        .as_deref()
                        .unwrap_or("the consumer could not be asked")
                )))
            }
            _ => Err(broker_error(&addr, &resp)),
        }
    }

    /// GET_CONSUMER_CONNECTION_LIST of `group` at `addr`, answered as it came (SUCCESS with the
    /// connections, or CONSUMER_NOT_ONLINE).
    async fn connections_at(&self, addr: &str, group: &str) -> Result<RemotingCommand> {
        let cmd = RemotingCommand::request_with_header(
            request::GET_CONSUMER_CONNECTION_LIST,
            &courier_remoting::header::GetConsumerListByGroupRequestHeader {
                consumer_group: group.to_string(),
            },
        );
        self.instance
            .invoke(addr, cmd, self.instance.options.request_timeout)
            .await
    }

    /// Refuses a queue-by-queue reset while `group` has consumers online at `addr`.
    async fn refuse_if_online(&self, addr: &str, group: &str) -> Result<()> {
        if self.connections_at(addr, group).await?.code == response::SUCCESS {
            return Err(ClientError::Refused(format!(
                "consumer group {group} has consumers online at {addr}, and that broker cannot reset offsets itself; stop them first (a running consumer commits its own offsets over the reset ones), then reset and start them again"
            )));
        }
        Ok(())
    }

    /// Closes connections.
    pub async fn shutdown(&self) {
        self.instance.close().await;
    }
}

/// The master addresses of a route's brokers, sorted.
/// A consumer group's clients online ([`Admin::consumer_connections`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOnline {
    /// Client connections over all master brokers (a client connects to each broker it uses).
    pub clients: usize,
    /// CONSUME_PASSIVELY (push) or CONSUME_ACTIVELY (pull), if any client is online.
    pub consume_type: Option<String>,
    /// CLUSTERING or BROADCASTING, if any client is online.
    pub message_model: Option<String>,
}

/// How long a question a broker forwards to a consumer may take: the broker's own 10 s wait
/// for the consumer, plus the round trips.
const CONSUMER_CALL_TIMEOUT: Duration = Duration::from_secs(12);

/// One consumer as [`Admin::consumer_running_info`] found it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerStatus {
    pub client_id: String,
    /// Its address as the broker sees the connection.
    pub client_addr: String,
    /// "JAVA", "RUST", ...
    pub language: String,
    /// `MQVersion` ordinal it reports.
    pub version: i32,
    /// The master broker that forwarded the question.
    pub broker: String,
    /// What it answered, or why there is no answer.
    pub info: std::result::Result<ConsumerRunningInfo, String>,
}

/// One queue of a [`Admin::reset_offset_by_time`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetReset {
    pub queue: MessageQueue,
    /// The committed offset before, if the group had one.
    pub old: Option<i64>,
    /// The committed offset now.
    pub new: i64,
}
