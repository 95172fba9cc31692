use super::*;
use serde_json::json;

fn query(body: Value) -> ApiResult<StructuredQuery> {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    StructuredQuery::parse(&JsonObject::parse(&bytes)?)
}

fn code(body: Value) -> String {
    match query(body) {
        Ok(_) => "ok".into(),
        Err(e) => e.code,
    }
}

fn run(body: Value, rows: &[Value]) -> Vec<Value> {
    match query(body) {
        Ok(q) => q.run(rows.to_vec()),
        Err(e) => panic!("{}", e.message),
    }
}

fn performance_rows() -> Vec<Value> {
    vec![
        json!({"provider": "a", "model": "m1", "calls": 3, "error_rate": 0.5, "cost_per_1k_tokens": null}),
        json!({"provider": "a", "model": "m2", "calls": 4, "error_rate": 0.0, "cost_per_1k_tokens": 2.0}),
        json!({"provider": "b", "model": "m1", "calls": 5, "error_rate": 0.0, "cost_per_1k_tokens": 1.0}),
    ]
}

#[test]
fn members_are_checked_in_order_and_each_problem_names_its_part() {
    assert_eq!(code(json!({})), "bad_view");
    assert_eq!(code(json!({"view": "nope"})), "bad_view");
    assert_eq!(
        code(json!({"view": "provider_stats", "where": {}})),
        "bad_where"
    );
    let bad_field =
        json!({"view": "provider_stats", "where": [{"field": "x", "op": "eq", "value": 1}]});
    assert_eq!(code(bad_field), "bad_where");
    let type_clash =
        json!({"view": "provider_stats", "where": [{"field": "calls", "op": "eq", "value": "3"}]});
    assert_eq!(code(type_clash), "bad_where");
    let bool_order = json!({"view": "debate_stats", "where": [{"field": "consensus", "op": "lt", "value": true}]});
    assert_eq!(code(bool_order), "bad_where");
    let no_value = json!({"view": "debate_stats", "where": [{"field": "consensus", "op": "eq", "value": null}]});
    assert_eq!(
        code(no_value),
        "bad_where",
        "null is absent, and value is required"
    );
    // Where is checked before group_by: a bad where wins.
    let both = json!({"view": "provider_stats", "where": 5, "group_by": ["nope"]});
    assert_eq!(code(both), "bad_where");
    assert_eq!(
        code(json!({"view": "debate_stats", "group_by": ["participants"]})),
        "bad_group_by"
    );
    let count_field = json!({"view": "provider_stats", "aggregates": [{"fn": "count", "field": "calls", "as": "n"}]});
    assert_eq!(code(count_field), "bad_aggregates");
    let no_as = json!({"view": "provider_stats", "aggregates": [{"fn": "count"}]});
    assert_eq!(code(no_as), "bad_aggregates");
    let twice = json!({"view": "provider_stats",
        "aggregates": [{"fn": "count", "as": "n"}, {"fn": "sum", "field": "calls", "as": "n"}]});
    assert_eq!(code(twice), "bad_aggregates");
    let sum_strings = json!({"view": "provider_stats", "aggregates": [{"fn": "sum", "field": "model", "as": "s"}]});
    assert_eq!(code(sum_strings), "bad_aggregates");
    let order_unknown = json!({"view": "provider_stats", "group_by": ["provider"], "order_by": [{"field": "calls"}]});
    assert_eq!(
        code(order_unknown),
        "bad_order_by",
        "grouped rows hold only group fields and aggregates"
    );
    let desc_type =
        json!({"view": "provider_stats", "order_by": [{"field": "calls", "desc": "yes"}]});
    assert_eq!(code(desc_type), "bad_order_by");
    assert_eq!(
        code(json!({"view": "provider_stats", "limit": 0})),
        "bad_limit"
    );
    assert_eq!(
        code(json!({"view": "provider_stats", "limit": 100001})),
        "bad_limit"
    );
    assert_eq!(
        code(json!({"view": "provider_stats", "limit": 5.0})),
        "bad_limit"
    );
    assert_eq!(
        code(json!({"view": "provider_stats", "extra": 1, "limit": null})),
        "ok"
    );
}

#[test]
fn nulls_fail_every_test_but_ne_and_sort_last_ascending_first_descending() {
    let rows = performance_rows();
    let cheap = run(
        json!({"view": "provider_performance",
               "where": [{"field": "cost_per_1k_tokens", "op": "lt", "value": 10}]}),
        &rows,
    );
    assert_eq!(cheap.len(), 2, "the null cost fails lt");
    let not_two = run(
        json!({"view": "provider_performance",
               "where": [{"field": "cost_per_1k_tokens", "op": "ne", "value": 2.0}]}),
        &rows,
    );
    assert_eq!(not_two.len(), 2, "the null cost passes ne");
    let up = run(
        json!({"view": "provider_performance", "order_by": [{"field": "cost_per_1k_tokens"}]}),
        &rows,
    );
    assert_eq!(up[2]["model"], "m1");
    assert_eq!(up[2]["provider"], "a", "null last ascending");
    let down = run(
        json!({"view": "provider_performance",
               "order_by": [{"field": "cost_per_1k_tokens", "desc": true}]}),
        &rows,
    );
    assert_eq!(down[0]["provider"], "a", "null first descending");
}

