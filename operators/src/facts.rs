//! Facts: the compact, interned form of each valid event that the views need.
//!
//! A fact keeps only what some view reads (message `content` is dropped) and
//! replaces identifiers by [`Id`]s. Strings whose order matters inside a view
//! (memory `node_id`, `event_id`s, debate providers) stay strings.

use crate::intern::{Id, Interner, InternerFull};
use helixflow_types::event::*;
use helixflow_types::timestamp::{hour_floor, Millis};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// An `f64` with a total order (`f64::total_cmp`), so it can live in arrangements.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrdF64(pub f64);

impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A message, as the conversation and co-occurrence views need it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageFact {
    pub conv: Id,
    pub seq: u64,
    pub user: Id,
    pub session: Id,
    pub role: Role,
    pub tokens: u32,
    pub ts: Millis,
    pub provider: Option<Id>,
    /// Distinct entity ids mentioned (sorted by id).
    pub entities: Vec<Id>,
}

/// A memory operation. Field order gives the contract's op order:
/// (`lamport`, `node_id`, `event_id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MemoryFact {
    pub lamport: u64,
    pub node: String,
    pub event_id: String,
    pub memory: Id,
    pub op: MemoryOpKind,
    pub user: Id,
    pub content: Option<String>,
    /// The op's tags as a set (sorted, distinct); `None` when absent.
    pub tags: Option<Vec<String>>,
    pub strategy: MergeStrategy,
}

/// An entity update. Field order makes "greatest" = latest (`ts`, `event_id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityFact {
    pub ts: Millis,
    pub event_id: String,
    pub entity: Id,
    pub name: String,
    pub kind: String,
    /// Canonical JSON of the properties object (keys sorted).
    pub properties: Option<String>,
    pub conversation: Option<Id>,
}

/// A relationship update. Field order makes "greatest" = latest (`ts`, `event_id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RelationshipFact {
    pub ts: Millis,
    pub event_id: String,
    pub source: Id,
    pub target: Id,
    pub rel_type: Id,
    pub weight: OrdF64,
    pub conversation: Option<Id>,
}

/// A provider call, bucketed by its UTC hour.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallFact {
    pub provider: Id,
    pub model: Id,
    pub hour: Millis,
    pub latency_ms: u32,
    pub success: bool,
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub cost_usd: OrdF64,
}

/// A debate round.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DebateFact {
    pub debate: Id,
    pub provider: String,
    pub round: u32,
    pub score: OrdF64,
    pub consensus: bool,
}

/// A fact of any kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fact {
    Message(MessageFact),
    Memory(MemoryFact),
    Entity(EntityFact),
    Relationship(RelationshipFact),
    Call(CallFact),
    Debate(DebateFact),
}

impl Fact {
    /// Index of the kind, in contract order (0 = message ... 5 = debate).
    pub fn kind_index(&self) -> u64 {
        match self {
            Fact::Message(_) => 0,
            Fact::Memory(_) => 1,
            Fact::Entity(_) => 2,
            Fact::Relationship(_) => 3,
            Fact::Call(_) => 4,
            Fact::Debate(_) => 5,
        }
    }

    /// Interns an event into its fact.
    pub fn from_event(event: &Event, ids: &Interner) -> Result<Fact, InternerFull> {
        let opt = |s: &Option<String>| s.as_deref().map(|s| ids.intern(s)).transpose();
        Ok(match event {
            Event::Message(m) => {
                let mut entities = m
                    .entities
                    .iter()
                    .map(|e| ids.intern(&e.id))
                    .collect::<Result<Vec<_>, _>>()?;
                entities.sort_unstable();
                entities.dedup();
                Fact::Message(MessageFact {
                    conv: ids.intern(&m.conversation_id)?,
                    seq: m.seq,
                    user: ids.intern(&m.user_id)?,
                    session: ids.intern(&m.session_id)?,
                    role: m.role,
                    tokens: m.tokens,
                    ts: m.ts,
                    provider: opt(&m.provider)?,
                    entities,
                })
            }
            Event::Memory(e) => Fact::Memory(MemoryFact {
                lamport: e.lamport,
                node: e.node_id.clone(),
                event_id: e.event_id.clone(),
                memory: ids.intern(&e.memory_id)?,
                op: e.op,
                user: ids.intern(&e.user_id)?,
                content: e.content.clone(),
                tags: e.tags.as_ref().map(|t| {
                    let mut t = t.clone();
                    t.sort_unstable();
                    t.dedup();
                    t
                }),
                strategy: e.strategy,
            }),
            Event::Entity(e) => Fact::Entity(EntityFact {
                ts: e.ts,
                event_id: e.event_id.clone(),
                entity: ids.intern(&e.entity_id)?,
                name: e.name.clone(),
                kind: e.kind.clone(),
                properties: e
                    .properties
                    .as_ref()
                    .map(|p| serde_json::Value::Object(p.clone()).to_string()),
                conversation: opt(&e.conversation_id)?,
            }),
            Event::Relationship(e) => Fact::Relationship(RelationshipFact {
                ts: e.ts,
                event_id: e.event_id.clone(),
                source: ids.intern(&e.source_id)?,
                target: ids.intern(&e.target_id)?,
                rel_type: ids.intern(&e.rel_type)?,
                weight: OrdF64(e.weight),
                conversation: opt(&e.conversation_id)?,
            }),
            Event::ProviderCall(e) => Fact::Call(CallFact {
                provider: ids.intern(&e.provider)?,
                model: ids.intern(&e.model)?,
                hour: hour_floor(e.ts),
                latency_ms: e.latency_ms,
                success: e.success,
                tokens_in: e.tokens_in,
                tokens_out: e.tokens_out,
                cost_usd: OrdF64(e.cost_usd),
            }),
            Event::DebateRound(e) => Fact::Debate(DebateFact {
                debate: ids.intern(&e.debate_id)?,
                provider: e.provider.clone(),
                round: e.round,
                score: OrdF64(e.score),
                consensus: e.consensus,
            }),
        })
    }
}

/// A fact on its way to deduplication, with what the dedup rule needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Candidate<F> {
    /// Digest of the idempotency key.
    pub key: KeyDigest,
    /// `ts` of the event (the first tie-breaker between conflicting payloads).
    pub ts: Millis,
    /// Fingerprint of the whole payload (the second tie-breaker).
    pub fingerprint: u64,
    /// The fact itself.
    pub fact: F,
}

impl Candidate<Fact> {
    /// Decodes nothing: wraps an event's fact with its dedup metadata.
    pub fn from_event(event: &Event, ids: &Interner) -> Result<Self, InternerFull> {
        Ok(Candidate {
            key: event.key_digest(),
            ts: event.ts(),
            fingerprint: event.payload_fingerprint(),
            fact: Fact::from_event(event, ids)?,
        })
    }

    /// Narrows to one kind (`None` if the fact is of another kind).
    pub fn narrow<F>(self, pick: impl Fn(Fact) -> Option<F>) -> Option<Candidate<F>> {
        Some(Candidate {
            key: self.key,
            ts: self.ts,
            fingerprint: self.fingerprint,
            fact: pick(self.fact)?,
        })
    }
}
