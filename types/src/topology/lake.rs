//! Settings of the lake sink: where the lake is (a directory, or an
//! S3-compatible bucket), how often it commits, how big its files grow,
//! and how it retries and bounds what it holds. S3 credentials come from
//! the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never
//! from the file.

use crate::topology::sinks::{default_retry_initial, default_retry_max, SinkBatching};
use serde::Deserialize;
use std::time::Duration;

/// Every distinct valid event as Parquet, the engine's durable state.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSinkConfig {
    /// Unique sink name.
    pub name: String,
    /// A directory (`data/lake`, `file:///var/lake`) or `s3://bucket/prefix`.
    pub location: String,
    /// Commit what has arrived at least this often (Kafka offsets wait
    /// for the commit that covers them).
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Commit as soon as this many events wait.
    #[serde(default = "default_commit_events")]
    pub commit_events: usize,
    /// Compaction merges a day's files into files of about this many rows.
    #[serde(default = "default_file_rows")]
    pub file_rows: u64,
    /// Compaction starts on a day once it has this many small files.
    #[serde(default = "default_compact_files")]
    pub compact_files: usize,
    /// Compact in the background (`false`: files stay as committed).
    #[serde(default = "yes")]
    pub compaction: bool,
    /// Stop taking events (the dataflow then waits) while this many wait.
    #[serde(default = "default_max_pending_events")]
    pub max_pending_events: usize,
    /// First wait before retrying a failed commit; doubles up to `retry_max`.
    #[serde(default = "default_retry_initial", with = "humantime_serde")]
    pub retry_initial: Duration,
    /// Longest wait between retries.
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
    /// The S3-compatible server (`[sinks.s3]`; environment `AWS_*` otherwise).
    #[serde(default)]
    pub s3: LakeS3Settings,
}

/// Where an S3-compatible server is; unset fields come from `AWS_ENDPOINT`,
/// `AWS_REGION` and `AWS_ALLOW_HTTP`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeS3Settings {
    /// e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow a plain-HTTP endpoint (a local test server).
    pub allow_http: Option<bool>,
}

impl LakeSinkConfig {
    /// The runner's batching: a commit is a batch.
    pub fn batching(&self) -> SinkBatching {
        SinkBatching {
            batch_rows: self.commit_events,
            flush_interval: self.commit_interval,
            max_pending_rows: self.max_pending_events,
            retry_initial: self.retry_initial,
            retry_max: self.retry_max,
        }
    }

    /// A lake at `location` with every other setting at its default.
    pub fn at(name: &str, location: &str) -> LakeSinkConfig {
        LakeSinkConfig {
            name: name.to_owned(),
            location: location.to_owned(),
            commit_interval: default_commit_interval(),
            commit_events: default_commit_events(),
            file_rows: default_file_rows(),
            compact_files: default_compact_files(),
            compaction: true,
            max_pending_events: default_max_pending_events(),
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
            s3: LakeS3Settings::default(),
        }
    }
}

fn default_commit_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_commit_events() -> usize {
    200_000
}
fn default_file_rows() -> u64 {
    1_000_000
}
fn default_compact_files() -> usize {
    8
}
fn default_max_pending_events() -> usize {
    1_000_000
}
fn yes() -> bool {
    true
}

/// Events read back from a lake: once, every committed event (optionally
/// of a range of days), then the source finishes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSourceConfig {
    /// Unique source name.
    pub name: String,
    /// A directory or `s3://bucket/prefix`, as for the lake sink.
    pub location: String,
    /// First day read (`YYYY-MM-DD`, UTC; absent: the first there is).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day read (`YYYY-MM-DD`, UTC; absent: the last there is).
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub s3: LakeS3Settings,
    /// Set by the engine for the restore of its own lake: the events are
    /// not written to that lake again.
    #[serde(skip)]
    pub restore: bool,
}
