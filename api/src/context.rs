//! `POST /v1/context/replay` and `GET /v1/context/stats/{conversation_id}`:
//! a conversation replayed from the engine's state (its distinct messages
//! arranged by conversation, their texts in the content store), never from
//! Kafka, compressed by one of four documented selections
//! ([`crate::query::context`]).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{raw_segments, segment, JsonObject, Params, MAX_INT};
use crate::openapi::Answer;
use crate::query::context::{
    conversation_stats, select, selection_stats, Msg, ReplayRequest, Strategy,
};
use crate::reader::{ReadError, ReadSession, ViewReader};
use crate::{blocking, Reader};
use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helixflow_operators::facts::MessageFact;
use helixflow_operators::query::{Question, Reply};
use helixflow_types::event::Role;
use helixflow_types::timestamp::format_millis;
use serde::Serialize;
use serde_json::Value;
use std::time::Instant;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The context routes.
pub fn routes() -> OpenApiRouter<Reader> {
    OpenApiRouter::new()
        .routes(routes!(replay))
        .routes(routes!(stats))
}

/// `POST /v1/context/replay`'s body.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "the body's schema: the handler reads it through JsonObject"
)]
pub struct ReplayBody {
    conversation_id: String,
    /// `full`, `window`, `entity` or `hybrid` (default).
    strategy: Option<String>,
    /// 1 or more: messages to keep at most (default 20 where it applies).
    #[schema(minimum = 1, maximum = 9223372036854775807_u64)]
    max_messages: Option<u64>,
    /// 1 or more: tokens to keep at most.
    #[schema(minimum = 1, maximum = 9223372036854775807_u64)]
    max_tokens: Option<u64>,
    /// 1 or more: the latest messages `hybrid` always keeps.
    #[schema(minimum = 1, maximum = 9223372036854775807_u64)]
    recent: Option<u64>,
    /// The focus entities of `entity` and `hybrid` (a set).
    entities: Option<Vec<String>>,
}

/// A conversation replayed from the engine's state and compressed by a strategy.
#[utoipa::path(
    post,
    path = "/v1/context/replay",
    tag = "context",
    request_body = ReplayBody,
    responses(
        (status = 200, description = "The selected messages and the selection's figures", body = ReplayOut),
        (status = 400, description = "A bad body or parameter", body = ErrorBody),
        (status = 404, description = "No such conversation, or the context state is off", body = ErrorBody)
    )
)]
async fn replay(State(reader): State<Reader>, uri: Uri, body: JsonObject) -> ApiResult<Response> {
    Params::parse(uri.query(), &[])?;
    let body = body.required()?;
    let conversation = body.required_string("conversation_id")?.to_owned();
    let names: Vec<&str> = Strategy::NAMES.iter().map(|(n, _)| *n).collect();
    let strategy = body
        .one_of("strategy", &names)?
        .and_then(Strategy::parse)
        .unwrap_or(Strategy::Hybrid);
    let request = ReplayRequest {
        strategy,
        max_messages: body.int("max_messages", 1, MAX_INT)?,
        max_tokens: body.int("max_tokens", 1, MAX_INT)?,
        recent: body.int("recent", 1, MAX_INT)?,
        entities: body.strings("entities")?,
    };
    let started = Instant::now();
    let answer = blocking(move || {
        let session = reader.session();
        let facts = messages_of(reader.as_ref(), session.as_ref(), &conversation)?;
        let messages = resolve(reader.as_ref(), &facts);
        let selected = select(&messages, &request);
        let stats = selection_stats(&messages, &selected);
        let messages: Vec<MessageOut<'_>> = selected
            .indexes
            .iter()
            .map(|i| {
                let m = &messages[*i];
                MessageOut {
                    seq: m.seq,
                    role: m.role.name(),
                    content: m.content,
                    tokens: m.tokens,
                    ts: format_millis(m.ts),
                    entities: &m.entities,
                }
            })
            .collect();
        let positions = session.positions();
        // Serialized straight from borrowed rows: a 10,000-message answer
        // copies no text into an intermediate JSON tree.
        let body = serde_json::to_vec(&ReplayOut {
            conversation_id: &conversation,
            strategy: request.strategy.name(),
            messages,
            stats: StatsOut {
                selected_messages: stats.selected_messages,
                total_messages: stats.total_messages,
                selected_tokens: stats.selected_tokens,
                total_tokens: stats.total_tokens,
                compression_ratio: stats.compression_ratio,
                entity_coverage: stats.entity_coverage,
                focus_entities: &selected.focus,
            },
            omitted: OmittedOut {
                messages: stats.total_messages - stats.selected_messages,
                tokens: stats.total_tokens - stats.selected_tokens,
                entities: &stats.omitted_entities,
            },
            as_of: session.as_of(),
            positions: &positions,
        })
        .map_err(|e| ApiError::new(500, "internal", format!("rendering the replay: {e}")))?;
        Ok(body)
    })
    .await?;
    crate::metrics::context_replay(strategy.name(), started.elapsed());
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

/// The replay answer, as api.md names its members.
#[derive(Serialize, ToSchema)]
pub struct ReplayOut<'a> {
    conversation_id: &'a str,
    strategy: &'static str,
    messages: Vec<MessageOut<'a>>,
    stats: StatsOut<'a>,
    omitted: OmittedOut<'a>,
    as_of: u64,
    #[schema(value_type = Object)]
    positions: &'a Value,
}

