//! The name server's routing state (fact sheet §3.5-§3.6), as Java's
//! `RouteInfoManager` keeps it: which brokers exist (by name, with their
//! master/slave addresses), which cluster each belongs to, each topic's queues
//! per broker, and when each broker address last registered.
//!
//! Invariants: a broker name appears in `broker_addr_table` only while it has
//! at least one address; a cluster lists only broker names that exist; a topic
//! is present only while at least one broker holds queues for it. Only a
//! master's (id 0) registration updates topic queues, and only when its
//! DataVersion changed or it registered for the first time. Removing a broker
//! name removes its queues from every topic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use courier_remoting::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfigSerializeWrapper, TopicRouteData,
    MASTER_ID, PERM_WRITE,
};
use parking_lot::RwLock;
use tracing::info;

/// What a broker sent with REGISTER_BROKER.
#[derive(Debug, Clone)]
pub struct Registration {
    pub cluster_name: String,
    pub broker_addr: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub ha_server_addr: String,
    pub zone_name: Option<String>,
    /// Overrides the configured expiry for this broker.
    pub heartbeat_timeout: Option<Duration>,
    pub enable_acting_master: bool,
    pub topic_config: TopicConfigSerializeWrapper,
    pub filter_server_list: Vec<String>,
    /// The connection the registration came on (closing it drops the broker).
    pub connection_id: Option<u64>,
}

/// What the name server tells a registering broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterResult {
    pub ha_server_addr: Option<String>,
    pub master_addr: Option<String>,
}

#[derive(Debug, Clone)]
struct BrokerLiveInfo {
    last_update: Instant,
    timeout: Duration,
    data_version: DataVersion,
    ha_server_addr: String,
    connection_id: Option<u64>,
    cluster_name: String,
    broker_name: String,
}

#[derive(Debug, Default)]
struct Inner {
    /// topic → broker name → queues.
    topic_queue_table: BTreeMap<String, BTreeMap<String, QueueData>>,
    broker_addr_table: BTreeMap<String, BrokerData>,
    cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
    /// broker address → liveness.
    broker_live_table: HashMap<String, BrokerLiveInfo>,
    filter_server_table: BTreeMap<String, Vec<String>>,
}

/// Thread-safe routing state.
#[derive(Debug)]
pub struct RouteTable {
    inner: RwLock<Inner>,
    default_timeout: Duration,
}

impl RouteTable {
    /// A table dropping brokers not heard from for `default_timeout`.
    pub fn new(default_timeout: Duration) -> Self {
        RouteTable {
            inner: RwLock::new(Inner::default()),
            default_timeout,
        }
    }

    /// REGISTER_BROKER.
    pub fn register_broker(&self, reg: Registration, now: Instant) -> RegisterResult {
        let mut g = self.inner.write();
        let inner = &mut *g;
        inner
            .cluster_addr_table
            .entry(reg.cluster_name.clone())
            .or_default()
            .insert(reg.broker_name.clone());

        let mut register_first = !inner.broker_addr_table.contains_key(&reg.broker_name);
        let broker = inner
            .broker_addr_table
            .entry(reg.broker_name.clone())
            .or_insert_with(|| BrokerData {
                broker_name: reg.broker_name.clone(),
                cluster: reg.cluster_name.clone(),
                ..Default::default()
            });
        broker.cluster = reg.cluster_name.clone();
        broker.enable_acting_master = reg.enable_acting_master;
        if reg.zone_name.is_some() {
            broker.zone_name = reg.zone_name.clone();
        }
        // The same address under another id means a slave became master (or back).
        broker
            .broker_addrs
            .retain(|id, addr| !(addr == &reg.broker_addr && *id != reg.broker_id));
        let old = broker
            .broker_addrs
            .insert(reg.broker_id, reg.broker_addr.clone());
        register_first |= old.is_none();

        if reg.broker_id == MASTER_ID {
            let changed = inner
                .broker_live_table
                .get(&reg.broker_addr)
                .is_none_or(|live| live.data_version != reg.topic_config.data_version);
            if changed || register_first {
                for tc in reg.topic_config.topic_config_table.values() {
                    let qd = QueueData {
                        broker_name: reg.broker_name.clone(),
                        perm: tc.perm,
                        read_queue_nums: tc.read_queue_nums,
                        topic_sys_flag: tc.topic_sys_flag,
                        write_queue_nums: tc.write_queue_nums,
                    };
                    inner
                        .topic_queue_table
                        .entry(tc.topic_name.clone())
                        .or_default()
                        .insert(reg.broker_name.clone(), qd);
                }
            }
        }

        let previous = inner.broker_live_table.insert(
            reg.broker_addr.clone(),
            BrokerLiveInfo {
                last_update: now,
                timeout: reg.heartbeat_timeout.unwrap_or(self.default_timeout),
                data_version: reg.topic_config.data_version.clone(),
                ha_server_addr: reg.ha_server_addr.clone(),
                connection_id: reg.connection_id,
                cluster_name: reg.cluster_name.clone(),
                broker_name: reg.broker_name.clone(),
            },
        );
        if previous.is_none() {
            info!(broker = %reg.broker_name, addr = %reg.broker_addr, id = reg.broker_id, "new broker registered");
        }
        if reg.filter_server_list.is_empty() {
            inner.filter_server_table.remove(&reg.broker_addr);
        } else {
            inner
                .filter_server_table
                .insert(reg.broker_addr.clone(), reg.filter_server_list.clone());
        }

        let mut result = RegisterResult::default();
        if reg.broker_id != MASTER_ID {
            let master = inner
                .broker_addr_table
                .get(&reg.broker_name)
                .and_then(|b| b.master_addr())
                .map(str::to_string);
            if let Some(master) = master {
                if let Some(live) = inner.broker_live_table.get(&master) {
                    result.ha_server_addr = Some(live.ha_server_addr.clone());
                    result.master_addr = Some(master);
                }
            }
        }
        result
    }

