//! `Multiset`: the sorted multiset of values a keyed view keeps per key.
//!
//! A `BTreeMap<V, Diff>` costs about twice its entries' bytes (leaves of
//! eleven slots, half full when values arrive in order), and a whole leaf
//! for a key with one value. This keeps the values in a sorted vector
//! instead, grown by a quarter at a time: a small multiset takes its new
//! values into the vector directly; a large one takes them into a map of
//! recent values (O(log n) each), merged into the vector, at exact
//! capacity, once the map holds an eighth as many. Either way the entries
//! cost about 1.25 times their bytes at most, an insert costs O(log n)
//! plus amortised O(1) moves, and reading the values in order (either
//! way) merges the two parts as it goes.

use crate::Diff;
use std::collections::btree_map::{self, Entry};
use std::collections::BTreeMap;

/// A multiset of `V`s with their multiplicities (never zero when read).
#[derive(Clone, Debug)]
pub struct Multiset<V> {
    /// Sorted by value, distinct; a count may be zero (dropped at the next
    /// merge, skipped when read).
    run: Vec<(V, Diff)>,
    /// How many counts in `run` are zero.
    zeros: usize,
    /// Nonzero, and none of them in `run`; empty while the run is small.
    recent: BTreeMap<V, Diff>,
}

impl<V> Default for Multiset<V> {
    fn default() -> Self {
        Multiset {
            run: Vec::new(),
            zeros: 0,
            recent: BTreeMap::new(),
        }
    }
}

/// Runs up to this long take new values in place (a shift of at most this
/// many entries).
const SMALL: usize = 64;

impl<V: Ord> Multiset<V> {
    /// An empty multiset.
    pub fn new() -> Self {
        Multiset::default()
    }

    /// Adds `diff` copies of `value` (a negative `diff` removes copies).
    pub fn add(&mut self, value: V, diff: Diff) {
        if diff == 0 {
            return;
        }
        let at = self.run.binary_search_by(|(v, _)| v.cmp(&value));
        match at {
            Ok(i) => {
                let count = &mut self.run[i].1;
                let was_zero = *count == 0;
                *count += diff;
                match (was_zero, *count == 0) {
                    // A small run drops the value at once; a large one
                    // leaves a zero for the next merge.
                    (false, true) if self.run.len() <= SMALL => {
                        self.run.remove(i);
                    }
                    (false, true) => self.zeros += 1,
                    (true, false) => self.zeros -= 1,
                    _ => {}
                }
                if self.zeros > self.run.len() / 8 {
                    self.merge();
                }
            }
            Err(i) if self.recent.is_empty() && self.run.len() < SMALL => {
                if self.run.len() == self.run.capacity() {
                    self.run.reserve_exact((self.run.len() / 4).max(1));
                }
                self.run.insert(i, (value, diff));
            }
            Err(_) => {
                match self.recent.entry(value) {
                    Entry::Occupied(mut count) => {
                        *count.get_mut() += diff;
                        if *count.get() == 0 {
                            count.remove();
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(diff);
                    }
                }
                if self.recent.len() > self.run.len() / 8 {
                    self.merge();
                }
            }
        }
    }

    /// Merges `recent` into the run, dropping zero counts; the new run has
    /// exact capacity.
    fn merge(&mut self) {
        let run = std::mem::take(&mut self.run);
        let recent = std::mem::take(&mut self.recent);
        let mut merged = Vec::with_capacity(run.len() - self.zeros + recent.len());
        let mut run = run.into_iter().filter(|(_, d)| *d != 0).peekable();
        let mut recent = recent.into_iter().peekable();
        loop {
            let take_run = match (run.peek(), recent.peek()) {
                (Some(a), Some(b)) => a.0 < b.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_run { run.next() } else { recent.next() };
            merged.extend(next);
        }
        self.run = merged;
        self.zeros = 0;
    }

    /// The multiplicity of `value` (zero if absent).
    pub fn get(&self, value: &V) -> Diff {
        let in_run = self
            .run
            .binary_search_by(|(v, _)| v.cmp(value))
            .map_or(0, |i| self.run[i].1);
        in_run + self.recent.get(value).copied().unwrap_or(0)
    }

    /// The values below `bound`, in order.
    pub fn below(&self, bound: &V) -> Iter<'_, V> {
        let cut = self.run.partition_point(|(v, _)| v < bound);
        Iter::new(&self.run[..cut], self.recent.range(..bound))
    }

    /// The values with their multiplicities, in order (either way).
    pub fn iter(&self) -> Iter<'_, V> {
        Iter::new(&self.run, self.recent.range(..))
    }

