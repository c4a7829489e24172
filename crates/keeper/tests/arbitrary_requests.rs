//! Arbitrary well-formed requests to a live keeper (strategies: `courier_keeper_proto::testkit`):
//! every opcode it decodes, with paths drawn from a small namespace that requests keep creating
//! and deleting (plus invalid paths), create modes at the edges (sequential, ephemeral,
//! container, TTL, and values no mode has), edge versions, TTLs and ACLs, multis of all of it.
//! Every request must be answered, in order, on its connection, and never with SYSTEMERROR (the
//! answer to a request whose handler panicked); a case may end its session with CloseSession,
//! Auth or Sasl. After each case a fresh session must still write and read a node.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use common::*;
use courier_keeper::KeeperHandle;
use courier_keeper_proto::testkit::{self, Values};
use courier_keeper_proto::*;
use proptest::prelude::*;

/// Paths that meet the namespace the requests build, and invalid ones.
fn paths() -> BoxedStrategy<String> {
    let pool = vec![
        "/",
        "/a",
        "/a/b",
        "/a/b/c",
        "/e",
        "/c",
        "/t",
        "/s-",
        "/a/s-",
        "/s-0000000000",
        "/s-0000000001",
        "/a/s-0000000002",
        "/zookeeper",
        "/zookeeper/config",
        "/zookeeper/quota",
        "",
        "a",
        "/a/",
        "//a",
        "/a/./b",
        "/a/../b",
        "/\u{0}x",
        "/\u{e9}",
    ];
    prop_oneof![
        4 => prop::sample::select(pool).prop_map(String::from),
        1 => "/[a-c]{1,2}(/[a-c]{1,2}){0,2}",
        1 => "[ -~]{0,12}",
    ]
    .boxed()
}

fn values() -> Values {
    let text = prop_oneof![
        3 => prop::sample::select(vec![
            "world",
            "anyone",
            "ip",
            "127.0.0.1",
            "10.0.0.0/8",
            "digest",
            "u:p",
            "u:0123456789abcdef0123456789A=",
            "auth",
            "x509",
            "sasl",
            "super",
            "",
            "server.1=127.0.0.1:2888:3888;2181",
        ])
        .prop_map(String::from),
        1 => "[ -~]{0,12}",
    ]
    .boxed();
    let int =
        |edges: Vec<i32>| prop_oneof![3 => prop::sample::select(edges), 1 => any::<i32>()].boxed();
    Values {
        path: paths(),
        text,
        flags: int(vec![0, 1, 2, 3, 4, 5, 6, 7, -1, 100, i32::MIN, i32::MAX]),
        int: int(vec![-1, 0, 1, 2, 3, 31, i32::MAX, i32::MIN]),
        long: prop_oneof![
            3 => prop::sample::select(vec![-1, 0, 1, 1000, 3_600_000, i64::MAX, i64::MIN]),
            1 => any::<i64>(),
        ]
        .boxed(),
    }
}

/// A case: requests on one session, maybe ended by one that ends sessions by design.
fn case() -> impl Strategy<Value = (Vec<Request>, Option<Request>)> {
    let v = values();
    (
        prop::collection::vec(testkit::request(&v), 1..16),
        prop::option::weighted(0.3, testkit::session_enders(&v)),
    )
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    keeper: KeeperHandle,
    _dir: tempfile::TempDir,
}

/// One keeper for every case: the nodes, sessions and watches earlier cases left are part of
/// what later cases run into.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (keeper, dir) = runtime.block_on(start_keeper(|_| {}));
        Shared {
            runtime,
            keeper,
            _dir: dir,
        }
    })
}

/// The xid a request goes out with, as clients send them.
fn xid_for(req: &Request, n: i32) -> i32 {
    match req {
        Request::Ping => xid::PING,
        Request::Auth(_) => xid::AUTH,
        Request::SetWatches(_) | Request::SetWatches2(_) => xid::SET_WATCHES,
        _ => n,
    }
}

/// Far above any reply time of a healthy keeper on loopback; a failing case ends soon.
const REPLY_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Sends `req` and waits for its reply, skipping notifications; `None` if the connection closed.
async fn reply(c: &mut Client, req: &Request, n: i32) -> Result<Option<ReplyHeader>, String> {
    let xid = xid_for(req, n);
    c.send(xid, req).await;
    let wait = async {
        loop {
            match c.next_frame().await {
                None => return Ok(None),
                Some(Frame::Event(..)) => {}
                Some(Frame::Reply(h, _)) if h.xid == xid => return Ok(Some(h)),
                Some(Frame::Reply(h, _)) => {
                    return Err(format!("reply for xid {} while waiting for {xid}", h.xid))
                }
            }
        }
    };
    tokio::time::timeout(REPLY_WITHIN, wait)
        .await
        .map_err(|_| {
            format!("no reply to {req:?} within {REPLY_WITHIN:?}, and the connection is still open")
        })?
}

/// A fresh session still writes a node and reads back what it wrote.
async fn still_serves(k: &KeeperHandle) -> Result<(), TestCaseError> {
    static N: AtomicU64 = AtomicU64::new(0);
    let data = format!("alive {}", N.fetch_add(1, Ordering::Relaxed)).into_bytes();
    let mut c = Client::connect(k.addr).await;
    let wrote = match c.create("/alive", &data, 0).await {
        Ok(_) => Ok(()),
        Err(_) => c.set("/alive", &data, -1).await.map(|_| ()),
    };
    prop_assert!(wrote.is_ok(), "writing /alive failed: {:?}", wrote);
    let got = c.get("/alive", false).await;
    prop_assert_eq!(got.map(|(d, _)| d.to_vec()), Ok(data));
    Ok(())
}

proptest! {
    // 128 cases in CI; PROPTEST_CASES=N runs more (e.g. for an hour on a spare machine).
    #![proptest_config(ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { ProptestConfig::default().cases } else { 128 },
        max_shrink_iters: 16,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_gets_a_reply((requests, ender) in case()) {
        let s = shared();
        s.runtime.block_on(async {
            let mut c = Client::connect(s.keeper.addr).await;
            for (i, req) in requests.iter().enumerate() {
                let got = reply(&mut c, req, i as i32 + 1).await.map_err(TestCaseError::fail)?;
                let Some(h) = got else {
                    return Err(TestCaseError::fail(format!(
                        "connection closed instead of answering {req:?}"
                    )));
                };
                // SYSTEMERROR is how the keeper answers a request whose handler panicked.
                prop_assert_ne!(h.err, ErrorCode::SystemError.code(), "{:?} panicked the handler", req);
            }
            if let Some(req) = &ender {
                // May be answered or may close the connection; either way the server stays up.
                let _ = reply(&mut c, req, 10_000).await.map_err(TestCaseError::fail)?;
            }
            still_serves(&s.keeper).await
        })?;
    }
}
