//! Hostile or broken clients: each is disconnected (with a log line) while the server keeps
//! serving everyone else. Also four-letter words and the whitelist.

mod common;

use bytes::{BufMut, BytesMut};
use common::*;
use courier_keeper::KeeperHandle;
use courier_keeper_proto::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn server(whitelist: &[&str]) -> (KeeperHandle, tempfile::TempDir) {
    start_keeper(|c| c.four_letter_whitelist = whitelist.iter().map(|s| s.to_string()).collect())
        .await
}

async fn closed_without_answer(mut t: tokio::net::TcpStream) -> bool {
    let mut buf = Vec::new();
    matches!(t.read_to_end(&mut buf).await, Ok(_) | Err(_))
}

/// A bystander connection that must keep working through every abuse below.
async fn still_serves(c: &mut Client) {
    let (h, _) = c.call(Request::Ping).await;
    assert_eq!(h.err, 0);
    assert!(c.exists("/zookeeper", false).await.is_ok());
}

#[tokio::test]
async fn garbage_before_and_after_the_handshake_closes_only_that_connection() {
    let (s, _d) = server(&["srvr"]).await;
    let mut bystander = Client::connect(s.addr).await;

    // Length prefix over the limit, before the handshake.
    let mut t = raw(s.addr).await;
    t.write_all(&0x7fff_ffffu32.to_be_bytes()).await.unwrap();
    assert!(closed_without_answer(t).await);
    // Negative length.
    let mut t = raw(s.addr).await;
    t.write_all(&(-5i32).to_be_bytes()).await.unwrap();
    assert!(closed_without_answer(t).await);
    // A request frame instead of a ConnectRequest (request before the handshake).
    let mut t = raw(s.addr).await;
    t.write_all(&frame(
        &RequestHeader { xid: 1, op: 4 },
        &PathRequest { path: "/".into() },
    ))
    .await
    .unwrap();
    let mut buf = Vec::new();
    t.read_to_end(&mut buf).await.unwrap();
    assert!(buf.is_empty(), "no reply to a request before the handshake");
    still_serves(&mut bystander).await;

    // After the handshake: malformed body (string length past the end).
    let mut c = Client::connect(s.addr).await;
    let mut body = BytesMut::new();
    body.put_i32(1);
    body.put_i32(OpCode::GetData.code());
    body.put_i32(1000);
    body.put_slice(b"/x");
    c.stream
        .write_all(&(body.len() as i32).to_be_bytes())
        .await
        .unwrap();
    c.stream.write_all(&body).await.unwrap();
    assert!(c.is_closed().await);

    // Huge vector count.
    let mut c = Client::connect(s.addr).await;
    let mut body = BytesMut::new();
    body.put_i32(-8);
    body.put_i32(OpCode::SetWatches.code());
    body.put_i64(0);
    body.put_i32(0x7fff_ffff);
    c.stream
        .write_all(&(body.len() as i32).to_be_bytes())
        .await
        .unwrap();
    c.stream.write_all(&body).await.unwrap();
    assert!(c.is_closed().await);

    // Oversized frame after the handshake.
    let mut c = Client::connect(s.addr).await;
    c.stream
        .write_all(&(64i32 << 20).to_be_bytes())
        .await
        .unwrap();
    assert!(c.is_closed().await);

    // Unknown opcode: UNIMPLEMENTED, then close.
    let mut c = Client::connect(s.addr).await;
    let (h, _) = c.call(Request::Unknown(99)).await;
    assert_eq!(h.err, ErrorCode::Unimplemented.code());
    assert!(c.is_closed().await);

    still_serves(&mut bystander).await;
    s.stop().await.unwrap();
}

