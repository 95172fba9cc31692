//! `in_time_order`: the operator shape for logic that must see each
//! timestamp's updates complete, one timestamp at a time, in time order.
//! Updates are stashed under a capability for their time until the input
//! frontier has passed it; then the logic turns the time's batch into
//! output at that time. Used by dedup and by the keyed views' reduce; it
//! relies on `Time` being totally ordered.

use crate::Time;
use std::collections::BTreeMap;
use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

/// Applies `logic(time, batch, output)` to each complete time's batch, in
/// time order. `time_of(datum, message time)` is the time a datum belongs to
/// (at or after its message's time).
pub fn in_time_order<'s, D, O, P, F, L>(
    stream: StreamVec<'s, Time, D>,
    pact: P,
    name: &str,
    time_of: F,
    mut logic: L,
) -> StreamVec<'s, Time, O>
where
    D: Clone + 'static,
    O: Clone + 'static,
    P: ParallelizationContract<Time, Vec<D>>,
    F: Fn(&D, Time) -> Time + 'static,
    L: FnMut(Time, Vec<D>, &mut Vec<O>) + 'static,
{
    stream.unary_frontier(pact, name, move |_cap, _info| {
        let mut stash: BTreeMap<Time, (Capability<Time>, Vec<D>)> = BTreeMap::new();
        let mut produced: Vec<O> = Vec::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                let Some(at) = cap.least().copied() else {
                    return;
                };
                let Some(retained) = cap.retain_least(0) else {
                    return;
                };
                for datum in data.drain(..) {
                    let time = time_of(&datum, at).max(at);
                    stash
                        .entry(time)
                        .or_insert_with(|| (retained.delayed(&time), Vec::new()))
                        .1
                        .push(datum);
                }
            });
            while let Some(entry) = stash.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (time, (cap, batch)) = entry.remove_entry();
                logic(time, batch, &mut produced);
                if !produced.is_empty() {
                    output.session(&cap).give_iterator(produced.drain(..));
                }
            }
        }
    })
}
