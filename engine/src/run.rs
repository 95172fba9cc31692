//! `helixflow run`: the streaming engine from a topology — sources, workers,
//! file sinks, the REST API, and a periodic one-line status on stderr.

use crate::engine::{Engine, EngineSpec};
use crate::health::HealthInputs;
use crate::kafka_health::{self, partition_lags};
use crate::lake_source::LakeProgress;
use crate::shared::{ReadHold, Shared, SnapshotError};
use crate::sync::{sync, KafkaSync};
use anyhow::Context;
use helixflow_api::access::Access;
use helixflow_api::health::ComponentHealth;
use helixflow_api::reader::{
    MemoryPartition, ReadError, ReadSession, SyncFailure, Synced, ViewReader,
};
use helixflow_api::server::{ApiServer, ServeOptions};
use helixflow_operators::content::ContentStore;
use helixflow_operators::intern::Interner;
use helixflow_operators::query::{Question, Reply};
use helixflow_operators::rows::ViewName;
use helixflow_operators::views::ViewSet;
use helixflow_sinks::files::write_view_file;
use helixflow_sinks::runner::SinkStatus;
use helixflow_sources::kafka::KafkaStatus;
use helixflow_sources::kafka::WatermarkProbe;
use helixflow_types::topology::{
    ApiAuth, ApiConfig, Cluster, FilesSinkConfig, SinkConfig, SourceConfig, Topology,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a read may wait for the workers, unless the reader is given
/// the API's `request_timeout` ([`EngineReader::with_read_timeout`]).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The engine as the API sees it.
pub struct EngineReader {
    shared: Arc<Shared>,
    kafka: Vec<Arc<KafkaStatus>>,
    views: ViewSet,
    topology: String,
    started: Instant,
    /// How long a read session's question may wait for the workers.
    read_timeout: Duration,
    /// What the sync barrier reads: the sources, their Kafka probes, the sinks.
    sources: Vec<SourceConfig>,
    kafka_sync: Vec<KafkaSync>,
    sinks: Vec<Arc<SinkStatus>>,
    /// Per Kafka source (by index in `kafka`), its memory topic.
    memory_topics: Vec<String>,
    /// The lake sources (the restore of the engine's lake among them).
    lakes: Vec<Arc<LakeProgress>>,
}

impl EngineReader {
    /// A reader over a running engine.
    pub fn new(
        shared: Arc<Shared>,
        kafka: Vec<Arc<KafkaStatus>>,
        views: ViewSet,
        topology: &str,
    ) -> Self {
        EngineReader {
            shared,
            kafka,
            views,
            topology: topology.to_owned(),
            started: Instant::now(),
            read_timeout: READ_TIMEOUT,
            sources: Vec::new(),
            kafka_sync: Vec::new(),
            sinks: Vec::new(),
            memory_topics: Vec::new(),
            lakes: Vec::new(),
        }
    }

    /// Gives the reader the lake sources' progress (health shows it).
    pub fn with_lakes(mut self, lakes: Vec<Arc<LakeProgress>>) -> Self {
        self.lakes = lakes;
        self
    }

    /// Reads wait for the workers at most `timeout` (the API gives up on a
    /// request after its `request_timeout`: its read should stop then too).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Gives the reader what memory sync needs: the engine's sources (a
    /// watermark probe per Kafka source) and its database sinks.
    pub fn with_sync(
        mut self,
        sources: &[SourceConfig],
        sinks: Vec<Arc<SinkStatus>>,
    ) -> anyhow::Result<Self> {
        for source in sources {
            if let SourceConfig::Kafka(k) = source {
                let Some(status) = self.kafka.iter().find(|s| s.source == k.name) else {
                    continue;
                };
                let probe = WatermarkProbe::new(k).with_context(|| {
                    format!("kafka source `{}`: creating the watermark probe", k.name)
                })?;
                self.kafka_sync.push(KafkaSync {
                    status: Arc::clone(status),
                    probe,
                });
            }
        }
        self.memory_topics = self
            .kafka
            .iter()
            .map(|status| {
                sources
                    .iter()
                    .find_map(|s| match s {
                        SourceConfig::Kafka(k) if k.name == status.source => {
                            Some(k.topics.memory.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_default()
            })
            .collect();
        self.sources = sources.to_vec();
        self.sinks = sinks;
        Ok(self)
    }
}

impl EngineReader {
    fn health_inputs(&self) -> HealthInputs<'_> {
        HealthInputs {
            shared: &self.shared,
            kafka: &self.kafka,
            sinks: &self.sinks,
            sources: &self.sources,
            views: self.views,
            topology: &self.topology,
            started: self.started,
            lakes: &self.lakes,
        }
    }
}

/// A read hold of the engine's, as the API's read session.
struct EngineSession<'a> {
    hold: ReadHold<'a>,
    shared: &'a Shared,
    timeout: Duration,
}

impl ReadSession for EngineSession<'_> {
    fn as_of(&self) -> u64 {
        self.hold.as_of
    }

    fn positions(&self) -> serde_json::Value {
        self.shared.feed.positions_at(self.hold.as_of)
    }

    fn ask(&self, question: Question) -> Result<Reply, ReadError> {
        self.hold.ask(question, self.timeout).map_err(|e| match e {
            SnapshotError::NotComputed(what) => ReadError::NotComputed(what),
            SnapshotError::Timeout(_) | SnapshotError::Stopping => {
                ReadError::Unavailable(e.to_string())
            }
        })
    }
}

impl ViewReader for EngineReader {
    fn session(&self) -> Box<dyn ReadSession + '_> {
        Box::new(EngineSession {
            hold: self.shared.hold(),
            shared: &self.shared,
            timeout: self.read_timeout,
        })
    }

    fn texts(&self) -> &ContentStore {
        &self.shared.texts
    }

    fn memory_partitions(&self, positions: &serde_json::Value) -> Vec<MemoryPartition> {
        self.kafka
            .iter()
            .zip(&self.memory_topics)
            .flat_map(|(status, topic)| {
                partition_lags(status, positions)
                    .into_iter()
                    .filter(move |p| p.topic == *topic)
            })
            .map(|p| MemoryPartition {
                topic: p.topic,
                partition: p.partition,
                consumed: p.consumed,
                visible: p.visible,
                high_watermark: p.high_watermark,
            })
            .collect()
    }

    fn sync(&self, timeout: Duration) -> Result<Synced, SyncFailure> {
        sync(
            &self.shared,
            &self.sources,
            &self.kafka_sync,
            &self.sinks,
            timeout,
        )
    }

    fn ids(&self) -> &Interner {
        &self.shared.ids
    }

    fn record_metrics(&self) {
        crate::metrics::record(&self.health_inputs());
    }

    fn health(&self) -> helixflow_api::health::EngineHealth {
        self.health_inputs().document()
    }

    fn components(&self) -> Vec<ComponentHealth> {
        self.health_inputs().components()
    }
}

/// Runs a topology until Ctrl-C (or until done, with `exit_when_done`).
pub fn run(
    mut topology: Topology,
    exit_when_done: bool,
    cluster: Option<Cluster>,
) -> anyhow::Result<()> {
    let leader = cluster.as_ref().is_none_or(Cluster::is_leader);
    if let Some(r) = crate::restore::plan(&mut topology)? {
        eprintln!(
            "helixflow: restoring {} events from the lake at {} (commit {}); {} Kafka partitions resume where it left off",
            r.events,
            r.location,
            r.commit,
            r.resumed.len()
        );
    }
    // Who may call the API is settled before the engine starts: a refusal
    // must not leave a cluster's dataflow waiting for this process.
    let api_plan = match topology.api.bind_addr().filter(|_| topology.api.enabled) {
        Some(addr) => Some((addr, api_access(&topology.api, addr, api_token())?)),
        None => None,
    };
    let mut spec = EngineSpec::streaming(&topology);
    spec.cluster = cluster.clone();
    let views = spec.views;
    let mut engine = Engine::start(spec)?;
    let shared = Arc::clone(&engine.shared);
    let reader = Arc::new(
        EngineReader::new(
            Arc::clone(&shared),
            engine.kafka.clone(),
            views,
            &topology.name,
        )
        .with_sync(&topology.sources, engine.sinks.clone())?
        .with_lakes(engine.lakes.clone())
        .with_read_timeout(topology.api.request_timeout),
    );
    let api = match api_plan {
        Some((addr, access)) => {
            let checked = access.is_checked();
            let options = ServeOptions::from_config(addr, &topology.api, access);
            let server =
                ApiServer::start_with(options, reader.clone()).context("starting the API")?;
            eprintln!(
                "helixflow: API on http://{}/v1/views (topology `{}`, {} workers{})",
                server.addr(),
                topology.name,
                topology.engine.workers,
                if checked {
                    ", bearer token required"
                } else {
                    ""
                }
            );
            Some(server)
        }
        None => None,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
            .context("installing the SIGINT/SIGTERM handler")?;
    }
    let sink_status = engine.sinks.clone();
    let stop_sinks = Arc::new(AtomicBool::new(false));
    let sinks: Vec<_> = topology
        .sinks
        .iter()
        .filter_map(|s| match s {
            // A cluster's file sinks read every process; process 0 writes.
            SinkConfig::Files(f) if leader => Some(f),
            _ => None,
        })
        .map(|s| {
            spawn_files_sink(
                s.clone(),
                Arc::clone(&reader),
                Arc::clone(&shared),
                Arc::clone(&stop_sinks),
            )
        })
        .collect();
    let status_every = topology.engine.status_interval;
    let mut last_status = Instant::now();
    let mut last_valid = 0u64;
    let mut failure = None;
    let mut restore_pending = engine.lakes.iter().any(|l| l.restore);
    let restore_started = Instant::now();
    while !interrupted.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if restore_pending && engine.lakes.iter().all(|l| l.done.load(Ordering::Acquire)) {
            restore_pending = false;
            for l in engine
                .lakes
                .iter()
                .filter(|l| l.restore && l.error().is_none())
            {
                eprintln!(
                    "helixflow: restore done: {} events of commit {} read from the lake in {:.1} s",
                    l.events_read.load(Ordering::Relaxed),
                    l.commit.load(Ordering::Relaxed),
                    restore_started.elapsed().as_secs_f64()
                );
            }
        }
        if let Some(lost) = crate::cluster::lost_peer() {
            crate::cluster::exit_peer_lost(lost);
        }
        shared.trim_positions(engine.sinks_written());
        if let Some(e) = engine.source_error() {
            failure = Some(anyhow::anyhow!("a source failed: {e}"));
            break;
        }
        if !status_every.is_zero() && last_status.elapsed() >= status_every {
            let valid = shared.valid.load(Ordering::Relaxed);
            let rate = (valid - last_valid) as f64 / last_status.elapsed().as_secs_f64();
            eprintln!("{}", status_line(&reader, &sink_status, rate));
            last_valid = valid;
            last_status = Instant::now();
        }
        if exit_when_done && shared.complete().1 {
            break;
        }
    }
    // Stop in order: sinks write their last files and the last status line
    // prints while the workers can still answer; then the API; then the engine.
    // In a cluster, the others may leave meanwhile.
    crate::cluster::stopping();
    stop_sinks.store(true, Ordering::Relaxed);
    for s in sinks {
        // A sink thread that panicked has already reported through its own output.
        let _ = s.join();
    }
    eprintln!("{}", status_line(&reader, &sink_status, 0.0));
    if let Some(api) = api {
        api.stop();
    }
    drop(reader);
    drop(shared);
    engine.shutdown().map_err(anyhow::Error::msg)?;
    for s in &sink_status {
        eprintln!("{}", sink_part(s));
    }
    failure.map_or(Ok(()), Err)
}

