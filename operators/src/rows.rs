//! View names, their key fields, and the rows one worker reads from a view.

use crate::conversation_flow::FlowRow;
use crate::conversation_snapshots::ConversationRow;
use crate::debate_stats::DebateRow;
use crate::debate_strategies::StrategyRow;
use crate::entity_directory::DirectoryRow;
use crate::facts::{EntityFact, RelationshipFact};
use crate::intern::Id;
use crate::latest::RelationshipKey;
use crate::memory_state::MemoryRow;
use crate::provider_performance::PerformanceRow;
use crate::provider_stats::{ProviderKey, ProviderRow};
use crate::user_intents::IntentRow;
use crate::user_preferences::PreferenceRow;
use crate::Diff;
use helixflow_types::event::Role;

/// The contract's views.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ViewName {
    ConversationSnapshots = 0,
    EntityCooccurrence = 1,
    ProviderStats = 2,
    MemoryState = 3,
    DebateStats = 4,
    Entities = 5,
    Relationships = 6,
    EntityDirectory = 7,
    UserIntents = 8,
    UserPreferences = 9,
    ConversationFlow = 10,
    DebateStrategies = 11,
    ProviderPerformance = 12,
}

/// The number of views.
pub const VIEW_COUNT: usize = 13;

impl ViewName {
    /// Every view, in contract order.
    pub const ALL: [ViewName; VIEW_COUNT] = [
        ViewName::ConversationSnapshots,
        ViewName::EntityCooccurrence,
        ViewName::ProviderStats,
        ViewName::MemoryState,
        ViewName::DebateStats,
        ViewName::Entities,
        ViewName::Relationships,
        ViewName::EntityDirectory,
        ViewName::UserIntents,
        ViewName::UserPreferences,
        ViewName::ConversationFlow,
        ViewName::DebateStrategies,
        ViewName::ProviderPerformance,
    ];

    /// The view's name as the contract writes it.
    pub fn as_str(self) -> &'static str {
        helixflow_types::topology::VIEW_NAMES[self as usize]
    }

    /// Looks a view up by name.
    pub fn parse(name: &str) -> Option<ViewName> {
        ViewName::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// The key fields, in sort order.
    pub fn key_fields(self) -> &'static [&'static str] {
        match self {
            ViewName::ConversationSnapshots => &["conversation_id"],
            ViewName::EntityCooccurrence => &["a", "b"],
            ViewName::ProviderStats => &["provider", "model", "hour"],
            ViewName::MemoryState => &["memory_id"],
            ViewName::DebateStats => &["debate_id"],
            ViewName::Entities => &["entity_id"],
            ViewName::Relationships => &["source_id", "target_id", "rel_type"],
            ViewName::EntityDirectory => &["id"],
            ViewName::UserIntents => &["user_id", "intent"],
            ViewName::UserPreferences => &["user_id", "provider"],
            ViewName::ConversationFlow => &["from_role", "to_role"],
            ViewName::DebateStrategies => &["stance"],
            ViewName::ProviderPerformance => &["provider", "model"],
        }
    }
}

/// The JSON type of a view field, as the views write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Str,
    /// A whole number.
    Int,
    /// Any number.
    Float,
    Bool,
    /// An RFC 3339 timestamp (a string).
    Time,
    /// An array of strings.
    Strs,
    /// An array of scalars of any type (`memory_state.version`).
    Tuple,
    /// A JSON object.
    Object,
}

impl FieldType {
    /// Whether a field of this type groups and orders (not arrays or objects).
    pub fn is_scalar(self) -> bool {
        !matches!(self, FieldType::Strs | FieldType::Tuple | FieldType::Object)
    }
}

