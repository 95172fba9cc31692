//! Both database sinks unreachable from the start (a ClickHouse URL and a
//! Bolt address where nothing listens), far more input than they may hold:
//! ingestion is held back, and meanwhile every read answers at once and
//! both health routes are `degraded`, naming both sinks. (The outage tests
//! stop real servers mid-run and check the stores catch up afterwards.)

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;

use common::http::get;
use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_types::topology::Topology;
use std::time::{Duration, Instant};

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn reads_answer_and_health_names_both_sinks_while_neither_is_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, common::test_lines(17, 8000).join("\n") + "\n").unwrap();
    let text = format!(
        "version = 1\nname = \"unreachable\"\n[engine]\nepoch = \"5ms\"\nstatus_interval = \"0s\"\n\
         [[sources]]\nname = \"events\"\nkind = \"file\"\npaths = [{:?}]\n[views]\nenabled = [\"all\"]\n\
         [[sinks]]\nname = \"analytics\"\nkind = \"clickhouse\"\nurl = \"http://127.0.0.1:{}\"\n\
         [sinks.batching]\nbatch_rows = 100\nmax_pending_rows = 500\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\n\
         [[sinks]]\nname = \"graph\"\nkind = \"neo4j\"\nuri = \"bolt://127.0.0.1:{}\"\n\
         [sinks.batching]\nbatch_rows = 100\nmax_pending_rows = 500\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\n",
        input.display().to_string(),
        closed_port(),
        closed_port()
    );
    let topology = Topology::parse("unreachable.toml", &text, |_| None).unwrap();
    let engine = Engine::start(EngineSpec {
        workers: 2,
        ..EngineSpec::streaming(&topology)
    })
    .unwrap();
    let server = common::serve(&engine, &topology.sources);
    let addr = server.addr();

    // Held back: both sinks failing, rows held, the input not all in.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let failing = engine.sinks.iter().all(|s| s.problem().is_some());
        // One full queue holds the workers back: the other sink may get nothing.
        let held = engine.sinks.iter().any(|s| s.pending() + s.queued() > 0);
        if failing && held {
            break;
        }
        let state: Vec<_> = engine
            .sinks
            .iter()
            .map(|s| (s.name.clone(), s.problem(), s.pending(), s.queued()))
            .collect();
        assert!(
            Instant::now() < deadline,
            "the sinks never failed and held rows: {state:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let health = get(addr, "/v1/health").json();
    assert_eq!(health["all_input_done"], false, "ingestion is held back");

    common::assert_served_while_sinks_down(addr, &["analytics", "graph"]);
    server.stop();
    engine.shutdown().unwrap();
}
