//! Watch registrations per connection and which connections a change notifies (spec §10).
//!
//! Tables: data (data + exist watches, one-shot), child (one-shot), persistent and
//! persistent-recursive (never removed by firing). `trigger` removes fired one-shot watches and
//! returns each connection at most once per (path, event), which is ZooKeeper's dedup rule.
//! Recursive watches see created/deleted/data-changed events of every descendant but never
//! NodeChildrenChanged.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use courier_keeper_proto::{watcher_type, EventType};

use crate::path;

/// A connection's id, unique for the server's lifetime.
pub type ConnId = u64;

/// The four registration tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// Data and exist watches (one-shot).
    Data,
    /// Child watches (one-shot).
    Child,
    /// addWatch mode 0.
    Persistent,
    /// addWatch mode 1.
    PersistentRecursive,
}

const KINDS: [WatchKind; 4] = [
    WatchKind::Data,
    WatchKind::Child,
    WatchKind::Persistent,
    WatchKind::PersistentRecursive,
];

fn idx(k: WatchKind) -> usize {
    match k {
        WatchKind::Data => 0,
        WatchKind::Child => 1,
        WatchKind::Persistent => 2,
        WatchKind::PersistentRecursive => 3,
    }
}

/// All watches of the server.
#[derive(Debug, Default)]
pub struct WatchManager {
    tables: [HashMap<String, HashSet<ConnId>>; 4],
    by_conn: HashMap<ConnId, HashSet<(WatchKind, String)>>,
}

impl WatchManager {
    /// Registers a watch (idempotent).
    pub fn add(&mut self, conn: ConnId, kind: WatchKind, p: &str) {
        self.tables[idx(kind)]
            .entry(p.to_string())
            .or_default()
            .insert(conn);
        self.by_conn
            .entry(conn)
            .or_default()
            .insert((kind, p.to_string()));
    }

    fn remove_one(&mut self, conn: ConnId, kind: WatchKind, p: &str) -> bool {
        let table = &mut self.tables[idx(kind)];
        let found = match table.get_mut(p) {
            Some(set) => {
                let was = set.remove(&conn);
                if set.is_empty() {
                    table.remove(p);
                }
                was
            }
            None => false,
        };
        if let Some(mine) = self.by_conn.get_mut(&conn) {
            mine.remove(&(kind, p.to_string()));
            if mine.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        found
    }

    /// Drops every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnId) {
        if let Some(mine) = self.by_conn.remove(&conn) {
            for (kind, p) in mine {
                let table = &mut self.tables[idx(kind)];
                if let Some(set) = table.get_mut(&p) {
                    set.remove(&conn);
                    if set.is_empty() {
                        table.remove(&p);
                    }
                }
            }
        }
    }

    fn take(&mut self, kind: WatchKind, p: &str, out: &mut BTreeSet<ConnId>) {
        if let Some(set) = self.tables[idx(kind)].remove(p) {
            for c in set {
                if let Some(mine) = self.by_conn.get_mut(&c) {
                    mine.remove(&(kind, p.to_string()));
                    if mine.is_empty() {
                        self.by_conn.remove(&c);
                    }
                }
                out.insert(c);
            }
        }
    }

