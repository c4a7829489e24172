//! A minimal raw ZooKeeper client for the integration tests: it speaks frames through the
//! `courier-keeper-proto` codec, so tests can check exact error codes, frame order and what
//! happens with malformed input.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use courier_keeper::{KeeperConfig, KeeperHandle};
use courier_keeper_proto::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

pub const LIMIT: usize = 4 << 20;

/// A keeper on a free loopback port over a fresh temporary directory. Writes skip fsync
/// (durability has its own tests) unless `tune` turns it back on; `tune` sets anything else.
pub async fn start_keeper(
    tune: impl FnOnce(&mut KeeperConfig),
) -> (KeeperHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = KeeperConfig {
        data_dir: dir.path().to_path_buf(),
        fsync: false,
        ..KeeperConfig::default()
    };
    tune(&mut cfg);
    (KeeperHandle::start(cfg).await.expect("start keeper"), dir)
}

/// One frame from the server after the handshake.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A reply to a request.
    Reply(ReplyHeader, Bytes),
    /// A watch notification.
    Event(i64, WatcherEvent),
}

pub struct Client {
    pub stream: TcpStream,
    buf: BytesMut,
    codec: FrameCodec,
    xid: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub timeout_ms: i32,
    pub events: Vec<WatcherEvent>,
    pub last_zxid: i64,
}

