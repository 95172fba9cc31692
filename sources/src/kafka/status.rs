//! What a Kafka source knows about itself, shared with the API and the
//! status line: per partition the offset consumed, the offset committed, the
//! recovery point found at start and the high watermark (from librdkafka's
//! statistics), plus whether the brokers are reachable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Offsets of one partition (`-1`: not known yet). Offsets are Kafka's
/// "next offset to read" convention.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PartitionState {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset this engine will read.
    pub consumed: i64,
    /// Last offset committed by this engine run (or found at start).
    pub committed: i64,
    /// The group's committed offset when this run started: the state is
    /// rebuilt from the earliest offset and is caught up past this point.
    pub recovery_point: i64,
    /// Log end offset, from the latest statistics.
    pub high_watermark: i64,
}

#[derive(Default)]
struct Broker {
    down_since: Option<Instant>,
    last_error: Option<String>,
    /// The client's own latest error while down (a TLS or SASL failure
    /// says why; an operation failing after it says only "transport").
    client_error: Option<String>,
}

/// Shared state of one Kafka source.
pub struct KafkaStatus {
    /// The source's name in the topology.
    pub source: String,
    partitions: Mutex<BTreeMap<(String, i32), PartitionState>>,
    broker: Mutex<Broker>,
    down: AtomicBool,
    setup: Mutex<Option<String>>,
    /// Rejected messages forwarded to the dead-letter topic and acknowledged.
    pub(crate) dead_lettered: AtomicU64,
    /// Dead-letter deliveries that failed for good.
    pub(crate) dead_letter_failures: AtomicU64,
    /// Offset commits that failed (retried at the next interval).
    pub(crate) commit_failures: AtomicU64,
    /// Raised by [`KafkaStatus::request_commit`]: each consumer thread commits
    /// what the views absorbed as soon as it sees a new value.
    commit_requests: AtomicU64,
    /// Partitions the supervisor took for stuck (behind their log end and
    /// read no further), until their consumer thread takes them.
    stalled: Mutex<BTreeSet<(String, i32)>>,
    /// Consumers replaced because they had stopped fetching.
    pub(crate) reconnects: AtomicU64,
}

impl KafkaStatus {
    /// Status of a source with no partitions assigned yet.
    pub fn new(source: &str) -> Self {
        KafkaStatus {
            source: source.to_owned(),
            partitions: Mutex::default(),
            broker: Mutex::default(),
            down: AtomicBool::new(false),
            setup: Mutex::new(Some("looking up the topics' partitions".into())),
            dead_lettered: AtomicU64::new(0),
            dead_letter_failures: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            commit_requests: AtomicU64::new(0),
            stalled: Mutex::default(),
            reconnects: AtomicU64::new(0),
        }
    }

    /// Asks every consumer thread to commit what the views have absorbed
    /// now, without waiting for `commit_interval` (the sync barrier).
    pub fn request_commit(&self) {
        self.commit_requests.fetch_add(1, Ordering::AcqRel);
    }

    /// The number of commit requests so far.
    pub(crate) fn commit_requests(&self) -> u64 {
        self.commit_requests.load(Ordering::Acquire)
    }

    /// Names partitions whose consumer seems stuck: the thread reading
    /// them replaces its consumer if they gave it nothing for a while
    /// (see `stall.rs`).
    pub fn suspect_stalled(&self, partitions: impl IntoIterator<Item = (String, i32)>) {
        let mut s = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
        s.extend(partitions);
    }

    /// Takes the partitions named stuck among `mine`.
    pub(crate) fn take_stalled(&self, mine: &[(String, i32)]) -> Vec<usize> {
        let mut s = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_empty() {
            return Vec::new();
        }
        (0..mine.len()).filter(|i| s.remove(&mine[*i])).collect()
    }

