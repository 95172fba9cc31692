//! ClickHouse stopped mid-run and started again
//! (`scripts/services/clickhouse.sh stop|start`): the sink reports the
//! outage and retries, keeps its written epoch (and so Kafka commits)
//! where it was, and once the server is back its
//! tables equal `replay` of everything produced: nothing lost, nothing
//! written twice. One test per file: it stops a server other tests use.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;

use common::test_lines;
use kafka_support::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn service(name: &str, action: &str) {
    // Read at run time: a shared build cache can hold a binary built elsewhere.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let script = Path::new(&manifest).join(format!("../scripts/services/{name}.sh"));
    let status = Command::new(&script).arg(action).status().unwrap();
    assert!(status.success(), "{name}.sh {action} failed");
}

fn clickhouse_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// `conversation_id message_count total_tokens` per live row of the table.
fn table_rows(database: &str) -> Vec<String> {
    let port = std::env::var("CLICKHOUSE_TCP_PORT").unwrap_or_else(|_| "9000".into());
    let query = format!(
        "SELECT conversation_id, message_count, total_tokens FROM \
         (SELECT * FROM {database}.conversation_snapshots FINAL) WHERE _deleted = 0 \
         ORDER BY conversation_id FORMAT TSV"
    );
    let out = Command::new("clickhouse-client")
        .args(["--port", &port, "--query", &query])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.replace('\t', " "))
        .collect()
}

fn view_rows(replay_file: &Path) -> Vec<String> {
    std::fs::read_to_string(replay_file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {} {}",
                v["conversation_id"].as_str().unwrap(),
                v["message_count"],
                v["total_tokens"]
            )
        })
        .collect()
}

#[test]
fn a_clickhouse_outage_mid_run_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("sinkout");
    let database = unique("hx_outage").replace('-', "_");
    let lines = test_lines(41, 8_000);
    let (first, second) = lines.split_at(lines.len() / 2);
    let sinks = format!(
        "[views]\nenabled = [\"all\"]\n[[sinks]]\nname = \"ch\"\nkind = \"clickhouse\"\n\
         url = \"{}\"\ndatabase = \"{database}\"\nviews = [\"conversation_snapshots\"]\n\
         [sinks.batching]\nbatch_rows = 100\nflush_interval = \"50ms\"\nmax_pending_rows = 400\n\
         retry_initial = \"100ms\"\nretry_max = \"1s\"\n",
        clickhouse_url()
    );
    let topology = helixflow_types::topology::Topology::parse(
        "test.toml",
        &kafka_topology_text(&topics, &unique("g"), "", &sinks),
        |_| None,
    )
    .unwrap();
    let sent_first = produce(&topics, first);
    let engine = start(&topology, 2);
    wait_visible(&engine, sent_first);
    assert!(engine.wait_sinks_written(Duration::from_secs(60)));
    let sink = std::sync::Arc::clone(&engine.sinks[0]);

    service("clickhouse", "stop");
    let sent_second = produce(&topics, second);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.problem().is_none() {
        assert!(
            Instant::now() < deadline,
            "the sink did not notice the outage"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Nothing counts as written while the server is away (so Kafka commits
    // wait). The backlog bound and backpressure are checked by the runner's
    // own test (sinks/src/runner.rs) against a scripted store.
    let written_during = sink.written_frontier();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.written_frontier(), written_during);
    assert!(sink.problem().is_some());
    service("clickhouse", "start");

    wait_visible(&engine, sent_first + sent_second);
    assert!(
        engine.wait_sinks_written(Duration::from_secs(120)),
        "the sink did not catch up: {:?}",
        sink.problem()
    );
    assert!(sink.problem().is_none(), "{:?}", sink.problem());
    let _ = replay_views(&lines, dir.path());
    let want = view_rows(&dir.path().join("replay/conversation_snapshots.jsonl"));
    assert_eq!(table_rows(&database), want);
    engine.shutdown().unwrap();
}
