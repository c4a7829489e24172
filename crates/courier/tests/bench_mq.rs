//! `courier bench produce|consume|e2e` as a user runs them against a real `courier dev` process:
//! each prints exactly one JSON line on stdout whose counts match what the broker stored. Small
//! counts, so the whole file runs in seconds; speed is never asserted.

mod servers_support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use servers_support::start_dev;

/// Runs `courier bench ARGS --json-only` and parses its single stdout line.
fn bench(args: &[&str], namesrv: &str, log_dir: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_courier"))
        .arg("bench")
        .args(args)
        .args(["--namesrv", namesrv, "--json-only"])
        .env("COURIER_LOG", "warn")
        .output()
        .expect("run courier bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::write(
        log_dir.join(format!("bench-{}.log", args[0])),
        stderr.as_bytes(),
    )
    .ok();
    assert!(out.status.success(), "bench {args:?} failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one JSON line expected: {stdout:?}");
    serde_json::from_str(lines[0]).expect("valid JSON")
}

#[test]
fn produce_then_consume_then_e2e_report_matching_counts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let (mut dev, addrs) = start_dev(&data, [0, 0, 0], &[], &tmp.path().join("dev.log"));
    let ns = addrs.namesrv.to_string();
    let pid = dev.pid().to_string();

    let p = bench(
        &[
            "produce",
            "--topic",
            "BenchSmoke",
            "--count",
            "2000",
            "--concurrency",
            "16",
            "--queues",
            "4",
            "--broker-pid",
            &pid,
        ],
        &ns,
        tmp.path(),
    );
    assert_eq!(p["bench"], "produce");
    assert_eq!(p["mode"], "async");
    assert_eq!(p["messages"], 2000);
    assert_eq!(p["ok"], 2000, "{p}");
    assert_eq!(p["statuses"]["SendOk"], 2000, "{p}");
    assert!(
        p["errors"].as_object().expect("errors map").is_empty(),
        "{p}"
    );
    assert!(p["msgs_per_s"].as_f64().expect("rate") > 0.0);
    assert!(
        p["latency_us"]["p99_us"].as_u64().expect("p99")
            >= p["latency_us"]["p50_us"].as_u64().expect("p50")
    );
    assert!(
        p["broker_rss"]["max_anon_kib"].as_u64().expect("rss") > 0,
        "{p}"
    );

    let b = bench(
        &[
            "produce",
            "--topic",
            "BenchSmoke",
            "--count",
            "640",
            "--batch",
            "32",
            "--sync",
            "--concurrency",
            "4",
            "--producers",
            "2",
        ],
        &ns,
        tmp.path(),
    );
    assert_eq!(b["mode"], "sync");
    assert_eq!(b["producers"], 2, "{b}");
    assert_eq!(b["ok"], 640, "{b}");

    // The warm-up send of each producer is stored too: 2000 + 1 and 640 + 2.
    let c = bench(&["consume", "--topic", "BenchSmoke"], &ns, tmp.path());
    assert_eq!(c["bench"], "consume");
    assert_eq!(c["ok"], 2643, "{c}");
    assert!(c["mb_per_s"].as_f64().expect("MB/s") > 0.0);

    let e = bench(
        &[
            "e2e", "--topic", "BenchE2e", "--rate", "2000", "--count", "1000", "--queues", "2",
        ],
        &ns,
        tmp.path(),
    );
    assert_eq!(e["ok"], 1000, "{e}");
    assert_eq!(e["e2e"]["received"], 1000, "{e}");
    assert_eq!(e["e2e"]["missing"], 0, "{e}");
    assert!(
        e["e2e"]["delivery_latency_us"]["max_us"]
            .as_u64()
            .expect("max")
            > 0
    );

    dev.terminate();
}
