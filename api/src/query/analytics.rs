//! The provider and debate analytics of api.md as plain functions: per
//! model and overall figures with percentiles exact over every call in
//! range (the latency multisets merged, never the hourly percentiles
//! combined), and a debate's rounds in the contract's order.

use helixflow_operators::facts::DebateFact;
use helixflow_operators::intern::Interner;
use helixflow_operators::provider_stats::{Percentiles, ProviderRow};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Figures over some calls: sums from the hourly rows, latencies from the calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub calls: u64,
    pub errors: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// latency → calls.
    pub latencies: BTreeMap<u32, u64>,
}

impl Figures {
    /// Adds an hourly `provider_stats` row's sums.
    pub fn add_hour(&mut self, row: &ProviderRow) {
        self.calls += row.calls;
        self.errors += row.errors;
        self.tokens_in += row.tokens_in;
        self.tokens_out += row.tokens_out;
        self.cost_usd += row.cost_usd.0;
    }

    /// Adds `n` calls of `latency`.
    pub fn add_latency(&mut self, latency: u32, n: u64) {
        *self.latencies.entry(latency).or_default() += n;
    }

    /// The contract's fields (`null` latencies over no call).
    pub fn to_json(&self) -> Value {
        let calls: u64 = self.latencies.values().sum();
        let (pct, avg) = if calls == 0 {
            ([Value::Null, Value::Null, Value::Null], Value::Null)
        } else {
            let mut ranks = Percentiles::new(calls);
            let mut sum = 0u64;
            for (latency, n) in &self.latencies {
                ranks.see(*latency, *n);
                sum += u64::from(*latency) * n;
            }
            (
                ranks.values().map(Value::from),
                (sum as f64 / calls as f64).into(),
            )
        };
        let [p50, p95, p99] = pct;
        json!({
            "calls": self.calls, "errors": self.errors,
            "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "latency_p50": p50, "latency_p95": p95, "latency_p99": p99, "latency_avg": avg,
        })
    }
}

/// `models` (by model name, UTF-8 byte order) and `overall` from the
/// hourly rows in range (model, row; in view order) and the calls in range
/// (model, latency, calls).
pub fn provider_figures(
    hours: &[(&str, &ProviderRow)],
    calls: &[(&str, u32, u64)],
) -> (Vec<Value>, Value) {
    let mut models: BTreeMap<&[u8], (&str, Figures)> = BTreeMap::new();
    let mut overall = Figures::default();
    for (model, row) in hours {
        let slot = models
            .entry(model.as_bytes())
            .or_insert_with(|| (model, Figures::default()));
        slot.1.add_hour(row);
        overall.add_hour(row);
    }
    for (model, latency, n) in calls {
        if let Some((_, f)) = models.get_mut(model.as_bytes()) {
            f.add_latency(*latency, *n);
        }
        overall.add_latency(*latency, *n);
    }
    let listed = models
        .into_values()
        .map(|(model, f)| {
            let mut v = f.to_json();
            v["model"] = model.into();
            v
        })
        .collect();
    (listed, overall.to_json())
}

/// `rounds_detail`: each round as the contract writes it (`stance` omitted
/// when absent), sorted by (`round`, `provider`, `event_id`).
pub fn rounds_detail(rounds: &[DebateFact], ids: &Interner) -> Vec<Value> {
    let mut sorted: Vec<&DebateFact> = rounds.iter().collect();
    sorted.sort_by(|a, b| {
        (a.round, a.provider.as_bytes(), a.event_id.as_bytes()).cmp(&(
            b.round,
            b.provider.as_bytes(),
            b.event_id.as_bytes(),
        ))
    });
    sorted
        .into_iter()
        .map(|r| {
            let mut v = json!({"round": r.round, "provider": r.provider,
                               "model": ids.resolve(r.model), "score": r.score.0,
                               "consensus": r.consensus, "event_id": r.event_id});
            if let Some(s) = r.stance {
                v["stance"] = ids.resolve(s).into();
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use helixflow_operators::facts::OrdF64;

    fn hour(calls: u64, p50: u32, cost: f64) -> ProviderRow {
        ProviderRow {
            calls,
            errors: 1,
            tokens_in: 10,
            tokens_out: 5,
            cost_usd: OrdF64(cost),
            latency_p50: p50,
            latency_p95: p50,
            latency_p99: p50,
            latency_avg: OrdF64(f64::from(p50)),
        }
    }

    #[test]
    fn percentiles_merge_the_calls_of_every_hour_not_the_hourly_figures() {
        // Hour one: 3 calls at 10 ms (p50 10); hour two: 1 call at 1000 ms.
        let (h1, h2) = (hour(3, 10, 0.5), hour(1, 1000, 0.25));
        let hours = [("m", &h1), ("m", &h2)];
        let calls = [("m", 10, 3), ("m", 1000, 1)];
        let (models, overall) = provider_figures(&hours, &calls);
        assert_eq!(models.len(), 1);
        assert_eq!(models[0]["model"], "m");
        assert_eq!(models[0]["calls"], 4);
        assert_eq!(models[0]["latency_p50"], 10, "rank 2 of 4 calls");
        assert_eq!(models[0]["latency_p95"], 1000);
        assert_eq!(models[0]["latency_avg"], 257.5);
        assert_eq!(overall["cost_usd"], 0.75);
        assert_eq!(overall["errors"], 2);
    }

    #[test]
    fn no_call_in_range_is_zero_calls_and_null_latencies() {
        let (models, overall) = provider_figures(&[], &[]);
        assert!(models.is_empty());
        assert_eq!(overall["calls"], 0);
        assert_eq!(overall["latency_p50"], Value::Null);
        assert_eq!(overall["latency_avg"], Value::Null);
    }
}
