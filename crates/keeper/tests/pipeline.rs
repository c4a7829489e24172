//! Pipelined requests on one connection: replies come back in order, a read sees exactly the
//! writes sent before it (not one sent after it), and dependent pipelined writes work.

mod common;

use bytes::Bytes;
use common::*;
use courier_keeper::{KeeperConfig, KeeperHandle};
use courier_keeper_proto::*;

#[tokio::test]
async fn pipelined_reads_and_writes_keep_session_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = KeeperConfig {
        data_dir: dir.path().to_path_buf(),
        ..KeeperConfig::default()
    };
    let s = KeeperHandle::start(cfg).await.expect("start");
    let mut c = Client::connect(s.addr).await;
    c.create("/p", b"v0", 0).await.unwrap();
    let get = |xid| {
        (
            xid,
            Request::GetData(PathWatchRequest {
                path: "/p".into(),
                watch: false,
            }),
        )
    };
    let set = |xid, v: &'static [u8]| {
        (
            xid,
            Request::SetData(SetDataRequest {
                path: "/p".into(),
                data: Bytes::from_static(v),
                version: -1,
            }),
        )
    };
    let create = |xid, p: &str| {
        (
            xid,
            Request::Create(CreateRequest {
                path: p.into(),
                data: Bytes::new(),
                acl: acl_open(),
                flags: 0,
            }),
        )
    };
    let script = vec![
        get(10),
        set(11, b"v1"),
        get(12),
        create(13, "/p/a"),
        create(14, "/p/a/b"),
        set(15, b"v2"),
        set(16, b"v3"),
        get(17),
        (18, Request::Ping),
    ];
    for (xid, req) in &script {
        let x = if matches!(req, Request::Ping) {
            xid::PING
        } else {
            *xid
        };
        c.send(x, req).await;
    }
    let mut got = Vec::new();
    while got.len() < script.len() {
        if let Some(Frame::Reply(h, body)) = c.next_frame().await {
            got.push((h, body));
        }
    }
    let xids: Vec<i32> = got.iter().map(|(h, _)| h.xid).collect();
    assert_eq!(xids, vec![10, 11, 12, 13, 14, 15, 16, 17, xid::PING]);
    assert!(got.iter().all(|(h, _)| h.err == 0), "{got:?}");
    let data = |i: usize| GetDataResponse::from_slice(&got[i].1, LIMIT).unwrap().data;
    assert_eq!(
        &data(0)[..],
        b"v0",
        "a read does not see a write sent after it"
    );
    assert_eq!(&data(2)[..], b"v1", "a read sees the write sent before it");
    assert_eq!(&data(7)[..], b"v3");
    let zxids: Vec<i64> = got.iter().map(|(h, _)| h.zxid).collect();
    assert!(
        zxids.windows(2).all(|w| w[0] <= w[1]),
        "reply zxids never go back: {zxids:?}"
    );
    s.stop().await.unwrap();
}
