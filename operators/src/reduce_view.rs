//! `reduce_view`: the one reduce shape every keyed view uses — compute each
//! key's row(s) from all its values, and keep the output arranged so the
//! API and sinks can read it.
//!
//! The values of each key live in the operator as a sorted [`Multiset`]. Times
//! go in order; a time's updates are folded into the multisets as they
//! arrive (once every earlier time is complete), and when the time is
//! complete the keys it touched are recomputed from their multisets and
//! only changed rows leave the operator, as a retraction of the old row and
//! an insertion of the new one. This is differential's `reduce` for a totally ordered time, minus
//! its per-key history replay over an input arrangement: the same results
//! (the logic sees the same sorted, consolidated values), at a fraction of
//! the cost per epoch (docs/benchmarks.md).

use crate::in_time_order::in_time_order;
use crate::multiset::Multiset;
use crate::{Diff, Time};
use differential_dataflow::consolidation::consolidate;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::{AsCollection, ExchangeData, Hashable, VecCollection};
use std::collections::HashMap;
use std::hash::Hash;
use timely::dataflow::channels::pact::Exchange;

/// A view arranged by key with one row value per key.
pub type ViewTrace<K, V> = TraceAgent<ValSpine<K, V, Time, Diff>>;

/// What a keyed reduce keeps of one key's values. [`Multiset`] keeps them
/// all (for logic that must see them); an aggregate that can take values
/// in and out (counts, integer sums, exact `f64` sums, a multiset of one
/// field) keeps only what its rows need, so a time costs what it changed
/// rather than what the key holds.
pub trait KeyState<V>: Default + 'static {
    /// Takes `diff` copies of `value` in (a negative `diff` takes them out).
    fn add(&mut self, value: V, diff: Diff);
    /// True when the key holds no value (its state can be dropped).
    fn is_empty(&self) -> bool;
}

impl<V: Ord + 'static> KeyState<V> for Multiset<V> {
    fn add(&mut self, value: V, diff: Diff) {
        Multiset::add(self, value, diff);
    }

    fn is_empty(&self) -> bool {
        Multiset::is_empty(self)
    }
}

/// One key's state, the rows last emitted for it, and whether the current
/// time has touched it.
struct Group<S, R> {
    values: S,
    rows: Vec<(R, Diff)>,
    touched: bool,
}

impl<S: Default, R> Default for Group<S, R> {
    fn default() -> Self {
        Group {
            values: S::default(),
            rows: Vec::new(),
            touched: false,
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
    reduce_view_core(input, name, move |key, values, rows| {
        let values: Vec<(&V, Diff)> = values.iter().collect();
        logic(key, &values, rows);
    })
}

/// [`reduce_view`] whose logic reads the key's multiset itself (never
/// empty): logic that needs only its ends or a few entries costs O(log n)
/// per touched key instead of O(n).
pub fn reduce_view_core<'s, K, V, R, L>(
    input: VecCollection<'s, Time, (K, V), Diff>,
    name: &str,
    logic: L,
) -> Arranged<'s, ViewTrace<K, R>>
where
    K: ExchangeData + Hashable + Hash,
    V: ExchangeData,
    R: ExchangeData,
    L: FnMut(&K, &Multiset<V>, &mut Vec<(R, Diff)>) + 'static,
{
    reduce_state_view(input, name, logic)
}

/// The reduce of [`reduce_view_core`] without the arrangement: the changes
/// of each key's rows, for a further step (a join, another reduce) rather
/// than a view.
pub fn reduce_changes<'s, K, V, R, L>(
    input: VecCollection<'s, Time, (K, V), Diff>,
    name: &str,
    logic: L,
) -> VecCollection<'s, Time, (K, R), Diff>
where
    K: ExchangeData + Hashable + Hash,
    V: ExchangeData,
    R: ExchangeData,
    L: FnMut(&K, &Multiset<V>, &mut Vec<(R, Diff)>) + 'static,
{
    reduce_state(input, name, logic)
}

