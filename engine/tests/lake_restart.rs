//! Restart from the lake against the real broker: events stream into Kafka
//! while the engine (with a lake sink) is `kill -9`ed at random moments,
//! one kill aimed inside a lake commit (files written, manifest not yet);
//! then Kafka's own DeleteRecordsCommand deletes every record before the
//! group's committed offsets (as retention would), more events are
//! produced, and the engine restarts. Its views over REST equal `replay`
//! of every event produced — what Kafka no longer holds came from the lake,
//! nothing counted twice — and the lake holds each distinct event once.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;

use common::http::get;
use common::test_lines;
use helixflow_sinks::lake::layout::{self, Entry};
use helixflow_sinks::lake::{LakeReader, Location};
use helixflow_types::decode::decode_event;
use kafka_support::*;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// True while a data file newer than the latest manifest is in the lake:
/// a commit is between its files and its manifest.
fn mid_commit(lake: &Path) -> bool {
    let mut latest = 0;
    let mut newest_data = 0;
    for entry in common::files_under(lake) {
        match layout::classify(&entry) {
            Entry::Manifest(n) => latest = latest.max(n),
            Entry::Data(d) => newest_data = newest_data.max(d.commit),
            _ => {}
        }
    }
    newest_data > latest
}

/// Waits until the engine at `addr` reflects `messages` with no lag.
fn wait_caught_up(addr: SocketAddr, messages: u64, what: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(h) = rest_health(addr) {
            let k = &h["kafka"][0];
            let visible: i64 = k["partitions"]
                .as_array()
                .map(|ps| ps.iter().map(|p| p["visible"].as_i64().unwrap_or(0)).sum())
                .unwrap_or(0);
            if visible == messages as i64 && k["lag"] == 0 && h["status"] != "restoring" {
                return h;
            }
        }
        assert!(Instant::now() < deadline, "{what}: did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_restart_after_kafka_deleted_the_committed_records_restores_them_from_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let topics = fresh_topics("lake");
    let group = unique("g");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let file = dir.path().join("lake.toml");
    let tail = format!(
        "[[sinks]]\nname = \"lake\"\nkind = \"lake\"\nlocation = \"{}\"\ncommit_interval = \"150ms\"\n\
         [api]\nbind = \"{addr}\"\n",
        lake.display()
    );
    std::fs::write(&file, kafka_topology_text(&topics, &group, "", &tail)).unwrap();

    let lines = test_lines(23, 24_000);
    let (first, second) = lines.split_at(16_000);
    let producer = {
        let topics = topics.clone();
        let first = first.to_vec();
        std::thread::spawn(move || {
            let mut sent = 0;
            for slice in first.chunks(1_000) {
                sent += produce(&topics, slice);
                std::thread::sleep(Duration::from_millis(120));
            }
            sent
        })
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1a4e);
    let mut engine = spawn_engine(&file, &dir.path().join("run-0.log"));
    let mut killed_mid_commit = 0;
    for round in 1..=4 {
        std::thread::sleep(Duration::from_millis(rng.gen_range(400..1_200)));
        if round == 2 {
            // Aim this kill inside a commit: files there, manifest not yet.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !mid_commit(&lake) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(300));
            }
            killed_mid_commit += usize::from(mid_commit(&lake));
        }
        engine.kill().unwrap(); // SIGKILL
        engine.wait().unwrap();
        engine = spawn_engine(&file, &dir.path().join(format!("run-{round}.log")));
    }
    let sent_first = producer.join().unwrap();
    assert_eq!(sent_first, first.len() as u64);
    wait_caught_up(addr, sent_first, "before the deletion");
    // Every offset committed: the lake has committed everything before it.
    let names: Vec<&str> = topics.by_kind().iter().map(|(_, t)| *t).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        let c = committed_and_end(&names, &group);
        if c.iter().all(|(_, _, committed, end)| committed == end) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "offsets not all committed: {c:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    engine.kill().unwrap();
    engine.wait().unwrap();

    // Retention: delete every record before the committed offsets.
    let offsets = serde_json::json!({
        "partitions": committed.iter().map(|(topic, partition, offset, _)| serde_json::json!({
            "topic": topic, "partition": partition, "offset": offset
        })).collect::<Vec<_>>(),
        "version": 1
    });
    let offsets_file = dir.path().join("delete.json");
    std::fs::write(&offsets_file, offsets.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services/kafka.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("delete-records")
        .arg(&offsets_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "delete-records failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let low: Vec<(String, i32, i64)> = partition_offsets(&names, &group)
        .into_iter()
        .map(|(t, p, _, low, _)| (t, p, low))
        .collect();
    assert!(
        committed
            .iter()
            .all(|(t, p, c, _)| low.contains(&(t.clone(), *p, *c))),
        "the broker still holds records before the committed offsets: {low:?}"
    );

    let sent_second = produce(&topics, second);
    let mut engine = spawn_engine(&file, &dir.path().join("run-restart.log"));
    let h = wait_caught_up(addr, sent_first + sent_second, "after the restart");
    let restart_log = std::fs::read_to_string(dir.path().join("run-restart.log")).unwrap();
    assert!(
        restart_log.contains("restoring") && restart_log.contains("resume where it left off"),
        "{restart_log}"
    );
    let (want, _) = replay_views(&lines, dir.path());
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
    assert_eq!(h["restore"]["done"], true, "{h}");
    engine.kill().unwrap();
    engine.wait().unwrap();

    // The lake: every distinct valid event, each payload once; a key has a
    // second row only where a conflicting copy replaced the first (the
    // manifest counts those).
    let reader = LakeReader::open(&Location::Local(lake.clone()), &Default::default()).unwrap();
    let mut keys = HashSet::new();
    let mut payloads = HashSet::new();
    let mut rows = 0u64;
    for f in reader.files(None, None) {
        rows += reader
            .read(f, |events| {
                for (fp, e) in events {
                    assert!(payloads.insert((e.key_digest(), fp)), "stored twice: {e:?}");
                    keys.insert(e.key_digest());
                }
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(
        rows - keys.len() as u64,
        reader.manifest().replaced,
        "rows beyond one per key are the replaced ones"
    );
    let distinct: HashSet<_> = lines
        .iter()
        .filter_map(|l| decode_event(l.as_bytes()).ok())
        .map(|e| e.key_digest())
        .collect();
    assert_eq!(keys, distinct, "the lake holds every distinct valid event");
    eprintln!(
        "lake restart: {} + {} messages, {killed_mid_commit} of 1 aimed kills landed inside a commit, \
         lake at commit {} with {rows} events ({} replaced) in {} files",
        sent_first,
        sent_second,
        reader.manifest().commit,
        reader.manifest().replaced,
        reader.manifest().files.len()
    );
}
