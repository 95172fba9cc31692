//! Settings of the database sinks (ClickHouse and Neo4j): where the server
//! is, which views go there, how rows are batched, retried and held while
//! the server is down. Credentials come from environment variables named in
//! the file, never from the file itself.

use crate::event::EventKind;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// How a database sink batches, retries and bounds its backlog.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkBatching {
    /// Write once this many changed rows are pending.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Write pending rows at least this often.
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Stop taking changes from the views (the dataflow then waits, and so
    /// do the sources) while this many rows are pending.
    #[serde(default = "default_max_pending_rows")]
    pub max_pending_rows: usize,
    /// First wait before retrying a failed write; doubles up to `retry_max`.
    #[serde(default = "default_retry_initial", with = "humantime_serde")]
    pub retry_initial: Duration,
    /// Longest wait between retries.
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
}

impl Default for SinkBatching {
    fn default() -> Self {
        SinkBatching {
            batch_rows: default_batch_rows(),
            flush_interval: default_flush_interval(),
            max_pending_rows: default_max_pending_rows(),
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
        }
    }
}

fn default_batch_rows() -> usize {
    50_000
}
fn default_flush_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_pending_rows() -> usize {
    1_000_000
}
pub(crate) fn default_retry_initial() -> Duration {
    Duration::from_millis(200)
}
pub(crate) fn default_retry_max() -> Duration {
    Duration::from_secs(5)
}

impl SinkBatching {
    /// The first field that is out of range: (field, message, fix).
    pub fn validate(&self) -> Result<(), (&'static str, String, &'static str)> {
        if self.batch_rows == 0 {
            return Err((
                "batch_rows",
                "0 rows".into(),
                "use e.g. `batch_rows = 50000`",
            ));
        }
        if self.flush_interval.is_zero() {
            return Err((
                "flush_interval",
                "an interval of 0s".into(),
                "use e.g. `flush_interval = \"1s\"`",
            ));
        }
        if self.max_pending_rows < self.batch_rows {
            return Err((
                "max_pending_rows",
                format!(
                    "{} is less than batch_rows ({})",
                    self.max_pending_rows, self.batch_rows
                ),
                "make max_pending_rows at least batch_rows",
            ));
        }
        if self.retry_initial.is_zero() || self.retry_max < self.retry_initial {
            return Err((
                "retry_initial",
                format!(
                    "retry_initial {:?} with retry_max {:?}",
                    self.retry_initial, self.retry_max
                ),
                "use 0 < retry_initial <= retry_max, e.g. \"200ms\" and \"5s\"",
            ));
        }
        Ok(())
    }
}

/// Views and raw events written to ClickHouse tables in one database.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseSinkConfig {
    /// Unique sink name.
    pub name: String,
    /// The server's HTTP address, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// The database (created if absent).
    #[serde(default = "default_database")]
    pub database: String,
    /// The views written, one table each (`conversation_snapshots`,
    /// `provider_stats`, `debate_stats`, `memory_state` by default).
    #[serde(default = "default_clickhouse_views")]
    pub views: Vec<String>,
    /// Environment variable holding the user name (absent: `default`).
    #[serde(default = "default_clickhouse_user_env")]
    pub user_env: String,
    /// Environment variable holding the password (absent: none), or
    /// `<it>_FILE`, a file holding it.
    #[serde(default = "default_clickhouse_password_env")]
    pub password_env: String,
    /// PEM file of the CA that signed the server's certificate, for an
    /// `https://` URL (default: the system's CAs).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Compress inserts with LZ4 (the server must support it; 18.16 does).
    #[serde(default = "yes")]
    pub compression: bool,
    /// Check the table's columns against the rows before inserting
    /// (needs `RowBinaryWithNamesAndTypes`; ClickHouse 18.16 lacks it).
    #[serde(default)]
    pub validation: bool,
    /// Raw events kept in tables of their own (`provider_call` into
    /// `provider_calls` with its hourly and daily rollups, `message` into
    /// `messages`); both by default, `[]` for none.
    #[serde(default = "default_raw_events")]
    pub raw_events: Vec<String>,
    /// Batching, retries and the backlog bound (`[sinks.batching]`).
    #[serde(default)]
    pub batching: SinkBatching,
}

impl ClickHouseSinkConfig {
    /// The kinds named in `raw_events`.
    pub fn raw_kinds(&self) -> Vec<EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(|k| self.raw_events.iter().any(|t| t == k.type_name()))
            .collect()
    }
}

/// The event types a ClickHouse sink can keep raw.
pub const RAW_EVENT_TYPES: [&str; 2] = ["provider_call", "message"];

fn default_raw_events() -> Vec<String> {
    RAW_EVENT_TYPES.map(String::from).to_vec()
}

fn default_database() -> String {
    "helixflow".into()
}
fn default_clickhouse_views() -> Vec<String> {
    TABLE_VIEWS.map(String::from).to_vec()
}
fn default_clickhouse_user_env() -> String {
    "CLICKHOUSE_USER".into()
}
fn default_clickhouse_password_env() -> String {
    "CLICKHOUSE_PASSWORD".into()
}
fn yes() -> bool {
    true
}

/// The knowledge graph written to a Neo4j database over Bolt.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neo4jSinkConfig {
    /// Unique sink name.
    pub name: String,
    /// The Bolt address, e.g. `bolt://127.0.0.1:7687`, or `bolt+s://` for
    /// TLS (`bolt+ssc://` trusts any certificate: for tests only).
    pub uri: String,
    /// The views written (`entities`, `relationships`,
    /// `entity_cooccurrence` by default; no other view has a graph form).
    #[serde(default = "default_neo4j_views")]
    pub views: Vec<String>,
    /// Environment variable holding the user name (absent: `neo4j`).
    #[serde(default = "default_neo4j_user_env")]
    pub user_env: String,
    /// Environment variable holding the password (absent: empty, for a
    /// server with authentication off), or `<it>_FILE`, a file holding it.
    #[serde(default = "default_neo4j_password_env")]
    pub password_env: String,
    /// PEM file of a CA to trust beside the system's, for `bolt+s://` and
    /// `neo4j+s://`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Batching, retries and the backlog bound (`[sinks.batching]`).
    #[serde(default)]
    pub batching: SinkBatching,
}

/// The views a Neo4j sink can write.
/// `entity_directory` names every node (its `entities` row, else its
/// latest mention).
pub const GRAPH_VIEWS: [&str; 4] = [
    "entities",
    "relationships",
    "entity_cooccurrence",
    "entity_directory",
];
/// The views a ClickHouse sink can write.
pub const TABLE_VIEWS: [&str; 9] = [
    "conversation_snapshots",
    "provider_stats",
    "debate_stats",
    "memory_state",
    "user_intents",
    "user_preferences",
    "conversation_flow",
    "debate_strategies",
    "provider_performance",
];

fn default_neo4j_views() -> Vec<String> {
    GRAPH_VIEWS.map(String::from).to_vec()
}
fn default_neo4j_user_env() -> String {
    "NEO4J_USER".into()
}
fn default_neo4j_password_env() -> String {
    "NEO4J_PASSWORD".into()
}

/// The Bolt URI schemes the Neo4j sink speaks, and whether each is TLS.
pub const BOLT_SCHEMES: [(&str, bool); 6] = [
    ("bolt", false),
    ("bolt+s", true),
    ("bolt+ssc", true),
    ("neo4j", false),
    ("neo4j+s", true),
    ("neo4j+ssc", true),
];
