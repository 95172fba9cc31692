//! The analytics routes: `GET /v1/analytics/provider/{provider}` and
//! `GET /v1/analytics/debate/{debate_id}` (from `provider_stats` and
//! `debate_stats` with the calls' latencies and the debates' rounds
//! arranged beside them), and `POST /v1/analytics/query`, the structured
//! query of [`crate::query::structured`] over one view. Each answer is read
//! at one `as_of`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{raw_segments, segment, JsonObject, Params};
use crate::query::analytics::{provider_figures, rounds_detail};
use crate::query::structured::StructuredQuery;
use crate::views::view_rows;
use crate::{answer, ask, blocking, read_view, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Json, Router};
use helixflow_operators::intern::Id;
use helixflow_operators::provider_stats::ProviderRow;
use helixflow_operators::query::{LatencyRange, Question, Reply};
use helixflow_operators::rows::{ViewName, ViewPart};
use helixflow_types::timestamp::{parse_rfc3339, Millis};
use serde_json::{json, Value};

/// The analytics routes.
pub fn routes() -> Router<Reader> {
    Router::new()
        .route("/v1/analytics/provider/{provider}", get(provider))
        .route("/v1/analytics/debate/{debate_id}", get(debate))
        .route("/v1/analytics/query", post(query))
}

fn timestamp(params: &Params, name: &str) -> ApiResult<Option<Millis>> {
    params
        .get(name)
        .map(|t| {
            parse_rfc3339(t).map_err(|why| {
                ApiError::bad(
                    name,
                    format!("{name}={t:?} is not an RFC 3339 timestamp: {why}"),
                )
            })
        })
        .transpose()
}

async fn provider(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Value>> {
    let provider = segment(raw_segments(uri.path(), 3)[0], "provider")?;
    let params = Params::parse(uri.query(), &["from", "to", "model"])?;
    let from = timestamp(&params, "from")?;
    let to = timestamp(&params, "to")?;
    let model = params.get("model").map(str::to_owned);
    blocking(move || {
        let ids = reader.ids();
        let session = reader.session();
        let s = session.as_ref();
        let not_found = || ApiError::not_found(format!("provider {provider:?} has no call"));
        let provider_id = ids.lookup(&provider).ok_or_else(not_found)?;
        let ViewPart::ProviderStats(rows) =
            read_view(s, ViewName::ProviderStats, "provider analytics")?
        else {
            return Err(not_found());
        };
        let mut mine: Vec<_> = rows
            .into_iter()
            .filter(|((p, _, _), _)| *p == provider_id)
            .collect();
        if mine.is_empty() {
            return Err(not_found());
        }
        // A model never seen has no call in range: `Some(None)`.
        let model_id = model.as_deref().map(|m| ids.lookup(m));
        let in_range = |m: Id, hour: Millis| {
            model_id.is_none_or(|want| want == Some(m))
                && from.is_none_or(|f| f <= hour)
                && to.is_none_or(|t| hour < t)
        };
        mine.retain(|((_, m, h), _)| in_range(*m, *h));
        mine.sort_by(|((_, a, ha), _), ((_, b, hb), _)| {
            (ids.resolve(*a).as_bytes(), ha).cmp(&(ids.resolve(*b).as_bytes(), hb))
        });
        let calls = match model_id {
            Some(None) => Vec::new(),
            _ => {
                let range = LatencyRange {
                    provider: provider_id,
                    model: model_id.flatten(),
                    from,
                    to,
                };
                match ask(s, Question::Latencies(range), "provider analytics")? {
                    Reply::Latencies(calls) => calls,
                    _ => Vec::new(),
                }
            }
        };
        let named: Vec<(&str, &ProviderRow)> = mine
            .iter()
            .map(|((_, m, _), row)| (ids.resolve(*m), row))
            .collect();
        let named_calls: Vec<(&str, u32, u64)> = calls
            .iter()
            .map(|(m, _, latency, n)| (ids.resolve(*m), *latency, *n))
            .collect();
        let (models, overall) = provider_figures(&named, &named_calls);
        let hours = view_rows(ViewPart::ProviderStats(mine), ids)?;
        Ok(Json(answer(
            s,
            json!({"hours": hours, "models": models, "overall": overall}),
        )))
    })
    .await
}

async fn debate(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Value>> {
    let debate = segment(raw_segments(uri.path(), 3)[0], "debate_id")?;
    Params::parse(uri.query(), &[])?;
    blocking(move || {
        let ids = reader.ids();
        let session = reader.session();
        let s = session.as_ref();
        let not_found = || ApiError::not_found(format!("no debate {debate:?} in debate_stats"));
        let id = ids.lookup(&debate).ok_or_else(not_found)?;
        let Reply::Debate {
            row: Some(row),
            rounds,
        } = ask(s, Question::Debate(id), "debate analytics")?
        else {
            return Err(not_found());
        };
        let mut answer_row = view_rows(ViewPart::Debates(vec![(id, row)]), ids)?
            .pop()
            .unwrap_or_else(|| json!({}));
        let mut conversations: Vec<&str> =
            rounds.iter().map(|r| ids.resolve(r.conversation)).collect();
        conversations.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        conversations.dedup();
        answer_row["conversations"] = json!(conversations);
        answer_row["rounds_detail"] = Value::Array(rounds_detail(&rounds, ids));
        Ok(Json(answer(s, answer_row)))
    })
    .await
}

async fn query(State(reader): State<Reader>, uri: Uri, body: JsonObject) -> ApiResult<Json<Value>> {
    Params::parse(uri.query(), &[])?;
    let query = StructuredQuery::parse(&body.required()?)?;
    blocking(move || {
        let session = reader.session();
        let part = read_view(session.as_ref(), query.view, "analytics queries")?;
        let rows = query.run(view_rows(part, reader.ids())?);
        Ok(Json(answer(session.as_ref(), json!({"rows": rows}))))
    })
    .await
}
