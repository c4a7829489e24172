//! The admin views of brokers and connections `mqadmin` users reach for when something looks
//! wrong: a broker's runtime figures (GET_BROKER_RUNTIME_INFO: `brokerStatus`) and the
//! configuration it runs with (GET_BROKER_CONFIG: `getBrokerConfig`) and changing it
//! (UPDATE_BROKER_CONFIG: `updateBrokerConfig`), every group's lag on it
//! (GET_BROKER_CONSUME_STATS: `brokerConsumeStats`), who is connected
//! as a consumer or producer of a group (GET_CONSUMER_CONNECTION_LIST,
//! GET_PRODUCER_CONNECTION_LIST: `consumerConnection`, `producerConnection`), and deleting a topic
//! from the brokers and then the name servers (DELETE_TOPIC_IN_BROKER, DELETE_TOPIC_IN_NAMESRV:
//! `deleteTopic`), and creating, changing or deleting a consumer group's settings on the brokers
//! (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, DELETE_SUBSCRIPTIONGROUP: `updateSubGroup`,
//! `deleteSubGroup`), and starting a group where another got to (CLONE_GROUP_OFFSET:
//! `cloneGroupOffset`). A topic goes from the brokers first: a name server that still routes the topic for a moment sends
//! producers to brokers that auto-create it or refuse it, whereas the other order would leave
//! brokers re-registering it with the name servers.

use std::collections::BTreeMap;

use courier_remoting::body::{
    from_json, read_properties, write_properties, Connection, ConsumeStatsList, ConsumerConnection,
    KvTable,
};
use courier_remoting::code::{request, response};
use courier_remoting::header::{
    CloneGroupOffsetRequestHeader, DeleteTopicFromNamesrvRequestHeader, DeleteTopicRequestHeader,
};
use courier_remoting::RemotingCommand;
use serde::Deserialize;

use super::Admin;
use crate::error::{decode_failed, ClientError, Result};
use crate::instance::broker_error;

/// GET_PRODUCER_CONNECTION_LIST's body.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ProducerConnection {
    connection_set: Vec<Connection>,
}

impl Admin {
    /// Sends what `cmd` makes to each of `addrs` in turn; the first refusal is the error.
    async fn invoke_ok_each(
        &self,
        addrs: &[String],
        cmd: impl Fn() -> RemotingCommand,
    ) -> Result<()> {
        for addr in addrs {
            self.instance
                .invoke_ok(addr, cmd(), self.instance.options.request_timeout)
                .await?;
        }
        Ok(())
    }

    /// The masters of `cluster`, or every master the name servers know; an error when none.
    async fn masters_or_cluster(&self, cluster: Option<&str>, what: &str) -> Result<Vec<String>> {
        let masters = match cluster {
            Some(c) => self.cluster_masters(c).await?,
            None => self.master_addrs().await?,
        };
        if masters.is_empty() {
            return Err(ClientError::Refused(format!(
                "no master broker{} is registered; nothing to {what}",
                cluster
                    .map(|c| format!(" of cluster {c}"))
                    .unwrap_or_default()
            )));
        }
        Ok(masters)
    }

    /// Creates or replaces consumer group `group`'s settings on every master of `cluster` (every
    /// master when `None`): `settings` holds the SubscriptionGroupConfig members to set (Java's
    /// names, e.g. `retryMaxTimes`); the brokers give every other member Java's default, as
    /// `mqadmin updateSubGroup` does. Returns the brokers.
    pub async fn update_subscription_group(
        &self,
        group: &str,
        settings: serde_json::Map<String, serde_json::Value>,
        cluster: Option<&str>,
    ) -> Result<Vec<String>> {
        let masters = self
            .masters_or_cluster(cluster, &format!("update group {group} on"))
            .await?;
        let mut body = settings;
        body.insert("groupName".into(), group.into());
        let body = bytes::Bytes::from(serde_json::Value::Object(body).to_string());
        self.invoke_ok_each(&masters, || {
            RemotingCommand::new_request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(body.clone())
        })
        .await?;
        Ok(masters)
    }

    /// Gives consumer group `dest` the offsets group `src` committed for `topic`, on every master
    /// routing the topic (CLONE_GROUP_OFFSET: `cloneGroupOffset`), replacing what `dest` had.
    /// A broker skips the topic when `src`'s running consumers do not subscribe to it, unless
    /// `offline`. Returns each broker with its account ("cloned T (4 queues)" from Courier's).
    pub async fn clone_group_offset(
        &self,
        src: &str,
        dest: &str,
        topic: &str,
        offline: bool,
    ) -> Result<Vec<(String, String)>> {
        let header = CloneGroupOffsetRequestHeader {
            src_group: src.to_string(),
            dest_group: dest.to_string(),
            topic: Some(topic.to_string()),
            offline: Some(offline),
        };
        let mut done = Vec::new();
        for addr in self.topic_masters(topic).await? {
            let cmd = RemotingCommand::request_with_header(request::CLONE_GROUP_OFFSET, &header);
            let resp = self
                .instance
                .invoke_ok(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            done.push((addr, resp.remark.unwrap_or_default()));
        }
        Ok(done)
    }

    /// Deletes consumer group `group`'s settings from every master of `cluster` (every master
    /// when `None`); returns the brokers.
    pub async fn delete_subscription_group(
        &self,
        group: &str,
        cluster: Option<&str>,
    ) -> Result<Vec<String>> {
        let masters = self
            .masters_or_cluster(cluster, &format!("delete group {group} from"))
            .await?;
        self.invoke_ok_each(&masters, || {
            let mut cmd = RemotingCommand::new_request(request::DELETE_SUBSCRIPTIONGROUP);
            cmd.ext_fields.insert("groupName".into(), group.to_string());
            cmd
        })
        .await?;
        Ok(masters)
    }

    /// A broker's runtime figures by name, as it reports them (GET_BROKER_RUNTIME_INFO).
    pub async fn broker_runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let cmd = RemotingCommand::new_request(request::GET_BROKER_RUNTIME_INFO);
        let resp = self
            .instance
            .invoke_ok(addr, cmd, self.instance.options.request_timeout)
            .await?;
        let kv: KvTable = from_json(resp.body_bytes()).map_err(decode_failed("runtime info"))?;
        Ok(kv.table)
    }

