//! The memory sync barrier (`POST /v1/memory/sync/force`): note every
//! source's current end, then wait until every view reflects it, every
//! database sink has written it and every Kafka offset for it is committed.
//!
//! Ends: a Kafka source's partitions' high watermarks, asked of the brokers
//! at the call ([`WatermarkProbe`]); a file source's last file and its size
//! now; a generator's events handed to the engine so far. A read that
//! follows the answer sees every event that was in the sources when the
//! call arrived.

use crate::shared::Shared;
use helixflow_api::reader::{SyncFailure, Synced};
use helixflow_operators::Time;
use helixflow_sinks::runner::SinkStatus;
use helixflow_sources::kafka::{position_key, KafkaStatus, WatermarkProbe};
use helixflow_types::topology::SourceConfig;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Kafka source with what the barrier needs of it.
pub struct KafkaSync {
    pub status: Arc<KafkaStatus>,
    pub probe: WatermarkProbe,
}

/// One source's end, noted at the call.
enum End {
    /// Per partition (topic, partition, high watermark).
    Kafka {
        source: usize,
        ends: Vec<(String, i32, i64)>,
    },
    /// The source's last file and its size.
    File {
        source: String,
        file: String,
        size: u64,
    },
    /// Events handed to the engine so far.
    Events { source: String, events: u64 },
}

/// Waits until every view, database sink and Kafka commit covers every
/// source's end at the call, for at most `timeout`.
pub fn sync(
    shared: &Shared,
    sources: &[SourceConfig],
    kafka: &[KafkaSync],
    sinks: &[Arc<SinkStatus>],
    timeout: Duration,
) -> Result<Synced, SyncFailure> {
    let started = Instant::now();
    let ends = ends(shared, sources, kafka, timeout)?;
    let mut visible_at: Option<Time> = None;
    // Commit requests at most this often: each asks every consumer thread
    // for a commit, which a request per poll would flood.
    let request_every = Duration::from_millis(20);
    let mut requested: Option<Instant> = None;
    loop {
        let (readable, closed) = shared.complete();
        let positions = shared.feed.positions_at(readable);
        let missing = match visible_at {
            None => match ends
                .iter()
                .find_map(|e| not_visible(e, &positions, kafka, closed))
            {
                Some(m) => Some(m),
                None => {
                    visible_at = Some(readable);
                    continue;
                }
            },
            Some(epoch) => {
                let written = shared.sinks_written(sinks);
                if written < epoch && !(closed && written == Time::MAX) {
                    Some(format!(
                        "the database sinks have written epoch {written}, not yet {epoch}"
                    ))
                } else {
                    let uncommitted = ends.iter().find_map(|e| not_committed(e, kafka));
                    if uncommitted.is_some()
                        && requested.is_none_or(|at| at.elapsed() >= request_every)
                    {
                        requested = Some(Instant::now());
                        for k in kafka {
                            k.status.request_commit();
                        }
                    }
                    uncommitted
                }
            }
        };
        let Some(missing) = missing else {
            return Ok(Synced {
                as_of: readable,
                positions,
                waited: started.elapsed(),
            });
        };
        if started.elapsed() >= timeout {
            return Err(SyncFailure::Timeout(missing));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn ends(
    shared: &Shared,
    sources: &[SourceConfig],
    kafka: &[KafkaSync],
    timeout: Duration,
) -> Result<Vec<End>, SyncFailure> {
    let mut ends = Vec::new();
    for source in sources {
        match source {
            SourceConfig::Kafka(k) => {
                let Some(index) = kafka.iter().position(|s| s.status.source == k.name) else {
                    continue;
                };
                let parts: Vec<(String, i32)> = kafka[index]
                    .status
                    .partitions()
                    .into_iter()
                    .map(|p| (p.topic, p.partition))
                    .collect();
                let marks = kafka[index]
                    .probe
                    .high_watermarks(&parts, timeout)
                    .map_err(|e| {
                        SyncFailure::Unavailable(format!(
                            "kafka source `{}`: asking the brokers for the high watermarks: {e}",
                            k.name
                        ))
                    })?;
                ends.push(End::Kafka {
                    source: index,
                    ends: parts
                        .into_iter()
                        .zip(marks)
                        .map(|((t, p), hw)| (t, p, hw))
                        .collect(),
                });
            }
            SourceConfig::File(f) => {
                if let Some(last) = f.paths.last().filter(|p| p.as_os_str() != "-") {
                    let size = std::fs::metadata(last).map(|m| m.len()).unwrap_or(0);
                    ends.push(End::File {
                        source: f.name.clone(),
                        file: last.display().to_string(),
                        size,
                    });
                }
            }
            // A lake source's end is every event of the commit it reads.
            SourceConfig::Lake(l) => {
                let total = shared
                    .feed
                    .sources()
                    .iter()
                    .find(|s| s.name == l.name)
                    .and_then(|s| s.position_at(u64::MAX))
                    .and_then(|p| p.get("total").and_then(Value::as_u64))
                    .unwrap_or(0);
                ends.push(End::Events {
                    source: l.name.clone(),
                    events: total,
                });
            }
            SourceConfig::Generator(g) => {
                let events = shared
                    .feed
                    .sources()
                    .iter()
                    .find(|s| s.name == g.name)
                    .and_then(|s| s.position_at(u64::MAX))
                    .and_then(|p| p.get("events").and_then(Value::as_u64))
                    .unwrap_or(0);
                ends.push(End::Events {
                    source: g.name.clone(),
                    events,
                });
            }
        }
    }
    Ok(ends)
}

/// What of `end` the views do not reflect at `positions` (`None`: all).
fn not_visible(end: &End, positions: &Value, kafka: &[KafkaSync], closed: bool) -> Option<String> {
    if closed {
        return None;
    }
    match end {
        End::Kafka { source, ends } => {
            let name = &kafka[*source].status.source;
            ends.iter().find_map(|(topic, partition, hw)| {
                let visible = positions
                    .get(name)
                    .and_then(|p| p.get(position_key(topic, *partition)))
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                (visible < *hw).then(|| {
                    format!("{topic}/{partition}: the views reflect offset {visible}, not yet {hw}")
                })
            })
        }
        End::File { source, file, size } => {
            let p = positions.get(source);
            let at = p.and_then(|p| p.get("file")).and_then(Value::as_str);
            let offset = p
                .and_then(|p| p.get("offset"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            (at != Some(file.as_str()) || offset < *size).then(|| {
                format!("source `{source}`: the views reflect {at:?} up to byte {offset}, not yet {file} to byte {size}")
            })
        }
        End::Events { source, events } => {
            let seen = positions
                .get(source)
                .and_then(|p| p.get("events"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            (seen < *events).then(|| {
                format!("source `{source}`: the views reflect {seen} events, not yet {events}")
            })
        }
    }
}

/// A Kafka partition of `end` whose committed offset is short of its end.
fn not_committed(end: &End, kafka: &[KafkaSync]) -> Option<String> {
    let End::Kafka { source, ends } = end else {
        return None;
    };
    let partitions = kafka[*source].status.partitions();
    ends.iter().find_map(|(topic, partition, hw)| {
        let committed = partitions
            .iter()
            .find(|p| p.topic == *topic && p.partition == *partition)
            .map_or(-1, |p| p.committed);
        (*hw > 0 && committed < *hw)
            .then(|| format!("{topic}/{partition}: committed offset {committed}, not yet {hw}"))
    })
}
