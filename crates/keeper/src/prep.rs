//! The "prep" step: validates a write request against the current state and turns it into a
//! deterministic `Txn` (final sequential path, ephemeral owner, fixed-up ACL), or the exact
//! ZooKeeper error code. Nothing here mutates state.
//!
//! Checks run in ZooKeeper's order (PrepRequestProcessor) so the first failing check decides the
//! code. Multi ops are prepared one after another against an overlay of the changes the earlier
//! ops would make, so "create parent, then child" works and all-or-nothing holds.
//!
//! Writes are validated against the *pending* view: the applied state plus [`Pending`], the
//! effects of every txn that was prepared and proposed but is not applied yet (ZooKeeper's
//! outstanding changes). Each prepared txn returns its [`Effects`]; the sequencer records them
//! under the txn's zxid and the apply step retires them once the state holds that zxid, so the
//! view always equals "applied state, then every txn in flight, in zxid order".

use std::collections::HashMap;
use std::sync::Arc;

use courier_keeper_proto::{
    perms, ttl_ephemeral_owner, Acl, CreateMode, ErrorCode, Id, MultiOp, MultiRequest, OpCode,
    Stat, CONTAINER_EPHEMERAL_OWNER, MAX_TTL_MS,
};

use crate::acl;
use crate::path;
use crate::state::StateMachine;
use crate::tree::{owner_kind, OwnerKind};
use crate::txn::Txn;

/// A create of any flavour.
#[derive(Debug, Clone)]
pub struct CreateOp {
    /// create (1), create2 (15), createContainer (19) or createTTL (21).
    pub opcode: OpCode,
    /// Requested path.
    pub path: String,
    /// Data.
    pub data: bytes::Bytes,
    /// ACL as sent.
    pub acl: Vec<Acl>,
    /// Mode flags.
    pub flags: i32,
    /// TTL (createTTL only).
    pub ttl: Option<i64>,
}

/// A write the sequencer prepares.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Any create.
    Create(CreateOp),
    /// delete.
    Delete {
        /// Path.
        path: String,
        /// Expected version.
        version: i32,
    },
    /// setData.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: bytes::Bytes,
        /// Expected version.
        version: i32,
    },
    /// setACL.
    SetAcl {
        /// Path.
        path: String,
        /// New ACL.
        acl: Vec<Acl>,
        /// Expected aversion.
        version: i32,
    },
    /// multi.
    Multi(MultiRequest),
    /// A new session (id chosen by the caller).
    CreateSession {
        /// Negotiated timeout.
        timeout_ms: i32,
    },
    /// closeSession or expiry.
    CloseSession,
    /// Container / TTL sweep deletion; re-checked here because the tree may have changed.
    Sweep {
        /// Candidate path.
        path: String,
    },
}

/// Who asks and when.
#[derive(Debug, Clone, Copy)]
pub struct PrepCtx<'a> {
    /// Issuing session.
    pub session_id: i64,
    /// The connection's identities.
    pub ids: &'a [Id],
    /// Wall clock, ms since the epoch (fixed into the txn).
    pub now_ms: i64,
    /// Largest data payload accepted.
    pub max_data: usize,
    /// TTL nodes allowed (ZooKeeper's extendedTypesEnabled).
    pub extended_types: bool,
}

/// Outcome of prep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// A txn to log and apply.
    Txn(Txn),
    /// A multi that fails as a whole: per-op codes (0 before, code at, -2 after the failure).
    MultiFailed(Vec<i32>),
}

/// What prep needs of a node: its Stat (versions, child count, owner, mtime) and ACL.
#[derive(Debug, Clone)]
pub struct VNode {
    stat: Stat,
    acl: Arc<Vec<Acl>>,
}

/// What one prepared txn will change, as prep sees it: nodes (None = deleted) and a session
/// opened (true) or closed (false).
#[derive(Debug, Default)]
pub struct Effects {
    nodes: HashMap<String, Option<VNode>>,
    session: Option<(i64, bool)>,
}

