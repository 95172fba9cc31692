//! The backlog of a database sink: the latest change of each key, waiting
//! to be written. A later change of a key replaces an earlier one, so the
//! backlog never holds more than one row per key of the views it serves,
//! however long the server is away.

use helixflow_operators::changes::ViewChanges;
use helixflow_operators::intern::Interner;
use helixflow_operators::render::{render, Selection};
use helixflow_operators::rows::{ViewName, ViewPart};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A view row as the contract writes it (field name → JSON value).
pub type Row = Map<String, Value>;

/// Turns a view's rows into contract rows (ids resolved).
pub type Renderer = Arc<dyn Fn(ViewPart) -> Vec<Row> + Send + Sync>;

/// The renderer the engine's sinks use: contract rows exactly as the view
/// files and the API write them, ids resolved through the interner that
/// `ids` finds in `holder`. Pairs are oriented by string directly (`render`
/// would rank every interned id per message, which a message of a few pairs
/// does not need); keyed views go through `render`.
pub fn contract_renderer<H: Send + Sync + 'static>(
    holder: Arc<H>,
    ids: fn(&H) -> &Interner,
) -> Renderer {
    Arc::new(move |part: ViewPart| {
        let ids = ids(&holder);
        if let ViewPart::Cooccurrence(pairs) = part {
            return pairs
                .into_iter()
                .map(|((a, b), count)| {
                    let (a, b) = (ids.resolve(a), ids.resolve(b));
                    let (a, b) = if a.as_bytes() <= b.as_bytes() {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    let mut row = Row::new();
                    row.insert("a".into(), a.into());
                    row.insert("b".into(), b.into());
                    row.insert("count".into(), count.into());
                    row
                })
                .collect();
        }
        let mut out = Vec::new();
        // Writing to memory cannot fail.
        let _ = render(part, ids, &Selection::default(), &mut out);
        out.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice::<Row>(l).ok())
            .collect()
    })
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
    pub row: Row,
}

/// The key of a row: its view's key fields, joined.
fn key_of(view: ViewName, row: &Row) -> String {
    let mut key = String::new();
    for f in view.key_fields() {
        match row.get(*f) {
            Some(Value::String(s)) => key.push_str(s),
            Some(other) => key.push_str(&other.to_string()),
            None => {}
        }
        key.push('\u{1f}');
    }
    key
}

/// Latest change per (view, key).
#[derive(Default)]
pub struct Pending {
    rows: HashMap<(ViewName, String), (Op, Row)>,
}

impl Pending {
    /// Changed keys waiting.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds one worker's changes (deletes first: an upsert of the same key
    /// in the same message is the newer state).
    pub fn absorb(&mut self, changes: ViewChanges, render: &Renderer) {
        let view = changes.view;
        for (op, part) in [(Op::Delete, changes.deletes), (Op::Upsert, changes.upserts)] {
            if part.is_empty() {
                continue;
            }
            for row in render(part) {
                self.rows.insert((view, key_of(view, &row)), (op, row));
            }
        }
    }

    /// Takes every waiting change, in (view, key) order.
    pub fn take(&mut self) -> Vec<RowChange> {
        let mut out: Vec<_> = self.rows.drain().collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.into_iter()
            .map(|((view, _), (op, row))| RowChange { view, op, row })
            .collect()
    }

    /// Puts back changes whose write failed, unless a newer change of the
    /// same key arrived meanwhile.
    pub fn restore(&mut self, changes: Vec<RowChange>) {
        for c in changes {
            self.rows
                .entry((c.view, key_of(c.view, &c.row)))
                .or_insert((c.op, c.row));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: &str, n: u64) -> Row {
        json!({"debate_id": id, "rounds": n})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn changes(upserts: Vec<Row>, deletes: Vec<Row>) -> (Vec<Row>, Vec<Row>) {
        (upserts, deletes)
    }

    #[test]
    fn a_later_change_of_a_key_replaces_the_earlier_one_and_restore_keeps_newer() {
        let mut p = Pending::default();
        let (u, d) = changes(vec![row("a", 1), row("b", 1)], vec![]);
        for r in u {
            p.rows.insert(
                (ViewName::DebateStats, key_of(ViewName::DebateStats, &r)),
                (Op::Upsert, r),
            );
        }
        for r in d {
            p.rows.insert(
                (ViewName::DebateStats, key_of(ViewName::DebateStats, &r)),
                (Op::Delete, r),
            );
        }
        let taken = p.take();
        assert_eq!(taken.len(), 2);
        assert!(p.is_empty());
        // While the write was out, `a` was deleted: restoring must not revive it.
        p.rows.insert(
            (
                ViewName::DebateStats,
                key_of(ViewName::DebateStats, &row("a", 1)),
            ),
            (Op::Delete, row("a", 1)),
        );
        p.restore(taken);
        let again = p.take();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].op, Op::Delete);
        assert_eq!(again[0].row["debate_id"], "a");
        assert_eq!(again[1].op, Op::Upsert);
        assert_eq!(again[1].row["debate_id"], "b");
    }
}