/// [`reduce_view`] over a [`KeyState`] of each key instead of all its
/// values: the logic reads the state.
pub fn reduce_state_view<'s, K, V, S, R, L>(
    input: VecCollection<'s, Time, (K, V), Diff>,
    name: &str,
    logic: L,
) -> Arranged<'s, ViewTrace<K, R>>
where
    K: ExchangeData + Hashable + Hash,
    V: ExchangeData,
    S: KeyState<V>,
    R: ExchangeData,
    L: FnMut(&K, &S, &mut Vec<(R, Diff)>) + 'static,
{
    reduce_state(input, name, logic).arrange_by_key_named(name)
}

/// The reduce every keyed view shares (see the module doc), over each key's
/// [`KeyState`].
pub fn reduce_state<'s, K, V, S, R, L>(
    input: VecCollection<'s, Time, (K, V), Diff>,
    name: &str,
    mut logic: L,
) -> VecCollection<'s, Time, (K, R), Diff>
where
    K: ExchangeData + Hashable + Hash,
    V: ExchangeData,
    S: KeyState<V>,
    R: ExchangeData,
    L: FnMut(&K, &S, &mut Vec<(R, Diff)>) + 'static,
{
    let by_key = Exchange::new(|((k, _), _, _): &((K, V), Time, Diff)| k.hashed().into());
    let mut groups: HashMap<K, Group<S, R>, foldhash::fast::RandomState> = HashMap::default();
    // Keys the current time has touched so far (each once).
    let mut touched: Vec<K> = Vec::new();
    let mut rows: Vec<(R, Diff)> = Vec::new();
    // Old rows retracted plus new rows, consolidated: only what changed.
    let mut changes: Vec<(R, Diff)> = Vec::new();
    in_time_order(
        input.inner,
        by_key,
        name,
        |(_, time, _), _| *time,
        move |time, batch, complete, output| {
            // Each part is folded into its keys' multisets at once (every
            // earlier time is complete), so nothing waits stashed.
            for ((key, value), _, diff) in batch {
                match groups.get_mut(&key) {
                    Some(group) => {
                        if !group.touched {
                            group.touched = true;
                            touched.push(key.clone());
                        }
                        group.values.add(value, diff);
                    }
                    None => {
                        let mut group: Group<S, R> = Group {
                            touched: true,
                            ..Group::default()
                        };
                        group.values.add(value, diff);
                        touched.push(key.clone());
                        groups.insert(key, group);
                    }
                }
            }
            if !complete {
                return;
            }
            // The time is complete: recompute the keys it touched.
            for key in touched.drain(..) {
                let Some(group) = groups.get_mut(&key) else {
                    continue;
                };
                group.touched = false;
                rows.clear();
                if !group.values.is_empty() {
                    logic(&key, &group.values, &mut rows);
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
                    // The old rows were drained: keep the new ones, no copy.
                    std::mem::swap(&mut group.rows, &mut rows);
                }
                if group.values.is_empty() && group.rows.is_empty() {
                    groups.remove(&key);
                }
            }
        },
    )
    .as_collection()
}

#[cfg(test)]
mod tests {
    use super::reduce_view;
    use crate::{Diff, Time};
    use differential_dataflow::input::Input;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use timely::dataflow::operators::probe::Handle as ProbeHandle;
    use timely::dataflow::operators::{Inspect, Probe};

    type Update = ((u32, u32), Time, Diff);

    /// Accumulates `updates` up to `time` into a map of nonzero counts.
    fn accumulate(updates: &[Update], time: Time) -> BTreeMap<(u32, u32), Diff> {
        let mut acc = BTreeMap::new();
        for (data, _, d) in updates.iter().filter(|(_, t, _)| *t <= time) {
            *acc.entry(*data).or_insert(0) += d;
        }
        acc.retain(|_, d| *d != 0);
        acc
    }

