//! One client connection: four-letter-word detection, the handshake (new session or resume),
//! then a strictly sequential request loop — each request is fully answered (its reply queued)
//! before the next is read, which gives ZooKeeper's per-session FIFO order. Replies and
//! notifications go through one outbound queue drained by a writer task.
//!
//! Any protocol violation (bad frame length, undecodable record, unknown opcode, request before
//! the handshake) is logged and closes this connection only.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use courier_keeper_proto::{
    decode_request, frame, reply_frame, xid, ConnectRequest, ConnectResponse, Create2Response,
    CreateResponse, ErrorCode, FrameCodec, Id, MultiOp, MultiResponse, OpCode, OpResult, Record,
    Request, StatResponse,
};
use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Decoder;

use crate::acl;
use crate::four_letter;
use crate::prep::{CreateOp, WriteOp};
use crate::read::{self, ReadCtx};
use crate::sequencer::{SeqMsg, WriteJob, WriteOutcome};
use crate::shared::{initial_ids, ConnHandle, ConnStats, Out, Shared};
use crate::txn::Txn;
use crate::watches::ConnId;

/// Serves one accepted socket until it closes.
pub async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let limit = shared.config.max_frame_bytes();
    let handshake_wait = Duration::from_millis(u64::from(shared.config.max_session_timeout()));

    let mut first = [0u8; 4];
    match tokio::time::timeout(handshake_wait, rd.read_exact(&mut first)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    if let Some(word) = four_letter::word(&first) {
        let text = {
            let state = shared.state.read().await;
            four_letter::answer(&shared, &state, word)
        };
        let _ = wr.write_all(text.as_bytes()).await;
        let _ = wr.shutdown().await;
        return;
    }
    let codec = FrameCodec::new(limit);
    let len = match codec.check_len(i32::from_be_bytes(first)) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "closing connection: bad first frame");
            shared.stats.bad_connections.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    // Grow the buffer as bytes arrive rather than trusting the announced length up front.
    let mut payload = Vec::new();
    let mut limited = (&mut rd).take(len as u64);
    match tokio::time::timeout(handshake_wait, limited.read_to_end(&mut payload)).await {
        Ok(Ok(n)) if n == len => {}
        _ => return,
    }
    let creq = match ConnectRequest::from_slice(&payload, limit) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "closing connection: malformed ConnectRequest");
            shared.stats.bad_connections.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    shared.stats.received.fetch_add(1, Ordering::Relaxed);

    let conn_id: ConnId = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    if creq.last_zxid_seen > shared.last_zxid() {
        // The client has seen a newer state than ours: ZooKeeper closes without a reply so the
        // client moves on to another server.
        tracing::info!(
            %peer,
            client_zxid = format_args!("{:#x}", creq.last_zxid_seen),
            "client has seen a newer zxid than this server; closing without a session"
        );
        return;
    }
    let Some((session_id, timeout_ms)) = handshake(&shared, &creq).await else {
        // Unknown/expired session or bad password: answer "expired" and close.
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: 0,
            passwd: Bytes::from(vec![0u8; 16]),
            read_only: creq.read_only.map(|_| false),
        };
        let _ = wr.write_all(&frame(&(), &resp)).await;
        let _ = wr.shutdown().await;
        return;
    };
    let passwd = shared.sessions.lock().password(session_id);
    let (tx, rx) = mpsc::unbounded_channel();
    let cancel = shared.shutdown.child_token();
    let handle = ConnHandle {
        out: tx,
        cancel: cancel.clone(),
        peer,
        session_id,
        stats: Arc::new(ConnStats::default()),
        ids: Arc::new(parking_lot::RwLock::new(initial_ids(&peer))),
    };
    handle.send(frame(
        &(),
        &ConnectResponse {
            protocol_version: 0,
            timeout_ms,
            session_id,
            passwd: Bytes::copy_from_slice(&passwd),
            read_only: creq.read_only.map(|_| false),
        },
    ));
    let writer = tokio::spawn(write_loop(wr, rx, shared.clone(), handle.stats.clone()));
    {
        let mut sessions = shared.sessions.lock();
        let mut conns = shared.conns.lock();
        if let Some(old) = sessions.bind(session_id, conn_id, Instant::now()) {
            if let Some(h) = conns.get(&old) {
                h.close();
            }
        }
        conns.insert(conn_id, handle.clone());
    }
    let registration = Registration {
        shared: shared.clone(),
        handle: handle.clone(),
        conn_id,
    };
    tracing::debug!(%peer, session = format_args!("{session_id:#x}"), "session established");

    let mut ids = initial_ids(&peer);
    let mut codec = codec;
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    // Requests flow to a responder task that answers them strictly in order. Writes are handed
    // to the sequencer as soon as they are read (so one connection's pipelined writes share a
    // group commit) unless a read is still waiting ahead of them: a read must not observe a
    // write the client sent after it.
    let (items_tx, items_rx) = mpsc::channel::<(Item, Instant)>(1024);
    let reads_ahead = Arc::new(AtomicUsize::new(0));
    let responder = tokio::spawn(respond_loop(
        shared.clone(),
        handle.clone(),
        conn_id,
        session_id,
        items_rx,
        reads_ahead.clone(),
    ));
    'conn: loop {
        // Drain every complete frame already buffered before reading more.
        let payload = loop {
            match codec.decode(&mut inbuf) {
                Ok(Some(p)) => break p,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                    shared.stats.bad_connections.fetch_add(1, Ordering::Relaxed);
                    break 'conn;
                }
            }
            let n = tokio::select! {
                _ = cancel.cancelled() => break 'conn,
                n = rd.read_buf(&mut inbuf) => n,
            };
            match n {
                Ok(0) | Err(_) => break 'conn,
                Ok(_) => {}
            }
        };
        let arrived = Instant::now();
        shared.stats.received.fetch_add(1, Ordering::Relaxed);
        handle.stats.received.fetch_add(1, Ordering::Relaxed);
        if !shared.sessions.lock().touch(session_id, arrived) {
            break 'conn;
        }
        let (header, req) = match decode_request(payload, limit) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: malformed request");
                shared.stats.bad_connections.fetch_add(1, Ordering::Relaxed);
                break 'conn;
            }
        };
        let xid = header.xid;
        #[cfg(test)]
        tests::maybe_panic(xid);
        let last = matches!(req, Request::CloseSession | Request::Unknown(_));
        let item = if let Request::Auth(a) = &req {
            let (frame, keep) = auth(&shared, &handle, &mut ids, xid, a);
            *handle.ids.write() = ids.clone();
            if !keep {
                started(&shared, &handle);
                let _ = items_tx.send((Item::Ready(frame), arrived)).await;
                let _ = items_tx.send((Item::Close, arrived)).await;
                break 'conn;
            }
            Item::Ready(frame)
        } else if let Some(op) = write_op(&req) {
            if reads_ahead.load(Ordering::Acquire) == 0 {
                Item::Write {
                    xid,
                    req,
                    rx: submit(&shared, session_id, &ids, op),
                }
            } else {
                Item::DeferredWrite {
                    xid,
                    req,
                    op,
                    ids: ids.clone(),
                }
            }
        } else {
            reads_ahead.fetch_add(1, Ordering::AcqRel);
            Item::Other {
                xid,
                req,
                ids: ids.clone(),
            }
        };
        started(&shared, &handle);
        if items_tx.send((item, arrived)).await.is_err() || last {
            break 'conn;
        }
    }
    drop(items_tx);
    let _ = responder.await;
    drop(registration);
    drop(handle);
    let _ = writer.await;
}

