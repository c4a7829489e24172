//! Drives an interactive command-line ZooKeeper client (zkCli.sh, the C client's cli_mt) over
//! its stdin and waits for each expected line on its stdout/stderr, so a scripted session does
//! not depend on how fast the client or the server is. Shared by `zkcli.rs` and `cclient.rs`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long one expected line may take (a cold JVM start is the slow case).
const PATIENCE: Duration = Duration::from_secs(60);

/// A running client process; killed (this child only) when dropped.
pub struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    /// Index in `seen` where the output of the last command sent starts.
    mark: usize,
}

impl Cli {
    pub fn spawn(cmd: &mut Command) -> Cli {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the client");
        let (tx, lines) = channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(l);
            }
        });
        let stdin = child.stdin.take();
        Cli {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            mark: 0,
        }
    }

    /// Sends one command line.
    pub fn send(&mut self, line: &str) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen.push(format!(">>> {line}"));
        self.mark = self.seen.len();
        // One write per line, newline included: a pipe write of at most PIPE_BUF bytes arrives
        // whole, so the client never reads a line without its end. cli_mt needs that: after it
        // runs a line it drops a partial line left in its buffer, and `writeln!` writes the line
        // and its newline separately. A command sent while cli_mt was still in a synchronous
        // call (wexists prints nothing, so nothing was awaited) could be read up to the missing
        // newline and then lost, and the test waited 60 s for its answer.
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to the client");
        stdin.flush().expect("flush");
    }

    /// Waits for a line containing `needle`; earlier lines are consumed.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_all(&[needle]);
        self.seen.last().cloned().unwrap_or_default()
    }

    /// Waits until every needle has appeared in some line printed since the last command was
    /// sent, in any order (clients print to stdout and stderr from several threads, so the
    /// order across lines is not reliable).
    pub fn expect_all(&mut self, needles: &[&str]) {
        let mut missing: Vec<&str> = needles.to_vec();
        for l in &self.seen[self.mark..] {
            missing.retain(|n| !l.contains(n));
        }
        let deadline = Instant::now() + PATIENCE;
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    missing.retain(|n| !l.contains(n));
                    self.seen.push(l);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "expected lines containing {missing:?}; the client printed:\n{}",
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// Sends `line`, then waits for all of `expected`.
    pub fn run(&mut self, line: &str, expected: &[&str]) {
        self.send(line);
        self.expect_all(expected);
    }

    /// Closes stdin and waits for the process to exit.
    pub fn finish(mut self) {
        self.stdin = None;
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("client did not exit:\n{}", self.seen.join("\n"));
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
