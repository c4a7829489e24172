//! The data tree: znodes keyed by absolute path, each with data, ACL, full Stat and child names,
//! plus the indexes the server needs (ephemerals per session, containers, TTL nodes).
//!
//! Invariants: every node except "/" has its parent in the map and is listed in the parent's
//! `children`; `stat.num_children == children.len()` and `stat.data_length == data.len()`;
//! ephemerals/containers/ttls list exactly the nodes whose ephemeralOwner says so. Only
//! `StateMachine::apply` mutates a tree, so these hold after every txn.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use courier_keeper_proto::{perms, ttl_of_owner, Acl, Id, Stat, CONTAINER_EPHEMERAL_OWNER};

use crate::path;

/// One znode.
#[derive(Debug, Clone)]
pub struct Node {
    /// Payload.
    pub data: Bytes,
    /// ACL (shared: most nodes carry one of a few lists).
    pub acl: Arc<Vec<Acl>>,
    /// Metadata kept current on every change.
    pub stat: Stat,
    /// Child names (sorted, which is also the order getChildren returns).
    pub children: BTreeSet<String>,
}

/// The kind of node an ephemeralOwner value describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    /// 0
    Persistent,
    /// A live session id.
    Ephemeral(i64),
    /// Container marker.
    Container,
    /// TTL encoding.
    Ttl(i64),
}

/// Classifies an ephemeralOwner value.
pub fn owner_kind(owner: i64) -> OwnerKind {
    if owner == 0 {
        OwnerKind::Persistent
    } else if owner == CONTAINER_EPHEMERAL_OWNER {
        OwnerKind::Container
    } else if let Some(ttl) = ttl_of_owner(owner) {
        OwnerKind::Ttl(ttl)
    } else {
        OwnerKind::Ephemeral(owner)
    }
}

/// The Stat a client is shown: as ZooKeeper, container and TTL nodes report ephemeralOwner 0
/// (their owner field is an internal marker, not a session a client could look up).
pub fn client_stat(stat: &Stat) -> Stat {
    match owner_kind(stat.ephemeral_owner) {
        OwnerKind::Container | OwnerKind::Ttl(_) => Stat {
            ephemeral_owner: 0,
            ..stat.clone()
        },
        OwnerKind::Persistent | OwnerKind::Ephemeral(_) => stat.clone(),
    }
}

/// All znodes and their indexes.
#[derive(Debug, Clone)]
pub struct DataTree {
    pub(crate) nodes: HashMap<String, Node>,
    pub(crate) ephemerals: HashMap<i64, BTreeSet<String>>,
    pub(crate) containers: BTreeSet<String>,
    pub(crate) ttls: BTreeSet<String>,
    /// Recently used distinct ACL lists, so nodes with the same ACL share one allocation.
    acl_cache: Vec<Arc<Vec<Acl>>>,
}

/// How many distinct ACL lists `intern_acl` remembers.
const ACL_CACHE: usize = 32;

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A tree with "/", "/zookeeper", "/zookeeper/config" (world-readable only) and
    /// "/zookeeper/quota", as ZooKeeper starts.
    pub fn new() -> Self {
        let mut t = DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acl_cache: Vec::new(),
        };
        let open = Arc::new(crate::acl::open_acl());
        let read_only = Arc::new(vec![Acl {
            perms: perms::READ,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }]);
        for (p, acl) in [
            ("/", open.clone()),
            ("/zookeeper", open.clone()),
            ("/zookeeper/config", read_only),
            ("/zookeeper/quota", open),
        ] {
            t.nodes.insert(
                p.to_string(),
                Node {
                    data: Bytes::new(),
                    acl,
                    stat: Stat {
                        // ZooKeeper creates the config node with aversion -1 (observed on 3.8).
                        aversion: if p == "/zookeeper/config" { -1 } else { 0 },
                        ..Stat::default()
                    },
                    children: BTreeSet::new(),
                },
            );
            if p != "/" {
                let parent = path::parent(p).to_string();
                if let Some(n) = t.nodes.get_mut(&parent) {
                    n.children.insert(path::name(p).to_string());
                    n.stat.num_children += 1;
                }
            }
        }
        t
    }

    /// A node by path.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Number of nodes including the root and the /zookeeper nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Paths of a session's ephemerals.
    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    /// Every session that owns at least one ephemeral, with its count.
    pub fn ephemeral_counts(&self) -> impl Iterator<Item = (i64, usize)> + '_ {
        self.ephemerals.iter().map(|(s, p)| (*s, p.len()))
    }

    /// Container nodes.
    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    /// TTL nodes.
    pub fn ttl_nodes(&self) -> impl Iterator<Item = &String> {
        self.ttls.iter()
    }

    /// Number of descendants of `path` (not counting itself).
    pub fn descendant_count(&self, path: &str) -> usize {
        let mut count = 0;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(&p) {
                for c in &n.children {
                    count += 1;
                    stack.push(path::join(&p, c));
                }
            }
        }
        count
    }

    /// Rough bytes held: paths plus data.
    pub fn approximate_data_size(&self) -> usize {
        self.nodes.iter().map(|(p, n)| p.len() + n.data.len()).sum()
    }

    /// A shared copy of `acl` (most trees use a handful of distinct ACLs).
    pub(crate) fn intern_acl(&mut self, acl: &[Acl]) -> Arc<Vec<Acl>> {
        if let Some(i) = self.acl_cache.iter().position(|a| a.as_slice() == acl) {
            let hit = self.acl_cache[i].clone();
            if i > 0 {
                self.acl_cache.swap(0, i);
            }
            return hit;
        }
        let a = Arc::new(acl.to_vec());
        if self.acl_cache.len() >= ACL_CACHE {
            self.acl_cache.pop();
        }
        self.acl_cache.insert(0, a.clone());
        a
    }

    pub(crate) fn index_owner(&mut self, path: &str, owner: i64) {
        match owner_kind(owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(s) => {
                self.ephemerals
                    .entry(s)
                    .or_default()
                    .insert(path.to_string());
            }
            OwnerKind::Container => {
                self.containers.insert(path.to_string());
            }
            OwnerKind::Ttl(_) => {
                self.ttls.insert(path.to_string());
            }
        }
    }

    pub(crate) fn unindex_owner(&mut self, path: &str, owner: i64) {
        match owner_kind(owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            OwnerKind::Container => {
                self.containers.remove(path);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.remove(path);
            }
        }
    }
}