    /// The configuration a broker runs with, by RocketMQ key (GET_BROKER_CONFIG: Java's
    /// `key=value` lines).
    pub async fn broker_config(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let cmd = RemotingCommand::new_request(request::GET_BROKER_CONFIG);
        let resp = self
            .instance
            .invoke_ok(addr, cmd, self.instance.options.request_timeout)
            .await?;
        Ok(read_properties(&String::from_utf8_lossy(resp.body_bytes()))
            .into_iter()
            .collect())
    }

    /// Every consumer group's progress on the broker at `addr` (GET_BROKER_CONSUME_STATS:
    /// `brokerConsumeStats`): per group, one `ConsumeStats` per topic it has committed offsets
    /// for; only ordered topics with `ordered_only`.
    pub async fn broker_consume_stats(
        &self,
        addr: &str,
        ordered_only: bool,
    ) -> Result<ConsumeStatsList> {
        let mut cmd = RemotingCommand::new_request(request::GET_BROKER_CONSUME_STATS);
        cmd.ext_fields
            .insert("isOrder".into(), ordered_only.to_string());
        let resp = self
            .instance
            .invoke_ok(addr, cmd, self.instance.options.request_timeout)
            .await?;
        ConsumeStatsList::from_json(resp.body_bytes())
            .map_err(decode_failed("broker consume stats"))
    }

    /// Changes settings of the broker at `addr` (UPDATE_BROKER_CONFIG: `updateBrokerConfig`),
    /// each `(key, value)` under RocketMQ's key names, all or none. Returns the broker's account of
    /// the change: which keys apply now, which at its next start, and where it saved them
    /// (Courier's brokers say; a Java broker answers with nothing). A key the broker may not
    /// change, does not know, or a value that does not fit is an error naming it.
    pub async fn update_broker_config(
        &self,
        addr: &str,
        settings: &[(String, String)],
    ) -> Result<String> {
        let cmd = RemotingCommand::new_request(request::UPDATE_BROKER_CONFIG)
            .with_body(write_properties(settings).into_bytes());
        let resp = self
            .instance
            .invoke_ok(addr, cmd, self.instance.options.request_timeout)
            .await?;
        Ok(resp.remark.unwrap_or_default())
    }

    /// The group's consumer connections on every master that has any, by broker address: the
    /// clients, and the subscriptions and model they registered.
    pub async fn consumer_connection(
        &self,
        group: &str,
    ) -> Result<Vec<(String, ConsumerConnection)>> {
        let mut all = Vec::new();
        for addr in self.master_addrs().await? {
            let resp = self.connections_at(&addr, group).await?;
            match resp.code {
                response::SUCCESS => {
                    let c = from_json(resp.body_bytes())
                        .map_err(decode_failed("consumer connections"))?;
                    all.push((addr, c));
                }
                response::CONSUMER_NOT_ONLINE => {}
                _ => return Err(broker_error(&addr, &resp)),
            }
        }
        Ok(all)
    }

    /// The group's producer connections on every master that has any, by broker address.
    pub async fn producer_connection(&self, group: &str) -> Result<Vec<(String, Vec<Connection>)>> {
        let mut all = Vec::new();
        for addr in self.master_addrs().await? {
            let mut cmd = RemotingCommand::new_request(request::GET_PRODUCER_CONNECTION_LIST);
            cmd.ext_fields
                .insert("producerGroup".into(), group.to_string());
            let resp = self
                .instance
                .invoke(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            match resp.code {
                response::SUCCESS => {
                    let c: ProducerConnection = from_json(resp.body_bytes())
                        .map_err(decode_failed("producer connections"))?;
                    all.push((addr, c.connection_set));
                }
                // "the producer group[..] not exist": none of its producers is connected here.
                response::SYSTEM_ERROR => {}
                _ => return Err(broker_error(&addr, &resp)),
            }
        }
        Ok(all)
    }

    /// Deletes `topic` from every master of `cluster` (every master the name servers know when
    /// `None`), then from every name server; returns the brokers it was deleted from. The brokers
    /// drop its configuration and consumer offsets; its stored messages age out with the log.
    pub async fn delete_topic(&self, topic: &str, cluster: Option<&str>) -> Result<Vec<String>> {
        let masters = self
            .masters_or_cluster(cluster, &format!("delete {topic} from"))
            .await?;
        self.invoke_ok_each(&masters, || {
            RemotingCommand::request_with_header(
                request::DELETE_TOPIC_IN_BROKER,
                &DeleteTopicRequestHeader {
                    topic: topic.to_string(),
                },
            )
        })
        .await?;
        self.invoke_ok_each(&self.instance.options.namesrv_addrs, || {
            RemotingCommand::request_with_header(
                request::DELETE_TOPIC_IN_NAMESRV,
                &DeleteTopicFromNamesrvRequestHeader {
                    topic: topic.to_string(),
                    cluster_name: cluster.map(str::to_string),
                },
            )
        })
        .await?;
        Ok(masters)
    }
}
