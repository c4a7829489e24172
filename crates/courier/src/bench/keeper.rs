//! `courier bench keeper`: load on any ZooKeeper-protocol server (Courier's keeper, Apache
//! ZooKeeper) through a jute client of its own built on `courier-keeper-proto`.
//!
//! For each server given with `--connect`, in order and with the same settings: C sessions each
//! run their share of N operations one at a time (closed loop), after a warm-up of a fifth of
//! that, for create, get, set, a 90%
//! get / 10% set mix, and delete; then gets paced at half the measured get rate, for the read p99
//! at half load. Each server gets its own fresh parent znode, so runs never collide. The first
//! server is compared with every other one (ratios of ops/s) and checked against the targets.
//!
//! `--populate N` instead creates N znodes of `--size` bytes (pipelined, 256 requests in flight
//! per session) and leaves them, for memory and restart measurements of the server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use clap::Args;
use courier_keeper_proto::{
    frame, Acl, ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, FrameCodec, Id,
    OpCode, PathWatchRequest, Reader, Record, ReplyHeader, RequestHeader, SetDataRequest,
};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

use super::report::{emit_json_line, per_s, Latency, Progress, Table, Verdict};
use crate::cli::parse_size;

/// Frames a reply may have (a get returns at most `--size` bytes plus headers).
const MAX_FRAME: usize = 4 << 20;
/// Requests in flight per session while populating.
const POPULATE_WINDOW: usize = 256;
/// Children per parent while populating (ZooKeeper lists children in one reply).
const POPULATE_FANOUT: usize = 1000;

/// Flags of `courier bench keeper`.
#[derive(Debug, Clone, Args)]
pub struct KeeperBenchArgs {
    /// Servers to measure, `HOST:PORT` or `NAME=HOST:PORT`, comma-separated or repeated. The
    /// first is compared with the others (e.g. `courier=127.0.0.1:2181,zookeeper=127.0.0.1:2182`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub connect: Vec<String>,

    /// Concurrent sessions (one TCP connection each, one request at a time).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,

    /// Operations per op type, shared among the sessions.
    #[arg(long, default_value_t = 20_000)]
    pub ops: usize,

    /// Znode payload bytes (create and set).
    #[arg(long, default_value = "100", value_parser = parse_size)]
    pub size: u64,

    /// Rounds: the servers are measured in turn this many times and each figure is the median
    /// round (fsync-bound writes on a shared disk vary a lot from run to run).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,

    /// Only create this many znodes (pipelined) under /courier-populate and leave them.
    #[arg(long)]
    pub populate: Option<usize>,

    /// Print only the JSON line (no progress bars, no table).
    #[arg(long)]
    pub json_only: bool,
}

/// A server to measure.
#[derive(Debug, Clone, Serialize)]
struct Target {
    name: String,
    addr: String,
}

fn parse_targets(list: &[String]) -> anyhow::Result<Vec<Target>> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let (name, addr) = match s.split_once('=') {
                Some((n, a)) => (n.to_string(), a.to_string()),
                None => (format!("server{}", i + 1), s.clone()),
            };
            if !addr.contains(':') {
                bail!("--connect {s:?}: expected HOST:PORT or NAME=HOST:PORT");
            }
            Ok(Target { name, addr })
        })
        .collect()
}

/// One session on one connection. Requests are buffered by `send` and written by `flush`, so
/// the populate phase can pipeline.
struct Session {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    codec: FrameCodec,
    xid: i32,
}