/// A connection's place in the server's tables (connections, the session's binding, watches),
/// given up when `serve` ends — by returning or by panicking. Without it a reader that panicked
/// left the writer holding the socket open with the session bound, so the client saw no
/// disconnect and waited out its request timeouts until the session expired.
struct Registration {
    shared: Arc<Shared>,
    handle: ConnHandle,
    conn_id: ConnId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                peer = %self.handle.peer,
                session = format_args!("{:#x}", self.handle.session_id),
                "connection reader panicked; closing the connection"
            );
        }
        let shared = &self.shared;
        shared.watches.lock().remove_conn(self.conn_id);
        shared
            .sessions
            .lock()
            .unbind(self.handle.session_id, self.conn_id);
        shared.conns.lock().remove(&self.conn_id);
        // The writer flushes what is queued, then shuts the socket.
        self.handle.close();
    }
}

/// Creates or resumes the session; `None` means "reply expired and close".
async fn handshake(shared: &Arc<Shared>, creq: &ConnectRequest) -> Option<(i64, i32)> {
    if creq.session_id != 0 {
        let sessions = shared.sessions.lock();
        let ok = sessions.is_live(creq.session_id)
            && creq.passwd[..] == sessions.password(creq.session_id)[..];
        return if ok {
            sessions
                .timeout_ms(creq.session_id)
                .map(|t| (creq.session_id, t))
        } else {
            None
        };
    }
    let timeout_ms = shared.config.negotiate_timeout(creq.timeout_ms);
    let session_id = shared.sessions.lock().allocate_id();
    let (tx, rx) = oneshot::channel();
    let job = WriteJob {
        session_id,
        ids: Arc::new(Vec::new()),
        op: WriteOp::CreateSession { timeout_ms },
        reply: Some(tx),
    };
    shared.writes.send(SeqMsg::Job(job)).ok()?;
    match rx.await.ok()? {
        WriteOutcome::Done { .. } => Some((session_id, timeout_ms)),
        _ => None,
    }
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Out>,
    shared: Arc<Shared>,
    stats: Arc<ConnStats>,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'outer: while let Some(first) = rx.recv().await {
        let mut close = false;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Out::Frame(f) => {
                    buf.extend_from_slice(&f);
                    stats
                        .queued_bytes
                        .fetch_sub(f.len() as u64, Ordering::Relaxed);
                    shared.stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                Out::Close => {
                    close = true;
                    break;
                }
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() {
            if wr.write_all(&buf).await.is_err() {
                break 'outer;
            }
            buf.clear();
        }
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

/// Counts a request as outstanding until `answered` sees it off.
fn started(shared: &Shared, handle: &ConnHandle) {
    shared.stats.outstanding.fetch_add(1, Ordering::Relaxed);
    handle.stats.outstanding.fetch_add(1, Ordering::Relaxed);
}

/// A request's reply has been queued (or the request was dropped with its connection).
fn answered(shared: &Shared, handle: &ConnHandle, arrived: Instant) {
    let took = arrived.elapsed();
    shared.stats.latency.record(took);
    handle.stats.latency.record(took);
    shared.stats.outstanding.fetch_sub(1, Ordering::Relaxed);
    handle.stats.outstanding.fetch_sub(1, Ordering::Relaxed);
}

/// Hands a write to the sequencer; the outcome arrives on the returned receiver.
fn submit(
    shared: &Shared,
    session_id: i64,
    ids: &[Id],
    op: WriteOp,
) -> oneshot::Receiver<WriteOutcome> {
    let (tx, rx) = oneshot::channel();
    let job = WriteJob {
        session_id,
        ids: Arc::new(ids.to_vec()),
        op,
        reply: Some(tx),
    };
    // If the sequencer is gone the sender is dropped with the job and the receiver reports it.
    let _ = shared.writes.send(SeqMsg::Job(job));
    rx
}

/// One request on its way through a connection's responder, in arrival order.
enum Item {
    /// A reply already computed (auth).
    Ready(Bytes),
    /// A write already submitted to the sequencer.
    Write {
        xid: i32,
        req: Request,
        rx: oneshot::Receiver<WriteOutcome>,
    },
    /// A write that waits for the reads ahead of it before it is submitted.
    DeferredWrite {
        xid: i32,
        req: Request,
        op: WriteOp,
        ids: Vec<Id>,
    },
    /// Anything else (reads, ping, setWatches, ...), answered when its turn comes.
    Other {
        xid: i32,
        req: Request,
        ids: Vec<Id>,
    },
    /// Close after what is queued.
    Close,
}

/// Answers a connection's requests strictly in arrival order.
async fn respond_loop(
    shared: Arc<Shared>,
    handle: ConnHandle,
    conn_id: ConnId,
    session_id: i64,
    mut items: mpsc::Receiver<(Item, Instant)>,
    reads_ahead: Arc<AtomicUsize>,
) {
    // Whatever ends this task, a panic outside the guard below included, stops the connection's
    // reading too, so it closes instead of reading requests nobody will answer.
    let _stop_reading = handle.cancel.clone().drop_guard();
    while let Some((item, arrived)) = items.recv().await {
        let (xid, other) = match &item {
            Item::Ready(_) => (None, false),
            Item::Close => {
                // Not a request: nothing was counted for it.
                handle.cancel.cancel();
                break;
            }
            Item::Write { xid, .. } | Item::DeferredWrite { xid, .. } => (Some(*xid), false),
            Item::Other { xid, .. } => (Some(*xid), true),
        };
        // A handler that panics costs its request, answered SYSTEMERROR as ZooKeeper answers an
        // exception while processing one, and not the connection.
        let handled = AssertUnwindSafe(async {
            match item {
                Item::Ready(frame) => {
                    handle.send(frame);
                    true
                }
                Item::Close => false,
                Item::Write { xid, req, rx } => answer_write(&handle, xid, &req, rx).await,
                Item::DeferredWrite { xid, req, op, ids } => {
                    let rx = submit(&shared, session_id, &ids, op);
                    answer_write(&handle, xid, &req, rx).await
                }
                Item::Other { xid, req, mut ids } => {
                    handle_request(&shared, &handle, conn_id, session_id, &mut ids, xid, req).await
                }
            }
        })
        .catch_unwind()
        .await;
        if other {
            reads_ahead.fetch_sub(1, Ordering::AcqRel);
        }
        let keep = handled.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            tracing::error!(peer = %handle.peer, xid = ?xid, panic = what, "request handler panicked; answered SYSTEMERROR");
            if let Some(xid) = xid {
                let code = ErrorCode::SystemError.code();
                handle.send(reply_frame(xid, shared.last_zxid(), code, &()));
            }
            true
        });
        answered(&shared, &handle, arrived);
        if !keep {
            handle.cancel.cancel();
            break;
        }
    }
    // Requests still queued when the loop stops are never answered; they stop being outstanding.
    items.close();
    while let Ok((item, arrived)) = items.try_recv() {
        if !matches!(item, Item::Close) {
            answered(&shared, &handle, arrived);
        }
    }
}

