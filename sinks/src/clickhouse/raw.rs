//! Raw `provider_call` and `message` events in ClickHouse, and the hourly
//! and daily provider rollups.
//!
//! - `provider_calls` (key `event_id`) and `messages` (key
//!   `conversation_id, seq`): `ReplacingMergeTree(_version)` partitioned by
//!   the day of `ts`, one live row per idempotency key, holding the event the
//!   contract's dedup rule keeps (greatest `ts`, then payload fingerprint).
//! - The writer applies that rule itself, against what the table already
//!   holds (read once at start, then kept in memory): a duplicate is not
//!   written again, even one delivered again after a restart; a conflicting
//!   event that wins writes a tombstone (`_deleted = 1`, `_sign = -1`, the
//!   replaced row's values) and then itself.
//! - `provider_calls_hourly` and `provider_calls_daily`: `AggregatingMergeTree`
//!   tables filled by materialized views on every insert into
//!   `provider_calls`. Counts and sums add `_sign`, so a tombstone takes its
//!   replaced row back out; latency percentiles take live rows only
//!   (`quantilesExactIf(..)(latency_ms, _sign > 0)`), so a replaced
//!   conflicting call's latency stays in them (the exact figures per hour
//!   are the `provider_stats` view's).

use crate::runner::SinkError;
use clickhouse::{Client, Row as ChRow};
use helixflow_operators::changes::RawEvent;
use helixflow_operators::dedup::{verdict, Verdict};
use helixflow_types::event::{Event, EventKind, Message, ProviderCall};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A `provider_calls` row.
#[derive(ChRow, Serialize, Deserialize, Clone, Debug)]
pub struct CallRow {
    event_id: String,
    ts: i64,
    provider: String,
    model: String,
    latency_ms: u32,
    tokens_in: u32,
    tokens_out: u32,
    cost_usd: f64,
    success: u8,
    error: Option<String>,
    _fingerprint: u64,
    _sign: i8,
    _version: u64,
    _deleted: u8,
}

/// A `messages` row.
#[derive(ChRow, Serialize, Deserialize, Clone, Debug, Default)]
pub struct MessageRow {
    conversation_id: String,
    seq: u64,
    event_id: String,
    ts: i64,
    session_id: String,
    user_id: String,
    role: String,
    content: String,
    tokens: u32,
    provider: Option<String>,
    model: Option<String>,
    latency_ms: Option<u32>,
    intent: Option<String>,
    debate_id: Option<String>,
    /// The mentions as the contract's JSON array of `{id, name, kind}`.
    entities: String,
    _fingerprint: u64,
    _version: u64,
    _deleted: u8,
}

/// What the table holds for a key: enough to compare and to retract.
#[derive(Clone, Copy)]
struct Held {
    ts: i64,
    fingerprint: u64,
}

/// Which raw tables a sink keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawKinds {
    pub calls: bool,
    pub messages: bool,
}

impl RawKinds {
    /// The tables for these event kinds.
    pub fn of(kinds: &[EventKind]) -> Self {
        RawKinds {
            calls: kinds.contains(&EventKind::ProviderCall),
            messages: kinds.contains(&EventKind::Message),
        }
    }
}

