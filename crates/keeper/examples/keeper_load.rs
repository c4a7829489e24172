//! Quick load check of an in-process keeper (the real benchmark is `courier bench keeper`):
//! C clients, each sending N requests one at a time, for create / get / set / delete.
//!
//!   cargo run --release -p courier-keeper --example keeper_load -- [clients] [ops] [size]
//!
//! Prints one line per op type: ops/s, p50 and p99 latency in µs. fsync is on.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use bytes::Bytes;
use common::Client;
use courier_keeper::{KeeperConfig, KeeperHandle};
use courier_keeper_proto::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(8);
    let ops = args.get(1).copied().unwrap_or(2000);
    let size = args.get(2).copied().unwrap_or(100);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = KeeperConfig {
        data_dir: dir.path().to_path_buf(),
        ..KeeperConfig::default()
    };
    let server = KeeperHandle::start(cfg).await.expect("start keeper");
    let addr = server.addr;
    let mut setup = Client::connect(addr).await;
    setup.create("/bench", b"", 0).await.expect("create /bench");
    let payload = Bytes::from(vec![b'x'; size]);
    for kind in ["create", "get", "set", "delete"] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let payload = payload.clone();
            tasks.push(tokio::spawn(async move {
                let mut cl = Client::connect(addr).await;
                let mut lat = Vec::with_capacity(ops);
                for i in 0..ops {
                    let path = format!("/bench/c{c}-{i}");
                    let req = match kind {
                        "create" => Request::Create(CreateRequest {
                            path,
                            data: payload.clone(),
                            acl: common::acl_open(),
                            flags: 0,
                        }),
                        "get" => Request::GetData(PathWatchRequest { path, watch: false }),
                        "set" => Request::SetData(SetDataRequest {
                            path,
                            data: payload.clone(),
                            version: -1,
                        }),
                        _ => Request::Delete(DeleteRequest { path, version: -1 }),
                    };
                    let t = Instant::now();
                    let (h, _) = cl.call(req).await;
                    assert_eq!(h.err, 0, "{kind} failed");
                    lat.push(t.elapsed().as_micros() as u64);
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        let secs = started.elapsed().as_secs_f64();
        all.sort_unstable();
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
        println!(
            "{kind:>6}: {:>8.0} ops/s  p50 {:>6} µs  p99 {:>6} µs  ({} clients × {} ops, {} B)",
            all.len() as f64 / secs,
            pct(0.50),
            pct(0.99),
            clients,
            ops,
            size
        );
    }
    server.stop().await.expect("stop");
}
