//! Starting and stopping an engine: the shared state, the source threads,
//! the timely workers, and (if asked) the API server.

use crate::cluster::{self, ConnectError, Timeouts};
use crate::cluster_sinks::{ExportShape, Forwarder};
use crate::db_sinks::{written_epoch, DbSinks};
use crate::lake_source::{self, LakeProgress};
use crate::rejects::RejectLog;
use crate::shared::Shared;
use crate::worker::run_worker;
use helixflow_operators::views::{ViewExports, ViewSet};
use helixflow_sinks::runner::{SinkError, SinkStatus};
use helixflow_sources::feed::{EpochClock, EpochPolicy, Feed, Share};
use helixflow_sources::file::{FileProgress, FileSource};
use helixflow_sources::generator::{Generator, GeneratorSettings, TrafficShape};
use helixflow_sources::kafka::{self, EngineHooks, KafkaStatus};
use helixflow_types::topology::{Cluster, SinkConfig, SourceConfig, Topology};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

/// How to build an engine.
pub struct EngineSpec {
    /// Worker threads.
    pub workers: usize,
    /// Views to compute.
    pub views: ViewSet,
    /// Sources, as the topology gives them.
    pub sources: Vec<SourceConfig>,
    /// How sources assign epochs.
    pub epochs: EpochPolicy,
    /// Where rejections go.
    pub rejects: RejectLog,
    /// Chunks in flight between sources and workers.
    pub feed_capacity: usize,
    /// Sinks; the database ones (ClickHouse, Neo4j) are started with the
    /// engine, and Kafka offsets wait for them.
    pub sinks: Vec<SinkConfig>,
    /// The processes this one runs with (`None`: it runs alone).
    pub cluster: Option<Cluster>,
    /// How long a cluster waits for its peers, and tolerates a silent one.
    pub timeouts: Timeouts,
}

/// A running engine.
pub struct Engine {
    /// State shared with workers, sources, API and sinks.
    pub shared: Arc<Shared>,
    /// Bytes read by file sources (for progress bars).
    pub file_progress: Arc<FileProgress>,
    /// State of each Kafka source (offsets, lag, brokers).
    pub kafka: Vec<Arc<KafkaStatus>>,
    /// State of each database sink (written epochs, backlog, errors).
    pub sinks: Vec<Arc<SinkStatus>>,
    /// How far each lake source (a restore, `replay --lake`) has read.
    pub lakes: Vec<Arc<LakeProgress>>,
    db_sinks: Option<DbSinks>,
    sources: Vec<JoinHandle<Result<(), String>>>,
    workers: Option<timely::communication::initialize::WorkerGuards<()>>,
}

/// Why an engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Timely refused the configuration.
    #[error("cannot start {workers} workers: {message}")]
    Workers { workers: usize, message: String },
    /// A sink could not start.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The cluster could not be formed.
    #[error("cluster: {0}")]
    Cluster(#[from] ConnectError),
}

impl EngineSpec {
    /// The streaming engine of a topology: its workers, views and sources,
    /// wall-clock epochs of `engine.epoch`.
    pub fn streaming(topology: &Topology) -> Self {
        EngineSpec {
            workers: topology.engine.workers,
            views: ViewSet::from_names(topology.views.names(), topology.views.context),
            sources: topology.sources.clone(),
            epochs: EpochPolicy::Clock(EpochClock::new(topology.engine.epoch)),
            rejects: RejectLog::default(),
            feed_capacity: 64,
            sinks: topology.sinks.clone(),
            cluster: None,
            timeouts: Timeouts::default(),
        }
    }
}

