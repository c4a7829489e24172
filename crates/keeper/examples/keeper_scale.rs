//! Memory and restart cost of a large tree, without the network: applies N creates of S-byte
//! znodes through the state machine, reports RSS, then times snapshot write and load.
//!
//!   cargo run --release -p courier-keeper --example keeper_scale -- [nodes] [size]

use std::time::Instant;

use bytes::Bytes;
use courier_keeper::state::StateMachine;
use courier_keeper::txn::{Txn, TxnEntry};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .map(|kb| kb.parse::<f64>().unwrap_or(0.0))
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(1_000_000);
    let size = args.get(1).copied().unwrap_or(100);
    let base = rss_mib();
    let mut sm = StateMachine::new();
    let acl = courier_keeper::acl::open_acl();
    let data = vec![b'x'; size];
    let fanout = 1000;
    let started = Instant::now();
    let mut zxid = 0;
    for i in 0..nodes {
        if i % fanout == 0 {
            zxid += 1;
            let entry = TxnEntry {
                zxid,
                time_ms: 0,
                session_id: 0,
                txn: Txn::Create {
                    path: format!("/d{}", i / fanout),
                    data: Bytes::new(),
                    acl: acl.clone(),
                    ephemeral_owner: 0,
                },
            };
            sm.apply(&entry).expect("apply");
        }
        zxid += 1;
        let entry = TxnEntry {
            zxid,
            time_ms: 0,
            session_id: 0,
            txn: Txn::Create {
                path: format!("/d{}/node-{i:010}", i / fanout),
                data: Bytes::from(data.clone()),
                acl: acl.clone(),
                ephemeral_owner: 0,
            },
        };
        sm.apply(&entry).expect("apply");
    }
    let built = started.elapsed();
    let rss = rss_mib() - base;
    println!(
        "{nodes} znodes of {size} B: apply {:.2} s, RSS +{rss:.0} MiB ({:.0} B/znode)",
        built.as_secs_f64(),
        rss * 1024.0 * 1024.0 / nodes as f64
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    courier_keeper::snapshot::write(dir.path(), &sm).expect("snapshot");
    let wrote = t.elapsed();
    let bytes = std::fs::metadata(dir.path().join("keeper.snap"))
        .map(|m| m.len())
        .unwrap_or(0);
    drop(sm);
    let t = Instant::now();
    let back = courier_keeper::snapshot::load(dir.path())
        .expect("load")
        .expect("snapshot present");
    println!(
        "snapshot {:.0} MiB: write {:.2} s, load {:.2} s ({} nodes restored)",
        bytes as f64 / 1048576.0,
        wrote.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        back.tree.node_count()
    );
}
