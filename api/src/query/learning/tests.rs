use super::*;
use serde_json::json;

#[test]
fn patterns_rank_by_support_then_key_and_performance_by_its_three_figures() {
    let mut rows = vec![
        json!({"user_id": "a", "intent": "x", "messages": 2}),
        json!({"user_id": "b", "intent": "x", "messages": 5}),
        json!({"user_id": "c", "intent": "x", "messages": 2}),
    ];
    order_patterns(PatternType::UserIntent, &mut rows);
    let users: Vec<&str> = rows
        .iter()
        .map(|r| r["user_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(users, ["b", "a", "c"], "ties keep the key order");

    let mut perf = vec![
        json!({"provider": "a", "error_rate": 0.1, "latency_p95": 5, "cost_per_1k_tokens": 1.0}),
        json!({"provider": "b", "error_rate": 0.0, "latency_p95": 9, "cost_per_1k_tokens": null}),
        json!({"provider": "c", "error_rate": 0.0, "latency_p95": 9, "cost_per_1k_tokens": 2.0}),
        json!({"provider": "d", "error_rate": 0.0, "latency_p95": 7, "cost_per_1k_tokens": 3.0}),
    ];
    order_patterns(PatternType::ProviderPerformance, &mut perf);
    let order: Vec<&str> = perf
        .iter()
        .map(|r| r["provider"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(order, ["d", "c", "b", "a"], "a null cost sorts last");
}

#[test]
fn a_user_preference_needs_half_the_users_messages_and_ties_go_to_the_smaller_provider() {
    let rows = LearningRows {
        user_preferences: vec![
            json!({"user_id": "u", "provider": "a", "messages": 3, "share": 0.5}),
            json!({"user_id": "u", "provider": "b", "messages": 3, "share": 0.5}),
            json!({"user_id": "v", "provider": "a", "messages": 1, "share": 0.25}),
            json!({"user_id": "v", "provider": "b", "messages": 3, "share": 0.75}),
            json!({"user_id": "w", "provider": "a", "messages": 4, "share": 0.4}),
            json!({"user_id": "w", "provider": "b", "messages": 3, "share": 0.3}),
            json!({"user_id": "w", "provider": "c", "messages": 3, "share": 0.3}),
        ],
        ..LearningRows::default()
    };
    let got = insights(&rows, 1);
    let said: Vec<(u64, &str, &str)> = got
        .iter()
        .map(|i| {
            let field = |n: &str| {
                i.fields
                    .iter()
                    .find(|(k, _)| *k == n)
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            (i.support, field("user_id"), field("provider"))
        })
        .collect();
    assert_eq!(
        said,
        [(6, "u", "a"), (4, "v", "b")],
        "w's best row has share 0.4"
    );
}

#[test]
fn insights_keep_the_supported_and_order_by_support_kind_then_fields() {
    let rows = LearningRows {
        user_intents: vec![
            json!({"user_id": "u", "intent": "x", "messages": 7, "sessions": 2}),
            json!({"user_id": "u", "intent": "y", "messages": 9, "sessions": 1}),
        ],
        entity_pairs: vec![
            json!({"a": "e2", "b": "e3", "count": 7}),
            json!({"a": "e1", "b": "e9", "count": 7}),
            json!({"a": "e1", "b": "e2", "count": 2}),
        ],
        debate_strategies: vec![
            json!({"stance": "pro", "debates": 8, "mean_score": 1.5, "led": 3}),
        ],
        provider_performance: vec![
            json!({"provider": "p", "model": "m", "calls": 4, "error_rate": 0.0, "latency_p95": 1}),
            json!({"provider": "q", "model": "m", "calls": 9, "error_rate": 0.5, "latency_p95": 1}),
        ],
        ..LearningRows::default()
    };
    let got: Vec<(&str, u64)> = insights(&rows, 5)
        .iter()
        .map(|i| (i.kind, i.support))
        .collect();
    assert_eq!(
        got,
        [
            ("best_provider", 9),
            ("debate_strategy", 8),
            ("entity_pair", 7),
            ("entity_pair", 7),
            ("recurring_intent", 7),
        ],
        "the intent with one session says nothing; p has too few calls to be best"
    );
    let pairs: Vec<Value> = insights(&rows, 5)
        .into_iter()
        .filter(|i| i.kind == "entity_pair")
        .map(|i| i.to_json())
        .collect();
    assert_eq!(
        pairs[0]["a"], "e1",
        "ties on support and kind order by a, then b"
    );
    assert_eq!(
        pairs[0],
        json!({"kind": "entity_pair", "support": 7, "a": "e1", "b": "e9"})
    );
}