#[test]
fn integer_sums_stay_integers_and_empty_aggregates_are_zero_or_null() {
    let rows = performance_rows();
    let all = run(
        json!({"view": "provider_performance", "aggregates": [
            {"fn": "sum", "field": "calls", "as": "calls"},
            {"fn": "avg", "field": "cost_per_1k_tokens", "as": "avg_cost"},
            {"fn": "count", "as": "n"}]}),
        &rows,
    );
    assert_eq!(all, vec![json!({"calls": 12, "avg_cost": 1.5, "n": 3})]);
    assert!(all[0]["calls"].is_u64());
    let none = run(
        json!({"view": "provider_performance",
               "where": [{"field": "provider", "op": "eq", "value": "zzz"}],
               "aggregates": [{"fn": "sum", "field": "calls", "as": "calls"},
                              {"fn": "min", "field": "model", "as": "first"},
                              {"fn": "count", "as": "n"}]}),
        &rows,
    );
    assert_eq!(
        none,
        vec![json!({"calls": 0, "first": null, "n": 0})],
        "one row even over no rows"
    );
    let grouped_none = run(
        json!({"view": "provider_performance", "group_by": ["provider"],
               "where": [{"field": "provider", "op": "eq", "value": "zzz"}],
               "aggregates": [{"fn": "count", "as": "n"}]}),
        &rows,
    );
    assert!(grouped_none.is_empty(), "no group, no row");
}

#[test]
fn in_and_contains_and_prefix() {
    let rows = vec![
        json!({"debate_id": "d1", "participants": ["anthropic", "openai"], "leader": "openai"}),
        json!({"debate_id": "d2", "participants": ["google"], "leader": "google"}),
        json!({"debate_id": "e3", "participants": ["openai"], "leader": "openai"}),
    ];
    let ids = |out: Vec<Value>| -> Vec<String> {
        out.iter()
            .map(|r| r["debate_id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let with_openai = run(
        json!({"view": "debate_stats",
               "where": [{"field": "participants", "op": "contains", "value": "openai"}]}),
        &rows,
    );
    assert_eq!(ids(with_openai), ["d1", "e3"]);
    let substring = run(
        json!({"view": "debate_stats", "where": [{"field": "leader", "op": "contains", "value": "oog"}]}),
        &rows,
    );
    assert_eq!(ids(substring), ["d2"]);
    let listed = run(
        json!({"view": "debate_stats",
               "where": [{"field": "debate_id", "op": "in", "value": ["e3", "d2", "x"]}]}),
        &rows,
    );
    assert_eq!(ids(listed), ["d2", "e3"], "in keeps the key order");
    let prefixed = run(
        json!({"view": "debate_stats", "where": [{"field": "debate_id", "op": "prefix", "value": "d"}]}),
        &rows,
    );
    assert_eq!(ids(prefixed), ["d1", "d2"]);
    let bad_in = json!({"view": "debate_stats", "where": [{"field": "debate_id", "op": "in", "value": "d1"}]});
    assert_eq!(code(bad_in), "bad_where");
}

#[test]
fn order_ties_fall_back_to_the_key_or_the_group_fields() {
    let rows = performance_rows();
    let by_rate = run(
        json!({"view": "provider_performance", "order_by": [{"field": "error_rate"}]}),
        &rows,
    );
    let keys: Vec<(String, String)> = by_rate
        .iter()
        .map(|r| (r["provider"].to_string(), r["model"].to_string()))
        .collect();
    assert_eq!(
        keys[0],
        ("\"a\"".into(), "\"m2\"".into()),
        "0.0 ties keep key order"
    );
    assert_eq!(keys[1], ("\"b\"".into(), "\"m1\"".into()));
    let groups = run(
        json!({"view": "provider_performance", "group_by": ["model"],
               "aggregates": [{"fn": "max", "field": "error_rate", "as": "worst"}],
               "order_by": [{"field": "worst", "desc": true}], "limit": 1}),
        &rows,
    );
    assert_eq!(groups, vec![json!({"model": "m1", "worst": 0.5})]);
    let distinct = run(
        json!({"view": "provider_performance", "group_by": ["model", "provider"]}),
        &rows,
    );
    assert_eq!(
        distinct[0],
        json!({"model": "m1", "provider": "a"}),
        "group tuples in tuple order"
    );
    assert_eq!(distinct.len(), 3);
}
