//! The data tree in a compact layout: every znode is one fixed-size slot in an arena, found
//! through one hash table keyed by (parent slot, child name), plus the indexes the server needs
//! (ephemerals per session, containers, TTL nodes) and the interned ACL lists.
//!
//! Layout (why it is small — ~100 B of slot plus one allocation per node):
//! - a slot holds the Stat fields that cannot be derived (zxids, times, versions, owner), the
//!   child count, the links parent / first child / previous and next sibling (slot numbers), an
//!   ACL id, and ONE boxed byte string `name ‖ data` (the node's last path component followed by
//!   its payload; no capacity slack, no second allocation for the name);
//! - the full path is never stored: it is the chain of names up to the root;
//! - children are an intrusive doubly linked list through the sibling links (O(1) link and
//!   unlink); listings are sorted when asked for, which is the order getChildren returns;
//! - `index` maps hash(parent, name) → slot; the table stores 4-byte slot numbers only and
//!   compares against the slots' own names;
//! - ACL lists are interned with reference counts (ZooKeeper's ACL cache does the same), a slot
//!   stores the list's id.
//!
//! Invariants: slot 0 is "/" and is never freed; a live slot has `acl != FREE`, its parent is
//! live and it is on its parent's child list exactly once; `num_children` equals that list's
//! length; `index` holds exactly the live slots except the root; freed slots are chained through
//! `next` for reuse; ephemerals/containers/ttls list exactly the live slots whose owner says so.
//! Only `StateMachine::apply` (and snapshot loading) mutate a tree, so these hold after every txn.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use courier_keeper_proto::{perms, ttl_of_owner, Acl, Id, Stat, CONTAINER_EPHEMERAL_OWNER};
use hashbrown::HashTable;

use crate::path;

/// A slot number in the arena.
pub type NodeId = u32;

/// The root's slot.
pub const ROOT: NodeId = 0;
const NIL: u32 = u32::MAX;
/// `acl` value of a free slot.
const FREE: u32 = u32::MAX;

/// The Stat fields a node stores (dataLength and numChildren are derived from the node).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredStat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last setData (or create).
    pub mzxid: i64,
    /// zxid of the last child list change.
    pub pzxid: i64,
    /// Create time, ms.
    pub ctime: i64,
    /// Last modification time, ms.
    pub mtime: i64,
    /// ephemeralOwner as stored (container/TTL markers included).
    pub owner: i64,
    /// Data version.
    pub version: i32,
    /// Child list version.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
}

impl StoredStat {
    /// The stored part of a full Stat.
    pub fn from_stat(s: &Stat) -> Self {
        StoredStat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            owner: s.ephemeral_owner,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
        }
    }
}

struct Slot {
    /// name ‖ data.
    buf: Box<[u8]>,
    name_len: u32,
    parent: u32,
    first_child: u32,
    prev: u32,
    /// Next sibling; for a free slot, the next free slot.
    next: u32,
    acl: u32,
    num_children: u32,
    stat: StoredStat,
}

impl Slot {
    fn name(&self) -> &[u8] {
        &self.buf[..self.name_len as usize]
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.name_len as usize..]
    }
}

fn join_buf(name: &[u8], data: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(name.len() + data.len());
    v.extend_from_slice(name);
    v.extend_from_slice(data);
    v.into_boxed_slice()
}

/// One znode as readers see it (a view into the arena).
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    tree: &'a DataTree,
    id: NodeId,
}