/// Where the API's bearer token comes from.
const TOKEN_VARIABLE: &str = "HELIXFLOW_API_TOKEN";

fn api_token() -> Option<String> {
    std::env::var(TOKEN_VARIABLE).ok().filter(|t| !t.is_empty())
}

/// The API's access rule: a token when the topology or the address asks for
/// one, which must then be set; refused otherwise, with the two fixes.
fn api_access(
    config: &ApiConfig,
    addr: std::net::SocketAddr,
    token: Option<String>,
) -> anyhow::Result<Access> {
    match (config.effective_auth(token.is_some()), token) {
        (ApiAuth::None, _) => Ok(Access::open()),
        (ApiAuth::Token, Some(token)) => Ok(Access::token(&token)),
        (ApiAuth::Token, None) => {
            let why = if config.auth == Some(ApiAuth::Token) {
                "the topology says `auth = \"token\"`".to_owned()
            } else {
                format!("{addr} is not a loopback address")
            };
            anyhow::bail!(
                "api.bind = {:?}: the API requires a bearer token ({why}), and {TOKEN_VARIABLE} is not set; \
                 fix: set {TOKEN_VARIABLE}, or say `auth = \"none\"` under [api] to let anyone who can reach {addr} read",
                config.bind
            )
        }
    }
}

