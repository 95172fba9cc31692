//! `Multiset`: the sorted multiset of values a keyed view keeps per key.
//!
//! A `BTreeMap<V, Diff>` costs about twice its entries' bytes (leaves of
//! eleven slots, half full when values arrive in order), and a whole leaf
//! for a key with one value. This keeps the values in two sorted vectors
//! instead: a long run of exact capacity, and a short one (at most about
//! √n entries) of values the run lacks, which new values are inserted into
//! and which is merged into the run when it outgrows that bound. An insert
//! costs O(√n) element moves, amortised; a lookup O(log n); reading the
//! values in order (either way) merges the two runs as it goes.

use crate::Diff;

/// A multiset of `V`s with their multiplicities (never zero when read).
#[derive(Clone, Debug)]
pub struct Multiset<V> {
    /// Sorted by value, distinct; a count may be zero (dropped at the next
    /// merge, skipped when read).
    run: Vec<(V, Diff)>,
    /// How many counts in `run` are zero.
    zeros: usize,
    /// Sorted, distinct, nonzero, and none of them in `run`.
    recent: Vec<(V, Diff)>,
}

impl<V> Default for Multiset<V> {
    fn default() -> Self {
        Multiset {
            run: Vec::new(),
            zeros: 0,
            recent: Vec::new(),
        }
    }
}

/// Most entries `recent` holds beside a run of `n` before they are merged.
fn recent_limit(n: usize) -> usize {
    n.isqrt().max(16)
}

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
        if let Ok(i) = self.run.binary_search_by(|(v, _)| v.cmp(&value)) {
            let count = &mut self.run[i].1;
            let was_zero = *count == 0;
            *count += diff;
            match (was_zero, *count == 0) {
                (true, false) => self.zeros -= 1,
                (false, true) => self.zeros += 1,
                _ => {}
            }
            if self.zeros > recent_limit(self.run.len()) {
                self.merge();
            }
            return;
        }
        match self.recent.binary_search_by(|(v, _)| v.cmp(&value)) {
            Ok(i) => {
                self.recent[i].1 += diff;
                if self.recent[i].1 == 0 {
                    self.recent.remove(i);
                }
            }
            Err(i) => {
                self.recent.insert(i, (value, diff));
                if self.recent.len() > recent_limit(self.run.len()) {
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

    /// Stores a small multiset compactly (one vector of exact capacity);
    /// a large one is left as it is. For when a burst of changes is done.
    pub fn settle(&mut self) {
        if !self.recent.is_empty() && self.run.len() + self.recent.len() <= 32 {
            self.merge();
        }
    }

    /// The multiplicity of `value` (zero if absent).
    pub fn get(&self, value: &V) -> Diff {
        let count = |part: &[(V, Diff)]| {
            part.binary_search_by(|(v, _)| v.cmp(value))
                .map_or(0, |i| part[i].1)
        };
        count(&self.run) + count(&self.recent)
    }

    /// The values below `bound`, in order.
    pub fn below(&self, bound: &V) -> Iter<'_, V> {
        let cut = |part: &[(V, Diff)]| part.partition_point(|(v, _)| v < bound);
        Iter {
            run: &self.run[..cut(&self.run)],
            recent: &self.recent[..cut(&self.recent)],
        }
    }
}

impl<V> Multiset<V> {
    /// The values with their multiplicities, in order (either way).
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            run: &self.run,
            recent: &self.recent,
        }
    }

    /// The least value.
    pub fn first(&self) -> Option<(&V, Diff)>
    where
        V: Ord,
    {
        self.iter().next()
    }

    /// The greatest value.
    pub fn last(&self) -> Option<(&V, Diff)>
    where
        V: Ord,
    {
        self.iter().next_back()
    }

    /// The values themselves, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V>
    where
        V: Ord,
    {
        self.iter().map(|(v, _)| v)
    }

    /// The multiplicities, in the values' order.
    pub fn counts(&self) -> impl DoubleEndedIterator<Item = Diff> + '_
    where
        V: Ord,
    {
        self.iter().map(|(_, d)| d)
    }

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
#[derive(Clone, Debug)]
pub struct Iter<'a, V> {
    run: &'a [(V, Diff)],
    recent: &'a [(V, Diff)],
}

impl<'a, V: Ord> Iter<'a, V> {
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
        let end = |part: &'a [(V, Diff)]| {
            if from_front {
                part.first()
            } else {
                part.last()
            }
        };
        // The two parts hold distinct values.
        let take_run = match (end(self.run), end(self.recent)) {
            (Some(a), Some(b)) => (a.0 < b.0) == from_front,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let part = if take_run {
            &mut self.run
        } else {
            &mut self.recent
        };
        let (item, rest) = if from_front {
            part.split_first()?
        } else {
            part.split_last()?
        };
        *part = rest;
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
                if step % 97 == 0 {
                    set.settle();
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
