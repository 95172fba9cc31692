//! Starting the database sinks of a topology (ClickHouse, Neo4j, the lake):
//! one runner thread each, fed by the views' export operators (and ingest,
//! for raw events) through a bounded channel, and the fan-out the workers
//! publish to.

use crate::shared::Shared;
use helixflow_operators::changes::{RawFeed, ViewChanges};
use helixflow_operators::intern::Id;
use helixflow_operators::rows::ViewName;
use helixflow_operators::views::ViewExports;
use helixflow_operators::Time;
use helixflow_sinks::clickhouse::ClickHouseWriter;
use helixflow_sinks::lake::{is_lake_position, LakeWriter, PositionsAt};
use helixflow_sinks::neo4j::Neo4jWriter;
use helixflow_sinks::pending::IdNames;
use helixflow_sinks::queue::{change_queue, ChangeSender, SinkMessage};
use helixflow_sinks::runner::{SinkError, SinkRunner, SinkStatus};
use helixflow_types::event::EventKind;
use helixflow_types::topology::SinkConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a stopping sink keeps retrying its last writes.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The running database sinks of an engine.
pub struct DbSinks {
    /// Each sink's state.
    pub status: Vec<Arc<SinkStatus>>,
    /// Where each view's changes go (cloned into every worker).
    pub exports: ViewExports,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// True for the sinks that take change streams (not the files sink).
pub fn is_database_sink(config: &SinkConfig) -> bool {
    !matches!(config, SinkConfig::Files(_))
}

impl IdNames for Shared {
    fn name(&self, id: Id) -> &str {
        self.ids.resolve(id)
    }
}

fn names(shared: &Arc<Shared>) -> Arc<dyn IdNames> {
    Arc::clone(shared) as Arc<dyn IdNames>
}

impl DbSinks {
    /// Starts a runner per database sink in `configs`.
    pub fn start(
        configs: &[SinkConfig],
        workers: usize,
        shared: &Arc<Shared>,
    ) -> Result<DbSinks, SinkError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders: Vec<Vec<Target>> = vec![Vec::new(); ViewName::ALL.len()];
        let mut status = Vec::new();
        let mut threads = Vec::new();
        let mut raw_targets = Vec::new();
        for config in configs.iter().filter(|c| is_database_sink(c)) {
            let views: Vec<ViewName> = config
                .view_names()
                .into_iter()
                .filter_map(ViewName::parse)
                .collect();
            // One match: the sink's kind, batching, and its writer's thread body.
            type Body = Box<dyn FnOnce(SinkRunner) + Send>;
            let (kind, batching, body): (_, _, Body) = match config {
                SinkConfig::ClickHouse(c) => {
                    let writer = ClickHouseWriter::new(c, views.clone(), names(shared))?;
                    (
                        "clickhouse",
                        c.batching.clone(),
                        Box::new(move |r| r.run(writer)),
                    )
                }
                SinkConfig::Neo4j(c) => {
                    let writer = Neo4jWriter::new(c, names(shared))?;
                    (
                        "neo4j",
                        c.batching.clone(),
                        Box::new(move |r| r.run(writer)),
                    )
                }
                SinkConfig::Lake(c) => {
                    // Compaction waits for the restore of this lake to finish.
                    let restore = crate::restore::source_name(&c.name);
                    let feed = shared.feed.clone();
                    let writer = LakeWriter::new(c, lake_positions(shared))?.with_compaction_gate(
                        Arc::new(move || {
                            feed.sources()
                                .iter()
                                .all(|s| s.name != restore || s.finished())
                        }),
                    );
                    ("lake", c.batching(), Box::new(move |r| r.run(writer)))
                }
                SinkConfig::Files(_) => continue,
            };
            // In flight: at most the backlog's bound again (plus one message).
            let (tx, rx) = change_queue(batching.max_pending_rows as u64);
            let target = Target {
                tx,
                raw_kinds: config.raw_kinds(),
                lake: matches!(config, SinkConfig::Lake(_)),
            };
            let takes_raw = !target.raw_kinds.is_empty();
            for v in &views {
                senders[*v as usize].push(target.clone());
            }
            if !target.raw_kinds.is_empty() {
                raw_targets.push(target);
            }
            let sink_status = Arc::new(SinkStatus::new(config.name(), kind));
            status.push(Arc::clone(&sink_status));
            let runner = SinkRunner {
                batching,
                raw: takes_raw,
                views,
                workers,
                changes: rx,
                status: sink_status,
                stop: Arc::clone(&stop),
                stop_grace: STOP_GRACE,
            };
            let thread = std::thread::Builder::new()
                .name(format!("sink-{}", config.name()))
                .spawn(move || body(runner))
                .map_err(|e| SinkError::new(format!("starting sink `{}`", config.name()), e))?;
            threads.push(thread);
        }
        let mut exports = ViewExports::default();
        // Events restored from the lake go to every raw sink but the lake.
        let not_lakes: Vec<Target> = raw_targets.iter().filter(|t| !t.lake).cloned().collect();
        if !raw_targets.is_empty() {
            let shared = Arc::clone(shared);
            exports.raw = Some(Arc::new(move |r: RawFeed| {
                let message = match r {
                    RawFeed::Events(events) => SinkMessage::Raw(events),
                    RawFeed::Restored(events) => {
                        return fan_out(&not_lakes, &shared, SinkMessage::Raw(events))
                    }
                    RawFeed::Progress { worker, upper } => {
                        SinkMessage::RawProgress { worker, upper }
                    }
                };
                fan_out(&raw_targets, &shared, message)
            }));
        }
        for (i, targets) in senders.into_iter().enumerate() {
            if !targets.is_empty() {
                let shared = Arc::clone(shared);
                exports.publish[i] = Some(Arc::new(move |c: ViewChanges| {
                    fan_out(&targets, &shared, SinkMessage::Changes(c))
                }));
            }
        }
        Ok(DbSinks {
            status,
            exports,
            stop,
            threads,
        })
    }

