//! Snapshots: the whole state machine serialized at one zxid, so the log before it can go.
//!
//! Two body formats:
//!
//! - **compact** (what Raft snapshots carry, [`write_compact`] / [`decode_compact`]), all
//!   integers big-endian: last_zxid i64 | session count u32, (id i64, timeout i32)* | ACL list
//!   count u32, jute vector<ACL>* (a node names its list by position) | root: ACL index u32,
//!   data (u32 len, bytes), stored Stat | node count u32, then every node except "/" in
//!   depth-first pre-order as: parent u32 (0 = root, k = the k-th node of this list, so a
//!   parent always precedes its children), name (u32 len, bytes), data (u32 len, bytes), ACL
//!   index u32, stored Stat. Stored Stat = czxid, mzxid, pzxid, ctime, mtime, ephemeralOwner
//!   i64, version, cversion, aversion i32 (dataLength and numChildren are derived). The
//!   encoder streams into any `Write` (no buffer the size of the tree); the decoder borrows
//!   names and data from the input and builds the arena directly: node k lands in slot k.
//! - **v1** (the pre-Raft `keeper.snap`, read for migration): last_zxid long, session count
//!   int, (id long, timeout int)…, node count int, then every node except "/" in depth-first
//!   order as path ustring, data buffer, acl vector<ACL>, Stat; then the root's Stat.
//!
//! File `<data_dir>/keeper.snap` (pre-Raft): 8-byte magic `CKSNAP01`, a v1 body, then the
//! body's crc32 (u32 BE). Written to `keeper.snap.tmp`, fsynced, renamed over the old one and
//! the directory fsynced, so a crash leaves either the old or the new snapshot, never a torn one.

use std::io::Write;
use std::path::Path;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use courier_keeper_proto::jute::{put_buffer, put_int, put_long, put_records, put_ustring};
use courier_keeper_proto::{Acl, JuteError, Reader, Record, Stat};

use crate::error::{io_err, KeeperError};
use crate::path;
use crate::state::StateMachine;
use crate::tree::{DataTree, NodeId, StoredStat, ROOT};

const MAGIC: &[u8; 8] = b"CKSNAP01";
const FILE: &str = "keeper.snap";
/// Bytes of a stored Stat in the compact body.
const STORED_STAT: usize = 6 * 8 + 3 * 4;
/// Smallest node record of the compact body (parent, name len, data len, ACL index, Stat).
const MIN_NODE: usize = 4 * 4 + STORED_STAT;

fn put_stored(out: &mut Vec<u8>, s: &StoredStat) {
    for v in [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.owner] {
        out.put_i64(v);
    }
    for v in [s.version, s.cversion, s.aversion] {
        out.put_i32(v);
    }
}

fn put_len_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_u32(b.len() as u32);
    out.extend_from_slice(b);
}

/// Streams the compact body of `state` into `w`.
pub fn write_compact<W: Write>(state: &StateMachine, w: &mut W) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(64 << 10);
    emit_compact(state, &mut out, 60 << 10, |chunk| {
        w.write_all(chunk)?;
        chunk.clear();
        Ok(())
    })
}

/// Encodes the compact body of `state` into `out`, handing it to `emit` whenever it holds
/// `chunk` bytes or more, and once at the end. `emit` must leave `out` empty (clear it, or swap
/// in another buffer: the snapshot writer passes whole buffers to its writer thread this way
/// instead of copying them).
pub fn emit_compact(
    state: &StateMachine,
    out: &mut Vec<u8>,
    chunk: usize,
    mut emit: impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tree = &state.tree;
    out.put_i64(state.last_zxid);
    out.put_u32(state.sessions.len() as u32);
    for (id, t) in &state.sessions {
        out.put_i64(*id);
        out.put_i32(*t);
    }
    // Interned ACL ids are small slot numbers: a table indexed by them, not a hash map, since
    // it is looked up once per node while writes wait.
    let lists: Vec<_> = tree.acl_lists().collect();
    let slots = lists
        .iter()
        .map(|(id, _)| *id as usize + 1)
        .max()
        .unwrap_or(0);
    let mut acl_index = vec![u32::MAX; slots];
    out.put_u32(lists.len() as u32);
    for (i, (id, acl)) in lists.iter().enumerate() {
        acl_index[*id as usize] = i as u32;
        put_records(out, acl.as_slice());
    }
    let acl_of = |id: NodeId| {
        acl_index
            .get(tree.acl_id(id) as usize)
            .copied()
            .unwrap_or(u32::MAX)
    };
    let root = tree.node(ROOT);
    out.put_u32(acl_of(ROOT));
    put_len_bytes(out, root.data());
    put_stored(out, root.stored());
    out.put_u32(tree.node_count().saturating_sub(1) as u32);
    let mut stack: Vec<(NodeId, u32)> = tree.child_ids(ROOT).map(|c| (c, 0)).collect();
    let mut written = 0u32;
    while let Some((id, parent)) = stack.pop() {
        written += 1;
        let n = tree.node(id);
        out.put_u32(parent);
        put_len_bytes(out, n.name().as_bytes());
        put_len_bytes(out, n.data());
        out.put_u32(acl_of(id));
        put_stored(out, n.stored());
        stack.extend(tree.child_ids(id).map(|c| (c, written)));
        if out.len() >= chunk {
            emit(out)?;
        }
    }
    emit(out)
}

