//! View names, their key fields, and the rows one worker reads from a view.

use crate::conversation_snapshots::ConversationRow;
use crate::debate_stats::DebateRow;
use crate::entity_directory::DirectoryRow;
use crate::facts::{EntityFact, RelationshipFact};
use crate::intern::Id;
use crate::latest::RelationshipKey;
use crate::memory_state::MemoryRow;
use crate::provider_stats::{ProviderKey, ProviderRow};
use crate::Diff;

/// The contract's views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewName {
    ConversationSnapshots = 0,
    EntityCooccurrence = 1,
    ProviderStats = 2,
    MemoryState = 3,
    DebateStats = 4,
    Entities = 5,
    Relationships = 6,
    EntityDirectory = 7,
}

impl ViewName {
    /// Every view, in contract order.
    pub const ALL: [ViewName; 8] = [
        ViewName::ConversationSnapshots,
        ViewName::EntityCooccurrence,
        ViewName::ProviderStats,
        ViewName::MemoryState,
        ViewName::DebateStats,
        ViewName::Entities,
        ViewName::Relationships,
        ViewName::EntityDirectory,
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
        }
    }
}

impl std::fmt::Display for ViewName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rows of one view that one worker holds (unsorted, ids not resolved).
#[derive(Clone, Debug)]
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
}

/// The key of a view row (unique within its view).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKey {
    One(Id),
    Two(Id, Id),
    Provider(Id, Id, i64),
    Three(Id, Id, Id),
}

impl ViewItem {
    /// The row's key.
    pub fn key(&self) -> ItemKey {
        match self {
            ViewItem::Conversation(k, _)
            | ViewItem::Memory(k, _)
            | ViewItem::Debate(k, _)
            | ViewItem::Entity(k, _)
            | ViewItem::Directory(k, _) => ItemKey::One(*k),
            ViewItem::Pair((a, b), _) => ItemKey::Two(*a, *b),
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
        }
    }
}
