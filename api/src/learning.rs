//! `GET /v1/learning/patterns` and `GET /v1/learning/insights`: the
//! learning views read at one `as_of`, ranked and turned into statements by
//! [`crate::query::learning`].

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::query::learning::{insights, order_patterns, LearningRows, PatternType};
use crate::reader::ReadSession;
use crate::views::view_rows;
use crate::{answer, blocking, read_view, Reader};
use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use helixflow_operators::intern::Id;
use helixflow_operators::rows::{ViewName, ViewPart};
use helixflow_operators::Diff;
use serde_json::{json, Value};

/// The learning routes.
pub fn routes() -> Router<Reader> {
    Router::new()
        .route("/v1/learning/patterns", get(patterns))
        .route("/v1/learning/insights", get(insights_route))
}

/// Largest `limit` of both routes.
const MAX_LIMIT: u64 = 10_000;

async fn patterns(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Value>> {
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
        let part = read(session.as_ref(), kind.view())?;
        let total = part.len();
        let part = match part {
            ViewPart::Cooccurrence(pairs) => ViewPart::Cooccurrence(top_pairs(pairs, 1, limit).1),
            other => other,
        };
        let mut rows = view_rows(part, reader.ids())?;
        order_patterns(kind, &mut rows);
        rows.truncate(limit);
        Ok(Json(answer(
            session.as_ref(),
            json!({"type": kind.name(), "total": total, "patterns": rows}),
        )))
    })
    .await
}

async fn insights_route(State(reader): State<Reader>, uri: Uri) -> ApiResult<Json<Value>> {
    let params = Params::parse(uri.query(), &["min_support", "limit"])?;
    let min_support = params.int("min_support", 1, u64::MAX, 5)?;
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
        let (kept, shown) = match read(s, ViewName::EntityCooccurrence)? {
            ViewPart::Cooccurrence(pairs) => {
                let min = Diff::try_from(min_support).unwrap_or(Diff::MAX);
                top_pairs(pairs, min, limit)
            }
            _ => (0, Vec::new()),
        };
        let unshown = kept - shown.len();
        learning.entity_pairs = view_rows(ViewPart::Cooccurrence(shown), ids)?;
        let all = insights(&learning, min_support);
        let total = all.len() + unshown;
        let listed: Vec<Value> = all.iter().take(limit).map(|i| i.to_json()).collect();
        Ok(Json(answer(s, json!({"total": total, "insights": listed}))))
    })
    .await
}

/// A view's rows at the session's `as_of`.
fn read(session: &dyn ReadSession, view: ViewName) -> ApiResult<ViewPart> {
    read_view(session, view, "learning queries")
}

/// An `entity_cooccurrence` row: (pair, count).
type Pair = ((Id, Id), Diff);

/// The pairs with `count >= min` (how many), and of those the ones that can
/// rank among the first `limit` by count: every pair whose count is at
/// least the `limit`-th greatest.
fn top_pairs(mut pairs: Vec<Pair>, min: Diff, limit: usize) -> (usize, Vec<Pair>) {
    pairs.retain(|(_, n)| *n >= min);
    let kept = pairs.len();
    if kept > limit {
        let mut counts: Vec<Diff> = pairs.iter().map(|(_, n)| *n).collect();
        let (_, threshold, _) = counts.select_nth_unstable_by(limit - 1, |a, b| b.cmp(a));
        let threshold = *threshold;
        pairs.retain(|(_, n)| *n >= threshold);
    }
    (kept, pairs)
}

#[cfg(test)]
mod tests {
    use super::top_pairs;
    use helixflow_operators::intern::Id;

    #[test]
    fn top_pairs_keeps_every_pair_tied_with_the_last_place() {
        let pairs = vec![
            ((Id(1), Id(2)), 5),
            ((Id(1), Id(3)), 3),
            ((Id(2), Id(3)), 3),
            ((Id(3), Id(4)), 1),
        ];
        let (kept, top) = top_pairs(pairs.clone(), 2, 2);
        assert_eq!(kept, 3);
        assert_eq!(top.len(), 3, "both pairs of count 3 tie for second place");
        assert_eq!(top_pairs(pairs, 1, 10).1.len(), 4);
    }
}
