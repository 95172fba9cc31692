//! The ClickHouse schema the sink creates if absent (docs/sinks.md).
//!
//! One table per view, named after it: the contract's fields as columns plus
//! `_version` (grows with every write) and `_deleted` (1 on a tombstone).
//! `ReplacingMergeTree(_version)` ordered by the view's key keeps the latest
//! write of each key, so
//! `SELECT * FROM (SELECT * FROM helixflow.<view> FINAL) WHERE _deleted = 0`
//! is exactly the view, and writing the same rows again changes nothing.
//! Timestamps are `Int64` epoch milliseconds (18.16 has no `DateTime64`);
//! an hour is a `DateTime`; object fields and `memory_state.version` are
//! JSON strings; string lists are `Array(String)`; an absent number
//! (`provider_performance.cost_per_1k_tokens`) is `Nullable`.

use helixflow_operators::rows::ViewName;

/// The `CREATE TABLE` statement of a view's table, if the view has one.
pub fn create_table(database: &str, view: ViewName) -> Option<String> {
    let (columns, order) = match view {
        ViewName::ConversationSnapshots => (
            "conversation_id String, user_id String, session_id String, \
             message_count UInt64, user_messages UInt64, assistant_messages UInt64, \
             total_tokens UInt64, first_ts Int64, last_ts Int64, last_seq UInt64, \
             providers Array(String), entity_count UInt64",
            "conversation_id",
        ),
        ViewName::ProviderStats => (
            "provider String, model String, hour DateTime, calls UInt64, errors UInt64, \
             tokens_in UInt64, tokens_out UInt64, cost_usd Float64, latency_p50 UInt64, \
             latency_p95 UInt64, latency_p99 UInt64, latency_avg Float64",
            "provider, model, hour",
        ),
        ViewName::MemoryState => (
            "memory_id String, content String, user_id String, tags Array(String), \
             version String",
            "memory_id",
        ),
        ViewName::DebateStats => (
            "debate_id String, rounds UInt64, participants Array(String), \
             mean_score String, leader String, consensus UInt8",
            "debate_id",
        ),
        ViewName::UserIntents => (
            "user_id String, intent String, messages UInt64, conversations UInt64, \
             sessions UInt64, first_ts Int64, last_ts Int64",
            "user_id, intent",
        ),
        ViewName::UserPreferences => (
            "user_id String, provider String, messages UInt64, tokens UInt64, \
             conversations UInt64, share Float64",
            "user_id, provider",
        ),
        ViewName::ConversationFlow => (
            "from_role String, to_role String, transitions UInt64, conversations UInt64",
            "from_role, to_role",
        ),
        ViewName::DebateStrategies => (
            "stance String, rounds UInt64, debates UInt64, mean_score Float64, \
             providers Array(String), led UInt64, consensus_debates UInt64",
            "stance",
        ),
        ViewName::ProviderPerformance => (
            "provider String, model String, calls UInt64, errors UInt64, error_rate Float64, \
             tokens_in UInt64, tokens_out UInt64, cost_usd Float64, latency_p50 UInt64, \
             latency_p95 UInt64, latency_p99 UInt64, latency_avg Float64, \
             cost_per_1k_tokens Nullable(Float64)",
            "provider, model",
        ),
        _ => return None,
    };
    Some(format!(
        "CREATE TABLE IF NOT EXISTS {database}.{view} ({columns}, _version UInt64, _deleted UInt8) \
         ENGINE = ReplacingMergeTree(_version) ORDER BY ({order})"
    ))
}

/// The query that reads a view back from its table, sorted by key.
pub fn select_view(database: &str, view: ViewName) -> String {
    format!(
        "SELECT * FROM (SELECT * FROM {database}.{view} FINAL) WHERE _deleted = 0 ORDER BY {}",
        view.key_fields().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_view_has_a_table_keyed_by_its_key_fields() {
        for v in ViewName::ALL {
            let table = create_table("helixflow", v);
            let expected = helixflow_types::topology::TABLE_VIEWS.contains(&v.as_str());
            assert_eq!(table.is_some(), expected, "{v}");
            if let Some(t) = table {
                assert!(
                    t.contains(&format!("ORDER BY ({})", v.key_fields().join(", "))),
                    "{t}"
                );
            }
        }
    }
}