    #[test]
    fn output_at_every_time_is_the_logic_over_the_values_so_far() {
        // (key, value): values added, retracted and re-added across times,
        // a key that appears and vanishes within one time, multiplicities.
        let input: Vec<Update> = vec![
            ((1, 10), 0, 1),
            ((1, 11), 0, 1),
            ((2, 5), 0, 2),
            ((1, 10), 1, -1),
            ((1, 12), 1, 1),
            ((2, 5), 2, -2),
            ((1, 10), 2, 1),
            ((3, 7), 3, 1),
            ((3, 7), 3, -1),
            ((2, 6), 3, 1),
        ];
        let seen: Arc<Mutex<Vec<Update>>> = Arc::default();
        let (feed, out) = (input.clone(), Arc::clone(&seen));
        timely::execute_directly(move |worker| {
            let probe = ProbeHandle::new();
            let mut session = worker.dataflow::<Time, _, _>(|scope| {
                let (session, values) = scope.new_collection::<(u32, u32), Diff>();
                // Rows: each distinct value present, and 1000 + the key's count.
                reduce_view(values, "test", |_key, vals, rows| {
                    rows.extend(vals.iter().map(|(v, _)| (u64::from(**v), 1)));
                    rows.push((1000 + vals.iter().map(|(_, d)| *d as u64).sum::<u64>(), 1));
                })
                .as_collection(|k, v| (*k, *v as u32))
                .inner
                .inspect(move |u| out.lock().unwrap().push(*u))
                .probe_with(&probe);
                session
            });
            for time in 0..4 {
                for (data, _, diff) in feed.iter().filter(|(_, t, _)| *t == time) {
                    session.update_at(*data, time, *diff);
                }
                session.advance_to(time + 1);
                session.flush();
                while probe.less_than(&(time + 1)) {
                    worker.step();
                }
            }
        });
        let output = seen.lock().unwrap().clone();
        for time in 0..4 {
            let mut expected = BTreeMap::new();
            let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
            for ((key, value), d) in accumulate(&input, time) {
                expected.insert((key, value), 1);
                *counts.entry(key).or_default() += d as u64;
            }
            for (key, count) in counts {
                expected.insert((key, 1000 + count as u32), 1);
            }
            assert_eq!(accumulate(&output, time), expected, "at time {time}");
        }
    }

    #[test]
    fn a_time_arriving_in_parts_is_reduced_once_when_complete() {
        // Time 0's values arrive in two parts with the worker stepped in
        // between (the frontier stays at 0, so the first part is handed over
        // before the time completes); the rows must be computed once, from
        // both parts: no row of the first part alone may leave.
        let seen: Arc<Mutex<Vec<Update>>> = Arc::default();
        let out = Arc::clone(&seen);
        timely::execute_directly(move |worker| {
            let probe = ProbeHandle::new();
            let mut session = worker.dataflow::<Time, _, _>(|scope| {
                let (session, values) = scope.new_collection::<(u32, u32), Diff>();
                // One row per key: its values' sum.
                reduce_view(values, "test", |_key, vals: &[(&u32, Diff)], rows| {
                    let sum: u64 = vals.iter().map(|(v, d)| u64::from(**v) * *d as u64).sum();
                    rows.push((sum, 1));
                })
                .as_collection(|k, v| (*k, *v as u32))
                .inner
                .inspect(move |u| out.lock().unwrap().push(*u))
                .probe_with(&probe);
                session
            });
            for part in [[(1, 10), (2, 5)], [(1, 11), (3, 7)]] {
                for data in part {
                    session.update_at(data, 0, 1);
                }
                session.flush();
                for _ in 0..10 {
                    worker.step();
                }
            }
            session.advance_to(1);
            session.flush();
            while probe.less_than(&1) {
                worker.step();
            }
        });
        let mut output = seen.lock().unwrap().clone();
        output.sort_unstable();
        assert_eq!(
            output,
            vec![((1, 21), 0, 1), ((2, 5), 0, 1), ((3, 7), 0, 1)]
        );
    }
}
