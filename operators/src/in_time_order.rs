//! `in_time_order`: the operator shape for logic that must see timestamps
//! one at a time, in time order. Updates are stashed under a capability for
//! their time; the logic turns a time's batch into output at that time. It
//! relies on `Time` being totally ordered.
//!
//! A time's updates are handed over in parts, as they arrive, once every
//! earlier time is complete (so each part still comes after every update of
//! every earlier time), and a last call, perhaps with an empty batch, says
//! the time is complete. Logic that needs a time whole (the keyed views'
//! reduce) folds the parts into its state and computes on that call; dedup
//! needs only the order. A replay of one long epoch then streams through
//! instead of waiting, stashed whole, for its end.

use crate::Time;
use std::collections::BTreeMap;
use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

/// Applies `logic(time, batch, complete, output)` to each time's updates,
/// in time order and in parts; `complete` is true on the call after which
/// no update of `time` comes. `time_of(datum, message
/// time)` is the time a datum belongs to (at or after its message's time).
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
    L: FnMut(Time, Vec<D>, bool, &mut Vec<O>) + 'static,
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
                logic(time, batch, true, &mut produced);
                if !produced.is_empty() {
                    output.session(&cap).give_iterator(produced.drain(..));
                }
            }
            // The least stashed time is incomplete now; when no earlier
            // time can still arrive, its updates so far go over at once.
            if let Some(mut entry) = stash.first_entry() {
                let time = *entry.key();
                let (cap, batch) = entry.get_mut();
                if !frontier.less_than(&time) && !batch.is_empty() {
                    logic(time, std::mem::take(batch), false, &mut produced);
                    if !produced.is_empty() {
                        output.session(cap).give_iterator(produced.drain(..));
                    }
                }
            }
        }
    })
}
