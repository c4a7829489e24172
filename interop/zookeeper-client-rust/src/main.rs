//! Courier's keeper driven by `zookeeper-client` (crates.io), a ZooKeeper client written
//! independently of Courier: sessions (and resuming one), CRUD with versions and error codes,
//! one-shot and persistent watches, ephemeral, sequential, container and TTL nodes, multi and
//! multiRead, getAllChildrenNumber, getEphemerals, sync and digest auth.
//!
//! Usage: courier-interop-zookeeper-client HOST:PORT
//! Prints one `ok <step>` line per step; the first failure exits with status 1 and says what
//! differed. Run by crates/keeper/tests/zk_client_crate.rs against an in-process keeper.

use std::time::Duration;

use zookeeper_client as zk;

type Res<T> = Result<T, String>;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn expect_err<T: std::fmt::Debug>(r: Result<T, zk::Error>, want: zk::Error, what: &str) -> Res<()> {
    match r {
        Err(e) if e == want => Ok(()),
        other => Err(format!("{what}: expected {want:?}, got {other:?}")),
    }
}

fn z<T>(r: Result<T, zk::Error>, what: &str) -> Res<T> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

/// Waits for the next event of a watcher with a deadline, so a missing event fails the run.
async fn next<F: std::future::Future<Output = zk::WatchedEvent>>(
    f: F,
    what: &str,
) -> Res<zk::WatchedEvent> {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .map_err(|_| format!("{what}: no event within 10 s"))
}

fn event_is(e: &zk::WatchedEvent, t: zk::EventType, path: &str, what: &str) -> Res<()> {
    check!(
        e.event_type == t && e.path == path,
        "{what}: expected {t:?} on {path}, got {:?} on {}",
        e.event_type,
        e.path
    );
    Ok(())
}

