//! Every metric, through the `metrics` facade and one Prometheus recorder
//! per process (`metrics-exporter-prometheus`); `GET /metrics` renders it.
//!
//! Recorded where they happen: the platform's histograms
//! `context_replay_duration_seconds{strategy}`, `memory_sync_lag_seconds`
//! (an event's `ts` to the moment the views reflect it),
//! `clickhouse_insert_duration_seconds{table}`, the counter
//! `neo4j_transaction_committed_total`, and
//! `http_request_duration_seconds{method,route,status}` (the [`track`]
//! layer, by matched route). The engine's counters and gauges are set from
//! its own state at each scrape (`ViewReader::record_metrics`).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Bucket bounds (seconds) of the histograms.
const FAST_BUCKETS: [f64; 14] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];
const LAG_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Installs the recorder (once; later calls reuse it). `None` when another
/// recorder was installed first (the metrics then go there).
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in [
                ("context_replay_duration_seconds", &FAST_BUCKETS[..]),
                ("clickhouse_insert_duration_seconds", &FAST_BUCKETS[..]),
                ("http_request_duration_seconds", &FAST_BUCKETS[..]),
                ("memory_sync_lag_seconds", &LAG_BUCKETS[..]),
            ] {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                    .ok()?;
            }
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// The HELP lines of the metrics recorded outside the engine's scrape.
fn describe() {
    use metrics::Unit;
    metrics::describe_histogram!(
        "context_replay_duration_seconds",
        Unit::Seconds,
        "Time to answer a context replay, by strategy."
    );
    metrics::describe_histogram!(
        "memory_sync_lag_seconds",
        Unit::Seconds,
        "From a memory event's ts to the moment the views reflect it."
    );
    metrics::describe_histogram!(
        "clickhouse_insert_duration_seconds",
        Unit::Seconds,
        "Time of each ClickHouse insert that landed, by table."
    );
    metrics::describe_counter!(
        "neo4j_transaction_committed_total",
        "Neo4j transactions committed by the graph sink."
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an API request, by method, matched route and status."
    );
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

/// The layer that times every request, labelled by its matched route (the
/// route's pattern, so ids do not make new series; `unmatched` for a 404).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}
