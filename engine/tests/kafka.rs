//! The Kafka source against the real broker of `scripts/services/kafka.sh`:
//! views consumed from Kafka equal `replay` of the same lines; offsets are
//! committed only up to what the views hold; malformed and misrouted
//! messages are rejected, counted and dead-lettered without losing their
//! neighbours; a restart rebuilds identical views and reports the group's
//! recovery point; a consumer taken for stuck is replaced at the offsets it
//! reached, losing and repeating nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

mod common;
mod kafka_support;

use common::test_lines;
use kafka_support::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::collections::BTreeMap;
use std::time::Duration;

#[test]
fn views_from_kafka_equal_replay_and_offsets_are_committed_after_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("e2e");
    let lines = test_lines(11, 20_000);
    let sent = produce(&topics, &lines);
    assert_eq!(sent, lines.len() as u64);
    let group = unique("g");
    let engine = start(&kafka_topology(&topics, &group, ""), 2);
    wait_visible(&engine, sent);
    let got = engine_views(&engine, &dir.path().join("engine"));
    let (want, rejected) = replay_views(&lines, dir.path());
    assert_same_views(&got, &want);
    let by_reason: BTreeMap<String, u64> = engine
        .shared
        .rejects
        .by_reason()
        .into_iter()
        .map(|(r, n)| (r.to_string(), n))
        .collect();
    let want_reasons: BTreeMap<String, u64> =
        serde_json::from_value(rejected["by_reason"].clone()).unwrap();
    assert_eq!(by_reason, want_reasons, "rejections by reason");
    assert_eq!(
        engine.shared.duplicates(),
        rejected["duplicates"].as_u64().unwrap()
    );
    // Rejections are counted per topic.
    let by_source = engine.shared.rejects.by_source();
    assert!(
        by_source.contains_key(&topics.conversations),
        "{by_source:?}"
    );
    engine.shutdown().unwrap();
    // After an orderly stop, the group's offsets are the end of every partition.
    assert_committed_to_end(&topics, &group);
}

#[test]
fn a_consumer_taken_for_stuck_is_replaced_and_nothing_is_lost_or_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("stall");
    let lines = test_lines(17, 6_000);
    let (first, second) = lines.split_at(lines.len() / 2);
    let sent_first = produce(&topics, first);
    let group = unique("g");
    let engine = start(&kafka_topology(&topics, &group, ""), 2);
    wait_visible(&engine, sent_first);
    let status = std::sync::Arc::clone(&engine.kafka[0]);
    let everything: Vec<(String, i32)> = status
        .partitions()
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    // Named stuck before its partitions were silent for 10 s: kept.
    status.suspect_stalled(everything.clone());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(status.reconnects(), 0, "a consumer just read from is kept");
    // What the supervisor names after a broker restart that left the
    // consumers fetching nothing (librdkafka #5153): each thread replaces
    // its consumer once its partitions were silent for 10 s.
    std::thread::sleep(Duration::from_secs(10));
    status.suspect_stalled(everything);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while status.reconnects() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the two consumer threads did not replace their consumers: {} did",
            status.reconnects()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent_second = produce(&topics, second);
    wait_visible(&engine, sent_first + sent_second);
    assert_views_equal_replay(&engine, &lines, dir.path());
    engine.shutdown().unwrap();
    assert_committed_to_end(&topics, &group);
}

