//! The six event types of the contract, decoded and validated, with their
//! idempotency keys and payload fingerprints.

use crate::timestamp::Millis;
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use xxhash_rust::xxh3::{Xxh3, Xxh3Default};

/// The event types of the contract, in the order the contract lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `message`, topic `helixagent.conversations`.
    Message,
    /// `memory`, topic `helixagent.memory.events`.
    Memory,
    /// `entity`, topic `helixagent.entities.updates`.
    Entity,
    /// `relationship`, topic `helixagent.relationships.updates`.
    Relationship,
    /// `provider_call`, topic `helixagent.analytics.providers`.
    ProviderCall,
    /// `debate_round`, topic `helixagent.analytics.debates`.
    DebateRound,
}

impl EventKind {
    /// Every kind, in contract order.
    pub const ALL: [EventKind; 6] = [
        EventKind::Message,
        EventKind::Memory,
        EventKind::Entity,
        EventKind::Relationship,
        EventKind::ProviderCall,
        EventKind::DebateRound,
    ];

    /// The value of the `type` field.
    pub fn type_name(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Memory => "memory",
            EventKind::Entity => "entity",
            EventKind::Relationship => "relationship",
            EventKind::ProviderCall => "provider_call",
            EventKind::DebateRound => "debate_round",
        }
    }

    /// The contract's default topic for this kind.
    pub fn default_topic(self) -> &'static str {
        match self {
            EventKind::Message => "helixagent.conversations",
            EventKind::Memory => "helixagent.memory.events",
            EventKind::Entity => "helixagent.entities.updates",
            EventKind::Relationship => "helixagent.relationships.updates",
            EventKind::ProviderCall => "helixagent.analytics.providers",
            EventKind::DebateRound => "helixagent.analytics.debates",
        }
    }

    /// The field whose value is the Kafka message key on this kind's topic.
    pub fn kafka_key_field(self) -> &'static str {
        match self {
            EventKind::Message => "conversation_id",
            EventKind::Memory => "memory_id",
            EventKind::Entity => "entity_id",
            EventKind::Relationship => "source_id",
            EventKind::ProviderCall => "provider",
            EventKind::DebateRound => "debate_id",
        }
    }

    /// Looks a kind up by its `type` value.
    pub fn from_type_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.type_name() == name)
    }
}

/// `role` of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A person.
    User,
    /// The agent.
    Assistant,
    /// A system prompt.
    System,
    /// A tool result.
    Tool,
}

impl Role {
    /// Every role with its contract name.
    pub const NAMES: [(&'static str, Role); 4] = [
        ("user", Role::User),
        ("assistant", Role::Assistant),
        ("system", Role::System),
        ("tool", Role::Tool),
    ];

    /// The contract's name of the role.
    pub fn name(self) -> &'static str {
        Role::NAMES
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("", |(n, _)| n)
    }
}

/// `op` of a memory event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryOpKind {
    /// Creates the memory.
    Add,
    /// Replaces its content.
    Update,
    /// Removes it.
    Delete,
}

/// `strategy` of a memory event.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MergeStrategy {
    /// Last writer wins (the default).
    #[default]
    Lww,
    /// Tags are the union over live writes.
    MergeAll,
}

/// An entity mentioned in a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityMention {
    /// Entity id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Entity kind (person, project, ...).
    pub kind: String,
}

/// A `message` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub event_id: String,
    pub ts: Millis,
    pub conversation_id: String,
    pub session_id: String,
    pub user_id: String,
    pub seq: u64,
    pub role: Role,
    pub content: String,
    pub tokens: u32,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub latency_ms: Option<u32>,
    pub intent: Option<String>,
    pub debate_id: Option<String>,
    pub entities: Vec<EntityMention>,
}

/// A `memory` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryOp {
    pub event_id: String,
    pub ts: Millis,
    pub op: MemoryOpKind,
    pub memory_id: String,
    pub user_id: String,
    pub node_id: String,
    pub lamport: u64,
    /// Present for add/update (required there); for delete, whatever was sent.
    pub content: Option<String>,
    pub tags: Option<Vec<String>>,
    pub strategy: MergeStrategy,
}

