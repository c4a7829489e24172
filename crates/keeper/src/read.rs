//! Read-side requests, answered by the connection task under the state read lock (so the reply
//! and any watch it registers are atomic with respect to writes): exists, getData, getChildren,
//! getChildren2, getACL, getAllChildrenNumber, getEphemerals, sync, standalone check, multiRead,
//! addWatch, checkWatches/removeWatches, setWatches/setWatches2 and whoAmI.

use bytes::Bytes;
use courier_keeper_proto::{
    add_watch_mode, perms, reply_frame, ClientInfo, ErrorCode, ErrorResponse, EventType,
    GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse,
    GetDataResponse, GetEphemeralsResponse, Id, MultiOp, MultiResponse, OpResult, PathRequest,
    Request, SetWatches2, StatResponse, WhoAmIResponse,
};

use crate::acl;
use crate::path;
use crate::prep;
use crate::shared::{notification, ConnHandle, Shared};
use crate::state::StateMachine;
use crate::tree::{client_stat, NodeRef};
use crate::watches::{ConnId, WatchKind, WatchManager};

/// The connection a read runs for.
pub struct ReadCtx<'a> {
    /// Connection id.
    pub conn: ConnId,
    /// Its session.
    pub session_id: i64,
    /// Its identities.
    pub ids: &'a [Id],
    /// Its outbound queue (for setWatches catch-up events).
    pub handle: &'a ConnHandle,
}

fn node_for<'s>(
    state: &'s StateMachine,
    p: &str,
    perm: i32,
    ids: &[Id],
) -> Result<NodeRef<'s>, ErrorCode> {
    path::validate(p)?;
    let n = state.tree.get(p).ok_or(ErrorCode::NoNode)?;
    if !acl::allowed(n.acl(), perm, ids) {
        return Err(ErrorCode::NoAuth);
    }
    Ok(n)
}

fn respond<R: courier_keeper_proto::Record>(xid: i32, zxid: i64, r: Result<R, ErrorCode>) -> Bytes {
    match r {
        Ok(body) => reply_frame(xid, zxid, 0, &body),
        Err(code) => reply_frame(xid, zxid, code.code(), &()),
    }
}

