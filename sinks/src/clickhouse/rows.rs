//! Typed view rows → typed ClickHouse rows ([`TableRow`]), one struct per view table, in
//! the column order of [`super::schema`]. Ids are resolved to their names;
//! timestamps stay epoch milliseconds; object fields become the contract's
//! JSON text. RowBinary is written from these by the `clickhouse` crate.

use crate::pending::IdNames;
use clickhouse::Row as ChRow;
use helixflow_operators::render::{mean_score_json, memory_version_json};
use helixflow_operators::rows::ViewItem;
use serde::Serialize;

/// A table row built from a typed view row (`None` for another view's row).
pub trait TableRow: Sized {
    fn from_item(item: &ViewItem, names: &dyn IdNames, version: u64, deleted: bool)
        -> Option<Self>;
}

#[derive(ChRow, Serialize)]
pub struct ConversationRow {
    conversation_id: String,
    user_id: String,
    session_id: String,
    message_count: u64,
    user_messages: u64,
    assistant_messages: u64,
    total_tokens: u64,
    first_ts: i64,
    last_ts: i64,
    last_seq: u64,
    providers: Vec<String>,
    entity_count: u64,
    _version: u64,
    _deleted: u8,
}

#[derive(ChRow, Serialize)]
pub struct ProviderRow {
    provider: String,
    model: String,
    hour: u32,
    calls: u64,
    errors: u64,
    tokens_in: u64,
    tokens_out: u64,
    cost_usd: f64,
    latency_p50: u64,
    latency_p95: u64,
    latency_p99: u64,
    latency_avg: f64,
    _version: u64,
    _deleted: u8,
}

#[derive(ChRow, Serialize)]
pub struct MemoryRow {
    memory_id: String,
    content: String,
    user_id: String,
    tags: Vec<String>,
    version: String,
    _version: u64,
    _deleted: u8,
}

#[derive(ChRow, Serialize)]
pub struct DebateRow {
    debate_id: String,
    rounds: u64,
    participants: Vec<String>,
    mean_score: String,
    leader: String,
    consensus: u8,
    _version: u64,
    _deleted: u8,
}