/// The compact body of `state` in memory (small states and tests).
pub fn encode_compact(state: &StateMachine) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_compact(state, &mut out);
    out
}

/// A bounds-checked cursor over a compact body.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], JuteError> {
        let remaining = self.buf.len() - self.pos;
        if remaining < n {
            return Err(JuteError::Truncated {
                what,
                needed: n,
                remaining,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, JuteError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, JuteError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], JuteError> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }

    fn stored(&mut self) -> Result<StoredStat, JuteError> {
        let b = self.take(STORED_STAT, "node stat")?;
        let l = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            i64::from_be_bytes(a)
        };
        let int = |i: usize| {
            let o = 48 + i * 4;
            i32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
        };
        Ok(StoredStat {
            czxid: l(0),
            mzxid: l(1),
            pzxid: l(2),
            ctime: l(3),
            mtime: l(4),
            owner: l(5),
            version: int(0),
            cversion: int(1),
            aversion: int(2),
        })
    }
}

fn bad(what: &'static str, value: i64) -> JuteError {
    JuteError::BadValue { what, value }
}

/// Rebuilds a state machine from a body written by [`write_compact`].
pub fn decode_compact(body: &[u8]) -> Result<StateMachine, JuteError> {
    let mut c = Cursor { buf: body, pos: 0 };
    let mut state = StateMachine::new();
    state.last_zxid = c.i64("snapshot zxid")?;
    let sessions = c.u32("session count")?;
    for _ in 0..sessions {
        let id = c.i64("session id")?;
        let t = c.u32("session timeout")? as i32;
        state.sessions.insert(id, t);
    }
    let list_count = c.u32("ACL list count")? as usize;
    let mut lists: Vec<Vec<Acl>> = Vec::with_capacity(list_count.min(c.buf.len() / 4));
    {
        let mut r = Reader::new(&body[c.pos..], usize::MAX);
        for _ in 0..list_count {
            lists.push(r.vector("ACL list", Acl::read)?);
        }
        c.pos = body.len() - r.remaining();
    }
    let acl_list = |i: u32| {
        lists
            .get(i as usize)
            .ok_or_else(|| bad("snapshot ACL index", i64::from(i)))
    };
    let root_acl = c.u32("root ACL index")?;
    let root_data = c.bytes("root data")?;
    let root_stat = c.stored()?;
    let mut tree = DataTree::with_root(root_data, acl_list(root_acl)?, root_stat);
    let ids: Vec<u32> = lists.iter().map(|l| tree.acl_intern(l)).collect();
    let count = c.u32("node count")? as usize;
    tree.reserve(count.min((body.len() - c.pos) / MIN_NODE));
    for k in 0..count {
        let parent = c.u32("node parent")?;
        if parent as usize > k {
            return Err(bad("snapshot node before its parent", i64::from(parent)));
        }
        let name = c.bytes("node name")?;
        let data = c.bytes("node data")?;
        let acl = c.u32("node ACL index")?;
        let stat = c.stored()?;
        let acl = *ids
            .get(acl as usize)
            .ok_or_else(|| bad("snapshot ACL index", i64::from(acl)))?;
        if name.is_empty() || std::str::from_utf8(name).is_err() {
            return Err(bad("snapshot node name", k as i64));
        }
        if tree.child(parent, name).is_some() {
            return Err(bad("snapshot node listed twice", k as i64));
        }
        tree.acl_ref(acl);
        tree.push_child(parent, name, data, acl, stat);
    }
    for id in ids {
        tree.acl_release(id);
    }
    if c.pos != body.len() {
        return Err(bad(
            "trailing bytes after the snapshot",
            (body.len() - c.pos) as i64,
        ));
    }
    state.tree = tree;
    Ok(state)
}

