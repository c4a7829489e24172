//! Four-letter words: plain-text admin commands sent as the first 4 bytes of a connection
//! instead of a frame length (spec §12). Answered only if whitelisted; the server then closes.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::shared::Shared;
use crate::state::StateMachine;

const WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srvr", "srst", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// The command these 4 bytes spell, if they spell one.
pub fn word(first: &[u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == first)
}

const VERSION: &str = concat!("3.8.4-courier-", env!("CARGO_PKG_VERSION"));

/// The text answer to `word`.
pub fn answer(shared: &Shared, state: &StateMachine, word: &str) -> String {
    if !shared.config.four_letter_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    let mut out = String::new();
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str("rw"),
        "srvr" => srvr(shared, state, &mut out),
        "stat" => {
            out.push_str("Clients:\n");
            for line in cons_lines(shared) {
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
            srvr(shared, state, &mut out);
        }
        "cons" => {
            for line in cons_lines(shared) {
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
        }
        "conf" => {
            let c = &shared.config;
            let _ = writeln!(out, "clientPort={}", c.client_port);
            let _ = writeln!(out, "dataDir={}", c.data_dir.display());
            let _ = writeln!(out, "dataLogDir={}", c.data_dir.display());
            let _ = writeln!(out, "tickTime={}", c.tick_time_ms);
            // ZooKeeper's "no per-address connection limit", which is what Courier enforces.
            let _ = writeln!(out, "maxClientCnxns=0");
            let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout());
            let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout());
            let _ = writeln!(out, "serverId={}", c.server_id);
            let _ = writeln!(out, "jute.maxbuffer={}", c.max_data_bytes);
            let _ = writeln!(out, "extendedTypesEnabled={}", c.extended_types_enabled);
        }
        "envi" => {
            out.push_str("Environment:\n");
            let _ = writeln!(out, "zookeeper.version={VERSION}");
            let _ = writeln!(out, "host.name=localhost");
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(
                out,
                "user.dir={}",
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
        }
        "wchs" => {
            let w = shared.watches.lock();
            let _ = writeln!(
                out,
                "{} connections watching {} paths",
                w.conn_count(),
                w.path_count()
            );
            let _ = writeln!(out, "Total watches:{}", w.total());
        }
        "wchc" => {
            let w = shared.watches.lock();
            let mut last = None;
            for (c, p) in w.by_conn() {
                if last != Some(c) {
                    let _ = writeln!(out, "0x{c:x}");
                    last = Some(c);
                }
                let _ = writeln!(out, "\t{p}");
            }
        }
        "wchp" => {
            let w = shared.watches.lock();
            let mut last: Option<String> = None;
            for (p, c) in w.by_path() {
                if last.as_deref() != Some(p.as_str()) {
                    let _ = writeln!(out, "{p}");
                    last = Some(p.clone());
                }
                let _ = writeln!(out, "\t0x{c:x}");
            }
        }
        "dump" => {
            let sessions = shared.sessions.lock();
            out.push_str("SessionTracker dump:\n");
            for (id, timeout, left) in sessions.snapshot(Instant::now()) {
                let _ = writeln!(out, "0x{id:x}\ttimeout={timeout}ms\texpires_in={left}ms");
            }
            out.push_str("ephemeral nodes dump:\n");
            let mut owners: Vec<_> = state.tree.ephemeral_counts().collect();
            owners.sort_unstable();
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", owners.len());
            for (s, _) in owners {
                let _ = writeln!(out, "0x{s:x}:");
                for p in state.tree.ephemerals_of(s) {
                    let _ = writeln!(out, "\t{p}");
                }
            }
        }
        "mntr" => mntr(shared, state, &mut out),
        "dirs" => {
            // Snapshots and the transaction log share one directory here; ZooKeeper's two
            // figures are its snapshot files and its log files.
            let size = |names: &[&str]| -> u64 {
                names
                    .iter()
                    .filter_map(|n| std::fs::metadata(shared.config.data_dir.join(n)).ok())
                    .map(|m| m.len())
                    .sum()
            };
            let _ = writeln!(
                out,
                "datadir_size: {}",
                size(&["raft.snap", "raft.vote", "keeper.snap"])
            );
            let _ = writeln!(out, "logdir_size: {}", size(&["raft.log", "keeper.wal"]));
        }
        "srst" => {
            shared.stats.latency.reset();
            shared.stats.received.store(0, Ordering::Relaxed);
            shared.stats.sent.store(0, Ordering::Relaxed);
            out.push_str("Server stats reset.\n");
        }
        "crst" => {
            for h in shared.conns.lock().values() {
                h.stats.latency.reset();
                h.stats.received.store(0, Ordering::Relaxed);
                h.stats.sent.store(0, Ordering::Relaxed);
            }
            out.push_str("Connection stats reset.\n");
        }
        other => {
            let _ = writeln!(out, "{other} is not supported by this server.");
        }
    }
    out
}

