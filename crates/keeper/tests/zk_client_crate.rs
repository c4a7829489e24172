//! `zookeeper-client` (crates.io, an independent async Rust ZooKeeper client) against an
//! in-process keeper: the standalone project `interop/zookeeper-client-rust` (not a workspace
//! member, so its dependencies stay out of Courier's build) is built with cargo and run against
//! the keeper's address; every step it prints must pass. The first run downloads and compiles
//! the client (about a minute); later runs reuse `<target dir>/zookeeper-client-rust`.

mod common;

use common::start_keeper;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_client_crate() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/zookeeper-client-rust");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("zookeeper-client-rust");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = project.join("Cargo.toml");
    let build = tokio::task::spawn_blocking({
        let (cargo, manifest, target) = (cargo.clone(), manifest.clone(), target.clone());
        move || {
            Command::new(cargo)
                .args(["build", "--quiet", "--manifest-path"])
                .arg(&manifest)
                .env("CARGO_TARGET_DIR", &target)
                .output()
        }
    })
    .await
    .expect("join")
    .expect("run cargo");
    assert!(
        build.status.success(),
        "building interop/zookeeper-client-rust failed (it needs crates.io once):\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let (server, _dir) = start_keeper(|_| {}).await;
    let bin = target.join("debug/courier-interop-zookeeper-client");
    let addr = server.addr.to_string();
    let out = tokio::task::spawn_blocking(move || Command::new(bin).arg(addr).output())
        .await
        .expect("join")
        .expect("run the zookeeper-client program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    server.stop().await.expect("stop keeper");
    assert!(
        out.status.success() && stdout.contains("all ok"),
        "zookeeper-client run failed:\n{stdout}\n{stderr}"
    );
}
