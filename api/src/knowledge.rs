//! `GET /v1/knowledge/related/{entity_id}` and `POST /v1/knowledge/search`,
//! read from the arranged `entity_directory`, memberships and relationship
//! links (no index is built per request).

use crate::error::{ApiError, ApiResult};
use crate::extract::{raw_segments, segment, JsonObject, Params};
use crate::query::knowledge::{related, search_term};
use crate::reader::ReadSession;
use crate::{answer, blocking, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Json, Router};
use helixflow_operators::entity_directory::DirectoryRow;
use helixflow_operators::intern::Id;
use helixflow_operators::query::{rank_matches, Question, Reply, Search};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The knowledge routes.
pub fn routes() -> Router<Reader> {
    Router::new()
        .route("/v1/knowledge/related/{entity_id}", get(related_entities))
        .route("/v1/knowledge/search", post(search))
}

/// Largest `limit` of both routes.
const MAX_LIMIT: u64 = 1000;

async fn related_entities(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Value>> {
    let entity = segment(raw_segments(uri.path(), 3)[0], "entity_id")?;
    let limit = Params::parse(uri.query(), &["limit"])?.int("limit", 1, MAX_LIMIT, 20)? as usize;
    blocking(move || {
        let ids = reader.ids();
        let session = reader.session();
        let not_found = || ApiError::not_found(format!("no entity {entity:?} in entity_directory"));
        let id = ids.lookup(&entity).ok_or_else(not_found)?;
        let me = directory(session.as_ref(), vec![id])?
            .remove(&id)
            .ok_or_else(not_found)?;
        let partners = match ask(session.as_ref(), Question::Partners(id))? {
            Reply::Partners(p) => p,
            _ => HashMap::new(),
        };
        let links = match ask(session.as_ref(), Question::Links(id))? {
            Reply::Links(l) => l,
            _ => Vec::new(),
        };
        let all = related(id, &partners, &links, ids);
        let total = all.len();
        let shown = &all[..total.min(limit)];
        let names = directory(session.as_ref(), shown.iter().map(|r| r.id).collect())?;
        let rows: Vec<Value> = shown
            .iter()
            .map(|r| {
                let row = names.get(&r.id);
                json!({
                    "id": ids.resolve(r.id),
                    "name": row.and_then(|d| d.name).map(|n| ids.resolve(n)),
                    "kind": row.and_then(|d| d.kind).map(|k| ids.resolve(k)),
                    "cooccurrence": r.cooccurrence,
                    "relationships": r.relationships.iter()
                        .map(|x| json!({"rel_type": x.rel_type, "direction": x.direction, "weight": x.weight}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(Json(answer(
            session.as_ref(),
            json!({"entity_id": entity, "name": me.name.map(|n| ids.resolve(n)),
                   "kind": me.kind.map(|k| ids.resolve(k)), "total": total, "related": rows}),
        )))
    })
    .await
}

async fn search(
    State(reader): State<Reader>,
    uri: Uri,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    Params::parse(uri.query(), &[])?;
    let body = body.required()?;
    let query = body.required_string("query")?.to_owned();
    let term = search_term(&query).map_err(|why| ApiError::bad("query", why))?;
    let kind = body.string("kind")?.map(str::to_owned);
    let limit = body.int("limit", 1, MAX_LIMIT)?.unwrap_or(20) as usize;
    blocking(move || {
        let session = reader.session();
        let question = Question::Search(Search {
            query: term,
            kind,
            limit,
        });
        let (total, mut best) = match ask(session.as_ref(), question)? {
            Reply::Matches { total, best } => (total, best),
            _ => (0, Vec::new()),
        };
        rank_matches(&mut best, reader.ids());
        best.truncate(limit);
        let results: Vec<Value> = best
            .iter()
            .map(|m| {
                let ids = reader.ids();
                json!({"id": ids.resolve(m.id), "name": m.row.name.map(|n| ids.resolve(n)),
                       "kind": m.row.kind.map(|k| ids.resolve(k)),
                       "conversations": m.row.conversations, "match": m.class.name()})
            })
            .collect();
        Ok(Json(answer(
            session.as_ref(),
            json!({"query": query, "total": total, "results": results}),
        )))
    })
    .await
}

/// Asks a question the directory answers (404 `view_not_enabled` without it).
fn ask(session: &dyn ReadSession, question: Question) -> ApiResult<Reply> {
    crate::ask(session, question, "knowledge queries")
}

/// The directory rows of `wanted`.
fn directory(session: &dyn ReadSession, wanted: Vec<Id>) -> ApiResult<HashMap<Id, DirectoryRow>> {
    match ask(session, Question::Directory(wanted))? {
        Reply::Directory(rows) => Ok(rows.into_iter().collect()),
        _ => Ok(HashMap::new()),
    }
}
