//! `entity_directory`: one row per known entity id — its display name and
//! kind (from its `entities` row, else from its latest mention), and how
//! many conversations, messages and `relationships` rows name it.
//!
//! One keyed reduce over five kinds of item. Four of them are counted by
//! their multiplicity alone (one map entry each, however many messages
//! mention the id), so a touched key costs O(log n); the mentions
//! themselves are kept for the latest-mention rule, ordered by `ts` so the
//! logic reads only the map's tail.

use crate::facts::MessageFact;
use crate::intern::{Id, Interner};
use crate::latest::{EntityTrace, RelationshipTrace};
use crate::memberships::MembershipTrace;
use crate::multiset::Multiset;
use crate::reduce_view::{reduce_view_core, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// What an entity id's row is computed from. Variant order matters: the
/// counted items sort first, mentions last and by `ts`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DirectoryItem {
    /// The id's `entities` row: its name and kind.
    Entity { name: String, kind: String },
    /// A distinct message mentions the id (multiplicity: `mentions`).
    Mentioned,
    /// A distinct conversation mentions it (multiplicity: `conversations`).
    InConversation,
    /// A `relationships` row has it as an endpoint (multiplicity: `relationships`).
    Related,
    /// One message's mention of the id.
    Mention {
        ts: Millis,
        conv: Id,
        seq: u64,
        name: Id,
        kind: Id,
    },
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
        m.entities.into_iter().flat_map(move |e| {
            let mention = DirectoryItem::Mention {
                ts: m.ts,
                conv: m.conv,
                seq: m.seq,
                name: e.name,
                kind: e.kind,
            };
            [(e.id, DirectoryItem::Mentioned), (e.id, mention)]
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
    reduce_view_core(items, "entity_directory", move |id, items, rows| {
        if let Some(row) = directory_row(*id, items, &ids) {
            rows.push((row, 1));
        }
    })
}

/// The row of `id` (`None` only when the identifier table is full).
fn directory_row(id: Id, items: &Multiset<DirectoryItem>, ids: &Interner) -> Option<DirectoryRow> {
    let count = |item: &DirectoryItem| u64::try_from(items.get(item)).unwrap_or(0);
    let named = match items.first() {
        Some((DirectoryItem::Entity { name, kind }, _)) => {
            Some((ids.intern(name).ok()?, ids.intern(kind).ok()?))
        }
        _ => None,
    };
    let (name, kind) = match named.or_else(|| latest_mention(items, ids)) {
        Some((name, kind)) => (Some(name), Some(kind)),
        None => (None, None),
    };
    let lower = |s: Id| ids.intern(&ids.resolve(s).to_lowercase()).ok();
    Some(DirectoryRow {
        name_lower: match name {
            Some(n) => Some(lower(n)?),
            None => None,
        },
        id_lower: lower(id)?,
        name,
        kind,
        conversations: count(&DirectoryItem::InConversation),
        mentions: count(&DirectoryItem::Mentioned),
        relationships: count(&DirectoryItem::Related),
    })
}

/// The name and kind of the latest mention: greatest (`ts`,
/// `conversation_id`, `seq`), strings in UTF-8 byte order. Mentions sort by
/// `ts` first, so only those with the greatest `ts` are read.
fn latest_mention(items: &Multiset<DirectoryItem>, ids: &Interner) -> Option<(Id, Id)> {
    let mut best: Option<(&str, u64, Id, Id)> = None;
    let mut latest_ts = None;
    for (item, _) in items.iter().rev() {
        let DirectoryItem::Mention {
            ts,
            conv,
            seq,
            name,
            kind,
        } = item
        else {
            break;
        };
        if latest_ts.is_some_and(|t| t != *ts) {
            break;
        }
        latest_ts = Some(*ts);
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
        let mention = |ts, conv: &str, seq, name: &str| DirectoryItem::Mention {
            ts,
            conv: i(conv),
            seq,
            name: i(name),
            kind: i("person"),
        };
        let mut items = Multiset::new();
        // Two mentions share the greatest ts: the greater conversation_id wins,
        // whatever the interned ids' order ("b" is interned before "a").
        items.add(mention(5, "b", 1, "from-b"), 1);
        items.add(mention(5, "a", 9, "from-a"), 1);
        items.add(mention(3, "z", 0, "older"), 1);
        items.add(DirectoryItem::Mentioned, 3);
        items.add(DirectoryItem::InConversation, 3);
        let r = |id: Option<Id>| id.map(|i| ids.resolve(i).to_owned());
        let row = directory_row(i("Ünïcode-ID"), &items, &ids).unwrap();
        assert_eq!(r(row.name).as_deref(), Some("from-b"));
        assert_eq!(
            (row.mentions, row.conversations, row.relationships),
            (3, 3, 0)
        );
        assert_eq!(ids.resolve(row.id_lower), "ünïcode-id");
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
        assert_eq!(r(row.name_lower).as_deref(), Some("named"));
        assert_eq!(row.relationships, 2);
        // Only a relationship endpoint: no name.
        let only = Multiset::from([(DirectoryItem::Related, 1)]);
        let row = directory_row(i("y"), &only, &ids).unwrap();
        assert_eq!((row.name, row.kind, row.relationships), (None, None, 1));
    }
}
