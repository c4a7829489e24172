//! Differential test: the scripted scenario in `interop/zk/differential.py` (several hundred
//! operations: error cases, ACLs, one-shot/persistent/recursive watches with event order, multi
//! and multiRead, sequential/ephemeral/container/TTL nodes, getAllChildrenNumber, getEphemerals,
//! setData versions, check) runs against Apache ZooKeeper (Debian's `zookeeper` package, started
//! here by `interop/zk/zookeeper.sh` on a free 127.0.0.1 port) and against Courier's keeper. The
//! normalized transcripts (zxids and times compared by relation, see the script) must be equal
//! line for line.
//!
//! Skips with a loud message when java, /usr/share/java/zookeeper.jar or python3 is missing,
//! or fails under `scripts/test`, whose `scripts/install-test-deps` step installs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use courier_keeper::{KeeperConfig, KeeperHandle};

const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/zk")
}

fn missing_tool() -> Option<&'static str> {
    if !Path::new(ZK_JAR).exists() {
        return Some("Debian package `zookeeper` (/usr/share/java/zookeeper.jar)");
    }
    let ok = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !ok("java", "-version") {
        return Some("java");
    }
    if !ok("python3", "--version") {
        return Some("python3");
    }
    None
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Apache ZooKeeper in a temp dir, stopped (its pid only) when dropped.
struct ZooKeeper {
    dir: tempfile::TempDir,
    port: u16,
}

impl ZooKeeper {
    fn start() -> ZooKeeper {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let out = Command::new("bash")
            .arg(interop_dir().join("zookeeper.sh"))
            .args(["start", &port.to_string()])
            .arg(dir.path())
            .env("ZK_HEAP", "256m")
            .output()
            .expect("run zookeeper.sh");
        assert!(
            out.status.success(),
            "ZooKeeper did not start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.path().join("zk.log")).unwrap_or_default()
        );
        ZooKeeper { dir, port }
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(interop_dir().join("zookeeper.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

fn transcript(addr: &str) -> Vec<String> {
    let out = Command::new("python3")
        .arg(interop_dir().join("differential.py"))
        .arg(addr)
        .output()
        .expect("run differential.py");
    assert!(
        out.status.success(),
        "differential.py failed against {addr}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_transcript_as_apache_zookeeper() {
    if let Some(tool) = missing_tool() {
        common::tool_missing("same_transcript_as_apache_zookeeper", tool);
        return;
    }
    let zk = tokio::task::spawn_blocking(ZooKeeper::start)
        .await
        .expect("join");
    let zk_addr = format!("127.0.0.1:{}", zk.port);
    let expected = tokio::task::spawn_blocking(move || transcript(&zk_addr))
        .await
        .expect("join");
    drop(zk);

    let dir = tempfile::tempdir().expect("tempdir");
    let config = KeeperConfig {
        data_dir: dir.path().to_path_buf(),
        ..KeeperConfig::default()
    };
    let server = KeeperHandle::start(config).await.expect("start keeper");
    let addr = server.addr.to_string();
    let actual = tokio::task::spawn_blocking(move || transcript(&addr))
        .await
        .expect("join");
    server.stop().await.expect("stop keeper");

    assert!(
        expected.len() > 300,
        "scenario too short: {}",
        expected.len()
    );
    let mut diffs = Vec::new();
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), actual.get(i));
        if e != a {
            diffs.push(format!(
                "line {}:\n  zookeeper: {}\n  courier:   {}",
                i + 1,
                e.map_or("<missing>", |s| s.as_str()),
                a.map_or("<missing>", |s| s.as_str())
            ));
        }
    }
    println!("{} transcript lines compared", expected.len());
    assert!(
        diffs.is_empty(),
        "{} of {} lines differ:\n{}",
        diffs.len(),
        expected.len(),
        diffs.join("\n")
    );
}