impl Session {
    async fn open(addr: &str) -> anyhow::Result<Session> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}; is the server running?"))?;
        stream.set_nodelay(true)?;
        let mut s = Session {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
            wbuf: BytesMut::with_capacity(64 * 1024),
            codec: FrameCodec::new(MAX_FRAME),
            xid: 0,
        };
        let hello = ConnectRequest::new_session(30_000);
        s.wbuf.extend_from_slice(&frame(&(), &hello));
        s.flush().await?;
        let payload = s
            .payload()
            .await
            .with_context(|| format!("handshake with {addr}"))?;
        let resp = ConnectResponse::from_slice(&payload, MAX_FRAME)?;
        if resp.timeout_ms <= 0 {
            bail!("{addr} refused the session (timeout 0)");
        }
        Ok(s)
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.stream.write_all(&self.wbuf).await?;
        self.wbuf.clear();
        Ok(())
    }

    async fn payload(&mut self) -> anyhow::Result<Bytes> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.rbuf)? {
                return Ok(p);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("the server closed the connection");
            }
        }
    }

    /// Buffers one request; returns its xid.
    fn send(&mut self, op: OpCode, body: &impl Record) -> i32 {
        self.xid = self.xid.wrapping_add(1) & i32::MAX;
        let header = RequestHeader {
            xid: self.xid,
            op: op.code(),
        };
        self.wbuf.extend_from_slice(&frame(&header, body));
        self.xid
    }

    /// Next reply (notifications and pings skipped): its xid and error code.
    async fn reply(&mut self) -> anyhow::Result<(i32, i32)> {
        loop {
            let mut r = Reader::new(self.payload().await?, MAX_FRAME);
            let h = ReplyHeader::read(&mut r)?;
            if h.xid >= 0 {
                return Ok((h.xid, h.err));
            }
        }
    }

    /// One request, waited for; returns the error code.
    async fn call(&mut self, op: OpCode, body: &impl Record) -> anyhow::Result<i32> {
        let xid = self.send(op, body);
        self.flush().await?;
        let (got, err) = self.reply().await?;
        if got != xid {
            bail!("reply xid {got} does not match request xid {xid}");
        }
        Ok(err)
    }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn create(path: String, data: Bytes) -> CreateRequest {
    CreateRequest {
        path,
        data,
        acl: open_acl(),
        flags: 0,
    }
}

/// Ops/s and latency of one op type.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Figure {
    ops_per_s: f64,
    p50_us: u64,
    p99_us: u64,
    errors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Create,
    Get,
    Set,
    Mix,
    Delete,
    /// Gets paced at this many ops/s in total.
    PacedGet(f64),
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Get => "get",
            Phase::Set => "set",
            Phase::Mix => "mix 90% get",
            Phase::Delete => "delete",
            Phase::PacedGet(_) => "get at half load",
        }
    }
}

/// Runs one phase on every session at once; each session works on its own `per` znodes.
async fn run_phase(
    sessions: &mut Vec<Session>,
    base: &str,
    per: usize,
    data: &Bytes,
    phase: Phase,
    bar: &ProgressBar,
) -> anyhow::Result<Figure> {
    let errors = Arc::new(AtomicU64::new(0));
    let clients = sessions.len();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (k, mut s) in sessions.drain(..).enumerate() {
        let base = base.to_string();
        let data = data.clone();
        let errors = errors.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            // A small xorshift keeps the mix deterministic per session without a shared RNG.
            let mut rnd: u64 = 0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1);
            let interval = match phase {
                Phase::PacedGet(rate) if rate > 0.0 => {
                    Some(Duration::from_secs_f64(clients as f64 / rate))
                }
                _ => None,
            };
            let t0 = Instant::now();
            for i in 0..per {
                if let Some(iv) = interval {
                    let due = t0 + iv.mul_f64(i as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let path = format!("{base}/c{k}/n{i}");
                let t = Instant::now();
                let err = match phase {
                    Phase::Create => s.call(OpCode::Create, &create(path, data.clone())).await?,
                    Phase::Get | Phase::PacedGet(_) => {
                        s.call(OpCode::GetData, &PathWatchRequest { path, watch: false })
                            .await?
                    }
                    Phase::Set => {
                        let req = SetDataRequest {
                            path,
                            data: data.clone(),
                            version: -1,
                        };
                        s.call(OpCode::SetData, &req).await?
                    }
                    Phase::Mix => {
                        rnd ^= rnd << 13;
                        rnd ^= rnd >> 7;
                        rnd ^= rnd << 17;
                        let path = format!("{base}/c{k}/n{}", rnd as usize % per);
                        if rnd % 10 == 0 {
                            let req = SetDataRequest {
                                path,
                                data: data.clone(),
                                version: -1,
                            };
                            s.call(OpCode::SetData, &req).await?
                        } else {
                            s.call(OpCode::GetData, &PathWatchRequest { path, watch: false })
                                .await?
                        }
                    }
                    Phase::Delete => {
                        s.call(OpCode::Delete, &DeleteRequest { path, version: -1 })
                            .await?
                    }
                };
                lat.push(t.elapsed().as_micros() as u64);
                if err != 0 {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                bar.inc(1);
            }
            anyhow::Ok((s, lat))
        }));
    }
    let mut all = Vec::with_capacity(per * clients);
    for t in tasks {
        let (s, lat) = t.await.context("bench session task")??;
        sessions.push(s);
        all.extend(lat);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let l = Latency::from_samples(&mut all);
    Ok(Figure {
        ops_per_s: per_s((per * clients) as u64, elapsed),
        p50_us: l.p50_us,
        p99_us: l.p99_us,
        errors: errors.load(Ordering::Relaxed),
    })
}