impl Engine {
    /// Starts sources and workers.
    pub fn start(spec: EngineSpec) -> Result<Engine, StartError> {
        if let Some(c) = &spec.cluster {
            // Before any id exists: ids hash as their strings everywhere.
            helixflow_operators::intern::route_by_name();
            cluster::watch_peers(c);
        }
        let share = spec.cluster.as_ref().map_or(Share::default(), |c| Share {
            index: c.process,
            of: c.processes(),
        });
        let leader = spec.cluster.as_ref().is_none_or(Cluster::is_leader);
        let feed = Feed::new(spec.feed_capacity);
        // One feed source per source, except a Kafka source: one per consumer thread.
        let handles: Vec<Vec<_>> = spec
            .sources
            .iter()
            .map(|s| {
                let threads = match s {
                    SourceConfig::Kafka(k) => k.consumers.unwrap_or(spec.workers),
                    _ => 1,
                };
                (0..threads).map(|_| feed.add_source(s.name())).collect()
            })
            .collect();
        let (shared, inboxes) =
            Shared::new(spec.workers, feed, spec.rejects, spec.cluster.is_some());
        if let EpochPolicy::Clock(clock) = &spec.epochs {
            shared.pace_clock(clock.pace());
        }
        // A cluster's sinks run on process 0, fed by every worker of every
        // process ([`crate::cluster_sinks`]); the others start none.
        let processes = spec.cluster.as_ref().map_or(1, Cluster::processes);
        let shape = ExportShape::of_sinks(&spec.sinks);
        let forwarding = processes > 1 && shape.any();
        if forwarding {
            shared.sinks_in_cluster();
        }
        let db_sinks = if leader {
            DbSinks::start(&spec.sinks, spec.workers * processes, &shared)?
        } else {
            DbSinks::start(&[], spec.workers, &shared)?
        };
        let file_progress = Arc::new(FileProgress::default());
        let mut sources = Vec::new();
        let mut kafka = Vec::new();
        let mut lakes = Vec::new();
        for (config, mut handles) in spec.sources.into_iter().zip(handles) {
            let shared = Arc::clone(&shared);
            let epochs = spec.epochs.clone();
            match config {
                SourceConfig::File(f) => {
                    let Some(handle) = handles.pop() else {
                        continue;
                    };
                    let progress = Arc::clone(&file_progress);
                    let source = FileSource {
                        paths: f.paths,
                        follow: f.follow,
                        epochs,
                        chunk_bytes: 256 * 1024,
                        share,
                    };
                    sources.push(std::thread::spawn(move || {
                        source
                            .run(&handle, &progress, &shared.shutdown)
                            .map_err(|e| e.to_string())
                    }));
                }
                SourceConfig::Generator(g) => {
                    let Some(handle) = handles.pop() else {
                        continue;
                    };
                    // One process generates; the others would repeat it.
                    if !leader {
                        handle.finish(0, serde_json::Value::Null);
                        continue;
                    }
                    let generator = Generator::new(GeneratorSettings {
                        seed: g.seed,
                        events: g.events,
                        rate: g.rate,
                        duplicate_ratio: g.duplicate_ratio,
                        malformed_ratio: g.malformed_ratio,
                        scale: g.events.unwrap_or(1_000_000),
                        shape: TrafficShape::SHORT.with_content_chars(g.content_chars),
                    });
                    sources.push(std::thread::spawn(move || {
                        generator
                            .run(&handle, epochs, &shared.shutdown)
                            .map_err(|e| e.to_string())
                    }));
                }
                SourceConfig::Lake(l) => {
                    let Some(handle) = handles.pop() else {
                        continue;
                    };
                    let progress = Arc::new(LakeProgress::new(&l));
                    lakes.push(Arc::clone(&progress));
                    sources.push(std::thread::spawn(move || {
                        lake_source::run(&l, &handle, epochs, share, &progress, &shared.shutdown)
                            .map_err(|e| format!("lake source `{}`: {e}", l.name))
                    }));
                }
                SourceConfig::Kafka(k) => {
                    let status = Arc::new(KafkaStatus::new(&k.name));
                    kafka.push(Arc::clone(&status));
                    let hooks = EngineHooks {
                        stopping: {
                            let shared = Arc::clone(&shared);
                            Arc::new(move || shared.shutdown.load(Ordering::Relaxed))
                        },
                        // Offsets are committed only for epochs every view
                        // reflects and every database sink has written.
                        absorbed: {
                            let shared = Arc::clone(&shared);
                            let sinks = db_sinks.status.clone();
                            Arc::new(move || shared.complete().0.min(shared.sinks_written(&sinks)))
                        },
                    };
                    let name = k.name.clone();
                    sources.push(std::thread::spawn(move || {
                        kafka::run(*k, handles, epochs, hooks, status, share)
                            .map_err(|e| format!("kafka source `{name}`: {e}"))
                    }));
                }
            }
        }
        let inboxes = std::sync::Mutex::new(inboxes.into_iter().map(Some).collect::<Vec<_>>());
        let worker_shared = Arc::clone(&shared);
        let views = spec.views;
        let exports = db_sinks.exports.clone();
        let threads = spec.workers;
        let written: Arc<dyn Fn() -> helixflow_operators::Time + Send + Sync> = {
            let statuses = db_sinks.status.clone();
            Arc::new(move || written_epoch(&statuses))
        };
        let run = move |worker: &mut timely::worker::Worker| {
            let local = worker.index() % threads;
            let inbox = inboxes
                .lock()
                .ok()
                .and_then(|mut v| v.get_mut(local).and_then(Option::take));
            if let Some(inbox) = inbox {
                let exports = ViewExports {
                    worker: worker.index(),
                    ..exports.clone()
                };
                let (forwarder, exports) = if forwarding {
                    let (f, e) = Forwarder::build(
                        worker,
                        shape,
                        leader.then_some(exports),
                        leader.then(|| Arc::clone(&written)),
                        threads,
                        Arc::clone(&worker_shared),
                    );
                    (Some(f), e)
                } else {
                    (None, exports)
                };
                run_worker(
                    worker,
                    Arc::clone(&worker_shared),
                    views,
                    inbox,
                    exports,
                    forwarder,
                );
            }
        };
        let workers = match &spec.cluster {
            None => timely::execute(timely::Config::process(spec.workers), run),
            Some(c) => {
                let (builders, others) = cluster::allocators(c, spec.workers, spec.timeouts)?;
                timely::execute::execute_from(builders, others, Default::default(), run)
            }
        }
        .map_err(|message| StartError::Workers {
            workers: spec.workers,
            message,
        })?;
        Ok(Engine {
            shared,
            file_progress,
            kafka,
            sinks: db_sinks.status.clone(),
            lakes,
            db_sinks: Some(db_sinks),
            sources,
            workers: Some(workers),
        })
    }

