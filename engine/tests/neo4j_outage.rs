//! Neo4j stopped for a minute mid-run and started again
//! (`scripts/services/neo4j.sh stop|start`), with far more changed
//! co-occurrence pairs than the sink may hold: the sink reports the outage,
//! keeps its written epoch, holds at most `max_pending_rows` plus one
//! message while backpressure holds the dataflow back, and once the server
//! is back the graph equals `replay` of everything produced, read back over
//! Bolt. One test per file: it stops a server other tests use.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;
mod sink_support;

use common::test_lines;
use neo4rs::{query, Graph};
use sink_support::*;
use std::collections::BTreeSet;
use std::path::Path;

const MAX_PENDING_ROWS: u64 = 2_000;

fn neo4j_uri() -> String {
    std::env::var("NEO4J_URI").unwrap_or_else(|_| "bolt://127.0.0.1:7687".into())
}

/// Runs a read query; each row rendered by `row`.
fn read_graph(cypher: &str, row: impl Fn(&neo4rs::Row) -> String) -> BTreeSet<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let graph = Graph::new(neo4j_uri(), "neo4j", "").await.unwrap();
        let mut stream = graph.execute(query(cypher)).await.unwrap();
        let mut out = BTreeSet::new();
        while let Some(r) = stream.next().await.unwrap() {
            out.insert(row(&r));
        }
        out
    })
}

/// One line per row of a view file, from the given fields.
fn view_rows(file: &Path, fields: &[&str]) -> BTreeSet<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            fields
                .iter()
                .map(|f| v[*f].to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn string(r: &neo4rs::Row, k: &str) -> String {
    serde_json::Value::String(r.get::<String>(k).unwrap()).to_string()
}

#[test]
fn a_neo4j_outage_mid_run_loses_and_duplicates_nothing() {
    service("neo4j", "reset");
    let dir = tempfile::tempdir().unwrap();
    let lines = test_lines(43, 8_000);
    let sinks = format!(
        "[views]\nenabled = [\"all\"]\n[[sinks]]\nname = \"graph\"\nkind = \"neo4j\"\n\
         uri = \"{}\"\n[sinks.batching]\nbatch_rows = 1000\nflush_interval = \"50ms\"\n\
         max_pending_rows = {MAX_PENDING_ROWS}\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
        neo4j_uri()
    );
    let (engine, report) = run_through_outage("neo4j", "neoout", &sinks, &lines);
    assert_backpressure_and_bound(&report, MAX_PENDING_ROWS);

    let _ = kafka_support::replay_views(&lines, dir.path());
    let replayed = dir.path().join("replay");
    let pairs = view_rows(
        &replayed.join("entity_cooccurrence.jsonl"),
        &["a", "b", "count"],
    );
    assert!(
        pairs.len() as u64 > 4 * MAX_PENDING_ROWS,
        "too few pairs ({}) to exercise the backlog bound",
        pairs.len()
    );
    let got = read_graph(
        "MATCH (a:Entity)-[r:CO_OCCURS]->(b:Entity) RETURN a.id AS a, b.id AS b, r.count AS n",
        |r| {
            format!(
                "{} {} {}",
                string(r, "a"),
                string(r, "b"),
                r.get::<i64>("n").unwrap()
            )
        },
    );
    assert_eq!(got.len(), pairs.len(), "CO_OCCURS edges vs view rows");
    assert!(got == pairs, "CO_OCCURS edges differ from the view");

    let relationships = view_rows(
        &replayed.join("relationships.jsonl"),
        &["source_id", "target_id", "rel_type", "weight"],
    );
    let got = read_graph(
        "MATCH (a:Entity)-[r:RELATES]->(b:Entity) \
         RETURN a.id AS a, b.id AS b, r.rel_type AS t, r.weight AS w",
        |r| {
            format!(
                "{} {} {} {}",
                string(r, "a"),
                string(r, "b"),
                string(r, "t"),
                serde_json::Value::from(r.get::<f64>("w").unwrap())
            )
        },
    );
    assert!(got == relationships, "RELATES edges differ from the view");

    let entities = view_rows(
        &replayed.join("entities.jsonl"),
        &["entity_id", "name", "kind"],
    );
    let got = read_graph(
        "MATCH (e:Entity) WHERE e.event_id IS NOT NULL RETURN e.id AS id, e.name AS name, e.kind AS kind",
        |r| format!("{} {} {}", string(r, "id"), string(r, "name"), string(r, "kind")),
    );
    assert!(got == entities, "Entity nodes differ from the view");
    engine.shutdown().unwrap();
}
