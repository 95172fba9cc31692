//! The engine's health as the API serves it: the `/v1/health` document and
//! the component list of `/v1/bigdata/health` (each source, each database
//! sink, the API), with each component's state, detail line and figures.
//!
//! States: a Kafka source waiting for its brokers or still setting up is
//! `degraded`; a lake source that failed (a damaged lake) is `down`; while
//! the engine loads its own lake at start, `/v1/health` says `restoring`
//! with the load's progress; a sink that cannot write (it retries, holds its changes and
//! holds ingestion back) is `degraded`; a sink whose runner has returned is
//! `down`. The views stay readable in every one of these.

use crate::kafka_health::{self, partition_lags};
use crate::lake_source::LakeProgress;
use crate::shared::Shared;
use helixflow_api::health::{
    ComponentHealth, ComponentKind, EngineHealth, EngineStatus, Figures, HealthState,
    RestoreProgress,
};
use helixflow_operators::rows::ViewName;
use helixflow_operators::views::ViewSet;
use helixflow_sinks::runner::SinkStatus;
use helixflow_sources::feed::SourceProgress;
use helixflow_sources::kafka::KafkaStatus;
use helixflow_types::timestamp::format_millis;
use helixflow_types::topology::SourceConfig;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// What the health reports and the metrics read.
pub struct HealthInputs<'a> {
    pub shared: &'a Shared,
    pub kafka: &'a [Arc<KafkaStatus>],
    pub sinks: &'a [Arc<SinkStatus>],
    pub sources: &'a [SourceConfig],
    pub views: ViewSet,
    pub topology: &'a str,
    pub started: Instant,
    /// The lake sources (a restore of the engine's own lake among them).
    pub lakes: &'a [Arc<LakeProgress>],
}

impl HealthInputs<'_> {
    /// Every component, sources first, then sinks, then the API.
    pub fn components(&self) -> Vec<ComponentHealth> {
        let (as_of, _) = self.shared.complete();
        let positions = self.shared.feed.positions_at(as_of);
        let mut out: Vec<ComponentHealth> = sources_by_name(self.shared)
            .iter()
            .map(|(name, parts)| self.source(name, parts, &positions))
            .collect();
        out.extend(self.sinks.iter().map(|s| sink(s)));
        out.push(ComponentHealth {
            component: ComponentKind::Api,
            name: "api".into(),
            kind: "http".into(),
            state: HealthState::Ok,
            detail: format!("answering reads at epoch {as_of}"),
            figures: Figures::default(),
        });
        out
    }

    fn source(
        &self,
        name: &str,
        parts: &[Arc<SourceProgress>],
        positions: &serde_json::Value,
    ) -> ComponentHealth {
        let config = self.sources.iter().find(|s| s.name() == name);
        let kafka = self.kafka.iter().find(|k| k.source == name);
        let lines: u64 = parts.iter().map(|p| p.events()).sum();
        let figures = Figures {
            written_epoch: parts.iter().map(|p| p.sealed()).min(),
            rows: Some(lines),
            ..Figures::default()
        };
        let Some(k) = kafka else {
            let kind = match config {
                Some(SourceConfig::Generator(_)) => "generator",
                Some(SourceConfig::Lake(_)) => "lake",
                _ => "file",
            };
            let lake = self.lakes.iter().find(|l| l.name == name);
            let failed = lake.and_then(|l| l.error());
            let detail = if let Some(e) = &failed {
                format!("stopped: {e}")
            } else if let Some(l) = lake {
                let p = restore_progress(l);
                let verb = if p.done {
                    "read"
                } else if l.restore {
                    "restoring"
                } else {
                    "reading"
                };
                format!(
                    "{verb}: {} of {} events, {} of {} files, of commit {} of the lake at {}",
                    p.events_read,
                    p.events_total,
                    p.files_read,
                    p.files_total,
                    p.commit,
                    p.location
                )
            } else if parts.iter().all(|p| p.finished()) {
                format!("finished: {lines} lines read")
            } else {
                format!("reading: {lines} lines so far")
            };
            return ComponentHealth {
                component: ComponentKind::Source,
                name: name.to_owned(),
                kind: kind.into(),
                state: if failed.is_some() {
                    HealthState::Down
                } else {
                    HealthState::Ok
                },
                detail,
                figures: Figures {
                    last_error: failed,
                    ..figures
                },
            };
        };
        let partitions = partition_lags(k, positions);
        let known = k.setup().is_none() && partitions.iter().all(|p| p.high_watermark >= 0);
        let waiting = k.broker_problem().or_else(|| k.setup());
        ComponentHealth {
            component: ComponentKind::Source,
            name: name.to_owned(),
            kind: "kafka".into(),
            state: if waiting.is_some() {
                HealthState::Degraded
            } else {
                HealthState::Ok
            },
            detail: kafka_health::state(k),
            figures: Figures {
                lag: known.then(|| partitions.iter().map(|p| p.lag).sum()),
                failures: Some(k.commit_failures()),
                last_error: k.broker_problem(),
                ..figures
            },
        }
    }

    /// The `/v1/health` document: status (the worst component state),
    /// counters, positions, sources, Kafka partitions, sinks and views.
    pub fn document(&self) -> EngineHealth {
        let s = self.shared;
        let (as_of, closed) = s.complete();
        let components = self.components();
        let status = HealthState::worst(components.iter().map(|c| c.state));
        let sources = s
            .feed
            .sources()
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "lines": p.events(),
                    "sealed_epoch": p.sealed(),
                    "finished": p.finished(),
                    "position": p.position_at(u64::MAX),
                })
            })
            .collect();
        let restore = self
            .lakes
            .iter()
            .find(|l| l.restore)
            .map(|l| restore_progress(l));
        let status = EngineStatus::of(status, restore.as_ref().is_some_and(|r| !r.done));
        let positions = s.feed.positions_at(as_of);
        let kafka = self
            .kafka
            .iter()
            .map(|k| kafka_health::health(k, &positions))
            .collect();
        EngineHealth {
            status,
            restore,
            topology: self.topology.to_owned(),
            uptime_s: self.started.elapsed().as_secs(),
            workers: s.workers(),
            as_of,
            all_input_done: closed,
            positions,
            sources,
            kafka,
            sinks: components
                .into_iter()
                .filter(|c| c.component == ComponentKind::Sink)
                .collect(),
            backlog_chunks: s.feed.backlog(),
            valid_events: s.valid.load(Ordering::Relaxed),
            duplicates: s.duplicates(),
            conflicts: s.conflicts(),
            rejected: serde_json::json!({
                "total": s.rejects.total(),
                "by_source": s.rejects.by_source(),
                "last": s.rejects.last(),
            }),
            views: ViewName::ALL
                .iter()
                .filter(|v| self.views.contains(**v))
                .map(|v| v.as_str().to_owned())
                .collect(),
        }
    }
}

