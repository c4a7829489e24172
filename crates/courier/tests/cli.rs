//! End-to-end checks of the built `courier` binary: the help teaches, the version prints, and a
//! quick `bench store` run produces exactly one JSON line on stdout with every section filled in,
//! and `dev` over a damaged data dir fails naming the file and the fix.

use std::process::Command;

fn courier() -> Command {
    Command::new(env!("CARGO_BIN_EXE_courier"))
}

#[test]
fn help_explains_courier_and_its_subcommands() {
    let out = courier()
        .arg("--help")
        .output()
        .expect("run courier --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RocketMQ") && text.contains("ZooKeeper") && text.contains("Dubbo"));
    assert!(text.contains("bench"));
    assert!(text.contains("Examples:"));
    // The kill -9 helper is internal and must not be advertised.
    let out = courier()
        .args(["bench", "--help"])
        .output()
        .expect("run courier bench --help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("store"));
    assert!(!text.contains("store-writer"));
    let out = courier()
        .args(["bench", "store", "--help"])
        .output()
        .expect("run courier bench store --help");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--dir",
        "--sizes",
        "--bytes",
        "--sync-concurrency",
        "--sync-seconds",
        "--segment-size",
        "--quick",
        "--json-only",
        "--keep",
    ] {
        assert!(text.contains(flag), "bench store --help lacks {flag}");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let out = courier()
        .arg("--version")
        .output()
        .expect("run courier --version");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("courier {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_flags_fail_with_a_hint() {
    let out = courier()
        .args(["bench", "store", "--sizes", "12Q"])
        .output()
        .expect("run courier");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use K, M, G or T"), "unhelpful error: {err}");
}

#[test]
fn dev_with_a_damaged_topic_table_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("broker").join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("topics.json"),
        b"{\"topicConfigTable\":{\"T\":{",
    )
    .expect("write");
    let out = courier()
        .args(["dev", "--no-metrics", "--log-level", "warn"])
        .args([
            "--namesrv-port",
            "0",
            "--broker-port",
            "0",
            "--keeper-port",
            "0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run courier dev");
    assert!(
        !out.status.success(),
        "dev started over a damaged topics.json"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("topics.json") && err.contains("restore it from"),
        "the error should name the file and the fix: {err}"
    );
    assert!(
        !err.contains("stopped unexpectedly") && !err.contains("failed; shutting"),
        "the servers stopped on purpose were reported as failures: {err}"
    );
}

#[test]
fn quick_store_bench_emits_one_complete_json_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = courier()
        .args([
            "bench",
            "store",
            "--quick",
            "--json-only",
            "--sizes",
            "128,1K,4K",
            "--sync-concurrency",
            "1,16,64",
            "--sync-seconds",
            "0.2",
            "--fdatasync-seconds",
            "0.2",
            "--dir",
        ])
        .arg(dir.path())
        .env("COURIER_LOG", "warn")
        .output()
        .expect("run courier bench store --quick");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be exactly one JSON line: {stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("stdout is JSON");

    assert!(
        v["disk"]["seq_write_mb_s"]
            .as_f64()
            .expect("disk bandwidth")
            > 0.0
    );
    assert!(
        v["disk"]["fdatasync_per_s"]
            .as_f64()
            .expect("fdatasync rate")
            > 0.0
    );

    let asyncs = v["async_append"].as_array().expect("async cases");
    assert_eq!(asyncs.len(), 6, "3 sizes x (put, put_batch)");
    for c in asyncs {
        for k in ["records_per_s", "mb_per_s", "ratio_to_disk", "records"] {
            assert!(c[k].as_f64().expect(k) > 0.0, "async case lacks {k}: {c}");
        }
    }
    let durable = v["async_durable"].as_array().expect("durable cases");
    assert_eq!(durable.len(), 3, "one per size");
    assert!(durable
        .iter()
        .all(|d| d["mb_per_s"].as_f64().unwrap_or(0.0) > 0.0));
    let syncs = v["sync_append"].as_array().expect("sync cases");
    let conc: Vec<u64> = syncs
        .iter()
        .map(|c| c["concurrency"].as_u64().expect("concurrency"))
        .collect();
    assert_eq!(conc, vec![1, 16, 64]);
    for c in syncs {
        assert!(c["records_per_s"].as_f64().expect("rate") > 0.0);
        assert!(c["ratio_to_fdatasync"].as_f64().is_some());
        assert!(c["ratio_to_one_appender"].as_f64().is_some());
        assert!(c["latency"]["p99_us"].as_u64().is_some());
    }
    let reads = v["read"].as_array().expect("read cases");
    assert_eq!(reads.len(), 3);
    assert!(reads
        .iter()
        .all(|r| r["gb_per_s"].as_f64().unwrap_or(0.0) > 0.0));

    assert!(v["reopen_clean"]["seconds"].as_f64().is_some());
    assert_eq!(v["reopen_clean"]["clean_shutdown"], true);
    assert!(v["reopen_after_kill9"]["seconds"].as_f64().is_some());
    assert_eq!(v["reopen_after_kill9"]["clean_shutdown"], false);
    let acked = v["reopen_after_kill9"]["writer_acked_records"]
        .as_u64()
        .expect("acked");
    let found = v["reopen_after_kill9"]["writer_records_found"]
        .as_u64()
        .expect("found");
    // With the O_DIRECT write-behind buffer (--direct-writes) a kill -9 may cost what it had not
    // written yet, bounded by the store; never more. Mapped writes (the default) lose nothing.
    let allowed = v["reopen_after_kill9"]["writer_loss_allowed"]
        .as_u64()
        .expect("allowed loss");
    assert!(
        found + allowed >= acked && acked > 0,
        "{found} + {allowed} < {acked}"
    );
    assert!(v["memory"]["after_async"]["rss_anon_kib"]
        .as_u64()
        .is_some());

    let targets = v["targets"].as_array().expect("targets");
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    for n in [
        "async_put_4KiB_mb_s_ratio_to_disk",
        "async_put_128B_records_per_s",
        "sync_64_appenders_ratio_to_fdatasync",
        "read_gb_s",
        "reopen_clean_seconds",
        "reopen_after_kill9_seconds",
    ] {
        assert!(names.contains(&n), "target {n} missing");
    }
    assert!(targets.iter().all(|t| t["pass"].is_boolean()));
    assert!(v["all_targets_pass"].is_boolean());

    // The run directory is cleaned up: nothing left but what was there.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}
