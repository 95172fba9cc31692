//! `POST /v1/context/replay` and `GET /v1/context/stats/{conversation_id}`:
//! a conversation replayed from the engine's state (its distinct messages
//! arranged by conversation, their texts in the content store), never from
//! Kafka, compressed by one of four documented selections
//! ([`crate::query::context`]).

use crate::error::{ApiError, ApiResult};
use crate::extract::{raw_segments, segment, JsonObject, Params};
use crate::query::context::{
    conversation_stats, select, selection_stats, Msg, ReplayRequest, Strategy,
};
use crate::reader::{ReadError, ReadSession, ViewReader};
use crate::{answer, blocking, Reader};
use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use helixflow_operators::facts::MessageFact;
use helixflow_operators::query::{Question, Reply};
use helixflow_types::event::Role;
use helixflow_types::timestamp::format_millis;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Instant;

/// The context routes.
pub fn routes() -> Router<Reader> {
    Router::new()
        .route("/v1/context/replay", post(replay))
        .route("/v1/context/stats/{conversation_id}", get(stats))
}

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
        max_messages: body.int("max_messages", 1, u64::MAX)?,
        max_tokens: body.int("max_tokens", 1, u64::MAX)?,
        recent: body.int("recent", 1, u64::MAX)?,
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
#[derive(Serialize)]
struct ReplayOut<'a> {
    conversation_id: &'a str,
    strategy: &'static str,
    messages: Vec<MessageOut<'a>>,
    stats: StatsOut<'a>,
    omitted: OmittedOut<'a>,
    as_of: u64,
    positions: &'a Value,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    seq: u64,
    role: &'static str,
    content: &'a str,
    tokens: u32,
    ts: String,
    entities: &'a [&'a str],
}

#[derive(Serialize)]
struct StatsOut<'a> {
    selected_messages: u64,
    total_messages: u64,
    selected_tokens: u64,
    total_tokens: u64,
    compression_ratio: f64,
    entity_coverage: f64,
    focus_entities: &'a [String],
}

#[derive(Serialize)]
struct OmittedOut<'a> {
    messages: u64,
    tokens: u64,
    entities: &'a [String],
}

async fn stats(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Value>> {
    let conversation = segment(raw_segments(uri.path(), 3)[0], "conversation_id")?;
    Params::parse(uri.query(), &[])?;
    blocking(move || {
        let session = reader.session();
        let facts = messages_of(reader.as_ref(), session.as_ref(), &conversation)?;
        let messages = resolve(reader.as_ref(), &facts);
        let s = conversation_stats(&messages).ok_or_else(|| unknown(&conversation))?;
        let by_role: serde_json::Map<String, Value> = Role::NAMES
            .iter()
            .zip(s.by_role)
            .map(|((name, _), (m, t))| ((*name).to_owned(), json!({"messages": m, "tokens": t})))
            .collect();
        Ok(Json(answer(
            session.as_ref(),
            json!({
                "conversation_id": conversation,
                "user_id": s.user,
                "session_id": s.session,
                "message_count": s.message_count,
                "total_tokens": s.total_tokens,
                "by_role": by_role,
                "first_ts": format_millis(s.first_ts),
                "last_ts": format_millis(s.last_ts),
                "last_seq": s.last_seq,
                "missing_seqs": s.missing_seqs,
                "entity_count": s.entity_count,
                "top_entities": s.top_entities.iter()
                    .map(|(id, n)| json!({"id": id, "messages": n})).collect::<Vec<_>>(),
                "providers": s.providers,
            }),
        )))
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
