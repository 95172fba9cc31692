//! Helpers for the tests against the real Kafka broker that
//! `scripts/services/kafka.sh` runs (scripts/test.sh starts it and exports
//! `HELIXFLOW_KAFKA_BROKERS`): fresh topics per test, producing lines,
//! topologies, and comparing an engine's views with `replay`'s files.

#![allow(dead_code)]

use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::kafka_health::lags_now;
use helixflow_engine::replay::{replay, ReplayInput, ReplaySpec};
use helixflow_operators::rows::ViewName;
use helixflow_sinks::files::write_view_file;
use helixflow_sources::kafka::produce::{Compression, EventProducer, ProduceSettings};
use helixflow_types::topology::{KafkaTopics, Topology, VIEW_NAMES};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The broker address; the tests refuse to run without a real broker.
pub fn brokers() -> String {
    std::env::var("HELIXFLOW_KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!(
            "HELIXFLOW_KAFKA_BROKERS is not set: these tests need the real broker. \
             Run scripts/test.sh, or: scripts/services/kafka.sh start && \
             export HELIXFLOW_KAFKA_BROKERS=$(scripts/services/kafka.sh status)"
        )
    })
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `names` with `partitions` each.
pub fn create_topics(names: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client");
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime
        .block_on(admin.create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Six fresh topics (3 partitions each for messages, 2 for the rest).
pub fn fresh_topics(prefix: &str) -> KafkaTopics {
    let topics = KafkaTopics::prefixed(&unique(prefix));
    create_topics(&[&topics.conversations], 3);
    create_topics(
        &[
            &topics.memory,
            &topics.entities,
            &topics.relationships,
            &topics.providers,
            &topics.debates,
        ],
        2,
    );
    topics
}

/// Sends every line with the project's producer; returns the count.
pub fn produce(topics: &KafkaTopics, lines: &[String]) -> u64 {
    let mut p = EventProducer::new(&ProduceSettings {
        brokers: brokers(),
        topics: topics.clone(),
        rate: 0,
        compression: Compression::Lz4,
    })
    .expect("producer");
    for l in lines {
        p.send(l.as_bytes()).expect("send");
    }
    let report = p.finish(Duration::from_secs(60)).expect("flush");
    assert_eq!(report.failed, 0, "every message delivered");
    report.delivered
}

/// The TOML of a topology with one Kafka source (`k`) reading `topics` as
/// `group`; `extra` adds lines to the source's table, `tail` whole tables.
pub fn kafka_topology_text(topics: &KafkaTopics, group: &str, extra: &str, tail: &str) -> String {
    format!(
        "version = 1\nname = \"kafka-test\"\n[engine]\nepoch = \"5ms\"\nstatus_interval = \"0s\"\n\
         [[sources]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = \"{}\"\ngroup_id = \"{group}\"\n\
         commit_interval = \"100ms\"\n{extra}\n{}{tail}",
        brokers(),
        topics.toml_table()
    )
}

/// A topology with one Kafka source reading `topics` as `group`.
pub fn kafka_topology(topics: &KafkaTopics, group: &str, extra: &str) -> Topology {
    Topology::parse(
        "test.toml",
        &kafka_topology_text(topics, group, extra, ""),
        |_| None,
    )
    .expect("topology")
}

/// Starts an engine on a topology's sources.
pub fn start(topology: &Topology, workers: usize) -> Engine {
    Engine::start(EngineSpec {
        workers,
        ..EngineSpec::streaming(topology)
    })
    .expect("engine starts")
}

/// Messages the views reflect, summed over every partition of the engine's
/// Kafka sources (fresh topics start at offset 0).
pub fn visible_messages(engine: &Engine) -> i64 {
    lags_now(&engine.shared, &engine.kafka)
        .iter()
        .map(|p| p.visible)
        .sum()
}

/// Waits until the views reflect `messages` messages.
pub fn wait_visible(engine: &Engine, messages: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = visible_messages(engine);
        if seen == messages as i64 {
            return;
        }
        assert!(
            seen <= messages as i64,
            "more messages visible ({seen}) than produced ({messages})"
        );
        assert!(
            Instant::now() < deadline,
            "only {seen} of {messages} messages visible after 120 s; {}",
            source_report(engine)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Each Kafka source's state and partitions (consumed, visible, committed,
/// high watermark), and the views' epoch: what a stuck wait reports.
pub fn source_report(engine: &Engine) -> String {
    let (as_of, closed) = engine.shared.complete();
    let states: Vec<String> = engine
        .kafka
        .iter()
        .map(|k| helixflow_engine::kafka_health::state(k))
        .collect();
    let partitions: Vec<String> = lags_now(&engine.shared, &engine.kafka)
        .iter()
        .map(|p| {
            format!(
                "{}/{} consumed {} visible {} committed {} high {}",
                p.topic, p.partition, p.consumed, p.visible, p.committed, p.high_watermark
            )
        })
        .collect();
    format!(
        "views at epoch {as_of} (closed: {closed}); sources: {states:?}; partitions: {partitions:?}"
    )
}

/// Every view of a running engine, rendered as `replay` writes it.
pub fn engine_views(engine: &Engine, dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in VIEW_NAMES {
        let view = ViewName::parse(name).expect("view");
        let snap = engine
            .shared
            .snapshot(view, Duration::from_secs(60))
            .expect("snapshot");
        write_view_file(dir, view, snap.part, &engine.shared.ids).expect("write");
        out.insert(
            name.to_string(),
            std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).expect("read"),
        );
    }
    out
}

/// `replay` of the lines: each view's file, plus rejected.json parsed.
pub fn replay_views(lines: &[String], dir: &Path) -> (BTreeMap<String, String>, serde_json::Value) {
    let input = dir.join("events.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write input");
    let out = dir.join("replay");
    replay(ReplaySpec {
        input: ReplayInput::Files(vec![input]),
        out: out.clone(),
        workers: 2,
        epoch_lines: 5_000,
        progress: false,
        views: helixflow_operators::views::ViewSet::all(),
        cluster: None,
        timeouts: Default::default(),
    })
    .expect("replay");
    let views = VIEW_NAMES
        .iter()
        .map(|v| {
            (
                v.to_string(),
                std::fs::read_to_string(out.join(format!("{v}.jsonl"))).expect("read"),
            )
        })
        .collect();
    let rejected = serde_json::from_str(
        &std::fs::read_to_string(out.join("rejected.json")).expect("rejected.json"),
    )
    .expect("json");
    (views, rejected)
}

/// Asserts two sets of view files are identical, naming the first difference.
pub fn assert_same_views(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>) {
    for (view, w) in want {
        let g = &got[view];
        if g != w {
            let first = g
                .lines()
                .zip(w.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("\n got  {a}\n want {b}"))
                .unwrap_or_default();
            panic!(
                "view {view} differs ({} vs {} lines){first}",
                g.lines().count(),
                w.lines().count()
            );
        }
    }
}

/// Per partition of `topics`: (topic, partition, the group's committed
/// offset or -1, the low watermark, the log end offset).
pub fn partition_offsets(topics: &[&str], group: &str) -> Vec<(String, i32, i64, i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut out = Vec::new();
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        for p in md.topics()[0].partitions() {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, p.id());
            let committed = consumer
                .committed_offsets(tpl, Duration::from_secs(10))
                .unwrap();
            let c = match committed.elements()[0].offset() {
                Offset::Offset(o) => o,
                _ => -1,
            };
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .unwrap();
            out.push((topic.to_string(), p.id(), c, low, high));
        }
    }
    out
}

/// Asserts that the group committed every partition of `topics` up to its end.
pub fn assert_committed_to_end(topics: &KafkaTopics, group: &str) {
    for (topic, partition, committed, end) in committed_and_end(&all_topics(topics), group) {
        assert_eq!(committed, end, "{topic}/{partition}: committed = end");
    }
}

/// Asserts that a running engine's views equal `replay` of `lines`.
pub fn assert_views_equal_replay(engine: &Engine, lines: &[String], dir: &Path) {
    let got = engine_views(engine, &dir.join("engine"));
    let (want, _) = replay_views(lines, dir);
    assert_same_views(&got, &want);
}

/// The group's committed offset and the log end offset of every partition.
pub fn committed_and_end(topics: &[&str], group: &str) -> Vec<(String, i32, i64, i64)> {
    partition_offsets(topics, group)
        .into_iter()
        .map(|(t, p, c, _, high)| (t, p, c, high))
        .collect()
}

#[allow(
    unused_imports,
    reason = "re-exported for the tests that use these helpers; not all need it"
)]
pub use crate::common::free_port;

/// `helixflow run TOPOLOGY` as a child process, its stderr in `log`.
pub fn spawn_engine(topology: &Path, log: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_helixflow"))
        .arg("run")
        .arg(topology)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// `/v1/health` over REST, once the API answers.
pub fn rest_health(addr: std::net::SocketAddr) -> Option<serde_json::Value> {
    let ok = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
    if !ok {
        return None;
    }
    let reply = crate::common::http::get(addr, "/v1/health");
    (reply.status == 200).then(|| serde_json::from_str(&reply.body).unwrap())
}

/// Every topic of `t`, in contract order.
pub fn all_topics(t: &KafkaTopics) -> Vec<&str> {
    t.by_kind().iter().map(|(_, n)| *n).collect()
}
