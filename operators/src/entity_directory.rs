//! `entity_directory`: one row per known entity id — its display name and
//! kind (from its `entities` row, else from its latest mention), and how
//! many conversations, messages and `relationships` rows name it.
//!
//! One keyed reduce over four kinds of item, kept per id as a [`Directory`]:
//! three are counts (a mention counts its message), the `entities` row's
//! name and kind are kept as they are, and the mentions are kept as plain
//! tuples ordered by `ts` for the latest-mention rule, so the logic reads
//! only their tail: a touched id costs O(log n). The id's and name's lower
//! case forms are kept from the last time they were read, since an id's
//! row changes with every mention.

use crate::facts::MessageFact;
use crate::intern::{Id, Interner};
use crate::latest::{EntityTrace, RelationshipTrace};
use crate::memberships::MembershipTrace;
use crate::multiset::Multiset;
use crate::reduce_view::{reduce_state_view, KeyState, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::timestamp::Millis;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// What an entity id's row is computed from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DirectoryItem {
    /// The id's `entities` row: its name and kind.
    Entity { name: String, kind: String },
    /// A distinct conversation mentions it (multiplicity: `conversations`).
    InConversation,
    /// A `relationships` row has it as an endpoint (multiplicity: `relationships`).
    Related,
    /// A distinct message's mention of the id (each counts in `mentions`).
    Mention(Mention),
}

/// One mention: `ts`, conversation, `seq`, the name and kind it gives.
pub type Mention = (Millis, Id, u64, Id, Id);

/// What an id keeps of its items (see the module doc).
#[derive(Default)]
pub struct Directory {
    entity: Multiset<(String, String)>,
    mentions: Multiset<Mention>,
    mentioned: Diff,
    conversations: Diff,
    relationships: Diff,
    /// The id in lower case, once read.
    id_lower: Cell<Option<Id>>,
    /// The name last read and its lower case.
    name_lower: Cell<Option<(Id, Id)>>,
}

impl KeyState<DirectoryItem> for Directory {
    fn add(&mut self, item: DirectoryItem, diff: Diff) {
        match item {
            DirectoryItem::Entity { name, kind } => self.entity.add((name, kind), diff),
            DirectoryItem::InConversation => self.conversations += diff,
            DirectoryItem::Related => self.relationships += diff,
            DirectoryItem::Mention(m) => {
                self.mentioned += diff;
                self.mentions.add(m, diff);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.entity.is_empty()
            && self.mentions.is_empty()
            && self.mentioned == 0
            && self.conversations == 0
            && self.relationships == 0
    }
}

/// A row of `entity_directory` (the key is the entity id). Strings are
/// interned: the row changes with every mention of its id, and a row of
/// `Copy` fields is cheap to retract, insert and merge in the arrangement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DirectoryRow {
    pub name: Option<Id>,
    pub kind: Option<Id>,
    pub conversations: u64,
    pub mentions: u64,
    pub relationships: u64,
    /// `name` in lower case (Unicode's default full mapping), for search.
    pub name_lower: Option<Id>,
    /// The id in lower case, for search.
    pub id_lower: Id,
}

/// The arranged view.
pub type DirectoryTrace = ViewTrace<Id, DirectoryRow>;

/// Computes the view from the distinct messages, the memberships and the
/// `entities` and `relationships` views.
pub fn entity_directory<'s>(
    messages: VecCollection<'s, Time, MessageFact, Diff>,
    memberships: &Arranged<'s, MembershipTrace>,
    entities: &Arranged<'s, EntityTrace>,
    relationships: &Arranged<'s, RelationshipTrace>,
    ids: Interner,
) -> Arranged<'s, DirectoryTrace> {
    let mentions = messages.flat_map(|m| {
        m.entities.into_iter().map(move |e| {
            let mention = (m.ts, m.conv, m.seq, e.name, e.kind);
            (e.id, DirectoryItem::Mention(mention))
        })
    });
    let in_conversations = memberships
        .clone()
        .as_collection(|_conv, e| (*e, DirectoryItem::InConversation));
    let named = entities.clone().as_collection(|id, e| {
        (
            *id,
            DirectoryItem::Entity {
                name: e.name.clone(),
                kind: e.kind.clone(),
            },
        )
    });
    let endpoints = relationships
        .clone()
        .flat_map_ref(|(source, target, _), _| {
            let other = (target != source).then_some((*target, DirectoryItem::Related));
            std::iter::once((*source, DirectoryItem::Related)).chain(other)
        });
    let items = mentions
        .concat(in_conversations)
        .concat(named)
        .concat(endpoints);
    reduce_state_view(items, "entity_directory", move |id, items, rows| {
        if let Some(row) = directory_row(*id, items, &ids) {
            rows.push((row, 1));
        }
    })
}