/// One database sink's state for the status line.
fn sink_part(s: &SinkStatus) -> String {
    let problem = s
        .problem()
        .map(|p| format!(", DOWN: {p}"))
        .unwrap_or_default();
    format!(
        "sink `{}` ({}): {} rows in {} batches, {} pending, {} failed writes{problem}",
        s.name,
        s.kind,
        s.rows_written(),
        s.batches_written(),
        s.pending(),
        s.failures()
    )
}

fn status_line(reader: &EngineReader, sinks: &[Arc<SinkStatus>], rate: f64) -> String {
    let s = &reader.shared;
    let (as_of, _) = s.complete();
    let mut sizes = Vec::new();
    for v in ViewName::ALL.iter().filter(|v| reader.views.contains(**v)) {
        if let Ok(rows) = s.rows(*v, READ_TIMEOUT) {
            sizes.push(format!("{}={rows}", v.as_str()));
        }
    }
    let positions = s.feed.positions_at(as_of);
    let kafka: String = reader
        .kafka
        .iter()
        .map(|k| format!(" | {}", kafka_health::status_part(k, &positions)))
        .collect();
    let sinks: String = sinks
        .iter()
        .map(|k| format!(" | {}", sink_part(k)))
        .collect();
    let restoring: String = reader
        .lakes
        .iter()
        .filter(|l| l.restore && !l.done.load(Ordering::Acquire))
        .map(|l| {
            format!(
                " | restoring from the lake: {} of {} events, {} of {} files",
                l.events_read.load(Ordering::Relaxed),
                l.events_total.load(Ordering::Relaxed),
                l.files_read.load(Ordering::Relaxed),
                l.files_total.load(Ordering::Relaxed)
            )
        })
        .collect();
    format!(
        "status: {:.0} events/s, {} valid, {} rejected, {} duplicates, epoch {}, backlog {} chunks{restoring}{kafka}{sinks} | {}",
        rate,
        s.valid.load(Ordering::Relaxed),
        s.rejects.total(),
        s.duplicates(),
        as_of,
        s.feed.backlog(),
        sizes.join(" ")
    )
}

