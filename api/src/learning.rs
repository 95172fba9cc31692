//! `GET /v1/learning/patterns` and `GET /v1/learning/insights`: the
//! learning views read at one `as_of`, ranked and turned into statements by
//! [`crate::query::learning`].

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Params, MAX_INT};
use crate::openapi::Answer;
use crate::query::learning::{insights, order_patterns, LearningRows, PatternType};
use crate::reader::ReadSession;
use crate::views::view_rows;
use crate::{ask, blocking, read_view, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use helixflow_operators::pair_ranks::HEAVY;
use helixflow_operators::query::{top_pairs as select_top, Pair, Question, Reply};
use helixflow_operators::rows::{ViewName, ViewPart};
use helixflow_operators::Diff;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The learning routes.
pub fn routes() -> OpenApiRouter<Reader> {
    OpenApiRouter::new()
        .routes(routes!(patterns))
        .routes(routes!(insights_route))
}

/// `GET /v1/learning/patterns`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatternsAnswer {
    /// The pattern type asked for.
    #[serde(rename = "type")]
    pub kind: String,
    /// Rows of the view in all (before `limit`).
    pub total: usize,
    /// The view's rows (its fields, as `GET /v1/views` lists them), by support.
    #[schema(value_type = Vec<Object>)]
    pub patterns: Vec<Value>,
}

/// `GET /v1/learning/insights`'s members.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsightsAnswer {
    /// Statements in all (before `limit`).
    pub total: usize,
    /// Flat objects: `kind`, `support` and the statement's fields (docs/learning.md).
    #[schema(value_type = Vec<Object>)]
    pub insights: Vec<Value>,
}

/// Largest `limit` of both routes.
const MAX_LIMIT: u64 = 10_000;

/// One learning view's rows ranked by support.
#[utoipa::path(
    get,
    path = "/v1/learning/patterns",
    tag = "learning",
    params(
        ("type" = String, Query, description = "user_intent, user_preference, conversation_flow, debate_strategy, provider_performance or entity_cooccurrence"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "1..=10000, default 100")
    ),
    responses(
        (status = 200, description = "The patterns", body = Answer<PatternsAnswer>),
        (status = 400, description = "A missing or bad parameter", body = ErrorBody),
        (status = 404, description = "The topology does not compute the view", body = ErrorBody)
    )
)]
async fn patterns(
    State(reader): State<Reader>,
    uri: Uri,
) -> ApiResult<Json<Answer<PatternsAnswer>>> {
    let params = Params::parse(uri.query(), &["type", "limit"])?;
    let names: Vec<&str> = PatternType::ALL.iter().map(|t| t.name()).collect();
    let kind = match params.get("type") {
        None => Err(ApiError::bad(
            "type",
            format!("type is required: one of {}", names.join(", ")),
        )),
        Some(t) => PatternType::parse(t).ok_or_else(|| {
            ApiError::bad(
                "type",
                format!("type={t:?} is not one of {}", names.join(", ")),
            )
        }),
    }?;
    let limit = params.int("limit", 1, MAX_LIMIT, 100)? as usize;
    blocking(move || {
        let session = reader.session();
        let (total, part) = if kind == PatternType::EntityCooccurrence {
            let (kept, top) = top_pairs(session.as_ref(), 1, limit)?;
            (kept, ViewPart::Cooccurrence(top))
        } else {
            let part = read(session.as_ref(), kind.view())?;
            (part.len(), part)
        };
        let mut rows = view_rows(part, reader.ids())?;
        order_patterns(kind, &mut rows);
        rows.truncate(limit);
        let members = PatternsAnswer {
            kind: kind.name().to_owned(),
            total,
            patterns: rows,
        };
        Ok(Json(Answer::at(session.as_ref(), members)))
    })
    .await
}

/// Statements derived from the learning views, by support.
#[utoipa::path(
    get,
    path = "/v1/learning/insights",
    tag = "learning",
    params(
        ("min_support" = Option<u64>, Query, minimum = 1, maximum = 9223372036854775807_u64, description = "1 or more, default 5"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "1..=10000, default 50")
    ),
    responses(
        (status = 200, description = "The insights", body = Answer<InsightsAnswer>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "The topology does not compute a learning view", body = ErrorBody)
    )
)]
async fn insights_route(
    State(reader): State<Reader>,
    uri: Uri,
) -> ApiResult<Json<Answer<InsightsAnswer>>> {
    let params = Params::parse(uri.query(), &["min_support", "limit"])?;
    let min_support = params.int("min_support", 1, MAX_INT, 5)?;
    let limit = params.int("limit", 1, MAX_LIMIT, 50)? as usize;
    blocking(move || {
        let session = reader.session();
        let ids = reader.ids();
        let s = session.as_ref();
        let rows = |view| view_rows(read(s, view)?, ids);
        let mut learning = LearningRows {
            user_preferences: rows(ViewName::UserPreferences)?,
            user_intents: rows(ViewName::UserIntents)?,
            entity_pairs: Vec::new(),
            debate_strategies: rows(ViewName::DebateStrategies)?,
            provider_performance: rows(ViewName::ProviderPerformance)?,
        };
        // Only the pairs that can be among the first `limit` statements are
        // rendered; the others are counted.
        let min = Diff::try_from(min_support).unwrap_or(Diff::MAX);
        let (kept, shown) = top_pairs(s, min, limit)?;
        let unshown = kept - shown.len();
        learning.entity_pairs = view_rows(ViewPart::Cooccurrence(shown), ids)?;
        let all = insights(&learning, min_support);
        let total = all.len() + unshown;
        let listed: Vec<Value> = all.iter().take(limit).map(|i| i.to_json()).collect();
        let members = InsightsAnswer {
            total,
            insights: listed,
        };
        Ok(Json(Answer::at(s, members)))
    })
    .await
}

/// A view's rows at the session's `as_of`.
fn read(session: &dyn ReadSession, view: ViewName) -> ApiResult<ViewPart> {
    read_view(session, view, "learning queries")
}

/// The pairs counted at least `min` (how many), and those that can rank
/// among the first `limit`, asked of the workers (no copy of the view):
/// from the heavy-pair index when `min` is at least its threshold, else
/// from a scan of the view.
fn top_pairs(session: &dyn ReadSession, min: Diff, limit: usize) -> ApiResult<(usize, Vec<Pair>)> {
    let ranked = |scan| match ask(
        session,
        Question::TopPairs { min, limit, scan },
        "learning queries",
    )? {
        Reply::TopPairs { kept, pairs } => Ok((kept as usize, pairs)),
        _ => Ok((0, Vec::new())),
    };
    let (kept, pairs) = ranked(min < HEAVY)?;
    Ok((kept, select_top(pairs, limit)))
}
