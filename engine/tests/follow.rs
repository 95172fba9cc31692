//! The file source with `follow`: lines appended to a growing file while the
//! engine runs become visible in the views, and snapshots report how far
//! into the file they reflect.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::rejects::RejectLog;
use helixflow_operators::rows::{ViewName, ViewPart};
use helixflow_operators::views::ViewSet;
use helixflow_sources::feed::{EpochClock, EpochPolicy};
use helixflow_types::topology::{FileSourceConfig, SourceConfig};
use std::io::Write;
use std::time::{Duration, Instant};

fn message(conv: &str, seq: u64) -> String {
    format!(
        r#"{{"type":"message","event_id":"{conv}-{seq}","ts":"2026-01-30T12:00:00Z","conversation_id":"{conv}","session_id":"s","user_id":"u","seq":{seq},"role":"user","content":"","tokens":1}}"#
    )
}

fn conversations(engine: &Engine) -> (u64, usize) {
    let snap = engine
        .shared
        .snapshot(ViewName::ConversationSnapshots, Duration::from_secs(10))
        .unwrap();
    match snap.part {
        ViewPart::Conversations(rows) => (
            snap.as_of,
            rows.iter().map(|(_, r)| r.message_count as usize).sum(),
        ),
        _ => unreachable!("asked for conversations"),
    }
}

fn wait_for(engine: &Engine, messages: usize) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (as_of, seen) = conversations(engine);
        if seen == messages {
            return as_of;
        }
        assert!(
            Instant::now() < deadline,
            "saw {seen} of {messages} messages"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn appended_lines_become_visible() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for seq in 0..10 {
        writeln!(file, "{}", message("a", seq)).unwrap();
    }
    file.flush().unwrap();
    let engine = Engine::start(EngineSpec {
        workers: 2,
        views: ViewSet::all(),
        sources: vec![SourceConfig::File(FileSourceConfig {
            name: "tail".into(),
            paths: vec![path.clone()],
            follow: true,
        })],
        epochs: EpochPolicy::Clock(EpochClock::new(Duration::from_millis(5))),
        rejects: RejectLog::default(),
        feed_capacity: 8,
        sinks: Vec::new(),
        cluster: None,
        timeouts: Default::default(),
    })
    .unwrap();
    let first = wait_for(&engine, 10);
    for seq in 10..25 {
        writeln!(file, "{}", message("b", seq)).unwrap();
    }
    writeln!(file, "{{broken").unwrap();
    file.flush().unwrap();
    let second = wait_for(&engine, 25);
    assert!(second > first, "later snapshot, later epoch");
    // Eventually the rejected line is counted, and positions reach the end of the file.
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.shared.rejects.total() == 0
        || engine.shared.feed.positions_at(u64::MAX)["tail"]["line"] != 26
    {
        assert!(
            Instant::now() < deadline,
            "rejection and position never arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    engine.shutdown().unwrap();
}
