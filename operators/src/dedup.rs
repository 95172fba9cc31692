//! `dedup`: drops at-least-once duplicates by idempotency key, and resolves
//! conflicting payloads under one key by an order-independent rule.
//!
//! Rule: among the events that share a key, the engine keeps the one with the
//! greatest `ts`, then the greatest payload fingerprint (xxh3 of every decoded
//! field). Identical payloads are plain duplicates. Every event dropped counts
//! as a duplicate; a dropped event whose payload differs from the kept one
//! also counts as a conflict. Both counts depend only on the set of events.
//!
//! The text of a kept message goes to the [`ContentStore`] here, once per
//! kept payload: duplicates that lose are never stored.
//!
//! The operator processes timestamps in order (a time's candidates as they
//! arrive, once every earlier time is complete: the rule's outcome and both
//! counts do not depend on the order within a time), so a replaced winner
//! is retracted at the time its replacement arrives: every consistent
//! snapshot holds exactly one event per key.

use crate::content::ContentStore;
use crate::facts::{Candidate, DedupRoute, HoldsText};
use crate::in_time_order::in_time_order;
use crate::{Diff, Time};
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::StreamVec;

/// Counters shared by the dedup operators of all workers.
#[derive(Debug, Default)]
pub struct DedupStats {
    /// Valid events dropped because their key was already present.
    pub duplicates: AtomicU64,
    /// Of those, the ones whose payload differed from the kept event.
    pub conflicts: AtomicU64,
    /// Distinct keys kept.
    pub kept: AtomicU64,
}

/// How an event compares with the one kept under its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Same payload: a plain duplicate.
    Duplicate,
    /// A different payload that wins by the rule: it replaces the kept one.
    Replaces,
    /// A different payload that loses by the rule.
    Loses,
}

/// The dedup rule for `(ts, fingerprint)` against the kept event's.
pub fn verdict(kept: (i64, u64), candidate: (i64, u64)) -> Verdict {
    if kept.1 == candidate.1 {
        Verdict::Duplicate
    } else if candidate > kept {
        Verdict::Replaces
    } else {
        Verdict::Loses
    }
}

/// What dedup keeps per key: the kept event's rule fields and its fact.
struct Kept<F> {
    ts: i64,
    fingerprint: u64,
    copies: u64,
    fact: F,
}

/// Kept records by slot, in chunks of [`CHUNK`]: the key map holds only a
/// slot per key (a hash map's buckets outnumber its keys, up to twice
/// right after it grows, so they should be small), and growing never
/// copies what is kept nor leaves more than one chunk's room unused (a
/// vector doubling would leave up to half of it).
struct Records<F> {
    chunks: Vec<Vec<Kept<F>>>,
    /// Records kept (the next slot).
    len: usize,
}

/// Records per chunk.
const CHUNK: usize = 4096;

impl<F> Records<F> {
    fn new() -> Self {
        Records {
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// Keeps `record`, returning its slot.
    fn push(&mut self, record: Kept<F>) -> usize {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(record),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(record);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        self.len - 1
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Kept<F>> {
        self.chunks.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }
}

/// Deduplicates a stream of candidates into a collection of facts.
pub fn dedup_named<'scope, F>(
    candidates: StreamVec<'scope, Time, Candidate<F>>,
    name: &str,
    stats: Arc<DedupStats>,
    texts: Option<ContentStore>,
) -> VecCollection<'scope, Time, F, Diff>
where
    F: ExchangeData + HoldsText + DedupRoute,
{
    // The fact to keep, its text stored (when a store is given).
    let keep = move |c: Candidate<F>| {
        let mut fact = c.fact;
        if let (Some(text), Some(texts)) = (c.text, texts.as_ref()) {
            fact.stored_at(texts.put(&text));
        }
        fact
    };
    let exchange = Exchange::new(|c: &Candidate<F>| c.fact.dedup_route(c.key));
    // The digest is already a hash; foldhash only spreads it (std's
    // SipHash cost ~4% of a replay here), seeded per process.
    let mut slots: HashMap<u128, usize, foldhash::fast::RandomState> = HashMap::default();
    let mut records: Records<F> = Records::new();
    in_time_order(
        candidates,
        exchange,
        name,
        |_, at| at,
        move |time, batch, _complete, output| {
            let (mut dups, mut conflicts, mut new_keys) = (0, 0, 0);
            for c in batch {
                match slots.entry(c.key.0) {
                    Entry::Vacant(v) => {
                        new_keys += 1;
                        let (ts, fingerprint) = (c.ts, c.fingerprint);
                        let fact = keep(c);
                        output.push((fact.clone(), time, 1));
                        v.insert(records.push(Kept {
                            ts,
                            fingerprint,
                            copies: 1,
                            fact,
                        }));
                    }
                    Entry::Occupied(o) => {
                        dups += 1;
                        // Every slot in the map was returned by `push`.
                        let Some(k) = records.get_mut(*o.get()) else {
                            continue;
                        };
                        match verdict((k.ts, k.fingerprint), (c.ts, c.fingerprint)) {
                            Verdict::Duplicate => k.copies += 1,
                            Verdict::Replaces => {
                                conflicts += k.copies;
                                k.ts = c.ts;
                                k.fingerprint = c.fingerprint;
                                k.copies = 1;
                                let fact = keep(c);
                                let old = std::mem::replace(&mut k.fact, fact.clone());
                                output.push((old, time, -1));
                                output.push((fact, time, 1));
                            }
                            Verdict::Loses => conflicts += 1,
                        }
                    }
                }
            }
            stats.duplicates.fetch_add(dups, Ordering::Relaxed);
            stats.conflicts.fetch_add(conflicts, Ordering::Relaxed);
            stats.kept.fetch_add(new_keys, Ordering::Relaxed);
        },
    )
    .as_collection()
}

#[cfg(test)]
mod tests {
    use super::{Kept, Records, CHUNK};

    #[test]
    fn records_keep_their_slots_across_chunks() {
        let mut records = Records::new();
        let record = |n: u64| Kept {
            ts: n as i64,
            fingerprint: n,
            copies: 1,
            fact: n,
        };
        let n = 2 * CHUNK as u64 + 3;
        let slots: Vec<usize> = (0..n).map(|i| records.push(record(i))).collect();
        assert_eq!(slots, (0..n as usize).collect::<Vec<_>>());
        assert_eq!(records.chunks.len(), 3);
        assert!(records.chunks.iter().all(|c| c.capacity() == CHUNK));
        for (i, slot) in slots.iter().enumerate() {
            let kept = records.get_mut(*slot).map(|k| k.fact);
            assert_eq!(kept, Some(i as u64));
        }
        assert!(records.get_mut(n as usize).is_none());
    }
}
