//! The "prep" step: validates a write request against the current state and turns it into a
//! deterministic `Txn` (final sequential path, ephemeral owner, fixed-up ACL), or the exact
//! ZooKeeper error code. Nothing here mutates state.
//!
//! Checks run in ZooKeeper's order (PrepRequestProcessor) so the first failing check decides the
//! code. Multi ops are prepared one after another against an overlay of the changes the earlier
//! ops would make, so "create parent, then child" works and all-or-nothing holds.

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

#[derive(Clone)]
struct VNode {
    stat: Stat,
    acl: Arc<Vec<Acl>>,
}

/// The tree as earlier ops of the same multi would leave it.
struct View<'a> {
    state: &'a StateMachine,
    overlay: HashMap<String, Option<VNode>>,
}

impl<'a> View<'a> {
    fn new(state: &'a StateMachine) -> Self {
        View {
            state,
            overlay: HashMap::new(),
        }
    }

    fn get(&self, p: &str) -> Option<VNode> {
        match self.overlay.get(p) {
            Some(v) => v.clone(),
            None => self.state.tree.get(p).map(|n| VNode {
                stat: n.stat(),
                acl: n.acl().clone(),
            }),
        }
    }

    fn set(&mut self, p: &str, v: Option<VNode>) {
        self.overlay.insert(p.to_string(), v);
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

/// Prepares one write.
pub fn prep(state: &StateMachine, op: &WriteOp, ctx: &PrepCtx<'_>) -> Result<Prepared, ErrorCode> {
    // A write queued behind its own session's close (expiry races a request) must not run:
    // an ephemeral it created would belong to nobody.
    let needs_session = !matches!(op, WriteOp::CreateSession { .. } | WriteOp::Sweep { .. });
    if needs_session && ctx.session_id != 0 && !state.sessions.contains_key(&ctx.session_id) {
        return Err(ErrorCode::SessionExpired);
    }
    let mut view = View::new(state);
    match op {
        WriteOp::Multi(m) => Ok(prep_multi(&mut view, m, ctx)),
        WriteOp::CreateSession { timeout_ms } => Ok(Prepared::Txn(Txn::CreateSession {
            timeout_ms: *timeout_ms,
        })),
        WriteOp::CloseSession => {
            if state.sessions.contains_key(&ctx.session_id) {
                Ok(Prepared::Txn(Txn::CloseSession))
            } else {
                Err(ErrorCode::SessionExpired)
            }
        }
        WriteOp::Sweep { path: p } => prep_sweep(state, p, ctx.now_ms).map(Prepared::Txn),
        other => prep_op(&mut view, other, ctx).map(Prepared::Txn),
    }
}

fn prep_sweep(state: &StateMachine, p: &str, now_ms: i64) -> Result<Txn, ErrorCode> {
    let n = state.tree.get(p).ok_or(ErrorCode::NoNode)?;
    if n.num_children() != 0 {
        return Err(ErrorCode::NotEmpty);
    }
    let due = match owner_kind(n.stat().ephemeral_owner) {
        OwnerKind::Container => n.stat().cversion > 0,
        OwnerKind::Ttl(ttl) => now_ms.saturating_sub(n.stat().mtime) > ttl,
        _ => false,
    };
    if due {
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
    let view = View::new(state);
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
            let mut parent = parent;
            parent.stat.cversion = parent.stat.cversion.wrapping_add(1);
            parent.stat.num_children -= 1;
            view.set(parent_path, Some(parent));
            view.set(p, None);
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
