//! `memory_state`: the CRDT-resolved state of each memory that exists.
//!
//! Ops of one memory are ordered by (`lamport`, `node_id`, `event_id`); the
//! greatest wins. A winning delete removes the memory. Tags follow the
//! winner's strategy: `lww` takes the winner's tags, `merge_all` the union of
//! the tags of every add/update greater than the greatest delete.

use crate::facts::MemoryFact;
use crate::intern::Id;
use crate::reduce_view::{reduce_view, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::event::{MemoryOpKind, MergeStrategy};
use serde::{Deserialize, Serialize};

/// A row of `memory_state` (the key is the memory id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MemoryRow {
    pub content: String,
    pub user: Id,
    /// Sorted, distinct.
    pub tags: Vec<String>,
    /// `version = [lamport, node_id]` of the winner.
    pub lamport: u64,
    pub node: String,
}

/// The arranged view.
pub type MemoryTrace = ViewTrace<Id, MemoryRow>;

/// Computes the view from memory ops.
pub fn memory_state<'s>(
    ops: VecCollection<'s, Time, MemoryFact, Diff>,
) -> Arranged<'s, MemoryTrace> {
    reduce_view(
        ops.map(|op| (op.memory, op)),
        "memory_state",
        |_memory, input, output| {
            if let Some(row) = resolve(input) {
                output.push((row, 1));
            }
        },
    )
}

/// The input arrives sorted by (lamport, node, event_id): the winner is last.
fn resolve(input: &[(&MemoryFact, Diff)]) -> Option<MemoryRow> {
    let live: Vec<&MemoryFact> = input
        .iter()
        .filter(|(_, d)| *d > 0)
        .map(|(f, _)| *f)
        .collect();
    let winner = *live.last()?;
    if winner.op == MemoryOpKind::Delete {
        return None;
    }
    let mut tags: Vec<String> = match winner.strategy {
        MergeStrategy::Lww => winner.tags.clone().unwrap_or_default(),
        MergeStrategy::MergeAll => {
            let after_delete = live
                .iter()
                .rposition(|f| f.op == MemoryOpKind::Delete)
                .map_or(0, |i| i + 1);
            live[after_delete..]
                .iter()
                .flat_map(|f| f.tags.iter().flatten().cloned())
                .collect()
        }
    };
    tags.sort_unstable();
    tags.dedup();
    Some(MemoryRow {
        content: winner.content.clone().unwrap_or_default(),
        user: winner.user,
        tags,
        lamport: winner.lamport,
        node: winner.node.clone(),
    })
}
