//! Decoding one raw event (a JSON object in bytes) into a validated [`Event`],
//! or into a [`Rejection`] that says what is wrong, where and why.
//!
//! Decoding never panics. Fields are first located without being decoded
//! (`&RawValue`), then each one the event's type needs is checked against the
//! contract's rules, so that the reason of a rejection is exact: a `3.0` in an
//! integer field is a wrong type, a `-1` is out of range.

use crate::event::*;
use crate::timestamp::{parse_rfc3339, Millis};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Why an input was rejected. The `code` is stable: it names the counters,
/// `rejected.json`'s `by_reason` keys and the API's health output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not valid JSON (or not UTF-8).
    InvalidJson,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type (including `null` on a required field).
    WrongType,
    /// `type` names no event type of the contract.
    UnknownType,
    /// A value outside its allowed range or set (negative count, bad `ts`, unknown `role`).
    OutOfRange,
    /// The event's `type` does not belong on the topic it arrived on.
    WrongTopic,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 7] = [
        RejectReason::InvalidJson,
        RejectReason::NotAnObject,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::UnknownType,
        RejectReason::OutOfRange,
        RejectReason::WrongTopic,
    ];

    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::UnknownType => "unknown_type",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::WrongTopic => "wrong_topic",
        }
    }
}

/// A rejected input: the reason and a human explanation naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The category.
    pub reason: RejectReason,
    /// What exactly is wrong, e.g. "`seq` must be a non-negative integer, got 3.0".
    pub detail: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.detail)
    }
}

impl std::error::Error for Rejection {}

fn reject(reason: RejectReason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// Every field name the contract knows, located but not yet decoded.
/// Unknown fields are skipped (forward compatible).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFields<'a> {
    #[serde(borrow, rename = "type")]
    type_: F<'a>,
    #[serde(borrow)]
    event_id: F<'a>,
    #[serde(borrow)]
    ts: F<'a>,
    #[serde(borrow)]
    conversation_id: F<'a>,
    #[serde(borrow)]
    session_id: F<'a>,
    #[serde(borrow)]
    user_id: F<'a>,
    #[serde(borrow)]
    seq: F<'a>,
    #[serde(borrow)]
    role: F<'a>,
    #[serde(borrow)]
    content: F<'a>,
    #[serde(borrow)]
    tokens: F<'a>,
    #[serde(borrow)]
    provider: F<'a>,
    #[serde(borrow)]
    model: F<'a>,
    #[serde(borrow)]
    latency_ms: F<'a>,
    #[serde(borrow)]
    intent: F<'a>,
    #[serde(borrow)]
    debate_id: F<'a>,
    #[serde(borrow)]
    entities: F<'a>,
    #[serde(borrow)]
    op: F<'a>,
    #[serde(borrow)]
    memory_id: F<'a>,
    #[serde(borrow)]
    node_id: F<'a>,
    #[serde(borrow)]
    lamport: F<'a>,
    #[serde(borrow)]
    tags: F<'a>,
    #[serde(borrow)]
    strategy: F<'a>,
    #[serde(borrow)]
    entity_id: F<'a>,
    #[serde(borrow)]
    name: F<'a>,
    #[serde(borrow)]
    kind: F<'a>,
    #[serde(borrow)]
    properties: F<'a>,
    #[serde(borrow)]
    source_id: F<'a>,
    #[serde(borrow)]
    target_id: F<'a>,
    #[serde(borrow)]
    rel_type: F<'a>,
    #[serde(borrow)]
    weight: F<'a>,
    #[serde(borrow)]
    tokens_in: F<'a>,
    #[serde(borrow)]
    tokens_out: F<'a>,
    #[serde(borrow)]
    cost_usd: F<'a>,
    #[serde(borrow)]
    success: F<'a>,
    #[serde(borrow)]
    error: F<'a>,
    #[serde(borrow)]
    round: F<'a>,
    #[serde(borrow)]
    score: F<'a>,
    #[serde(borrow)]
    stance: F<'a>,
    #[serde(borrow)]
    consensus: F<'a>,
}

/// A field that is present (possibly as `null`) or absent. Unlike
/// `Option<&RawValue>`, it keeps an explicit `null` as a value, since `null` on
/// a required field is a wrong type, not a missing field.
#[derive(Default, Clone, Copy)]
struct F<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for F<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|r| F(Some(r)))
    }
}