    /// Waits until every source has finished and every view reflects all of it.
    pub fn wait_complete(&self) {
        loop {
            let (_, closed) = self.shared.complete();
            if closed || self.shared.shutdown.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Waits until every database sink has written everything the views
    /// reflect now (false if `timeout` passes first).
    pub fn wait_sinks_written(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let (readable, closed) = self.shared.complete();
            let written = self.sinks_written();
            if written >= readable || (closed && written == helixflow_operators::Time::MAX) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The latest epoch every sink has written (a cluster's: as process 0
    /// last said).
    pub fn sinks_written(&self) -> helixflow_operators::Time {
        self.shared.sinks_written(&self.sinks)
    }

    /// Stops sources and workers; returns the first source error, if any.
    pub fn shutdown(mut self) -> Result<(), String> {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        // Unblock sources waiting on a full feed by draining it.
        while self.shared.feed.try_take().is_ok() {}
        let mut first_error = None;
        for s in self.sources.drain(..) {
            while !s.is_finished() {
                while self.shared.feed.try_take().is_ok() {}
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            match s.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert("a source thread panicked".to_owned());
                }
            }
        }
        if let Some(w) = self.workers.take() {
            for r in w.join() {
                if let Err(e) = r {
                    first_error.get_or_insert(format!("a worker failed: {e}"));
                }
            }
        }
        // The workers are gone: the sinks write what they hold, then stop.
        if let Some(mut sinks) = self.db_sinks.take() {
            sinks.stop();
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The first error of a source that has already stopped, if any.
    pub fn source_error(&mut self) -> Option<String> {
        let i = self.sources.iter().position(|s| s.is_finished())?;
        match self.sources.remove(i).join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("a source thread panicked".to_owned()),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        // Dropped without `shutdown` (start-up failed after the engine
        // started): a cluster's workers wait for their peers' progress and
        // would never join, keeping the error from being reported. The
        // process is about to exit; let them go with it.
        if self.shared.is_cluster() {
            if let Some(workers) = self.workers.take() {
                std::mem::forget(workers);
            }
        }
    }
}