/// A lake source's progress as health shows it.
fn restore_progress(l: &LakeProgress) -> RestoreProgress {
    RestoreProgress {
        location: l.location.clone(),
        commit: l.commit.load(Ordering::Relaxed),
        events_read: l.events_read.load(Ordering::Relaxed),
        events_total: l.events_total.load(Ordering::Relaxed),
        files_read: l.files_read.load(Ordering::Relaxed),
        files_total: l.files_total.load(Ordering::Relaxed),
        done: l.done.load(Ordering::Acquire),
    }
}

/// The feed's sources grouped by name (a Kafka source registers one
/// progress per consumer thread), in the order they first appear.
pub fn sources_by_name(shared: &Shared) -> Vec<(String, Vec<Arc<SourceProgress>>)> {
    let mut out: Vec<(String, Vec<Arc<SourceProgress>>)> = Vec::new();
    for p in shared.feed.sources() {
        match out.iter_mut().find(|(name, _)| *name == p.name) {
            Some((_, parts)) => parts.push(p),
            None => out.push((p.name.clone(), vec![p])),
        }
    }
    out
}

/// A database sink's health.
fn sink(s: &SinkStatus) -> ComponentHealth {
    let trouble = s.trouble();
    let written = s.written_frontier().saturating_sub(1);
    let (state, detail) = match (&trouble.problem, trouble.stopped) {
        (Some(p), true) => (HealthState::Down, format!("stopped: {p}")),
        (None, true) => (HealthState::Down, "stopped".to_owned()),
        (Some(p), false) => (
            HealthState::Degraded,
            format!(
                "cannot write since {} (retrying; {} changed rows held): {p}",
                trouble.since.map(format_millis).unwrap_or_default(),
                s.pending() + s.queued()
            ),
        ),
        (None, false) => (
            HealthState::Ok,
            format!(
                "writing: {} rows in {} batches",
                s.rows_written(),
                s.batches_written()
            ),
        ),
    };
    ComponentHealth {
        component: ComponentKind::Sink,
        name: s.name.clone(),
        kind: s.kind.into(),
        state,
        detail,
        figures: Figures {
            written_epoch: Some(written),
            rows_held: Some(s.pending() + s.queued()),
            rows: Some(s.rows_written()),
            failures: Some(s.failures()),
            failing_since: trouble.since.map(format_millis),
            last_error: trouble.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_at: trouble.last_error.as_ref().map(|(_, t)| format_millis(*t)),
            lag: None,
        },
    }
}
