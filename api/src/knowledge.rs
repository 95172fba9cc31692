//! `GET /v1/knowledge/related/{entity_id}` and `POST /v1/knowledge/search`,
//! read from the arranged `entity_directory`, memberships and relationship
//! links (no index is built per request).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{raw_segments, segment, JsonObject, Params};
use crate::openapi::Answer;
use crate::query::knowledge::{related, search_term};
use crate::reader::ReadSession;
use crate::{blocking, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use helixflow_operators::entity_directory::DirectoryRow;
use helixflow_operators::intern::Id;
use helixflow_operators::query::{rank_matches, Question, Reply, Search};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The knowledge routes.
pub fn routes() -> OpenApiRouter<Reader> {
    OpenApiRouter::new()
        .routes(routes!(related_entities))
        .routes(routes!(search))
}

/// Largest `limit` of both routes.
const MAX_LIMIT: u64 = 1000;

/// `GET /v1/knowledge/related/{entity_id}`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedAnswer {
    pub entity_id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    /// Related entities in all (before `limit`).
    pub total: usize,
    pub related: Vec<RelatedEntity>,
}

/// An entity related to the one asked about.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedEntity {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    /// Conversations both are mentioned in.
    pub cooccurrence: u64,
    /// Relationship rows between the two, by (`rel_type`, `direction`).
    pub relationships: Vec<RelationOut>,
}

/// One relationship row between two entities.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelationOut {
    pub rel_type: String,
    /// `out` when the entity asked about is the source, `in` when the target.
    pub direction: String,
    pub weight: f64,
}

/// `POST /v1/knowledge/search`'s body.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "the body's schema: the handler reads it through JsonObject"
)]
pub struct SearchBody {
    /// Up to 256 code points as sent, not only white space.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    query: String,
    /// Only entities of this kind.
    kind: Option<String>,
    /// 1..=1000, default 20.
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// `POST /v1/knowledge/search`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchAnswer {
    /// The query as sent.
    pub query: String,
    /// Matching entities in all (before `limit`).
    pub total: u64,
    pub results: Vec<SearchHit>,
}

/// One matching entity.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub conversations: u64,
    /// `exact`, `prefix` or `substring`.
    #[serde(rename = "match")]
    pub class: String,
}

/// Entities sharing conversations or relationships with one entity.
#[utoipa::path(
    get,
    path = "/v1/knowledge/related/{entity_id}",
    tag = "knowledge",
    params(
        ("entity_id" = String, Path, description = "An entity id"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 20")
    ),
    responses(
        (status = 200, description = "The related entities, strongest first", body = Answer<RelatedAnswer>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "No such entity, or entity_directory is not computed", body = ErrorBody)
    )
)]
async fn related_entities(
    State(reader): State<Reader>,
    uri: Uri,
) -> ApiResult<Json<Answer<RelatedAnswer>>> {
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
        let name = |n: Option<Id>| n.map(|n| ids.resolve(n).to_owned());
        let related = shown
            .iter()
            .map(|r| {
                let row = names.get(&r.id);
                RelatedEntity {
                    id: ids.resolve(r.id).to_owned(),
                    name: name(row.and_then(|d| d.name)),
                    kind: name(row.and_then(|d| d.kind)),
                    cooccurrence: r.cooccurrence,
                    relationships: r
                        .relationships
                        .iter()
                        .map(|x| RelationOut {
                            rel_type: x.rel_type.to_owned(),
                            direction: x.direction.to_owned(),
                            weight: x.weight,
                        })
                        .collect(),
                }
            })
            .collect();
        let members = RelatedAnswer {
            name: name(me.name),
            kind: name(me.kind),
            entity_id: entity,
            total,
            related,
        };
        Ok(Json(Answer::at(session.as_ref(), members)))
    })
    .await
}

/// `entity_directory` rows matching a query: exact, then prefix, then
/// substring matches of the id or name.
#[utoipa::path(
    post,
    path = "/v1/knowledge/search",
    tag = "knowledge",
    request_body = SearchBody,
    responses(
        (status = 200, description = "The best matches", body = Answer<SearchAnswer>),
        (status = 400, description = "A bad body or parameter", body = ErrorBody),
        (status = 404, description = "entity_directory is not computed", body = ErrorBody)
    )
)]
async fn search(
    State(reader): State<Reader>,
    uri: Uri,
    body: JsonObject,
) -> ApiResult<Json<Answer<SearchAnswer>>> {
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
        let ids = reader.ids();
        rank_matches(&mut best, ids);
        best.truncate(limit);
        let name = |n: Option<Id>| n.map(|n| ids.resolve(n).to_owned());
        let results = best
            .iter()
            .map(|m| SearchHit {
                id: ids.resolve(m.id).to_owned(),
                name: name(m.row.name),
                kind: name(m.row.kind),
                conversations: m.row.conversations,
                class: m.class.name().to_owned(),
            })
            .collect();
        let members = SearchAnswer {
            query,
            total,
            results,
        };
        Ok(Json(Answer::at(session.as_ref(), members)))
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
