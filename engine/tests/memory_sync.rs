//! The memory sync barrier (`POST /v1/memory/sync/force`) over a real
//! socket: against the real Kafka broker, a read that follows the answer
//! sees every event produced before the call, and the group's offsets for
//! them are committed (the commit interval is far longer than the test, so
//! only the barrier's commit request can have done it); against a followed
//! file, a barrier that cannot be reached answers 504 `timeout` and loses
//! nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;

use common::http::{get, post};
use common::{distinct_events, test_lines};
use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::rejects::RejectLog;
use helixflow_operators::views::ViewSet;
use helixflow_sources::feed::{EpochClock, EpochPolicy};
use helixflow_types::event::Event;
use helixflow_types::topology::{FileSourceConfig, SourceConfig, Topology};
use kafka_support::*;
use std::io::Write;
use std::time::Duration;

/// Distinct memory events among `lines`.
fn memory_ops(lines: &[String]) -> u64 {
    distinct_events(lines)
        .iter()
        .filter(|e| matches!(e, Event::Memory(_)))
        .count() as u64
}

#[test]
fn a_read_after_sync_sees_every_event_produced_before_the_call() {
    let topics = fresh_topics("sync");
    let group = unique("g");
    let text = kafka_topology_text(&topics, &group, "", "")
        .replace("commit_interval = \"100ms\"", "commit_interval = \"1h\"");
    let topology = Topology::parse("sync.toml", &text, |_| None).unwrap();
    let engine = start(&topology, 2);
    let server = common::serve(&engine, &topology.sources);
    let addr = server.addr();
    let lines = test_lines(3, 6000);
    let names: Vec<&str> = topics.by_kind().iter().map(|(_, n)| *n).collect();
    let mut sent: Vec<String> = Vec::new();
    for batch in lines.chunks(2000) {
        produce(&topics, batch);
        sent.extend_from_slice(batch);
        let synced = post(addr, "/v1/memory/sync/force", r#"{"timeout_ms": 60000}"#);
        assert_eq!(synced.status, 200, "{}", synced.body);
        let synced = synced.json();
        assert!(synced["waited_ms"].is_u64() && synced["as_of"].is_u64());
        // The read after the answer: every memory op produced so far.
        let status = get(addr, "/v1/memory/sync/status").json();
        assert_eq!(status["ops"], memory_ops(&sent), "{status}");
        let kafka = status["kafka"].as_array().unwrap();
        assert_eq!(
            kafka.len(),
            2,
            "the memory topic's two partitions: {status}"
        );
        assert!(kafka.iter().all(|p| p["topic"] == topics.memory.as_str()));
        // Committed by the barrier (the interval is an hour).
        for (topic, partition, committed, end) in committed_and_end(&names, &group) {
            assert!(
                committed >= end.max(0),
                "{topic}/{partition}: committed {committed}, end {end}"
            );
        }
    }
    server.stop();
    engine.shutdown().unwrap();
}

#[test]
fn a_barrier_that_cannot_be_reached_times_out_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let op = |id: &str, lamport: u64| {
        format!(
            r#"{{"type":"memory","event_id":"{id}","ts":"2026-01-30T00:00:00Z","op":"add","memory_id":"m","user_id":"u","node_id":"n","lamport":{lamport},"content":"c"}}"#
        )
    };
    // The last line has no newline yet: the file's end cannot be reached.
    std::fs::write(&path, format!("{}\n{}", op("a", 1), op("b", 2))).unwrap();
    let sources = vec![SourceConfig::File(FileSourceConfig {
        name: "events".into(),
        paths: vec![path.clone()],
        follow: true,
    })];
    let engine = Engine::start(EngineSpec {
        workers: 1,
        views: ViewSet::all(),
        sources: sources.clone(),
        epochs: EpochPolicy::Clock(EpochClock::new(Duration::from_millis(5))),
        rejects: RejectLog::default(),
        feed_capacity: 8,
        sinks: Vec::new(),
        cluster: None,
        timeouts: Default::default(),
    })
    .unwrap();
    let server = common::serve(&engine, &sources);
    let addr = server.addr();
    let r = post(addr, "/v1/memory/sync/force", r#"{"timeout_ms": 300}"#);
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "timeout");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("byte"));
    // The line completes: the barrier is reached and both ops are there.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    let r = post(addr, "/v1/memory/sync/force", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let status = get(addr, "/v1/memory/sync/status").json();
    assert_eq!(status["ops"], 2, "{status}");
    assert_eq!(status["nodes"][0]["max_lamport"], 2);
    assert_eq!(status["kafka"], serde_json::json!([]));
    server.stop();
    engine.shutdown().unwrap();
}