/// Everything measured on one server.
#[derive(Debug, Clone, Serialize)]
struct ServerFigures {
    name: String,
    addr: String,
    create: Figure,
    get: Figure,
    set: Figure,
    mix_90_read: Figure,
    delete: Figure,
    get_half_load: Figure,
}

fn run_prefix() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("/courier-bench-{}-{ms}", std::process::id())
}

async fn measure(
    target: &Target,
    args: &KeeperBenchArgs,
    progress: &Progress,
) -> anyhow::Result<ServerFigures> {
    let clients = args.clients.max(1);
    let per = (args.ops / clients).max(1);
    let data = Bytes::from(vec![b'x'; args.size as usize]);
    let base = run_prefix();
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(Session::open(&target.addr).await?);
    }
    let setup = &mut sessions[0];
    let err = setup
        .call(OpCode::Create, &create(base.clone(), Bytes::new()))
        .await?;
    if err != 0 {
        bail!("{}: creating {base} failed with error {err}", target.name);
    }
    for k in 0..clients {
        let err = setup
            .call(
                OpCode::Create,
                &create(format!("{base}/c{k}"), Bytes::new()),
            )
            .await?;
        if err != 0 {
            bail!(
                "{}: creating {base}/c{k} failed with error {err}",
                target.name
            );
        }
    }
    let total = (per * clients) as u64;
    let fig = |phase: Phase| {
        let bar = progress.bar(total, format!("{} {}", target.name, phase.label()), "ops/s");
        (phase, bar)
    };
    // Warm-up on the same paths (all deleted again), so a JIT-compiled server is measured warm.
    let warm = (per / 5).max(1);
    for phase in [Phase::Create, Phase::Get, Phase::Set, Phase::Delete] {
        let bar = progress.bar(
            (warm * clients) as u64,
            format!("{} warm-up {}", target.name, phase.label()),
            "ops/s",
        );
        run_phase(&mut sessions, &base, warm, &data, phase, &bar).await?;
    }
    let (p, b) = fig(Phase::Create);
    let create_f = run_phase(&mut sessions, &base, per, &data, p, &b).await?;
    let (p, b) = fig(Phase::Get);
    let get_f = run_phase(&mut sessions, &base, per, &data, p, &b).await?;
    let (p, b) = fig(Phase::Set);
    let set_f = run_phase(&mut sessions, &base, per, &data, p, &b).await?;
    let (p, b) = fig(Phase::Mix);
    let mix_f = run_phase(&mut sessions, &base, per, &data, p, &b).await?;
    let (p, b) = fig(Phase::PacedGet(get_f.ops_per_s / 2.0));
    let half_f = run_phase(&mut sessions, &base, per, &data, p, &b).await?;
    let (p, b) = fig(Phase::Delete);
    let delete_f = run_phase(&mut sessions, &base, per, &data, p, &b).await?;
    let setup = &mut sessions[0];
    for k in 0..clients {
        setup
            .call(
                OpCode::Delete,
                &DeleteRequest {
                    path: format!("{base}/c{k}"),
                    version: -1,
                },
            )
            .await?;
    }
    setup
        .call(
            OpCode::Delete,
            &DeleteRequest {
                path: base,
                version: -1,
            },
        )
        .await?;
    Ok(ServerFigures {
        name: target.name.clone(),
        addr: target.addr.clone(),
        create: create_f,
        get: get_f,
        set: set_f,
        mix_90_read: mix_f,
        delete: delete_f,
        get_half_load: half_f,
    })
}

