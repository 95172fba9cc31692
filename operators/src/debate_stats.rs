//! `debate_stats`: rounds, participants, mean score per provider, leader and
//! consensus of each debate.

use crate::facts::{DebateFact, OrdF64};
use crate::intern::Id;
use crate::reduce_view::{reduce_view, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

/// A row of `debate_stats` (the key is the debate id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DebateRow {
    pub rounds: u32,
    /// Sorted, distinct provider names.
    pub participants: Vec<String>,
    /// (provider, mean score), sorted by provider.
    pub mean_score: Vec<(String, OrdF64)>,
    /// Highest total score; ties to the smallest name.
    pub leader: String,
    pub consensus: bool,
}

/// The arranged view.
pub type DebateTrace = ViewTrace<Id, DebateRow>;

type RoundValue = (String, u32, OrdF64, bool);

/// Computes the view from debate rounds.
pub fn debate_stats<'s>(
    rounds: VecCollection<'s, Time, DebateFact, Diff>,
) -> Arranged<'s, DebateTrace> {
    let keyed = rounds.map(|d| {
        let value: RoundValue = (d.provider, d.round, d.score, d.consensus);
        (d.debate, value)
    });
    reduce_view(keyed, "debate_stats", |_debate, input, output| {
        if let Some(row) = summarize(input) {
            output.push((row, 1));
        }
    })
}

/// Input arrives sorted by provider name, so providers group contiguously.
fn summarize(input: &[(&RoundValue, Diff)]) -> Option<DebateRow> {
    let mut row = DebateRow {
        rounds: 0,
        participants: Vec::new(),
        mean_score: Vec::new(),
        leader: String::new(),
        consensus: false,
    };
    let mut best: Option<f64> = None;
    let mut i = 0;
    while i < input.len() {
        let provider = &input[i].0 .0;
        let (mut total, mut count) = (0.0f64, 0u64);
        while i < input.len() && &input[i].0 .0 == provider {
            let ((_, round, score, consensus), d) = input[i];
            let n = u64::try_from(d).unwrap_or(0);
            if n > 0 {
                row.rounds = row.rounds.max(*round);
                row.consensus |= *consensus;
                for _ in 0..n {
                    total += score.0;
                }
                count += n;
            }
            i += 1;
        }
        if count == 0 {
            continue;
        }
        row.participants.push(provider.clone());
        row.mean_score
            .push((provider.clone(), OrdF64(total / count as f64)));
        // Strictly greater: on a tie the earlier (smaller) name stays leader.
        if best.is_none_or(|b| total > b) {
            best = Some(total);
            row.leader = provider.clone();
        }
    }
    (!row.participants.is_empty()).then_some(row)
}