impl<'a> NodeRef<'a> {
    fn slot(&self) -> &'a Slot {
        &self.tree.slots[self.id as usize]
    }

    /// Its slot number.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Payload.
    pub fn data(&self) -> &'a [u8] {
        self.slot().data()
    }

    /// Last path component ("" for the root).
    pub fn name(&self) -> &'a str {
        std::str::from_utf8(self.slot().name()).unwrap_or_default()
    }

    /// The node's ACL.
    pub fn acl(&self) -> &'a Arc<Vec<Acl>> {
        self.tree.acls.get(self.slot().acl)
    }

    /// The stored Stat fields.
    pub fn stored(&self) -> &'a StoredStat {
        &self.slot().stat
    }

    /// The full Stat (as stored: container/TTL owners not masked, see [`client_stat`]).
    pub fn stat(&self) -> Stat {
        let s = self.slot();
        Stat {
            czxid: s.stat.czxid,
            mzxid: s.stat.mzxid,
            ctime: s.stat.ctime,
            mtime: s.stat.mtime,
            version: s.stat.version,
            cversion: s.stat.cversion,
            aversion: s.stat.aversion,
            ephemeral_owner: s.stat.owner,
            data_length: s.data().len() as i32,
            num_children: s.num_children as i32,
            pzxid: s.stat.pzxid,
        }
    }

    /// Number of children.
    pub fn num_children(&self) -> usize {
        self.slot().num_children as usize
    }

    /// Child names, sorted.
    pub fn children(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .tree
            .child_ids(self.id)
            .map(|c| self.tree.node(c).name().to_string())
            .collect();
        out.sort_unstable();
        out
    }
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

/// Interned ACL lists with reference counts; id = position.
#[derive(Default)]
struct AclTable {
    lists: Vec<(Arc<Vec<Acl>>, u32)>,
    by_hash: HashMap<u64, Vec<u32>>,
    free: Vec<u32>,
    empty: Arc<Vec<Acl>>,
}

fn acl_hash(acl: &[Acl]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for a in acl {
        a.perms.hash(&mut h);
        a.id.scheme.hash(&mut h);
        a.id.id.hash(&mut h);
    }
    h.finish()
}

impl AclTable {
    fn get(&self, id: u32) -> &Arc<Vec<Acl>> {
        self.lists
            .get(id as usize)
            .map(|l| &l.0)
            .unwrap_or(&self.empty)
    }

    /// The id of `acl`, with one more reference.
    fn intern(&mut self, acl: &[Acl]) -> u32 {
        let h = acl_hash(acl);
        if let Some(ids) = self.by_hash.get(&h) {
            for &id in ids {
                let e = &mut self.lists[id as usize];
                if e.0.as_slice() == acl {
                    e.1 += 1;
                    return id;
                }
            }
        }
        let entry = (Arc::new(acl.to_vec()), 1);
        let id = match self.free.pop() {
            Some(id) => {
                self.lists[id as usize] = entry;
                id
            }
            None => {
                self.lists.push(entry);
                (self.lists.len() - 1) as u32
            }
        };
        self.by_hash.entry(h).or_default().push(id);
        id
    }

    fn add_ref(&mut self, id: u32) {
        if let Some(e) = self.lists.get_mut(id as usize) {
            e.1 += 1;
        }
    }

    fn release(&mut self, id: u32) {
        let Some(e) = self.lists.get_mut(id as usize) else {
            return;
        };
        e.1 = e.1.saturating_sub(1);
        if e.1 > 0 {
            return;
        }
        let h = acl_hash(&e.0);
        e.0 = self.empty.clone();
        if let Some(ids) = self.by_hash.get_mut(&h) {
            ids.retain(|&i| i != id);
            if ids.is_empty() {
                self.by_hash.remove(&h);
            }
        }
        self.free.push(id);
    }

    /// Distinct lists in use, with their ids.
    fn live(&self) -> impl Iterator<Item = (u32, &Arc<Vec<Acl>>)> {
        self.lists
            .iter()
            .enumerate()
            .filter(|(_, e)| e.1 > 0)
            .map(|(i, e)| (i as u32, &e.0))
    }
}

/// All znodes and their indexes.
pub struct DataTree {
    slots: Vec<Slot>,
    free_head: u32,
    live: usize,
    index: HashTable<u32>,
    hasher: RandomState,
    acls: AclTable,
    ephemerals: HashMap<i64, BTreeSet<NodeId>>,
    containers: BTreeSet<NodeId>,
    ttls: BTreeSet<NodeId>,
    data_bytes: usize,
}