/// A selected message.
#[derive(Serialize, ToSchema)]
pub struct MessageOut<'a> {
    seq: u64,
    role: &'static str,
    content: &'a str,
    tokens: u32,
    ts: String,
    entities: &'a [&'a str],
}

/// The selection's figures.
#[derive(Serialize, ToSchema)]
pub struct StatsOut<'a> {
    selected_messages: u64,
    total_messages: u64,
    selected_tokens: u64,
    total_tokens: u64,
    compression_ratio: f64,
    entity_coverage: f64,
    focus_entities: &'a [String],
}

/// What the selection left out.
#[derive(Serialize, ToSchema)]
pub struct OmittedOut<'a> {
    messages: u64,
    tokens: u64,
    entities: &'a [String],
}

/// `GET /v1/context/stats/{conversation_id}`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextStats {
    pub conversation_id: String,
    pub user_id: String,
    pub session_id: String,
    pub message_count: u64,
    pub total_tokens: u64,
    pub by_role: ByRole,
    pub first_ts: String,
    pub last_ts: String,
    pub last_seq: u64,
    pub missing_seqs: u64,
    pub entity_count: u64,
    /// Up to 10, most mentioned first, then by id.
    pub top_entities: Vec<TopEntity>,
    /// The distinct providers, sorted.
    pub providers: Vec<String>,
}

/// Messages and tokens of each role (all four present).
#[derive(Debug, Serialize, ToSchema)]
pub struct ByRole {
    pub assistant: RoleFigures,
    pub system: RoleFigures,
    pub tool: RoleFigures,
    pub user: RoleFigures,
}

/// One role's messages and tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleFigures {
    pub messages: u64,
    pub tokens: u64,
}

/// An entity and the messages that mention it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopEntity {
    pub id: String,
    pub messages: u64,
}

/// A conversation's figures.
#[utoipa::path(
    get,
    path = "/v1/context/stats/{conversation_id}",
    tag = "context",
    params(("conversation_id" = String, Path, description = "A conversation id")),
    responses(
        (status = 200, description = "The conversation's figures", body = Answer<ContextStats>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "No such conversation, or the context state is off", body = ErrorBody)
    )
)]
async fn stats(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Answer<ContextStats>>> {
    let conversation = segment(raw_segments(uri.path(), 3)[0], "conversation_id")?;
    Params::parse(uri.query(), &[])?;
    blocking(move || {
        let session = reader.session();
        let facts = messages_of(reader.as_ref(), session.as_ref(), &conversation)?;
        let messages = resolve(reader.as_ref(), &facts);
        let s = conversation_stats(&messages).ok_or_else(|| unknown(&conversation))?;
        // Role::NAMES is the contract order: user, assistant, system, tool.
        let [user, assistant, system, tool] = s
            .by_role
            .map(|(messages, tokens)| RoleFigures { messages, tokens });
        debug_assert_eq!(
            Role::NAMES.map(|(n, _)| n),
            ["user", "assistant", "system", "tool"]
        );
        let members = ContextStats {
            user_id: s.user.to_owned(),
            session_id: s.session.to_owned(),
            message_count: s.message_count,
            total_tokens: s.total_tokens,
            by_role: ByRole {
                assistant,
                system,
                tool,
                user,
            },
            first_ts: format_millis(s.first_ts),
            last_ts: format_millis(s.last_ts),
            last_seq: s.last_seq,
            missing_seqs: s.missing_seqs,
            entity_count: s.entity_count,
            top_entities: s
                .top_entities
                .iter()
                .map(|(id, messages)| TopEntity {
                    id: (*id).to_owned(),
                    messages: *messages,
                })
                .collect(),
            providers: s.providers.iter().map(|p| (*p).to_owned()).collect(),
            conversation_id: conversation,
        };
        Ok(Json(Answer::at(session.as_ref(), members)))
    })
    .await
}

fn unknown(conversation: &str) -> ApiError {
    ApiError::not_found(format!("no conversation {conversation:?} has a message"))
}

/// The conversation's distinct messages, ascending by seq (404 when none).
fn messages_of(
    reader: &dyn ViewReader,
    session: &dyn ReadSession,
    conversation: &str,
) -> ApiResult<Vec<MessageFact>> {
    let id = reader
        .ids()
        .lookup(conversation)
        .ok_or_else(|| unknown(conversation))?;
    match session.ask(Question::Conversation(id)) {
        Ok(Reply::Messages(m)) if !m.is_empty() => Ok(m),
        Ok(_) => Err(unknown(conversation)),
        Err(ReadError::NotComputed(what)) => Err(ApiError::new(
            404,
            "context_not_enabled",
            format!("{what} is off in this topology: set [views] context = true"),
        )),
        Err(e) => Err(ApiError::new(503, "unavailable", e.to_string())),
    }
}

/// Resolves ids and texts (entity ids sorted by UTF-8 bytes).
fn resolve<'a>(reader: &'a dyn ViewReader, facts: &[MessageFact]) -> Vec<Msg<'a>> {
    let (ids, texts) = (reader.ids(), reader.texts());
    facts
        .iter()
        .map(|m| {
            let mut entities: Vec<&str> = m.entity_ids().map(|e| ids.resolve(e)).collect();
            entities.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            Msg {
                seq: m.seq,
                role: m.role,
                content: texts.get(m.content),
                tokens: m.tokens,
                ts: m.ts,
                entities,
                user: ids.resolve(m.user),
                session: ids.resolve(m.session),
                provider: m.provider.map(|p| ids.resolve(p)),
            }
        })
        .collect()
}
