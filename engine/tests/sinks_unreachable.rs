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
use helixflow_api::server::ApiServer;
use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::run::EngineReader;
use helixflow_operators::views::ViewSet;
use helixflow_types::topology::Topology;
use std::sync::Arc;
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
    let reader = EngineReader::new(
        Arc::clone(&engine.shared),
        engine.kafka.clone(),
        ViewSet::all(),
        "unreachable",
    )
    .with_sync(&topology.sources, engine.sinks.clone())
    .unwrap();
    let server = ApiServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(reader)).unwrap();
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

    for target in [
        "/v1/views/entities?limit=5",
        "/v1/views/provider_stats",
        "/v1/learning/insights",
        "/v1/memory/sync/status",
        "/v1/knowledge/related/nobody",
    ] {
        let started = Instant::now();
        let reply = get(addr, target);
        let took = started.elapsed();
        assert!(
            reply.status < 500,
            "{target}: {} {}",
            reply.status,
            reply.body
        );
        assert!(took < Duration::from_secs(1), "{target} took {took:?}");
    }
    for (target, list) in [
        ("/v1/bigdata/health", "components"),
        ("/v1/health", "sinks"),
    ] {
        let reply = get(addr, target);
        assert_eq!(reply.status, 200, "{target}: degraded is not down");
        let health = reply.json();
        assert_eq!(health["status"], "degraded", "{target}: {health}");
        for sink in ["analytics", "graph"] {
            let named = health[list].as_array().unwrap().iter().any(|c| {
                c["name"] == sink
                    && c["state"] == "degraded"
                    && c["figures"]["failing_since"].is_string()
                    && c["figures"]["rows_held"].is_u64()
            });
            assert!(named, "{target} does not name `{sink}` degraded: {health}");
        }
    }
    server.stop();
    engine.shutdown().unwrap();
}
