//! Harness for running the crates.io `rocketmq-client-rust` client against a real `courier dev`
//! process: it starts the binary named by `COURIER_BIN` on free loopback ports over a temporary
//! data directory, stops it with SIGTERM (the graceful path), and speaks just enough raw
//! remoting (JSON header frames) to create a topic on the broker and to see its route on the name
//! server. The raw frames deliberately bypass the client under test, so a client bug cannot hide
//! a setup failure and vice versa.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// Everything that can go wrong while driving the server; the message says what to do.
pub type HarnessResult<T> = Result<T, String>;

/// A running `courier dev` child process.
pub struct CourierDev {
    child: Child,
    /// Held only so the directory is removed when the server handle goes away.
    _data_dir: tempfile::TempDir,
    log_path: PathBuf,
    pub namesrv_addr: String,
    pub broker_addr: String,
}

fn free_port() -> HarnessResult<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("reading the free port: {e}"))
}

fn can_connect(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_millis(200)).ok())
        .is_some()
}

impl CourierDev {
    /// Spawns `$COURIER_BIN dev` and waits until the name server and broker ports accept.
    pub fn start() -> HarnessResult<CourierDev> {
        let bin = std::env::var("COURIER_BIN").map_err(|_| {
            "COURIER_BIN is not set: build the binary (cargo build -p courier) and set \
             COURIER_BIN=$CARGO_TARGET_DIR/debug/courier (or run ./interop/run-mq.sh)"
                .to_string()
        })?;
        let data_dir = tempfile::Builder::new()
            .prefix("courier-rocketmq-client-rust-")
            .tempdir()
            .map_err(|e| format!("creating a temporary data dir: {e}"))?;
        let (ns_port, broker_port, keeper_port) = (free_port()?, free_port()?, free_port()?);
        let log_path = data_dir.path().join("courier-dev.log");
        let log = File::create(&log_path).map_err(|e| format!("creating {log_path:?}: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("duplicating the log handle: {e}"))?;
        let store_dir = data_dir.path().join("data");
        let child = Command::new(&bin)
            .arg("dev")
            .arg("--data-dir")
            .arg(&store_dir)
            .args(["--namesrv-port", &ns_port.to_string()])
            .args(["--broker-port", &broker_port.to_string()])
            .args(["--keeper-port", &keeper_port.to_string()])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting {bin} (COURIER_BIN): {e}"))?;
        let mut dev = CourierDev {
            child,
            _data_dir: data_dir,
            log_path,
            namesrv_addr: format!("127.0.0.1:{ns_port}"),
            broker_addr: format!("127.0.0.1:{broker_port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = dev.child.try_wait() {
                return Err(format!(
                    "courier dev exited early ({status}):\n{}",
                    dev.log()
                ));
            }
            if can_connect(&dev.namesrv_addr) && can_connect(&dev.broker_addr) {
                return Ok(dev);
            }
            if Instant::now() > deadline {
                let log = dev.log();
                let _ = dev.child.kill();
                let _ = dev.child.wait();
                return Err(format!(
                    "courier dev did not open its ports in 30 s:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The tail of the server's combined stdout/stderr, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let start = text.len().saturating_sub(20_000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[start..].to_string()
    }

    /// SIGTERM, then wait (SIGKILL after 15 s); returns the exit status.
    pub fn stop(mut self) -> HarnessResult<ExitStatus> {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid; it has not been reaped yet, so the pid is ours.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!(
                        "courier dev ignored SIGTERM for 15 s:\n{}",
                        self.log()
                    ));
                }
                Err(e) => return Err(format!("waiting for courier dev: {e}")),
            }
        }
    }
}

impl Drop for CourierDev {
    /// A handle dropped without `stop` (an early error) must not leave the server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One request/response exchange with a JSON-header remoting frame; returns (header, body).
fn remoting_call(
    addr: &str,
    code: i32,
    ext: Map<String, Value>,
) -> HarnessResult<(Value, Vec<u8>)> {
    let header = json!({
        "code": code,
        "language": "JAVA",
        "version": 0,
        "opaque": 1,
        "flag": 0,
        "extFields": ext,
    });
    let header = serde_json::to_vec(&header).map_err(|e| format!("encoding a header: {e}"))?;
    let mut frame = Vec::with_capacity(8 + header.len());
    frame.extend_from_slice(&(4 + header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&header);

    let io = |e: std::io::Error| format!("remoting call {code} to {addr}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    stream.write_all(&frame).map_err(io)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let total = u32::from_be_bytes(len) as usize;
    if !(4..=16 * 1024 * 1024).contains(&total) {
        return Err(format!(
            "remoting call {code} to {addr}: bad frame length {total}"
        ));
    }
    let mut rest = vec![0u8; total];
    stream.read_exact(&mut rest).map_err(io)?;
    let header_len =
        (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0x00ff_ffff) as usize;
    if 4 + header_len > total {
        return Err(format!(
            "remoting call {code} to {addr}: header longer than frame"
        ));
    }
    let header: Value = serde_json::from_slice(&rest[4..4 + header_len])
        .map_err(|e| format!("remoting call {code} to {addr}: response header: {e}"))?;
    Ok((header, rest[4 + header_len..].to_vec()))
}

fn ext(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

const UPDATE_AND_CREATE_TOPIC: i32 = 17;
const GET_ROUTEINFO_BY_TOPIC: i32 = 105;

const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;

/// Asks the broker to move `group`'s offsets on `topic` back to the first message stored at or
/// after `timestamp_ms`, as RocketMQ 5's `mqadmin resetOffsetByTime` does (server side).
pub fn reset_offset(
    dev: &CourierDev,
    group: &str,
    topic: &str,
    timestamp_ms: i64,
) -> HarnessResult<()> {
    let ts = timestamp_ms.to_string();
    let (header, _) = remoting_call(
        &dev.broker_addr,
        INVOKE_BROKER_TO_RESET_OFFSET,
        ext(&[
            ("group", group),
            ("topic", topic),
            ("timestamp", &ts),
            ("isForce", "true"),
        ]),
    )?;
    if header["code"] != 0 {
        return Err(format!(
            "INVOKE_BROKER_TO_RESET_OFFSET {group} {topic} failed: {header}"
        ));
    }
    Ok(())
}

/// Creates `topic` with 4 read/write queues on the broker, then waits until the name server
/// serves its route (the broker re-registers after a topic change).
pub fn create_topic(dev: &CourierDev, topic: &str) -> HarnessResult<()> {
    let (header, _) = remoting_call(
        &dev.broker_addr,
        UPDATE_AND_CREATE_TOPIC,
        ext(&[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "4"),
            ("writeQueueNums", "4"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ]),
    )?;
    if header["code"] != 0 {
        return Err(format!("UPDATE_AND_CREATE_TOPIC {topic} failed: {header}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (header, _) = remoting_call(
            &dev.namesrv_addr,
            GET_ROUTEINFO_BY_TOPIC,
            ext(&[("topic", topic)]),
        )?;
        if header["code"] == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no route for {topic} 30 s after creating it: {header}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
