//! Restart and crash recovery: the tree, sessions with their ephemerals and the zxid survive a
//! restart; session ids stay unique; `kill -9` during a stream of acknowledged writes loses none
//! of them (also twice in a row, on a preallocated Raft log). The crash tests re-run this test
//! binary as a child server process.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use courier_keeper::{KeeperConfig, KeeperHandle};
use courier_keeper_proto::*;

fn config(dir: &std::path::Path) -> KeeperConfig {
    KeeperConfig {
        data_dir: dir.to_path_buf(),
        container_check_interval_ms: 50,
        ..KeeperConfig::default()
    }
}

#[tokio::test]
async fn restart_restores_tree_sessions_and_zxid() {
    let dir = tempfile::tempdir().unwrap();
    let s = KeeperHandle::start(config(dir.path())).await.unwrap();
    let mut c = Client::connect(s.addr).await;
    c.create("/a", b"1", 0).await.unwrap();
    c.create("/a/seq-", b"", 2).await.unwrap();
    c.set("/a", b"2", -1).await.unwrap();
    c.create("/eph", b"", 1).await.unwrap();
    let (h, _) = c.call(Request::Ping).await;
    let zxid_before = h.zxid;
    let (sid, pw) = (c.session_id, c.passwd.clone());
    drop(c);
    s.stop().await.unwrap();

    let s = KeeperHandle::start(config(dir.path())).await.unwrap();
    let mut c = Client::connect_with(s.addr, sid, pw, 10_000)
        .await
        .expect("session survives a restart");
    let (data, st) = c.get("/a", false).await.unwrap();
    assert_eq!((&data[..], st.version, st.num_children), (&b"2"[..], 1, 1));
    assert_eq!(
        c.children("/a", false).await.unwrap(),
        vec!["seq-0000000000".to_string()]
    );
    assert_eq!(c.exists("/eph", false).await.unwrap().ephemeral_owner, sid);
    let (h, _) = c.call(Request::Ping).await;
    assert_eq!(h.zxid, zxid_before);
    let (h, _) = c
        .call(Request::Create(CreateRequest {
            path: "/b".into(),
            data: Default::default(),
            acl: acl_open(),
            flags: 0,
        }))
        .await;
    assert_eq!(h.zxid, zxid_before + 1);
    let fresh = Client::connect(s.addr).await;
    assert!(
        fresh.session_id > sid,
        "new session ids never reuse old ones"
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn snapshots_compact_the_log_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || KeeperConfig {
        snapshot_every_txns: 7,
        ..config(dir.path())
    };
    let s = KeeperHandle::start(cfg()).await.unwrap();
    let mut c = Client::connect(s.addr).await;
    c.create("/s", b"", 0).await.unwrap();
    for i in 0..30 {
        c.create(&format!("/s/n{i}"), format!("v{i}").as_bytes(), 0)
            .await
            .unwrap();
    }
    c.create("/s/eph", b"", 1).await.unwrap();
    c.set("/s/n3", b"changed", -1).await.unwrap();
    c.delete("/s/n4", -1).await;
    let (h, _) = c.call(Request::Ping).await;
    let (sid, pw) = (c.session_id, c.passwd.clone());
    drop(c);
    s.stop().await.unwrap();
    assert!(dir.path().join("raft.snap").exists());
    let wal = std::fs::metadata(dir.path().join("raft.log"))
        .unwrap()
        .len();
    assert!(wal < 2000, "log was compacted by snapshots ({wal} bytes)");

    let s = KeeperHandle::start(cfg()).await.unwrap();
    let mut c = Client::connect_with(s.addr, sid, pw, 10_000)
        .await
        .expect("session restored from the snapshot");
    let (hp, _) = c.call(Request::Ping).await;
    assert_eq!(hp.zxid, h.zxid);
    let kids = c.children("/s", false).await.unwrap();
    assert_eq!(kids.len(), 30);
    assert_eq!(&c.get("/s/n3", false).await.unwrap().0[..], b"changed");
    assert_eq!(&c.get("/s/n29", false).await.unwrap().0[..], b"v29");
    assert_eq!(
        c.exists("/s/n4", false).await,
        Err(ErrorCode::NoNode.code())
    );
    let st = c.exists("/s", false).await.unwrap();
    assert_eq!((st.num_children, st.cversion), (30, 32));
    assert_eq!(
        c.exists("/s/eph", false).await.unwrap().ephemeral_owner,
        sid
    );
    s.stop().await.unwrap();
}

/// A data directory written before the Raft log (snapshot + `keeper.wal`) starts with its
/// tree and zxid, becomes a Raft snapshot, and the old files are moved aside.
#[tokio::test]
async fn pre_raft_data_dir_is_migrated() {
    use bytes::Bytes;
    use courier_keeper::state::StateMachine;
    use courier_keeper::txn::{Txn, TxnEntry};
    use courier_keeper::wal::{FileTxnLog, TxnLog};

    let dir = tempfile::tempdir().unwrap();
    let create = |zxid, path: &str| TxnEntry {
        zxid,
        time_ms: 1000,
        session_id: 0,
        txn: Txn::Create {
            path: path.into(),
            data: Bytes::from_static(b"v"),
            acl: courier_keeper::acl::open_acl(),
            ephemeral_owner: 0,
        },
    };
    let entries = [
        create(1, "/old"),
        create(2, "/old/a"),
        TxnEntry {
            zxid: 3,
            time_ms: 1001,
            session_id: 0,
            txn: Txn::SetData {
                path: "/old".into(),
                data: Bytes::from_static(b"v3"),
            },
        },
    ];
    let mut sm = StateMachine::new();
    for e in &entries[..2] {
        sm.apply(e).unwrap();
    }
    courier_keeper::snapshot::write(dir.path(), &sm).unwrap();
    let (mut log, _) = FileTxnLog::open(dir.path(), true).unwrap();
    for e in &entries {
        log.append(e).unwrap();
    }
    log.sync().unwrap();
    drop(log);

    let s = KeeperHandle::start(config(dir.path())).await.unwrap();
    let mut c = Client::connect(s.addr).await;
    assert_eq!(&c.get("/old", false).await.unwrap().0[..], b"v3");
    assert!(c.get("/old/a", false).await.is_ok());
    let (h, _) = c.call(Request::Ping).await;
    // zxid 3 was the old log's last; this client's session creation took 4.
    assert_eq!(h.zxid, 4, "zxids continue from the pre-Raft log");
    c.create("/new", b"n", 0).await.unwrap();
    drop(c);
    s.stop().await.unwrap();
    assert!(dir.path().join("raft.snap").exists());
    assert!(!dir.path().join("keeper.wal").exists());
    assert!(dir.path().join("keeper.wal.pre-raft").exists());

    let s = KeeperHandle::start(config(dir.path())).await.unwrap();
    let mut c = Client::connect(s.addr).await;
    assert_eq!(&c.get("/old", false).await.unwrap().0[..], b"v3");
    assert_eq!(&c.get("/new", false).await.unwrap().0[..], b"n");
    let (h, _) = c.call(Request::Ping).await;
    assert!(h.zxid > 5);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_keeper_cannot_take_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let first = KeeperHandle::start(config(dir.path())).await.unwrap();
    let mut c = Client::connect(first.addr).await;
    c.create("/x", b"", 0).await.unwrap();
    assert!(matches!(
        KeeperHandle::start(config(dir.path())).await,
        Err(courier_keeper::KeeperError::DataDirInUse { .. })
    ));
    assert!(c.exists("/x", false).await.is_ok());
    first.stop().await.unwrap();
}

#[tokio::test]
async fn containers_and_ttl_nodes_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let s = KeeperHandle::start(config(dir.path())).await.unwrap();
    let mut c = Client::connect(s.addr).await;
    let open = acl_open();
    let (h, _) = c
        .call(Request::CreateContainer(CreateRequest {
            path: "/box".into(),
            data: Default::default(),
            acl: open.clone(),
            flags: 4,
        }))
        .await;
    assert_eq!(h.err, 0);
    let (h, _) = c
        .call(Request::CreateContainer(CreateRequest {
            path: "/never".into(),
            data: Default::default(),
            acl: open.clone(),
            flags: 4,
        }))
        .await;
    assert_eq!(h.err, 0);
    c.create("/box/item", b"", 0).await.unwrap();
    c.exists("/box", true).await.unwrap();
    c.delete("/box/item", -1).await;
    let e = c.next_event().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted.code(), "/box")
    );
    let (h, _) = c
        .call(Request::CreateTtl(CreateTtlRequest {
            path: "/ttl".into(),
            data: Default::default(),
            acl: open.clone(),
            flags: 5,
            ttl: 1,
        }))
        .await;
    assert_eq!(h.err, 0);
    c.exists("/ttl", true).await.unwrap();
    let e = c.next_event().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted.code(), "/ttl")
    );
    // A never-used container stays.
    assert!(c.exists("/never", false).await.is_ok());
    s.stop().await.unwrap();
}

