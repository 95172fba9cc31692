//! `conversation_flow` (api.md): per (`from_role`, `to_role`), the pairs of
//! distinct messages of one conversation at seqs `s` and `s + 1`, and the
//! conversations that have one.
//!
//! A join of each message with its successor's slot, `(conversation, seq)`
//! against `(conversation, seq - 1)`, makes the pairs: a late message that
//! fills a gap meets both neighbours and creates both of its transitions.
//! Pairs are counted per (role pair, conversation), then per role pair over
//! those counts: the second reduce holds one entry per distinct count, so a
//! role pair shared by every conversation stays cheap to update.

use crate::facts::MessageFact;
use crate::intern::Id;
use crate::multiset::Multiset;
use crate::partials::count;
use crate::reduce_view::{reduce_changes, reduce_view_core, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::event::Role;
use serde::{Deserialize, Serialize};

/// A row of `conversation_flow` (the key is (from_role, to_role)).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlowRow {
    pub transitions: u64,
    pub conversations: u64,
}

/// The arranged view.
pub type FlowTrace = ViewTrace<(Role, Role), FlowRow>;

/// Computes the view from the distinct messages.
pub fn conversation_flow<'s>(
    messages: VecCollection<'s, Time, MessageFact, Diff>,
) -> Arranged<'s, FlowTrace> {
    let at = messages.clone().map(|m| ((m.conv, m.seq), m.role));
    let before = messages.flat_map(|m| m.seq.checked_sub(1).map(|s| ((m.conv, s), m.role)));
    let pairs = at.join_map(before, |(conv, _), from, to| (((*from, *to), *conv), ()));
    let per_conversation = reduce_changes(pairs, "flow_per_conversation", |_, n, out| {
        out.push((n.counts().map(count).sum::<u64>(), 1));
    })
    .map(|((roles, _conv), n): (((Role, Role), Id), u64)| (roles, n));
    reduce_view_core(
        per_conversation,
        "conversation_flow",
        |_roles, counts, out| {
            out.push((summarize(counts), 1));
        },
    )
}

/// Per role pair: each distinct per-conversation count, with the number of
/// conversations that have it.
fn summarize(counts: &Multiset<u64>) -> FlowRow {
    let mut row = FlowRow {
        transitions: 0,
        conversations: 0,
    };
    for (n, d) in counts.iter() {
        row.transitions += n * count(d);
        row.conversations += count(d);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ContentRef;
    use differential_dataflow::input::Input;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use timely::dataflow::operators::probe::Handle as ProbeHandle;
    use timely::dataflow::operators::{Inspect, Probe};

    fn message(conv: u32, seq: u64, role: Role) -> MessageFact {
        MessageFact {
            conv: Id(conv),
            seq,
            user: Id(0),
            session: Id(0),
            role,
            tokens: 1,
            ts: 0,
            provider: None,
            intent: None,
            entities: Vec::new(),
            content: ContentRef::default(),
        }
    }

    type Update = (((Role, Role), FlowRow), Time, Diff);

    /// The view's rows after each batch of messages (one time per batch).
    fn run(batches: Vec<Vec<MessageFact>>) -> Vec<BTreeMap<(Role, Role), FlowRow>> {
        let seen: Arc<Mutex<Vec<Update>>> = Arc::default();
        let out = Arc::clone(&seen);
        let times = batches.len() as u64;
        timely::execute_directly(move |worker| {
            let probe = ProbeHandle::new();
            let mut input = worker.dataflow::<Time, _, _>(|scope| {
                let (input, messages) = scope.new_collection::<MessageFact, Diff>();
                conversation_flow(messages)
                    .as_collection(|k, v| (*k, v.clone()))
                    .inner
                    .inspect(move |u| out.lock().unwrap().push(u.clone()))
                    .probe_with(&probe);
                input
            });
            for (time, batch) in batches.into_iter().enumerate() {
                for m in batch {
                    input.insert(m);
                }
                input.advance_to(time as u64 + 1);
                input.flush();
                while probe.less_than(&(time as u64 + 1)) {
                    worker.step();
                }
            }
        });
        let updates = seen.lock().unwrap().clone();
        (0..times)
            .map(|t| {
                let mut acc: BTreeMap<((Role, Role), FlowRow), Diff> = BTreeMap::new();
                for (row, _, d) in updates.iter().filter(|(_, at, _)| *at <= t) {
                    *acc.entry(row.clone()).or_default() += d;
                }
                acc.into_iter()
                    .filter(|(_, d)| *d > 0)
                    .map(|(row, _)| row)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_late_message_filling_a_gap_creates_both_transitions() {
        use Role::{Assistant as A, Tool as T, User as U};
        let states = run(vec![
            vec![message(1, 0, U), message(1, 2, A), message(2, 0, U)],
            vec![message(1, 1, T)],
            vec![message(2, 1, T)],
        ]);
        assert!(
            states[0].is_empty(),
            "a gap breaks the chain: {:?}",
            states[0]
        );
        let row = |t, c| FlowRow {
            transitions: t,
            conversations: c,
        };
        let after_gap: BTreeMap<_, _> = [((U, T), row(1, 1)), ((T, A), row(1, 1))].into();
        assert_eq!(states[1], after_gap);
        let last: BTreeMap<_, _> = [((U, T), row(2, 2)), ((T, A), row(1, 1))].into();
        assert_eq!(states[2], last);
    }
}
