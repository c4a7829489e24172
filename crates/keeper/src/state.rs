//! The state machine: data tree + live sessions + last applied zxid, changed only by `apply`.
//!
//! `apply` is a pure function of (state, entry): no clocks, no randomness, no I/O. It is what the
//! WAL replay runs at startup and what openraft's state machine will run later. It reports the
//! watch events each change raises and the Stat after each (sub-)op so the caller can answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use courier_keeper_proto::{Acl, EventType, Stat};

use crate::path;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnEntry};

/// Why a txn could not be applied (only possible with a corrupt or foreign log: prep validates).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("txn at zxid {zxid:#x} does not apply: {reason}")]
pub struct ApplyError {
    /// The entry's zxid.
    pub zxid: i64,
    /// What was inconsistent.
    pub reason: String,
}

/// What applying one entry did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Watch events in the order the changes happened: (path, type).
    pub events: Vec<(String, EventType)>,
    /// Stat of the touched node after each leaf op (None for delete, check and session txns).
    pub stats: Vec<Option<Stat>>,
    /// Ephemerals deleted by a CloseSession.
    pub closed_ephemerals: Vec<String>,
    /// ACLs of deleted nodes, for filtering recursive-watch notifications.
    pub deleted_acls: Vec<(String, Arc<Vec<Acl>>)>,
}

/// Tree, sessions and zxid.
#[derive(Debug, Clone, Default)]
pub struct StateMachine {
    /// The znodes.
    pub tree: DataTree,
    /// Live sessions and their negotiated timeouts (ms).
    pub sessions: BTreeMap<i64, i32>,
    /// zxid of the last applied entry.
    pub last_zxid: i64,
}

impl StateMachine {
    /// The initial state.
    pub fn new() -> Self {
        StateMachine {
            tree: DataTree::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
        }
    }

    /// Applies one entry. On error nothing of a single op has changed; a multi that fails
    /// half-way (impossible for prepared txns) leaves earlier sub-ops applied.
    pub fn apply(&mut self, e: &TxnEntry) -> Result<Applied, ApplyError> {
        let mut out = Applied::default();
        match &e.txn {
            Txn::Multi(txns) => {
                for t in txns {
                    self.apply_one(e, t, &mut out)?;
                }
            }
            t => self.apply_one(e, t, &mut out)?,
        }
        self.last_zxid = self.last_zxid.max(e.zxid);
        Ok(out)
    }

