//! Snapshots: the whole state machine serialized at one zxid, so the log before it can go.
//!
//! File `<data_dir>/keeper.snap`: 8-byte magic `CKSNAP01`, a jute-encoded body, then the
//! body's crc32 (u32 BE). Body = last_zxid long, session count int, (id long, timeout int)…,
//! node count int, then every node except "/" in depth-first order (a parent always precedes its
//! children) as path ustring, data buffer, acl vector<ACL>, Stat; then the root's Stat.
//! Written to `keeper.snap.tmp`, fsynced, renamed over the old one and the directory fsynced,
//! so a crash leaves either the old or the new snapshot, never a torn one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use courier_keeper_proto::jute::{put_buffer, put_int, put_long, put_records, put_ustring};
use courier_keeper_proto::{Acl, JuteError, Reader, Record, Stat};

use crate::error::KeeperError;
use crate::path;
use crate::state::StateMachine;
use crate::tree::{DataTree, Node};

const MAGIC: &[u8; 8] = b"CKSNAP01";
const FILE: &str = "keeper.snap";

fn io_err(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeeperError {
    let path = path.to_path_buf();
    move |source| KeeperError::Io {
        context,
        path,
        source,
    }
}

/// Serializes `state` (body only, no magic or crc).
pub fn encode(state: &StateMachine) -> Bytes {
    let mut out = BytesMut::with_capacity(state.tree.approximate_data_size() + 1024);
    put_long(&mut out, state.last_zxid);
    put_int(&mut out, state.sessions.len() as i32);
    for (id, t) in &state.sessions {
        put_long(&mut out, *id);
        put_int(&mut out, *t);
    }
    put_int(&mut out, state.tree.node_count().saturating_sub(1) as i32);
    let mut stack: Vec<String> = Vec::new();
    if let Some(root) = state.tree.get("/") {
        for c in root.children.iter().rev() {
            stack.push(path::join("/", c));
        }
    }
    while let Some(p) = stack.pop() {
        if let Some(n) = state.tree.get(&p) {
            put_ustring(&mut out, &p);
            put_buffer(&mut out, &n.data);
            put_records(&mut out, &n.acl);
            n.stat.write(&mut out);
            for c in n.children.iter().rev() {
                stack.push(path::join(&p, c));
            }
        }
    }
    state
        .tree
        .get("/")
        .map(|n| n.stat.clone())
        .unwrap_or_default()
        .write(&mut out);
    out.freeze()
}

/// Rebuilds a state machine from a body written by [`encode`].
pub fn decode(body: &[u8]) -> Result<StateMachine, JuteError> {
    let mut r = Reader::new(body, usize::MAX);
    let mut state = StateMachine::new();
    state.last_zxid = r.long("snapshot zxid")?;
    let sessions = r.int("session count")?;
    for _ in 0..sessions.max(0) {
        let id = r.long("session id")?;
        let t = r.int("session timeout")?;
        state.sessions.insert(id, t);
    }
    let count = r.int("node count")?;
    let mut tree = DataTree::new();
    // Keep the built-in /zookeeper nodes only if the snapshot does not carry them.
    tree.nodes.retain(|p, _| p == "/");
    if let Some(root) = tree.nodes.get_mut("/") {
        root.children.clear();
    }
    // Every node takes at least 80 bytes (path, data and ACL lengths plus a Stat), which bounds
    // the reservation even if the count field is nonsense.
    tree.nodes
        .reserve((count.max(0) as usize).min(r.remaining() / 80));
    for _ in 0..count.max(0) {
        let p = r.ustring("node path")?;
        let data = r.bytes("node data")?;
        let acl: Vec<Acl> = r.vector("node acl", Acl::read)?;
        let stat = Stat::read(&mut r)?;
        let acl = tree.intern_acl(&acl);
        match tree.nodes.get_mut(path::parent(&p)) {
            Some(pn) => {
                pn.children.insert(path::name(&p).to_string());
            }
            None => {
                return Err(JuteError::BadValue {
                    what: "snapshot node without parent",
                    value: 0,
                })
            }
        }
        tree.index_owner(&p, stat.ephemeral_owner);
        tree.nodes.insert(
            p,
            Node {
                data,
                acl,
                stat,
                children: BTreeSet::new(),
            },
        );
    }
    let root_stat = Stat::read(&mut r)?;
    if let Some(root) = tree.nodes.get_mut("/") {
        root.stat = root_stat;
    }
    state.tree = tree;
    Ok(state)
}

/// Writes a snapshot of `state` atomically into `dir`.
pub fn write(dir: &Path, state: &StateMachine) -> Result<(), KeeperError> {
    let body = encode(state);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let dst = dir.join(FILE);
    let mut f = File::create(&tmp).map_err(io_err("creating a snapshot", &tmp))?;
    let mut trailer = Vec::with_capacity(4);
    trailer.put_u32(crc32fast::hash(&body));
    f.write_all(MAGIC)
        .and_then(|_| f.write_all(&body))
        .and_then(|_| f.write_all(&trailer))
        .and_then(|_| f.sync_all())
        .map_err(io_err("writing a snapshot", &tmp))?;
    std::fs::rename(&tmp, &dst).map_err(io_err("installing a snapshot", &dst))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing the data directory", dir))?;
    Ok(())
}

/// Loads the snapshot in `dir`, if there is one.
pub fn load(dir: &Path) -> Result<Option<StateMachine>, KeeperError> {
    let p = dir.join(FILE);
    let raw = match std::fs::read(&p) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("reading the snapshot", &p)(e)),
    };
    let corrupt = |reason: String| KeeperError::Corrupt {
        path: p.clone(),
        zxid: 0,
        reason,
    };
    if raw.len() < MAGIC.len() + 4 || &raw[..MAGIC.len()] != MAGIC {
        return Err(corrupt(
            "not a keeper snapshot (bad magic or too short)".into(),
        ));
    }
    let body = &raw[MAGIC.len()..raw.len() - 4];
    let mut trailer = &raw[raw.len() - 4..];
    if crc32fast::hash(body) != trailer.get_u32() {
        return Err(corrupt("snapshot checksum mismatch".into()));
    }
    decode(body)
        .map(Some)
        .map_err(|e| corrupt(format!("snapshot does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnEntry};

    fn sample() -> StateMachine {
        let mut sm = StateMachine::new();
        let mut z = 0;
        let mut apply = |sm: &mut StateMachine, sid, txn| {
            z += 1;
            sm.apply(&TxnEntry {
                zxid: z,
                time_ms: 100 + z,
                session_id: sid,
                txn,
            })
            .unwrap();
        };
        apply(&mut sm, 9, Txn::CreateSession { timeout_ms: 5000 });
        for p in ["/a", "/a/b", "/a/b/c", "/z"] {
            apply(
                &mut sm,
                0,
                Txn::Create {
                    path: p.into(),
                    data: Bytes::from(p.as_bytes().to_vec()),
                    acl: crate::acl::open_acl(),
                    ephemeral_owner: 0,
                },
            );
        }
        apply(
            &mut sm,
            9,
            Txn::Create {
                path: "/a/e".into(),
                data: Bytes::new(),
                acl: crate::acl::open_acl(),
                ephemeral_owner: 9,
            },
        );
        apply(
            &mut sm,
            0,
            Txn::Create {
                path: "/box".into(),
                data: Bytes::new(),
                acl: vec![],
                ephemeral_owner: courier_keeper_proto::CONTAINER_EPHEMERAL_OWNER,
            },
        );
        apply(
            &mut sm,
            0,
            Txn::SetData {
                path: "/a".into(),
                data: Bytes::from_static(b"new"),
            },
        );
        apply(&mut sm, 0, Txn::Delete { path: "/z".into() });
        sm
    }

    fn same(a: &StateMachine, b: &StateMachine) {
        assert_eq!(a.last_zxid, b.last_zxid);
        assert_eq!(a.sessions, b.sessions);
        assert_eq!(a.tree.node_count(), b.tree.node_count());
        for (p, n) in &a.tree.nodes {
            let m = b.tree.get(p).unwrap_or_else(|| panic!("{p} missing"));
            assert_eq!(
                (&n.data, &n.stat, &n.children),
                (&m.data, &m.stat, &m.children),
                "{p}"
            );
            assert_eq!(n.acl, m.acl);
        }
        assert_eq!(a.tree.ephemerals, b.tree.ephemerals);
        assert_eq!(a.tree.containers, b.tree.containers);
    }

    #[test]
    fn round_trip() {
        let sm = sample();
        same(&sm, &decode(&encode(&sm)).unwrap());
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let sm = sample();
        write(dir.path(), &sm).unwrap();
        same(&sm, &load(dir.path()).unwrap().unwrap());
        let p = dir.path().join(FILE);
        let mut raw = std::fs::read(&p).unwrap();
        raw[20] ^= 1;
        std::fs::write(&p, raw).unwrap();
        assert!(matches!(load(dir.path()), Err(KeeperError::Corrupt { .. })));
    }
}