/// The statements that create the raw tables and rollups (if absent).
pub fn create_statements(database: &str, kinds: RawKinds) -> Vec<String> {
    let day = "PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000)))";
    let mut out = Vec::new();
    if kinds.calls {
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {database}.provider_calls (event_id String, ts Int64, \
             provider String, model String, latency_ms UInt32, tokens_in UInt32, \
             tokens_out UInt32, cost_usd Float64, success UInt8, error Nullable(String), \
             _fingerprint UInt64, _sign Int8, _version UInt64, _deleted UInt8) \
             ENGINE = ReplacingMergeTree(_version) {day} ORDER BY event_id"
        ));
        for (name, bucket, partition) in [
            (
                "hourly",
                "toStartOfHour(toDateTime(intDiv(ts, 1000)))",
                "toYYYYMM(bucket)",
            ),
            (
                "daily",
                "toDate(toDateTime(intDiv(ts, 1000)))",
                "toYYYYMM(bucket)",
            ),
        ] {
            let (column, kind) = if name == "hourly" {
                ("hour", "DateTime")
            } else {
                ("day", "Date")
            };
            let partition = partition.replace("bucket", column);
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {database}.provider_calls_{name} (provider String, \
                 model String, {column} {kind}, calls AggregateFunction(sum, Int64), \
                 errors AggregateFunction(sum, Int64), tokens_in AggregateFunction(sum, Int64), \
                 tokens_out AggregateFunction(sum, Int64), cost_usd AggregateFunction(sum, Float64), \
                 latency AggregateFunction(quantilesExactIf(0.5, 0.95, 0.99), UInt32, UInt8)) \
                 ENGINE = AggregatingMergeTree() PARTITION BY {partition} \
                 ORDER BY (provider, model, {column})"
            ));
            out.push(format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.provider_calls_{name}_mv \
                 TO {database}.provider_calls_{name} AS SELECT provider, model, \
                 {bucket} AS {column}, sumState(toInt64(_sign)) AS calls, \
                 sumState(toInt64(_sign) * (1 - success)) AS errors, \
                 sumState(toInt64(_sign) * tokens_in) AS tokens_in, \
                 sumState(toInt64(_sign) * tokens_out) AS tokens_out, \
                 sumState(_sign * cost_usd) AS cost_usd, \
                 quantilesExactIfState(0.5, 0.95, 0.99)(latency_ms, _sign > 0) AS latency \
                 FROM {database}.provider_calls GROUP BY provider, model, {column}"
            ));
        }
    }
    if kinds.messages {
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {database}.messages (conversation_id String, seq UInt64, \
             event_id String, ts Int64, session_id String, user_id String, role String, \
             content String, tokens UInt32, provider Nullable(String), model Nullable(String), \
             latency_ms Nullable(UInt32), intent Nullable(String), debate_id Nullable(String), \
             entities String, _fingerprint UInt64, _version UInt64, _deleted UInt8) \
             ENGINE = ReplacingMergeTree(_version) {day} ORDER BY (conversation_id, seq)"
        ));
    }
    out
}

/// The raw tables' writer state: what each key holds in the table.
#[derive(Default)]
pub struct RawTables {
    pub kinds: RawKinds,
    calls: HashMap<String, CallRow>,
    messages: HashMap<(String, u64), Held>,
}

/// Rows to insert for one batch (a key's tombstone before its new row).
#[derive(Default)]
pub struct RawWrites {
    pub calls: Vec<CallRow>,
    pub messages: Vec<MessageRow>,
}

fn call_row(fingerprint: u64, e: &ProviderCall) -> CallRow {
    CallRow {
        event_id: e.event_id.clone(),
        ts: e.ts,
        provider: e.provider.clone(),
        model: e.model.clone(),
        latency_ms: e.latency_ms,
        tokens_in: e.tokens_in,
        tokens_out: e.tokens_out,
        cost_usd: e.cost_usd,
        success: e.success.into(),
        error: e.error.clone(),
        _fingerprint: fingerprint,
        _sign: 1,
        _version: 0,
        _deleted: 0,
    }
}

fn message_row(fingerprint: u64, m: &Message) -> MessageRow {
    let entities: Vec<serde_json::Value> = m
        .entities
        .iter()
        .map(|e| serde_json::json!({"id": e.id, "name": e.name, "kind": e.kind}))
        .collect();
    MessageRow {
        conversation_id: m.conversation_id.clone(),
        seq: m.seq,
        event_id: m.event_id.clone(),
        ts: m.ts,
        session_id: m.session_id.clone(),
        user_id: m.user_id.clone(),
        role: m.role.name().to_owned(),
        content: m.content.clone(),
        tokens: m.tokens,
        provider: m.provider.clone(),
        model: m.model.clone(),
        latency_ms: m.latency_ms,
        intent: m.intent.clone(),
        debate_id: m.debate_id.clone(),
        entities: serde_json::Value::Array(entities).to_string(),
        _fingerprint: fingerprint,
        _version: 0,
        _deleted: 0,
    }
}

