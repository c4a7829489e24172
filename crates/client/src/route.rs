//! Topic routes (fact sheet §3.5): GET_ROUTEINFO_BY_TOPIC from the name
//! servers, the per-instance route cache, and the queue lists derived from a
//! route — writable queues for producers, readable queues for consumers.
//!
//! Invariants: queue lists are sorted (broker name, then queue id), so every
//! client derives the same order; only brokers with a master address and the
//! matching perm bit contribute queues.

use std::collections::HashMap;
use std::sync::Arc;

use courier_remoting::body::{from_json, TopicRouteData, PERM_READ, PERM_WRITE};
use courier_remoting::code::{request, response};
use courier_remoting::header::GetRouteInfoRequestHeader;
use courier_remoting::RemotingCommand;

use crate::error::{decode_failed, Result};
use crate::instance::{broker_error, ClientInstance};
use crate::message_queue::MessageQueue;

/// The name of the auto-create template topic.
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";

/// Java's `MixAll.RETRY_GROUP_TOPIC_PREFIX`: `%RETRY%<group>` is a consumer group's retry topic.
pub(crate) const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";

impl ClientInstance {
    /// Fetches `topic`'s route from a name server; `None` when no name server knows it.
    pub async fn fetch_route(&self, topic: &str) -> Result<Option<TopicRouteData>> {
        let cmd = RemotingCommand::request_with_header(
            request::GET_ROUTEINFO_BY_TOPIC,
            &GetRouteInfoRequestHeader {
                topic: topic.to_string(),
                accept_standard_json_only: Some(true),
            },
        );
        let resp = self.invoke_namesrv(cmd).await?;
        match resp.code {
            response::SUCCESS => {
                let route: TopicRouteData =
                    from_json(resp.body_bytes()).map_err(decode_failed("topic route"))?;
                Ok(Some(route))
            }
            response::TOPIC_NOT_EXIST => Ok(None),
            _ => Err(broker_error("name server", &resp)),
        }
    }

    /// Fetches and caches `topic`'s route; returns it (or `None`, leaving any cached one).
    pub async fn update_route(&self, topic: &str) -> Result<Option<Arc<TopicRouteData>>> {
        let route = self.fetch_route(topic).await?.map(Arc::new);
        if let Some(route) = &route {
            let mut routes = self.routes.write();
            // An unchanged route keeps its Arc, so derived caches stay valid.
            let same = routes.get(topic).is_some_and(|old| **old == **route);
            if !same {
                routes.insert(topic.to_string(), route.clone());
                // Rebuilt from every cached route, so a broker that left all
                // routes stops getting heartbeats.
                let mut addrs = HashMap::new();
                for r in routes.values() {
                    for b in &r.broker_datas {
                        addrs.insert(b.broker_name.clone(), b.broker_addrs.clone());
                    }
                }
                *self.broker_addrs.write() = addrs;
            }
        }
        Ok(route)
    }

    /// The cached route of `topic`, fetching it on first use.
    /// A refreshed route is a new `Arc`, so callers may cache what they derive
    /// from it and compare pointers to notice changes.
    pub async fn route(&self, topic: &str) -> Result<Option<Arc<TopicRouteData>>> {
        if let Some(r) = self.routes.read().get(topic) {
            return Ok(Some(r.clone()));
        }
        self.update_route(topic).await
    }

    /// Refreshes every cached route (errors are logged; the old route stays).
    pub(crate) async fn refresh_routes(self: Arc<Self>) {
        let topics: Vec<String> = self.routes.read().keys().cloned().collect();
        for t in topics {
            if let Err(e) = self.update_route(&t).await {
                tracing::warn!(topic = %t, error = %e, "route refresh failed; keeping the cached route");
            }
        }
    }

    /// The master address of `broker_name`, from any cached route.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.broker_addrs
            .read()
            .get(broker_name)
            .and_then(|a| a.get(&0).cloned())
    }

    /// Master addresses of every broker in any cached route.
    pub fn all_master_addrs(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .broker_addrs
            .read()
            .values()
            .filter_map(|a| a.get(&0).cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Writable queues of `route` for `topic`, capped at `max_per_broker` per broker.
pub fn publish_queues(
    route: &TopicRouteData,
    topic: &str,
    max_per_broker: Option<i32>,
) -> Vec<MessageQueue> {
    queues(route, topic, PERM_WRITE, |q| {
        max_per_broker.map_or(q.write_queue_nums, |m| m.min(q.write_queue_nums))
    })
}

/// Readable queues of `route` for `topic`.
pub fn subscribe_queues(route: &TopicRouteData, topic: &str) -> Vec<MessageQueue> {
    queues(route, topic, PERM_READ, |q| q.read_queue_nums)
}

fn queues(
    route: &TopicRouteData,
    topic: &str,
    perm: i32,
    count: impl Fn(&courier_remoting::body::QueueData) -> i32,
) -> Vec<MessageQueue> {
    let mut out = Vec::new();
    for q in &route.queue_datas {
        if q.perm & perm == 0 {
            continue;
        }
        let has_master = route
            .broker_datas
            .iter()
            .any(|b| b.broker_name == q.broker_name && b.master_addr().is_some());
        if !has_master {
            continue;
        }
        for id in 0..count(q).max(0) {
            out.push(MessageQueue::new(topic, q.broker_name.clone(), id));
        }
    }
    out.sort();
    out
}

/// Master addresses of the brokers a route lists, sorted.
pub(crate) fn masters_of(route: &TopicRouteData) -> Vec<String> {
    let mut masters: Vec<String> = route
        .broker_datas
        .iter()
        .filter_map(|b| b.master_addr().map(str::to_string))
        .collect();
    masters.sort();
    masters.dedup();
    masters
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_remoting::body::{BrokerData, QueueData};

    #[test]
    fn queue_lists_follow_perm_and_master_presence() {
        let route = TopicRouteData {
            broker_datas: vec![
                BrokerData {
                    broker_addrs: [(0, "a:1".to_string())].into(),
                    broker_name: "b".into(),
                    ..Default::default()
                },
                BrokerData {
                    broker_addrs: [(0, "a:2".to_string())].into(),
                    broker_name: "a".into(),
                    ..Default::default()
                },
                BrokerData {
                    broker_addrs: [(1, "slave:1".to_string())].into(),
                    broker_name: "c".into(),
                    ..Default::default()
                },
            ],
            queue_datas: vec![
                QueueData {
                    broker_name: "b".into(),
                    perm: 6,
                    read_queue_nums: 2,
                    write_queue_nums: 3,
                    topic_sys_flag: 0,
                },
                QueueData {
                    broker_name: "a".into(),
                    perm: 4,
                    read_queue_nums: 1,
                    write_queue_nums: 1,
                    topic_sys_flag: 0,
                },
                QueueData {
                    broker_name: "c".into(),
                    perm: 6,
                    read_queue_nums: 1,
                    write_queue_nums: 1,
                    topic_sys_flag: 0,
                },
            ],
            ..Default::default()
        };
        let p = publish_queues(&route, "T", None);
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|q| q.broker_name == "b"));
        assert_eq!(publish_queues(&route, "T", Some(2)).len(), 2);
        let s = subscribe_queues(&route, "T");
        let names: Vec<_> = s.iter().map(|q| q.to_string()).collect();
        assert_eq!(names, vec!["T@a#0", "T@b#0", "T@b#1"]);
    }
}