impl std::fmt::Debug for DataTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataTree")
            .field("nodes", &self.live)
            .finish_non_exhaustive()
    }
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for DataTree {
    fn clone(&self) -> Self {
        // Rebuilt node by node (parents before children): slot numbers may differ, contents not.
        let mut t = DataTree::with_root(
            self.slots[ROOT as usize].data(),
            self.acl_of(ROOT),
            self.slots[ROOT as usize].stat,
        );
        let mut stack = vec![(ROOT, ROOT)];
        while let Some((src, dst)) = stack.pop() {
            for c in self.child_ids(src) {
                let s = &self.slots[c as usize];
                let acl = t.acls.intern(self.acls.get(s.acl));
                let id = t.push_child(dst, s.name(), s.data(), acl, s.stat);
                stack.push((c, id));
            }
        }
        t
    }
}

fn key_hash(hasher: &RandomState, parent: u32, name: &[u8]) -> u64 {
    let mut h = hasher.build_hasher();
    h.write_u32(parent);
    h.write(name);
    h.finish()
}

impl DataTree {
    /// A tree with "/", "/zookeeper", "/zookeeper/config" (world-readable only) and
    /// "/zookeeper/quota", as ZooKeeper starts.
    pub fn new() -> Self {
        let open = crate::acl::open_acl();
        let mut t = DataTree::with_root(&[], &open, StoredStat::default());
        let read_only = vec![Acl {
            perms: perms::READ,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }];
        let zk = t.acls.intern(&open);
        let zk = t.push_child(ROOT, b"zookeeper", &[], zk, StoredStat::default());
        let ro = t.acls.intern(&read_only);
        // ZooKeeper creates the config node with aversion -1 (observed on 3.8).
        let config = StoredStat {
            aversion: -1,
            ..StoredStat::default()
        };
        t.push_child(zk, b"config", &[], ro, config);
        let q = t.acls.intern(&open);
        t.push_child(zk, b"quota", &[], q, StoredStat::default());
        t
    }

    /// A tree holding only a root with these contents (snapshot loading starts here).
    pub(crate) fn with_root(data: &[u8], acl: &[Acl], stat: StoredStat) -> Self {
        let mut acls = AclTable::default();
        let acl = acls.intern(acl);
        DataTree {
            slots: vec![Slot {
                buf: data.into(),
                name_len: 0,
                parent: NIL,
                first_child: NIL,
                prev: NIL,
                next: NIL,
                acl,
                num_children: 0,
                stat,
            }],
            free_head: NIL,
            live: 1,
            index: HashTable::new(),
            hasher: RandomState::new(),
            acls,
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_bytes: data.len(),
        }
    }

