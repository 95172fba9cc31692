//! Health: `GET /v1/health` (the engine's status, counters and positions),
//! `GET /v1/bigdata/health` (every component the topology runs, with its
//! state, a detail line and its figures; 503 only when one is down), and
//! `GET /metrics` (Prometheus text, [`crate::metrics`]). The component types live here; the
//! engine fills them ([`crate::reader::ViewReader::components`]).

use crate::{answer, blocking, Reader};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// A component's state, ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
}

/// What a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    Source,
    Sink,
    Lake,
    Api,
}

/// A component's figures; `null` where one does not apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// The health, bigdata health and metrics routes.
pub fn routes() -> Router<Reader> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/bigdata/health", get(bigdata_health))
        .route("/metrics", get(metrics))
}

async fn health(State(reader): State<Reader>) -> impl IntoResponse {
    blocking(move || Ok(Json(reader.health()))).await
}

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
        let body = serde_json::json!({ "status": status, "components": components });
        Ok((code, Json(answer(session.as_ref(), body))))
    })
    .await
}

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
    }
}
