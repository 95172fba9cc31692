//! Health: `GET /v1/health` (the engine's status, counters and positions),
//! `GET /v1/bigdata/health` (every component the topology runs, with its
//! state, a detail line and its figures; 503 only when one is down), and
//! `GET /metrics` (Prometheus text, [`crate::metrics`]). The component types live here; the
//! engine fills them ([`crate::reader::ViewReader::components`]).

use crate::error::ErrorBody;
use crate::openapi::Answer;
use crate::{blocking, Reader};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A component's state, ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Working as configured.
    Ok,
    /// Working, but retrying, lagging or waiting: nothing is lost.
    Degraded,
    /// Stopped: it will not recover on its own.
    Down,
}

impl HealthState {
    /// The worst of `states` (`Ok` for none).
    pub fn worst(states: impl IntoIterator<Item = HealthState>) -> HealthState {
        states.into_iter().max().unwrap_or(HealthState::Ok)
    }

    /// 0 ok, 1 degraded, 2 down (the `helixflow_component_state` gauge).
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// The engine's overall state in `/v1/health`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EngineStatus {
    Ok,
    /// Loading the lake's committed events at start; views are partial.
    Restoring,
    Degraded,
    Down,
}

impl EngineStatus {
    /// The worst component state, or `restoring` over anything but `down`.
    pub fn of(worst: HealthState, restoring: bool) -> EngineStatus {
        match worst {
            HealthState::Down => EngineStatus::Down,
            _ if restoring => EngineStatus::Restoring,
            HealthState::Ok => EngineStatus::Ok,
            HealthState::Degraded => EngineStatus::Degraded,
        }
    }
}

/// How far the load of the engine's lake has got.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RestoreProgress {
    /// The lake's location.
    pub location: String,
    /// The commit loaded.
    pub commit: u64,
    pub events_read: u64,
    pub events_total: u64,
    pub files_read: u64,
    pub files_total: u64,
    /// Every committed event is in the views' input.
    pub done: bool,
}

/// What a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    Source,
    Sink,
    Lake,
    Api,
}

impl ComponentKind {
    /// The name it is written as.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Sink => "sink",
            ComponentKind::Lake => "lake",
            ComponentKind::Api => "api",
        }
    }
}

/// A component's figures; `null` where one does not apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Input the views do not reflect yet (Kafka: messages behind the high
    /// watermarks; `null` while unknown).
    pub lag: Option<i64>,
    /// Sources: the latest epoch sealed. Sinks: every change of an epoch
    /// up to this one is in the store.
    pub written_epoch: Option<u64>,
    /// Sinks: changed rows held (backlog plus queue).
    pub rows_held: Option<u64>,
    /// Rows written (sinks) or lines read (sources).
    pub rows: Option<u64>,
    /// Failed writes (sinks) or failed commits (Kafka sources).
    pub failures: Option<u64>,
    /// Since when (RFC 3339) the component has been failing.
    pub failing_since: Option<String>,
    /// The last error, and when (RFC 3339) it happened.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// One component of the running topology.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ComponentHealth {
    pub component: ComponentKind,
    /// Its name in the topology (`api` for the API).
    pub name: String,
    /// `file`, `kafka`, `generator`, `clickhouse`, `neo4j`, `http`, ...
    pub kind: String,
    pub state: HealthState,
    /// One line: what it is doing, or what is wrong and since when.
    pub detail: String,
    pub figures: Figures,
}

/// The engine's health document (`GET /v1/health`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EngineHealth {
    /// The worst component state; `restoring` while the engine loads its
    /// lake (unless a component is down).
    pub status: EngineStatus,
    /// The load of the engine's lake at start, if it restores from one.
    pub restore: Option<RestoreProgress>,
    pub topology: String,
    pub uptime_s: u64,
    pub workers: usize,
    /// Every input epoch up to this one is reflected, none after.
    pub as_of: u64,
    /// Every source has finished (files read to their end).
    pub all_input_done: bool,
    #[schema(value_type = Object)]
    pub positions: Value,
    /// Per source: `name`, `lines`, `sealed_epoch`, `finished`, `position`.
    #[schema(value_type = Vec<Object>)]
    pub sources: Vec<Value>,
    /// Per Kafka source: state, lag and partitions (docs/kafka.md).
    #[schema(value_type = Vec<Object>)]
    pub kafka: Vec<Value>,
    /// The database sinks, as components.
    pub sinks: Vec<ComponentHealth>,
    pub backlog_chunks: usize,
    pub valid_events: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    /// `total`, `by_source` (reason → count) and the `last` payloads.
    #[schema(value_type = Object)]
    pub rejected: Value,
    /// The views this topology computes.
    pub views: Vec<String>,
}

/// `GET /v1/bigdata/health`'s members.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BigdataHealth {
    /// The worst component state.
    pub status: HealthState,
    pub components: Vec<ComponentHealth>,
}

/// The health, bigdata health and metrics routes.
pub fn routes() -> OpenApiRouter<Reader> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(bigdata_health))
        .routes(routes!(metrics))
}

/// The engine's status, counters, positions, sources, Kafka and sinks.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "operations",
    responses((status = 200, description = "The engine's health", body = EngineHealth))
)]
async fn health(State(reader): State<Reader>) -> impl IntoResponse {
    blocking(move || Ok(Json(reader.health()))).await
}

/// Every component the topology runs, with its state; 503 when one is down.
#[utoipa::path(
    get,
    path = "/v1/bigdata/health",
    tag = "operations",
    responses(
        (status = 200, description = "No component is down", body = Answer<BigdataHealth>),
        (status = 503, description = "A component is down", body = Answer<BigdataHealth>)
    )
)]
async fn bigdata_health(State(reader): State<Reader>) -> impl IntoResponse {
    blocking(move || {
        let session = reader.session();
        let components = reader.components();
        let status = HealthState::worst(components.iter().map(|c| c.state));
        let code = if status == HealthState::Down {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        let members = BigdataHealth { status, components };
        Ok((code, Json(Answer::at(session.as_ref(), members))))
    })
    .await
}

/// Every metric, in the Prometheus text format (docs/operations.md).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text", content_type = "text/plain", body = String),
        (status = 500, description = "The handler failed", body = ErrorBody)
    )
)]
async fn metrics(State(reader): State<Reader>) -> impl IntoResponse {
    blocking(move || {
        reader.record_metrics();
        Ok((
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            crate::metrics::render(),
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_state_wins() {
        use HealthState::*;
        assert_eq!(HealthState::worst([]), Ok);
        assert_eq!(HealthState::worst([Ok, Degraded, Ok]), Degraded);
        assert_eq!(HealthState::worst([Degraded, Down, Ok]), Down);
        assert_eq!(serde_json::to_value(Degraded).unwrap(), "degraded");
        assert_eq!((Ok.level(), Degraded.level(), Down.level()), (0, 1, 2));
        for kind in [
            ComponentKind::Source,
            ComponentKind::Sink,
            ComponentKind::Lake,
            ComponentKind::Api,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
