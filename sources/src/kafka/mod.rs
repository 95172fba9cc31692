//! The Kafka source: the contract's six topics, read by consumer threads
//! that split the partitions between them, with offsets committed to the
//! consumer group only once the views have absorbed them.
//!
//! | module | owns |
//! |---|---|
//! | [`client`] | librdkafka settings and the status-feeding client context |
//! | [`committer`] | a consumer thread's commits, on a thread of their own |
//! | [`consumer`] | one consumer thread: read, frame, seal epochs, hand commits over |
//! | [`dead_letter`] | forwarding rejected messages to a dead-letter topic |
//! | [`produce`] | `helixflow produce`: keyed, idempotent, rate-limited sends |
//! | [`status`] | offsets, lag and broker state for the API and status line |
//! | [`watermarks`] | high watermarks asked of the brokers now (the sync barrier) |
//!
//! # Progress and restart
//!
//! Each consumer thread is a source of the feed: it stamps messages with the
//! current epoch and seals an epoch only after every partition assigned to
//! it has been read past it, recording `{"topic/partition": next offset}`
//! as the position, so a read at that epoch reports the offsets it reflects.
//! The engine keeps its state in memory: on (re)start every partition is
//! read from the earliest retained offset, so the views rebuild to exactly
//! what an uninterrupted run holds (duplicates removed by key, as always).
//! The group's committed offsets mark how far a previous run had got (the
//! health report says when the rebuild has passed them), and they are
//! advanced only to positions the views reflect.

mod client;
mod committer;
mod consumer;
mod dead_letter;
pub mod produce;
mod stall;
mod status;
mod watermarks;

pub use consumer::position_key;
pub use dead_letter::DeadLetterProducer;
pub use status::{KafkaStatus, PartitionState};
pub use watermarks::WatermarkProbe;

use crate::feed::{DeadLetter, EpochPolicy, RecordTopics, Share, SourceHandle};
use client::{consumer_config, StatusContext};
use consumer::{ConsumerThread, Partition};
use helixflow_types::topology::KafkaSourceConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the source learns about the engine it feeds.
#[derive(Clone)]
pub struct EngineHooks {
    /// True once the engine is stopping.
    pub stopping: Arc<dyn Fn() -> bool + Send + Sync>,
    /// The latest epoch every view reflects (what may be committed).
    pub absorbed: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// Why a Kafka source stopped.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    /// librdkafka refused a setting or an operation.
    #[error("{what}: {error}")]
    Client {
        what: &'static str,
        error: KafkaError,
    },
    /// A configured topic does not exist.
    #[error("topic `{topic}` does not exist on {brokers} (this source reads its {kind} events from it); create it (scripts/services/kafka.sh reset creates the contract's topics) or rename it under [sources.topics]")]
    MissingTopic {
        topic: String,
        kind: &'static str,
        brokers: String,
    },
    /// A consumer thread panicked.
    #[error("a consumer thread panicked")]
    Panicked,
    /// The system refused a thread.
    #[error("starting a consumer or commit thread: {0}")]
    Thread(std::io::Error),
}

fn client_error(what: &'static str) -> impl FnOnce(KafkaError) -> KafkaSourceError {
    move |error| KafkaSourceError::Client { what, error }
}