/// Serializes `state` as a v1 body (no magic or crc).
pub fn encode(state: &StateMachine) -> Bytes {
    let mut out = BytesMut::with_capacity(state.tree.approximate_data_size() + 1024);
    put_long(&mut out, state.last_zxid);
    put_int(&mut out, state.sessions.len() as i32);
    for (id, t) in &state.sessions {
        put_long(&mut out, *id);
        put_int(&mut out, *t);
    }
    let tree = &state.tree;
    put_int(&mut out, tree.node_count().saturating_sub(1) as i32);
    let mut stack: Vec<NodeId> = tree.child_ids(ROOT).collect();
    while let Some(id) = stack.pop() {
        let n = tree.node(id);
        put_ustring(&mut out, &tree.path_of(id));
        put_buffer(&mut out, n.data());
        put_records(&mut out, n.acl().as_slice());
        n.stat().write(&mut out);
        stack.extend(tree.child_ids(id));
    }
    tree.node(ROOT).stat().write(&mut out);
    out.freeze()
}

/// Rebuilds a state machine from a v1 body written by [`encode`].
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
    // The built-in /zookeeper nodes come from the snapshot like every other node.
    let mut tree = DataTree::with_root(&[], &crate::acl::open_acl(), StoredStat::default());
    // Every node takes at least 80 bytes (path, data and ACL lengths plus a Stat), which bounds
    // the reservation even if the count field is nonsense.
    tree.reserve((count.max(0) as usize).min(r.remaining() / 80));
    for _ in 0..count.max(0) {
        let p = r.ustring("node path")?;
        let data = r.bytes("node data")?;
        let acl: Vec<Acl> = r.vector("node acl", Acl::read)?;
        let stat = Stat::read(&mut r)?;
        let parent = tree
            .lookup(path::parent(&p))
            .ok_or_else(|| bad("snapshot node without parent", 0))?;
        let name = path::name(&p).as_bytes();
        if p == "/" || tree.child(parent, name).is_some() {
            return Err(bad("snapshot node listed twice", 0));
        }
        let acl = tree.acl_intern(&acl);
        tree.push_child(parent, name, &data, acl, StoredStat::from_stat(&stat));
    }
    let root_stat = Stat::read(&mut r)?;
    tree.set_root_stat(StoredStat::from_stat(&root_stat));
    state.tree = tree;
    Ok(state)
}

/// Writes a snapshot of `state` atomically into `dir`.
pub fn write(dir: &Path, state: &StateMachine) -> Result<(), KeeperError> {
    let body = encode(state);
    let dst = dir.join(FILE);
    let mut file = Vec::with_capacity(MAGIC.len() + body.len() + 4);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&body);
    file.put_u32(crc32fast::hash(&body));
    courier_durable_file::replace(&dst, &file, None).map_err(io_err("writing a snapshot", &dst))
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
        assert_eq!(a.tree.dump(), b.tree.dump());
        let owners = |s: &StateMachine| {
            let mut v: Vec<_> = s.tree.ephemeral_counts().collect();
            v.sort();
            (v, s.tree.ephemerals_of(9), s.tree.containers())
        };
        assert_eq!(owners(a), owners(b));
    }

    #[test]
    fn round_trip() {
        let sm = sample();
        same(&sm, &decode(&encode(&sm)).unwrap());
        same(&sm, &decode_compact(&encode_compact(&sm)).unwrap());
    }

    #[test]
    fn compact_body_rejects_damage() {
        let body = encode_compact(&sample());
        for cut in [0, 7, body.len() / 2, body.len() - 1] {
            assert!(decode_compact(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(decode_compact(&longer).is_err());
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
