//! `entity_cooccurrence`: for each unordered entity pair, the number of
//! distinct conversations that mention both.
//!
//! Pairs are keyed by the two ids in [`Id::precedes`] order (by number in
//! one process, by string in a cluster, so every process forms the same
//! key); rendering orients them by UTF-8 string order.
//!
//! # Where a pair is counted
//!
//! A pair is counted on the worker that *owns* its first entity (the
//! worker its id hashes to), and formed there, so the pair incidences (19M
//! at 1M realistic events, 25 times the memberships) never cross a worker
//! or a process:
//!
//! ```text
//! memberships (by conversation)
//!   ├─ exchange by entity ───→ owned: (conv, a) at the owner of a
//!   └─ broadcast ────────────→ all:   every (conv, b), on every worker
//! owned ⋈ all on conv, a precedes b → (a, b) at the owner of a
//!   → arranged where formed (no exchange)
//! ```
//!
//! Only the memberships move (each once by entity, and once to every other
//! worker), and the join enumerates what a self-join would: each owned
//! member against its conversation. The arrangement's accumulated
//! difference *is* the count, so no reduce (and no second copy of ~12M
//! pairs) is needed. Every pair lives on exactly one worker, as a pair
//! keyed by its hash would: reads and the heavy-pair index read each
//! worker's pairs and need nothing else.

use crate::intern::Id;
use crate::memberships::MembershipTrace;
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{KeyBatcher, KeySpine, ValBatcher, ValSpine};
use differential_dataflow::Hashable;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::vec::Broadcast;

/// The arranged view: key = pair of ids, accumulated diff = count.
pub type CooccurrenceTrace = TraceAgent<KeySpine<(Id, Id), Time, Diff>>;

/// Memberships (conversation → entity) arranged on this worker.
type LocalMembers = TraceAgent<ValSpine<Id, Id, Time, Diff>>;

/// Computes the view from the memberships.
pub fn entity_cooccurrence<'s>(
    members: Arranged<'s, MembershipTrace>,
) -> Arranged<'s, CooccurrenceTrace> {
    let changes = members.as_collection(|conv, entity| (*conv, *entity)).inner;
    let by_entity = Exchange::new(|((_, entity), _, _): &((Id, Id), Time, Diff)| entity.hashed());
    let owned: Arranged<'s, LocalMembers> = arrange_core(
        changes.clone(),
        by_entity,
        "owned_memberships",
        ValBatcher::new,
    );
    let all: Arranged<'s, LocalMembers> = arrange_core(
        changes.broadcast(),
        Pipeline,
        "all_memberships",
        ValBatcher::new,
    );
    let pairs = owned
        .join_core(all, |_conv, a, b| a.precedes(*b).then_some(((*a, *b), ())))
        .inner;
    arrange_core(pairs, Pipeline, "entity_cooccurrence", KeyBatcher::new)
}