    fn apply_one(&mut self, e: &TxnEntry, txn: &Txn, out: &mut Applied) -> Result<(), ApplyError> {
        let fail = |reason: String| ApplyError {
            zxid: e.zxid,
            reason,
        };
        match txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(e.session_id, *timeout_ms);
                out.stats.push(None);
            }
            Txn::CloseSession => {
                for p in self.tree.ephemerals_of(e.session_id) {
                    self.delete(e.zxid, &p, out).map_err(fail)?;
                    out.closed_ephemerals.push(p);
                }
                self.sessions.remove(&e.session_id);
                out.stats.push(None);
            }
            Txn::Create {
                path: p,
                data,
                acl,
                ephemeral_owner,
            } => {
                let stat = self
                    .tree
                    .create(p, data, acl, *ephemeral_owner, e.zxid, e.time_ms)
                    .map_err(fail)?;
                out.events.push((p.clone(), EventType::NodeCreated));
                out.events
                    .push((path::parent(p).to_string(), EventType::NodeChildrenChanged));
                out.stats.push(Some(stat));
            }
            Txn::Delete { path: p } => {
                self.delete(e.zxid, p, out).map_err(fail)?;
                out.stats.push(None);
            }
            Txn::SetData { path: p, data } => {
                let stat = self
                    .tree
                    .set_data(p, data, e.zxid, e.time_ms)
                    .map_err(fail)?;
                out.stats.push(Some(stat));
                out.events.push((p.clone(), EventType::NodeDataChanged));
            }
            Txn::SetAcl { path: p, acl } => {
                let stat = self.tree.set_acl(p, acl).map_err(fail)?;
                out.stats.push(Some(stat));
            }
            Txn::Check { .. } | Txn::Error { .. } => out.stats.push(None),
            Txn::Multi(_) => return Err(fail("nested multi".into())),
        }
        Ok(())
    }

    fn delete(&mut self, zxid: i64, p: &str, out: &mut Applied) -> Result<(), String> {
        let acl = self.tree.delete(p, zxid)?;
        out.deleted_acls.push((p.to_string(), acl));
        out.events.push((p.to_string(), EventType::NodeDeleted));
        out.events
            .push((path::parent(p).to_string(), EventType::NodeChildrenChanged));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(zxid: i64, session_id: i64, txn: Txn) -> TxnEntry {
        TxnEntry {
            zxid,
            time_ms: 1000 + zxid,
            session_id,
            txn,
        }
    }

    fn create(p: &str, owner: i64) -> Txn {
        Txn::Create {
            path: p.into(),
            data: Bytes::from_static(b"d"),
            acl: crate::acl::open_acl(),
            ephemeral_owner: owner,
        }
    }

    #[test]
    fn create_updates_parent_and_stat() {
        let mut sm = StateMachine::new();
        let a = sm.apply(&entry(1, 0, create("/a", 0))).unwrap();
        assert_eq!(
            a.events,
            vec![
                ("/a".to_string(), EventType::NodeCreated),
                ("/".to_string(), EventType::NodeChildrenChanged)
            ]
        );
        let root = sm.tree.get("/").unwrap();
        assert_eq!(root.stat().cversion, 1);
        assert_eq!(root.stat().num_children, 2);
        assert_eq!(root.stat().pzxid, 1);
        let n = sm.tree.get("/a").unwrap();
        let st = n.stat();
        assert_eq!(
            (st.czxid, st.mzxid, st.ctime, st.data_length),
            (1, 1, 1001, 1)
        );
        sm.apply(&entry(
            2,
            0,
            Txn::SetData {
                path: "/a".into(),
                data: Bytes::new(),
            },
        ))
        .unwrap();
        let n = sm.tree.get("/a").unwrap();
        let st = n.stat();
        assert_eq!((st.version, st.mzxid, st.data_length), (1, 2, 0));
        assert_eq!(sm.last_zxid, 2);
    }

    #[test]
    fn close_session_deletes_ephemerals() {
        let mut sm = StateMachine::new();
        sm.apply(&entry(1, 7, Txn::CreateSession { timeout_ms: 5000 }))
            .unwrap();
        sm.apply(&entry(2, 7, create("/e", 7))).unwrap();
        sm.apply(&entry(3, 7, create("/p", 0))).unwrap();
        let a = sm.apply(&entry(4, 7, Txn::CloseSession)).unwrap();
        assert_eq!(a.closed_ephemerals, vec!["/e".to_string()]);
        assert!(sm.tree.get("/e").is_none());
        assert!(sm.tree.get("/p").is_some());
        assert!(sm.sessions.is_empty());
        assert!(sm.tree.ephemerals_of(7).is_empty());
    }

    #[test]
    fn apply_is_deterministic() {
        let log = vec![
            entry(1, 0, create("/a", 0)),
            entry(
                2,
                0,
                Txn::Multi(vec![
                    create("/a/b", 0),
                    Txn::SetData {
                        path: "/a".into(),
                        data: Bytes::from_static(b"x"),
                    },
                ]),
            ),
            entry(
                3,
                0,
                Txn::Delete {
                    path: "/a/b".into(),
                },
            ),
        ];
        let mut x = StateMachine::new();
        let mut y = StateMachine::new();
        for e in &log {
            assert_eq!(x.apply(e).unwrap(), y.apply(e).unwrap());
        }
        assert_eq!(x.tree.dump(), y.tree.dump());
        assert_eq!(x.tree.get("/a").unwrap().stat().cversion, 2);
    }

    #[test]
    fn inconsistent_txn_is_an_error() {
        let mut sm = StateMachine::new();
        assert!(sm.apply(&entry(1, 0, create("/x/y", 0))).is_err());
        assert!(sm
            .apply(&entry(
                1,
                0,
                Txn::Delete {
                    path: "/nope".into()
                }
            ))
            .is_err());
    }
}