    /// UNREGISTER_BROKER.
    pub fn unregister_broker(
        &self,
        cluster_name: &str,
        broker_addr: &str,
        broker_name: &str,
        broker_id: i64,
    ) {
        let mut g = self.inner.write();
        g.broker_live_table.remove(broker_addr);
        g.filter_server_table.remove(broker_addr);
        remove_broker_addr(&mut g, cluster_name, broker_name, broker_id, broker_addr);
        info!(broker = %broker_name, addr = %broker_addr, id = broker_id, "broker unregistered");
    }

    /// Forgets every broker registered over a connection that closed.
    pub fn on_connection_closed(&self, connection_id: u64) {
        let mut g = self.inner.write();
        let gone: Vec<String> = g
            .broker_live_table
            .iter()
            .filter(|(_, live)| live.connection_id == Some(connection_id))
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in gone {
            info!(addr = %addr, "broker connection closed; removing the broker");
            destroy_addr(&mut g, &addr);
        }
    }

    /// Drops brokers whose last registration is older than their timeout;
    /// returns the addresses dropped.
    pub fn scan_not_active(&self, now: Instant) -> Vec<String> {
        let mut g = self.inner.write();
        let expired: Vec<String> = g
            .broker_live_table
            .iter()
            .filter(|(_, live)| now.saturating_duration_since(live.last_update) > live.timeout)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &expired {
            info!(addr = %addr, "broker not re-registered in time; removing it");
            destroy_addr(&mut g, addr);
        }
        expired
    }

    /// True if the broker at `broker_addr` has not registered this DataVersion.
    pub fn is_topic_config_changed(&self, broker_addr: &str, version: &DataVersion) -> bool {
        self.inner
            .read()
            .broker_live_table
            .get(broker_addr)
            .is_none_or(|live| &live.data_version != version)
    }

    /// The DataVersion last registered by `broker_addr`.
    pub fn broker_data_version(&self, broker_addr: &str) -> Option<DataVersion> {
        self.inner
            .read()
            .broker_live_table
            .get(broker_addr)
            .map(|l| l.data_version.clone())
    }

    /// Refreshes a broker's liveness (QUERY_DATA_VERSION, BROKER_HEARTBEAT).
    pub fn touch(&self, broker_addr: &str, now: Instant) {
        if let Some(live) = self.inner.write().broker_live_table.get_mut(broker_addr) {
            live.last_update = now;
        }
    }

