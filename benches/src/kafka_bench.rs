//! kafka-bench: Helixflow's end-to-end rate from a real Kafka broker (every
//! view on) beside the raw rate of consuming the same topics with rdkafka
//! alone, in the same run on the same broker; then event-to-visible latency
//! at a steady produce rate.
//!
//! 1. Generates N events (the core's generator) and produces them to fresh
//!    topics shaped like the contract's (4 partitions for messages, 2 for the
//!    others) with the project's producer.
//! 2. Raw: one rdkafka consumer reads every partition from the beginning
//!    until it has N messages (payload bytes are summed, so they are touched);
//!    `--raw-runs` passes (default 3), the median reported.
//! 3. Helixflow: an engine with a Kafka source (one consumer thread per
//!    worker) and every view, timed until the views reflect all N messages.
//! 4. Latency: an engine runs while events are produced at a steady rate;
//!    each message's send time is matched with the moment the views first
//!    reflect its offset (polled every 1 ms from the positions the REST API
//!    reports) — p50/p99 of event-to-visible.
//!
//! Needs a broker: `scripts/services/kafka.sh start`. Run:
//! `cargo run --release -p helixflow-benches --bin kafka-bench -- --events 1000000`

#[path = "support_topics.rs"]
mod support_topics;

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::kafka_health::lags_now;
use helixflow_engine::shared::Shared;
use helixflow_engine::traffic_args::TrafficArgs;
use helixflow_sources::generator::{Generator, GeneratorSettings, TrafficShape};
use helixflow_sources::kafka::produce::{route, Compression, EventProducer, ProduceSettings};
use helixflow_sources::kafka::KafkaStatus;
use helixflow_types::event::EventKind;
use helixflow_types::topology::{KafkaTopics, Topology};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support_topics::fresh_topics;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Helixflow from Kafka vs raw rdkafka consume, and event-to-visible latency")]
struct Args {
    /// Brokers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Events for the throughput comparison.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    #[command(flatten)]
    traffic: TrafficArgs,
    /// Worker threads of the engine.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Steady produce rate for the latency run (events/s).
    #[arg(long, default_value_t = 20_000)]
    latency_rate: u64,
    /// Seconds of the latency run.
    #[arg(long, default_value_t = 15)]
    latency_seconds: u64,
    /// The engine's epoch (how often new input becomes visible).
    #[arg(long, default_value = "5ms")]
    epoch: String,
    /// Passes of the raw consume (the median is reported).
    #[arg(long, default_value_t = 3)]
    raw_runs: usize,
    /// Skip the latency run.
    #[arg(long)]
    no_latency: bool,
    /// Only the latency run.
    #[arg(long, conflicts_with = "no_latency")]
    latency_only: bool,
    /// Extra settings of the engine's Kafka source, as TOML lines
    /// (repeatable), e.g. `consumers = 1` or `options = { "fetch.min.bytes" = "65536" }`.
    #[arg(long = "source-setting")]
    source_settings: Vec<String>,
    /// Views the engine computes (comma-separated names, or `all`).
    #[arg(long, default_value = "all")]
    views: String,
    /// Where to write the latency run's timeline as TSV (ms since start,
    /// offsets sealed, offsets visible), to see when the views stall.
    #[arg(long)]
    timeline: Option<std::path::PathBuf>,
    /// Where to write the figures as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn topology(args: &Args, topics: &KafkaTopics) -> anyhow::Result<Topology> {
    let (brokers, workers, epoch) = (&args.brokers, args.workers, &args.epoch);
    let views = args
        .views
        .split(',')
        .map(|v| format!("\"{}\"", v.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "version = 1\n[engine]\nworkers = {workers}\nepoch = \"{epoch}\"\n[views]\nenabled = [{views}]\n\
         [[sources]]\nname = \"k\"\nkind = \"kafka\"\n\
         brokers = \"{brokers}\"\ngroup_id = \"bench-{}\"\n{}\n{}",
        std::process::id(),
        args.source_settings.join("\n"),
        topics.toml_table()
    );
    Ok(Topology::parse("bench.toml", &text, |_| None)?)
}

fn start(t: &Topology) -> anyhow::Result<Engine> {
    Ok(Engine::start(EngineSpec::streaming(t))?)
}

/// Per partition, a next offset.
type Offsets = HashMap<(String, i32), i64>;
/// Where the engine is, per partition.
#[derive(Clone, Default, PartialEq)]
struct Positions {
    /// The next offsets the views reflect.
    visible: Offsets,
    /// The next offsets the source has sealed into an epoch.
    sealed: Offsets,
}
/// Sampled positions at each change.
type Timeline = Vec<(Instant, Positions)>;

/// Where an engine is now.
fn positions(shared: &Shared, kafka: &[Arc<KafkaStatus>]) -> Positions {
    let (visible, sealed) = lags_now(shared, kafka)
        .into_iter()
        .map(|p| {
            (
                ((p.topic.clone(), p.partition), p.visible),
                ((p.topic, p.partition), p.consumed),
            )
        })
        .unzip();
    Positions { visible, sealed }
}

/// Latency histogram (µs) of acknowledged messages: each one's send time
/// against the first sampled moment `offsets_of` shows its offset passed.
/// Also returns how many were never seen.
fn first_seen(
    acks: &[(String, i32, i64, Instant)],
    timeline: &Timeline,
    offsets_of: impl Fn(&Positions) -> &Offsets,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut missing = 0u64;
    for (topic, partition, offset, sent) in acks {
        let key = (topic.clone(), *partition);
        // Offsets only grow along the timeline.
        let passed = |v: &Positions| offsets_of(v).get(&key).is_some_and(|o| *o > *offset);
        let first = timeline.partition_point(|(_, v)| !passed(v));
        let seen = timeline.get(first).map(|(t, _)| *t);
        match seen {
            Some(t) => h.saturating_record(t.saturating_duration_since(*sent).as_micros() as u64),
            None => missing += 1,
        }
    }
    Ok((h, missing))
}

fn raw_consume(brokers: &str, topics: &KafkaTopics, expected: u64) -> anyhow::Result<(f64, u64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("raw-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for (_, topic) in topics.by_kind() {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for p in md.topics()[0].partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    while n < expected {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            bytes += m
                .payload()
                .map_or(0, |p| p.iter().map(|b| u64::from(*b)).sum::<u64>());
            n += 1;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "raw consume stalled at {n}"
        );
    }
    Ok((started.elapsed().as_secs_f64(), bytes))
}

