//! Watch semantics over TCP: one-shot data/exist/child watches, the event-before-reply
//! guarantee, persistent and recursive watches, removal, and setWatches catch-up.

mod common;

use bytes::Bytes;
use common::*;
use courier_keeper::KeeperHandle;
use courier_keeper_proto::*;

async fn server() -> (KeeperHandle, tempfile::TempDir) {
    start_keeper(|_| {}).await
}

fn ev(t: EventType, p: &str) -> WatcherEvent {
    WatcherEvent {
        event_type: t.code(),
        state: keeper_state::SYNC_CONNECTED,
        path: p.into(),
    }
}

#[tokio::test]
async fn event_arrives_before_the_reply_that_caused_it() {
    let (s, _d) = server().await;
    let mut c = Client::connect(s.addr).await;
    c.create("/w", b"0", 0).await.unwrap();
    c.get("/w", true).await.unwrap();
    c.send(
        77,
        &Request::SetData(SetDataRequest {
            path: "/w".into(),
            data: Bytes::from_static(b"1"),
            version: -1,
        }),
    )
    .await;
    match c.next_frame().await.unwrap() {
        Frame::Event(zxid, e) => {
            assert_eq!(e, ev(EventType::NodeDataChanged, "/w"));
            match c.next_frame().await.unwrap() {
                Frame::Reply(h, _) => assert_eq!((h.xid, h.zxid), (77, zxid)),
                other => panic!("expected the reply, got {other:?}"),
            }
        }
        other => panic!("expected the event first, got {other:?}"),
    }
    s.stop().await.unwrap();
}

