//! The view routes: `GET /v1/views`, `GET /v1/views/{name}` (`limit`,
//! `after`), `GET /v1/views/{name}/{key...}` and `GET /v1/conversations/{id}`.
//! Rows come from one consistent snapshot; the answer's headers say which.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{raw_segments, segment, Params};
use crate::reader::{ApiSnapshot, ReadError};
use crate::{blocking, Reader};
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helixflow_operators::render::{render, Selection};
use helixflow_operators::rows::ViewName;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest page a client may ask for.
pub const MAX_LIMIT: u64 = 1_000_000;

/// The view routes.
pub fn routes() -> OpenApiRouter<Reader> {
    // A key of several fields takes one path segment per field: axum
    // matches them with a wildcard, the document names the parameter `key`.
    let (schemas, paths, one_row_route) = routes!(one);
    let mut router = OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(index_slash))
        .routes(routes!(list))
        .routes(routes!(conversation))
        .route("/v1/views/{name}/{*key}", one_row_route);
    let doc = router.get_openapi_mut();
    doc.paths.paths.extend(paths.paths);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    router
}

/// A view and its key fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewInfo {
    pub name: &'static str,
    /// The key's fields, in order (one path segment each in a key read).
    pub key: &'static [&'static str],
}

fn view_list() -> Json<Vec<ViewInfo>> {
    Json(
        ViewName::ALL
            .iter()
            .map(|v| ViewInfo {
                name: v.as_str(),
                key: v.key_fields(),
            })
            .collect(),
    )
}

/// The views and their key fields.
#[utoipa::path(
    get,
    path = "/v1/views",
    tag = "views",
    responses((status = 200, description = "Every view", body = Vec<ViewInfo>))
)]
async fn index() -> Json<Vec<ViewInfo>> {
    view_list()
}

/// The views and their key fields (as `/v1/views`).
#[utoipa::path(
    get,
    path = "/v1/views/",
    tag = "views",
    responses((status = 200, description = "Every view", body = Vec<ViewInfo>))
)]
async fn index_slash() -> Json<Vec<ViewInfo>> {
    view_list()
}

/// Every row of a view, or a page of them, as JSON lines sorted by key.
#[utoipa::path(
    get,
    path = "/v1/views/{name}",
    tag = "views",
    params(
        ("name" = String, Path, description = "A view (GET /v1/views lists them)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000000, description = "1..=1000000: rows of the page at most"),
        ("after" = Option<String>, Query, description = "Rows with a key above this one: the key itself, or a JSON array of strings for a composite key")
    ),
    responses(
        (status = 200, description = "One JSON object per line, each a row", content_type = "application/x-ndjson", body = String,
         headers(
            ("helixflow-as-of" = u64, description = "Every input epoch up to this one is reflected"),
            ("helixflow-positions" = String, description = "The input positions, as JSON"),
            ("helixflow-rows" = u64, description = "Rows in this answer"),
            ("helixflow-next-after" = String, description = "When limit cut the page: the after of the next page")
         )),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "No such view, or the topology does not compute it", body = ErrorBody)
    )
)]
async fn list(State(reader): State<Reader>, uri: Uri) -> ApiResult<Response> {
    let view = view_named(raw_segments(uri.path(), 2)[0])?;
    let params = Params::parse(uri.query(), &["limit", "after"])?;
    let sel = Selection {
        limit: params
            .get("limit")
            .map(|_| params.int("limit", 1, MAX_LIMIT, MAX_LIMIT))
            .transpose()?
            .map(|n| n as usize),
        after: params
            .get("after")
            .map(|a| parse_after(view, a))
            .transpose()?,
        key: None,
    };
    blocking(move || {
        let snap = reader.read(view).map_err(snapshot_error)?;
        let (as_of, positions) = (snap.as_of, snap.positions.to_string());
        let mut body = Vec::new();
        let rendered = render(snap.part, reader.ids(), &sel, &mut body)
            .map_err(|e| ApiError::new(500, "internal", format!("rendering {view}: {e}")))?;
        let mut response = ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
        let headers = response.headers_mut();
        put(headers, "helixflow-as-of", &as_of.to_string());
        put(headers, "helixflow-positions", &positions);
        put(headers, "helixflow-rows", &rendered.rows.to_string());
        if let Some(last) = rendered.last_key.filter(|_| rendered.more) {
            let after = if last.len() == 1 {
                last[0].clone()
            } else {
                serde_json::json!(last).to_string()
            };
            put(headers, "helixflow-next-after", &after);
        }
        Ok(response)
    })
    .await
}

/// One row of a view, by key.
#[utoipa::path(
    get,
    path = "/v1/views/{name}/{key}",
    tag = "views",
    params(
        ("name" = String, Path, description = "A view (GET /v1/views lists them)"),
        ("key" = String, Path, description = "The key: one percent-encoded path segment per key field")
    ),
    responses(
        (status = 200, description = "The row: the view's fields", body = Object,
         headers(
            ("helixflow-as-of" = u64, description = "Every input epoch up to this one is reflected"),
            ("helixflow-positions" = String, description = "The input positions, as JSON")
         )),
        (status = 400, description = "A bad key or a query parameter", body = ErrorBody),
        (status = 404, description = "No such view or row, or the view is not computed", body = ErrorBody)
    )
)]
async fn one(State(reader): State<Reader>, uri: Uri) -> ApiResult<Response> {
    let segments = raw_segments(uri.path(), 2);
    let view = view_named(segments[0])?;
    one_row(reader, view, &segments[1..], uri.query()).await
}

