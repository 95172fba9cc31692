//! `entity_cooccurrence`: for each unordered entity pair, the number of
//! distinct conversations that mention both.
//!
//! A self-join of the memberships produces one pair incidence per
//! conversation, and an arrangement of the pairs consolidates them: the
//! arrangement's accumulated difference *is* the count, so no reduce (and no
//! second copy of ~10M pairs) is needed. Pairs are keyed by the two ids in
//! [`Id::precedes`] order (by number in one process, by string in a
//! cluster, so every process forms the same key); rendering orients them by
//! UTF-8 string order.

use crate::intern::Id;
use crate::memberships::MembershipTrace;
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::KeySpine;

/// The arranged view: key = pair of ids, accumulated diff = count.
pub type CooccurrenceTrace = TraceAgent<KeySpine<(Id, Id), Time, Diff>>;

/// Computes the view from the memberships.
pub fn entity_cooccurrence<'s>(
    members: Arranged<'s, MembershipTrace>,
) -> Arranged<'s, CooccurrenceTrace> {
    members
        .clone()
        .join_core(members, |_conv, a, b| a.precedes(*b).then_some((*a, *b)))
        .arrange_by_self_named("entity_cooccurrence")
}
