//! The learning patterns and insights of api.md, as plain functions over
//! the learning views' rows (JSON objects as the views write them, each
//! view's rows in its key order).

use helixflow_operators::rows::ViewName;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A pattern type of `GET /v1/learning/patterns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternType {
    UserIntent,
    DebateStrategy,
    EntityCooccurrence,
    UserPreference,
    ConversationFlow,
    ProviderPerformance,
}

impl PatternType {
    /// Every type, as the contract lists them.
    pub const ALL: [PatternType; 6] = [
        PatternType::UserIntent,
        PatternType::DebateStrategy,
        PatternType::EntityCooccurrence,
        PatternType::UserPreference,
        PatternType::ConversationFlow,
        PatternType::ProviderPerformance,
    ];

    /// The contract's name.
    pub fn name(self) -> &'static str {
        match self {
            PatternType::UserIntent => "user_intent",
            PatternType::DebateStrategy => "debate_strategy",
            PatternType::EntityCooccurrence => "entity_cooccurrence",
            PatternType::UserPreference => "user_preference",
            PatternType::ConversationFlow => "conversation_flow",
            PatternType::ProviderPerformance => "provider_performance",
        }
    }

    /// Looks a type up by name.
    pub fn parse(name: &str) -> Option<PatternType> {
        PatternType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The view whose rows are the patterns.
    pub fn view(self) -> ViewName {
        match self {
            PatternType::UserIntent => ViewName::UserIntents,
            PatternType::DebateStrategy => ViewName::DebateStrategies,
            PatternType::EntityCooccurrence => ViewName::EntityCooccurrence,
            PatternType::UserPreference => ViewName::UserPreferences,
            PatternType::ConversationFlow => ViewName::ConversationFlow,
            PatternType::ProviderPerformance => ViewName::ProviderPerformance,
        }
    }

    /// The field patterns are ranked by (descending), if any.
    pub fn support(self) -> Option<&'static str> {
        match self {
            PatternType::UserIntent | PatternType::UserPreference => Some("messages"),
            PatternType::DebateStrategy => Some("debates"),
            PatternType::EntityCooccurrence => Some("count"),
            PatternType::ConversationFlow => Some("transitions"),
            PatternType::ProviderPerformance => None,
        }
    }
}

fn number(row: &Value, field: &str) -> Option<f64> {
    row.get(field).and_then(Value::as_f64)
}

/// Ascending, `null` (or absent) last.
fn ascending_nulls_last(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The contract's order of `provider_performance` patterns (before the key).
fn performance_order(a: &Value, b: &Value) -> Ordering {
    ["error_rate", "latency_p95", "cost_per_1k_tokens"]
        .iter()
        .map(|f| ascending_nulls_last(number(a, f), number(b, f)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Orders a pattern view's rows (given in key order) as the contract says:
/// support descending, then the key (the sort is stable).
pub fn order_patterns(kind: PatternType, rows: &mut [Value]) {
    match kind.support() {
        Some(field) => {
            rows.sort_by(|a, b| ascending_nulls_last(number(b, field), number(a, field)))
        }
        None => rows.sort_by(performance_order),
    }
}

/// One statement of `GET /v1/learning/insights`.
#[derive(Clone, Debug, PartialEq)]
pub struct Insight {
    pub kind: &'static str,
    pub support: u64,
    /// The statement's fields, in the order the contract lists them.
    pub fields: Vec<(&'static str, Value)>,
}

impl Insight {
    /// The flat JSON object: `kind`, `support`, then the fields.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), self.kind.into());
        m.insert("support".into(), self.support.into());
        for (k, v) in &self.fields {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m)
    }
}

/// The learning views' rows the insights are derived from, each in key order.
#[derive(Clone, Debug, Default)]
pub struct LearningRows {
    pub user_preferences: Vec<Value>,
    pub user_intents: Vec<Value>,
    /// `entity_cooccurrence` rows (the caller may pass only those that can
    /// be kept: `count >= min_support`).
    pub entity_pairs: Vec<Value>,
    pub debate_strategies: Vec<Value>,
    pub provider_performance: Vec<Value>,
}

fn uint(row: &Value, field: &str) -> u64 {
    row.get(field).and_then(Value::as_u64).unwrap_or(0)
}

fn pick(row: &Value, fields: &[&'static str]) -> Vec<(&'static str, Value)> {
    fields
        .iter()
        .map(|f| (*f, row.get(*f).cloned().unwrap_or(Value::Null)))
        .collect()
}

/// Every statement with `support >= min_support`, in the contract's order.
pub fn insights(rows: &LearningRows, min_support: u64) -> Vec<Insight> {
    let mut out = Vec::new();
    out.extend(user_preference_insights(&rows.user_preferences));
    for r in &rows.user_intents {
        if uint(r, "sessions") >= 2 {
            out.push(Insight {
                kind: "recurring_intent",
                support: uint(r, "messages"),
                fields: pick(r, &["user_id", "intent", "sessions"]),
            });
        }
    }
    for r in &rows.entity_pairs {
        out.push(Insight {
            kind: "entity_pair",
            support: uint(r, "count"),
            fields: pick(r, &["a", "b"]),
        });
    }
    for r in &rows.debate_strategies {
        out.push(Insight {
            kind: "debate_strategy",
            support: uint(r, "debates"),
            fields: pick(r, &["stance", "mean_score", "led"]),
        });
    }
    let mut performance = rows.provider_performance.clone();
    order_patterns(PatternType::ProviderPerformance, &mut performance);
    if let Some(best) = performance.iter().find(|r| uint(r, "calls") >= min_support) {
        out.push(Insight {
            kind: "best_provider",
            support: uint(best, "calls"),
            fields: pick(best, &["provider", "model", "latency_p95", "error_rate"]),
        });
    }
    out.retain(|i| i.support >= min_support);
    out.sort_by(insight_order);
    out
}

/// Per user: its row with the most messages (ties: the smaller provider,
/// the first in key order) when its share is at least one half.
fn user_preference_insights(rows: &[Value]) -> Vec<Insight> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let user = rows[i].get("user_id");
        let mut j = i;
        let (mut total, mut best) = (0u64, &rows[i]);
        while j < rows.len() && rows[j].get("user_id") == user {
            total += uint(&rows[j], "messages");
            if uint(&rows[j], "messages") > uint(best, "messages") {
                best = &rows[j];
            }
            j += 1;
        }
        if number(best, "share").is_some_and(|s| s >= 0.5) {
            out.push(Insight {
                kind: "user_preference",
                support: total,
                fields: pick(best, &["user_id", "provider", "share"]),
            });
        }
        i = j;
    }
    out
}

/// Compares two field values: strings by bytes, numbers as numbers.
fn value_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => ascending_nulls_last(a.as_f64(), b.as_f64()),
    }
}

/// Support descending, then kind, then the fields in the order listed.
fn insight_order(a: &Insight, b: &Insight) -> Ordering {
    b.support
        .cmp(&a.support)
        .then_with(|| a.kind.as_bytes().cmp(b.kind.as_bytes()))
        .then_with(|| {
            a.fields
                .iter()
                .zip(&b.fields)
                .map(|((_, x), (_, y))| value_order(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
}

#[cfg(test)]
mod tests;
