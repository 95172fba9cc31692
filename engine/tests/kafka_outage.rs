//! The broker stopped and started again mid-run (with
//! `scripts/services/kafka.sh stop|start`): the engine says it is waiting
//! for the brokers, retries, resumes by itself, and its views end equal to
//! `replay` of everything produced. This file holds one test only, since it
//! stops the broker every other Kafka test uses (test files run one by one).

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

fn kafka_sh(action: &str) {
    // Read at run time: a build cache shared between checkouts can hold a
    // test binary compiled in another directory.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let script = Path::new(&manifest).join("../scripts/services/kafka.sh");
    let status = Command::new(&script).arg(action).status().unwrap();
    assert!(status.success(), "kafka.sh {action} failed");
}

#[test]
fn a_broker_outage_mid_run_is_waited_out_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("outage");
    let lines = test_lines(31, 10_000);
    let (first, second) = lines.split_at(lines.len() / 2);
    let sent_first = produce(&topics, first);
    let engine = start(&kafka_topology(&topics, &unique("g"), ""), 2);
    wait_visible(&engine, sent_first);

    kafka_sh("stop");
    let status = std::sync::Arc::clone(&engine.kafka[0]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let problem = loop {
        if let Some(p) = status.broker_problem() {
            break p;
        }
        if Instant::now() > deadline {
            kafka_sh("start");
            panic!("the engine did not notice the broker going away");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(problem.starts_with("waiting for brokers"), "{problem}");
    std::thread::sleep(Duration::from_secs(3));
    kafka_sh("start");

    let sent_second = produce(&topics, second);
    wait_visible(&engine, sent_first + sent_second);
    let deadline = Instant::now() + Duration::from_secs(60);
    while status.broker_problem().is_some() {
        assert!(
            Instant::now() < deadline,
            "still waiting for brokers after they came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_views_equal_replay(&engine, &lines, dir.path());
    engine.shutdown().unwrap();
}
