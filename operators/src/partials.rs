//! Partial aggregates merged in two levels, for keys that gather many of
//! them (every debate of one stance, every conversation of one role pair).
//!
//! Merging all of a key's partials at every time that touches it costs as
//! much as the key is large. [`fold_buckets`] spreads a key's partials over
//! [`BUCKETS`] buckets by the partial's own hash and merges per bucket; the
//! caller merges the buckets' results. A time then costs one bucket's
//! merge plus one merge of at most [`BUCKETS`] partials.
//!
//! Determinism: a merge folds its partials in their sorted order, and the
//! bucket is a hash of the partial's value, so `f64` sums come out the same
//! bit for bit for any event order, batching or worker count — as long as
//! partials hold no interned [`crate::intern::Id`] (whose value depends on
//! arrival order).

use crate::multiset::Multiset;
use crate::reduce_view::reduce_changes;
use crate::{Diff, Time};
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Buckets per key.
pub const BUCKETS: u64 = 64;

/// A partial aggregate that merges with others of its kind.
pub trait Partial: ExchangeData + Hash {
    /// Merges partials (sorted, each with its multiplicity) into one.
    fn merge(parts: &Multiset<Self>) -> Self;
}

/// The first level: per key, one merged partial per bucket.
pub fn fold_buckets<'s, K, P>(
    parts: VecCollection<'s, Time, (K, P), Diff>,
    name: &str,
) -> VecCollection<'s, Time, (K, P), Diff>
where
    K: ExchangeData + Hashable + Hash,
    P: Partial,
{
    let bucketed = parts.map(|(key, part)| {
        let b = bucket(&part);
        ((key, b), part)
    });
    reduce_changes(bucketed, name, |_, parts, out| {
        out.push((P::merge(parts), 1))
    })
    .map(|((key, _), part)| (key, part))
}

/// A bucket that depends on the value only (`DefaultHasher::new` has fixed
/// keys: the same in every process of one build).
fn bucket<P: Hash>(part: &P) -> u8 {
    let mut h = DefaultHasher::new();
    part.hash(&mut h);
    (h.finish() % BUCKETS) as u8
}

/// The multiplicity of a multiset entry as a count (entries are positive).
pub fn count(d: Diff) -> u64 {
    u64::try_from(d).unwrap_or(0)
}
