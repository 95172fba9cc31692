//! How a Kafka source reports itself: per partition the offset consumed,
//! the offset the views reflect (`visible`), the committed offset, the high
//! watermark and the lag (high watermark − visible), for `GET /v1/health`,
//! `GET /metrics` and the status line.

use crate::shared::Shared;
use helixflow_sources::kafka::{position_key, KafkaStatus};
use serde::Serialize;
use std::sync::Arc;

/// One partition's offsets and lag.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset the consumer will read.
    pub consumed: i64,
    /// Next offset not yet reflected by every view.
    pub visible: i64,
    /// Offset committed to the group.
    pub committed: i64,
    /// The group's offset when this run started (the rebuild passes it).
    pub recovery_point: i64,
    /// Log end offset (from statistics; -1 until the first report).
    pub high_watermark: i64,
    /// Messages in the partition the views do not reflect yet.
    pub lag: i64,
}

/// The partitions of `status` with what the views reflect, given the
/// positions of every source at the views' epoch (`Feed::positions_at`).
pub fn partition_lags(status: &KafkaStatus, positions: &serde_json::Value) -> Vec<PartitionLag> {
    let mine = positions.get(&status.source);
    status
        .partitions()
        .into_iter()
        .map(|p| {
            let visible = mine
                .and_then(|m| m.get(position_key(&p.topic, p.partition)))
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0);
            PartitionLag {
                lag: (p.high_watermark.max(p.consumed) - visible).max(0),
                topic: p.topic,
                partition: p.partition,
                consumed: p.consumed,
                visible,
                committed: p.committed,
                recovery_point: p.recovery_point,
                high_watermark: p.high_watermark,
            }
        })
        .collect()
}

/// Every partition of `kafka` with the offsets the views reflect now.
pub fn lags_now(shared: &Shared, kafka: &[Arc<KafkaStatus>]) -> Vec<PartitionLag> {
    let (as_of, _) = shared.complete();
    let positions = shared.feed.positions_at(as_of);
    kafka
        .iter()
        .flat_map(|k| partition_lags(k, &positions))
        .collect()
}

/// The health report of one Kafka source.
pub fn health(status: &KafkaStatus, positions: &serde_json::Value) -> serde_json::Value {
    let partitions = partition_lags(status, positions);
    let lag: i64 = partitions.iter().map(|p| p.lag).sum();
    let known = partitions.iter().all(|p| p.high_watermark >= 0);
    serde_json::json!({
        "source": status.source,
        "state": state(status),
        "rebuilding": status.rebuilding(),
        "lag": lag,
        "lag_known": known && status.setup().is_none(),
        "dead_lettered": status.dead_lettered(),
        "dead_letter_failures": status.dead_letter_failures(),
        "commit_failures": status.commit_failures(),
        "consumer_reconnects": status.reconnects(),
        "partitions": partitions,
    })
}

/// `consuming`, or what the source is waiting for.
pub fn state(status: &KafkaStatus) -> String {
    if let Some(problem) = status.broker_problem() {
        return problem;
    }
    if let Some(setup) = status.setup() {
        return setup;
    }
    if status.rebuilding() {
        return "rebuilding the views from the earliest offsets".into();
    }
    "consuming".into()
}

/// A short status-line part: `kafka `name`: lag N, <state>`.
pub fn status_part(status: &KafkaStatus, positions: &serde_json::Value) -> String {
    let lag: i64 = partition_lags(status, positions)
        .iter()
        .map(|p| p.lag)
        .sum();
    format!("kafka `{}`: lag {lag}, {}", status.source, state(status))
}