/// Decodes one event from its raw bytes.
///
/// # Examples
/// ```
/// use helixflow_types::decode::{decode_event, RejectReason};
/// let bad = decode_event(br#"{"type":"provider_call","event_id":"e1","ts":"2026-01-30T12:00:00Z"}"#);
/// assert_eq!(bad.unwrap_err().reason, RejectReason::MissingField);
/// ```
pub fn decode_event(bytes: &[u8]) -> Result<Event, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        reject(
            RejectReason::InvalidJson,
            format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        )
    })?;
    let first = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first();
    match first {
        Some(b'{') => {}
        None => return Err(reject(RejectReason::InvalidJson, "empty input")),
        Some(_) => {
            // Valid JSON that is not an object is a different problem from broken JSON.
            return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => reject(RejectReason::NotAnObject, "an event must be a JSON object"),
                Err(e) => reject(RejectReason::InvalidJson, e.to_string()),
            });
        }
    }
    let raw: RawFields<'_> =
        serde_json::from_str(text).map_err(|e| reject(RejectReason::InvalidJson, e.to_string()))?;
    let type_name = required_str(raw.type_.0, "type")?;
    let kind = EventKind::from_type_name(&type_name).ok_or_else(|| {
        reject(
            RejectReason::UnknownType,
            format!("`type` {:?} is not one of message, memory, entity, relationship, provider_call, debate_round", type_name),
        )
    })?;
    let f = Fields { raw: &raw };
    let event_id = f.str(raw.event_id.0, "event_id")?;
    let ts = f.ts()?;
    Ok(match kind {
        EventKind::Message => Event::Message(Message {
            event_id,
            ts,
            conversation_id: f.str(raw.conversation_id.0, "conversation_id")?,
            session_id: f.str(raw.session_id.0, "session_id")?,
            user_id: f.str(raw.user_id.0, "user_id")?,
            seq: f.u64(raw.seq.0, "seq")?,
            role: f.one_of(raw.role.0, "role", &Role::NAMES)?,
            content: f.str(raw.content.0, "content")?,
            tokens: f.u32(raw.tokens.0, "tokens")?,
            provider: f.opt_str(raw.provider.0, "provider")?,
            model: f.opt_str(raw.model.0, "model")?,
            latency_ms: opt(raw.latency_ms.0)
                .map(|v| f.u32(Some(v), "latency_ms"))
                .transpose()?,
            intent: f.opt_str(raw.intent.0, "intent")?,
            debate_id: f.opt_str(raw.debate_id.0, "debate_id")?,
            entities: match opt(raw.entities.0) {
                None => Vec::new(),
                Some(v) => entities(v)?,
            },
        }),
        EventKind::Memory => {
            let op = f.one_of(
                raw.op.0,
                "op",
                &[
                    ("add", MemoryOpKind::Add),
                    ("update", MemoryOpKind::Update),
                    ("delete", MemoryOpKind::Delete),
                ],
            )?;
            let content = match op {
                MemoryOpKind::Delete => f.opt_str(raw.content.0, "content")?,
                _ => Some(f.str(raw.content.0, "content")?),
            };
            Event::Memory(MemoryOp {
                event_id,
                ts,
                op,
                memory_id: f.str(raw.memory_id.0, "memory_id")?,
                user_id: f.str(raw.user_id.0, "user_id")?,
                node_id: f.str(raw.node_id.0, "node_id")?,
                lamport: f.u64(raw.lamport.0, "lamport")?,
                content,
                tags: opt(raw.tags.0)
                    .map(|v| string_array(v, "tags"))
                    .transpose()?,
                strategy: match opt(raw.strategy.0) {
                    None => MergeStrategy::Lww,
                    Some(v) => f.one_of(
                        Some(v),
                        "strategy",
                        &[
                            ("lww", MergeStrategy::Lww),
                            ("merge_all", MergeStrategy::MergeAll),
                        ],
                    )?,
                },
            })
        }
        EventKind::Entity => Event::Entity(EntityUpdate {
            event_id,
            ts,
            entity_id: f.str(raw.entity_id.0, "entity_id")?,
            name: f.str(raw.name.0, "name")?,
            kind: f.str(raw.kind.0, "kind")?,
            properties: opt(raw.properties.0).map(properties).transpose()?,
            conversation_id: f.opt_str(raw.conversation_id.0, "conversation_id")?,
        }),
        EventKind::Relationship => Event::Relationship(RelationshipUpdate {
            event_id,
            ts,
            source_id: f.str(raw.source_id.0, "source_id")?,
            target_id: f.str(raw.target_id.0, "target_id")?,
            rel_type: f.str(raw.rel_type.0, "rel_type")?,
            weight: f.f64(raw.weight.0, "weight")?,
            conversation_id: f.opt_str(raw.conversation_id.0, "conversation_id")?,
        }),
        EventKind::ProviderCall => {
            let cost_usd = f.f64(raw.cost_usd.0, "cost_usd")?;
            if cost_usd < 0.0 {
                return Err(reject(
                    RejectReason::OutOfRange,
                    format!("`cost_usd` must be >= 0, got {cost_usd}"),
                ));
            }
            Event::ProviderCall(ProviderCall {
                event_id,
                ts,
                provider: f.str(raw.provider.0, "provider")?,
                model: f.str(raw.model.0, "model")?,
                latency_ms: f.u32(raw.latency_ms.0, "latency_ms")?,
                tokens_in: f.u32(raw.tokens_in.0, "tokens_in")?,
                tokens_out: f.u32(raw.tokens_out.0, "tokens_out")?,
                cost_usd,
                success: f.bool(raw.success.0, "success")?,
                error: f.opt_str(raw.error.0, "error")?,
            })
        }
        EventKind::DebateRound => Event::DebateRound(DebateRound {
            event_id,
            ts,
            debate_id: f.str(raw.debate_id.0, "debate_id")?,
            conversation_id: f.str(raw.conversation_id.0, "conversation_id")?,
            provider: f.str(raw.provider.0, "provider")?,
            model: f.str(raw.model.0, "model")?,
            round: f.u32(raw.round.0, "round")?,
            score: f.f64(raw.score.0, "score")?,
            stance: f.opt_str(raw.stance.0, "stance")?,
            consensus: match opt(raw.consensus.0) {
                None => false,
                Some(v) => f.bool(Some(v), "consensus")?,
            },
        }),
    })
}

