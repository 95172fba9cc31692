//! `kill -9` of the engine process at random moments while events stream
//! into Kafka, then a restart: the views served over REST once the lag is
//! zero equal `replay` of the same events — nothing lost, nothing counted
//! twice — and the group's committed offsets never run ahead of the input.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;

use common::http::get;
use common::test_lines;
use kafka_support::*;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[test]
fn kill_9_during_ingestion_then_restart_gives_the_uninterrupted_views() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("kill");
    let group = unique("g");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let file = dir.path().join("kill.toml");
    let text = kafka_topology_text(&topics, &group, "", &format!("[api]\nbind = \"{addr}\"\n"));
    std::fs::write(&file, text).unwrap();

    let lines = test_lines(21, 30_000);
    let producer = {
        let topics = topics.clone();
        let lines = lines.clone();
        std::thread::spawn(move || {
            // Produced in slices, so that kills land while data streams in.
            let mut sent = 0;
            for slice in lines.chunks(2_000) {
                sent += produce(&topics, slice);
                std::thread::sleep(Duration::from_millis(150));
            }
            sent
        })
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x9d);
    let mut engine = spawn_engine(&file, &dir.path().join("run-0.log"));
    for round in 1..=4 {
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1_200)));
        engine.kill().unwrap(); // SIGKILL
        engine.wait().unwrap();
        engine = spawn_engine(&file, &dir.path().join(format!("run-{round}.log")));
    }
    let sent = producer.join().unwrap();
    assert_eq!(sent, lines.len() as u64);

    // Wait until the last engine reflects every message.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(h) = rest_health(addr) {
            let k = &h["kafka"][0];
            let visible: i64 = k["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["visible"].as_i64().unwrap())
                .sum();
            if visible == sent as i64 && k["lag"] == 0 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the restarted engine did not catch up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (want, rejected) = replay_views(&lines, dir.path());
    for (view, expected) in &want {
        let reply = get(addr, &format!("/v1/views/{view}"));
        assert_eq!(reply.status, 200, "{view}");
        if &reply.body != expected {
            assert_same_views(
                &[(view.clone(), reply.body.clone())].into_iter().collect(),
                &[(view.clone(), expected.clone())].into_iter().collect(),
            );
        }
    }
    let h = rest_health(addr).unwrap();
    assert_eq!(h["rejected"]["total"], rejected["total"]);
    assert_eq!(h["duplicates"], rejected["duplicates"]);
    // Commits follow the views: never past what they reflect, and caught up
    // with them soon after the input stops.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = rest_health(addr).unwrap();
        let parts = h["kafka"][0]["partitions"].as_array().unwrap().clone();
        for p in &parts {
            assert!(
                p["committed"].as_i64().unwrap() <= p["visible"].as_i64().unwrap(),
                "committed past the views: {p}"
            );
        }
        if parts.iter().all(|p| p["committed"] == p["visible"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "commits did not catch up: {parts:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    engine.kill().unwrap();
    engine.wait().unwrap();
}
