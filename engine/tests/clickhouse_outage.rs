//! ClickHouse stopped for a minute mid-run and started again
//! (`scripts/services/clickhouse.sh stop|start`): the sink reports the
//! outage and retries, keeps its written epoch (and so Kafka commits) where
//! it was, holds a bounded number of rows while backpressure holds the views
//! back, and once the
//! server is back its table equals `replay` of everything produced, and its
//! raw event tables and rollups hold every distinct event once: nothing
//! lost, nothing written twice. One test per file: it stops a server other
//! tests use. `HELIXFLOW_OUTAGE_SECS` shortens the outage for local runs.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;
mod sink_support;

use common::test_lines;
use helixflow_types::event::EventKind;
use kafka_support::unique;
use sink_support::*;
use std::path::Path;

/// Far below the ~300 conversations changing while the server is down.
const MAX_PENDING_ROWS: u64 = 40;

fn clickhouse_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// `conversation_id message_count total_tokens` per live row of the table.
fn table_rows(database: &str) -> Vec<String> {
    query(&format!(
        "SELECT conversation_id, message_count, total_tokens FROM \
         (SELECT * FROM {database}.conversation_snapshots FINAL) WHERE _deleted = 0 \
         ORDER BY conversation_id FORMAT TSV"
    ))
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
    let database = unique("hx_outage").replace('-', "_");
    let lines = test_lines(41, 8_000);
    let sinks = format!(
        "[views]\nenabled = [\"all\"]\n[[sinks]]\nname = \"ch\"\nkind = \"clickhouse\"\n\
         url = \"{}\"\ndatabase = \"{database}\"\nviews = [\"conversation_snapshots\"]\n\
         [sinks.batching]\nbatch_rows = 40\nflush_interval = \"50ms\"\n\
         max_pending_rows = {MAX_PENDING_ROWS}\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
        clickhouse_url()
    );
    let (engine, report) = run_through_outage("clickhouse", "chout", &sinks, &lines);
    assert_backpressure_and_bound(&report, MAX_PENDING_ROWS);
    let _ = kafka_support::replay_views(&lines, dir.path());
    let want = view_rows(&dir.path().join("replay/conversation_snapshots.jsonl"));
    assert_eq!(table_rows(&database), want);

    // The raw events went through the outage too: one live row per distinct
    // event, and the rollups count every call once.
    let distinct = common::distinct_events(&lines);
    let count = |kind| {
        distinct
            .iter()
            .filter(|e| e.kind() == kind)
            .count()
            .to_string()
    };
    let live = |table: &str| {
        query(&format!(
            "SELECT count() FROM (SELECT * FROM {database}.{table} FINAL) WHERE _deleted = 0"
        ))
    };
    assert_eq!(live("provider_calls"), vec![count(EventKind::ProviderCall)]);
    assert_eq!(live("messages"), vec![count(EventKind::Message)]);
    let rolled_up = query(&format!(
        "SELECT sumMerge(calls) FROM {database}.provider_calls_hourly"
    ));
    assert_eq!(rolled_up, vec![count(EventKind::ProviderCall)]);
    engine.shutdown().unwrap();
}
