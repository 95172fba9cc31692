//! The database sinks over TLS, against the real servers' TLS ports
//! (`scripts/services/clickhouse.sh tls-env` and `neo4j.sh tls-env` name
//! them and the project's test CA): ClickHouse over HTTPS with a password
//! user, Neo4j over `bolt+s`, both trusting the CA the topology names and
//! reading credentials from variables it names. A run's tables and graph
//! hold what `replay` computes; a wrong password and a CA that did not sign
//! the server's certificate are reported by the sink, naming why.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;
mod sink_support;

use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_types::topology::Topology;
use kafka_support::unique;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A variable the services' `tls-env` export; the test refuses to run without it.
fn tls_env(name: &str) -> String {
    common::required_env(
        name,
        "these tests need the servers' TLS ports. Run scripts/test.sh, or: \
             eval \"$(scripts/services/clickhouse.sh tls-env)\"; eval \"$(scripts/services/neo4j.sh tls-env)\"",
    )
}

/// A topology reading `input` into a ClickHouse sink over HTTPS (database
/// `database`, credentials from the variables named, trusting `ca`) and a
/// Neo4j sink over bolt+s trusting `neo4j_ca`.
fn topology(input: &Path, database: &str, password_env: &str, ca: &str, neo4j_ca: &str) -> String {
    format!(
        "version = 1\nname = \"sinks-tls\"\n[engine]\nepoch = \"5ms\"\nstatus_interval = \"0s\"\n\
         [[sources]]\nname = \"events\"\nkind = \"file\"\npaths = [{input:?}]\n[views]\nenabled = [\"all\"]\n\
         [[sinks]]\nname = \"analytics\"\nkind = \"clickhouse\"\nurl = {url:?}\ndatabase = {database:?}\n\
         user_env = \"HELIXFLOW_CLICKHOUSE_TLS_USER\"\npassword_env = {password_env:?}\nca_file = {ca:?}\nraw_events = []\n\
         [sinks.batching]\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\n\
         [[sinks]]\nname = \"graph\"\nkind = \"neo4j\"\nuri = {uri:?}\nca_file = {neo4j_ca:?}\n\
         [sinks.batching]\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\n\
         [api]\nenabled = false\n",
        input = input.display().to_string(),
        url = tls_env("HELIXFLOW_CLICKHOUSE_HTTPS_URL"),
        uri = tls_env("HELIXFLOW_NEO4J_TLS_URI"),
    )
}

/// One number a plain (TCP, default user) ClickHouse client answers.
fn clickhouse_count(query: &str) -> u64 {
    sink_support::query(query)[0].trim().parse().unwrap()
}

/// One number Neo4j answers over plain Bolt.
fn neo4j_count(cypher: &str) -> i64 {
    let uri = std::env::var("NEO4J_URI").unwrap_or_else(|_| "bolt://127.0.0.1:7687".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let graph = neo4rs::Graph::new(uri.trim_start_matches("bolt://"), "neo4j", "")
            .await
            .unwrap();
        let mut rows = graph.execute(neo4rs::query(cypher)).await.unwrap();
        let row = rows.next().await.unwrap().unwrap();
        row.get::<i64>("n").unwrap()
    })
}

fn lines_of(file: &Path) -> u64 {
    std::fs::read_to_string(file).unwrap().lines().count() as u64
}

#[test]
fn clickhouse_over_https_and_neo4j_over_bolt_s_hold_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    let lines = common::test_lines(31, 3_000);
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    sink_support::service("neo4j", "reset");
    let database = unique("tls").replace('-', "_");
    let file = dir.path().join("tls.toml");
    let ca = tls_env("HELIXFLOW_CLICKHOUSE_CA_FILE");
    std::fs::write(
        &file,
        topology(
            &input,
            &database,
            "HELIXFLOW_CLICKHOUSE_TLS_PASSWORD",
            &ca,
            &ca,
        ),
    )
    .unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_helixflow"))
        .args(["run", "--exit-when-done"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = dir.path().join("replay");
    let replay = Command::new(env!("CARGO_BIN_EXE_helixflow"))
        .args(["replay", "--quiet", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(
        clickhouse_count(&format!(
            "SELECT count() FROM (SELECT * FROM {database}.conversation_snapshots FINAL) WHERE _deleted = 0"
        )),
        lines_of(&out.join("conversation_snapshots.jsonl")),
        "ClickHouse over HTTPS holds every conversation snapshot"
    );
    assert_eq!(
        neo4j_count("MATCH ()-[r:CO_OCCURS]->() RETURN count(r) AS n") as u64,
        lines_of(&out.join("entity_cooccurrence.jsonl")),
        "Neo4j over bolt+s holds every co-occurrence pair"
    );
    assert_eq!(
        neo4j_count("MATCH ()-[r:RELATES]->() RETURN count(r) AS n") as u64,
        lines_of(&out.join("relationships.jsonl")),
        "Neo4j over bolt+s holds every relationship"
    );
}

#[test]
fn a_wrong_password_and_a_foreign_ca_are_reported_by_the_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, common::test_lines(32, 200).join("\n") + "\n").unwrap();
    let other = common::foreign_ca(dir.path());
    for (password_env, ca, clickhouse_says, neo4j_says) in [
        // A variable that holds another value than the user's password.
        (
            "HELIXFLOW_CLICKHOUSE_TLS_USER",
            tls_env("HELIXFLOW_CLICKHOUSE_CA_FILE"),
            "Wrong password",
            "certificate",
        ),
        (
            "HELIXFLOW_CLICKHOUSE_TLS_PASSWORD",
            other.display().to_string(),
            "certificate",
            "certificate",
        ),
    ] {
        // Neo4j always distrusts its server here: this test never writes the
        // graph the other one checks.
        let foreign = other.display().to_string();
        let text = topology(
            &input,
            &unique("tlsbad").replace('-', "_"),
            password_env,
            &ca,
            &foreign,
        );
        let topology = Topology::parse("tls-bad.toml", &text, |n| std::env::var(n).ok()).unwrap();
        let engine = Engine::start(EngineSpec {
            workers: 1,
            ..EngineSpec::streaming(&topology)
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        for (sink, says) in engine.sinks.iter().zip([clickhouse_says, neo4j_says]) {
            if says.is_empty() {
                continue;
            }
            loop {
                let problem = sink.problem().unwrap_or_default();
                if problem.contains(says) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "sink {} never said `{says}` ({password_env}, CA {ca}); its problem: {problem:?}",
                    sink.name
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(
                sink.written_frontier(),
                0,
                "sink {}: nothing written",
                sink.name
            );
        }
        engine.shutdown().unwrap();
    }
}