#[test]
fn malformed_and_misrouted_messages_are_rejected_counted_and_dead_lettered() {
    let topics = fresh_topics("bad");
    let dlq = unique("dlq");
    create_topics(&[&dlq], 1);
    let good = r#"{"type":"message","event_id":"m1","ts":"2026-01-30T12:00:00Z","conversation_id":"c1","session_id":"s","user_id":"u","seq":1,"role":"user","content":"hi","tokens":3}"#;
    let good2 = r#"{"type":"message","event_id":"m2","ts":"2026-01-30T12:00:01Z","conversation_id":"c1","session_id":"s","user_id":"u","seq":2,"role":"assistant","content":"yo","tokens":4}"#;
    let memory = r#"{"type":"memory","event_id":"x1","ts":"2026-01-30T12:00:00Z","op":"add","memory_id":"m","user_id":"u","node_id":"n","lamport":1,"content":"c"}"#;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    // Everything on partition 0 of the conversations topic, in this order.
    let payloads: Vec<Option<&str>> = vec![
        Some(good),
        Some("{not json"),
        Some(memory), // a memory event on the conversations topic
        None,         // a tombstone: no value at all
        Some(r#"{"type":"message"}"#),
        Some(good2),
    ];
    for p in &payloads {
        let mut r: BaseRecord<'_, str, str> =
            BaseRecord::to(&topics.conversations).partition(0).key("c1");
        if let Some(p) = p {
            r = r.payload(p);
        }
        producer.send(r).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let group = unique("g");
    let engine = start(
        &kafka_topology(&topics, &group, &format!("dead_letter_topic = \"{dlq}\"")),
        2,
    );
    wait_visible(&engine, payloads.len() as u64);
    let reasons = engine.shared.rejects.by_reason();
    assert_eq!(
        reasons["invalid_json"], 2,
        "bad JSON and the empty tombstone: {reasons:?}"
    );
    assert_eq!(reasons["wrong_topic"], 1, "{reasons:?}");
    assert_eq!(reasons["missing_field"], 1, "{reasons:?}");
    assert_eq!(engine.shared.rejects.total(), 4);
    assert_eq!(
        engine
            .shared
            .valid
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let last = engine.shared.rejects.last();
    assert!(
        last.iter()
            .any(|r| r.at == format!("{}/0@2", topics.conversations) && r.reason == "wrong_topic"),
        "{last:?}"
    );
    // Both valid neighbours made it into the view.
    let snap = engine
        .shared
        .snapshot(
            helixflow_operators::rows::ViewName::ConversationSnapshots,
            Duration::from_secs(10),
        )
        .unwrap();
    match snap.part {
        helixflow_operators::rows::ViewPart::Conversations(rows) => {
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].1.message_count, 2);
        }
        _ => unreachable!(),
    }
    engine.shutdown().unwrap();
    // The dead-letter topic holds the four rejects, in order, with reasons.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&dlq]).unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 4 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers: BTreeMap<String, String> = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            (
                                x.key.to_owned(),
                                String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            seen.push((
                headers["helixflow.reason"].clone(),
                headers["helixflow.offset"].clone(),
                m.payload().map(|p| String::from_utf8_lossy(p).into_owned()),
            ));
        }
    }
    assert_eq!(
        seen,
        vec![
            ("invalid_json".into(), "1".into(), Some("{not json".into())),
            ("wrong_topic".into(), "2".into(), Some(memory.into())),
            // A message without a value is forwarded with an empty one.
            ("invalid_json".into(), "3".into(), Some(String::new())),
            (
                "missing_field".into(),
                "4".into(),
                Some(r#"{"type":"message"}"#.into())
            ),
        ]
    );
}

#[test]
fn a_restart_rebuilds_the_same_views_and_reports_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let topics = fresh_topics("restart");
    let lines = test_lines(12, 12_000);
    let (first, second) = lines.split_at(lines.len() / 2);
    let group = unique("g");
    let topology = kafka_topology(&topics, &group, "");

    let sent_first = produce(&topics, first);
    let engine = start(&topology, 2);
    wait_visible(&engine, sent_first);
    engine.shutdown().unwrap();
    let committed_first: i64 = committed_and_end(&all_topics(&topics), &group)
        .iter()
        .map(|(_, _, c, _)| *c)
        .sum();
    assert_eq!(committed_first, sent_first as i64);

    let sent_second = produce(&topics, second);
    let engine = start(&topology, 3);
    wait_visible(&engine, sent_first + sent_second);
    let status = &engine.kafka[0];
    let recovery: i64 = status
        .partitions()
        .iter()
        .map(|p| p.recovery_point.max(0))
        .sum();
    assert_eq!(
        recovery, sent_first as i64,
        "recovery point = the first run's commits"
    );
    assert!(!status.rebuilding());
    assert_views_equal_replay(&engine, &lines, dir.path());
    engine.shutdown().unwrap();
}

#[test]
fn a_missing_topic_stops_the_source_with_a_precise_error() {
    let mut topics = fresh_topics("missing");
    topics.debates = unique("no-such-topic");
    let mut engine = start(&kafka_topology(&topics, &unique("g"), ""), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let error = loop {
        if let Some(e) = engine.source_error() {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "no error reported");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        error.contains(&topics.debates)
            && error.contains("does not exist")
            && error.contains("debate_round"),
        "{error}"
    );
    // The failed source has been joined above; stopping the rest is clean.
    engine.shutdown().unwrap();
}
