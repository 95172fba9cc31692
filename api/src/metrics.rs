//! The platform's own metrics, by their HelixAgent names, through the
//! `metrics` facade and a Prometheus recorder installed once per process:
//! `context_replay_duration_seconds` (histogram, by `strategy`) and
//! `memory_sync_lag_seconds` (histogram: an event's `ts` to the moment the
//! views reflect it). `GET /metrics` appends [`render`] to the engine's own
//! counters.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Bucket bounds (seconds) of the two histograms.
const REPLAY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const LAG_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Installs the recorder (once; later calls reuse it). `None` when another
/// recorder was installed first (the metrics then go there).
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("context_replay_duration_seconds".into()),
                    &REPLAY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("memory_sync_lag_seconds".into()),
                        &LAG_BUCKETS,
                    )
                })
                .ok()
                .and_then(|b| b.install_recorder().ok())
        })
        .as_ref()
}

/// The recorded metrics in the Prometheus text format ("" before [`install`]).
pub fn render() -> String {
    RECORDER
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// One context replay took `took`.
pub fn context_replay(strategy: &'static str, took: Duration) {
    metrics::histogram!("context_replay_duration_seconds", "strategy" => strategy)
        .record(took.as_secs_f64());
}

/// Memory events became visible `lag` after their `ts`.
pub fn memory_sync_lag(lag: Duration) {
    metrics::histogram!("memory_sync_lag_seconds").record(lag.as_secs_f64());
}
