//! Apache ZooKeeper's own shell (`zkCli.sh` from Debian's `zookeeper` package, i.e. the Java
//! client) scripted against an in-process keeper: create/get/set/ls/stat/delete, ephemeral and
//! sequential nodes, NODEEXISTS / NONODE / NOTEMPTY / BADVERSION / ephemeral-with-children, ACLs
//! with digest auth, and a data watch firing. Without zkCli.sh it skips with a loud message,
//! or fails under `scripts/test`, whose `scripts/install-test-deps` step installs it.

mod cli_driver;
mod common;

use common::start_keeper;
use std::path::Path;
use std::process::Command;

use cli_driver::Cli;

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

fn session(addr: String) {
    let mut c = Cli::spawn(Command::new(ZKCLI).args(["-server", &addr]));
    c.expect("type:None");
    c.run("create /z hello", &["Created /z"]);
    c.run("create /z", &["Node already exists: /z"]);
    c.run("get /z", &["hello"]);
    c.run("set /z world", &[]);
    c.run(
        "get -s /z",
        &["world", "dataVersion = 1", "numChildren = 0"],
    );
    c.run("set -v 7 /z x", &["version No is not valid : /z"]);
    c.run("create -e /z/e", &["Created /z/e"]);
    c.run(
        "create -e /z/e/x",
        &["Ephemerals cannot have children: /z/e/x"],
    );
    c.run("create -s /z/s- d", &["Created /z/s-0000000001"]);
    c.run("ls /z", &["[e, s-0000000001]"]);
    c.run("stat /z", &["cversion = 2", "numChildren = 2"]);
    c.run("delete /z", &["Node not empty: /z"]);
    c.run("get /nope", &["Node does not exist: /nope"]);
    c.run("delete -v 3 /z/s-0000000001", &["version No is not valid"]);
    c.run("delete -v 0 /z/s-0000000001", &[]);
    c.run("ls /z", &["[e]"]);
    c.run("get -w /z", &["world"]);
    c.run("set /z again", &["type:NodeDataChanged path:/z"]);
    c.run("ls -w /z", &["[e]"]);
    c.run("delete /z/e", &["type:NodeChildrenChanged path:/z"]);
    c.run("addauth digest alice:pw", &[]);
    c.run(
        "create /secret s digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa",
        &["Created /secret"],
    );
    c.run("setAcl /z auth::cdrwa", &[]);
    c.run("getAcl /z", &["'digest,'alice:"]);
    c.run("whoami", &["digest", "alice"]);
    c.run("deleteall /z", &[]);
    c.run("ls /", &["[secret, zookeeper]"]);
    c.run("quit", &[]);
    c.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_shell() {
    if !Path::new(ZKCLI).exists() {
        common::tool_missing("zkcli_shell", &format!("{ZKCLI} (Debian zookeeper)"));
        return;
    }
    let (server, _dir) = start_keeper(|_| {}).await;
    let addr = server.addr.to_string();
    tokio::task::spawn_blocking(move || session(addr))
        .await
        .expect("zkCli session");
    server.stop().await.expect("stop keeper");
}
