//! `GET /v1/health` (the engine's status as JSON) and `GET /metrics`
//! (Prometheus text).

use crate::{blocking, Reader};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

/// The health and metrics routes.
pub fn routes() -> Router<Reader> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
}

async fn health(State(reader): State<Reader>) -> impl IntoResponse {
    blocking(move || Ok(Json(reader.health()))).await
}

async fn metrics(State(reader): State<Reader>) -> impl IntoResponse {
    blocking(move || {
        Ok((
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            reader.metrics() + &crate::metrics::render(),
        ))
    })
    .await
}
