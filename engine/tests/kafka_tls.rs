//! The Kafka source over TLS with SCRAM logins, against the real broker's
//! SASL_SSL listener (`scripts/services/kafka.sh tls-env` names it, its CA
//! and its test user): the views read over it equal `replay`'s and every
//! offset is committed; a wrong password consumes nothing, commits nothing
//! and says why; a broker certificate the CA did not sign is refused.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;

use common::test_lines;
use helixflow_types::topology::{KafkaTopics, Topology};
use kafka_support::*;
use std::time::{Duration, Instant};

/// A variable `kafka.sh tls-env` exports; the test refuses to run without it.
fn tls_env(name: &str) -> String {
    common::required_env(
        name,
        "these tests need the broker's SASL_SSL listener. \
             Run scripts/test.sh, or: eval \"$(scripts/services/kafka.sh tls-env)\"",
    )
}

/// A topology reading `topics` over the SASL_SSL listener with SCRAM-SHA-512,
/// trusting `ca`; the credentials come from `password` through the
/// environment lookup, as the engine reads them at load.
fn tls_topology(topics: &KafkaTopics, group: &str, ca: &str, password: &str) -> Topology {
    let text = kafka_topology_text(
        topics,
        group,
        "",
        &format!(
            "[sources.security]\nprotocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nca_file = {ca:?}\n"
        ),
    )
    .replace(
        &format!("brokers = \"{}\"", brokers()),
        &format!("brokers = \"{}\"", tls_env("HELIXFLOW_KAFKA_TLS_BROKERS")),
    );
    let user = tls_env("HELIXFLOW_KAFKA_SCRAM_USER");
    let password = password.to_owned();
    Topology::parse("tls.toml", &text, move |name| match name {
        "KAFKA_USERNAME" => Some(user.clone()),
        "KAFKA_PASSWORD" => Some(password.clone()),
        _ => None,
    })
    .unwrap()
}

#[test]
fn views_over_tls_and_scram_equal_replay_and_every_offset_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("tls");
    let lines = test_lines(23, 5_000);
    let sent = produce(&topics, &lines);
    let group = unique("g-tls");
    let ca = tls_env("HELIXFLOW_KAFKA_CA_FILE");
    let engine = start(
        &tls_topology(
            &topics,
            &group,
            &ca,
            &tls_env("HELIXFLOW_KAFKA_SCRAM_PASSWORD"),
        ),
        2,
    );
    wait_visible(&engine, sent);
    assert_views_equal_replay(&engine, &lines, dir.path());
    engine.shutdown().unwrap();
    assert_committed_to_end(&topics, &group);
}

/// Waits until the source's state names `what`, then checks that nothing
/// was consumed or committed.
fn assert_refused(topology: &Topology, topics: &KafkaTopics, group: &str, what: &str) {
    let engine = start(topology, 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = helixflow_engine::kafka_health::state(&engine.kafka[0]);
        if state.contains(what) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the source never said `{what}`; its state: {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(visible_messages(&engine), 0, "nothing consumed");
    engine.shutdown().unwrap();
    for (topic, partition, committed, _) in committed_and_end(&all_topics(topics), group) {
        assert!(
            committed < 0,
            "{topic}/{partition}: nothing committed, got {committed}"
        );
    }
}

#[test]
fn a_wrong_password_consumes_and_commits_nothing_and_says_why() {
    let topics = fresh_topics("tls-bad");
    produce(&topics, &test_lines(24, 200));
    let group = unique("g-bad");
    let ca = tls_env("HELIXFLOW_KAFKA_CA_FILE");
    let topology = tls_topology(&topics, &group, &ca, "not-the-password");
    assert_refused(&topology, &topics, &group, "Authentication failed");
}

#[test]
fn a_broker_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = common::foreign_ca(dir.path());
    let topics = fresh_topics("tls-ca");
    produce(&topics, &test_lines(25, 200));
    let group = unique("g-ca");
    let topology = tls_topology(
        &topics,
        &group,
        &other.display().to_string(),
        &tls_env("HELIXFLOW_KAFKA_SCRAM_PASSWORD"),
    );
    assert_refused(&topology, &topics, &group, "certificate verify failed");
}
