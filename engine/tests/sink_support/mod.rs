//! A database server stopped mid-run and started again, for the outage
//! tests of the sinks (`clickhouse_outage.rs`, `neo4j_outage.rs`): events
//! arrive over the real Kafka broker, the server goes away through its
//! `scripts/services/*.sh` script while more events arrive, and comes back.
//! Each test then checks its store against `replay` of every event.

#![allow(dead_code)]

use crate::kafka_support::*;
use helixflow_engine::engine::Engine;
use helixflow_sinks::runner::SinkStatus;
use helixflow_types::topology::{KafkaTopics, Topology};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `scripts/services/<name>.sh <action>`, which must succeed.
pub fn service(name: &str, action: &str) {
    // Read at run time: a shared build cache can hold a binary built elsewhere.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let script = Path::new(&manifest).join(format!("../scripts/services/{name}.sh"));
    let status = Command::new(&script)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(status.success(), "{name}.sh {action} failed");
}

/// How long the server stays down: `HELIXFLOW_OUTAGE_SECS`, default 60.
pub fn outage() -> Duration {
    let secs = std::env::var("HELIXFLOW_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// What the sink did while its server was down.
#[derive(Debug)]
pub struct OutageReport {
    /// The most changed rows held at once (backlog plus queue).
    pub peak_held: u64,
    /// Rows of the largest single change message the sink took.
    pub largest_message: u64,
    /// Messages the views reflected when the server came back, of all produced.
    pub visible_at_restart: i64,
    /// Messages produced in all.
    pub produced: u64,
    /// The slowest API read answered while the server was down.
    pub slowest_read: Duration,
}

/// Batches the second half is produced in, one every [`BATCH_GAP`]: spread
/// out, later batches find the sink's queue already full (a single burst can
/// be taken into a few epochs before any export waits, which proves nothing).
const OUTAGE_BATCHES: usize = 8;
const BATCH_GAP: Duration = Duration::from_secs(1);

/// Produces `lines` in [`OUTAGE_BATCHES`] batches, [`BATCH_GAP`] apart.
fn produce_spread(topics: &KafkaTopics, lines: &[String]) -> u64 {
    let size = lines.len().div_ceil(OUTAGE_BATCHES).max(1);
    let mut sent = 0;
    for (i, batch) in lines.chunks(size).enumerate() {
        if i > 0 {
            std::thread::sleep(BATCH_GAP);
        }
        sent += produce(topics, batch);
    }
    sent
}

/// Produces the first half of `lines`, waits until the sink holds it, stops
/// `service` for [`outage`] while the second half is produced (spread out), starts it,
/// and waits until the sink has written everything. Asserts along the way
/// that the sink reports the outage and that nothing counts as written while
/// it lasts (so Kafka commits wait), and that API reads answer at once
/// meanwhile, with health naming the sink. Returns the running engine.
pub fn run_through_outage(
    service_name: &str,
    topic_prefix: &str,
    sinks_toml: &str,
    lines: &[String],
) -> (Engine, OutageReport) {
    let topics = fresh_topics(topic_prefix);
    let (first, second) = lines.split_at(lines.len() / 2);
    let topology = Topology::parse(
        "test.toml",
        &kafka_topology_text(&topics, &unique("g"), "", sinks_toml),
        |_| None,
    )
    .expect("topology");
    let sent_first = produce(&topics, first);
    let engine = start(&topology, 2);
    let api = crate::common::serve(&engine, &topology.sources);
    wait_visible(&engine, sent_first);
    assert!(
        engine.wait_sinks_written(Duration::from_secs(120)),
        "the first half was not written: {:?}",
        engine.sinks[0].problem()
    );
    let sink: Arc<SinkStatus> = Arc::clone(&engine.sinks[0]);

    service(service_name, "stop");
    let sent_second = produce_spread(&topics, second);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.problem().is_none() {
        assert!(
            Instant::now() < deadline,
            "the sink did not notice the outage"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let written_during = sink.written_frontier();
    let mut peak_held = 0;
    let mut slowest_read = Duration::ZERO;
    let mut next_read = Instant::now();
    let until = Instant::now() + outage();
    while Instant::now() < until {
        peak_held = peak_held.max(sink.pending() + sink.queued());
        if Instant::now() >= next_read {
            let slowest = crate::common::assert_served_while_sinks_down(api.addr(), &[&sink.name]);
            slowest_read = slowest_read.max(slowest);
            next_read = Instant::now() + Duration::from_secs(5);
        }
        assert_eq!(
            sink.written_frontier(),
            written_during,
            "the written epoch moved while the server was down"
        );
        assert!(sink.problem().is_some(), "the outage is no longer reported");
        std::thread::sleep(Duration::from_millis(100));
    }
    let visible_at_restart = visible_messages(&engine);
    service(service_name, "start");

    let produced = sent_first + sent_second;
    wait_visible(&engine, produced);
    assert!(
        engine.wait_sinks_written(Duration::from_secs(180)),
        "the sink did not catch up: {:?}",
        sink.problem()
    );
    assert!(sink.problem().is_none(), "{:?}", sink.problem());
    let report = OutageReport {
        peak_held,
        largest_message: sink.largest_message(),
        visible_at_restart,
        produced,
        slowest_read,
    };
    api.stop();
    eprintln!("outage of {service_name}: {report:?}");
    (engine, report)
}

/// Asserts that backpressure reached the views while the server was down
/// (fewer messages visible at the restart than produced), and that the rows
/// held stayed within the backlog's bound and the queue's (each
/// `max_pending_rows`, each passed by at most one message).
pub fn assert_backpressure_and_bound(report: &OutageReport, max_pending_rows: u64) {
    assert!(
        report.visible_at_restart < report.produced as i64,
        "no backpressure: the views took in every message while the sink was down"
    );
    let bound = 2 * (max_pending_rows + report.largest_message);
    assert!(
        report.peak_held <= bound,
        "{} rows held while the server was down, over the bound {bound}",
        report.peak_held
    );
}

/// A query's TSV lines (tabs as spaces), through clickhouse-client.
pub fn query(query: &str) -> Vec<String> {
    let port = std::env::var("CLICKHOUSE_TCP_PORT").unwrap_or_else(|_| "9000".into());
    let out = Command::new("clickhouse-client")
        .args(["--port", &port, "--query", query])
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
