//! Sessions over TCP: timeout negotiation, resume with id + password, wrong password, explicit
//! close, and expiry that deletes ephemerals and fires their watches.

mod common;

use bytes::Bytes;
use common::*;
use courier_keeper::KeeperHandle;
use courier_keeper_proto::*;

async fn server(tick: u32) -> (KeeperHandle, tempfile::TempDir) {
    start_keeper(|c| c.tick_time_ms = tick).await
}

#[tokio::test]
async fn timeout_is_clamped_to_tick_multiples() {
    let (s, _d) = server(2000).await;
    let lo = Client::connect_with(s.addr, 0, Bytes::from(vec![0; 16]), 10)
        .await
        .unwrap();
    assert_eq!(lo.timeout_ms, 4000);
    let hi = Client::connect_with(s.addr, 0, Bytes::from(vec![0; 16]), 1_000_000)
        .await
        .unwrap();
    assert_eq!(hi.timeout_ms, 40_000);
    let mid = Client::connect_with(s.addr, 0, Bytes::from(vec![0; 16]), 12_345)
        .await
        .unwrap();
    assert_eq!(mid.timeout_ms, 12_345);
    assert_eq!(lo.passwd.len(), 16);
    assert_ne!(lo.session_id, hi.session_id);
    assert_eq!((lo.session_id as u64) >> 56, 1, "server id in the top byte");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn resume_keeps_the_session_and_moves_it() {
    let (s, _d) = server(2000).await;
    let mut first = Client::connect(s.addr).await;
    first.create("/eph", b"", 1).await.unwrap();
    let mut second = Client::connect_with(s.addr, first.session_id, first.passwd.clone(), 10_000)
        .await
        .expect("resume accepted");
    assert_eq!(second.session_id, first.session_id);
    // The old connection is closed once the session moves.
    assert!(first.is_closed().await);
    assert_eq!(
        second.exists("/eph", false).await.unwrap().ephemeral_owner,
        second.session_id
    );
    // Wrong password: timeout 0, session 0, then close.
    let mut bad = second.passwd.to_vec();
    bad[0] ^= 1;
    let resp = Client::connect_with(s.addr, second.session_id, Bytes::from(bad), 10_000)
        .await
        .err()
        .expect("wrong password refused");
    assert_eq!((resp.timeout_ms, resp.session_id), (0, 0));
    // Unknown session: same.
    assert!(
        Client::connect_with(s.addr, 12345, Bytes::from(vec![0; 16]), 10_000)
            .await
            .is_err()
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn close_session_deletes_ephemerals_and_notifies() {
    let (s, _d) = server(2000).await;
    let mut watcher = Client::connect(s.addr).await;
    let mut owner = Client::connect(s.addr).await;
    owner.create("/e1", b"", 1).await.unwrap();
    owner.create("/e2", b"", 3).await.unwrap();
    watcher.exists("/e1", true).await.unwrap();
    let (h, body) = owner.call(Request::CloseSession).await;
    assert_eq!((h.err, body.len()), (0, 0));
    assert!(h.zxid > 0);
    assert!(owner.is_closed().await);
    let e = watcher.next_event().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted.code(), "/e1")
    );
    assert_eq!(
        watcher.children("/", false).await.unwrap(),
        vec!["zookeeper".to_string()]
    );
    // The closed session cannot be resumed.
    assert!(
        Client::connect_with(s.addr, owner.session_id, owner.passwd.clone(), 10_000)
            .await
            .is_err()
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn silent_session_expires_and_loses_its_ephemerals() {
    // tick 50 ms → minimum timeout 100 ms.
    let (s, _d) = server(50).await;
    let mut watcher = Client::connect_with(s.addr, 0, Bytes::from(vec![0; 16]), 1000)
        .await
        .unwrap();
    let mut owner = Client::connect_with(s.addr, 0, Bytes::from(vec![0; 16]), 100)
        .await
        .unwrap();
    assert_eq!(owner.timeout_ms, 100);
    owner.create("/lease", b"", 1).await.unwrap();
    watcher.exists("/lease", true).await.unwrap();
    // The owner never pings again; the watcher keeps its own session alive by pinging.
    let mut deleted = false;
    for _ in 0..400 {
        let (_, _) = watcher.call(Request::Ping).await;
        if watcher
            .events
            .iter()
            .any(|e| e.path == "/lease" && e.event_type == EventType::NodeDeleted.code())
        {
            deleted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        deleted,
        "the expired session's ephemeral was deleted and its watch fired"
    );
    assert_eq!(
        watcher.exists("/lease", false).await,
        Err(ErrorCode::NoNode.code())
    );
    // The expired session's connection was closed by the server.
    assert!(owner.is_closed().await);
    assert!(
        Client::connect_with(s.addr, owner.session_id, owner.passwd.clone(), 100)
            .await
            .is_err()
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn client_ahead_of_the_server_gets_no_session() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (s, _d) = server(2000).await;
    let mut t = raw(s.addr).await;
    let req = ConnectRequest {
        last_zxid_seen: 1 << 40,
        ..ConnectRequest::new_session(10_000)
    };
    t.write_all(&frame(&(), &req)).await.unwrap();
    let mut buf = Vec::new();
    t.read_to_end(&mut buf).await.unwrap();
    assert!(buf.is_empty(), "closed without a ConnectResponse");
    // An old client (no trailing readOnly byte) gets no trailing byte back.
    let mut t = raw(s.addr).await;
    let req = ConnectRequest {
        last_zxid_seen: 0,
        read_only: None,
        ..req
    };
    t.write_all(&frame(&(), &req)).await.unwrap();
    let mut len = [0u8; 4];
    t.read_exact(&mut len).await.unwrap();
    assert_eq!(i32::from_be_bytes(len), 36);
    s.stop().await.unwrap();
}