/// Records (topic, partition, offset, sent at) of each acknowledged message.
struct Acks(Mutex<Vec<(String, i32, i64, Instant)>>);
impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = Box<Instant>;
    fn delivery(&self, r: &DeliveryResult<'_>, sent: Box<Instant>) {
        if let Ok(m) = r {
            if let Ok(mut v) = self.0.lock() {
                v.push((m.topic().to_owned(), m.partition(), m.offset(), *sent));
            }
        }
    }
}

/// The latency run's messages, generated and routed before the clock
/// starts so that the producing loop only sends: (type, key, payload).
fn latency_messages(total: u64, shape: &TrafficShape) -> Vec<(EventKind, Option<String>, Vec<u8>)> {
    let mut g = Generator::new(GeneratorSettings {
        seed: 5,
        events: Some(total),
        rate: 0,
        duplicate_ratio: 0.01,
        malformed_ratio: 0.0,
        scale: total,
        shape: shape.clone(),
    });
    let mut line = String::new();
    (0..total)
        .map(|_| {
            line.clear();
            g.next_line(&mut line);
            let bytes = line.trim_end().as_bytes();
            let (kind, key) = route(bytes);
            (kind.unwrap_or(EventKind::Message), key, bytes.to_vec())
        })
        .collect()
}

