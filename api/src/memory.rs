//! `GET /v1/memory/sync/status` (per node figures, memory counts, the memory
//! topic's partitions) and `POST /v1/memory/sync/force` (the barrier: the
//! answer comes once every view, database sink and Kafka commit covers every
//! event in the sources at the call; 504 `timeout` otherwise, losing nothing).

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonObject, Params};
use crate::reader::SyncFailure;
use crate::{answer, blocking, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Json, Router};
use helixflow_operators::query::{Question, Reply};
use helixflow_types::timestamp::format_millis;
use serde_json::{json, Value};
use std::time::Duration;

/// The memory routes.
pub fn routes() -> Router<Reader> {
    Router::new()
        .route("/v1/memory/sync/status", get(status))
        .route("/v1/memory/sync/force", post(force))
}

/// Longest `timeout_ms` a caller may ask for (10 minutes).
const MAX_TIMEOUT_MS: u64 = 600_000;

async fn status(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Value>> {
    Params::parse(uri.query(), &[])?;
    blocking(move || {
        let session = reader.session();
        let reply = crate::ask(
            session.as_ref(),
            Question::MemorySync,
            "sync status queries",
        )?;
        let Reply::MemorySync {
            mut nodes,
            memories,
            memory_ids,
        } = reply
        else {
            return Err(ApiError::new(
                503,
                "unavailable",
                "the engine answered something else",
            ));
        };
        nodes.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let ops: u64 = nodes.iter().map(|(_, n)| n.ops).sum();
        let positions = session.positions();
        let kafka: Vec<Value> = reader
            .memory_partitions(&positions)
            .into_iter()
            .map(|p| {
                json!({"topic": p.topic, "partition": p.partition, "consumed": p.consumed,
                       "visible": p.visible, "high_watermark": p.high_watermark})
            })
            .collect();
        Ok(Json(answer(
            session.as_ref(),
            json!({
                "memories": memories,
                "deleted": memory_ids.saturating_sub(memories),
                "ops": ops,
                "nodes": nodes.iter().map(|(node, n)| json!({
                    "node_id": node, "ops": n.ops, "max_lamport": n.max_lamport,
                    "last_ts": format_millis(n.last_ts), "winning": n.winning,
                })).collect::<Vec<_>>(),
                "kafka": kafka,
            }),
        )))
    })
    .await
}

async fn force(State(reader): State<Reader>, uri: Uri, body: JsonObject) -> ApiResult<Json<Value>> {
    Params::parse(uri.query(), &[])?;
    let timeout = body.int("timeout_ms", 0, MAX_TIMEOUT_MS)?.unwrap_or(10_000);
    blocking(move || match reader.sync(Duration::from_millis(timeout)) {
        Ok(synced) => Ok(Json(json!({
            "as_of": synced.as_of,
            "positions": synced.positions,
            "waited_ms": synced.waited.as_millis() as u64,
        }))),
        Err(SyncFailure::Timeout(missing)) => Err(ApiError::new(
            504,
            "timeout",
            format!(
                "not synced within {timeout} ms ({missing}); nothing is lost, the engine goes on"
            ),
        )),
        Err(SyncFailure::Unavailable(why)) => Err(ApiError::new(503, "unavailable", why)),
    })
    .await
}
