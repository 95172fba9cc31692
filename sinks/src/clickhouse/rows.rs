//! Contract rows (JSON objects) → typed ClickHouse rows, one struct per view
//! table, in the column order of [`super::schema`]. RowBinary is written from
//! these by the `clickhouse` crate.

use crate::pending::Row;
use clickhouse::Row as ChRow;
use helixflow_types::timestamp::parse_rfc3339;
use serde::Serialize;
use serde_json::Value;

/// Why a contract row did not fit its table (a bug, never bad input: rows
/// come from the engine's own views).
#[derive(Debug, thiserror::Error)]
#[error("field `{field}` of a {view} row: {problem}")]
pub struct RowError {
    view: &'static str,
    field: &'static str,
    problem: &'static str,
}

struct Fields<'r> {
    view: &'static str,
    row: &'r Row,
}

impl<'r> Fields<'r> {
    fn err(&self, field: &'static str, problem: &'static str) -> RowError {
        RowError {
            view: self.view,
            field,
            problem,
        }
    }
    fn get(&self, f: &'static str) -> Result<&'r Value, RowError> {
        self.row.get(f).ok_or_else(|| self.err(f, "missing"))
    }
    fn str(&self, f: &'static str) -> Result<String, RowError> {
        self.get(f)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.err(f, "not a string"))
    }
    fn u64(&self, f: &'static str) -> Result<u64, RowError> {
        self.get(f)?
            .as_u64()
            .ok_or_else(|| self.err(f, "not an unsigned integer"))
    }
    fn f64(&self, f: &'static str) -> Result<f64, RowError> {
        self.get(f)?
            .as_f64()
            .ok_or_else(|| self.err(f, "not a number"))
    }
    fn strs(&self, f: &'static str) -> Result<Vec<String>, RowError> {
        self.get(f)?
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| self.err(f, "not a list of strings"))
    }
    fn json(&self, f: &'static str) -> Result<String, RowError> {
        Ok(self.get(f)?.to_string())
    }
    fn millis(&self, f: &'static str) -> Result<i64, RowError> {
        parse_rfc3339(&self.str(f)?).map_err(|_| self.err(f, "not an RFC 3339 time"))
    }
    fn seconds(&self, f: &'static str) -> Result<u32, RowError> {
        u32::try_from(self.millis(f)? / 1000).map_err(|_| self.err(f, "outside DateTime's range"))
    }
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

impl ConversationRow {
    pub fn from_row(row: &Row, version: u64, deleted: bool) -> Result<Self, RowError> {
        let f = Fields {
            view: "conversation_snapshots",
            row,
        };
        Ok(ConversationRow {
            conversation_id: f.str("conversation_id")?,
            user_id: f.str("user_id")?,
            session_id: f.str("session_id")?,
            message_count: f.u64("message_count")?,
            user_messages: f.u64("user_messages")?,
            assistant_messages: f.u64("assistant_messages")?,
            total_tokens: f.u64("total_tokens")?,
            first_ts: f.millis("first_ts")?,
            last_ts: f.millis("last_ts")?,
            last_seq: f.u64("last_seq")?,
            providers: f.strs("providers")?,
            entity_count: f.u64("entity_count")?,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

impl ProviderRow {
    pub fn from_row(row: &Row, version: u64, deleted: bool) -> Result<Self, RowError> {
        let f = Fields {
            view: "provider_stats",
            row,
        };
        Ok(ProviderRow {
            provider: f.str("provider")?,
            model: f.str("model")?,
            hour: f.seconds("hour")?,
            calls: f.u64("calls")?,
            errors: f.u64("errors")?,
            tokens_in: f.u64("tokens_in")?,
            tokens_out: f.u64("tokens_out")?,
            cost_usd: f.f64("cost_usd")?,
            latency_p50: f.u64("latency_p50")?,
            latency_p95: f.u64("latency_p95")?,
            latency_p99: f.u64("latency_p99")?,
            latency_avg: f.f64("latency_avg")?,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

impl MemoryRow {
    pub fn from_row(row: &Row, version: u64, deleted: bool) -> Result<Self, RowError> {
        let f = Fields {
            view: "memory_state",
            row,
        };
        Ok(MemoryRow {
            memory_id: f.str("memory_id")?,
            content: f.str("content")?,
            user_id: f.str("user_id")?,
            tags: f.strs("tags")?,
            version: f.json("version")?,
            _version: version,
            _deleted: deleted.into(),
        })
    }
}

impl DebateRow {
    pub fn from_row(row: &Row, version: u64, deleted: bool) -> Result<Self, RowError> {
        let f = Fields {
            view: "debate_stats",
            row,
        };
        Ok(DebateRow {
            debate_id: f.str("debate_id")?,
            rounds: f.u64("rounds")?,
            participants: f.strs("participants")?,
            mean_score: f.json("mean_score")?,
            leader: f.str("leader")?,
            consensus: f
                .get("consensus")?
                .as_bool()
                .ok_or_else(|| f.err("consensus", "not a boolean"))?
                .into(),
            _version: version,
            _deleted: deleted.into(),
        })
    }
}