    /// The least value.
    pub fn first(&self) -> Option<(&V, Diff)> {
        self.iter().next()
    }

    /// The greatest value.
    pub fn last(&self) -> Option<(&V, Diff)> {
        self.iter().next_back()
    }

    /// The values themselves, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(v, _)| v)
    }

    /// The multiplicities, in the values' order.
    pub fn counts(&self) -> impl DoubleEndedIterator<Item = Diff> + '_ {
        self.iter().map(|(_, d)| d)
    }
}

impl<V> Multiset<V> {
    /// How many distinct values it holds.
    pub fn len(&self) -> usize {
        self.run.len() - self.zeros + self.recent.len()
    }

    /// True when it holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<V: Ord> FromIterator<(V, Diff)> for Multiset<V> {
    fn from_iter<I: IntoIterator<Item = (V, Diff)>>(iter: I) -> Self {
        let mut set = Multiset::new();
        for (value, diff) in iter {
            set.add(value, diff);
        }
        set
    }
}

impl<V: Ord, const N: usize> From<[(V, Diff); N]> for Multiset<V> {
    fn from(items: [(V, Diff); N]) -> Self {
        items.into_iter().collect()
    }
}

/// The values of a [`Multiset`] with their multiplicities, in order.
pub struct Iter<'a, V> {
    run: &'a [(V, Diff)],
    recent: btree_map::Range<'a, V, Diff>,
    /// Entries of `recent` taken from either end but not yet returned.
    recent_front: Option<(&'a V, &'a Diff)>,
    recent_back: Option<(&'a V, &'a Diff)>,
}

impl<'a, V: Ord> Iter<'a, V> {
    fn new(run: &'a [(V, Diff)], recent: btree_map::Range<'a, V, Diff>) -> Self {
        Iter {
            run,
            recent,
            recent_front: None,
            recent_back: None,
        }
    }

    /// The least (`from_front`) or greatest entry of `recent` left, kept
    /// aside until returned.
    fn recent_end(&mut self, from_front: bool) -> Option<(&'a V, &'a Diff)> {
        if from_front {
            if self.recent_front.is_none() {
                self.recent_front = self.recent.next().or_else(|| self.recent_back.take());
            }
            self.recent_front
        } else {
            if self.recent_back.is_none() {
                self.recent_back = self.recent.next_back().or_else(|| self.recent_front.take());
            }
            self.recent_back
        }
    }

    /// Takes the least (`from_front`) or greatest value left.
    fn take(&mut self, from_front: bool) -> Option<(&'a V, Diff)> {
        // Zero counts wait in the run until a merge drops them: skip them.
        if from_front {
            while let [(_, 0), rest @ ..] = self.run {
                self.run = rest;
            }
        } else {
            while let [rest @ .., (_, 0)] = self.run {
                self.run = rest;
            }
        }
        let run_end = if from_front {
            self.run.first()
        } else {
            self.run.last()
        };
        // The two parts hold distinct values.
        let take_run = match (run_end, self.recent_end(from_front)) {
            (Some(a), Some(b)) => (a.0 < *b.0) == from_front,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if !take_run {
            let taken = if from_front {
                self.recent_front.take()
            } else {
                self.recent_back.take()
            };
            return taken.map(|(v, d)| (v, *d));
        }
        let (item, rest) = if from_front {
            self.run.split_first()?
        } else {
            self.run.split_last()?
        };
        self.run = rest;
        Some((&item.0, item.1))
    }
}

impl<'a, V: Ord> Iterator for Iter<'a, V> {
    type Item = (&'a V, Diff);

    fn next(&mut self) -> Option<Self::Item> {
        self.take(true)
    }
}

impl<V: Ord> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.take(false)
    }
}

