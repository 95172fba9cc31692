//! Indexes over `entity_cooccurrence` for the learning queries, which rank
//! pairs by count: how many pairs have each count (a handful of keys), and
//! the pairs counted at least [`HEAVY`] ordered by count, greatest first.
//!
//! Ranking the top pairs then reads a few thousand index entries instead of
//! scanning every pair (11.8M at 1M events); only a question that needs
//! pairs counted below [`HEAVY`] scans the view itself. Both come from one
//! `count_total` over the view's arrangement, which reads the view's own
//! trace (no copy of the pairs) and emits only what changed.

use crate::entity_cooccurrence::CooccurrenceTrace;
use crate::intern::Id;
use crate::reduce_view::ViewTrace;
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::operators::CountTotal;
use differential_dataflow::trace::implementations::KeySpine;

/// Pairs counted at least this much are in the heavy-pair index (the
/// insights' default `min_support`).
pub const HEAVY: Diff = 5;

/// Heavy pairs keyed by `u64::MAX - count`: ascending keys, descending counts.
pub type HeavyPairTrace = ViewTrace<u64, (Id, Id)>;
/// Counts as keys; a key's accumulated difference is how many pairs have it.
pub type CountHistogramTrace = TraceAgent<KeySpine<Diff, Time, Diff>>;

/// The rank key of a count (greatest count first).
pub fn rank_key(count: Diff) -> u64 {
    u64::MAX - u64::try_from(count).unwrap_or(0)
}

/// The count of a rank key.
pub fn count_of(key: u64) -> Diff {
    Diff::try_from(u64::MAX - key).unwrap_or(Diff::MAX)
}

/// Builds both indexes from the view's arrangement.
pub fn pair_ranks<'s>(
    pairs: &Arranged<'s, CooccurrenceTrace>,
) -> (
    Arranged<'s, HeavyPairTrace>,
    Arranged<'s, CountHistogramTrace>,
) {
    let counts = pairs.clone().count_total();
    let heavy = counts
        .clone()
        .filter(|(_, n)| *n >= HEAVY)
        .map(|(pair, n)| (rank_key(n), pair))
        .arrange_by_key_named("heavy_pairs");
    let histogram = counts
        .map(|(_, n)| n)
        .arrange_by_self_named("pair_count_histogram");
    (heavy, histogram)
}
