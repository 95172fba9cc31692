//! `reduce_view`: the one reduce shape every keyed view uses — compute each
//! key's row(s) from all its values, and keep the output arranged so the
//! API and sinks can read it.
//!
//! The values of each key live in the operator as a sorted multiset. At
//! each complete time, in time order, the keys the time touched are
//! recomputed from their multisets and only changed rows leave the
//! operator, as a retraction of the old row and an insertion of the new
//! one. This is differential's `reduce` for a totally ordered time, minus
//! its per-key history replay over an input arrangement: the same results
//! (the logic sees the same sorted, consolidated values), at a fraction of
//! the cost per epoch (docs/benchmarks.md).

use crate::in_time_order::in_time_order;
use crate::{Diff, Time};
use differential_dataflow::consolidation::consolidate;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::{AsCollection, ExchangeData, Hashable, VecCollection};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use timely::dataflow::channels::pact::Exchange;

/// A view arranged by key with one row value per key.
pub type ViewTrace<K, V> = TraceAgent<ValSpine<K, V, Time, Diff>>;

/// One key's values (with multiplicities) and the rows last emitted for it.
struct Group<V, R> {
    values: BTreeMap<V, Diff>,
    rows: Vec<(R, Diff)>,
}

impl<V, R> Default for Group<V, R> {
    fn default() -> Self {
        Group {
            values: BTreeMap::new(),
            rows: Vec::new(),
        }
    }
}

/// Reduces each key's values (sorted, with multiplicities) to output rows.
pub fn reduce_view<'s, K, V, R, L>(
    input: VecCollection<'s, Time, (K, V), Diff>,
    name: &str,
    mut logic: L,
) -> Arranged<'s, ViewTrace<K, R>>
where
    K: ExchangeData + Hashable + Hash,
    V: ExchangeData,
    R: ExchangeData,
    L: FnMut(&K, &[(&V, Diff)], &mut Vec<(R, Diff)>) + 'static,
{
    let by_key = Exchange::new(|((k, _), _, _): &((K, V), Time, Diff)| k.hashed().into());
    let mut groups: HashMap<K, Group<V, R>> = HashMap::new();
    let mut rows: Vec<(R, Diff)> = Vec::new();
    // Old rows retracted plus new rows, consolidated: only what changed.
    let mut changes: Vec<(R, Diff)> = Vec::new();
    in_time_order(
        input.inner,
        by_key,
        name,
        |(_, time, _), _| *time,
        move |time, mut batch, output| {
            batch.sort_unstable_by(|a, b| a.0 .0.cmp(&b.0 .0));
            let mut batch = batch.into_iter().peekable();
            while let Some(((key, value), _, diff)) = batch.next() {
                let group = groups.entry(key.clone()).or_default();
                add(&mut group.values, value, diff);
                while let Some(((_, value), _, diff)) =
                    batch.next_if(|((next, _), _, _)| *next == key)
                {
                    add(&mut group.values, value, diff);
                }
                rows.clear();
                if !group.values.is_empty() {
                    let values: Vec<(&V, Diff)> =
                        group.values.iter().map(|(v, d)| (v, *d)).collect();
                    logic(&key, &values, &mut rows);
                    consolidate(&mut rows);
                }
                if rows != group.rows {
                    changes.clear();
                    changes.extend(group.rows.drain(..).map(|(row, diff)| (row, -diff)));
                    changes.extend(rows.iter().cloned());
                    consolidate(&mut changes);
                    output.extend(
                        changes
                            .drain(..)
                            .map(|(row, diff)| ((key.clone(), row), time, diff)),
                    );
                    group.rows.clone_from(&rows);
                }
                if group.values.is_empty() && group.rows.is_empty() {
                    groups.remove(&key);
                }
            }
        },
    )
    .as_collection()
    .arrange_by_key_named(name)
}

/// Adds `diff` copies of `value` to a multiset (dropping it at zero).
fn add<V: Ord>(values: &mut BTreeMap<V, Diff>, value: V, diff: Diff) {
    match values.entry(value) {
        Entry::Occupied(mut count) => {
            *count.get_mut() += diff;
            if *count.get() == 0 {
                count.remove();
            }
        }
        Entry::Vacant(slot) => {
            if diff != 0 {
                slot.insert(diff);
            }
        }
    }
}