fn cons_lines(shared: &Shared) -> Vec<String> {
    let conns = shared.conns.lock();
    let mut v: Vec<String> = conns
        .iter()
        .map(|(id, h)| {
            let lat = h.stats.latency.summary();
            format!(
                " /{}[1](queued={},recved={},sent={},sid=0x{:x},cid=0x{:x},llat={},minlat={},avglat={:.4},maxlat={})",
                h.peer,
                h.stats.outstanding.load(Ordering::Relaxed),
                h.stats.received.load(Ordering::Relaxed),
                h.stats.sent.load(Ordering::Relaxed),
                h.session_id,
                id,
                lat.last_ms,
                lat.min_ms,
                lat.avg_ms,
                lat.max_ms
            )
        })
        .collect();
    v.sort();
    v
}

fn srvr(shared: &Shared, state: &StateMachine, out: &mut String) {
    let _ = writeln!(out, "Zookeeper version: {VERSION}");
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}",
        shared.stats.latency.summary().slashed()
    );
    let _ = writeln!(
        out,
        "Received: {}",
        shared.stats.received.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "Sent: {}", shared.stats.sent.load(Ordering::Relaxed));
    let _ = writeln!(out, "Connections: {}", shared.conns.lock().len());
    let _ = writeln!(
        out,
        "Outstanding: {}",
        shared.stats.outstanding.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "Zxid: 0x{:x}", state.last_zxid);
    let _ = writeln!(out, "Mode: standalone");
    let _ = writeln!(out, "Node count: {}", state.tree.node_count());
}

fn mntr(shared: &Shared, state: &StateMachine, out: &mut String) {
    let watches = shared.watches.lock().total();
    let sessions = shared.sessions.lock().len();
    let conns = shared.conns.lock().len();
    let ephemerals: usize = state.tree.ephemeral_counts().map(|(_, n)| n).sum();
    let lat = shared.stats.latency.summary();
    let rows: Vec<(&str, String)> = vec![
        ("zk_version", VERSION.to_string()),
        ("zk_server_state", "standalone".into()),
        ("zk_avg_latency", format!("{:.4}", lat.avg_ms)),
        ("zk_max_latency", lat.max_ms.to_string()),
        ("zk_min_latency", lat.min_ms.to_string()),
        (
            "zk_packets_received",
            shared.stats.received.load(Ordering::Relaxed).to_string(),
        ),
        (
            "zk_packets_sent",
            shared.stats.sent.load(Ordering::Relaxed).to_string(),
        ),
        ("zk_num_alive_connections", conns.to_string()),
        (
            "zk_outstanding_requests",
            shared.stats.outstanding.load(Ordering::Relaxed).to_string(),
        ),
        ("zk_znode_count", state.tree.node_count().to_string()),
        ("zk_watch_count", watches.to_string()),
        ("zk_ephemerals_count", ephemerals.to_string()),
        (
            "zk_approximate_data_size",
            state.tree.approximate_data_size().to_string(),
        ),
        (
            "zk_uptime",
            shared.started.elapsed().as_millis().to_string(),
        ),
        ("zk_global_sessions", sessions.to_string()),
        // True zeros: every session is global (no local sessions) and nothing is throttled.
        ("zk_local_sessions", "0".into()),
        ("zk_throttled_ops", "0".into()),
        (
            "zk_auth_failed_count",
            shared.stats.auth_failed.load(Ordering::Relaxed).to_string(),
        ),
        ("zk_last_zxid", format!("0x{:x}", state.last_zxid)),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "{k}\t{v}");
    }
}
