//! The analytics routes: `GET /v1/analytics/provider/{provider}` and
//! `GET /v1/analytics/debate/{debate_id}` (from `provider_stats` and
//! `debate_stats` with the calls' latencies and the debates' rounds
//! arranged beside them), and `POST /v1/analytics/query`, the structured
//! query of [`crate::query::structured`] over one view. Each answer is read
//! at one `as_of`.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{raw_segments, segment, JsonObject, Params};
use crate::openapi::Answer;
use crate::query::analytics::{provider_figures, rounds_detail};
use crate::query::structured::StructuredQuery;
use crate::views::view_rows;
use crate::{ask, blocking, read_view, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use helixflow_operators::intern::Id;
use helixflow_operators::provider_stats::ProviderRow;
use helixflow_operators::query::{LatencyRange, Question, Reply};
use helixflow_operators::rows::{ViewName, ViewPart};
use helixflow_types::timestamp::{parse_rfc3339, Millis};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The analytics routes.
pub fn routes() -> OpenApiRouter<Reader> {
    OpenApiRouter::new()
        .routes(routes!(provider))
        .routes(routes!(debate))
        .routes(routes!(query))
}

/// `GET /v1/analytics/provider/{provider}`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderAnalytics {
    /// The provider's `provider_stats` rows in range.
    #[schema(value_type = Vec<Object>)]
    pub hours: Vec<Value>,
    /// Per model: calls, errors, tokens, cost, exact latency percentiles.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<Value>,
    /// The same figures over every model.
    #[schema(value_type = Object)]
    pub overall: Value,
}

/// `GET /v1/analytics/debate/{debate_id}`'s members: the debate's
/// `debate_stats` row's fields, then these two.
#[derive(Debug, Serialize, ToSchema)]
pub struct DebateAnalytics {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub row: serde_json::Map<String, Value>,
    /// The conversations the debate's rounds are in.
    pub conversations: Vec<String>,
    /// Every round, by round, provider and event id.
    #[schema(value_type = Vec<Object>)]
    pub rounds_detail: Vec<Value>,
}

/// `POST /v1/analytics/query`'s body (docs/api.md, the query language).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "the body's schema: the handler reads it through JsonObject"
)]
pub struct QueryBody {
    /// The view to read.
    view: String,
    /// Filters `{field, op, value}`, all of which a row must pass.
    #[schema(rename = "where", value_type = Option<Vec<Object>>)]
    filters: Option<Vec<Value>>,
    /// Fields to group by.
    group_by: Option<Vec<String>>,
    /// `{fn, field, as}` per aggregate.
    #[schema(value_type = Option<Vec<Object>>)]
    aggregates: Option<Vec<Value>>,
    /// `{field, desc}` per sort key.
    #[schema(value_type = Option<Vec<Object>>)]
    order_by: Option<Vec<Value>>,
    /// Rows to answer at most: 1..=100000, default 1000.
    #[schema(minimum = 1, maximum = 100000)]
    limit: Option<u64>,
}

/// `POST /v1/analytics/query`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryAnswer {
    /// The view's rows filtered, or the groups with their aggregates.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
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

/// A provider's hours, per-model and overall figures in a time range.
#[utoipa::path(
    get,
    path = "/v1/analytics/provider/{provider}",
    tag = "analytics",
    params(
        ("provider" = String, Path, description = "A provider"),
        ("from" = Option<String>, Query, format = DateTime, description = "RFC 3339: hours from this one"),
        ("to" = Option<String>, Query, format = DateTime, description = "RFC 3339: hours up to this one"),
        ("model" = Option<String>, Query, description = "Only this model")
    ),
    responses(
        (status = 200, description = "The provider's figures", body = Answer<ProviderAnalytics>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "The provider has no call, or provider_stats is not computed", body = ErrorBody)
    )
)]
async fn provider(
    State(reader): State<Reader>,
    uri: Uri,
) -> ApiResult<Json<Answer<ProviderAnalytics>>> {
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
        let members = ProviderAnalytics {
            hours,
            models,
            overall,
        };
        Ok(Json(Answer::at(s, members)))
    })
    .await
}

/// A debate's `debate_stats` row, its conversations and every round.
#[utoipa::path(
    get,
    path = "/v1/analytics/debate/{debate_id}",
    tag = "analytics",
    params(("debate_id" = String, Path, description = "A debate id")),
    responses(
        (status = 200, description = "The debate", body = Answer<DebateAnalytics>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "No such debate, or debate_stats is not computed", body = ErrorBody)
    )
)]
async fn debate(
    State(reader): State<Reader>,
    uri: Uri,
) -> ApiResult<Json<Answer<DebateAnalytics>>> {
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
        let row = match view_rows(ViewPart::Debates(vec![(id, row)]), ids)?.pop() {
            Some(Value::Object(row)) => row,
            _ => serde_json::Map::new(),
        };
        let mut conversations: Vec<String> = rounds
            .iter()
            .map(|r| ids.resolve(r.conversation).to_owned())
            .collect();
        conversations.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        conversations.dedup();
        let members = DebateAnalytics {
            row,
            conversations,
            rounds_detail: rounds_detail(&rounds, ids),
        };
        Ok(Json(Answer::at(s, members)))
    })
    .await
}

/// A structured query (filter, group, aggregate, order, limit) over one view.
#[utoipa::path(
    post,
    path = "/v1/analytics/query",
    tag = "analytics",
    request_body = QueryBody,
    responses(
        (status = 200, description = "The rows", body = Answer<QueryAnswer>),
        (status = 400, description = "A bad body or parameter (the code names it)", body = ErrorBody),
        (status = 404, description = "No such view, or the topology does not compute it", body = ErrorBody)
    )
)]
async fn query(
    State(reader): State<Reader>,
    uri: Uri,
    body: JsonObject,
) -> ApiResult<Json<Answer<QueryAnswer>>> {
    Params::parse(uri.query(), &[])?;
    let query = StructuredQuery::parse(&body.required()?)?;
    blocking(move || {
        let session = reader.session();
        let part = read_view(session.as_ref(), query.view, "analytics queries")?;
        let rows = query.run(view_rows(part, reader.ids())?);
        Ok(Json(Answer::at(session.as_ref(), QueryAnswer { rows })))
    })
    .await
}