/// The row of `id` (`None` only when the identifier table is full).
fn directory_row(id: Id, items: &Directory, ids: &Interner) -> Option<DirectoryRow> {
    let count = |d: Diff| u64::try_from(d).unwrap_or(0);
    let named = match items.entity.first() {
        Some(((name, kind), _)) => Some((ids.intern(name).ok()?, ids.intern(kind).ok()?)),
        None => None,
    };
    let (name, kind) = match named.or_else(|| latest_mention(&items.mentions, ids)) {
        Some((name, kind)) => (Some(name), Some(kind)),
        None => (None, None),
    };
    let lower = |s: Id| ids.intern(&ids.resolve(s).to_lowercase()).ok();
    let id_lower = match items.id_lower.get() {
        Some(l) => l,
        None => {
            let l = lower(id)?;
            items.id_lower.set(Some(l));
            l
        }
    };
    let name_lower = match name {
        Some(n) => Some(match items.name_lower.get() {
            Some((read, l)) if read == n => l,
            _ => {
                let l = lower(n)?;
                items.name_lower.set(Some((n, l)));
                l
            }
        }),
        None => None,
    };
    Some(DirectoryRow {
        name_lower,
        id_lower,
        name,
        kind,
        conversations: count(items.conversations),
        mentions: count(items.mentioned),
        relationships: count(items.relationships),
    })
}

/// The name and kind of the latest mention: greatest (`ts`,
/// `conversation_id`, `seq`), strings in UTF-8 byte order. Mentions sort by
/// `ts` first, so only those with the greatest `ts` are read.
fn latest_mention(mentions: &Multiset<Mention>, ids: &Interner) -> Option<(Id, Id)> {
    let mut best: Option<(&str, u64, Id, Id)> = None;
    let latest_ts = mentions.last()?.0 .0;
    for ((ts, conv, seq, name, kind), _) in mentions.iter().rev() {
        if *ts != latest_ts {
            break;
        }
        let candidate = (ids.resolve(*conv), *seq, *name, *kind);
        if best.is_none_or(|b| (candidate.0.as_bytes(), candidate.1) > (b.0.as_bytes(), b.1)) {
            best = Some(candidate);
        }
    }
    best.map(|(_, _, name, kind)| (name, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entity_row_names_the_id_else_the_latest_mention_does() {
        let ids = Interner::new();
        let i = |s: &str| ids.intern(s).unwrap();
        let mention = |ts, conv: &str, seq, name: &str| {
            DirectoryItem::Mention((ts, i(conv), seq, i(name), i("person")))
        };
        let mut items = Directory::default();
        // Two mentions share the greatest ts: the greater conversation_id wins,
        // whatever the interned ids' order ("b" is interned before "a").
        items.add(mention(5, "b", 1, "from-b"), 1);
        items.add(mention(5, "a", 9, "from-a"), 1);
        items.add(mention(3, "z", 0, "older"), 1);
        items.add(DirectoryItem::InConversation, 3);
        let r = |id: Option<Id>| id.map(|i| ids.resolve(i).to_owned());
        let row = directory_row(i("Ünïcode-ID"), &items, &ids).unwrap();
        assert_eq!(r(row.name).as_deref(), Some("from-b"));
        assert_eq!(
            (row.mentions, row.conversations, row.relationships),
            (3, 3, 0)
        );
        assert_eq!(ids.resolve(row.id_lower), "ünïcode-id");
        assert_eq!(r(row.name_lower).as_deref(), Some("from-b"));
        items.add(
            DirectoryItem::Entity {
                name: "Named".into(),
                kind: "project".into(),
            },
            1,
        );
        items.add(DirectoryItem::Related, 2);
        let row = directory_row(i("x"), &items, &ids).unwrap();
        assert_eq!(
            (r(row.name).as_deref(), r(row.kind).as_deref()),
            (Some("Named"), Some("project"))
        );
        assert_eq!(
            r(row.name_lower).as_deref(),
            Some("named"),
            "the kept lower case follows the name"
        );
        assert_eq!(row.relationships, 2);
        // Taking the mention of greatest conversation out: the other wins.
        items.add(mention(5, "b", 1, "from-b"), -1);
        items.add(
            DirectoryItem::Entity {
                name: "Named".into(),
                kind: "project".into(),
            },
            -1,
        );
        let row = directory_row(i("x"), &items, &ids).unwrap();
        assert_eq!(r(row.name).as_deref(), Some("from-a"));
        assert_eq!(row.mentions, 2);
        // Only a relationship endpoint: no name.
        let mut only = Directory::default();
        only.add(DirectoryItem::Related, 1);
        let row = directory_row(i("y"), &only, &ids).unwrap();
        assert_eq!((row.name, row.kind, row.relationships), (None, None, 1));
        only.add(DirectoryItem::Related, -1);
        assert!(only.is_empty());
    }
}
