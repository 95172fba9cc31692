//! `provider_stats`: per (provider, model, hour) call counts, sums and exact
//! nearest-rank latency percentiles.
//!
//! Each key keeps a [`CallStats`], not its calls: counts and integer sums
//! added and taken out, the cost as an exact sum (correctly rounded when
//! read, as Python's `math.fsum`: the same bits for any order of calls),
//! and the latencies as a multiset of distinct values for the ranks. A
//! time then costs the calls it changed plus one pass over the key's
//! distinct latencies, not a pass over every call of the hour.

use crate::facts::{CallFact, OrdF64};
use crate::intern::Id;
use crate::multiset::Multiset;
use crate::partials::count;
use crate::reduce_view::{reduce_state_view, KeyState, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// (provider, model, hour start in ms).
pub type ProviderKey = (Id, Id, Millis);

/// A row of `provider_stats`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProviderRow {
    pub calls: u64,
    pub errors: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: OrdF64,
    pub latency_p50: u32,
    pub latency_p95: u32,
    pub latency_p99: u32,
    pub latency_avg: OrdF64,
}

/// The arranged view.
pub type ProviderTrace = ViewTrace<ProviderKey, ProviderRow>;

/// One call as the reduce sees it: latency, success, tokens in and out, cost.
type CallValue = (u32, bool, u32, u32, OrdF64);

/// What a key keeps of its calls (see the module doc).
#[derive(Default)]
pub struct CallStats {
    calls: Diff,
    errors: Diff,
    tokens_in: i64,
    tokens_out: i64,
    latency_sum: i64,
    cost: fsum::FSum,
    latencies: Multiset<u32>,
}

impl KeyState<CallValue> for CallStats {
    fn add(&mut self, (latency, success, tokens_in, tokens_out, cost): CallValue, diff: Diff) {
        self.calls += diff;
        if !success {
            self.errors += diff;
        }
        let n = diff as i64;
        self.tokens_in += i64::from(tokens_in) * n;
        self.tokens_out += i64::from(tokens_out) * n;
        self.latency_sum += i64::from(latency) * n;
        // Exact: taking a cost out leaves the sum of the others.
        for _ in 0..diff.unsigned_abs() {
            self.cost.add(if diff > 0 { cost.0 } else { -cost.0 });
        }
        self.latencies.add(latency, diff);
    }

    fn is_empty(&self) -> bool {
        self.calls == 0 && self.latencies.is_empty()
    }
}

/// Computes the view from provider calls.
pub fn provider_stats<'s>(
    calls: VecCollection<'s, Time, CallFact, Diff>,
) -> Arranged<'s, ProviderTrace> {
    let keyed = calls.map(|c| {
        let value: CallValue = (
            c.latency_ms,
            c.success,
            c.tokens_in,
            c.tokens_out,
            c.cost_usd,
        );
        ((c.provider, c.model, c.hour), value)
    });
    reduce_state_view(
        keyed,
        "provider_stats",
        |_key, stats: &CallStats, output| {
            if let Some(row) = summarize(stats) {
                output.push((row, 1));
            }
        },
    )
}

/// Nearest-rank percentile: the value at 1-based rank `ceil(p/100 * n)`.
pub fn nearest_rank(p: u64, n: u64) -> u64 {
    (p * n).div_ceil(100).max(1)
}

/// Picks the nearest-rank p50, p95 and p99 of `calls` latencies seen in
/// ascending order, each with its multiplicity.
#[derive(Clone, Debug)]
pub struct Percentiles {
    ranks: [u64; 3],
    seen: u64,
    values: [u32; 3],
}

impl Percentiles {
    /// Ranks for `calls` latencies in all.
    pub fn new(calls: u64) -> Self {
        Percentiles {
            ranks: [50, 95, 99].map(|p| nearest_rank(p, calls)),
            seen: 0,
            values: [0; 3],
        }
    }

    /// The next `n` latencies, all equal to `latency`.
    pub fn see(&mut self, latency: u32, n: u64) {
        for (slot, rank) in self.values.iter_mut().zip(self.ranks) {
            if self.seen < rank && rank <= self.seen + n {
                *slot = latency;
            }
        }
        self.seen += n;
    }

    /// p50, p95, p99.
    pub fn values(&self) -> [u32; 3] {
        self.values
    }
}

fn summarize(stats: &CallStats) -> Option<ProviderRow> {
    let calls = count(stats.calls);
    if calls == 0 {
        return None;
    }
    let mut pct = Percentiles::new(calls);
    for (latency, n) in stats.latencies.iter() {
        pct.see(*latency, count(n));
    }
    let [p50, p95, p99] = pct.values();
    let sum = |s: i64| u64::try_from(s).unwrap_or(0);
    Some(ProviderRow {
        calls,
        errors: count(stats.errors),
        tokens_in: sum(stats.tokens_in),
        tokens_out: sum(stats.tokens_out),
        cost_usd: OrdF64(stats.cost.value()),
        latency_p50: p50,
        latency_p95: p95,
        latency_p99: p99,
        latency_avg: OrdF64(sum(stats.latency_sum) as f64 / calls as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_rank_matches_definition() {
        assert_eq!(nearest_rank(50, 1), 1);
        assert_eq!(nearest_rank(50, 4), 2);
        assert_eq!(nearest_rank(95, 20), 19);
        assert_eq!(nearest_rank(95, 21), 20);
        assert_eq!(nearest_rank(99, 100), 99);
        assert_eq!(nearest_rank(99, 101), 100);
    }
}
