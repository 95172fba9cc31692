//! What memory sync status reads: per `node_id`, its distinct ops, greatest
//! Lamport clock, latest `ts` and how many memories it currently wins; and
//! the distinct memory ids (those whose winner is a delete are the ids
//! without a `memory_state` row).
//!
//! Counts are multiplicities of one map entry each; the clock and the `ts`
//! are multisets read at their greatest end, so a touched node costs
//! O(log n), however many ops it made.

use crate::facts::MemoryFact;
use crate::intern::Id;
use crate::memory_state::MemoryTrace;
use crate::multiset::Multiset;
use crate::reduce_view::{reduce_view_core, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// What a node's row is computed from (counted items first, then the
/// clocks, then the timestamps).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeItem {
    /// One distinct op (multiplicity: `ops`).
    Op,
    /// One `memory_state` row whose version names the node (multiplicity: `winning`).
    Winning,
    /// An op's Lamport clock.
    Lamport(u64),
    /// An op's `ts`.
    Ts(Millis),
}

/// A node's figures.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeRow {
    pub ops: u64,
    pub max_lamport: u64,
    pub last_ts: Millis,
    pub winning: u64,
}

/// Node → its figures.
pub type NodeTrace = ViewTrace<String, NodeRow>;
/// Memory id → `()`: the distinct memory ids.
pub type MemoryIdTrace = ViewTrace<Id, ()>;

/// Every node's figures from the distinct memory ops and `memory_state`.
pub fn memory_nodes<'s>(
    ops: VecCollection<'s, Time, MemoryFact, Diff>,
    state: &Arranged<'s, MemoryTrace>,
) -> Arranged<'s, NodeTrace> {
    let items = ops.flat_map(|op| {
        [
            (op.node.clone(), NodeItem::Op),
            (op.node.clone(), NodeItem::Lamport(op.lamport)),
            (op.node, NodeItem::Ts(op.ts)),
        ]
    });
    let winners = state
        .clone()
        .as_collection(|_, row| (row.node.clone(), NodeItem::Winning));
    reduce_view_core(
        items.concat(winners),
        "memory_nodes",
        |_node, items, rows| {
            if let Some(row) = node_row(items) {
                rows.push((row, 1));
            }
        },
    )
}

fn node_row(items: &Multiset<NodeItem>) -> Option<NodeRow> {
    let count = |item: &NodeItem| u64::try_from(items.get(item)).unwrap_or(0);
    let ops = count(&NodeItem::Op);
    if ops == 0 {
        return None;
    }
    let max_lamport = match items.below(&NodeItem::Ts(Millis::MIN)).next_back() {
        Some((NodeItem::Lamport(l), _)) => *l,
        _ => 0,
    };
    let last_ts = match items.last() {
        Some((NodeItem::Ts(t), _)) => *t,
        _ => 0,
    };
    Some(NodeRow {
        ops,
        max_lamport,
        last_ts,
        winning: count(&NodeItem::Winning),
    })
}

/// The distinct memory ids.
pub fn memory_ids<'s>(
    ops: VecCollection<'s, Time, MemoryFact, Diff>,
) -> Arranged<'s, MemoryIdTrace> {
    reduce_view_core(ops.map(|op| (op.memory, ())), "memory_ids", |_, _, rows| {
        rows.push(((), 1));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_row_reads_counts_and_the_greatest_clock_and_ts() {
        let items = Multiset::from([
            (NodeItem::Op, 3),
            (NodeItem::Winning, 1),
            (NodeItem::Lamport(2), 1),
            (NodeItem::Lamport(9), 2),
            (NodeItem::Ts(-5), 1),
            (NodeItem::Ts(40), 2),
        ]);
        assert_eq!(
            node_row(&items),
            Some(NodeRow {
                ops: 3,
                max_lamport: 9,
                last_ts: 40,
                winning: 1
            })
        );
        // A node whose ops are all gone (retracted) has no row.
        assert_eq!(node_row(&Multiset::from([(NodeItem::Winning, 1)])), None);
    }
}
