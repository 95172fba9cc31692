//! `debate_strategies` (api.md): per `stance`, over distinct rounds with a
//! stance: rounds, debates, mean score, providers, and how many of those
//! debates the stance led (a round of it by the debate's leader) or ended in
//! consensus, both read from `debate_stats`.
//!
//! The rounds join `debate_stats` by debate, so a debate whose leader
//! changes re-derives only its own rounds. Each (stance, debate) becomes a
//! partial, merged in two levels ([`crate::partials`]): a stance shared by
//! every debate costs one bucket's merge per time, not all debates'.

use crate::debate_stats::DebateTrace;
use crate::facts::{DebateFact, OrdF64};
use crate::intern::Id;
use crate::multiset::Multiset;
use crate::partials::{count, fold_buckets, Partial};
use crate::reduce_view::{reduce_changes, reduce_view_core, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

/// A row of `debate_strategies` (the key is the stance).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StrategyRow {
    pub rounds: u64,
    pub debates: u64,
    pub mean_score: OrdF64,
    /// Sorted, distinct provider names.
    pub providers: Vec<String>,
    pub led: u64,
    pub consensus_debates: u64,
}

/// The arranged view.
pub type StrategyTrace = ViewTrace<Id, StrategyRow>;

/// What some debates contribute to one stance.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StrategyPartial {
    rounds: u64,
    score_sum: OrdF64,
    providers: Vec<String>,
    debates: u64,
    led: u64,
    consensus: u64,
}

impl Partial for StrategyPartial {
    fn merge(parts: &Multiset<Self>) -> Self {
        let mut all = StrategyPartial {
            rounds: 0,
            score_sum: OrdF64(0.0),
            providers: Vec::new(),
            debates: 0,
            led: 0,
            consensus: 0,
        };
        for (p, d) in parts.iter() {
            let n = count(d);
            all.rounds += p.rounds * n;
            all.score_sum = OrdF64(all.score_sum.0 + p.score_sum.0 * n as f64);
            all.providers.extend(p.providers.iter().cloned());
            all.debates += p.debates * n;
            all.led += p.led * n;
            all.consensus += p.consensus * n;
        }
        all.providers.sort_unstable();
        all.providers.dedup();
        all
    }
}

impl StrategyPartial {
    fn row(self) -> StrategyRow {
        StrategyRow {
            rounds: self.rounds,
            debates: self.debates,
            mean_score: OrdF64(self.score_sum.0 / self.rounds as f64),
            providers: self.providers,
            led: self.led,
            consensus_debates: self.consensus,
        }
    }
}

/// One round joined with its debate's row: (provider, score, made by the
/// leader, the debate reached consensus).
type JoinedRound = (String, OrdF64, bool, bool);

/// Computes the view from the distinct rounds and `debate_stats`.
pub fn debate_strategies<'s>(
    rounds: VecCollection<'s, Time, DebateFact, Diff>,
    stats: Arranged<'s, DebateTrace>,
) -> Arranged<'s, StrategyTrace> {
    let joined = rounds
        .flat_map(|r| r.stance.map(|s| (r.debate, (s, r.provider, r.score))))
        .arrange_by_key_named("rounds_by_debate")
        .join_core(stats, |debate, (stance, provider, score), row| {
            let round: JoinedRound = (
                provider.clone(),
                *score,
                *provider == row.leader,
                row.consensus,
            );
            Some(((*stance, *debate), round))
        });
    let per_debate = reduce_changes(joined, "strategy_per_debate", |_, rounds, out| {
        out.push((one_debate(rounds), 1));
    })
    .map(|((stance, _debate), part): ((Id, Id), StrategyPartial)| (stance, part));
    let buckets = fold_buckets(per_debate, "strategy_buckets");
    reduce_view_core(buckets, "debate_strategies", |_stance, parts, out| {
        out.push((StrategyPartial::merge(parts).row(), 1));
    })
}

/// The partial of one (stance, debate) from its rounds (summed in order).
fn one_debate(rounds: &Multiset<JoinedRound>) -> StrategyPartial {
    let mut part = StrategyPartial {
        rounds: 0,
        score_sum: OrdF64(0.0),
        providers: Vec::new(),
        debates: 1,
        led: 0,
        consensus: 0,
    };
    for ((provider, score, by_leader, consensus), d) in rounds.iter() {
        let n = count(d);
        part.rounds += n;
        part.score_sum = OrdF64(part.score_sum.0 + score.0 * n as f64);
        if part.providers.last() != Some(provider) {
            part.providers.push(provider.clone());
        }
        part.led = part.led.max(u64::from(*by_leader));
        part.consensus = part.consensus.max(u64::from(*consensus));
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(items: &[(&str, f64, bool, bool)]) -> Multiset<JoinedRound> {
        items
            .iter()
            .map(|(p, s, l, c)| ((p.to_string(), OrdF64(*s), *l, *c), 1))
            .collect()
    }

    #[test]
    fn a_debate_counts_once_and_is_led_when_the_leader_made_a_round() {
        let part = one_debate(&rounds(&[("a", 1.0, false, true), ("b", 3.0, true, true)]));
        assert_eq!(
            (part.rounds, part.debates, part.led, part.consensus),
            (2, 1, 1, 1)
        );
        assert_eq!(part.providers, vec!["a", "b"]);
        assert_eq!(part.score_sum, OrdF64(4.0));
    }

    #[test]
    fn when_the_leader_changes_the_debate_is_no_longer_led_by_the_stance() {
        // The same rounds, joined again after `b` lost the lead to `c`.
        let before = one_debate(&rounds(&[("b", 3.0, true, false)]));
        let after = one_debate(&rounds(&[("b", 3.0, false, false)]));
        assert_eq!((before.led, after.led), (1, 0));
    }

    #[test]
    fn merging_partials_sums_with_multiplicities_and_unions_providers() {
        let one = one_debate(&rounds(&[("a", 1.0, true, false)]));
        let two = one_debate(&rounds(&[("b", 2.0, false, true), ("b", 4.0, false, true)]));
        let parts = Multiset::from([(one, 2), (two, 1)]);
        let row = StrategyPartial::merge(&parts).row();
        assert_eq!(
            row,
            StrategyRow {
                rounds: 4,
                debates: 3,
                mean_score: OrdF64(2.0),
                providers: vec!["a".into(), "b".into()],
                led: 2,
                consensus_debates: 1,
            }
        );
    }
}