/// `None` for an absent field or an explicit `null` (optional fields only).
fn opt(v: Option<&RawValue>) -> Option<&RawValue> {
    v.filter(|v| v.get() != "null")
}

struct Fields<'r, 'a> {
    raw: &'r RawFields<'a>,
}

impl Fields<'_, '_> {
    fn ts(&self) -> Result<Millis, Rejection> {
        let text = self.str(self.raw.ts.0, "ts")?;
        parse_rfc3339(&text).map_err(|why| {
            reject(
                RejectReason::OutOfRange,
                format!("`ts` {text:?} is not an RFC 3339 timestamp: {why}"),
            )
        })
    }

    fn str(&self, v: Option<&RawValue>, name: &str) -> Result<String, Rejection> {
        required_str(v, name).map(Cow::into_owned)
    }

    fn opt_str(&self, v: Option<&RawValue>, name: &str) -> Result<Option<String>, Rejection> {
        opt(v).map(|v| self.str(Some(v), name)).transpose()
    }

    fn u64(&self, v: Option<&RawValue>, name: &str) -> Result<u64, Rejection> {
        unsigned(required(v, name)?, name, u64::MAX)
    }

    fn u32(&self, v: Option<&RawValue>, name: &str) -> Result<u32, Rejection> {
        // The bound guarantees the conversion.
        unsigned(required(v, name)?, name, u32::MAX.into()).map(|n| n as u32)
    }

    fn f64(&self, v: Option<&RawValue>, name: &str) -> Result<f64, Rejection> {
        let v = required(v, name)?;
        let text = v.get();
        if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Err(wrong_type(name, "a number", text));
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(reject(
                RejectReason::OutOfRange,
                format!("`{name}` must be a finite number, got {text}"),
            )),
        }
    }

    fn bool(&self, v: Option<&RawValue>, name: &str) -> Result<bool, Rejection> {
        match required(v, name)?.get() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(wrong_type(name, "a boolean", other)),
        }
    }

    fn one_of<T: Copy>(
        &self,
        v: Option<&RawValue>,
        name: &str,
        allowed: &[(&str, T)],
    ) -> Result<T, Rejection> {
        let s = required_str(v, name)?;
        allowed
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                reject(
                    RejectReason::OutOfRange,
                    format!("`{name}` {s:?} is not one of {}", names.join(", ")),
                )
            })
    }
}

