//! Facts: the compact, interned form of each valid event that the views need.
//!
//! A fact keeps only what some view reads and replaces identifiers by
//! [`Id`]s. A message's `content` travels with its candidate to dedup, which
//! stores the text of the messages it keeps in the [`crate::content`] store;
//! the fact keeps a [`ContentRef`]. Strings whose order matters inside a view
//! (memory `node_id`, `event_id`s, debate providers) stay strings.

use crate::content::ContentRef;
use crate::intern::{Id, Interner, InternerFull};
use differential_dataflow::Hashable;
use helixflow_types::event::*;
use helixflow_types::timestamp::{hour_floor, Millis};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// An `f64` with a total order (`f64::total_cmp`), so it can live in
/// arrangements; hashed by its bits (equal under `total_cmp` = equal bits).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrdF64(pub f64);

impl std::hash::Hash for OrdF64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

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
    pub intent: Option<Id>,
    /// The entities mentioned, one per distinct id (sorted by id).
    pub entities: Vec<Mention>,
    /// The message's text, once dedup has stored it.
    pub content: ContentRef,
}

/// One entity a message mentions: its id, and the greatest (`name`, `kind`)
/// (UTF-8 byte order) among the message's entries with that id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mention {
    pub id: Id,
    pub name: Id,
    pub kind: Id,
}

impl MessageFact {
    /// The distinct entity ids mentioned, ascending by [`Id`].
    pub fn entity_ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.entities.iter().map(|m| m.id)
    }
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
    /// The op's `ts` (for sync status; not part of the op order).
    pub ts: Millis,
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
    pub stance: Option<Id>,
    pub model: Id,
    pub conversation: Id,
    pub event_id: String,
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
                let mut named: Vec<(&str, &str, &str)> = m
                    .entities
                    .iter()
                    .map(|e| (e.id.as_str(), e.name.as_str(), e.kind.as_str()))
                    .collect();
                // Per id, the greatest (name, kind) comes last.
                named.sort_unstable();
                let mut entities = Vec::with_capacity(named.len());
                for (i, (id, name, kind)) in named.iter().enumerate() {
                    if named.get(i + 1).is_some_and(|next| next.0 == *id) {
                        continue;
                    }
                    entities.push(Mention {
                        id: ids.intern(id)?,
                        name: ids.intern(name)?,
                        kind: ids.intern(kind)?,
                    });
                }
                entities.sort_unstable_by_key(|e| e.id);
                Fact::Message(MessageFact {
                    conv: ids.intern(&m.conversation_id)?,
                    seq: m.seq,
                    user: ids.intern(&m.user_id)?,
                    session: ids.intern(&m.session_id)?,
                    role: m.role,
                    tokens: m.tokens,
                    ts: m.ts,
                    provider: opt(&m.provider)?,
                    intent: opt(&m.intent)?,
                    entities,
                    content: ContentRef::default(),
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
                ts: e.ts,
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
                stance: opt(&e.stance)?,
                model: ids.intern(&e.model)?,
                conversation: ids.intern(&e.conversation_id)?,
                event_id: e.event_id.clone(),
            }),
        })
    }
}

/// A fact that may hold a message text (only [`MessageFact`] does).
pub trait HoldsText {
    /// Records where the fact's text was stored.
    fn stored_at(&mut self, _at: ContentRef) {}
}

impl HoldsText for MessageFact {
    fn stored_at(&mut self, at: ContentRef) {
        self.content = at;
    }
}
impl HoldsText for MemoryFact {}
impl HoldsText for EntityFact {}
impl HoldsText for RelationshipFact {}
impl HoldsText for CallFact {}
impl HoldsText for DebateFact {}

/// Which worker deduplicates a fact: the one its key's digest picks, or,
/// for a message, the one its conversation picks. A message's key holds
/// its conversation, so every copy of a key still meets on one worker, and
/// the kept message is already on the worker of every view keyed by
/// conversation (snapshots, memberships, the context state): its text
/// crosses workers (and processes) once, not twice.
pub trait DedupRoute {
    /// The hash the dedup exchange routes by.
    fn dedup_route(&self, key: KeyDigest) -> u64 {
        key.0 as u64
    }
}

impl DedupRoute for MessageFact {
    fn dedup_route(&self, _key: KeyDigest) -> u64 {
        self.conv.hashed()
    }
}
impl DedupRoute for MemoryFact {}
impl DedupRoute for EntityFact {}
impl DedupRoute for RelationshipFact {}
impl DedupRoute for CallFact {}
impl DedupRoute for DebateFact {}

/// A fact on its way to deduplication, with what the dedup rule needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Candidate<F> {
    /// Digest of the idempotency key.
    pub key: KeyDigest,
    /// `ts` of the event (the first tie-breaker between conflicting payloads).
    pub ts: Millis,
    /// Fingerprint of the whole payload (the second tie-breaker).
    pub fingerprint: u64,
    /// A message's text, on its way to the content store (`None` for
    /// other kinds, and once stored).
    pub text: Option<String>,
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
            text: match event {
                Event::Message(m) => Some(m.content.clone()),
                _ => None,
            },
            fact: Fact::from_event(event, ids)?,
        })
    }

    /// Narrows to one kind (`None` if the fact is of another kind).
    pub fn narrow<F>(self, pick: impl Fn(Fact) -> Option<F>) -> Option<Candidate<F>> {
        Some(Candidate {
            key: self.key,
            ts: self.ts,
            fingerprint: self.fingerprint,
            text: self.text,
            fact: pick(self.fact)?,
        })
    }
}