    /// Connections to notify of `event` on `p`; fired one-shot watches are removed. The flag is
    /// true when the connection is notified only through a persistent-recursive watch on an
    /// ancestor: the caller must then check READ on the changed node (ZooKeeper's
    /// CVE-2024-23944 fix), since the watcher never proved it may read that node.
    pub fn trigger(&mut self, p: &str, event: EventType) -> BTreeMap<ConnId, bool> {
        let mut out = BTreeSet::new();
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.take(WatchKind::Data, p, &mut out)
            }
            EventType::NodeDeleted => {
                self.take(WatchKind::Data, p, &mut out);
                self.take(WatchKind::Child, p, &mut out);
            }
            EventType::NodeChildrenChanged => self.take(WatchKind::Child, p, &mut out),
            _ => {}
        }
        if let Some(set) = self.tables[idx(WatchKind::Persistent)].get(p) {
            out.extend(set.iter().copied());
        }
        let mut result: BTreeMap<ConnId, bool> = out.into_iter().map(|c| (c, false)).collect();
        let recursive = &self.tables[idx(WatchKind::PersistentRecursive)];
        if event != EventType::NodeChildrenChanged && !recursive.is_empty() {
            let mut cur = p;
            loop {
                if let Some(set) = recursive.get(cur) {
                    for c in set {
                        result.entry(*c).or_insert(true);
                    }
                }
                if cur == "/" {
                    break;
                }
                cur = path::parent(cur);
            }
        }
        result
    }

    /// checkWatches / removeWatches: does `conn` hold a watch of `wtype` on `p`? With `remove`,
    /// also drops the matching watches.
    pub fn check_or_remove(&mut self, conn: ConnId, p: &str, wtype: i32, remove: bool) -> bool {
        let kinds: &[WatchKind] = match wtype {
            watcher_type::CHILDREN => &[WatchKind::Child],
            watcher_type::DATA => &[WatchKind::Data],
            _ => &KINDS,
        };
        let mut found = false;
        for k in kinds {
            let has = self.tables[idx(*k)]
                .get(p)
                .is_some_and(|s| s.contains(&conn));
            if has {
                found = true;
                if remove {
                    self.remove_one(conn, *k, p);
                }
            }
        }
        found
    }

    /// Total registrations (for `wchs` / mntr).
    pub fn total(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.values().map(|s| s.len()).sum::<usize>())
            .sum()
    }

    /// Distinct watched paths.
    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&String> = HashSet::new();
        for t in &self.tables {
            paths.extend(t.keys());
        }
        paths.len()
    }

    /// Connections holding any watch.
    pub fn conn_count(&self) -> usize {
        self.by_conn.len()
    }

    /// Paths watched per connection (for `wchc`).
    pub fn by_conn(&self) -> BTreeSet<(ConnId, String)> {
        self.by_conn
            .iter()
            .flat_map(|(c, set)| set.iter().map(move |(_, p)| (*c, p.clone())))
            .collect()
    }

    /// Connections per watched path (for `wchp`).
    pub fn by_path(&self) -> BTreeSet<(String, ConnId)> {
        self.by_conn().into_iter().map(|(c, p)| (p, c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_watches_fire_once() {
        let mut w = WatchManager::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(2, WatchKind::Data, "/a");
        assert_eq!(w.trigger("/a", EventType::NodeDataChanged).len(), 2);
        assert!(w.trigger("/a", EventType::NodeDataChanged).is_empty());
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn delete_fires_data_and_child_once_per_conn() {
        let mut w = WatchManager::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::Child, "/a");
        let got = w.trigger("/a", EventType::NodeDeleted);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![(1, false)]);
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = WatchManager::default();
        w.add(1, WatchKind::Persistent, "/a");
        w.add(2, WatchKind::PersistentRecursive, "/a");
        assert_eq!(w.trigger("/a", EventType::NodeChildrenChanged).len(), 1);
        assert_eq!(
            w.trigger("/a/b/c", EventType::NodeCreated)
                .into_iter()
                .collect::<Vec<_>>(),
            vec![(2, true)]
        );
        assert_eq!(w.trigger("/a", EventType::NodeDataChanged).len(), 2);
        assert_eq!(w.trigger("/ab", EventType::NodeCreated).len(), 0);
        assert_eq!(w.total(), 2);
    }

    #[test]
    fn check_and_remove() {
        let mut w = WatchManager::default();
        w.add(1, WatchKind::Child, "/a");
        assert!(!w.check_or_remove(1, "/a", watcher_type::DATA, false));
        assert!(w.check_or_remove(1, "/a", watcher_type::CHILDREN, false));
        assert!(w.check_or_remove(1, "/a", watcher_type::ANY, true));
        assert!(!w.check_or_remove(1, "/a", watcher_type::ANY, false));
        w.add(3, WatchKind::Data, "/x");
        w.remove_conn(3);
        assert_eq!(w.total(), 0);
        assert_eq!(w.conn_count(), 0);
    }
}