impl ViewName {
    /// Every top-level field of the view's rows, in the order rows write them.
    pub fn fields(self) -> &'static [(&'static str, FieldType)] {
        use FieldType::*;
        match self {
            ViewName::ConversationSnapshots => &[
                ("conversation_id", Str),
                ("user_id", Str),
                ("session_id", Str),
                ("message_count", Int),
                ("user_messages", Int),
                ("assistant_messages", Int),
                ("total_tokens", Int),
                ("first_ts", Time),
                ("last_ts", Time),
                ("last_seq", Int),
                ("providers", Strs),
                ("entity_count", Int),
            ],
            ViewName::EntityCooccurrence => &[("a", Str), ("b", Str), ("count", Int)],
            ViewName::ProviderStats => &[
                ("provider", Str),
                ("model", Str),
                ("hour", Time),
                ("calls", Int),
                ("errors", Int),
                ("tokens_in", Int),
                ("tokens_out", Int),
                ("cost_usd", Float),
                ("latency_p50", Int),
                ("latency_p95", Int),
                ("latency_p99", Int),
                ("latency_avg", Float),
            ],
            ViewName::MemoryState => &[
                ("memory_id", Str),
                ("content", Str),
                ("user_id", Str),
                ("tags", Strs),
                ("version", Tuple),
            ],
            ViewName::DebateStats => &[
                ("debate_id", Str),
                ("rounds", Int),
                ("participants", Strs),
                ("mean_score", Object),
                ("leader", Str),
                ("consensus", Bool),
            ],
            ViewName::Entities => &[
                ("entity_id", Str),
                ("name", Str),
                ("kind", Str),
                ("properties", Object),
                ("conversation_id", Str),
                ("ts", Time),
                ("event_id", Str),
            ],
            ViewName::Relationships => &[
                ("source_id", Str),
                ("target_id", Str),
                ("rel_type", Str),
                ("weight", Float),
                ("conversation_id", Str),
                ("ts", Time),
                ("event_id", Str),
            ],
            ViewName::EntityDirectory => &[
                ("id", Str),
                ("name", Str),
                ("kind", Str),
                ("conversations", Int),
                ("mentions", Int),
                ("relationships", Int),
            ],
            ViewName::UserIntents => &[
                ("user_id", Str),
                ("intent", Str),
                ("messages", Int),
                ("conversations", Int),
                ("sessions", Int),
                ("first_ts", Time),
                ("last_ts", Time),
            ],
            ViewName::UserPreferences => &[
                ("user_id", Str),
                ("provider", Str),
                ("messages", Int),
                ("tokens", Int),
                ("conversations", Int),
                ("share", Float),
            ],
            ViewName::ConversationFlow => &[
                ("from_role", Str),
                ("to_role", Str),
                ("transitions", Int),
                ("conversations", Int),
            ],
            ViewName::DebateStrategies => &[
                ("stance", Str),
                ("rounds", Int),
                ("debates", Int),
                ("mean_score", Float),
                ("providers", Strs),
                ("led", Int),
                ("consensus_debates", Int),
            ],
            ViewName::ProviderPerformance => &[
                ("provider", Str),
                ("model", Str),
                ("calls", Int),
                ("errors", Int),
                ("error_rate", Float),
                ("tokens_in", Int),
                ("tokens_out", Int),
                ("cost_usd", Float),
                ("latency_p50", Int),
                ("latency_p95", Int),
                ("latency_p99", Int),
                ("latency_avg", Float),
                ("cost_per_1k_tokens", Float),
            ],
        }
    }

    /// The type of one of the view's fields.
    pub fn field(self, name: &str) -> Option<FieldType> {
        self.fields()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }
}

impl std::fmt::Display for ViewName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rows of one view that one worker holds (unsorted, ids not resolved).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum ViewPart {
    Conversations(Vec<(Id, ConversationRow)>),
    /// ((smaller id, larger id), count).
    Cooccurrence(Vec<((Id, Id), Diff)>),
    ProviderStats(Vec<(ProviderKey, ProviderRow)>),
    Memory(Vec<(Id, MemoryRow)>),
    Debates(Vec<(Id, DebateRow)>),
    Entities(Vec<(Id, EntityFact)>),
    Relationships(Vec<(RelationshipKey, RelationshipFact)>),
    Directory(Vec<(Id, DirectoryRow)>),
    /// ((user, intent), row).
    Intents(Vec<((Id, Id), IntentRow)>),
    /// ((user, provider), row).
    Preferences(Vec<((Id, Id), PreferenceRow)>),
    Flow(Vec<((Role, Role), FlowRow)>),
    /// (stance, row).
    Strategies(Vec<(Id, StrategyRow)>),
    /// ((provider, model), row).
    Performance(Vec<((Id, Id), PerformanceRow)>),
}