/// A scalar property value of an entity.
pub type Properties = serde_json::Map<String, serde_json::Value>;

/// An `entity` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityUpdate {
    pub event_id: String,
    pub ts: Millis,
    pub entity_id: String,
    pub name: String,
    pub kind: String,
    /// Crosses processes as JSON text (the compact wire formats cannot
    /// carry a self-describing value).
    #[serde(with = "properties_text")]
    pub properties: Option<Properties>,
    pub conversation_id: Option<String>,
}

/// An entity's properties as JSON text, for serde formats that are not
/// self-describing (timely's exchange between processes).
mod properties_text {
    use super::Properties;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<Properties>, s: S) -> Result<S::Ok, S::Error> {
        p.as_ref()
            .map(|p| serde_json::Value::Object(p.clone()).to_string())
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Properties>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A `relationship` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelationshipUpdate {
    pub event_id: String,
    pub ts: Millis,
    pub source_id: String,
    pub target_id: String,
    pub rel_type: String,
    pub weight: f64,
    pub conversation_id: Option<String>,
}

/// A `provider_call` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderCall {
    pub event_id: String,
    pub ts: Millis,
    pub provider: String,
    pub model: String,
    pub latency_ms: u32,
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub cost_usd: f64,
    pub success: bool,
    pub error: Option<String>,
}

/// A `debate_round` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebateRound {
    pub event_id: String,
    pub ts: Millis,
    pub debate_id: String,
    pub conversation_id: String,
    pub provider: String,
    pub model: String,
    pub round: u32,
    pub score: f64,
    pub stance: Option<String>,
    pub consensus: bool,
}

/// One decoded, valid event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Message(Message),
    Memory(MemoryOp),
    Entity(EntityUpdate),
    Relationship(RelationshipUpdate),
    ProviderCall(ProviderCall),
    DebateRound(DebateRound),
}

/// A 128-bit digest of an idempotency key (type + key fields).
///
/// Two events are duplicates exactly when their keys are equal; the digest
/// stands in for the key inside the engine (a collision needs ~2^64 keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyDigest(pub u128);

impl KeyDigest {
    fn hasher(kind: EventKind) -> Xxh3Default {
        let mut h = Xxh3Default::new();
        h.update(kind.type_name().as_bytes());
        h.update(&[0xff]);
        h
    }

    /// The key of a message: `conversation_id` + `seq`.
    pub fn of_message(conversation_id: &str, seq: u64) -> KeyDigest {
        let mut h = KeyDigest::hasher(EventKind::Message);
        h.update(conversation_id.as_bytes());
        h.update(&[0xff]);
        h.update(&seq.to_le_bytes());
        KeyDigest(h.digest128())
    }