    /// The route of `topic`, if any broker holds queues for it.
    pub fn topic_route(&self, topic: &str) -> Option<TopicRouteData> {
        let g = self.inner.read();
        let queues = g.topic_queue_table.get(topic)?;
        let mut route = TopicRouteData::default();
        for (broker_name, qd) in queues {
            route.queue_datas.push(qd.clone());
            if let Some(bd) = g.broker_addr_table.get(broker_name) {
                for addr in bd.broker_addrs.values() {
                    if let Some(filters) = g.filter_server_table.get(addr) {
                        route
                            .filter_server_table
                            .insert(addr.clone(), filters.clone());
                    }
                }
                route.broker_datas.push(bd.clone());
            }
        }
        if route.broker_datas.is_empty() || route.queue_datas.is_empty() {
            return None;
        }
        Some(route)
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub fn cluster_info(&self) -> ClusterInfo {
        let g = self.inner.read();
        ClusterInfo {
            broker_addr_table: g.broker_addr_table.clone(),
            cluster_addr_table: g.cluster_addr_table.clone(),
        }
    }

    /// Every topic name.
    pub fn all_topics(&self) -> BTreeSet<String> {
        self.inner
            .read()
            .topic_queue_table
            .keys()
            .cloned()
            .collect()
    }

    /// Topics with queues on any broker of `cluster`.
    pub fn topics_by_cluster(&self, cluster: &str) -> BTreeSet<String> {
        let g = self.inner.read();
        let Some(brokers) = g.cluster_addr_table.get(cluster) else {
            return BTreeSet::new();
        };
        g.topic_queue_table
            .iter()
            .filter(|(_, queues)| queues.keys().any(|b| brokers.contains(b)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Clears (`wipe = true`) or sets the write permission of every queue of
    /// `broker_name`; returns how many topics were touched.
    pub fn change_write_perm(&self, broker_name: &str, wipe: bool) -> i32 {
        let mut g = self.inner.write();
        let mut count = 0;
        for queues in g.topic_queue_table.values_mut() {
            if let Some(qd) = queues.get_mut(broker_name) {
                qd.perm = if wipe {
                    qd.perm & !PERM_WRITE
                } else {
                    qd.perm | PERM_WRITE
                };
                count += 1;
            }
        }
        count
    }

    /// DELETE_TOPIC_IN_NAMESRV: the whole topic, or only its queues on the
    /// brokers of `cluster`.
    pub fn delete_topic(&self, topic: &str, cluster: Option<&str>) {
        let mut g = self.inner.write();
        let inner = &mut *g;
        match cluster {
            None => {
                inner.topic_queue_table.remove(topic);
            }
            Some(cluster) => {
                let brokers = inner
                    .cluster_addr_table
                    .get(cluster)
                    .cloned()
                    .unwrap_or_default();
                if let Some(queues) = inner.topic_queue_table.get_mut(topic) {
                    queues.retain(|b, _| !brokers.contains(b));
                    if queues.is_empty() {
                        inner.topic_queue_table.remove(topic);
                    }
                }
            }
        }
    }

    /// REGISTER_TOPIC_IN_NAMESRV: adds the route's queues, provided every
    /// broker named is known (else nothing changes, as in Java). Returns
    /// whether the topic was registered.
    pub fn register_topic(&self, topic: &str, queue_datas: &[QueueData]) -> bool {
        let mut g = self.inner.write();
        if queue_datas.is_empty()
            || queue_datas
                .iter()
                .any(|q| !g.broker_addr_table.contains_key(&q.broker_name))
        {
            return false;
        }
        let queues = g.topic_queue_table.entry(topic.to_string()).or_default();
        for qd in queue_datas {
            queues.insert(qd.broker_name.clone(), qd.clone());
        }
        true
    }
}

/// Removes a broker address found by liveness (expiry or closed channel).
fn destroy_addr(g: &mut Inner, addr: &str) {
    let live = g.broker_live_table.remove(addr);
    g.filter_server_table.remove(addr);
    let (cluster, name) = match &live {
        Some(l) => (l.cluster_name.clone(), l.broker_name.clone()),
        None => return,
    };
    let ids: Vec<i64> = g
        .broker_addr_table
        .get(&name)
        .map(|b| {
            b.broker_addrs
                .iter()
                .filter(|(_, a)| *a == addr)
                .map(|(id, _)| *id)
                .collect()
        })
        .unwrap_or_default();
    for id in ids {
        remove_broker_addr(g, &cluster, &name, id, addr);
    }
}

fn remove_broker_addr(
    g: &mut Inner,
    cluster: &str,
    broker_name: &str,
    broker_id: i64,
    broker_addr: &str,
) {
    let mut name_gone = false;
    if let Some(bd) = g.broker_addr_table.get_mut(broker_name) {
        if bd.broker_addrs.get(&broker_id).map(String::as_str) == Some(broker_addr) {
            bd.broker_addrs.remove(&broker_id);
        }
        if bd.broker_addrs.is_empty() {
            g.broker_addr_table.remove(broker_name);
            name_gone = true;
        }
    }
    if name_gone {
        if let Some(names) = g.cluster_addr_table.get_mut(cluster) {
            names.remove(broker_name);
            if names.is_empty() {
                g.cluster_addr_table.remove(cluster);
            }
        }
        g.topic_queue_table.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_remoting::body::TopicConfig;

    fn reg(name: &str, addr: &str, id: i64, topics: &[(&str, i32)], counter: i64) -> Registration {
        let mut wrapper = TopicConfigSerializeWrapper::default();
        wrapper.data_version.counter = counter;
        for (t, q) in topics {
            wrapper.topic_config_table.insert(
                t.to_string(),
                TopicConfig {
                    topic_name: t.to_string(),
                    read_queue_nums: *q,
                    write_queue_nums: *q,
                    ..Default::default()
                },
            );
        }
        Registration {
            cluster_name: "DefaultCluster".into(),
            broker_addr: addr.into(),
            broker_name: name.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            zone_name: None,
            heartbeat_timeout: None,
            enable_acting_master: false,
            topic_config: wrapper,
            filter_server_list: vec![],
            connection_id: Some(id as u64 + 100),
        }
    }

    #[test]
    fn master_and_slave_registration_builds_routes() {
        let t = RouteTable::new(Duration::from_secs(120));
        let now = Instant::now();
        assert_eq!(
            t.register_broker(reg("a", "m:1", 0, &[("T", 4)], 1), now),
            RegisterResult::default()
        );
        let slave = t.register_broker(reg("a", "s:1", 1, &[("T", 4)], 1), now);
        assert_eq!(slave.master_addr.as_deref(), Some("m:1"));
        assert_eq!(slave.ha_server_addr.as_deref(), Some("m:1-ha"));
        let route = t.topic_route("T").unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        assert!(t.topic_route("nope").is_none());
    }

    #[test]
    fn only_changed_versions_update_queues() {
        let t = RouteTable::new(Duration::from_secs(120));
        let now = Instant::now();
        t.register_broker(reg("a", "m:1", 0, &[("T", 4)], 1), now);
        t.register_broker(reg("a", "m:1", 0, &[("T", 8)], 1), now);
        assert_eq!(
            t.topic_route("T").unwrap().queue_datas[0].read_queue_nums,
            4
        );
        t.register_broker(reg("a", "m:1", 0, &[("T", 8)], 2), now);
        assert_eq!(
            t.topic_route("T").unwrap().queue_datas[0].read_queue_nums,
            8
        );
    }

    #[test]
    fn expiry_and_connection_close_remove_brokers() {
        let t = RouteTable::new(Duration::from_secs(120));
        let now = Instant::now();
        t.register_broker(reg("a", "m:1", 0, &[("T", 4)], 1), now);
        t.register_broker(reg("b", "m:2", 0, &[("T", 4), ("U", 1)], 1), now);
        assert!(t.scan_not_active(now + Duration::from_secs(60)).is_empty());
        t.touch("m:2", now + Duration::from_secs(100));
        assert_eq!(
            t.scan_not_active(now + Duration::from_secs(121)),
            vec!["m:1".to_string()]
        );
        assert_eq!(t.topic_route("T").unwrap().broker_datas.len(), 1);
        t.on_connection_closed(100);
        assert!(t.topic_route("T").is_none());
        assert!(t.all_topics().is_empty());
        assert!(t.cluster_info().cluster_addr_table.is_empty());
    }

    #[test]
    fn perms_delete_and_register_topic() {
        let t = RouteTable::new(Duration::from_secs(120));
        t.register_broker(reg("a", "m:1", 0, &[("T", 4), ("U", 2)], 1), Instant::now());
        assert_eq!(t.change_write_perm("a", true), 2);
        assert_eq!(t.topic_route("T").unwrap().queue_datas[0].perm, 4);
        assert_eq!(t.change_write_perm("a", false), 2);
        assert_eq!(t.topic_route("T").unwrap().queue_datas[0].perm, 6);
        assert_eq!(t.topics_by_cluster("DefaultCluster").len(), 2);
        t.delete_topic("U", None);
        assert_eq!(t.all_topics().len(), 1);
        t.delete_topic("T", Some("DefaultCluster"));
        assert!(t.all_topics().is_empty());
        let qd = QueueData {
            broker_name: "a".into(),
            perm: 6,
            read_queue_nums: 1,
            write_queue_nums: 1,
            topic_sys_flag: 0,
        };
        assert!(t.register_topic("V", std::slice::from_ref(&qd)));
        let unknown = QueueData {
            broker_name: "zz".into(),
            ..qd
        };
        assert!(!t.register_topic("W", &[unknown]));
        assert!(t.topic_route("V").is_some() && t.topic_route("W").is_none());
    }

    #[test]
    fn unregister_removes_the_broker_everywhere() {
        let t = RouteTable::new(Duration::from_secs(120));
        t.register_broker(reg("a", "m:1", 0, &[("T", 4)], 1), Instant::now());
        t.unregister_broker("DefaultCluster", "m:1", "a", 0);
        assert!(t.topic_route("T").is_none());
        assert!(t.cluster_info().broker_addr_table.is_empty());
    }
}