/// Child mode: when KEEPER_CHILD_DIR is set this "test" runs a keeper until killed.
#[test]
fn child_server_process() {
    let Ok(dir) = std::env::var("KEEPER_CHILD_DIR") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let s = KeeperHandle::start(config(std::path::Path::new(&dir)))
            .await
            .expect("start");
        println!("KEEPER_ADDR={}", s.addr);
        std::future::pending::<()>().await;
    });
}

/// Kills and reaps the child keeper however the test ends.
struct ChildKeeper(std::process::Child);

impl Drop for ChildKeeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(dir: &std::path::Path) -> (ChildKeeper, std::net::SocketAddr) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_server_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KEEPER_CHILD_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child keeper");
    let mut child = ChildKeeper(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("child printed its address")
            .expect("read");
        // The harness prints "test child_server_process ... " on the same line.
        if let Some(i) = line.find("KEEPER_ADDR=") {
            let a = &line[i + "KEEPER_ADDR=".len()..];
            return (child, a.trim().parse().expect("address"));
        }
    }
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_child(dir.path());
    let mut c = Client::connect(addr).await;
    c.create("/acked", b"", 0).await.unwrap();
    c.create("/acked/eph", b"", 1).await.unwrap();
    let (sid, pw) = (c.session_id, c.passwd.clone());
    // Pipeline writes and kill the server while they stream; remember which ones were acked.
    let total = 400;
    for i in 0..total {
        c.send(
            i + 1,
            &Request::Create(CreateRequest {
                path: format!("/acked/n{i}"),
                data: Default::default(),
                acl: acl_open(),
                flags: 0,
            }),
        )
        .await;
    }
    let mut acked = Vec::new();
    while acked.len() < 150 {
        match c.next_frame().await {
            Some(Frame::Reply(h, _)) if h.err == 0 => acked.push(h.xid - 1),
            Some(_) => {}
            None => break,
        }
    }
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    // Drain whatever else made it out before the kill: those were acknowledged too.
    while let Some(f) = c.next_frame().await {
        if let Frame::Reply(h, _) = f {
            if h.err == 0 {
                acked.push(h.xid - 1);
            }
        }
    }
    let (_child, addr) = spawn_child(dir.path());
    let mut c2 = Client::connect_with(addr, sid, pw, 10_000)
        .await
        .expect("session survives the crash");
    let present: std::collections::HashSet<String> = c2
        .children("/acked", false)
        .await
        .unwrap()
        .into_iter()
        .collect();
    for i in &acked {
        assert!(
            present.contains(&format!("n{i}")),
            "acknowledged write n{i} lost"
        );
    }
    assert!(present.contains("eph"), "ephemeral of a live session kept");
}