impl TableRow for ConversationRow {
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Conversation(id, row) = item else {
            return None;
        };
        let mut providers: Vec<String> = row
            .providers
            .iter()
            .map(|p| names.name(*p).to_owned())
            .collect();
        providers.sort_unstable();
        Some(ConversationRow {
            conversation_id: names.name(*id).to_owned(),
            user_id: names.name(row.user).to_owned(),
            session_id: names.name(row.session).to_owned(),
            message_count: row.message_count,
            user_messages: row.user_messages,
            assistant_messages: row.assistant_messages,
            total_tokens: row.total_tokens,
            first_ts: row.first_ts,
            last_ts: row.last_ts,
            last_seq: row.last_seq,
            providers,
            entity_count: row.entity_count,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

impl TableRow for ProviderRow {
    /// `hour` is a `DateTime` (seconds, 1970 to 2106): hours outside it are clamped.
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Provider(key, row) = item else {
            return None;
        };
        let (provider, model, hour) = *key;
        Some(ProviderRow {
            provider: names.name(provider).to_owned(),
            model: names.name(model).to_owned(),
            hour: u32::try_from((hour / 1000).max(0)).unwrap_or(u32::MAX),
            calls: row.calls,
            errors: row.errors,
            tokens_in: row.tokens_in,
            tokens_out: row.tokens_out,
            cost_usd: row.cost_usd.0,
            latency_p50: row.latency_p50.into(),
            latency_p95: row.latency_p95.into(),
            latency_p99: row.latency_p99.into(),
            latency_avg: row.latency_avg.0,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

impl TableRow for MemoryRow {
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Memory(id, row) = item else {
            return None;
        };
        Some(MemoryRow {
            memory_id: names.name(*id).to_owned(),
            content: row.content.clone(),
            user_id: names.name(row.user).to_owned(),
            tags: row.tags.clone(),
            version: memory_version_json(row),
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

impl TableRow for DebateRow {
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Debate(id, row) = item else {
            return None;
        };
        Some(DebateRow {
            debate_id: names.name(*id).to_owned(),
            rounds: row.rounds.into(),
            participants: row.participants.clone(),
            mean_score: mean_score_json(row),
            leader: row.leader.clone(),
            consensus: row.consensus.into(),
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

#[derive(ChRow, Serialize)]
pub struct IntentRow {
    user_id: String,
    intent: String,
    messages: u64,
    conversations: u64,
    sessions: u64,
    first_ts: i64,
    last_ts: i64,
    _version: u64,
    _deleted: u8,
}

impl TableRow for IntentRow {
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Intent((user, intent), row) = item else {
            return None;
        };
        Some(IntentRow {
            user_id: names.name(*user).to_owned(),
            intent: names.name(*intent).to_owned(),
            messages: row.messages,
            conversations: row.conversations,
            sessions: row.sessions,
            first_ts: row.first_ts,
            last_ts: row.last_ts,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

#[derive(ChRow, Serialize)]
pub struct PreferenceRow {
    user_id: String,
    provider: String,
    messages: u64,
    tokens: u64,
    conversations: u64,
    share: f64,
    _version: u64,
    _deleted: u8,
}

impl TableRow for PreferenceRow {
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Preference((user, provider), row) = item else {
            return None;
        };
        Some(PreferenceRow {
            user_id: names.name(*user).to_owned(),
            provider: names.name(*provider).to_owned(),
            messages: row.messages,
            tokens: row.tokens,
            conversations: row.conversations,
            share: row.share.0,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

#[derive(ChRow, Serialize)]
pub struct FlowRow {
    from_role: String,
    to_role: String,
    transitions: u64,
    conversations: u64,
    _version: u64,
    _deleted: u8,
}

impl TableRow for FlowRow {
    fn from_item(
        item: &ViewItem,
        _names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Flow((from, to), row) = item else {
            return None;
        };
        Some(FlowRow {
            from_role: from.name().to_owned(),
            to_role: to.name().to_owned(),
            transitions: row.transitions,
            conversations: row.conversations,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

#[derive(ChRow, Serialize)]
pub struct StrategyRow {
    stance: String,
    rounds: u64,
    debates: u64,
    mean_score: f64,
    providers: Vec<String>,
    led: u64,
    consensus_debates: u64,
    _version: u64,
    _deleted: u8,
}

impl TableRow for StrategyRow {
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Strategy(stance, row) = item else {
            return None;
        };
        Some(StrategyRow {
            stance: names.name(*stance).to_owned(),
            rounds: row.rounds,
            debates: row.debates,
            mean_score: row.mean_score.0,
            providers: row.providers.clone(),
            led: row.led,
            consensus_debates: row.consensus_debates,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

#[derive(ChRow, Serialize)]
pub struct PerformanceRow {
    provider: String,
    model: String,
    calls: u64,
    errors: u64,
    error_rate: f64,
    tokens_in: u64,
    tokens_out: u64,
    cost_usd: f64,
    latency_p50: u64,
    latency_p95: u64,
    latency_p99: u64,
    latency_avg: f64,
    cost_per_1k_tokens: Option<f64>,
    _version: u64,
    _deleted: u8,
}

impl TableRow for PerformanceRow {
    fn from_item(
        item: &ViewItem,
        names: &dyn IdNames,
        version: u64,
        deleted: bool,
    ) -> Option<Self> {
        let ViewItem::Performance((provider, model), row) = item else {
            return None;
        };
        Some(PerformanceRow {
            provider: names.name(*provider).to_owned(),
            model: names.name(*model).to_owned(),
            calls: row.calls,
            errors: row.errors,
            error_rate: row.error_rate.0,
            tokens_in: row.tokens_in,
            tokens_out: row.tokens_out,
            cost_usd: row.cost_usd.0,
            latency_p50: row.latency_p50.into(),
            latency_p95: row.latency_p95.into(),
            latency_p99: row.latency_p99.into(),
            latency_avg: row.latency_avg.0,
            cost_per_1k_tokens: row.cost_per_1k_tokens.map(|c| c.0),
            _version: version,
            _deleted: deleted.into(),
        })
    }
}