fn latency_run(args: &Args) -> anyhow::Result<serde_json::Value> {
    let total = args.latency_rate * args.latency_seconds;
    let messages = latency_messages(total, &args.traffic.shape());
    let topics = fresh_topics(&args.brokers, "latency")?;
    let engine = start(&topology(args, &topics)?)?;
    std::thread::sleep(Duration::from_secs(2)); // partitions assigned, consumers polling
    let producer: ThreadedProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .create_with_context(Acks(Mutex::new(Vec::new())))?;
    // Visible offsets per partition over time, sampled every millisecond.
    let timeline: Arc<Mutex<Timeline>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (timeline, stop) = (Arc::clone(&timeline), Arc::clone(&stop));
        let shared = Arc::clone(&engine.shared);
        let kafka = engine.kafka.clone();
        std::thread::spawn(move || {
            let mut last = Positions::default();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now = positions(&shared, &kafka);
                if now != last {
                    if let Ok(mut t) = timeline.lock() {
                        t.push((Instant::now(), now.clone()));
                    }
                    last = now;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let started = Instant::now();
    // Each message is sent at its due time, to the millisecond: the loop
    // wakes once a millisecond and sends what is due (waking per message
    // cost the producing thread more CPU than the engine's consumers).
    let mut due_count = 0u64;
    for (i, (kind, key, payload)) in (0u64..).zip(&messages) {
        while i >= due_count {
            std::thread::sleep(Duration::from_millis(1));
            due_count = (started.elapsed().as_secs_f64() * args.latency_rate as f64) as u64;
        }
        let topic = topics.topic_of(*kind);
        let mut rec: BaseRecord<'_, str, [u8], Box<Instant>> =
            BaseRecord::with_opaque_to(topic, Box::new(Instant::now())).payload(payload);
        if let Some(k) = key.as_deref() {
            rec = rec.key(k);
        }
        producer.send(rec).map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(60))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Until the sampler itself has seen every message visible, so that the
    // last messages' moments are in the timeline.
    let sampled_all = || {
        timeline.lock().ok().and_then(|t| {
            t.last()
                .map(|(_, v)| v.visible.values().sum::<i64>() >= total as i64)
        }) == Some(true)
    };
    while !sampled_all() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler
        .join()
        .map_err(|_| anyhow::anyhow!("sampler panicked"))?;
    let acks = std::mem::take(
        &mut *producer
            .context()
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("lock"))?,
    );
    let timeline = timeline.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    if let (Some(path), Some((t0, _))) = (&args.timeline, timeline.first()) {
        let mut tsv = String::from("ms\tsealed\tvisible\n");
        for (t, p) in timeline.iter() {
            let ms = t.duration_since(*t0).as_secs_f64() * 1000.0;
            let (s, v) = (
                p.sealed.values().sum::<i64>(),
                p.visible.values().sum::<i64>(),
            );
            tsv.push_str(&format!("{ms:.1}\t{s}\t{v}\n"));
        }
        std::fs::write(path, tsv)?;
    }
    let (h, missing) = first_seen(&acks, &timeline, |v| &v.visible)?;
    let (sealed, _) = first_seen(&acks, &timeline, |v| &v.sealed)?;
    engine.shutdown().map_err(anyhow::Error::msg)?;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "latency at {} events/s for {} s ({} events, epoch {}): event-to-visible p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms{}",
        args.latency_rate,
        args.latency_seconds,
        acks.len(),
        args.epoch,
        ms(&h, 0.5),
        ms(&h, 0.99),
        ms(&h, 1.0),
        if missing > 0 { format!(" ({missing} never seen)") } else { String::new() }
    );
    println!(
        "  of which event-to-sealed (consumed and its epoch closed): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(&sealed, 0.5),
        ms(&sealed, 0.99),
        ms(&sealed, 1.0),
    );
    Ok(serde_json::json!({
        "rate": args.latency_rate, "events": acks.len(), "p50_ms": ms(&h, 0.5), "p99_ms": ms(&h, 0.99),
        "max_ms": ms(&h, 1.0), "never_seen": missing,
        "sealed_p50_ms": ms(&sealed, 0.5), "sealed_p99_ms": ms(&sealed, 0.99),
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    helixflow_engine::huge_pages::disable_unless_asked();
    helixflow_engine::logging::init();
    let throughput = if args.latency_only {
        serde_json::Value::Null
    } else {
        throughput_run(&args)?
    };
    let latency = if args.no_latency {
        serde_json::Value::Null
    } else {
        latency_run(&args)?
    };
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "workers": args.workers, "epoch": args.epoch, "views": args.views,
            "throughput": throughput, "latency": latency,
        });
        std::fs::write(path, json.to_string())?;
    }
    Ok(())
}

/// Produces `--events` events, then times the raw consume and Helixflow.
fn throughput_run(args: &Args) -> anyhow::Result<serde_json::Value> {
    let topics = fresh_topics(&args.brokers, "throughput")
        .context("is the broker up? scripts/services/kafka.sh start")?;
    println!(
        "producing {} generated events ({}) to {}...",
        args.events,
        args.traffic.shape(),
        topics.conversations.trim_end_matches(".conversations")
    );
    let mut producer = EventProducer::new(&ProduceSettings {
        brokers: args.brokers.clone(),
        topics: topics.clone(),
        rate: 0,
        compression: Compression::Lz4,
    })?;
    let mut g = Generator::new(GeneratorSettings {
        seed: 42,
        events: Some(args.events),
        rate: 0,
        duplicate_ratio: 0.01,
        malformed_ratio: 0.001,
        scale: args.events,
        shape: args.traffic.shape(),
    });
    let mut line = String::new();
    while !g.done() {
        line.clear();
        g.next_line(&mut line);
        producer.send(line.trim_end().as_bytes())?;
    }
    let produced = producer.finish(Duration::from_secs(300))?;
    println!(
        "produced {} in {:.2} s ({:.0}/s)",
        produced.delivered,
        produced.seconds,
        produced.delivered as f64 / produced.seconds
    );
    let n = produced.delivered;

    // The raw rate varies from pass to pass (the broker shares the cores):
    // the median of `raw_runs` passes is the figure.
    let mut raw_times = Vec::new();
    for _ in 0..args.raw_runs.max(1) {
        raw_times.push(raw_consume(&args.brokers, &topics, n)?.0);
    }
    raw_times.sort_by(f64::total_cmp);
    let raw_s = raw_times[raw_times.len() / 2];
    let raw_rate = n as f64 / raw_s;
    println!(
        "raw rdkafka consume (1 consumer, no processing): median {raw_s:.2} s of {raw_times:.2?}, {raw_rate:.0} messages/s"
    );

    let started = Instant::now();
    let engine = start(&topology(args, &topics)?)?;
    while positions(&engine.shared, &engine.kafka)
        .visible
        .values()
        .sum::<i64>()
        < n as i64
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "engine did not catch up"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let engine_s = started.elapsed().as_secs_f64();
    let engine_rate = n as f64 / engine_s;
    let valid = engine
        .shared
        .valid
        .load(std::sync::atomic::Ordering::Relaxed);
    engine.shutdown().map_err(anyhow::Error::msg)?;
    println!(
        "helixflow -w {} epoch {} (Kafka source, views: {}): {engine_s:.2} s to reflect all {n} messages, {engine_rate:.0} events/s = {:.0}% of raw ({valid} valid)",
        args.workers,
        args.epoch,
        args.views,
        100.0 * engine_rate / raw_rate
    );
    Ok(serde_json::json!({
        "events": n,
        "produce_per_s": produced.delivered as f64 / produced.seconds,
        "raw_consume_s": raw_s, "raw_per_s": raw_rate,
        "helixflow_s": engine_s, "helixflow_per_s": engine_rate,
        "ratio_to_raw": engine_rate / raw_rate,
    }))
}