    /// The key of an event of another kind: its `event_id`, scoped to the kind.
    pub fn of_event(kind: EventKind, event_id: &str) -> KeyDigest {
        let mut h = KeyDigest::hasher(kind);
        h.update(event_id.as_bytes());
        KeyDigest(h.digest128())
    }
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Message(_) => EventKind::Message,
            Event::Memory(_) => EventKind::Memory,
            Event::Entity(_) => EventKind::Entity,
            Event::Relationship(_) => EventKind::Relationship,
            Event::ProviderCall(_) => EventKind::ProviderCall,
            Event::DebateRound(_) => EventKind::DebateRound,
        }
    }

    /// `ts` of the event.
    pub fn ts(&self) -> Millis {
        match self {
            Event::Message(e) => e.ts,
            Event::Memory(e) => e.ts,
            Event::Entity(e) => e.ts,
            Event::Relationship(e) => e.ts,
            Event::ProviderCall(e) => e.ts,
            Event::DebateRound(e) => e.ts,
        }
    }

    /// The idempotency key: `conversation_id` + `seq` for messages, the
    /// `event_id` (scoped to the type) for the others.
    pub fn key_digest(&self) -> KeyDigest {
        match self {
            Event::Message(m) => KeyDigest::of_message(&m.conversation_id, m.seq),
            Event::Memory(e) => KeyDigest::of_event(EventKind::Memory, &e.event_id),
            Event::Entity(e) => KeyDigest::of_event(EventKind::Entity, &e.event_id),
            Event::Relationship(e) => KeyDigest::of_event(EventKind::Relationship, &e.event_id),
            Event::ProviderCall(e) => KeyDigest::of_event(EventKind::ProviderCall, &e.event_id),
            Event::DebateRound(e) => KeyDigest::of_event(EventKind::DebateRound, &e.event_id),
        }
    }

    /// A 64-bit fingerprint of every decoded field (unknown fields excluded).
    ///
    /// Equal payloads have equal fingerprints; it breaks ties when two events
    /// share a key but differ (see the dedup rule in `docs/semantics.md`).
    pub fn payload_fingerprint(&self) -> u64 {
        let mut h = Fingerprint(Xxh3::new());
        h.str(self.kind().type_name());
        match self {
            Event::Message(m) => {
                h.str(&m.event_id);
                h.i64(m.ts);
                h.str(&m.conversation_id);
                h.str(&m.session_id);
                h.str(&m.user_id);
                h.u64(m.seq);
                h.u64(m.role as u64);
                h.str(&m.content);
                h.u64(m.tokens.into());
                h.opt_str(&m.provider);
                h.opt_str(&m.model);
                h.u64(m.latency_ms.map_or(u64::MAX, u64::from));
                h.opt_str(&m.intent);
                h.opt_str(&m.debate_id);
                h.u64(m.entities.len() as u64);
                for e in &m.entities {
                    h.str(&e.id);
                    h.str(&e.name);
                    h.str(&e.kind);
                }
            }
            Event::Memory(e) => {
                h.str(&e.event_id);
                h.i64(e.ts);
                h.u64(e.op as u64);
                h.str(&e.memory_id);
                h.str(&e.user_id);
                h.str(&e.node_id);
                h.u64(e.lamport);
                h.opt_str(&e.content);
                match &e.tags {
                    None => h.u64(u64::MAX),
                    Some(tags) => {
                        h.u64(tags.len() as u64);
                        tags.iter().for_each(|t| h.str(t));
                    }
                }
                h.u64(e.strategy as u64);
            }
            Event::Entity(e) => {
                h.str(&e.event_id);
                h.i64(e.ts);
                h.str(&e.entity_id);
                h.str(&e.name);
                h.str(&e.kind);
                match &e.properties {
                    // serde_json's map is ordered by key, so this is canonical.
                    Some(p) => h.str(&serde_json::Value::Object(p.clone()).to_string()),
                    None => h.u64(u64::MAX),
                }
                h.opt_str(&e.conversation_id);
            }
            Event::Relationship(e) => {
                h.str(&e.event_id);
                h.i64(e.ts);
                h.str(&e.source_id);
                h.str(&e.target_id);
                h.str(&e.rel_type);
                h.u64(e.weight.to_bits());
                h.opt_str(&e.conversation_id);
            }
            Event::ProviderCall(e) => {
                h.str(&e.event_id);
                h.i64(e.ts);
                h.str(&e.provider);
                h.str(&e.model);
                h.u64(e.latency_ms.into());
                h.u64(e.tokens_in.into());
                h.u64(e.tokens_out.into());
                h.u64(e.cost_usd.to_bits());
                h.u64(e.success.into());
                h.opt_str(&e.error);
            }
            Event::DebateRound(e) => {
                h.str(&e.event_id);
                h.i64(e.ts);
                h.str(&e.debate_id);
                h.str(&e.conversation_id);
                h.str(&e.provider);
                h.str(&e.model);
                h.u64(e.round.into());
                h.u64(e.score.to_bits());
                h.opt_str(&e.stance);
                h.u64(e.consensus.into());
            }
        }
        h.0.finish()
    }
}

struct Fingerprint(Xxh3);

impl Fingerprint {
    fn str(&mut self, s: &str) {
        self.0.write(&(s.len() as u64).to_le_bytes());
        self.0.write(s.as_bytes());
    }
    fn opt_str(&mut self, s: &Option<String>) {
        match s {
            Some(s) => self.str(s),
            None => self.u64(u64::MAX),
        }
    }
    fn u64(&mut self, v: u64) {
        self.0.write(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.write(&v.to_le_bytes());
    }
}