fn spawn_files_sink(
    files: FilesSinkConfig,
    reader: Arc<EngineReader>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let views: Vec<ViewName> = SinkConfig::Files(files.clone())
            .view_names()
            .into_iter()
            .filter_map(ViewName::parse)
            .collect();
        let mut next = Instant::now() + files.interval;
        let write_all = || {
            for v in &views {
                match reader.read(*v) {
                    Ok(snap) => {
                        if let Err(e) = write_view_file(&files.dir, *v, snap.part, &shared.ids) {
                            tracing::warn!(
                                "sink `{}`: writing {v} to {}: {e}",
                                files.name,
                                files.dir.display()
                            );
                        }
                    }
                    Err(e) => tracing::warn!("sink `{}`: reading {v}: {e}", files.name),
                }
            }
        };
        while !stop.load(Ordering::Relaxed) && !shared.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() >= next {
                write_all();
                next = Instant::now() + files.interval;
            }
        }
        write_all();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(bind: &str, auth: Option<ApiAuth>) -> ApiConfig {
        ApiConfig {
            bind: bind.into(),
            auth,
            ..ApiConfig::default()
        }
    }

    #[test]
    fn off_loopback_the_api_needs_a_token_or_an_explicit_none() {
        let addr = "0.0.0.0:8080".parse().unwrap();
        let err = api_access(&config("0.0.0.0:8080", None), addr, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HELIXFLOW_API_TOKEN")
                && err.contains("auth = \"none\"")
                && err.contains("not a loopback"),
            "{err}"
        );
        let open = api_access(&config("0.0.0.0:8080", Some(ApiAuth::None)), addr, None).unwrap();
        assert!(!open.is_checked());
        let checked = api_access(&config("0.0.0.0:8080", None), addr, Some("t".into())).unwrap();
        assert!(checked.is_checked());
    }

    #[test]
    fn on_loopback_a_token_is_checked_only_when_set_or_asked_for() {
        let addr = "127.0.0.1:8080".parse().unwrap();
        let loopback = config("127.0.0.1:8080", None);
        assert!(!api_access(&loopback, addr, None).unwrap().is_checked());
        assert!(api_access(&loopback, addr, Some("t".into()))
            .unwrap()
            .is_checked());
        let asked = config("127.0.0.1:8080", Some(ApiAuth::Token));
        let err = api_access(&asked, addr, None).unwrap_err().to_string();
        assert!(err.contains("auth = \"token\""), "{err}");
    }
}