/// Answers a read request; `None` if `req` is not one this module handles.
pub fn execute(
    shared: &Shared,
    state: &StateMachine,
    ctx: &ReadCtx<'_>,
    xid: i32,
    req: &Request,
) -> Option<Bytes> {
    if !is_read(req) {
        return None;
    }
    let zxid = state.last_zxid;
    let ids = ctx.ids;
    Some(match req {
        Request::Exists(r) => {
            let res = (|| {
                path::validate(&r.path)?;
                match state.tree.get(&r.path) {
                    Some(n) => {
                        if !acl::allowed(n.acl(), perms::READ, ids) {
                            return Err(ErrorCode::NoAuth);
                        }
                        if r.watch {
                            shared
                                .watches
                                .lock()
                                .add(ctx.conn, WatchKind::Data, &r.path);
                        }
                        Ok(StatResponse {
                            stat: client_stat(&n.stat()),
                        })
                    }
                    None => {
                        // An exists watch is left even when the node is missing.
                        if r.watch {
                            shared
                                .watches
                                .lock()
                                .add(ctx.conn, WatchKind::Data, &r.path);
                        }
                        Err(ErrorCode::NoNode)
                    }
                }
            })();
            respond(xid, zxid, res)
        }
        Request::GetData(r) => {
            let res = node_for(state, &r.path, perms::READ, ids).map(|n| {
                if r.watch {
                    shared
                        .watches
                        .lock()
                        .add(ctx.conn, WatchKind::Data, &r.path);
                }
                GetDataResponse {
                    data: bytes::Bytes::copy_from_slice(n.data()),
                    stat: client_stat(&n.stat()),
                }
            });
            respond(xid, zxid, res)
        }
        Request::GetChildren(r) => {
            let res = node_for(state, &r.path, perms::READ, ids).map(|n| {
                if r.watch {
                    shared
                        .watches
                        .lock()
                        .add(ctx.conn, WatchKind::Child, &r.path);
                }
                GetChildrenResponse {
                    children: n.children(),
                }
            });
            respond(xid, zxid, res)
        }
        Request::GetChildren2(r) => {
            let res = node_for(state, &r.path, perms::READ, ids).map(|n| {
                if r.watch {
                    shared
                        .watches
                        .lock()
                        .add(ctx.conn, WatchKind::Child, &r.path);
                }
                GetChildren2Response {
                    children: n.children(),
                    stat: client_stat(&n.stat()),
                }
            });
            respond(xid, zxid, res)
        }
        Request::GetAcl(r) => {
            let res = node_for(state, &r.path, perms::READ | perms::ADMIN, ids).map(|n| {
                let shown = if acl::allowed(n.acl(), perms::ADMIN, ids) {
                    n.acl().as_ref().clone()
                } else {
                    acl::redact(n.acl())
                };
                GetAclResponse {
                    acl: shown,
                    stat: client_stat(&n.stat()),
                }
            });
            respond(xid, zxid, res)
        }
        Request::GetAllChildrenNumber(r) => {
            let res = node_for(state, &r.path, perms::READ, ids).map(|_| {
                let total = if r.path == "/" {
                    // Every node but the root, /zookeeper and its children included (what
                    // ZooKeeper 3.8 answers).
                    state.tree.node_count().saturating_sub(1)
                } else {
                    state.tree.descendant_count(&r.path)
                };
                GetAllChildrenNumberResponse {
                    total_number: total as i32,
                }
            });
            respond(xid, zxid, res)
        }
        Request::GetEphemerals(r) => {
            let prefix = if r.path.is_empty() {
                "/"
            } else {
                r.path.as_str()
            };
            let ephemerals = state
                .tree
                .ephemerals_of(ctx.session_id)
                .into_iter()
                .filter(|p| prefix == "/" || p.starts_with(prefix))
                .collect();
            reply_frame(xid, zxid, 0, &GetEphemeralsResponse { ephemerals })
        }
        Request::Sync(r) => {
            let res = path::validate(&r.path).map(|_| PathRequest {
                path: r.path.clone(),
            });
            respond(xid, zxid, res)
        }
        Request::Check(r) => respond(
            xid,
            zxid,
            prep::check_only(state, &r.path, r.version, ids).map(|_| ()),
        ),
        Request::MultiRead(m) => {
            let results = m
                .ops
                .iter()
                .map(|op| match op {
                    MultiOp::GetData(r) => match node_for(state, &r.path, perms::READ, ids) {
                        Ok(n) => {
                            if r.watch {
                                shared
                                    .watches
                                    .lock()
                                    .add(ctx.conn, WatchKind::Data, &r.path);
                            }
                            OpResult::GetData(
                                bytes::Bytes::copy_from_slice(n.data()),
                                client_stat(&n.stat()),
                            )
                        }
                        Err(c) => OpResult::Error(c.code()),
                    },
                    MultiOp::GetChildren(r) => match node_for(state, &r.path, perms::READ, ids) {
                        Ok(n) => {
                            if r.watch {
                                shared
                                    .watches
                                    .lock()
                                    .add(ctx.conn, WatchKind::Child, &r.path);
                            }
                            OpResult::GetChildren(n.children())
                        }
                        Err(c) => OpResult::Error(c.code()),
                    },
                    _ => OpResult::Error(ErrorCode::BadArguments.code()),
                })
                .collect();
            reply_frame(xid, zxid, 0, &MultiResponse { results })
        }
        Request::AddWatch(r) => {
            let res = (|| {
                path::validate(&r.path)?;
                if let Some(n) = state.tree.get(&r.path) {
                    if !acl::allowed(n.acl(), perms::READ, ids) {
                        return Err(ErrorCode::NoAuth);
                    }
                }
                let kind = match r.mode {
                    add_watch_mode::PERSISTENT => WatchKind::Persistent,
                    add_watch_mode::PERSISTENT_RECURSIVE => WatchKind::PersistentRecursive,
                    _ => return Err(ErrorCode::BadArguments),
                };
                shared.watches.lock().add(ctx.conn, kind, &r.path);
                Ok(ErrorResponse { err: 0 })
            })();
            respond(xid, zxid, res)
        }
        Request::CheckWatches(r) | Request::RemoveWatches(r) => {
            let remove = matches!(req, Request::RemoveWatches(_));
            let res = path::validate(&r.path).and_then(|_| {
                if shared
                    .watches
                    .lock()
                    .check_or_remove(ctx.conn, &r.path, r.watcher_type, remove)
                {
                    Ok(())
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            });
            respond(xid, zxid, res)
        }
        Request::SetWatches(w) => {
            let w2 = SetWatches2 {
                relative_zxid: w.relative_zxid,
                data_watches: w.data_watches.clone(),
                exist_watches: w.exist_watches.clone(),
                child_watches: w.child_watches.clone(),
                persistent_watches: Vec::new(),
                persistent_recursive_watches: Vec::new(),
            };
            set_watches(state, &mut shared.watches.lock(), ctx, &w2);
            reply_frame(xid, zxid, 0, &())
        }
        Request::SetWatches2(w) => {
            set_watches(state, &mut shared.watches.lock(), ctx, w);
            reply_frame(xid, zxid, 0, &())
        }
        Request::WhoAmI => {
            let client_info = ids
                .iter()
                .map(|i| ClientInfo {
                    auth_scheme: i.scheme.clone(),
                    // ZooKeeper shows a digest id by its user name only.
                    user: match i.scheme.as_str() {
                        "digest" => i.id.split(':').next().unwrap_or_default().to_string(),
                        _ => i.id.clone(),
                    },
                })
                .collect();
            reply_frame(xid, zxid, 0, &WhoAmIResponse { client_info })
        }
        _ => return None,
    })
}

/// Requests this module answers.
pub fn is_read(req: &Request) -> bool {
    matches!(
        req,
        Request::Exists(_)
            | Request::GetData(_)
            | Request::GetChildren(_)
            | Request::GetChildren2(_)
            | Request::GetAcl(_)
            | Request::GetAllChildrenNumber(_)
            | Request::GetEphemerals(_)
            | Request::Sync(_)
            | Request::Check(_)
            | Request::MultiRead(_)
            | Request::AddWatch(_)
            | Request::CheckWatches(_)
            | Request::RemoveWatches(_)
            | Request::SetWatches(_)
            | Request::SetWatches2(_)
            | Request::WhoAmI
    )
}

/// Re-arms watches after a reconnect and fires what the client missed since `relative_zxid`.
fn set_watches(
    state: &StateMachine,
    watches: &mut WatchManager,
    ctx: &ReadCtx<'_>,
    w: &SetWatches2,
) {
    let rz = w.relative_zxid;
    let last = state.last_zxid;
    rearm(state, watches, ctx, &w.data_watches, rz, WatchKind::Data);
    for p in &w.exist_watches {
        if state.tree.get(p).is_some() {
            ctx.handle
                .send(notification(last, EventType::NodeCreated, p));
        } else {
            watches.add(ctx.conn, WatchKind::Data, p);
        }
    }
    rearm(state, watches, ctx, &w.child_watches, rz, WatchKind::Child);
    for p in &w.persistent_watches {
        watches.add(ctx.conn, WatchKind::Persistent, p);
    }
    for p in &w.persistent_recursive_watches {
        watches.add(ctx.conn, WatchKind::PersistentRecursive, p);
    }
}

/// Re-arms the data or child watches of a reconnecting client (same order as ZooKeeper): a watch
/// whose node changed after the client's `relative_zxid` fires at once (NodeDeleted when the node
/// is gone), so nothing that happened while the client was away is missed.
fn rearm(
    state: &StateMachine,
    watches: &mut WatchManager,
    ctx: &ReadCtx<'_>,
    paths: &[String],
    relative_zxid: i64,
    kind: WatchKind,
) {
    let last = state.last_zxid;
    let (changed, zxid): (EventType, fn(&NodeRef<'_>) -> i64) = match kind {
        WatchKind::Child => (EventType::NodeChildrenChanged, |n| n.stat().pzxid),
        _ => (EventType::NodeDataChanged, |n| n.stat().mzxid),
    };
    for p in paths {
        match state.tree.get(p) {
            None => ctx
                .handle
                .send(notification(last, EventType::NodeDeleted, p)),
            Some(n) if zxid(&n) > relative_zxid => ctx.handle.send(notification(last, changed, p)),
            Some(_) => watches.add(ctx.conn, kind, p),
        }
    }
}
