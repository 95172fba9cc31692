//! Indexes the knowledge queries read: for each entity, the conversations
//! of this worker that mention it (the memberships re-keyed by entity,
//! arranged locally, so every membership stays on the worker that owns its
//! conversation), and each entity's `relationships` rows in either
//! direction.
//!
//! Related entities by co-occurrence are counted at query time: the
//! entity's conversations, each one's entities. That costs what the
//! entity's conversations hold, and avoids a second arrangement of every
//! co-occurring pair (tens of millions at 1M events).

use crate::facts::OrdF64;
use crate::intern::Id;
use crate::latest::RelationshipTrace;
use crate::memberships::MembershipTrace;
use crate::reduce_view::ViewTrace;
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::trace::implementations::ValBatcher;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;

/// Entity → a conversation of this worker that mentions it.
pub type EntityConversationsTrace = ViewTrace<Id, Id>;

/// One `relationships` row seen from one of its endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    /// The other endpoint.
    pub other: Id,
    pub rel_type: Id,
    /// True when the keyed entity is the row's `source_id`.
    pub out: bool,
    pub weight: OrdF64,
}

/// Entity → its relationship rows (self-loops left out: an entity is never
/// related to itself).
pub type LinkTrace = ViewTrace<Id, Link>;

/// The memberships keyed by entity, on the worker that holds them.
pub fn entity_conversations<'s>(
    members: &Arranged<'s, MembershipTrace>,
) -> Arranged<'s, EntityConversationsTrace> {
    let by_entity = members
        .clone()
        .as_collection(|conv, entity| (*entity, *conv));
    arrange_core::<_, _, ValBatcher<Id, Id, Time, Diff>, _>(
        by_entity.inner,
        Pipeline,
        "entity_conversations",
        ValBatcher::new,
    )
}

/// The relationship rows keyed by each endpoint.
pub fn relationship_links<'s>(rows: &Arranged<'s, RelationshipTrace>) -> Arranged<'s, LinkTrace> {
    rows.clone()
        .flat_map_ref(|(source, target, rel_type), r| {
            let pair = (source != target).then(|| {
                let link = |other, out| Link {
                    other,
                    rel_type: *rel_type,
                    out,
                    weight: r.weight,
                };
                [
                    (*source, link(*target, true)),
                    (*target, link(*source, false)),
                ]
            });
            pair.into_iter().flatten()
        })
        .arrange_by_key_named("relationship_links")
}