/// Waits for a write's outcome and queues its reply; false after closeSession.
async fn answer_write(
    handle: &ConnHandle,
    xid: i32,
    req: &Request,
    rx: oneshot::Receiver<WriteOutcome>,
) -> bool {
    let outcome = rx.await.unwrap_or(WriteOutcome::Failed {
        zxid: 0,
        code: ErrorCode::SystemError,
    });
    let frame = match outcome {
        WriteOutcome::Failed { zxid, code } => reply_frame(xid, zxid, code.code(), &()),
        WriteOutcome::MultiFailed { zxid, codes } => reply_frame(
            xid,
            zxid,
            0,
            &MultiResponse {
                results: codes.into_iter().map(OpResult::Error).collect(),
            },
        ),
        WriteOutcome::Done { zxid, txn, applied } => success_body(xid, zxid, req, &txn, &applied),
    };
    handle.send(frame);
    !matches!(req, Request::CloseSession)
}

/// The sequencer op for a write request; None for everything else.
fn write_op(req: &Request) -> Option<WriteOp> {
    Some(match req {
        Request::Create(r) => create_op(OpCode::Create, r, None),
        Request::Create2(r) => create_op(OpCode::Create2, r, None),
        Request::CreateContainer(r) => create_op(OpCode::CreateContainer, r, None),
        Request::CreateTtl(r) => WriteOp::Create(CreateOp {
            opcode: OpCode::CreateTtl,
            path: r.path.clone(),
            data: r.data.clone(),
            acl: r.acl.clone(),
            flags: r.flags,
            ttl: Some(r.ttl),
        }),
        Request::Delete(r) => WriteOp::Delete {
            path: r.path.clone(),
            version: r.version,
        },
        Request::SetData(r) => WriteOp::SetData {
            path: r.path.clone(),
            data: r.data.clone(),
            version: r.version,
        },
        Request::SetAcl(r) => WriteOp::SetAcl {
            path: r.path.clone(),
            acl: r.acl.clone(),
            version: r.version,
        },
        Request::Multi(m) => WriteOp::Multi(m.clone()),
        Request::CloseSession => WriteOp::CloseSession,
        _ => return None,
    })
}