#[cfg(test)]
mod tests {
    use super::Multiset;
    use crate::Diff;
    use std::collections::BTreeMap;

    /// A small deterministic generator (xorshift), so that failures repeat.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn check(set: &Multiset<u64>, model: &BTreeMap<u64, Diff>, probes: &[u64]) {
        let forward: Vec<(u64, Diff)> = set.iter().map(|(v, d)| (*v, d)).collect();
        let expected: Vec<(u64, Diff)> = model.iter().map(|(v, d)| (*v, *d)).collect();
        assert_eq!(forward, expected);
        let mut backward: Vec<(u64, Diff)> = set.iter().rev().map(|(v, d)| (*v, d)).collect();
        backward.reverse();
        assert_eq!(backward, expected);
        assert_eq!(set.len(), model.len());
        assert_eq!(set.is_empty(), model.is_empty());
        // Taken from both ends at once, alternately.
        let (mut it, mut front, mut back) = (set.iter(), Vec::new(), Vec::new());
        for i in 0.. {
            let next = if i % 2 == 0 {
                it.next()
            } else {
                it.next_back()
            };
            match (next, i % 2) {
                (Some((v, d)), 0) => front.push((*v, d)),
                (Some((v, d)), _) => back.push((*v, d)),
                (None, _) => break,
            }
        }
        front.extend(back.into_iter().rev());
        assert_eq!(front, expected);
        assert_eq!(set.first().map(|(v, d)| (*v, d)), expected.first().copied());
        assert_eq!(set.last().map(|(v, d)| (*v, d)), expected.last().copied());
        for p in probes {
            assert_eq!(set.get(p), model.get(p).copied().unwrap_or(0), "get {p}");
            let below: Vec<u64> = set.below(p).map(|(v, _)| *v).collect();
            let model_below: Vec<u64> = model.range(..p).map(|(v, _)| *v).collect();
            assert_eq!(below, model_below, "below {p}");
            assert_eq!(
                set.below(p).next_back().map(|(v, _)| *v),
                model_below.last().copied()
            );
        }
    }

    #[test]
    fn reads_as_a_btreemap_of_the_same_changes_would() {
        // Ranges small and large (so values repeat, cancel and re-appear,
        // and runs grow past several merges), with reads mixed in.
        for (seed, range, steps) in [(1, 8, 400), (7, 200, 3_000), (42, 5_000, 20_000)] {
            let mut rng = Rng(seed);
            let mut set = Multiset::new();
            let mut model: BTreeMap<u64, Diff> = BTreeMap::new();
            for step in 0..steps {
                let value = rng.below(range);
                // Mostly inserts, some removals of present values, some no-ops.
                let diff = match rng.below(10) {
                    0..=5 => 1,
                    6 => 2,
                    7 | 8 => -model.get(&value).copied().unwrap_or(1).signum(),
                    _ => 0,
                };
                set.add(value, diff);
                let count = model.entry(value).or_insert(0);
                *count += diff;
                if *count == 0 {
                    model.remove(&value);
                }
                if step % 251 == 0 || step == steps - 1 {
                    let probes: Vec<u64> = (0..8).map(|_| rng.below(range + 2)).collect();
                    check(&set, &model, &probes);
                }
            }
        }
    }

    #[test]
    fn emptied_values_vanish_from_every_read() {
        let mut set: Multiset<u32> = (0..100).map(|v| (v, 1)).collect();
        for v in (0..100).filter(|v| v % 3 != 0) {
            set.add(v, -1);
        }
        let left: Vec<u32> = set.values().copied().collect();
        assert_eq!(left, (0..100).filter(|v| v % 3 == 0).collect::<Vec<_>>());
        assert_eq!(set.counts().sum::<Diff>(), 34);
        for v in (0..100).filter(|v| v % 3 == 0) {
            set.add(v, -1);
        }
        assert!(set.is_empty());
        assert_eq!(set.first(), None);
        assert_eq!(set.iter().next_back(), None);
    }
}