/// Effects of the txns proposed but not applied yet, each tagged with the zxid of the last txn
/// that set it.
#[derive(Debug, Default)]
pub struct Pending {
    nodes: HashMap<String, (Option<VNode>, i64)>,
    sessions: HashMap<i64, (bool, i64)>,
}

impl Pending {
    /// Records the effects of the txn at `zxid` (later txns override earlier ones).
    pub fn record(&mut self, effects: Effects, zxid: i64) {
        for (p, v) in effects.nodes {
            self.nodes.insert(p, (v, zxid));
        }
        if let Some((id, open)) = effects.session {
            self.sessions.insert(id, (open, zxid));
        }
    }

    /// Forgets what the applied state now reflects (everything at or below `applied_zxid`).
    pub fn retire(&mut self, applied_zxid: i64) {
        self.nodes.retain(|_, (_, z)| *z > applied_zxid);
        self.sessions.retain(|_, (_, z)| *z > applied_zxid);
    }

    /// Nothing in flight.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.sessions.is_empty()
    }
}

/// The tree as the pending txns and the earlier ops of the same multi would leave it.
struct View<'a> {
    state: &'a StateMachine,
    pending: &'a Pending,
    effects: Effects,
}

impl<'a> View<'a> {
    fn new(state: &'a StateMachine, pending: &'a Pending) -> Self {
        View {
            state,
            pending,
            effects: Effects::default(),
        }
    }

    fn get(&self, p: &str) -> Option<VNode> {
        if let Some(v) = self.effects.nodes.get(p) {
            return v.clone();
        }
        if let Some((v, _)) = self.pending.nodes.get(p) {
            return v.clone();
        }
        self.state.tree.get(p).map(|n| VNode {
            stat: n.stat(),
            acl: n.acl().clone(),
        })
    }

    fn set(&mut self, p: &str, v: Option<VNode>) {
        self.effects.nodes.insert(p.to_string(), v);
    }

    fn session_open(&self, id: i64) -> bool {
        if let Some((open, _)) = self.pending.sessions.get(&id) {
            return *open;
        }
        self.state.sessions.contains_key(&id)
    }

    /// Every node owned by `session` in this view.
    fn ephemerals_of(&self, session: i64) -> Vec<String> {
        let mut paths: std::collections::BTreeSet<String> =
            self.state.tree.ephemerals_of(session).into_iter().collect();
        paths.extend(
            self.pending
                .nodes
                .iter()
                .filter(|(_, (v, _))| {
                    v.as_ref()
                        .is_some_and(|v| v.stat.ephemeral_owner == session)
                })
                .map(|(p, _)| p.clone()),
        );
        paths
            .into_iter()
            .filter(|p| {
                self.get(p)
                    .is_some_and(|v| v.stat.ephemeral_owner == session)
            })
            .collect()
    }

    /// A node deleted in this view: gone, and its parent's child count and cversion moved.
    fn remove(&mut self, p: &str) {
        let parent_path = path::parent(p);
        if let Some(mut parent) = self.get(parent_path) {
            parent.stat.cversion = parent.stat.cversion.wrapping_add(1);
            parent.stat.num_children -= 1;
            self.set(parent_path, Some(parent));
        }
        self.set(p, None);
    }
}

fn check_version(expected: i32, actual: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != actual {
        return Err(ErrorCode::BadVersion);
    }
    Ok(())
}