#[tokio::test]
async fn one_shot_watches_across_connections() {
    let (s, _d) = server().await;
    let mut watcher = Client::connect(s.addr).await;
    let mut writer = Client::connect(s.addr).await;
    // exists on a missing node arms a watch (and answers NONODE).
    assert_eq!(
        watcher.exists("/x", true).await,
        Err(ErrorCode::NoNode.code())
    );
    watcher.children("/", true).await.unwrap();
    writer.create("/x", b"", 0).await.unwrap();
    let mut got = vec![watcher.next_event().await, watcher.next_event().await];
    got.sort_by_key(|e| e.event_type);
    assert_eq!(
        got,
        vec![
            ev(EventType::NodeCreated, "/x"),
            ev(EventType::NodeChildrenChanged, "/")
        ]
    );
    // Fired watches are gone: another change raises nothing, a ping shows no event queued.
    writer.set("/x", b"1", -1).await.unwrap();
    watcher.call(Request::Ping).await;
    assert!(watcher.events.is_empty());
    // Data + child watch on the same node: one NodeDeleted.
    watcher.get("/x", true).await.unwrap();
    watcher.children("/x", true).await.unwrap();
    writer.delete("/x", -1).await;
    assert_eq!(watcher.next_event().await, ev(EventType::NodeDeleted, "/x"));
    watcher.call(Request::Ping).await;
    assert!(
        watcher.events.is_empty(),
        "deleted fires once per connection: {:?}",
        watcher.events
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn persistent_and_recursive_watches() {
    let (s, _d) = server().await;
    let mut w = Client::connect(s.addr).await;
    let mut writer = Client::connect(s.addr).await;
    writer.create("/p", b"", 0).await.unwrap();
    let (h, body) = w
        .call(Request::AddWatch(AddWatchRequest {
            path: "/p".into(),
            mode: 0,
        }))
        .await;
    assert_eq!(h.err, 0);
    assert_eq!(body.len(), 4, "addWatch answers a 4-byte ErrorResponse");
    w.call(Request::AddWatch(AddWatchRequest {
        path: "/r".into(),
        mode: 1,
    }))
    .await;
    writer.set("/p", b"1", -1).await.unwrap();
    assert_eq!(w.next_event().await, ev(EventType::NodeDataChanged, "/p"));
    writer.set("/p", b"2", -1).await.unwrap();
    assert_eq!(w.next_event().await, ev(EventType::NodeDataChanged, "/p"));
    writer.create("/p/c", b"", 0).await.unwrap();
    assert_eq!(
        w.next_event().await,
        ev(EventType::NodeChildrenChanged, "/p")
    );
    writer.create("/r", b"", 0).await.unwrap();
    assert_eq!(w.next_event().await, ev(EventType::NodeCreated, "/r"));
    writer.create("/r/a", b"", 0).await.unwrap();
    assert_eq!(w.next_event().await, ev(EventType::NodeCreated, "/r/a"));
    writer.create("/r/a/b", b"", 0).await.unwrap();
    assert_eq!(w.next_event().await, ev(EventType::NodeCreated, "/r/a/b"));
    writer.delete("/r/a/b", -1).await;
    assert_eq!(w.next_event().await, ev(EventType::NodeDeleted, "/r/a/b"));
    // checkWatches / removeWatches.
    let chk = |p: &str, t| {
        Request::CheckWatches(WatchesRequest {
            path: p.into(),
            watcher_type: t,
        })
    };
    assert_eq!(w.code(chk("/p", watcher_type::ANY)).await, 0);
    assert_eq!(
        w.code(chk("/nowhere", watcher_type::ANY)).await,
        ErrorCode::NoWatcher.code()
    );
    let rm = Request::RemoveWatches(WatchesRequest {
        path: "/p".into(),
        watcher_type: watcher_type::ANY,
    });
    assert_eq!(w.code(rm.clone()).await, 0);
    assert_eq!(w.code(rm).await, ErrorCode::NoWatcher.code());
    writer.set("/p", b"3", -1).await.unwrap();
    w.call(Request::Ping).await;
    assert!(w.events.is_empty());
    assert_eq!(
        w.code(Request::AddWatch(AddWatchRequest {
            path: "/p".into(),
            mode: 9
        }))
        .await,
        ErrorCode::BadArguments.code()
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn set_watches_fires_what_was_missed() {
    let (s, _d) = server().await;
    let mut writer = Client::connect(s.addr).await;
    writer.create("/d", b"", 0).await.unwrap();
    writer.create("/same", b"", 0).await.unwrap();
    let (h, _) = writer.call(Request::Ping).await;
    let seen = h.zxid;
    writer.set("/d", b"changed", -1).await.unwrap();
    writer.create("/born", b"", 0).await.unwrap();
    let mut c = Client::connect(s.addr).await;
    let (h, _) = c
        .call(Request::SetWatches(SetWatches {
            relative_zxid: seen,
            data_watches: vec!["/d".into(), "/gone".into(), "/same".into()],
            exist_watches: vec!["/born".into(), "/unborn".into()],
            child_watches: vec!["/same".into()],
        }))
        .await;
    assert_eq!((h.xid, h.err), (xid::SET_WATCHES, 0));
    let mut got = c.events.clone();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        got,
        vec![
            ev(EventType::NodeCreated, "/born"),
            ev(EventType::NodeDataChanged, "/d"),
            ev(EventType::NodeDeleted, "/gone"),
        ]
    );
    c.events.clear();
    // The others were re-armed.
    writer.set("/same", b"x", -1).await.unwrap();
    assert_eq!(
        c.next_event().await,
        ev(EventType::NodeDataChanged, "/same")
    );
    writer.create("/unborn", b"", 0).await.unwrap();
    assert_eq!(c.next_event().await, ev(EventType::NodeCreated, "/unborn"));
    writer.create("/same/kid", b"", 0).await.unwrap();
    assert_eq!(
        c.next_event().await,
        ev(EventType::NodeChildrenChanged, "/same")
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn watches_die_with_their_connection() {
    let (s, _d) = start_keeper(|c| c.four_letter_whitelist = vec!["*".into()]).await;
    let mut a = Client::connect(s.addr).await;
    a.create("/k", b"", 0).await.unwrap();
    a.get("/k", true).await.unwrap();
    a.children("/k", true).await.unwrap();
    assert!(four_letter(s.addr, "wchs")
        .await
        .contains("Total watches:2"));
    let wchc = four_letter(s.addr, "wchc").await;
    assert!(wchc.contains("\t/k"), "{wchc}");
    drop(a);
    assert!(
        eventually(|| async {
            four_letter(s.addr, "wchs")
                .await
                .contains("Total watches:0")
        })
        .await
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn recursive_watch_events_respect_read_acl() {
    let (s, _d) = server().await;
    let mut bob = Client::connect(s.addr).await;
    let mut alice = Client::connect(s.addr).await;
    alice
        .call(Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:pw"),
        }))
        .await;
    alice.create("/r", b"", 0).await.unwrap();
    bob.call(Request::AddWatch(AddWatchRequest {
        path: "/r".into(),
        mode: 1,
    }))
    .await;
    let private = vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "auth".into(),
            id: String::new(),
        },
    }];
    let (h, _) = alice
        .call(Request::Create(CreateRequest {
            path: "/r/secret".into(),
            data: Bytes::new(),
            acl: private,
            flags: 0,
        }))
        .await;
    assert_eq!(h.err, 0);
    alice.create("/r/open", b"", 0).await.unwrap();
    // The first event bob sees is for the node he may read.
    assert_eq!(
        bob.next_event().await,
        ev(EventType::NodeCreated, "/r/open")
    );
    bob.call(Request::Ping).await;
    assert!(bob.events.is_empty(), "{:?}", bob.events);
    s.stop().await.unwrap();
}
