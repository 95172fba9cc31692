//! `provider_performance` (api.md): per (`provider`, `model`), every hour
//! together: calls, errors, error rate, tokens, cost, exact nearest-rank
//! latency percentiles and mean, cost per 1,000 tokens.
//!
//! One reduce per (provider, model) reads two kinds of values: the
//! `provider_stats` rows of its hours (the sums, added in their sorted
//! order) and the latency of each call (the multiset the percentiles are
//! ranked over, never derived from the hourly percentiles).

use crate::facts::{CallFact, OrdF64};
use crate::intern::Id;
use crate::multiset::Multiset;
use crate::partials::count;
use crate::provider_stats::{Percentiles, ProviderTrace};
use crate::reduce_view::{reduce_view_core, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

/// A row of `provider_performance` (the key is (provider, model)).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PerformanceRow {
    pub calls: u64,
    pub errors: u64,
    pub error_rate: OrdF64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: OrdF64,
    pub latency_p50: u32,
    pub latency_p95: u32,
    pub latency_p99: u32,
    pub latency_avg: OrdF64,
    /// `None` when the calls carry no token.
    pub cost_per_1k_tokens: Option<OrdF64>,
}

/// The arranged view.
pub type PerformanceTrace = ViewTrace<(Id, Id), PerformanceRow>;

/// What the reduce of one (provider, model) reads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Part {
    /// One call's latency (calls sort first, by latency).
    Call(u32),
    /// One hour's sums: (errors, tokens in, tokens out, cost).
    Hour(u64, u64, u64, OrdF64),
}

/// Computes the view from the calls and `provider_stats`.
pub fn provider_performance<'s>(
    calls: VecCollection<'s, Time, CallFact, Diff>,
    hours: &Arranged<'s, ProviderTrace>,
) -> Arranged<'s, PerformanceTrace> {
    let latencies = calls.map(|c| ((c.provider, c.model), Part::Call(c.latency_ms)));
    let sums = hours.clone().as_collection(|(p, m, _hour), row| {
        let part = Part::Hour(row.errors, row.tokens_in, row.tokens_out, row.cost_usd);
        ((*p, *m), part)
    });
    reduce_view_core(
        latencies.concat(sums),
        "provider_performance",
        |_key, parts, out| {
            if let Some(row) = summarize(parts) {
                out.push((row, 1));
            }
        },
    )
}

fn summarize(parts: &Multiset<Part>) -> Option<PerformanceRow> {
    let calls: u64 = parts
        .iter()
        .filter(|(p, _)| matches!(p, Part::Call(_)))
        .map(|(_, d)| count(d))
        .sum();
    if calls == 0 {
        return None;
    }
    let mut ranks = Percentiles::new(calls);
    let (mut latency_sum, mut errors, mut tokens_in, mut tokens_out, mut cost) =
        (0u64, 0, 0, 0, 0.0);
    for (part, d) in parts.iter() {
        let n = count(d);
        match part {
            Part::Call(latency) => {
                ranks.see(*latency, n);
                latency_sum += u64::from(*latency) * n;
            }
            Part::Hour(e, tin, tout, c) => {
                errors += e * n;
                tokens_in += tin * n;
                tokens_out += tout * n;
                cost += c.0 * n as f64;
            }
        }
    }
    let [p50, p95, p99] = ranks.values();
    let tokens = tokens_in + tokens_out;
    Some(PerformanceRow {
        calls,
        errors,
        error_rate: OrdF64(errors as f64 / calls as f64),
        tokens_in,
        tokens_out,
        cost_usd: OrdF64(cost),
        latency_p50: p50,
        latency_p95: p95,
        latency_p99: p99,
        latency_avg: OrdF64(latency_sum as f64 / calls as f64),
        cost_per_1k_tokens: (tokens > 0).then(|| OrdF64(cost * 1000.0 / tokens as f64)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_over_every_call_and_sums_over_every_hour() {
        let mut parts = Multiset::new();
        for latency in [10u32, 20, 30, 40] {
            parts.add(Part::Call(latency), 1);
        }
        parts.add(Part::Call(50), 6);
        parts.add(Part::Hour(1, 100, 50, OrdF64(0.5)), 1);
        parts.add(Part::Hour(2, 300, 50, OrdF64(1.0)), 1);
        let row = summarize(&parts).unwrap_or_else(|| panic!("a row"));
        assert_eq!(row.calls, 10);
        assert_eq!(
            (row.latency_p50, row.latency_p95, row.latency_p99),
            (50, 50, 50)
        );
        assert_eq!(row.errors, 3);
        assert_eq!(row.error_rate, OrdF64(0.3));
        assert_eq!(row.cost_per_1k_tokens, Some(OrdF64(1.5 * 1000.0 / 500.0)));
        assert_eq!(row.latency_avg, OrdF64(40.0));
    }

    #[test]
    fn no_tokens_means_no_cost_per_1k_tokens() {
        let parts = Multiset::from([(Part::Call(5), 1), (Part::Hour(0, 0, 0, OrdF64(0.0)), 1)]);
        let row = summarize(&parts).unwrap_or_else(|| panic!("a row"));
        assert_eq!(row.cost_per_1k_tokens, None);
        assert_eq!((row.latency_p50, row.latency_p99), (5, 5));
    }
}
