//! What the API needs from an engine: read sessions that answer questions
//! at one consistent `as_of`, the identifier table and content store to
//! render answers, and health and metrics.

use helixflow_operators::content::ContentStore;
use helixflow_operators::intern::Interner;
use helixflow_operators::query::{Question, Reply};
use helixflow_operators::rows::{ViewName, ViewPart};

/// A consistent read of one view.
pub struct ApiSnapshot {
    /// Every input epoch `<= as_of` is reflected, none after.
    pub as_of: u64,
    /// Input positions (per source) that `as_of` corresponds to.
    pub positions: serde_json::Value,
    /// The rows.
    pub part: ViewPart,
}

/// Why an answer could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The topology does not compute what the question reads.
    #[error("{0} is not computed by this topology")]
    NotComputed(String),
    /// The engine could not answer (overloaded or stopping).
    #[error("the engine could not answer: {0}")]
    Unavailable(String),
}

/// A partition of the memory topic (a Kafka source's), for sync status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPartition {
    pub topic: String,
    pub partition: i32,
    /// Next offset the engine will read.
    pub consumed: i64,
    /// Next offset the answer's `as_of` does not reflect.
    pub visible: i64,
    /// Log end offset (as last reported; -1 until known).
    pub high_watermark: i64,
}

/// The sync barrier was reached.
#[derive(Clone, Debug)]
pub struct Synced {
    pub as_of: u64,
    pub positions: serde_json::Value,
    pub waited: std::time::Duration,
}

/// Why the sync barrier was not reached.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncFailure {
    /// Not within the timeout; says what was missing.
    #[error("{0}")]
    Timeout(String),
    /// The engine could not learn its sources' ends.
    #[error("{0}")]
    Unavailable(String),
}

/// Questions answered at one `as_of`: every answer built from one session
/// reflects the same input positions.
pub trait ReadSession {
    /// Every input epoch `<= as_of` is reflected, none after.
    fn as_of(&self) -> u64;
    /// Input positions (per source) that `as_of` corresponds to.
    fn positions(&self) -> serde_json::Value;
    /// The workers' merged reply to `question`.
    fn ask(&self, question: Question) -> Result<Reply, ReadError>;
}

/// An engine as the API sees it.
pub trait ViewReader: Send + Sync + 'static {
    /// A read session at the latest complete epoch.
    fn session(&self) -> Box<dyn ReadSession + '_>;
    /// The identifier table.
    fn ids(&self) -> &Interner;
    /// The texts of the distinct messages.
    fn texts(&self) -> &ContentStore;
    /// Status, counters, positions, lag and sinks.
    fn health(&self) -> crate::health::EngineHealth;
    /// Every component the topology runs: sources, sinks, the lake, the API.
    fn components(&self) -> Vec<crate::health::ComponentHealth>;
    /// Sets the engine's counters and gauges in the metrics recorder (at
    /// each scrape of `GET /metrics`).
    fn record_metrics(&self);
    /// The memory topic's partitions, with what `positions` reflect.
    fn memory_partitions(&self, positions: &serde_json::Value) -> Vec<MemoryPartition>;
    /// Waits until every view, database sink and Kafka commit covers every
    /// source's end at the call (at most `timeout`).
    fn sync(&self, timeout: std::time::Duration) -> Result<Synced, SyncFailure>;

    /// A consistent snapshot of `view`.
    fn read(&self, view: ViewName) -> Result<ApiSnapshot, ReadError> {
        let session = self.session();
        match session.ask(Question::View(view))? {
            Reply::View(part) => Ok(ApiSnapshot {
                as_of: session.as_of(),
                positions: session.positions(),
                part,
            }),
            _ => Err(ReadError::Unavailable(format!(
                "the engine answered a read of {view} with something else"
            ))),
        }
    }
}