/// A conversation's `conversation_snapshots` row.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}",
    tag = "views",
    params(("id" = String, Path, description = "A conversation id")),
    responses(
        (status = 200, description = "The conversation_snapshots row", body = Object,
         headers(
            ("helixflow-as-of" = u64, description = "Every input epoch up to this one is reflected"),
            ("helixflow-positions" = String, description = "The input positions, as JSON")
         )),
        (status = 400, description = "A query parameter was given", body = ErrorBody),
        (status = 404, description = "No such conversation, or the view is not computed", body = ErrorBody)
    )
)]
async fn conversation(State(reader): State<Reader>, uri: Uri) -> ApiResult<Response> {
    let segments = raw_segments(uri.path(), 2);
    one_row(
        reader,
        ViewName::ConversationSnapshots,
        &segments,
        uri.query(),
    )
    .await
}

async fn one_row(
    reader: Reader,
    view: ViewName,
    key: &[&str],
    query: Option<&str>,
) -> ApiResult<Response> {
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        return Err(ApiError::unknown_parameter(format!(
            "a single row of {view} takes no query parameters (got {q:?})"
        )));
    }
    let fields = view.key_fields();
    if key.len() != fields.len() {
        return Err(ApiError::bad(
            "key",
            format!(
                "{view} is keyed by {} ({} path segment(s)), got {}",
                fields.join("/"),
                fields.len(),
                key.len()
            ),
        ));
    }
    let key: Vec<String> = key
        .iter()
        .map(|s| segment(s, "key"))
        .collect::<Result<_, _>>()?;
    if view == ViewName::EntityCooccurrence && key[0].as_bytes() >= key[1].as_bytes() {
        return Err(ApiError::bad(
            "key",
            "entity_cooccurrence keys have a < b (UTF-8 byte order)",
        ));
    }
    blocking(move || {
        let snap: ApiSnapshot = reader.read(view).map_err(snapshot_error)?;
        let mut body = Vec::new();
        let sel = Selection {
            key: Some(key.clone()),
            ..Selection::default()
        };
        let rendered = render(snap.part, reader.ids(), &sel, &mut body)
            .map_err(|e| ApiError::new(500, "internal", format!("rendering {view}: {e}")))?;
        if rendered.rows == 0 {
            return Err(ApiError::not_found(format!(
                "{view} has no row with key {key:?}"
            )));
        }
        while body.last() == Some(&b'\n') {
            body.pop();
        }
        let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        let headers = response.headers_mut();
        put(headers, "helixflow-as-of", &snap.as_of.to_string());
        put(headers, "helixflow-positions", &snap.positions.to_string());
        Ok(response)
    })
    .await
}

fn put(headers: &mut axum::http::HeaderMap, name: &'static str, value: &str) {
    // Values are JSON text and decimal numbers, which are valid header
    // values; one that is not (a control character in an id) is left out
    // rather than failing the whole answer.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

fn view_named(raw: &str) -> ApiResult<ViewName> {
    let name = segment(raw, "key")?;
    ViewName::parse(&name).ok_or_else(|| {
        let all: Vec<&str> = ViewName::ALL.iter().map(|v| v.as_str()).collect();
        ApiError::new(
            404,
            "unknown_view",
            format!("no view named {name:?}; views: {}", all.join(", ")),
        )
    })
}

/// A view's rows as JSON objects, in key order (as `GET /v1/views/{name}`
/// writes them), for answers computed over rows.
pub fn view_rows(
    part: helixflow_operators::rows::ViewPart,
    ids: &helixflow_operators::intern::Interner,
) -> ApiResult<Vec<serde_json::Value>> {
    let mut body = Vec::new();
    render(part, ids, &Selection::default(), &mut body)
        .map_err(|e| ApiError::new(500, "internal", format!("rendering rows: {e}")))?;
    body.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line)
                .map_err(|e| ApiError::new(500, "internal", format!("reading a rendered row: {e}")))
        })
        .collect()
}

/// The error for a snapshot that could not be had.
pub fn snapshot_error(e: ReadError) -> ApiError {
    match e {
        ReadError::NotComputed(_) => ApiError::new(404, "view_not_enabled", e.to_string()),
        ReadError::Unavailable(_) => ApiError::new(503, "unavailable", e.to_string()),
    }
}

/// `after` is the key itself for one-field keys, and a JSON array of strings
/// for composite keys (e.g. `["openai","gpt-4o","2026-01-30T12:00:00Z"]`).
fn parse_after(view: ViewName, v: &str) -> ApiResult<Vec<String>> {
    let fields = view.key_fields();
    if fields.len() == 1 {
        return Ok(vec![v.to_owned()]);
    }
    let bad = || {
        ApiError::bad(
            "after",
            format!(
                "after={v:?}: {view} has a composite key ({}); pass a JSON array of {} strings",
                fields.join(", "),
                fields.len()
            ),
        )
    };
    let parts: Vec<String> = serde_json::from_str(v).map_err(|_| bad())?;
    if parts.len() != fields.len() {
        return Err(bad());
    }
    Ok(parts)
}