fn create_op(opcode: OpCode, r: &courier_keeper_proto::CreateRequest, ttl: Option<i64>) -> WriteOp {
    WriteOp::Create(CreateOp {
        opcode,
        path: r.path.clone(),
        data: r.data.clone(),
        acl: r.acl.clone(),
        flags: r.flags,
        ttl,
    })
}

/// Answers a request that is neither a write nor auth; false closes the connection.
async fn handle_request(
    shared: &Arc<Shared>,
    handle: &ConnHandle,
    conn_id: ConnId,
    session_id: i64,
    ids: &mut Vec<Id>,
    xid: i32,
    req: Request,
) -> bool {
    let ctx = ReadCtx {
        conn: conn_id,
        session_id,
        ids,
        handle,
    };
    if read::is_read(&req) {
        let state = shared.state.read().await;
        if let Some(reply) = read::execute(shared, &state, &ctx, xid, &req) {
            handle.send(reply);
        }
        return true;
    }
    let zxid = shared.last_zxid();
    match &req {
        Request::Ping => {
            handle.send(reply_frame(xid::PING, zxid, 0, &()));
            true
        }
        Request::Reconfig(_) => {
            handle.send(reply_frame(
                xid,
                zxid,
                ErrorCode::ReconfigDisabled.code(),
                &(),
            ));
            true
        }
        Request::Unknown(op) => {
            tracing::warn!(peer = %handle.peer, opcode = op, "unknown opcode; answering UNIMPLEMENTED and closing");
            handle.send(reply_frame(xid, zxid, ErrorCode::Unimplemented.code(), &()));
            false
        }
        // SASL and anything else without a handler.
        _ => {
            handle.send(reply_frame(xid, zxid, ErrorCode::Unimplemented.code(), &()));
            true
        }
    }
}