    /// Tells the runners to write what they hold and stop; waits for them.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            // A runner that panicked has nothing more to write.
            let _ = t.join();
        }
    }
}

/// What a lake commit covering the epochs before `upper` records: each
/// source's position at the last epoch it covers.
fn lake_positions(shared: &Arc<Shared>) -> PositionsAt {
    let shared = Arc::clone(shared);
    Arc::new(move |upper| {
        if upper == 0 {
            return serde_json::Map::new();
        }
        let at = if upper == Time::MAX { upper } else { upper - 1 };
        match shared.feed.positions_at(at) {
            // A lake source's events are in some lake already: not input positions.
            serde_json::Value::Object(mut map) => {
                map.retain(|_, p| !is_lake_position(p));
                map
            }
            _ => serde_json::Map::new(),
        }
    })
}

/// The latest epoch every sink has written (`Time::MAX` with no sink).
pub fn written_epoch(sinks: &[Arc<SinkStatus>]) -> Time {
    sinks
        .iter()
        .map(|s| s.written_frontier().saturating_sub(1))
        .min()
        .unwrap_or(Time::MAX)
}

/// One sink's queue, and the raw event kinds it takes.
#[derive(Clone)]
struct Target {
    tx: ChangeSender,
    raw_kinds: Vec<EventKind>,
    lake: bool,
}

/// Sends a message to every sink in `targets` (raw events: only the kinds
/// each takes), waiting while a sink's queue is full (backpressure) unless
/// the engine is stopping. A worker that waits keeps answering reads
/// ([`crate::waiting`]): the views computed so far stay readable while a
/// sink is down.
fn fan_out(targets: &[Target], shared: &Shared, msg: SinkMessage) {
    let stopping = || {
        crate::waiting::answer_waiting_reads();
        shared.shutdown.load(Ordering::Relaxed)
    };
    // Clone for every sink but the last, which takes the original.
    let mut msg = Some(msg);
    for (i, target) in targets.iter().enumerate() {
        let m = if i + 1 == targets.len() {
            msg.take()
        } else {
            msg.clone()
        };
        let m = match m {
            Some(SinkMessage::Raw(mut events)) => {
                events.retain(|(_, e)| target.raw_kinds.contains(&e.kind()));
                if events.is_empty() {
                    continue;
                }
                SinkMessage::Raw(events)
            }
            Some(m) => m,
            None => return,
        };
        target.tx.send(m, stopping);
    }
}
