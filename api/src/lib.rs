//! The REST API (axum on hyper): views and queries read from the dataflow's
//! arranged state, each answer from one consistent snapshot.
//!
//! | module | owns |
//! |---|---|
//! | [`reader`] | what the API needs from an engine ([`reader::ViewReader`]) |
//! | [`error`] | the one error type: stable codes and HTTP statuses |
//! | [`extract`] | query strings, JSON bodies and path segments, checked |
//! | [`views`] | `/v1/views...` and `/v1/conversations/{id}` |
//! | [`health`] | `/v1/health`, `/v1/bigdata/health` (component states) and `/metrics` |
//! | [`context`] | `/v1/context/replay` and `/v1/context/stats/{id}` |
//! | [`knowledge`] | `/v1/knowledge/related/{id}` and `/v1/knowledge/search` |
//! | [`memory`] | `/v1/memory/sync/status` and `/v1/memory/sync/force` |
//! | [`learning`] | `/v1/learning/patterns` and `/v1/learning/insights` |
//! | [`analytics`] | `/v1/analytics/query` (and the provider and debate analytics) |
//! | [`query`] | the query logic: selections and rankings, as plain functions |
//! | [`metrics`] | the platform's histograms (`context_replay_duration_seconds`, ...) |
//! | [`access`] | the bearer-token check (401 `unauthorized`) |
//! | [`openapi`] | the OpenAPI 3.1 document, generated from the handlers, at `/v1/openapi.json` |
//! | [`server`] | the server: request layers (access, timeout, in-flight limit), connection limits, slow-client timeout |
//!
//! [`router`] assembles the routes; what every route shares (the body
//! limit, the JSON 404 and 405 answers) is set there once.

pub mod access;
pub mod analytics;
pub mod context;
pub mod error;
pub mod extract;
pub mod health;
pub mod knowledge;
pub mod learning;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod reader;
pub mod server;
pub mod views;

use crate::error::{ApiError, ApiResult};
use crate::reader::{ReadError, ReadSession, ViewReader};
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::Router;
use helixflow_operators::query::{Question, Reply};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// The engine, as every handler's state.
pub type Reader = Arc<dyn ViewReader>;

/// Every route, each with its OpenAPI operation ([`openapi`]).
pub fn routes() -> OpenApiRouter<Reader> {
    openapi::base()
        .merge(views::routes())
        .merge(health::routes())
        .merge(context::routes())
        .merge(knowledge::routes())
        .merge(memory::routes())
        .merge(learning::routes())
        .merge(analytics::routes())
        .merge(openapi::routes())
}

/// Every route of the API over `reader`.
pub fn router(reader: Reader) -> Router {
    let (routes, _) = routes().split_for_parts();
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .with_state(reader)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {}; see GET /v1/views and GET /v1/health",
        uri.path()
    ))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("{method} {}: this route does not take {method}", uri.path()),
    )
}

/// The API error for a read that could not be had: what the topology does
/// not compute is 404 `view_not_enabled` (`reader` names who reads it), an
/// engine that cannot answer is 503 `unavailable`.
pub fn read_error(e: ReadError, reader: &str) -> ApiError {
    match e {
        ReadError::NotComputed(what) => ApiError::new(
            404,
            "view_not_enabled",
            format!("{what} is not computed by this topology; {reader} read it"),
        ),
        ReadError::Unavailable(_) => ApiError::new(503, "unavailable", e.to_string()),
    }
}

/// Asks `question` of the session's workers (errors as [`read_error`]).
pub fn ask(session: &dyn ReadSession, question: Question, reader: &str) -> ApiResult<Reply> {
    session.ask(question).map_err(|e| read_error(e, reader))
}

/// A view's rows at the session's `as_of` (errors as [`read_error`]).
pub fn read_view(
    session: &dyn ReadSession,
    view: helixflow_operators::rows::ViewName,
    reader: &str,
) -> ApiResult<helixflow_operators::rows::ViewPart> {
    match ask(session, Question::View(view), reader)? {
        Reply::View(part) => Ok(part),
        _ => Err(ApiError::new(
            500,
            "internal",
            format!("the engine answered a read of {view} with something else"),
        )),
    }
}

/// Runs `work` (which reads from the workers and renders: blocking, CPU
/// work) on the blocking pool.
pub async fn blocking<T, F>(work: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            500,
            "internal",
            format!("the request handler failed: {e}"),
        ))
    })
}