fn stat_at(applied: &crate::state::Applied, i: usize) -> courier_keeper_proto::Stat {
    applied
        .stats
        .get(i)
        .and_then(|s| s.as_ref())
        .map(crate::tree::client_stat)
        .unwrap_or_default()
}

fn created_path(txn: &Txn) -> String {
    match txn {
        Txn::Create { path, .. } => path.clone(),
        _ => String::new(),
    }
}

fn success_body(
    xid: i32,
    zxid: i64,
    req: &Request,
    txn: &Txn,
    applied: &crate::state::Applied,
) -> Bytes {
    match req {
        Request::Create(_) => reply_frame(
            xid,
            zxid,
            0,
            &CreateResponse {
                path: created_path(txn),
            },
        ),
        Request::Create2(_) | Request::CreateContainer(_) | Request::CreateTtl(_) => reply_frame(
            xid,
            zxid,
            0,
            &Create2Response {
                path: created_path(txn),
                stat: stat_at(applied, 0),
            },
        ),
        Request::SetData(_) | Request::SetAcl(_) => reply_frame(
            xid,
            zxid,
            0,
            &StatResponse {
                stat: stat_at(applied, 0),
            },
        ),
        Request::Multi(m) => {
            let subs: &[Txn] = match txn {
                Txn::Multi(t) => t,
                _ => &[],
            };
            let results = m
                .ops
                .iter()
                .enumerate()
                .map(|(i, op)| match op {
                    MultiOp::Create(OpCode::Create, _) => {
                        OpResult::Create(subs.get(i).map(created_path).unwrap_or_default())
                    }
                    MultiOp::Create(..) | MultiOp::CreateTtl(_) => OpResult::Create2(
                        subs.get(i).map(created_path).unwrap_or_default(),
                        stat_at(applied, i),
                    ),
                    MultiOp::Delete(_) => OpResult::Delete,
                    MultiOp::SetData(_) => OpResult::SetData(stat_at(applied, i)),
                    MultiOp::Check(_) => OpResult::Check,
                    MultiOp::GetData(_) | MultiOp::GetChildren(_) => {
                        OpResult::Error(ErrorCode::BadArguments.code())
                    }
                })
                .collect();
            reply_frame(xid, zxid, 0, &MultiResponse { results })
        }
        _ => reply_frame(xid, zxid, 0, &()),
    }
}

