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
    ];
    args.extend_from_slice(extra);
    let exec = Instant::now();
    let mut s = Server::start(&args, log);
    s.wait_line("(ZooKeeper protocol)", Duration::from_secs(30));
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
    };
    (s, addrs)
}