impl ViewPart {
    /// Appends another worker's part of the same view.
    pub fn absorb(&mut self, other: ViewPart) {
        match (self, other) {
            (ViewPart::Conversations(a), ViewPart::Conversations(b)) => a.extend(b),
            (ViewPart::Cooccurrence(a), ViewPart::Cooccurrence(b)) => a.extend(b),
            (ViewPart::ProviderStats(a), ViewPart::ProviderStats(b)) => a.extend(b),
            (ViewPart::Memory(a), ViewPart::Memory(b)) => a.extend(b),
            (ViewPart::Debates(a), ViewPart::Debates(b)) => a.extend(b),
            (ViewPart::Entities(a), ViewPart::Entities(b)) => a.extend(b),
            (ViewPart::Relationships(a), ViewPart::Relationships(b)) => a.extend(b),
            (ViewPart::Directory(a), ViewPart::Directory(b)) => a.extend(b),
            (ViewPart::Intents(a), ViewPart::Intents(b)) => a.extend(b),
            (ViewPart::Preferences(a), ViewPart::Preferences(b)) => a.extend(b),
            (ViewPart::Flow(a), ViewPart::Flow(b)) => a.extend(b),
            (ViewPart::Strategies(a), ViewPart::Strategies(b)) => a.extend(b),
            (ViewPart::Performance(a), ViewPart::Performance(b)) => a.extend(b),
            // Parts of different views are never merged; nothing to do.
            _ => {}
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ViewPart::Conversations(v) => v.len(),
            ViewPart::Cooccurrence(v) => v.len(),
            ViewPart::ProviderStats(v) => v.len(),
            ViewPart::Memory(v) => v.len(),
            ViewPart::Debates(v) => v.len(),
            ViewPart::Entities(v) => v.len(),
            ViewPart::Relationships(v) => v.len(),
            ViewPart::Directory(v) => v.len(),
            ViewPart::Intents(v) => v.len(),
            ViewPart::Preferences(v) => v.len(),
            ViewPart::Flow(v) => v.len(),
            ViewPart::Strategies(v) => v.len(),
            ViewPart::Performance(v) => v.len(),
        }
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One row of a view, typed: an element of a [`ViewPart`].
#[derive(Clone, Debug, PartialEq)]
pub enum ViewItem {
    Conversation(Id, ConversationRow),
    Pair((Id, Id), Diff),
    Provider(ProviderKey, ProviderRow),
    Memory(Id, MemoryRow),
    Debate(Id, DebateRow),
    Entity(Id, EntityFact),
    Relationship(RelationshipKey, RelationshipFact),
    Directory(Id, DirectoryRow),
    Intent((Id, Id), IntentRow),
    Preference((Id, Id), PreferenceRow),
    Flow((Role, Role), FlowRow),
    Strategy(Id, StrategyRow),
    Performance((Id, Id), PerformanceRow),
}

/// The key of a view row (unique within its view).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKey {
    One(Id),
    Two(Id, Id),
    Provider(Id, Id, i64),
    Three(Id, Id, Id),
    Roles(Role, Role),
}

impl ViewItem {
    /// The row's key.
    pub fn key(&self) -> ItemKey {
        match self {
            ViewItem::Conversation(k, _)
            | ViewItem::Memory(k, _)
            | ViewItem::Debate(k, _)
            | ViewItem::Entity(k, _)
            | ViewItem::Directory(k, _)
            | ViewItem::Strategy(k, _) => ItemKey::One(*k),
            ViewItem::Pair((a, b), _)
            | ViewItem::Intent((a, b), _)
            | ViewItem::Preference((a, b), _)
            | ViewItem::Performance((a, b), _) => ItemKey::Two(*a, *b),
            ViewItem::Flow((from, to), _) => ItemKey::Roles(*from, *to),
            ViewItem::Provider((p, m, h), _) => ItemKey::Provider(*p, *m, *h),
            ViewItem::Relationship((s, t, r), _) => ItemKey::Three(*s, *t, *r),
        }
    }
}

impl ViewPart {
    /// The part's rows, one item each.
    pub fn into_items(self) -> Vec<ViewItem> {
        fn map<T>(rows: Vec<T>, f: impl Fn(T) -> ViewItem) -> Vec<ViewItem> {
            rows.into_iter().map(f).collect()
        }
        match self {
            ViewPart::Conversations(v) => map(v, |(k, r)| ViewItem::Conversation(k, r)),
            ViewPart::Cooccurrence(v) => map(v, |(k, n)| ViewItem::Pair(k, n)),
            ViewPart::ProviderStats(v) => map(v, |(k, r)| ViewItem::Provider(k, r)),
            ViewPart::Memory(v) => map(v, |(k, r)| ViewItem::Memory(k, r)),
            ViewPart::Debates(v) => map(v, |(k, r)| ViewItem::Debate(k, r)),
            ViewPart::Entities(v) => map(v, |(k, r)| ViewItem::Entity(k, r)),
            ViewPart::Relationships(v) => map(v, |(k, r)| ViewItem::Relationship(k, r)),
            ViewPart::Directory(v) => map(v, |(k, r)| ViewItem::Directory(k, r)),
            ViewPart::Intents(v) => map(v, |(k, r)| ViewItem::Intent(k, r)),
            ViewPart::Preferences(v) => map(v, |(k, r)| ViewItem::Preference(k, r)),
            ViewPart::Flow(v) => map(v, |(k, r)| ViewItem::Flow(k, r)),
            ViewPart::Strategies(v) => map(v, |(k, r)| ViewItem::Strategy(k, r)),
            ViewPart::Performance(v) => map(v, |(k, r)| ViewItem::Performance(k, r)),
        }
    }
}