/// Processes an auth packet: the reply frame, and false if the connection must close.
fn auth(
    shared: &Arc<Shared>,
    handle: &ConnHandle,
    ids: &mut Vec<Id>,
    xid: i32,
    a: &courier_keeper_proto::AuthPacket,
) -> (Bytes, bool) {
    match a.scheme.as_str() {
        "digest" => {
            let cred = String::from_utf8_lossy(&a.auth).into_owned();
            let id = acl::digest_id(&cred);
            if shared.super_digest.as_deref() == Some(id.as_str()) {
                push_id(
                    ids,
                    Id {
                        scheme: "super".into(),
                        id: String::new(),
                    },
                );
            }
            push_id(
                ids,
                Id {
                    scheme: "digest".into(),
                    id,
                },
            );
            (reply_frame(xid, 0, 0, &()), true)
        }
        // The ip identity comes from the socket; nothing to add.
        "ip" => (reply_frame(xid, 0, 0, &()), true),
        other => {
            tracing::warn!(peer = %handle.peer, scheme = other, "auth with an unsupported scheme; closing");
            shared.stats.auth_failed.fetch_add(1, Ordering::Relaxed);
            (
                reply_frame(xid, 0, ErrorCode::AuthFailed.code(), &()),
                false,
            )
        }
    }
}

fn push_id(ids: &mut Vec<Id>, id: Id) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI32;

    use courier_keeper_proto::{PathWatchRequest, RequestHeader};

    use super::*;
    use crate::{KeeperConfig, KeeperHandle};

    /// A request with this xid makes the reading side of its connection panic (0: none).
    static PANIC_XID: AtomicI32 = AtomicI32::new(0);

    pub(super) fn maybe_panic(xid: i32) {
        let armed = PANIC_XID.load(Ordering::Relaxed);
        if armed != 0 && xid == armed {
            panic!("injected panic in the connection reader");
        }
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    async fn session(addr: SocketAddr) -> TcpStream {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&frame(&(), &ConnectRequest::new_session(30_000)))
            .await
            .expect("send connect");
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.expect("connect response");
        let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut resp).await.expect("connect response");
        s
    }

    async fn exists(s: &mut TcpStream, xid: i32) {
        let mut body = bytes::BytesMut::new();
        RequestHeader {
            xid,
            op: OpCode::Exists.code(),
        }
        .write(&mut body);
        Request::Exists(PathWatchRequest {
            path: "/".into(),
            watch: false,
        })
        .write_body(&mut body);
        s.write_all(&framed(&body)).await.expect("send request");
    }

    /// Reads until the server closes the socket; false if it is still open after `wait`.
    async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
        let mut buf = [0u8; 4096];
        tokio::time::timeout(wait, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn a_panicking_reader_closes_its_connection_and_the_server_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keeper = KeeperHandle::start(KeeperConfig {
            data_dir: dir.path().to_path_buf(),
            fsync: false,
            ..KeeperConfig::default()
        })
        .await
        .expect("start keeper");
        let armed = 0x5eed_0bad;
        PANIC_XID.store(armed, Ordering::Relaxed);

        let mut victim = session(keeper.addr).await;
        exists(&mut victim, 1).await;
        exists(&mut victim, armed).await;
        assert!(
            closed_within(&mut victim, Duration::from_secs(5)).await,
            "the connection whose reader panicked was left open"
        );

        // Other sessions are served as before.
        let mut other = session(keeper.addr).await;
        exists(&mut other, 7).await;
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), other.read_exact(&mut len))
            .await
            .expect("the server answers another session")
            .expect("reply");
        PANIC_XID.store(0, Ordering::Relaxed);
        keeper.stop().await.expect("stop keeper");
    }
}