/// Keeps, per key, the event that wins by the dedup rule.
fn best<K: std::hash::Hash + Eq, V>(
    best: &mut HashMap<K, (i64, u64, V)>,
    key: K,
    ts: i64,
    fingerprint: u64,
    value: V,
) {
    match best.get(&key) {
        Some(b) if verdict((b.0, b.1), (ts, fingerprint)) != Verdict::Replaces => {}
        _ => {
            best.insert(key, (ts, fingerprint, value));
        }
    }
}

/// Appends what one key's batch winner (its `ts` and fingerprint) writes
/// against what the table holds for the key: nothing for a duplicate or a
/// loser; a tombstone of the held row and then the row, for a winner; the
/// row, for a new key.
fn write_key<H, R>(
    held: Option<((i64, u64), &H)>,
    winner: (i64, u64),
    tombstone: impl FnOnce(&H) -> R,
    row: impl FnOnce() -> R,
    out: &mut Vec<R>,
) {
    if let Some((stamp, held)) = held {
        match verdict(stamp, winner) {
            Verdict::Duplicate | Verdict::Loses => return,
            Verdict::Replaces => out.push(tombstone(held)),
        }
    }
    out.push(row());
}

impl RawTables {
    /// The raw tables of `kinds`, before [`RawTables::load`].
    pub fn new(kinds: RawKinds) -> Self {
        RawTables {
            kinds,
            ..RawTables::default()
        }
    }

    /// Reads what the tables hold (live rows), so that events written before
    /// a restart are not written again.
    pub async fn load(&mut self, client: &Client, database: &str) -> Result<(), SinkError> {
        if self.kinds.calls {
            let rows = client
                .query(&format!(
                    "SELECT * FROM (SELECT * FROM {database}.provider_calls FINAL) WHERE _deleted = 0"
                ))
                .fetch_all::<CallRow>()
                .await
                .map_err(|e| SinkError::new("reading provider_calls", e))?;
            self.calls = rows.into_iter().map(|r| (r.event_id.clone(), r)).collect();
        }
        if self.kinds.messages {
            let rows = client
                .query(&format!(
                    "SELECT conversation_id, seq, ts, _fingerprint FROM \
                     (SELECT * FROM {database}.messages FINAL) WHERE _deleted = 0"
                ))
                .fetch_all::<(String, u64, i64, u64)>()
                .await
                .map_err(|e| SinkError::new("reading messages", e))?;
            self.messages = rows
                .into_iter()
                .map(|(c, s, ts, fingerprint)| ((c, s), Held { ts, fingerprint }))
                .collect();
        }
        Ok(())
    }

