//! The ZooKeeper C client (`cli_mt` from Debian's `zookeeper-bin`, built on libzookeeper-mt)
//! scripted against an in-process keeper: create/get/set/ls/stat/delete, ephemeral, sequential
//! and TTL nodes, NODEEXISTS / NONODE / NOTEMPTY / NOCHILDRENFOREPHEMERALS, and a data watch
//! firing. Without cli_mt it skips with a loud message, or fails under `scripts/test`, whose
//! `scripts/install-test-deps` step installs it.

mod cli_driver;
mod common;

use common::start_keeper;
use std::path::Path;
use std::process::Command;

use cli_driver::Cli;

const CLI_MT: &str = "/usr/lib/zookeeper/bin/cli_mt";

fn session(addr: String) {
    // cli_mt prints through stdio, which is block-buffered on a pipe: ask for line buffering
    // (coreutils stdbuf) so each answer arrives when it is printed.
    let mut cmd = if Path::new("/usr/bin/stdbuf").exists() {
        let mut c = Command::new("/usr/bin/stdbuf");
        c.args(["-oL", "-eL", CLI_MT]);
        c
    } else {
        Command::new(CLI_MT)
    };
    let mut c = Cli::spawn(cmd.arg(addr));
    c.expect("CONNECTED_STATE");
    c.run("create /c", &["[/c]: rc = 0", "name = /c"]);
    c.run("create /c", &["[/c]: rc = -110"]);
    c.run("set /c world", &["/c: rc = 0", "version=1"]);
    c.run("get /c", &["/c: rc = 0", "value_len = 5", "world"]);
    c.run("create +e /c/e", &["[/c/e]: rc = 0", "name = /c/e"]);
    c.run("create +e /c/e/x", &["[/c/e/x]: rc = -108"]);
    c.run("create +s /c/s-", &["name = /c/s-0000000001"]);
    c.run("create +es /c/es-", &["name = /c/es-0000000002"]);
    c.run("ls2 /c", &["/c: rc = 0", "es-0000000002"]);
    c.run("delete /c", &["/c: rc = -111"]);
    c.run("get /missing", &["/missing: rc = -101"]);
    c.run("exists /nope", &["Error -101 for /nope"]);
    c.run("wexists /c", &[]);
    c.run(
        "set /c again",
        &["CHANGED_EVENT state = CONNECTED_STATE for path /c"],
    );
    c.run("delete /c/e", &["/c/e: rc = 0"]);
    c.run("create +t=60000 /c/t", &["name = /c/t"]);
    c.run("sync /c", &["rc = 0"]);
    c.run("quit", &["Quitting"]);
    c.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_client_cli_mt() {
    if !Path::new(CLI_MT).exists() {
        common::tool_missing(
            "c_client_cli_mt",
            &format!("{CLI_MT} (Debian zookeeper-bin)"),
        );
        return;
    }
    let (server, _dir) = start_keeper(|_| {}).await;
    let addr = server.addr.to_string();
    tokio::task::spawn_blocking(move || session(addr))
        .await
        .expect("cli_mt session");
    server.stop().await.expect("stop keeper");
}