/// Longest wait between retries while the brokers are unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs a Kafka source until the engine stops: finds the partitions
/// (waiting for the brokers if need be) and the group's committed offsets,
/// then runs one consumer thread per handle, the partitions dealt out in
/// turn. In a cluster, this process takes its `share` of the partitions
/// (every process lists them in one order and takes every `of`-th), so
/// each partition is read by one consumer thread of one process. `status`
/// is where the API and status line read its state.
pub fn run(
    config: KafkaSourceConfig,
    handles: Vec<SourceHandle>,
    epochs: EpochPolicy,
    hooks: EngineHooks,
    status: Arc<KafkaStatus>,
    share: Share,
) -> Result<(), KafkaSourceError> {
    let dead_letter = DeadLetterProducer::new(&config, Arc::clone(&status))
        .map_err(client_error("creating the dead-letter producer"))?
        .map(Arc::new);
    let topics = Arc::new(RecordTopics {
        topics: config
            .topics
            .by_kind()
            .iter()
            .map(|(kind, topic)| (Arc::from(*topic), *kind))
            .collect(),
        dead_letter: dead_letter.clone().map(|d| d as Arc<dyn DeadLetter>),
    });
    let probe: BaseConsumer<StatusContext> = consumer_config(&config)
        .create_with_context(StatusContext::new(&status))
        .map_err(client_error("creating the consumer"))?;
    let Some(plan) = with_backoff(&hooks, &status, || {
        // Serves the probe's queued client logs and errors (a failed TLS
        // handshake or SASL login says why there, into `status`).
        let _ = probe.poll(Duration::from_millis(50));
        discover(&probe, &config, &topics)
    })?
    else {
        return Ok(());
    };
    // In a cluster, this process's share of the partitions (the plan is in
    // the same order everywhere).
    let plan: Vec<Partition> = plan
        .into_iter()
        .enumerate()
        .filter(|(j, _)| share.takes(*j))
        .map(|(_, p)| p)
        .collect();
    status.set_setup(Some("reading the group's committed offsets".into()));
    let Some(committed) = with_backoff(&hooks, &status, || {
        committed_offsets(&probe, &plan, &topics)
    })?
    else {
        return Ok(());
    };
    for (p, c) in plan.iter().zip(&committed) {
        status.assign(&topics.topics[usize::from(p.topic)].0, p.partition, *c);
    }
    status.set_setup(None);
    let consumers = handles.len().max(1);
    let mut threads = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        let mine: Vec<Partition> = plan
            .iter()
            .enumerate()
            .filter(|(j, _)| j % consumers == i)
            .map(|(_, p)| *p)
            .collect();
        let thread = ConsumerThread {
            config: config.clone(),
            handle,
            partitions: mine,
            topics: Arc::clone(&topics),
            epochs: epochs.clone(),
            hooks: hooks.clone(),
            status: Arc::clone(&status),
            dead_letter: dead_letter.clone(),
            origin: Arc::from(config.name.as_str()),
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("kafka:{}:{i}", config.name))
                .spawn(move || thread.run())
                .map_err(KafkaSourceError::Thread)?,
        );
    }
    watch_brokers(&probe, &topics.topics[0].0, &threads, &status);
    let mut first_error = None;
    for t in threads {
        let result = t.join().unwrap_or(Err(KafkaSourceError::Panicked));
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    if let Some(d) = &dead_letter {
        if let Err(e) = d.flush(Duration::from_secs(10)) {
            tracing::error!("dead-letter topic: not every rejected message was acknowledged before stopping: {e}");
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// How often the supervisor asks the cluster whether it answers.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// While the consumer threads run, asks the cluster for a topic's metadata
/// every [`PROBE_EVERY`]: the answer (or its absence) is the source's broker
/// state. librdkafka's error events alone are not enough: it reports an
/// outage once, and not at all for some ways of going away. While the
/// brokers answer, it also compares the partitions with their log ends
/// every [`stall::STALL_CHECK`] and names stuck ones to their threads.
fn watch_brokers(
    probe: &BaseConsumer<StatusContext>,
    topic: &str,
    threads: &[std::thread::JoinHandle<Result<(), KafkaSourceError>>],
    status: &KafkaStatus,
) {
    let mut next = Instant::now();
    let mut next_stall_check = Instant::now() + stall::STALL_CHECK;
    let mut stalls = stall::StallWatch::default();
    while !threads.iter().all(|t| t.is_finished()) {
        if Instant::now() >= next {
            match probe.fetch_metadata(Some(topic), PROBE_EVERY) {
                Ok(_) => status.broker_ok(),
                Err(e) => status.broker_error(format!("brokers do not answer: {e}")),
            }
            next = Instant::now() + PROBE_EVERY;
        }
        if Instant::now() >= next_stall_check {
            if status.brokers_up() {
                check_stalls(probe, status, &mut stalls);
            }
            next_stall_check = Instant::now() + stall::STALL_CHECK;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks the log ends of the source's partitions and names the stuck ones
/// (an unanswered request names none).
fn check_stalls(
    probe: &BaseConsumer<StatusContext>,
    status: &KafkaStatus,
    stalls: &mut stall::StallWatch,
) {
    let partitions = status.partitions();
    let keys: Vec<(String, i32)> = partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    let Ok(ends) = watermarks::log_ends(probe, &keys, PROBE_EVERY) else {
        return;
    };
    let now = Instant::now();
    let stuck = stalls.observe(
        now,
        keys.into_iter()
            .zip(&partitions)
            .zip(ends)
            .map(|((key, p), end)| (key, p.consumed, end)),
    );
    if !stuck.is_empty() {
        status.suspect_stalled(stuck);
    }
}

/// An attempt that may fail for good (`Err`) or for now (`Ok(Err)`: retry).
type Attempt<T> = Result<Result<T, String>, KafkaSourceError>;

/// Retries `attempt` with exponential backoff while it fails for now;
/// `Ok(None)` if the engine stops meanwhile.
fn with_backoff<T>(
    hooks: &EngineHooks,
    status: &KafkaStatus,
    mut attempt: impl FnMut() -> Attempt<T>,
) -> Result<Option<T>, KafkaSourceError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if (hooks.stopping)() {
            return Ok(None);
        }
        match attempt()? {
            Ok(v) => {
                status.broker_ok();
                return Ok(Some(v));
            }
            Err(why) => {
                status.broker_error(why);
                let until = Instant::now() + backoff;
                while Instant::now() < until && !(hooks.stopping)() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Every partition of every topic, sorted by topic (contract order) then partition.
fn discover(
    probe: &BaseConsumer<StatusContext>,
    config: &KafkaSourceConfig,
    topics: &RecordTopics,
) -> Attempt<Vec<Partition>> {
    let mut plan = Vec::new();
    for (index, (topic, kind)) in topics.topics.iter().enumerate() {
        let metadata = match probe.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(m) => m,
            Err(e) => return Ok(Err(format!("metadata of `{topic}`: {e}"))),
        };
        let Some(t) = metadata.topics().iter().find(|t| t.name() == &**topic) else {
            return Ok(Err(format!("metadata of `{topic}`: no answer")));
        };
        if t.error().is_some() || t.partitions().is_empty() {
            return Err(KafkaSourceError::MissingTopic {
                topic: topic.to_string(),
                kind: kind.type_name(),
                brokers: config.brokers.clone(),
            });
        }
        let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        partitions.sort_unstable();
        plan.extend(partitions.into_iter().map(|partition| Partition {
            topic: u16::try_from(index).unwrap_or(u16::MAX),
            partition,
        }));
    }
    Ok(Ok(plan))
}

/// The group's committed offset of each partition in `plan` (-1: none).
fn committed_offsets(
    probe: &BaseConsumer<StatusContext>,
    plan: &[Partition],
    topics: &RecordTopics,
) -> Attempt<Vec<i64>> {
    let mut tpl = TopicPartitionList::new();
    for p in plan {
        tpl.add_partition(&topics.topics[usize::from(p.topic)].0, p.partition);
    }
    let committed = match probe.committed_offsets(tpl, Duration::from_secs(10)) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("committed offsets: {e}"))),
    };
    Ok(Ok(plan
        .iter()
        .map(|p| {
            let topic = &topics.topics[usize::from(p.topic)].0;
            match committed
                .find_partition(topic, p.partition)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            }
        })
        .collect()))
}