    /// The rows a batch of raw events writes: per key, the batch's winner,
    /// if it is new or beats what the table holds (after a tombstone of that).
    /// Tombstones take version `2v`, rows `2v + 1`, so a key's tombstone and
    /// its new row in one insert are ordered, and both pass every earlier write.
    pub fn plan(&self, events: &[RawEvent], version: u64) -> RawWrites {
        let mut calls: HashMap<&str, (i64, u64, &ProviderCall)> = HashMap::new();
        let mut messages: HashMap<(&str, u64), (i64, u64, &Message)> = HashMap::new();
        for (fingerprint, event) in events {
            match event {
                Event::ProviderCall(c) if self.kinds.calls => {
                    best(&mut calls, c.event_id.as_str(), c.ts, *fingerprint, c)
                }
                Event::Message(m) if self.kinds.messages => best(
                    &mut messages,
                    (m.conversation_id.as_str(), m.seq),
                    m.ts,
                    *fingerprint,
                    m,
                ),
                _ => {}
            }
        }
        let (tombstone_version, row_version) = (2 * version, 2 * version + 1);
        let mut out = RawWrites::default();
        for (key, (ts, fingerprint, call)) in calls {
            write_key(
                self.calls.get(key).map(|h| ((h.ts, h._fingerprint), h)),
                (ts, fingerprint),
                |held| CallRow {
                    _sign: -1,
                    _deleted: 1,
                    _version: tombstone_version,
                    ..held.clone()
                },
                || CallRow {
                    _version: row_version,
                    ..call_row(fingerprint, call)
                },
                &mut out.calls,
            );
        }
        for ((conversation, seq), (ts, fingerprint, message)) in messages {
            let held = self.messages.get(&(conversation.to_owned(), seq));
            write_key(
                held.map(|h| ((h.ts, h.fingerprint), h)),
                (ts, fingerprint),
                |held| MessageRow {
                    conversation_id: conversation.to_owned(),
                    seq,
                    ts: held.ts,
                    _fingerprint: held.fingerprint,
                    _version: tombstone_version,
                    _deleted: 1,
                    ..MessageRow::default()
                },
                || MessageRow {
                    _version: row_version,
                    ..message_row(fingerprint, message)
                },
                &mut out.messages,
            );
        }
        out.calls.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        out.messages
            .sort_by(|a, b| (&a.conversation_id, a.seq).cmp(&(&b.conversation_id, b.seq)));
        out
    }

    /// Records `provider_calls` rows the table now holds (each insert is
    /// recorded as soon as it succeeds, so a retry after a later failure
    /// does not write it again and the rollups do not count it twice).
    pub fn calls_written(&mut self, rows: &[CallRow]) {
        for row in rows.iter().filter(|r| r._deleted == 0) {
            self.calls.insert(row.event_id.clone(), row.clone());
        }
    }

    /// Records `messages` rows the table now holds.
    pub fn messages_written(&mut self, rows: &[MessageRow]) {
        for row in rows.iter().filter(|r| r._deleted == 0) {
            let held = Held {
                ts: row.ts,
                fingerprint: row._fingerprint,
            };
            self.messages
                .insert((row.conversation_id.clone(), row.seq), held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, ts: i64, latency: u32) -> ProviderCall {
        ProviderCall {
            event_id: id.into(),
            ts,
            provider: "p".into(),
            model: "m".into(),
            latency_ms: latency,
            tokens_in: 1,
            tokens_out: 2,
            cost_usd: 0.5,
            success: true,
            error: None,
        }
    }

    #[test]
    fn duplicates_are_written_once_and_a_winning_conflict_retracts_the_row_it_replaces() {
        let mut t = RawTables::new(RawKinds {
            calls: true,
            messages: true,
        });
        let e = |fp, c| (fp, Event::ProviderCall(c));
        let first = t.plan(
            &[
                e(7, call("a", 10, 100)),
                e(7, call("a", 10, 100)),
                e(3, call("b", 10, 1)),
            ],
            1,
        );
        assert_eq!(first.calls.len(), 2, "a duplicate in the batch is one row");
        t.calls_written(&first.calls);
        // Delivered again (a restart): nothing to write.
        assert!(t.plan(&[e(7, call("a", 10, 100))], 2).calls.is_empty());
        // A losing conflict (older ts) writes nothing; a winning one writes
        // a tombstone of the old row, then itself.
        assert!(t.plan(&[e(9, call("a", 5, 1))], 3).calls.is_empty());
        let win = t.plan(&[e(1, call("a", 20, 300))], 4);
        assert_eq!(win.calls.len(), 2);
        let tombstone = &win.calls[0];
        assert_eq!(
            (
                tombstone._sign,
                tombstone._deleted,
                tombstone.latency_ms,
                tombstone._version
            ),
            (-1, 1, 100, 8)
        );
        let row = &win.calls[1];
        assert_eq!(
            (row._sign, row._deleted, row.latency_ms, row._version),
            (1, 0, 300, 9)
        );
    }
}
