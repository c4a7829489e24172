//! Runs the kazoo interop suite (`interop/python`) against an in-process keeper on a free
//! 127.0.0.1 port. Skips with a message if python3, pytest or kazoo is missing
//! (`pip install kazoo pytest`), or fails under `scripts/test`, which installs them.

mod common;

use std::process::Command;

use courier_keeper::{KeeperConfig, KeeperHandle};

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import kazoo, pytest"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_suite() {
    if !python_ready() {
        common::tool_missing("kazoo_suite", "python3 with kazoo and pytest");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = KeeperConfig {
        data_dir: dir.path().to_path_buf(),
        four_letter_whitelist: vec!["*".into()],
        container_check_interval_ms: 200,
        ..KeeperConfig::default()
    };
    let server = KeeperHandle::start(config).await.expect("start keeper");
    let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/python");
    let addr = server.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"])
            .arg(&interop)
            .env("KEEPER_ADDR", addr)
            .output()
    })
    .await
    .expect("join")
    .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    server.stop().await.expect("stop keeper");
    assert!(
        out.status.success(),
        "kazoo suite failed:\n{stdout}\n{stderr}"
    );
}