/// Creates `count` znodes pipelined over the sessions; returns the seconds it took.
async fn populate(
    target: &Target,
    args: &KeeperBenchArgs,
    count: usize,
    progress: &Progress,
) -> anyhow::Result<f64> {
    let clients = args.clients.max(1);
    let data = Bytes::from(vec![b'x'; args.size as usize]);
    let mut setup = Session::open(&target.addr).await?;
    let root = "/courier-populate";
    let err = setup
        .call(OpCode::Create, &create(root.into(), Bytes::new()))
        .await?;
    if err != 0 {
        bail!(
            "{}: creating {root} failed with error {err} (left from an earlier run?)",
            target.name
        );
    }
    for d in 0..count.div_ceil(POPULATE_FANOUT) {
        let err = setup
            .call(
                OpCode::Create,
                &create(format!("{root}/d{d}"), Bytes::new()),
            )
            .await?;
        if err != 0 {
            bail!(
                "{}: creating {root}/d{d} failed with error {err}",
                target.name
            );
        }
    }
    let bar = progress.bar(
        count as u64,
        format!("{} populate", target.name),
        "znodes/s",
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let addr = target.addr.clone();
        let data = data.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Session::open(&addr).await?;
            let mine: Vec<usize> = (k..count).step_by(clients).collect();
            let mut in_flight = 0usize;
            let mut failed = 0u64;
            for i in mine {
                let path = format!("{root}/d{}/n{i:010}", i / POPULATE_FANOUT);
                s.send(OpCode::Create, &create(path, data.clone()));
                in_flight += 1;
                if in_flight >= POPULATE_WINDOW {
                    s.flush().await?;
                    let (_, err) = s.reply().await?;
                    failed += u64::from(err != 0);
                    in_flight -= 1;
                    bar.inc(1);
                }
            }
            s.flush().await?;
            while in_flight > 0 {
                let (_, err) = s.reply().await?;
                failed += u64::from(err != 0);
                in_flight -= 1;
                bar.inc(1);
            }
            anyhow::Ok(failed)
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await.context("populate task")??;
    }
    bar.finish_and_clear();
    if failed > 0 {
        bail!("{}: {failed} of {count} creates failed", target.name);
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Per op type, the figure of the round with the median ops/s.
fn median_round(rounds: &[ServerFigures]) -> ServerFigures {
    let pick = |get: fn(&ServerFigures) -> Figure| {
        let mut v: Vec<Figure> = rounds.iter().map(get).collect();
        v.sort_by(|a, b| a.ops_per_s.total_cmp(&b.ops_per_s));
        v[v.len() / 2]
    };
    ServerFigures {
        name: rounds[0].name.clone(),
        addr: rounds[0].addr.clone(),
        create: pick(|r| r.create),
        get: pick(|r| r.get),
        set: pick(|r| r.set),
        mix_90_read: pick(|r| r.mix_90_read),
        delete: pick(|r| r.delete),
        get_half_load: pick(|r| r.get_half_load),
    }
}

#[derive(Serialize)]
struct Report {
    bench: &'static str,
    rounds: usize,
    clients: usize,
    ops: usize,
    size: u64,
    servers: Vec<ServerFigures>,
    /// ops/s of the first server divided by each other server's, per op type.
    ratios: Vec<Ratio>,
    verdicts: Vec<Verdict>,
}

#[derive(Serialize)]
struct Ratio {
    versus: String,
    create: f64,
    get: f64,
    set: f64,
    mix_90_read: f64,
    delete: f64,
}

#[derive(Serialize)]
struct PopulateReport {
    bench: &'static str,
    server: String,
    znodes: usize,
    size: u64,
    seconds: f64,
    znodes_per_s: f64,
}

/// Runs `courier bench keeper`.
pub fn run(args: KeeperBenchArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let targets = parse_targets(&args.connect)?;
    let progress = Progress::new(!args.json_only);
    if let Some(count) = args.populate {
        for t in &targets {
            let seconds = rt.block_on(populate(t, &args, count, &progress))?;
            emit_json_line(&PopulateReport {
                bench: "keeper-populate",
                server: t.name.clone(),
                znodes: count,
                size: args.size,
                seconds,
                znodes_per_s: count as f64 / seconds.max(1e-9),
            })?;
        }
        return Ok(());
    }
    let mut rounds: Vec<Vec<ServerFigures>> = vec![Vec::new(); targets.len()];
    for _ in 0..args.rounds.max(1) {
        for (i, t) in targets.iter().enumerate() {
            rounds[i].push(rt.block_on(measure(t, &args, &progress))?);
        }
    }
    let results: Vec<ServerFigures> = rounds.iter().map(|r| median_round(r)).collect();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let first = &results[0];
    let ratios: Vec<Ratio> = results[1..]
        .iter()
        .map(|o| Ratio {
            versus: o.name.clone(),
            create: ratio(first.create.ops_per_s, o.create.ops_per_s),
            get: ratio(first.get.ops_per_s, o.get.ops_per_s),
            set: ratio(first.set.ops_per_s, o.set.ops_per_s),
            mix_90_read: ratio(first.mix_90_read.ops_per_s, o.mix_90_read.ops_per_s),
            delete: ratio(first.delete.ops_per_s, o.delete.ops_per_s),
        })
        .collect();
    let mut verdicts = vec![Verdict::below(
        &format!("{} read p99 at half load", first.name),
        first.get_half_load.p99_us as f64,
        1000.0,
        "us",
    )];
    for r in &ratios {
        verdicts.push(Verdict::at_least(
            &format!("get ops/s vs {}", r.versus),
            r.get,
            2.0,
            "x",
        ));
        for (op, v) in [("create", r.create), ("set", r.set), ("delete", r.delete)] {
            verdicts.push(Verdict::at_least(
                &format!("{op} ops/s (fsync) vs {}", r.versus),
                v,
                1.2,
                "x",
            ));
        }
    }
    if !args.json_only {
        let mut table = Table::new(
            &format!(
                "keeper bench: {} sessions, {} ops per type, {} B znodes, median of {} round(s)",
                args.clients,
                args.ops,
                args.size,
                args.rounds.max(1)
            ),
            &["server", "op", "ops/s", "p50 us", "p99 us", "errors"],
        );
        for r in &results {
            for (op, f) in [
                ("create", r.create),
                ("get", r.get),
                ("set", r.set),
                ("mix 90% get", r.mix_90_read),
                ("delete", r.delete),
                ("get @ half load", r.get_half_load),
            ] {
                table.row(vec![
                    r.name.clone(),
                    op.into(),
                    format!("{:.0}", f.ops_per_s),
                    f.p50_us.to_string(),
                    f.p99_us.to_string(),
                    f.errors.to_string(),
                ]);
            }
        }
        eprintln!("{}", table.render());
        for v in &verdicts {
            eprintln!(
                "{} {:<40} {:.2} {} {} {}",
                if v.pass { "PASS" } else { "MISS" },
                v.name,
                v.measured,
                v.comparison,
                v.target,
                v.unit
            );
        }
    }
    emit_json_line(&Report {
        bench: "keeper",
        rounds: args.rounds.max(1),
        clients: args.clients,
        ops: args.ops,
        size: args.size,
        servers: results,
        ratios,
        verdicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_and_without_names() {
        let t = parse_targets(&["courier=127.0.0.1:2181".into(), "127.0.0.1:2182".into()])
            .expect("parse");
        assert_eq!(
            (t[0].name.as_str(), t[0].addr.as_str()),
            ("courier", "127.0.0.1:2181")
        );
        assert_eq!(
            (t[1].name.as_str(), t[1].addr.as_str()),
            ("server2", "127.0.0.1:2182")
        );
        assert!(parse_targets(&["zookeeper=nohost".into()]).is_err());
    }

    #[test]
    fn median_round_picks_the_middle_per_op() {
        let f = |ops: f64| Figure {
            ops_per_s: ops,
            p50_us: ops as u64,
            p99_us: 0,
            errors: 0,
        };
        let round = |a: f64, b: f64| ServerFigures {
            name: "s".into(),
            addr: "127.0.0.1:1".into(),
            create: f(a),
            get: f(b),
            set: f(a),
            mix_90_read: f(a),
            delete: f(a),
            get_half_load: f(a),
        };
        let m = median_round(&[round(1.0, 30.0), round(3.0, 10.0), round(2.0, 20.0)]);
        assert_eq!((m.create.ops_per_s, m.create.p50_us), (2.0, 2));
        assert_eq!(m.get.ops_per_s, 20.0);
    }

    #[test]
    fn cli_accepts_the_documented_flags() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "courier",
            "bench",
            "keeper",
            "--connect",
            "a=127.0.0.1:1,b=127.0.0.1:2",
            "--clients",
            "4",
            "--ops",
            "100",
            "--size",
            "1K",
        ])
        .expect("parse");
        let crate::cli::Command::Bench(crate::cli::BenchArgs {
            target: crate::cli::BenchTarget::Keeper(a),
        }) = cli.command
        else {
            panic!("parsed into the wrong subcommand");
        };
        assert_eq!(a.connect.len(), 2);
        assert_eq!((a.clients, a.ops, a.size), (4, 100, 1024));
    }
}
