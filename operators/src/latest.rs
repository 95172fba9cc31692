//! `latest`: keeps, per key, the greatest value (for facts ordered by
//! (`ts`, `event_id`), the latest event). Serves the `entities` and
//! `relationships` views of the knowledge graph.

use crate::facts::{EntityFact, RelationshipFact};
use crate::intern::Id;
use crate::reduce_view::{reduce_view, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};

/// The arranged `entities` view.
pub type EntityTrace = ViewTrace<Id, EntityFact>;
/// (source, target, rel_type).
pub type RelationshipKey = (Id, Id, Id);
/// The arranged `relationships` view.
pub type RelationshipTrace = ViewTrace<RelationshipKey, RelationshipFact>;

/// The greatest value per key, arranged.
pub fn latest_named<'s, K, V>(
    keyed: VecCollection<'s, Time, (K, V), Diff>,
    name: &str,
) -> Arranged<'s, ViewTrace<K, V>>
where
    K: ExchangeData + Hashable + std::hash::Hash,
    V: ExchangeData,
{
    reduce_view(keyed, name, |_key, input, output| {
        if let Some((latest, _)) = input.iter().rev().find(|(_, d)| *d > 0) {
            output.push(((*latest).clone(), 1));
        }
    })
}

/// The `entities` view: the latest `entity` event per entity id.
pub fn entities<'s>(
    updates: VecCollection<'s, Time, EntityFact, Diff>,
) -> Arranged<'s, EntityTrace> {
    latest_named(updates.map(|e| (e.entity, e)), "entities")
}

/// The `relationships` view: the latest event per (source, target, rel_type).
pub fn relationships<'s>(
    updates: VecCollection<'s, Time, RelationshipFact, Diff>,
) -> Arranged<'s, RelationshipTrace> {
    latest_named(
        updates.map(|r| ((r.source, r.target, r.rel_type), r)),
        "relationships",
    )
}
