//! Shared by `servers.rs` and `durability.rs`: runs the real `courier` binary as a child process,
//! reads the addresses it prints on stdout, and stops it with a signal. stderr (the logs) goes to
//! a file next to the data, printed when a test fails to find a line it waits for.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `courier` process.
pub struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
    log: PathBuf,
}

impl Server {
    /// Starts `courier ARGS`, logs to `log`.
    pub fn start(args: &[&str], log: &Path) -> Server {
        let err = std::fs::File::create(log).expect("create log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(args)
            .env("COURIER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("spawn courier");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            lines: rx,
            seen: Vec::new(),
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for a stdout line containing `needle` and returns it.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                    panic!(
                        "no line containing {needle:?} within {timeout:?}; stdout so far: {:#?}\nlog:\n{log}",
                        self.seen
                    );
                }
            }
        }
    }

    /// The address following "listening on " in a line already seen containing `label`.
    pub fn addr_of(&self, label: &str) -> SocketAddr {
        let line = self
            .seen
            .iter()
            .find(|l| l.contains(label) && l.contains("listening on "))
            .unwrap_or_else(|| panic!("no listening line for {label}: {:#?}", self.seen));
        listening_addr(line)
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let _ = self.child.kill();
                panic!("courier did not exit within {timeout:?}; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(20))
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(10));
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Parses the address after "listening on " (up to the next space or comma).
pub fn listening_addr(line: &str) -> SocketAddr {
    let rest = line
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',')
        .collect();
    addr.parse()
        .unwrap_or_else(|e| panic!("bad address {addr:?} in {line:?}: {e}"))
}

/// A port that was free a moment ago (for restarts that must reuse the same ports).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// The addresses `courier dev` printed.
pub struct DevAddrs {
    pub namesrv: SocketAddr,
    pub broker: SocketAddr,
    pub keeper: SocketAddr,
    /// Where `/metrics` is served.
    pub metrics: SocketAddr,
}

/// Starts `courier dev` on the given ports (0 = any) over `data`, waits until it is ready.
pub fn start_dev(data: &Path, ports: [u16; 3], extra: &[&str], log: &Path) -> (Server, DevAddrs) {
    let [ns, broker, keeper] = ports.map(|p| p.to_string());
    let mut args = vec![
        "dev",
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--namesrv-port",
        &ns,
        "--broker-port",
        &broker,
        "--keeper-port",
        &keeper,
        "--metrics-port",
        "0",
    ];
    args.extend_from_slice(extra);
    let exec = Instant::now();
    let mut s = Server::start(&args, log);
    let last = s.wait_line("/metrics (Prometheus)", Duration::from_secs(30));
    // A figure for humans (run with --nocapture); timing is never asserted.
    eprintln!(
        "courier dev: all three servers ready {} ms after exec",
        exec.elapsed().as_millis()
    );
    let ready = s.seen.iter().any(|l| l.contains("ready in"));
    assert!(ready, "no ready line: {:#?}", s.seen);
    assert!(
        s.seen
            .iter()
            .any(|l| l.contains("registered with the name server")
                && !l.contains("NOT yet registered")),
        "broker not registered: {:#?}",
        s.seen
    );
    let addrs = DevAddrs {
        namesrv: s.addr_of("name server"),
        broker: s.addr_of("broker"),
        keeper: s.addr_of("keeper"),
        metrics: metrics_addr(&last),
    };
    (s, addrs)
}

/// The address in a `http://ADDR/metrics` line.
pub fn metrics_addr(line: &str) -> SocketAddr {
    let rest = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let addr: String = rest.chars().take_while(|c| *c != '/').collect();
    addr.parse()
        .unwrap_or_else(|e| panic!("bad address {addr:?} in {line:?}: {e}"))
}

/// GET `path` over plain HTTP/1.1; returns the whole response (status line, headers, body).
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the HTTP response");
    out
}

/// Runs `test`, failing with every `*.log` under `logs` if it takes longer than `limit`, so a
/// hang shows what the servers were doing instead of stalling the suite.
pub async fn within<F: std::future::Future<Output = ()>>(limit: Duration, logs: &Path, test: F) {
    if tokio::time::timeout(limit, test).await.is_err() {
        let mut dump = String::new();
        if let Ok(entries) = std::fs::read_dir(logs) {
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "log") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    dump.push_str(&format!("==> {} <==\n{text}\n", path.display()));
                }
            }
        }
        panic!("test did not finish within {limit:?}; server logs:\n{dump}");
    }
}

/// Awaits a client's `shutdown()`, giving up after 10 s with a note: the servers' behaviour is
/// what these tests check, and a client that is slow to stop must not hang the suite.
pub async fn stop_client<F: std::future::Future<Output = ()>>(what: &str, shutdown: F) {
    if tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .is_err()
    {
        eprintln!("warning: {what}.shutdown() did not finish within 10 s; carrying on");
    }
}