/// Two crashes in a row: the second start finds the zeroed tail the first one preallocated
/// (or a torn tail in it), appends into it, and is killed in turn.
#[tokio::test]
async fn kill_9_twice_keeps_every_acknowledged_write_of_a_preallocated_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("raft.log");
    let mut written = Vec::new();
    for round in 0..2 {
        let (mut child, addr) = spawn_child(dir.path());
        let mut c = Client::connect(addr).await;
        if round == 0 {
            c.create("/p", b"", 0).await.unwrap();
        }
        for i in 0..100 {
            let path = format!("/p/r{round}-{i}");
            c.create(&path, b"x", 0).await.unwrap();
            written.push(path);
        }
        // So that the kill lands on a preallocated file.
        assert!(preallocated(&log).await, "the log was not preallocated");
        child.0.kill().expect("kill -9");
        let _ = child.0.wait();
    }
    let (_child, addr) = spawn_child(dir.path());
    let mut c = Client::connect(addr).await;
    let present: std::collections::HashSet<String> = c
        .children("/p", false)
        .await
        .unwrap()
        .into_iter()
        .map(|n| format!("/p/{n}"))
        .collect();
    assert_eq!(present.len(), written.len());
    for p in &written {
        assert!(present.contains(p), "acknowledged write {p} lost");
    }
    assert!(preallocated(&log).await, "the log is preallocated again");
}

/// Waits (bounded: the zeroing thread runs in the background) until `log` is longer than its
/// few records, i.e. preallocated.
async fn preallocated(log: &std::path::Path) -> bool {
    for _ in 0..1000 {
        if std::fs::metadata(log).map(|m| m.len()).unwrap_or(0) >= 4 << 20 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}