    /// Consumers replaced because they had stopped fetching.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Whether the brokers answered the latest probe.
    pub(crate) fn brokers_up(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    fn with_partition(&self, topic: &str, partition: i32, f: impl FnOnce(&mut PartitionState)) {
        let mut parts = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parts.get_mut(&(topic.to_owned(), partition)) {
            f(p);
        }
    }

    /// Registers an assigned partition with the group's committed offset.
    pub(crate) fn assign(&self, topic: &str, partition: i32, committed: i64) {
        let mut parts = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        parts.insert(
            (topic.to_owned(), partition),
            PartitionState {
                topic: topic.to_owned(),
                partition,
                consumed: -1,
                committed,
                recovery_point: committed,
                high_watermark: -1,
            },
        );
    }

    /// Records the next offset to read of a partition.
    pub(crate) fn consumed(&self, topic: &str, partition: i32, next: i64) {
        self.with_partition(topic, partition, |p| p.consumed = next);
    }

    /// Records a successful commit.
    pub(crate) fn committed(&self, topic: &str, partition: i32, offset: i64) {
        self.with_partition(topic, partition, |p| p.committed = offset);
    }

    /// Records a partition's log end offset.
    pub(crate) fn high_watermark(&self, topic: &str, partition: i32, offset: i64) {
        self.with_partition(topic, partition, |p| p.high_watermark = offset);
    }

    /// Every assigned partition, sorted by topic and partition.
    pub fn partitions(&self) -> Vec<PartitionState> {
        let parts = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        parts.values().cloned().collect()
    }

    /// Notes a client error (brokers unreachable, a failed fetch...).
    pub(crate) fn broker_error(&self, error: String) {
        self.down.store(true, Ordering::Release);
        let mut b = self.broker.lock().unwrap_or_else(|e| e.into_inner());
        if b.down_since.is_none() {
            tracing::warn!(
                "kafka source `{}`: {error}; retrying with backoff",
                self.source
            );
            b.down_since = Some(Instant::now());
        }
        b.last_error = Some(error);
    }

    /// Notes an error librdkafka reported itself (its error callback): the
    /// root cause the status keeps beside later operations' errors.
    pub(crate) fn client_error(&self, error: String) {
        self.broker_error(error.clone());
        let mut b = self.broker.lock().unwrap_or_else(|e| e.into_inner());
        b.client_error = Some(error);
    }

    /// Notes that the brokers answer again.
    pub(crate) fn broker_ok(&self) {
        if !self.down.load(Ordering::Acquire) {
            return;
        }
        self.down.store(false, Ordering::Release);
        let mut b = self.broker.lock().unwrap_or_else(|e| e.into_inner());
        b.client_error = None;
        if let Some(since) = b.down_since.take() {
            tracing::info!(
                "kafka source `{}`: brokers reachable again after {:.1} s",
                self.source,
                since.elapsed().as_secs_f64()
            );
        }
    }

    /// `Some(why)` while the brokers are unreachable.
    pub fn broker_problem(&self) -> Option<String> {
        let b = self.broker.lock().unwrap_or_else(|e| e.into_inner());
        b.down_since.map(|since| {
            let last = b.last_error.as_deref().unwrap_or("unreachable");
            let cause = match b.client_error.as_deref() {
                Some(c) if c != last => format!("; the client's last error: {c}"),
                _ => String::new(),
            };
            format!(
                "waiting for brokers for {:.0} s ({last}{cause})",
                since.elapsed().as_secs_f64(),
            )
        })
    }

    /// Sets or clears what the source is doing before it consumes.
    pub(crate) fn set_setup(&self, what: Option<String>) {
        *self.setup.lock().unwrap_or_else(|e| e.into_inner()) = what;
    }

    /// What the source is doing before it consumes, if it is not consuming yet.
    pub fn setup(&self) -> Option<String> {
        self.setup.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True while some partition has not yet been read up to its recovery point.
    pub fn rebuilding(&self) -> bool {
        self.partitions()
            .iter()
            .any(|p| p.recovery_point > 0 && p.consumed < p.recovery_point)
    }

    /// Dead-letter forwards acknowledged.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }

    /// Dead-letter forwards that failed for good.
    pub fn dead_letter_failures(&self) -> u64 {
        self.dead_letter_failures.load(Ordering::Relaxed)
    }

    /// Offset commits that failed (each retried at the next interval).
    pub fn commit_failures(&self) -> u64 {
        self.commit_failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::KafkaStatus;

    #[test]
    fn the_clients_own_error_stays_beside_later_transport_failures_until_brokers_answer() {
        let s = KafkaStatus::new("k");
        s.client_error(
            "SASL authentication error: Authentication failed (sasl_ssl://b:9094)".into(),
        );
        s.broker_error("metadata of `t`: BrokerTransportFailure".into());
        let problem = s.broker_problem().unwrap_or_default();
        assert!(
            problem.contains("BrokerTransportFailure")
                && problem.contains("the client's last error: SASL authentication error"),
            "{problem}"
        );
        s.broker_ok();
        assert_eq!(s.broker_problem(), None);
        s.broker_error("metadata of `t`: BrokerTransportFailure".into());
        let problem = s.broker_problem().unwrap_or_default();
        assert!(
            !problem.contains("SASL"),
            "cleared once the brokers answered: {problem}"
        );
    }
}