pub fn acl_open() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub async fn raw(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Self::connect_with(addr, 0, Bytes::from(vec![0u8; 16]), 10_000)
            .await
            .expect("handshake")
    }

    /// Handshake; Err(response) when the server answered with timeout 0 (expired).
    pub async fn connect_with(
        addr: SocketAddr,
        session_id: i64,
        passwd: Bytes,
        timeout_ms: i32,
    ) -> Result<Client, ConnectResponse> {
        let mut stream = raw(addr).await;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id,
            passwd,
            read_only: Some(false),
        };
        stream
            .write_all(&frame(&(), &req))
            .await
            .expect("send connect");
        let mut c = Client {
            stream,
            buf: BytesMut::new(),
            codec: FrameCodec::new(LIMIT),
            xid: 0,
            session_id: 0,
            passwd: Bytes::new(),
            timeout_ms: 0,
            events: Vec::new(),
            last_zxid: 0,
        };
        let payload = c.read_payload().await.expect("connect response");
        let resp = ConnectResponse::from_slice(&payload, LIMIT).expect("decode connect response");
        if resp.timeout_ms <= 0 {
            return Err(resp);
        }
        c.session_id = resp.session_id;
        c.passwd = resp.passwd.clone();
        c.timeout_ms = resp.timeout_ms;
        Ok(c)
    }

    /// Next frame payload, or None when the server closed the connection.
    pub async fn read_payload(&mut self) -> Option<Bytes> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf).expect("frame") {
                return Some(p);
            }
            let n =
                tokio::time::timeout(Duration::from_secs(20), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("server answered within 20 s")
                    .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    pub async fn next_frame(&mut self) -> Option<Frame> {
        let p = self.read_payload().await?;
        let mut r = Reader::new(p, LIMIT);
        let h = ReplyHeader::read(&mut r).expect("reply header");
        if h.xid == xid::NOTIFICATION {
            let ev = WatcherEvent::read(&mut r).expect("event");
            return Some(Frame::Event(h.zxid, ev));
        }
        self.last_zxid = self.last_zxid.max(h.zxid);
        Some(Frame::Reply(h, r.into_inner()))
    }

    pub async fn send(&mut self, xid: i32, req: &Request) {
        let mut body = BytesMut::new();
        RequestHeader {
            xid,
            op: req.opcode().code(),
        }
        .write(&mut body);
        req.write_body(&mut body);
        let mut out = BytesMut::new();
        self.codec.encode(body.freeze(), &mut out).expect("encode");
        self.stream.write_all(&out).await.expect("send");
    }

    /// Sends a request and returns its reply; notifications on the way are kept in `events`.
    pub async fn call(&mut self, req: Request) -> (ReplyHeader, Bytes) {
        self.xid += 1;
        let xid = match req {
            Request::Ping => xid::PING,
            Request::Auth(_) => xid::AUTH,
            Request::SetWatches(_) | Request::SetWatches2(_) => xid::SET_WATCHES,
            _ => self.xid,
        };
        self.send(xid, &req).await;
        loop {
            match self.next_frame().await.expect("connection open") {
                Frame::Event(_, ev) => self.events.push(ev),
                Frame::Reply(h, body) => {
                    assert_eq!(h.xid, xid, "replies come back in order");
                    return (h, body);
                }
            }
        }
    }

    /// The error code of a request (0 for success).
    pub async fn code(&mut self, req: Request) -> i32 {
        self.call(req).await.0.err
    }

    pub async fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Result<String, i32> {
        let (h, body) = self
            .call(Request::Create(CreateRequest {
                path: path.into(),
                data: Bytes::copy_from_slice(data),
                acl: acl_open(),
                flags,
            }))
            .await;
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(CreateResponse::from_slice(&body, LIMIT)
            .expect("create response")
            .path)
    }

    pub async fn get(&mut self, path: &str, watch: bool) -> Result<(Bytes, Stat), i32> {
        let (h, body) = self
            .call(Request::GetData(PathWatchRequest {
                path: path.into(),
                watch,
            }))
            .await;
        if h.err != 0 {
            return Err(h.err);
        }
        let r = GetDataResponse::from_slice(&body, LIMIT).expect("getData response");
        Ok((r.data, r.stat))
    }

    pub async fn exists(&mut self, path: &str, watch: bool) -> Result<Stat, i32> {
        let (h, body) = self
            .call(Request::Exists(PathWatchRequest {
                path: path.into(),
                watch,
            }))
            .await;
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(StatResponse::from_slice(&body, LIMIT).expect("stat").stat)
    }

    pub async fn set(&mut self, path: &str, data: &[u8], version: i32) -> Result<Stat, i32> {
        let (h, body) = self
            .call(Request::SetData(SetDataRequest {
                path: path.into(),
                data: Bytes::copy_from_slice(data),
                version,
            }))
            .await;
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(StatResponse::from_slice(&body, LIMIT).expect("stat").stat)
    }

    pub async fn delete(&mut self, path: &str, version: i32) -> i32 {
        self.code(Request::Delete(DeleteRequest {
            path: path.into(),
            version,
        }))
        .await
    }

    pub async fn children(&mut self, path: &str, watch: bool) -> Result<Vec<String>, i32> {
        let (h, body) = self
            .call(Request::GetChildren(PathWatchRequest {
                path: path.into(),
                watch,
            }))
            .await;
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(GetChildrenResponse::from_slice(&body, LIMIT)
            .expect("children")
            .children)
    }

    /// Waits for the next notification (skipping nothing else: fails on a reply).
    pub async fn next_event(&mut self) -> WatcherEvent {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        match self.next_frame().await.expect("connection open") {
            Frame::Event(_, ev) => ev,
            other => panic!("expected a notification, got {other:?}"),
        }
    }

    /// True once the server has closed the connection.
    pub async fn is_closed(&mut self) -> bool {
        loop {
            match self.read_payload().await {
                None => return true,
                Some(_) => continue,
            }
        }
    }
}

/// Polls `f` until it is true or 15 s pass (for effects driven by server timers).
pub async fn eventually<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Sends a four-letter word on a fresh connection and returns the whole answer.
pub async fn four_letter(addr: SocketAddr, word: &str) -> String {
    let mut t = raw(addr).await;
    t.write_all(word.as_bytes()).await.expect("send 4lw");
    let mut out = String::new();
    t.read_to_string(&mut out).await.expect("read 4lw answer");
    out
}

/// A test that needs an outside tool (zkCli, cli_mt, kazoo, Apache ZooKeeper) found it missing.
/// `scripts/test` installs every such tool and sets `COURIER_REQUIRE_TEST_TOOLS`, so there a
/// missing tool fails the test instead of letting it pass without running; elsewhere (a plain
/// `cargo test` on a developer machine) the test says it skipped and returns.
pub fn tool_missing(test: &str, what: &str) {
    let msg = format!("{test}: {what} not found; scripts/install-test-deps installs it");
    if std::env::var_os("COURIER_REQUIRE_TEST_TOOLS").is_some() {
        panic!("{msg} (COURIER_REQUIRE_TEST_TOOLS is set: nothing may be skipped)");
    }
    eprintln!("SKIPPED {msg}");
}