fn required<'a>(v: Option<&'a RawValue>, name: &str) -> Result<&'a RawValue, Rejection> {
    match v {
        None => Err(reject(
            RejectReason::MissingField,
            format!("required field `{name}` is absent"),
        )),
        Some(v) if v.get() == "null" => Err(reject(
            RejectReason::WrongType,
            format!("required field `{name}` is null"),
        )),
        Some(v) => Ok(v),
    }
}

fn required_str<'a>(v: Option<&'a RawValue>, name: &str) -> Result<Cow<'a, str>, Rejection> {
    let v = required(v, name)?;
    if !v.get().starts_with('"') {
        return Err(wrong_type(name, "a string", v.get()));
    }
    serde_json::from_str::<Cow<'a, str>>(v.get())
        .map_err(|e| reject(RejectReason::InvalidJson, format!("`{name}`: {e}")))
}

fn unsigned(v: &RawValue, name: &str, max: u64) -> Result<u64, Rejection> {
    let text = v.get();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong_type(name, "an integer", text));
    }
    if negative {
        if digits.bytes().all(|b| b == b'0') {
            return Ok(0);
        }
        return Err(reject(
            RejectReason::OutOfRange,
            format!("`{name}` must not be negative, got {text}"),
        ));
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(reject(
            RejectReason::OutOfRange,
            format!("`{name}` must be at most {max}, got {text}"),
        )),
    }
}

fn wrong_type(name: &str, want: &str, got: &str) -> Rejection {
    let shown: String = got.chars().take(40).collect();
    let ellipsis = if got.chars().count() > 40 { "…" } else { "" };
    reject(
        RejectReason::WrongType,
        format!("`{name}` must be {want}, got {shown}{ellipsis}"),
    )
}

fn string_array(v: &RawValue, name: &str) -> Result<Vec<String>, Rejection> {
    let items: Vec<&RawValue> = serde_json::from_str(v.get())
        .map_err(|_| wrong_type(name, "an array of strings", v.get()))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| required_str(Some(item), &format!("{name}[{i}]")).map(Cow::into_owned))
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMention<'a> {
    #[serde(borrow)]
    id: F<'a>,
    #[serde(borrow)]
    name: F<'a>,
    #[serde(borrow)]
    kind: F<'a>,
}

fn entities(v: &RawValue) -> Result<Vec<EntityMention>, Rejection> {
    let items: Vec<&RawValue> = serde_json::from_str(v.get())
        .map_err(|_| wrong_type("entities", "an array of {id, name, kind} objects", v.get()))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if !item.get().starts_with('{') {
                return Err(wrong_type(
                    &format!("entities[{i}]"),
                    "an object",
                    item.get(),
                ));
            }
            let m: RawMention<'_> = serde_json::from_str(item.get())
                .map_err(|e| reject(RejectReason::InvalidJson, format!("entities[{i}]: {e}")))?;
            let field =
                |v, f: &str| required_str(v, &format!("entities[{i}].{f}")).map(Cow::into_owned);
            Ok(EntityMention {
                id: field(m.id.0, "id")?,
                name: field(m.name.0, "name")?,
                kind: field(m.kind.0, "kind")?,
            })
        })
        .collect()
}

fn properties(v: &RawValue) -> Result<Properties, Rejection> {
    let value: serde_json::Value = serde_json::from_str(v.get())
        .map_err(|e| reject(RejectReason::InvalidJson, format!("`properties`: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(wrong_type("properties", "an object of scalars", v.get()));
    };
    if let Some((k, _)) = map.iter().find(|(_, v)| v.is_object() || v.is_array()) {
        return Err(reject(
            RejectReason::WrongType,
            format!("`properties.{k}` must be a scalar (string, number, boolean or null)"),
        ));
    }
    Ok(map)
}

#[cfg(test)]
mod tests;