fn require(node: &VNode, perm: i32, ids: &[Id]) -> Result<(), ErrorCode> {
    if acl::allowed(&node.acl, perm, ids) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// Paths that always exist and may not be deleted.
pub fn is_protected(p: &str) -> bool {
    matches!(
        p,
        "/" | "/zookeeper" | "/zookeeper/config" | "/zookeeper/quota"
    )
}

/// Prepares one write against the applied state alone (nothing in flight).
pub fn prep(state: &StateMachine, op: &WriteOp, ctx: &PrepCtx<'_>) -> Result<Prepared, ErrorCode> {
    prep_pending(state, &Pending::default(), op, ctx).0
}

/// Prepares one write against the applied state plus the pending txns; the effects are
/// meaningful only for `Ok(Prepared::Txn(_))`.
pub fn prep_pending(
    state: &StateMachine,
    pending: &Pending,
    op: &WriteOp,
    ctx: &PrepCtx<'_>,
) -> (Result<Prepared, ErrorCode>, Effects) {
    let mut view = View::new(state, pending);
    let res = prep_in(&mut view, op, ctx);
    (res, view.effects)
}

fn prep_in(view: &mut View<'_>, op: &WriteOp, ctx: &PrepCtx<'_>) -> Result<Prepared, ErrorCode> {
    // A write queued behind its own session's close (expiry races a request) must not run:
    // an ephemeral it created would belong to nobody.
    let needs_session = !matches!(op, WriteOp::CreateSession { .. } | WriteOp::Sweep { .. });
    if needs_session && ctx.session_id != 0 && !view.session_open(ctx.session_id) {
        return Err(ErrorCode::SessionExpired);
    }
    match op {
        WriteOp::Multi(m) => Ok(prep_multi(view, m, ctx)),
        WriteOp::CreateSession { timeout_ms } => {
            view.effects.session = Some((ctx.session_id, true));
            Ok(Prepared::Txn(Txn::CreateSession {
                timeout_ms: *timeout_ms,
            }))
        }
        WriteOp::CloseSession => {
            if !view.session_open(ctx.session_id) {
                return Err(ErrorCode::SessionExpired);
            }
            for p in view.ephemerals_of(ctx.session_id) {
                view.remove(&p);
            }
            view.effects.session = Some((ctx.session_id, false));
            Ok(Prepared::Txn(Txn::CloseSession))
        }
        WriteOp::Sweep { path: p } => prep_sweep(view, p, ctx.now_ms).map(Prepared::Txn),
        other => prep_op(view, other, ctx).map(Prepared::Txn),
    }
}

fn prep_sweep(view: &mut View<'_>, p: &str, now_ms: i64) -> Result<Txn, ErrorCode> {
    let n = view.get(p).ok_or(ErrorCode::NoNode)?;
    if n.stat.num_children != 0 {
        return Err(ErrorCode::NotEmpty);
    }
    let due = match owner_kind(n.stat.ephemeral_owner) {
        OwnerKind::Container => n.stat.cversion > 0,
        OwnerKind::Ttl(ttl) => now_ms.saturating_sub(n.stat.mtime) > ttl,
        _ => false,
    };
    if due {
        view.remove(p);
        Ok(Txn::Delete {
            path: p.to_string(),
        })
    } else {
        Err(ErrorCode::BadArguments)
    }
}

fn prep_multi(view: &mut View<'_>, m: &MultiRequest, ctx: &PrepCtx<'_>) -> Prepared {
    let mut txns = Vec::with_capacity(m.ops.len());
    for (i, op) in m.ops.iter().enumerate() {
        let res = match op {
            MultiOp::Create(opcode, r) => prep_op(
                view,
                &WriteOp::Create(CreateOp {
                    opcode: *opcode,
                    path: r.path.clone(),
                    data: r.data.clone(),
                    acl: r.acl.clone(),
                    flags: r.flags,
                    ttl: None,
                }),
                ctx,
            ),
            MultiOp::CreateTtl(r) => prep_op(
                view,
                &WriteOp::Create(CreateOp {
                    opcode: OpCode::CreateTtl,
                    path: r.path.clone(),
                    data: r.data.clone(),
                    acl: r.acl.clone(),
                    flags: r.flags,
                    ttl: Some(r.ttl),
                }),
                ctx,
            ),
            MultiOp::Delete(r) => prep_op(
                view,
                &WriteOp::Delete {
                    path: r.path.clone(),
                    version: r.version,
                },
                ctx,
            ),
            MultiOp::SetData(r) => prep_op(
                view,
                &WriteOp::SetData {
                    path: r.path.clone(),
                    data: r.data.clone(),
                    version: r.version,
                },
                ctx,
            ),
            MultiOp::Check(r) => prep_check(view, &r.path, r.version, ctx),
            MultiOp::GetData(_) | MultiOp::GetChildren(_) => Err(ErrorCode::BadArguments),
        };
        match res {
            Ok(t) => txns.push(t),
            Err(code) => {
                let codes = (0..m.ops.len())
                    .map(|j| match j.cmp(&i) {
                        std::cmp::Ordering::Less => 0,
                        std::cmp::Ordering::Equal => code.code(),
                        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                    })
                    .collect();
                return Prepared::MultiFailed(codes);
            }
        }
    }
    Prepared::Txn(Txn::Multi(txns))
}

/// The check op (also usable on its own): READ on the node, then the version.
fn prep_check(view: &View<'_>, p: &str, version: i32, ctx: &PrepCtx<'_>) -> Result<Txn, ErrorCode> {
    path::validate(p)?;
    let node = view.get(p).ok_or(ErrorCode::NoNode)?;
    require(&node, perms::READ, ctx.ids)?;
    check_version(version, node.stat.version)?;
    Ok(Txn::Check {
        path: p.to_string(),
    })
}

/// Validates a standalone check request (opcode 13 outside multi).
pub fn check_only(
    state: &StateMachine,
    p: &str,
    version: i32,
    ids: &[Id],
) -> Result<(), ErrorCode> {
    let pending = Pending::default();
    let view = View::new(state, &pending);
    let ctx = PrepCtx {
        session_id: 0,
        ids,
        now_ms: 0,
        max_data: usize::MAX,
        extended_types: true,
    };
    prep_check(&view, p, version, &ctx).map(|_| ())
}

fn prep_op(view: &mut View<'_>, op: &WriteOp, ctx: &PrepCtx<'_>) -> Result<Txn, ErrorCode> {
    match op {
        WriteOp::Create(c) => prep_create(view, c, ctx),
        WriteOp::Delete { path: p, version } => {
            path::validate(p)?;
            if is_protected(p) {
                return Err(ErrorCode::BadArguments);
            }
            let parent_path = path::parent(p);
            let parent = view.get(parent_path).ok_or(ErrorCode::NoNode)?;
            require(&parent, perms::DELETE, ctx.ids)?;
            let node = view.get(p).ok_or(ErrorCode::NoNode)?;
            check_version(*version, node.stat.version)?;
            if node.stat.num_children > 0 {
                return Err(ErrorCode::NotEmpty);
            }
            view.remove(p);
            Ok(Txn::Delete {
                path: p.to_string(),
            })
        }
        WriteOp::SetData {
            path: p,
            data,
            version,
        } => {
            path::validate(p)?;
            let mut node = view.get(p).ok_or(ErrorCode::NoNode)?;
            require(&node, perms::WRITE, ctx.ids)?;
            check_version(*version, node.stat.version)?;
            if data.len() > ctx.max_data {
                return Err(ErrorCode::BadArguments);
            }
            node.stat.version = node.stat.version.wrapping_add(1);
            node.stat.mtime = ctx.now_ms;
            view.set(p, Some(node));
            Ok(Txn::SetData {
                path: p.to_string(),
                data: data.clone(),
            })
        }
        WriteOp::SetAcl {
            path: p,
            acl: new_acl,
            version,
        } => {
            path::validate(p)?;
            let mut node = view.get(p).ok_or(ErrorCode::NoNode)?;
            require(&node, perms::ADMIN, ctx.ids)?;
            let fixed = acl::fix_up(new_acl, ctx.ids)?;
            check_version(*version, node.stat.aversion)?;
            node.stat.aversion = node.stat.aversion.wrapping_add(1);
            node.acl = Arc::new(fixed.clone());
            view.set(p, Some(node));
            Ok(Txn::SetAcl {
                path: p.to_string(),
                acl: fixed,
            })
        }
        _ => Err(ErrorCode::BadArguments),
    }
}

fn prep_create(view: &mut View<'_>, c: &CreateOp, ctx: &PrepCtx<'_>) -> Result<Txn, ErrorCode> {
    let mode = CreateMode::from_flags(c.flags).ok_or(ErrorCode::BadArguments)?;
    if mode.is_ttl() || c.opcode == OpCode::CreateTtl {
        if !ctx.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        let ttl = c.ttl.unwrap_or(0);
        if !mode.is_ttl() || c.opcode != OpCode::CreateTtl || !(1..=MAX_TTL_MS).contains(&ttl) {
            return Err(ErrorCode::BadArguments);
        }
    }
    if (c.opcode == OpCode::CreateContainer) != mode.is_container() {
        return Err(ErrorCode::BadArguments);
    }
    if c.path.contains('\0') || !c.path.starts_with('/') || c.path == "/" {
        return Err(ErrorCode::BadArguments);
    }
    let fixed_acl = acl::fix_up(&c.acl, ctx.ids)?;
    let parent_path = path::parent(&c.path).to_string();
    let mut parent = view.get(&parent_path).ok_or(ErrorCode::NoNode)?;
    require(&parent, perms::CREATE, ctx.ids)?;
    let final_path = if mode.is_sequential() {
        format!("{}{:010}", c.path, parent.stat.cversion)
    } else {
        c.path.clone()
    };
    path::validate(&final_path)?;
    if view.get(&final_path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(
        owner_kind(parent.stat.ephemeral_owner),
        OwnerKind::Ephemeral(_)
    ) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    if c.data.len() > ctx.max_data {
        return Err(ErrorCode::BadArguments);
    }
    if mode.is_ephemeral() && ctx.session_id == 0 {
        return Err(ErrorCode::SessionExpired);
    }
    let ephemeral_owner = if mode.is_ephemeral() {
        ctx.session_id
    } else if mode.is_container() {
        CONTAINER_EPHEMERAL_OWNER
    } else if mode.is_ttl() {
        ttl_ephemeral_owner(c.ttl.unwrap_or(0))
    } else {
        0
    };
    parent.stat.cversion = parent.stat.cversion.wrapping_add(1);
    parent.stat.num_children += 1;
    view.set(&parent_path, Some(parent));
    view.set(
        &final_path,
        Some(VNode {
            stat: Stat {
                ephemeral_owner,
                ctime: ctx.now_ms,
                mtime: ctx.now_ms,
                ..Stat::default()
            },
            acl: Arc::new(fixed_acl.clone()),
        }),
    );
    Ok(Txn::Create {
        path: final_path,
        data: c.data.clone(),
        acl: fixed_acl,
        ephemeral_owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::TxnEntry;
    use courier_keeper_proto::{CheckVersionRequest, CreateRequest, DeleteRequest};

    const IDS: &[Id] = &[];

    fn ctx() -> PrepCtx<'static> {
        PrepCtx {
            session_id: 5,
            ids: IDS,
            now_ms: 1,
            max_data: 10,
            extended_types: true,
        }
    }

    fn create(p: &str, flags: i32) -> WriteOp {
        WriteOp::Create(CreateOp {
            opcode: if flags == 4 {
                OpCode::CreateContainer
            } else {
                OpCode::Create
            },
            path: p.into(),
            data: bytes::Bytes::new(),
            acl: acl::open_acl(),
            flags,
            ttl: None,
        })
    }

    /// A state in which the test session (5) is open.
    fn fresh() -> StateMachine {
        let mut sm = StateMachine::new();
        sm.apply(&TxnEntry {
            zxid: 1,
            time_ms: 1,
            session_id: 5,
            txn: Txn::CreateSession { timeout_ms: 1000 },
        })
        .unwrap();
        sm
    }

    fn run(sm: &mut StateMachine, op: WriteOp) -> Result<Prepared, ErrorCode> {
        let p = prep(sm, &op, &ctx())?;
        if let Prepared::Txn(t) = &p {
            let zxid = sm.last_zxid + 1;
            sm.apply(&TxnEntry {
                zxid,
                time_ms: 1,
                session_id: 5,
                txn: t.clone(),
            })
            .unwrap();
        }
        Ok(p)
    }

    #[test]
    fn pending_view_answers_as_applying_in_order_would() {
        let set = |p: &str, version| WriteOp::SetData {
            path: p.into(),
            data: bytes::Bytes::from_static(b"v"),
            version,
        };
        let delete = |p: &str| WriteOp::Delete {
            path: p.into(),
            version: -1,
        };
        let ops = vec![
            create("/p", 0),
            create("/p/s-", 2),
            create("/p/s-", 2),
            create("/p/e", 1),
            create("/p/e/x", 0),
            set("/p", 0),
            set("/p", 0),
            delete("/p/s-0000000000"),
            delete("/p/s-0000000000"),
            delete("/p"),
            WriteOp::CloseSession,
            create("/p/late", 0),
        ];
        // Reference: each op prepared against the state with every earlier txn applied.
        let mut applied = fresh();
        let expected: Vec<_> = ops.iter().map(|op| run(&mut applied, op.clone())).collect();
        // Pipelined: every op prepared before anything is applied.
        let mut sm = fresh();
        let mut pending = Pending::default();
        let mut txns = Vec::new();
        let mut got = Vec::new();
        let mut zxid = sm.last_zxid;
        for op in &ops {
            let (res, effects) = prep_pending(&sm, &pending, op, &ctx());
            if let Ok(Prepared::Txn(t)) = &res {
                zxid += 1;
                pending.record(effects, zxid);
                txns.push((zxid, t.clone()));
            }
            got.push(res);
        }
        assert_eq!(got, expected);
        for (zxid, txn) in txns {
            sm.apply(&TxnEntry {
                zxid,
                time_ms: 1,
                session_id: 5,
                txn,
            })
            .unwrap();
        }
        assert_eq!(sm.tree.dump(), applied.tree.dump());
        assert!(
            sm.tree.get("/p/e").is_none(),
            "the close removed the ephemeral"
        );
        pending.retire(zxid - 1);
        assert!(!pending.is_empty());
        pending.retire(zxid);
        assert!(pending.is_empty());
    }

    #[test]
    fn create_errors_in_zookeeper_order() {
        let mut sm = fresh();
        assert_eq!(run(&mut sm, create("/a/b", 0)), Err(ErrorCode::NoNode));
        assert_eq!(run(&mut sm, create("a", 0)), Err(ErrorCode::BadArguments));
        assert_eq!(run(&mut sm, create("/a", 7)), Err(ErrorCode::BadArguments));
        assert_eq!(run(&mut sm, create("/p/x/", 0)), Err(ErrorCode::NoNode));
        run(&mut sm, create("/a", 0)).unwrap();
        assert_eq!(run(&mut sm, create("/a", 0)), Err(ErrorCode::NodeExists));
        assert_eq!(run(&mut sm, create("/a/", 0)), Err(ErrorCode::BadArguments));
        run(&mut sm, create("/e", 1)).unwrap();
        assert_eq!(
            run(&mut sm, create("/e/c", 0)),
            Err(ErrorCode::NoChildrenForEphemerals)
        );
        let mut c = create("/a/x", 0);
        if let WriteOp::Create(op) = &mut c {
            op.acl.clear();
        }
        assert_eq!(run(&mut sm, c), Err(ErrorCode::InvalidAcl));
    }

    #[test]
    fn sequential_suffix_uses_parent_cversion() {
        let mut sm = fresh();
        run(&mut sm, create("/q", 0)).unwrap();
        run(&mut sm, create("/q/other", 0)).unwrap();
        let p = run(&mut sm, create("/q/n-", 2)).unwrap();
        match p {
            Prepared::Txn(Txn::Create { path, .. }) => assert_eq!(path, "/q/n-0000000001"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn multi_failure_codes() {
        let mut sm = fresh();
        let m = MultiRequest {
            ops: vec![
                MultiOp::Create(
                    OpCode::Create,
                    CreateRequest {
                        path: "/m".into(),
                        data: Default::default(),
                        acl: acl::open_acl(),
                        flags: 0,
                    },
                ),
                MultiOp::Check(CheckVersionRequest {
                    path: "/m".into(),
                    version: 3,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: "/m".into(),
                    version: -1,
                }),
            ],
        };
        assert_eq!(
            run(&mut sm, WriteOp::Multi(m)).unwrap(),
            Prepared::MultiFailed(vec![0, -103, -2])
        );
        assert!(sm.tree.get("/m").is_none());
        let ok = MultiRequest {
            ops: vec![
                MultiOp::Create(
                    OpCode::Create,
                    CreateRequest {
                        path: "/m".into(),
                        data: Default::default(),
                        acl: acl::open_acl(),
                        flags: 0,
                    },
                ),
                MultiOp::Create(
                    OpCode::Create,
                    CreateRequest {
                        path: "/m/c".into(),
                        data: Default::default(),
                        acl: acl::open_acl(),
                        flags: 0,
                    },
                ),
                MultiOp::Delete(DeleteRequest {
                    path: "/m/c".into(),
                    version: 0,
                }),
            ],
        };
        assert!(matches!(
            run(&mut sm, WriteOp::Multi(ok)).unwrap(),
            Prepared::Txn(_)
        ));
        assert_eq!(sm.tree.get("/m").unwrap().stat().cversion, 2);
    }

    #[test]
    fn delete_and_set_data_checks() {
        let mut sm = fresh();
        assert_eq!(
            run(
                &mut sm,
                WriteOp::Delete {
                    path: "/zookeeper".into(),
                    version: -1
                }
            ),
            Err(ErrorCode::BadArguments)
        );
        run(&mut sm, create("/d", 0)).unwrap();
        run(&mut sm, create("/d/c", 0)).unwrap();
        assert_eq!(
            run(
                &mut sm,
                WriteOp::Delete {
                    path: "/d".into(),
                    version: -1
                }
            ),
            Err(ErrorCode::NotEmpty)
        );
        assert_eq!(
            run(
                &mut sm,
                WriteOp::Delete {
                    path: "/d/c".into(),
                    version: 4
                }
            ),
            Err(ErrorCode::BadVersion)
        );
        assert_eq!(
            run(
                &mut sm,
                WriteOp::SetData {
                    path: "/d".into(),
                    data: vec![0; 11].into(),
                    version: -1
                }
            ),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(
            run(
                &mut sm,
                WriteOp::SetData {
                    path: "/zookeeper/config".into(),
                    data: Default::default(),
                    version: -1
                }
            ),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn writes_from_a_closed_session_are_refused() {
        let mut sm = StateMachine::new();
        let c = ctx();
        let open = Prepared::Txn(Txn::CreateSession { timeout_ms: 1000 });
        assert_eq!(
            prep(&sm, &WriteOp::CreateSession { timeout_ms: 1000 }, &c),
            Ok(open)
        );
        assert_eq!(
            run(&mut sm, create("/e", 1)),
            Err(ErrorCode::SessionExpired)
        );
        run(&mut sm, WriteOp::CreateSession { timeout_ms: 1000 }).unwrap();
        run(&mut sm, create("/e", 1)).unwrap();
        run(&mut sm, WriteOp::CloseSession).unwrap();
        assert!(sm.tree.get("/e").is_none());
        assert_eq!(
            run(&mut sm, create("/f", 1)),
            Err(ErrorCode::SessionExpired)
        );
    }

    #[test]
    fn ttl_rules() {
        let mut sm = fresh();
        let ttl = |flags, ttl| {
            WriteOp::Create(CreateOp {
                opcode: OpCode::CreateTtl,
                path: "/t".into(),
                data: Default::default(),
                acl: acl::open_acl(),
                flags,
                ttl: Some(ttl),
            })
        };
        assert_eq!(run(&mut sm, ttl(5, 0)), Err(ErrorCode::BadArguments));
        assert_eq!(run(&mut sm, ttl(0, 100)), Err(ErrorCode::BadArguments));
        run(&mut sm, ttl(5, 100)).unwrap();
        assert_eq!(sm.tree.ttl_nodes().len(), 1);
        let mut off = ctx();
        off.extended_types = false;
        assert_eq!(prep(&sm, &ttl(5, 100), &off), Err(ErrorCode::Unimplemented));
    }
}