    /// Room for `n` more nodes.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.reserve(n, |&id| {
            let s = &slots[id as usize];
            key_hash(hasher, s.parent, s.name())
        });
    }

    /// The child of `parent` called `name`.
    pub fn child(&self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        let h = key_hash(&self.hasher, parent, name);
        self.index
            .find(h, |&id| {
                let s = &self.slots[id as usize];
                s.parent == parent && s.name() == name
            })
            .copied()
    }

    /// The slot of an absolute path.
    pub fn lookup(&self, p: &str) -> Option<NodeId> {
        if p == "/" {
            return Some(ROOT);
        }
        let rest = p.strip_prefix('/')?;
        let mut cur = ROOT;
        for comp in rest.split('/') {
            cur = self.child(cur, comp.as_bytes())?;
        }
        Some(cur)
    }

    /// A node by path.
    pub fn get(&self, p: &str) -> Option<NodeRef<'_>> {
        self.lookup(p).map(|id| self.node(id))
    }

    /// A node by slot (the slot must be live).
    pub fn node(&self, id: NodeId) -> NodeRef<'_> {
        NodeRef { tree: self, id }
    }

    /// The children's slots of `id`, in list order (newest first).
    pub fn child_ids(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut cur = self
            .slots
            .get(id as usize)
            .map(|s| s.first_child)
            .unwrap_or(NIL);
        std::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let here = cur;
            cur = self.slots[cur as usize].next;
            Some(here)
        })
    }

    /// The absolute path of a live slot.
    pub fn path_of(&self, id: NodeId) -> String {
        if id == ROOT {
            return "/".to_string();
        }
        let mut names = Vec::new();
        let mut cur = id;
        while cur != ROOT && cur != NIL {
            let s = &self.slots[cur as usize];
            names.push(s.name());
            cur = s.parent;
        }
        let mut out = String::new();
        for n in names.iter().rev() {
            out.push('/');
            out.push_str(std::str::from_utf8(n).unwrap_or_default());
        }
        out
    }

    fn acl_of(&self, id: NodeId) -> &[Acl] {
        self.acls.get(self.slots[id as usize].acl)
    }

    /// Number of nodes including the root and the /zookeeper nodes.
    pub fn node_count(&self) -> usize {
        self.live
    }

    /// Paths of a session's ephemerals, sorted.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.paths(self.ephemerals.get(&session).into_iter().flatten())
    }

    fn paths<'x>(&self, ids: impl Iterator<Item = &'x NodeId>) -> Vec<String> {
        let mut out: Vec<String> = ids.map(|&id| self.path_of(id)).collect();
        out.sort_unstable();
        out
    }

    /// Every session that owns at least one ephemeral, with its count.
    pub fn ephemeral_counts(&self) -> impl Iterator<Item = (i64, usize)> + '_ {
        self.ephemerals.iter().map(|(s, p)| (*s, p.len()))
    }

    /// Container nodes' paths.
    pub fn containers(&self) -> Vec<String> {
        self.paths(self.containers.iter())
    }

    /// TTL nodes' paths.
    pub fn ttl_nodes(&self) -> Vec<String> {
        self.paths(self.ttls.iter())
    }

    /// Number of descendants of `path` (not counting itself).
    pub fn descendant_count(&self, p: &str) -> usize {
        let Some(start) = self.lookup(p) else {
            return 0;
        };
        let mut count = 0;
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            for c in self.child_ids(id) {
                count += 1;
                stack.push(c);
            }
        }
        count
    }

    /// Rough bytes held by payloads.
    pub fn approximate_data_size(&self) -> usize {
        self.data_bytes
    }

    /// Appends a child to `parent` (no parent Stat change besides the count).
    pub(crate) fn push_child(
        &mut self,
        parent: NodeId,
        name: &[u8],
        data: &[u8],
        acl: u32,
        stat: StoredStat,
    ) -> NodeId {
        let slot = Slot {
            buf: join_buf(name, data),
            name_len: name.len() as u32,
            parent,
            first_child: NIL,
            prev: NIL,
            next: self.slots[parent as usize].first_child,
            acl,
            num_children: 0,
            stat,
        };
        let id = if self.free_head != NIL {
            let id = self.free_head;
            self.free_head = self.slots[id as usize].next;
            self.slots[id as usize] = slot;
            id
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        };
        let p = &mut self.slots[parent as usize];
        let old_first = p.first_child;
        p.first_child = id;
        p.num_children += 1;
        if old_first != NIL {
            self.slots[old_first as usize].prev = id;
        }
        let h = key_hash(&self.hasher, parent, name);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(h, id, |&i| {
            let s = &slots[i as usize];
            key_hash(hasher, s.parent, s.name())
        });
        self.live += 1;
        self.data_bytes += data.len();
        self.index_owner(id, stat.owner);
        id
    }

    /// Creates `p` under its existing parent: the parent's cversion and pzxid move.
    pub(crate) fn create(
        &mut self,
        p: &str,
        data: &[u8],
        acl: &[Acl],
        owner: i64,
        zxid: i64,
        time: i64,
    ) -> Result<Stat, String> {
        if p == "/" || self.lookup(p).is_some() {
            return Err(format!("{p} already exists"));
        }
        let parent = self
            .lookup(path::parent(p))
            .ok_or_else(|| format!("parent of {p} missing"))?;
        let acl = self.acls.intern(acl);
        let stat = StoredStat {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            owner,
            version: 0,
            cversion: 0,
            aversion: 0,
        };
        let id = self.push_child(parent, path::name(p).as_bytes(), data, acl, stat);
        let ps = &mut self.slots[parent as usize].stat;
        ps.cversion = ps.cversion.wrapping_add(1);
        ps.pzxid = zxid;
        Ok(self.node(id).stat())
    }

    /// Deletes the childless node `p`; returns its ACL (recursive watches filter on it).
    pub(crate) fn delete(&mut self, p: &str, zxid: i64) -> Result<Arc<Vec<Acl>>, String> {
        let id = self.lookup(p).ok_or_else(|| format!("{p} missing"))?;
        if id == ROOT {
            return Err("cannot delete the root".into());
        }
        let s = &self.slots[id as usize];
        if s.num_children > 0 {
            return Err(format!("{p} has children"));
        }
        let (parent, prev, next, owner, acl) = (s.parent, s.prev, s.next, s.stat.owner, s.acl);
        let h = key_hash(&self.hasher, parent, s.name());
        if let Ok(e) = self.index.find_entry(h, |&i| i == id) {
            e.remove();
        }
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else {
            self.slots[parent as usize].first_child = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        }
        let ps = &mut self.slots[parent as usize];
        ps.num_children -= 1;
        ps.stat.cversion = ps.stat.cversion.wrapping_add(1);
        ps.stat.pzxid = zxid;
        self.unindex_owner(id, owner);
        let shown = self.acls.get(acl).clone();
        self.acls.release(acl);
        let s = &mut self.slots[id as usize];
        self.data_bytes -= s.data().len();
        s.buf = Box::default();
        s.name_len = 0;
        s.acl = FREE;
        s.parent = NIL;
        s.prev = NIL;
        s.next = self.free_head;
        self.free_head = id;
        self.live -= 1;
        Ok(shown)
    }

    /// Replaces `p`'s data; version, mzxid and mtime move.
    pub(crate) fn set_data(
        &mut self,
        p: &str,
        data: &[u8],
        zxid: i64,
        time: i64,
    ) -> Result<Stat, String> {
        let id = self.lookup(p).ok_or_else(|| format!("{p} missing"))?;
        let s = &mut self.slots[id as usize];
        self.data_bytes = self.data_bytes + data.len() - s.data().len();
        s.buf = join_buf(s.name(), data);
        s.stat.version = s.stat.version.wrapping_add(1);
        s.stat.mzxid = zxid;
        s.stat.mtime = time;
        Ok(self.node(id).stat())
    }

    /// Replaces `p`'s ACL; aversion moves.
    pub(crate) fn set_acl(&mut self, p: &str, acl: &[Acl]) -> Result<Stat, String> {
        let id = self.lookup(p).ok_or_else(|| format!("{p} missing"))?;
        let new = self.acls.intern(acl);
        let s = &mut self.slots[id as usize];
        let old = std::mem::replace(&mut s.acl, new);
        s.stat.aversion = s.stat.aversion.wrapping_add(1);
        self.acls.release(old);
        Ok(self.node(id).stat())
    }

    /// Overwrites the root's stored Stat (snapshot loading).
    pub(crate) fn set_root_stat(&mut self, stat: StoredStat) {
        self.slots[ROOT as usize].stat = stat;
    }

    /// The distinct ACL lists in use, with the ids nodes refer to them by.
    pub(crate) fn acl_lists(&self) -> impl Iterator<Item = (u32, &Arc<Vec<Acl>>)> {
        self.acls.live()
    }

    /// A node's ACL id.
    pub(crate) fn acl_id(&self, id: NodeId) -> u32 {
        self.slots[id as usize].acl
    }

    /// Interns an ACL list for snapshot loading; the reference is the caller's to hand to a node
    /// with [`DataTree::acl_ref`], and released with [`DataTree::acl_release`].
    pub(crate) fn acl_intern(&mut self, acl: &[Acl]) -> u32 {
        self.acls.intern(acl)
    }

    /// One more reference to an interned list.
    pub(crate) fn acl_ref(&mut self, id: u32) {
        self.acls.add_ref(id);
    }

    /// Drops a reference taken by [`DataTree::acl_intern`].
    pub(crate) fn acl_release(&mut self, id: u32) {
        self.acls.release(id);
    }

    fn index_owner(&mut self, id: NodeId, owner: i64) {
        match owner_kind(owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(id);
            }
            OwnerKind::Container => {
                self.containers.insert(id);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.insert(id);
            }
        }
    }

    fn unindex_owner(&mut self, id: NodeId, owner: i64) {
        match owner_kind(owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            OwnerKind::Container => {
                self.containers.remove(&id);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.remove(&id);
            }
        }
    }

    /// Every live node as (path, data, ACL, Stat), sorted by path (tests compare trees).
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<(String, Vec<u8>, Vec<Acl>, Stat)> {
        let mut out: Vec<_> = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].acl != FREE)
            .map(|i| {
                let n = self.node(i);
                (
                    self.path_of(i),
                    n.data().to_vec(),
                    n.acl().as_ref().clone(),
                    n.stat(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_lookup_delete_reuse() {
        let mut t = DataTree::new();
        let open = crate::acl::open_acl();
        t.create("/a", b"x", &open, 0, 1, 10).unwrap();
        t.create("/a/b", b"yy", &open, 7, 2, 11).unwrap();
        t.create("/a/c", b"", &[], 0, 3, 12).unwrap();
        assert!(t.create("/a/b", b"", &open, 0, 4, 13).is_err());
        assert!(t.create("/q/b", b"", &open, 0, 4, 13).is_err());
        let a = t.get("/a").unwrap();
        assert_eq!(a.children(), vec!["b".to_string(), "c".to_string()]);
        assert_eq!(
            (a.stat().cversion, a.stat().pzxid, a.num_children()),
            (2, 3, 2)
        );
        assert_eq!(t.get("/a/b").unwrap().data(), b"yy");
        assert_eq!(t.ephemerals_of(7), vec!["/a/b".to_string()]);
        assert!(t.delete("/a", 5).is_err());
        t.delete("/a/b", 5).unwrap();
        assert!(t.get("/a/b").is_none());
        assert!(t.ephemerals_of(7).is_empty());
        let before = t.slots.len();
        t.create("/a/d", b"z", &open, 0, 6, 14).unwrap();
        assert_eq!(t.slots.len(), before, "freed slot reused");
        assert_eq!(t.path_of(t.lookup("/a/d").unwrap()), "/a/d");
        assert_eq!(t.descendant_count("/"), 6);
        assert_eq!(t.node_count(), 7);
        let st = t.set_data("/a/d", b"longer data", 7, 15).unwrap();
        assert_eq!((st.version, st.data_length, st.mzxid), (1, 11, 7));
        t.set_acl("/a/d", &[]).unwrap();
        assert!(t.get("/a/d").unwrap().acl().is_empty());
        assert_eq!(t.clone().dump(), t.dump());
    }

    #[test]
    fn acl_lists_are_shared_and_released() {
        let mut t = DataTree::new();
        let open = crate::acl::open_acl();
        let mine = vec![Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "digest".into(),
                id: "u:h".into(),
            },
        }];
        t.create("/a", b"", &mine, 0, 1, 1).unwrap();
        t.create("/b", b"", &mine, 0, 2, 1).unwrap();
        assert!(Arc::ptr_eq(
            t.get("/a").unwrap().acl(),
            t.get("/b").unwrap().acl()
        ));
        let distinct = t.acl_lists().count();
        t.delete("/a", 3).unwrap();
        assert_eq!(t.acl_lists().count(), distinct);
        t.delete("/b", 4).unwrap();
        assert_eq!(t.acl_lists().count(), distinct - 1);
        t.create("/c", b"", &open, 0, 5, 1).unwrap();
        assert_eq!(t.acl_lists().count(), distinct - 1);
    }
}
