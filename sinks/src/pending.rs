//! The backlog of a database sink: the latest change of each key, waiting
//! to be written. A later change of a key replaces an earlier one, so the
//! backlog never holds more than one row per key of the views it serves,
//! however long the server is away. Rows stay typed (ids interned) until a
//! writer turns a batch into its store's rows. Raw events (for a sink that
//! keeps them) wait beside the view rows, as they came.

use foldhash::HashMap;
use helixflow_operators::changes::{RawEvent, ViewChanges};
use helixflow_operators::intern::{Id, Interner};
use helixflow_operators::rows::{ItemKey, ViewItem, ViewName};

/// Names of interned ids, for writers turning typed rows into store rows.
pub trait IdNames: Send + Sync {
    /// The string an id stands for.
    fn name(&self, id: Id) -> &str;
}

impl IdNames for Interner {
    fn name(&self, id: Id) -> &str {
        self.resolve(id)
    }
}

/// What happens to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The key holds this row now.
    Upsert,
    /// The key has no row any more (the row is the one it last held).
    Delete,
}

/// One key's change, ready to write.
#[derive(Clone, Debug, PartialEq)]
pub struct RowChange {
    pub view: ViewName,
    pub op: Op,
    pub item: ViewItem,
}

/// What one write takes.
#[derive(Default)]
pub struct Batch {
    /// View rows, in (view, key) order.
    pub changes: Vec<RowChange>,
    /// Raw events (duplicates included: the writer applies the dedup rule).
    pub raw: Vec<RawEvent>,
    /// Every change and event at an epoch before this is in the batch or
    /// was written before (set by the runner).
    pub upper: helixflow_operators::Time,
}

impl Batch {
    /// Rows and events in the batch.
    pub fn len(&self) -> usize {
        self.changes.len() + self.raw.len()
    }
    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Latest change per (view, key), and raw events.
#[derive(Default)]
pub struct Pending {
    rows: HashMap<(ViewName, ItemKey), (Op, ViewItem)>,
    raw: Vec<RawEvent>,
}

impl Pending {
    /// Changed keys and raw events waiting.
    pub fn len(&self) -> usize {
        self.rows.len() + self.raw.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds raw events.
    pub fn absorb_raw(&mut self, events: Vec<RawEvent>) {
        self.raw.extend(events);
    }

    /// Adds one worker's changes (deletes first: an upsert of the same key
    /// in the same message is the newer state).
    pub fn absorb(&mut self, changes: ViewChanges) {
        let view = changes.view;
        for (op, part) in [(Op::Delete, changes.deletes), (Op::Upsert, changes.upserts)] {
            for item in part.into_items() {
                self.rows.insert((view, item.key()), (op, item));
            }
        }
    }

    /// Takes every waiting change, in (view, key) order. Keys in intern
    /// order are close to the tables' sort order, which the server sorts
    /// each insert by (and compresses better).
    pub fn take(&mut self) -> Batch {
        let mut out: Vec<_> = self.rows.drain().collect();
        out.sort_unstable_by_key(|(key, _)| *key);
        Batch {
            changes: out
                .into_iter()
                .map(|((view, _), (op, item))| RowChange { view, op, item })
                .collect(),
            raw: std::mem::take(&mut self.raw),
            upper: 0,
        }
    }

    /// Puts back changes whose write failed, unless a newer change of the
    /// same key arrived meanwhile.
    pub fn restore(&mut self, batch: Batch) {
        self.raw.extend(batch.raw);
        for c in batch.changes {
            self.rows
                .entry((c.view, c.item.key()))
                .or_insert((c.op, c.item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helixflow_operators::rows::ViewPart;

    fn pairs(view_pairs: &[(u32, u32, isize)]) -> ViewPart {
        ViewPart::Cooccurrence(
            view_pairs
                .iter()
                .map(|(a, b, n)| ((Id(*a), Id(*b)), *n))
                .collect(),
        )
    }

    fn message(upserts: ViewPart, deletes: ViewPart) -> ViewChanges {
        ViewChanges {
            view: ViewName::EntityCooccurrence,
            worker: 0,
            upper: 1,
            upserts,
            deletes,
        }
    }

    #[test]
    fn a_later_change_of_a_key_replaces_the_earlier_one_and_restore_keeps_newer() {
        let mut p = Pending::default();
        p.absorb(message(pairs(&[(1, 2, 1), (1, 3, 1)]), pairs(&[])));
        p.absorb(message(pairs(&[(1, 2, 4)]), pairs(&[])));
        assert_eq!(p.len(), 2, "one row per key");
        let mut taken = p.take().changes;
        taken.sort_by_key(|c| c.item.key());
        assert_eq!(taken[0].item, ViewItem::Pair((Id(1), Id(2)), 4));
        assert!(p.is_empty());
        // While the write was out, (1, 2) left the view: restoring must not revive it.
        p.absorb(message(pairs(&[]), pairs(&[(1, 2, 4)])));
        p.restore(Batch {
            changes: taken,
            raw: Vec::new(),
            upper: 0,
        });
        let mut again = p.take().changes;
        again.sort_by_key(|c| c.item.key());
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].op, Op::Delete);
        assert_eq!(again[0].item, ViewItem::Pair((Id(1), Id(2)), 4));
        assert_eq!(again[1].op, Op::Upsert);
        assert_eq!(again[1].item, ViewItem::Pair((Id(1), Id(3)), 1));
    }
}
