//! Routing and handlers: a request (method, path, query) becomes a response,
//! with no socket involved, so every route is testable in-process.

use crate::error::ApiError;
use crate::reader::{ReadError, ViewReader};
use helixflow_operators::render::{render, Selection};
use helixflow_operators::rows::ViewName;

/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 1_000_000;

/// A response ready to send.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, value: &serde_json::Value) -> Self {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: value.to_string().into_bytes(),
        }
    }

    /// The response for an error.
    pub fn error(e: &ApiError) -> Self {
        Response {
            status: e.status,
            content_type: "application/json",
            headers: Vec::new(),
            body: e.body().into_bytes(),
        }
    }
}

/// Handles one request.
pub fn handle(reader: &dyn ViewReader, method: &str, path: &str, query: Option<&str>) -> Response {
    match route(reader, method, path, query) {
        Ok(r) => r,
        Err(e) => Response::error(&e),
    }
}

fn route(
    reader: &dyn ViewReader,
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = matches!(
        segments.as_slice(),
        ["metrics"] | ["v1", "health"] | ["v1", "views", ..] | ["v1", "conversations", _]
    );
    if !known {
        return Err(ApiError::new(
            404,
            "not_found",
            format!("no route for {path}; see GET /v1/views and GET /v1/health"),
        ));
    }
    if method != "GET" {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{method} {path}: only GET is served"),
        ));
    }
    match segments.as_slice() {
        ["v1", "health"] => Ok(Response::json(200, &reader.health())),
        ["metrics"] => Ok(Response {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            headers: Vec::new(),
            body: reader.metrics().into_bytes(),
        }),
        ["v1", "views"] | ["v1", "views", ""] => Ok(Response::json(
            200,
            &serde_json::json!(ViewName::ALL
                .iter()
                .map(|v| serde_json::json!({"name": v.as_str(), "key": v.key_fields()}))
                .collect::<Vec<_>>()),
        )),
        ["v1", "views", name] => list(reader, view_named(name)?, query),
        ["v1", "views", name, key @ ..] => one(reader, view_named(name)?, key, query),
        ["v1", "conversations", id] => one(reader, ViewName::ConversationSnapshots, &[id], query),
        _ => Err(ApiError::new(
            404,
            "not_found",
            format!("no route for {path}"),
        )),
    }
}

fn view_named(name: &str) -> Result<ViewName, ApiError> {
    let name = decode_segment(name)?;
    ViewName::parse(&name).ok_or_else(|| {
        let all: Vec<&str> = ViewName::ALL.iter().map(|v| v.as_str()).collect();
        ApiError::new(
            404,
            "unknown_view",
            format!("no view named {name:?}; views: {}", all.join(", ")),
        )
    })
}

fn decode_segment(s: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            ApiError::new(
                400,
                "bad_key",
                format!("path segment {s:?} is not percent-encoded UTF-8"),
            )
        })
}

fn snapshot_error(e: ReadError) -> ApiError {
    match e {
        ReadError::NotEnabled(_) => ApiError::new(404, "view_not_enabled", e.to_string()),
        ReadError::Unavailable(_) => ApiError::new(503, "unavailable", e.to_string()),
    }
}

fn no_query(view: ViewName, query: Option<&str>) -> Result<(), ApiError> {
    match query.filter(|q| !q.is_empty()) {
        None => Ok(()),
        Some(q) => Err(ApiError::new(
            400,
            "unknown_parameter",
            format!("a single row of {view} takes no query parameters (got {q:?})"),
        )),
    }
}

fn parse_selection(view: ViewName, query: Option<&str>) -> Result<Selection, ApiError> {
    let mut sel = Selection::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "limit" => {
                let n: usize = v.parse().map_err(|_| {
                    ApiError::new(
                        400,
                        "bad_limit",
                        format!("limit={v:?} is not a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?;
                if n == 0 || n > MAX_LIMIT {
                    return Err(ApiError::new(
                        400,
                        "bad_limit",
                        format!("limit={n} is outside 1..={MAX_LIMIT}"),
                    ));
                }
                sel.limit = Some(n);
            }
            "after" => sel.after = Some(parse_after(view, &v)?),
            other => {
                return Err(ApiError::new(
                    400,
                    "unknown_parameter",
                    format!("unknown query parameter {other:?}; use `limit` and `after`"),
                ))
            }
        }
    }
    Ok(sel)
}

/// `after` is the key itself for one-field keys, and a JSON array of strings
/// for composite keys (e.g. `["openai","gpt-4o","2026-01-30T12:00:00Z"]`).
fn parse_after(view: ViewName, v: &str) -> Result<Vec<String>, ApiError> {
    let fields = view.key_fields();
    if fields.len() == 1 {
        return Ok(vec![v.to_owned()]);
    }
    let bad = || {
        ApiError::new(
            400,
            "bad_after",
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

fn list(
    reader: &dyn ViewReader,
    view: ViewName,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let sel = parse_selection(view, query)?;
    let snap = reader.read(view).map_err(snapshot_error)?;
    let mut body = Vec::new();
    let rendered = render(snap.part, reader.ids(), &sel, &mut body)
        .map_err(|e| ApiError::new(500, "internal", format!("rendering {view}: {e}")))?;
    let mut headers = vec![
        ("helixflow-as-of", snap.as_of.to_string()),
        ("helixflow-positions", snap.positions.to_string()),
        ("helixflow-rows", rendered.rows.to_string()),
    ];
    if rendered.more {
        if let Some(last) = rendered.last_key {
            let after = if last.len() == 1 {
                last[0].clone()
            } else {
                serde_json::json!(last).to_string()
            };
            headers.push(("helixflow-next-after", after));
        }
    }
    Ok(Response {
        status: 200,
        content_type: "application/x-ndjson",
        headers,
        body,
    })
}

fn one(
    reader: &dyn ViewReader,
    view: ViewName,
    key: &[&str],
    query: Option<&str>,
) -> Result<Response, ApiError> {
    no_query(view, query)?;
    let fields = view.key_fields();
    if key.len() != fields.len() {
        return Err(ApiError::new(
            400,
            "bad_key",
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
        .map(|s| decode_segment(s))
        .collect::<Result<_, _>>()?;
    if view == ViewName::EntityCooccurrence && key[0].as_bytes() >= key[1].as_bytes() {
        return Err(ApiError::new(
            400,
            "bad_key",
            "entity_cooccurrence keys have a < b (UTF-8 byte order)",
        ));
    }
    let snap = reader.read(view).map_err(snapshot_error)?;
    let mut body = Vec::new();
    let sel = Selection {
        key: Some(key.clone()),
        ..Selection::default()
    };
    let rendered = render(snap.part, reader.ids(), &sel, &mut body)
        .map_err(|e| ApiError::new(500, "internal", format!("rendering {view}: {e}")))?;
    if rendered.rows == 0 {
        return Err(ApiError::new(
            404,
            "not_found",
            format!("{view} has no row with key {key:?}"),
        ));
    }
    while body.last() == Some(&b'\n') {
        body.pop();
    }
    Ok(Response {
        status: 200,
        content_type: "application/json",
        headers: vec![
            ("helixflow-as-of", snap.as_of.to_string()),
            ("helixflow-positions", snap.positions.to_string()),
        ],
        body,
    })
}
