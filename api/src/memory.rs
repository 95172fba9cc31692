//! `GET /v1/memory/sync/status` (per node figures, memory counts, the memory
//! topic's partitions) and `POST /v1/memory/sync/force` (the barrier: the
//! answer comes once every view, database sink and Kafka commit covers every
//! event in the sources at the call; 504 `timeout` otherwise, losing nothing).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonObject, Params};
use crate::openapi::Answer;
use crate::reader::SyncFailure;
use crate::{blocking, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use helixflow_operators::query::{Question, Reply};
use helixflow_types::timestamp::format_millis;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The memory routes.
pub fn routes() -> OpenApiRouter<Reader> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(force))
}

/// Longest `timeout_ms` a caller may ask for (10 minutes).
const MAX_TIMEOUT_MS: u64 = 600_000;

/// `GET /v1/memory/sync/status`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStatus {
    /// Rows of `memory_state`.
    pub memories: u64,
    /// Memory ids with ops whose winner is a delete.
    pub deleted: u64,
    /// Distinct memory ops.
    pub ops: u64,
    /// Per node, by node id.
    pub nodes: Vec<NodeStatus>,
    /// The memory topic's partitions (Kafka sources only).
    pub kafka: Vec<PartitionStatus>,
}

/// One node's memory figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeStatus {
    pub node_id: String,
    pub ops: u64,
    pub max_lamport: u64,
    pub last_ts: String,
    /// Memories whose winning op is this node's.
    pub winning: u64,
}

/// A memory topic partition: what is read, visible and at its end.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    pub consumed: i64,
    pub visible: i64,
    pub high_watermark: i64,
}

/// `POST /v1/memory/sync/force`'s body.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "the body's schema: the handler reads it through JsonObject"
)]
pub struct ForceBody {
    /// How long to wait, 0..=600000 ms (default 10000; 0 checks once).
    #[schema(minimum = 0, maximum = 600000)]
    timeout_ms: Option<u64>,
}

/// `POST /v1/memory/sync/force`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct Forced {
    /// How long the barrier took.
    pub waited_ms: u64,
}

/// Per node memory figures, memory counts and the memory topic's partitions.
#[utoipa::path(
    get,
    path = "/v1/memory/sync/status",
    tag = "memory",
    responses(
        (status = 200, description = "The memory figures", body = Answer<SyncStatus>),
        (status = 400, description = "A query parameter was given", body = ErrorBody),
        (status = 404, description = "The topology does not compute memory_state", body = ErrorBody)
    )
)]
async fn status(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Answer<SyncStatus>>> {
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
        let kafka = reader
            .memory_partitions(&positions)
            .into_iter()
            .map(|p| PartitionStatus {
                topic: p.topic,
                partition: p.partition,
                consumed: p.consumed,
                visible: p.visible,
                high_watermark: p.high_watermark,
            })
            .collect();
        let nodes = nodes
            .into_iter()
            .map(|(node_id, n)| NodeStatus {
                node_id,
                ops: n.ops,
                max_lamport: n.max_lamport,
                last_ts: format_millis(n.last_ts),
                winning: n.winning,
            })
            .collect();
        let members = SyncStatus {
            memories,
            deleted: memory_ids.saturating_sub(memories),
            ops,
            nodes,
            kafka,
        };
        Ok(Json(Answer::at(session.as_ref(), members)))
    })
    .await
}

/// The sync barrier: answers once every view, database sink and Kafka
/// commit covers every event in the sources at the call.
#[utoipa::path(
    post,
    path = "/v1/memory/sync/force",
    tag = "memory",
    request_body(content = ForceBody, description = "Optional: left out, or {}, waits up to 10 s"),
    responses(
        (status = 200, description = "Synced: the positions now visible, written and committed", body = Answer<Forced>),
        (status = 400, description = "A bad body or parameter", body = ErrorBody),
        (status = 503, description = "The engine cannot learn its sources' ends", body = ErrorBody),
        (status = 504, description = "Not synced within timeout_ms; nothing is lost", body = ErrorBody)
    )
)]
async fn force(
    State(reader): State<Reader>,
    uri: Uri,
    body: JsonObject,
) -> ApiResult<Json<Answer<Forced>>> {
    Params::parse(uri.query(), &[])?;
    let timeout = body.int("timeout_ms", 0, MAX_TIMEOUT_MS)?.unwrap_or(10_000);
    blocking(move || match reader.sync(Duration::from_millis(timeout)) {
        Ok(synced) => Ok(Json(Answer {
            members: Forced {
                waited_ms: synced.waited.as_millis() as u64,
            },
            as_of: synced.as_of,
            positions: synced.positions,
        })),
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