async fn run(addr: &str) -> Res<()> {
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let a = z(zk::Client::connect(addr).await, "connect a")?;
    let b = z(zk::Client::connect(addr).await, "connect b")?;
    check!(a.session_id() != b.session_id(), "two sessions share an id");
    check!(
        a.session_timeout() > Duration::ZERO,
        "no negotiated timeout"
    );
    println!("ok sessions");

    // CRUD, versions and error codes.
    let (stat, _) = z(a.create("/zkc", b"root", &open).await, "create /zkc")?;
    check!(
        stat.version == 0 && stat.data_length == 4,
        "create stat: {stat:?}"
    );
    expect_err(
        a.create("/zkc", b"", &open).await,
        zk::Error::NodeExists,
        "create twice",
    )?;
    expect_err(
        a.create("/none/x", b"", &open).await,
        zk::Error::NoNode,
        "create without parent",
    )?;
    let (data, stat) = z(b.get_data("/zkc").await, "get /zkc")?;
    check!(
        data == b"root" && stat.version == 0,
        "get: {data:?} {stat:?}"
    );
    let stat = z(a.set_data("/zkc", b"v1", Some(0)).await, "set v0")?;
    check!(stat.version == 1, "set stat: {stat:?}");
    expect_err(
        a.set_data("/zkc", b"v2", Some(0)).await,
        zk::Error::BadVersion,
        "stale set",
    )?;
    expect_err(
        a.get_data("/zkc/missing").await,
        zk::Error::NoNode,
        "get missing",
    )?;
    check!(
        z(a.check_stat("/zkc/missing").await, "exists")?.is_none(),
        "exists on missing"
    );
    z(a.create("/zkc/child", b"", &open).await, "create child")?;
    expect_err(
        a.delete("/zkc", None).await,
        zk::Error::NotEmpty,
        "delete non-empty",
    )?;
    expect_err(
        a.delete("/zkc/child", Some(3)).await,
        zk::Error::BadVersion,
        "delete bad version",
    )?;
    z(a.delete("/zkc/child", Some(0)).await, "delete child")?;
    let (children, stat) = z(a.get_children("/zkc").await, "get children")?;
    check!(
        children.is_empty() && stat.cversion == 2,
        "children {children:?} {stat:?}"
    );
    println!("ok crud");

    // One-shot watches: data, exists on a missing node, children.
    let (_, _, w_data) = z(b.get_and_watch_data("/zkc").await, "watch data")?;
    let (none, w_exist) = z(b.check_and_watch_stat("/zkc/w").await, "watch exists")?;
    check!(
        none.is_none(),
        "exists watch on a missing node returned a stat"
    );
    let (_, w_child) = z(b.list_and_watch_children("/zkc").await, "watch children")?;
    z(a.set_data("/zkc", b"changed", None).await, "set for watch")?;
    event_is(
        &next(w_data.changed(), "data watch").await?,
        zk::EventType::NodeDataChanged,
        "/zkc",
        "data watch",
    )?;
    z(a.create("/zkc/w", b"", &open).await, "create for watch")?;
    event_is(
        &next(w_exist.changed(), "exists watch").await?,
        zk::EventType::NodeCreated,
        "/zkc/w",
        "exists watch",
    )?;
    event_is(
        &next(w_child.changed(), "child watch").await?,
        zk::EventType::NodeChildrenChanged,
        "/zkc",
        "child watch",
    )?;
    println!("ok oneshot-watches");

    // Persistent and persistent-recursive watches keep firing.
    z(a.create("/zkc/p", b"", &open).await, "create /zkc/p")?;
    let mut pw = z(
        b.watch("/zkc/p", zk::AddWatchMode::Persistent).await,
        "addWatch persistent",
    )?;
    for i in 0..3 {
        z(
            a.set_data("/zkc/p", format!("{i}").as_bytes(), None).await,
            "set p",
        )?;
        event_is(
            &next(pw.changed(), "persistent").await?,
            zk::EventType::NodeDataChanged,
            "/zkc/p",
            "persistent",
        )?;
    }
    z(a.create("/zkc/p/k", b"", &open).await, "create p/k")?;
    event_is(
        &next(pw.changed(), "persistent child").await?,
        zk::EventType::NodeChildrenChanged,
        "/zkc/p",
        "persistent child",
    )?;
    z(pw.remove().await, "remove persistent watch")?;
    let mut rw = z(
        b.watch("/zkc/p", zk::AddWatchMode::PersistentRecursive)
            .await,
        "addWatch recursive",
    )?;
    z(a.create("/zkc/p/k/deep", b"", &open).await, "create deep")?;
    event_is(
        &next(rw.changed(), "recursive").await?,
        zk::EventType::NodeCreated,
        "/zkc/p/k/deep",
        "recursive",
    )?;
    z(a.set_data("/zkc/p/k", b"x", None).await, "set k")?;
    event_is(
        &next(rw.changed(), "recursive").await?,
        zk::EventType::NodeDataChanged,
        "/zkc/p/k",
        "recursive",
    )?;
    z(a.delete("/zkc/p/k/deep", None).await, "delete deep")?;
    event_is(
        &next(rw.changed(), "recursive").await?,
        zk::EventType::NodeDeleted,
        "/zkc/p/k/deep",
        "recursive",
    )?;
    z(rw.remove().await, "remove recursive watch")?;
    println!("ok persistent-watches");

    // Sequential nodes share the parent's counter.
    z(a.create("/zkc/seq", b"", &open).await, "create seq parent")?;
    let pseq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let eseq = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(
            z(
                a.create("/zkc/seq/n-", b"", &pseq).await,
                "create sequential",
            )?
            .1
            .into_i64(),
        );
    }
    seqs.push(
        z(
            a.create("/zkc/seq/e-", b"", &eseq).await,
            "create ephemeral sequential",
        )?
        .1
        .into_i64(),
    );
    check!(seqs == vec![0, 1, 2, 3], "sequence numbers {seqs:?}");
    let mut kids = z(a.list_children("/zkc/seq").await, "list seq")?;
    kids.sort();
    check!(
        kids == [
            "e-0000000003",
            "n-0000000000",
            "n-0000000001",
            "n-0000000002"
        ],
        "sequential names {kids:?}"
    );
    println!("ok sequential");

    // Ephemerals: owner, getEphemerals, no children, deleted (with watches) when the session closes.
    let c = z(zk::Client::connect(addr).await, "connect c")?;
    let (stat, _) = z(c.create("/zkc/eph", b"", &eph).await, "create ephemeral")?;
    check!(
        stat.ephemeral_owner == c.session_id().0,
        "ephemeral owner {stat:?}"
    );
    expect_err(
        c.create("/zkc/eph/x", b"", &open).await,
        zk::Error::NoChildrenForEphemerals,
        "child of ephemeral",
    )?;
    let mine = z(c.list_ephemerals("/").await, "getEphemerals")?;
    check!(mine == ["/zkc/eph"], "getEphemerals {mine:?}");
    let (_, gone) = z(b.check_and_watch_stat("/zkc/eph").await, "watch ephemeral")?;
    drop(c);
    event_is(
        &next(gone.changed(), "ephemeral gone").await?,
        zk::EventType::NodeDeleted,
        "/zkc/eph",
        "ephemeral gone",
    )?;
    println!("ok ephemerals");

    // A detached session resumed with its id and password keeps its ephemerals.
    let d = z(
        zk::Client::connector().with_detached().connect(addr).await,
        "connect d",
    )?;
    z(d.create("/zkc/kept", b"", &eph).await, "create kept")?;
    let info = d.session().clone();
    let id = d.session_id();
    drop(d);
    let d2 = z(
        zk::Client::connector()
            .with_session(info)
            .connect(addr)
            .await,
        "resume d",
    )?;
    check!(d2.session_id() == id, "resumed session has another id");
    let stat = z(a.check_stat("/zkc/kept").await, "exists kept")?;
    check!(
        stat.map(|s| s.ephemeral_owner) == Some(id.0),
        "ephemeral lost on resume: {stat:?}"
    );
    drop(d2);
    println!("ok session-resume");

    // multi: success with every op kind, then an atomic failure.
    let mut w = a.new_multi_writer();
    z(w.add_create("/zkc/m", b"m", &open), "add create")?;
    z(w.add_create("/zkc/m/c", b"", &open), "add create child")?;
    z(w.add_set_data("/zkc/m", b"m2", Some(0)), "add set")?;
    z(w.add_check_version("/zkc/m", 1), "add check")?;
    z(w.add_delete("/zkc/m/c", None), "add delete")?;
    let results = w.commit().await.map_err(|e| format!("multi: {e:?}"))?;
    check!(results.len() == 5, "multi results {results:?}");
    let (data, stat) = z(a.get_data("/zkc/m").await, "get m")?;
    check!(
        data == b"m2" && stat.version == 1 && stat.num_children == 0,
        "after multi {stat:?}"
    );
    let mut w = a.new_multi_writer();
    z(w.add_create("/zkc/m/new", b"", &open), "add create")?;
    z(w.add_check_version("/zkc/m", 0), "add check")?;
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::BadVersion,
        }) => {}
        other => return Err(format!("failing multi: {other:?}")),
    }
    check!(
        z(a.check_stat("/zkc/m/new").await, "exists")?.is_none(),
        "failed multi left a node"
    );
    let mut r = a.new_multi_reader();
    z(r.add_get_data("/zkc/m"), "add get")?;
    z(r.add_get_children("/zkc/seq"), "add children")?;
    z(r.add_get_data("/zkc/none"), "add get missing")?;
    let results = z(r.commit().await, "multiRead")?;
    match results.as_slice() {
        [zk::MultiReadResult::Data { data, .. }, zk::MultiReadResult::Children { children }, zk::MultiReadResult::Error {
            err: zk::Error::NoNode,
        }] if data == b"m2" && children.len() == 4 => {}
        other => return Err(format!("multiRead results {other:?}")),
    }
    println!("ok multi");

    // Container and TTL nodes, descendant count, sync, digest auth.
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    z(
        a.create("/zkc/box", b"", &container).await,
        "create container",
    )?;
    let ttl = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_secs(60));
    z(a.create("/zkc/ttl", b"", &ttl).await, "create ttl")?;
    let n = z(
        a.count_descendants_number("/zkc").await,
        "getAllChildrenNumber",
    )?;
    // w, p, p/k, seq + its 4 children, m, box, ttl ("kept" left with its closed session)
    check!(n == 11, "getAllChildrenNumber(/zkc) = {n}");
    z(a.sync("/zkc").await, "sync")?;
    z(a.auth("digest", b"alice:secret").await, "auth")?;
    let users = z(a.list_auth_users().await, "whoAmI")?;
    check!(
        users.iter().any(|u| format!("{u:?}").contains("alice")),
        "whoAmI {users:?}"
    );
    let creator = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    z(
        a.create("/zkc/private", b"s", &creator).await,
        "create private",
    )?;
    expect_err(
        b.get_data("/zkc/private").await,
        zk::Error::NoAuth,
        "read private",
    )?;
    z(a.get_data("/zkc/private").await, "owner reads private")?;
    println!("ok extras");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: courier-interop-zookeeper-client HOST:PORT");
        std::process::exit(2);
    };
    match tokio::time::timeout(Duration::from_secs(120), run(&addr)).await {
        Ok(Ok(())) => println!("all ok"),
        Ok(Err(e)) => {
            eprintln!("FAILED: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAILED: the run took longer than 120 s");
            std::process::exit(1);
        }
    }
}