#[tokio::test]
async fn four_letter_words_and_whitelist() {
    let (s, _d) = server(&["srvr"]).await;
    let srvr = four_letter(s.addr, "srvr").await;
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    assert!(srvr.contains("Zxid: 0x"), "{srvr}");
    assert_eq!(
        four_letter(s.addr, "ruok").await,
        "ruok is not executed because it is not in the whitelist.\n"
    );
    s.stop().await.unwrap();

    let (s, _d) = server(&["*"]).await;
    let mut c = Client::connect(s.addr).await;
    c.create("/e", b"", 1).await.unwrap();
    assert_eq!(four_letter(s.addr, "ruok").await, "imok");
    assert_eq!(four_letter(s.addr, "isro").await, "rw");
    let mntr = four_letter(s.addr, "mntr").await;
    assert!(mntr.contains("zk_znode_count\t5"), "{mntr}");
    assert!(mntr.contains("zk_ephemerals_count\t1"), "{mntr}");
    let conf = four_letter(s.addr, "conf").await;
    assert!(
        conf.contains("minSessionTimeout=4000") && conf.contains("maxSessionTimeout=40000"),
        "{conf}"
    );
    let stat = four_letter(s.addr, "stat").await;
    assert!(
        stat.contains("Clients:") && stat.contains("127.0.0.1"),
        "{stat}"
    );
    assert!(four_letter(s.addr, "cons").await.contains("127.0.0.1"));
    assert!(four_letter(s.addr, "envi")
        .await
        .starts_with("Environment:"));
    let dump = four_letter(s.addr, "dump").await;
    assert!(dump.contains("/e"), "{dump}");
    assert!(four_letter(s.addr, "wchs")
        .await
        .contains("Total watches:0"));
    four_letter(s.addr, "wchp").await;
    s.stop().await.unwrap();
}

/// The value of one `mntr` row.
fn mntr_value(mntr: &str, key: &str) -> String {
    mntr.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t'))
        .unwrap_or_else(|| panic!("no {key} in {mntr}"))
        .to_string()
}

#[tokio::test]
async fn four_letter_statistics_are_measured_and_reset() {
    let (s, _d) = server(&["*"]).await;
    let mut c = Client::connect(s.addr).await;
    for i in 0..20 {
        c.create(&format!("/n{i}"), b"x", 0).await.unwrap();
        c.get(&format!("/n{i}"), false).await.unwrap();
    }
    // Every request has been answered, and each took some time.
    let mntr = four_letter(s.addr, "mntr").await;
    assert_eq!(mntr_value(&mntr, "zk_outstanding_requests"), "0", "{mntr}");
    let avg: f64 = mntr_value(&mntr, "zk_avg_latency").parse().unwrap();
    assert!(avg > 0.0, "{mntr}");
    let srvr = four_letter(s.addr, "srvr").await;
    assert!(srvr.contains("Outstanding: 0\n"), "{srvr}");
    assert!(!srvr.contains("Latency min/avg/max: 0/0.0000/0"), "{srvr}");
    let cons = four_letter(s.addr, "cons").await;
    assert!(cons.contains("queued=0,recved=40,"), "{cons}");

    assert_eq!(
        four_letter(s.addr, "crst").await,
        "Connection stats reset.\n"
    );
    let cons = four_letter(s.addr, "cons").await;
    assert!(cons.contains("queued=0,recved=0,sent=0,"), "{cons}");
    assert!(cons.contains("minlat=0,avglat=0.0000,maxlat=0"), "{cons}");

    assert_eq!(four_letter(s.addr, "srst").await, "Server stats reset.\n");
    let mntr = four_letter(s.addr, "mntr").await;
    assert_eq!(mntr_value(&mntr, "zk_avg_latency"), "0.0000", "{mntr}");
    assert_eq!(mntr_value(&mntr, "zk_max_latency"), "0", "{mntr}");
    // Requests after the reset count again.
    c.get("/n0", false).await.unwrap();
    let mntr = four_letter(s.addr, "mntr").await;
    let avg: f64 = mntr_value(&mntr, "zk_avg_latency").parse().unwrap();
    assert!(avg > 0.0, "{mntr}");
    let cons = four_letter(s.addr, "cons").await;
    assert!(cons.contains("recved=1,"), "{cons}");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn dirs_reports_the_snapshot_and_log_sizes() {
    let (s, _d) = server(&["*"]).await;
    let mut c = Client::connect(s.addr).await;
    c.create("/d", &[7; 1000], 0).await.unwrap();
    let dirs = four_letter(s.addr, "dirs").await;
    let log: u64 = dirs
        .lines()
        .find_map(|l| l.strip_prefix("logdir_size: "))
        .unwrap_or_else(|| panic!("{dirs}"))
        .parse()
        .unwrap();
    assert!(log > 1000, "the log holds the 1000-byte create: {dirs}");
    s.stop().await.unwrap();
}
