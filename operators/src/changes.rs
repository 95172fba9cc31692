//! Change streams for sinks: each view's arrangement, on each worker, tells
//! its subscribers which keys changed and what those keys hold now.
//!
//! An export operator sits on a view's stream of arranged batches. It notes
//! the keys each batch touches, and whenever its input frontier advances to
//! `upper` it reads those keys back from the view's trace, accumulating every
//! update at a time before `upper`: a key that still has rows is an
//! **upsert** of its current rows, a key with none is a **delete** (carrying
//! the row it last held, so sinks know its key fields). Sinks therefore write
//! absolute state, never deltas, which makes every write idempotent: applying
//! the same changes twice, or a retried batch, leaves the store unchanged.
//!
//! The operator keeps its own handle on the trace and compacts it only to the
//! frontier it has exported, so reads at `upper` are exact. Changes of one key
//! always come from the one worker that owns the key, in time order.

use crate::entity_cooccurrence::CooccurrenceTrace;
use crate::intern::Id;
use crate::reduce_view::ViewTrace;
use crate::rows::{ViewName, ViewPart};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::ExchangeData;
use std::collections::BTreeMap;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::progress::Antichain;

/// What one worker's part of one view changed, up to `upper`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ViewChanges {
    /// The view.
    pub view: ViewName,
    /// The worker that owns these keys.
    pub worker: usize,
    /// Every update at a time before `upper` is reflected (`Time::MAX`:
    /// the view's input is closed and nothing more will come).
    pub upper: Time,
    /// Keys that have rows now, with those rows.
    pub upserts: ViewPart,
    /// Keys that have no row any more, with the row they last held.
    pub deletes: ViewPart,
}

impl ViewChanges {
    /// True when the message only reports progress.
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
    /// Changed keys the message carries.
    pub fn rows(&self) -> usize {
        self.upserts.len() + self.deletes.len()
    }
}

/// A decoded event with its payload fingerprint (the dedup rule's
/// tie-breaker), as ingest hands it to sinks that keep raw events.
pub type RawEvent = (u64, helixflow_types::event::Event);

/// What ingest hands to sinks that keep raw events.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum RawFeed {
    /// The raw events of one input chunk.
    Events(Vec<RawEvent>),
    /// Events read back from the engine's own lake (a restart): the lake
    /// has them, other sinks may not.
    Restored(Vec<RawEvent>),
    /// Worker `worker` has handed over every raw event of the epochs before
    /// `upper` (`Time::MAX`: all it ever will).
    Progress { worker: usize, upper: Time },
}

/// Where ingest hands raw events and its progress (may block, like
/// [`Publish`]). A chunk's events are handed over before the worker's
/// capability passes the chunk's epoch, so a sink that has seen every
/// worker's changes (or raw progress) up to an epoch has seen these events
/// too.
pub type PublishRaw = Arc<dyn Fn(RawFeed) + Send + Sync>;

/// Where an export operator hands its changes (may block: that is how a
/// slow sink applies backpressure to the dataflow).
pub type Publish = Arc<dyn Fn(ViewChanges) + Send + Sync>;

/// Allows the export's own trace handle to forget distinctions before `upper`.
fn release<Tr: TraceReader<Time = Time>>(trace: &mut Tr, upper: Time) {
    if upper < Time::MAX {
        let f = [upper];
        trace.set_logical_compaction(timely::progress::frontier::AntichainRef::new(&f));
        trace.set_physical_compaction(timely::progress::frontier::AntichainRef::new(&f));
    } else {
        trace.set_logical_compaction(Antichain::new().borrow());
        trace.set_physical_compaction(Antichain::new().borrow());
    }
}

fn span_upper(desc: &differential_dataflow::trace::Description<Time>) -> Time {
    desc.upper()
        .elements()
        .first()
        .copied()
        .unwrap_or(Time::MAX)
}

/// How far an export can read: its input frontier, or further when it has
/// already received spans reaching beyond it (the frontier it sees can lag
/// the spans it has drained in the same activation; spans arrive in order,
/// so every update before the greatest span upper received is in the trace).
fn export_upper(
    frontier: &timely::progress::frontier::MutableAntichain<Time>,
    received: Time,
) -> Time {
    let seen = frontier
        .frontier()
        .iter()
        .next()
        .copied()
        .unwrap_or(Time::MAX);
    seen.max(received)
}

fn all_batches<Tr: TraceReader<Time = Time>>(trace: &mut Tr) -> Vec<Tr::Batch> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    trace.batches_through(upper.borrow()).unwrap_or_default()
}

/// The operator every export shares: notes what each arranged batch touches
/// (`note`), and when its upper advances reads the noted keys back from its
/// own trace handle (`read`: upserts and deletes), publishes them, and lets
/// its handle compact to the exported upper.
fn export<Tr, S>(
    arranged: &Arranged<'_, Tr>,
    view: ViewName,
    worker: usize,
    publish: Publish,
    mut state: S,
    note: fn(&mut S, Tr::Batch),
    mut read: impl FnMut(&mut S, &mut Tr, Time) -> (ViewPart, ViewPart) + 'static,
) where
    Tr: TraceReader<Time = Time> + Clone + 'static,
    S: 'static,
{
    let mut trace = arranged.trace.clone();
    let mut exported: Time = 0;
    let mut received: Time = 0;
    arranged.stream.clone().sink(
        Pipeline,
        &format!("export_{view}"),
        move |(input, frontier)| {
            input.for_each(|_cap, spans| {
                for span in spans.drain(..) {
                    received = received.max(span_upper(&span.desc));
                    if let Some(batch) = span.inner {
                        note(&mut state, batch);
                    }
                }
            });
            let upper = export_upper(frontier, received);
            if upper == exported {
                return;
            }
            let (upserts, deletes) = read(&mut state, &mut trace, upper);
            publish(ViewChanges {
                view,
                worker,
                upper,
                upserts,
                deletes,
            });
            exported = upper;
            release(&mut trace, upper);
        },
    );
}

/// Exports a keyed view (one row per key) of `worker` to `publish`.
pub fn export_keyed<K, V>(
    arranged: &Arranged<'_, ViewTrace<K, V>>,
    view: ViewName,
    worker: usize,
    wrap: fn(Vec<(K, V)>) -> ViewPart,
    publish: Publish,
) where
    K: ExchangeData,
    V: ExchangeData,
{
    // Changed keys since the last export, with a row each last held (if seen).
    let changed: BTreeMap<K, Option<V>> = BTreeMap::new();
    let note = |changed: &mut BTreeMap<K, Option<V>>,
                batch: <ViewTrace<K, V> as TraceReader>::Batch| {
        let (mut c, s) = cursor_list(vec![batch]);
        while let Some(k) = c.get_key(&s) {
            let old = changed.entry(k.clone()).or_insert(None);
            while let Some(v) = c.get_val(&s) {
                let mut d: Diff = 0;
                c.map_times(&s, |_, r| d += *r);
                if d < 0 && old.is_none() {
                    *old = Some(v.clone());
                }
                c.step_val(&s);
            }
            c.step_key(&s);
        }
    };
    let read = move |changed: &mut BTreeMap<K, Option<V>>, trace: &mut ViewTrace<K, V>, upper| {
        let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
        if !changed.is_empty() {
            let (mut c, s) = cursor_list(all_batches(trace));
            for (key, old) in std::mem::take(changed) {
                c.seek_key(&s, &key);
                let mut found = false;
                if c.get_key(&s) == Some(&key) {
                    while let Some(v) = c.get_val(&s) {
                        let mut d: Diff = 0;
                        c.map_times(&s, |t, r| {
                            if *t < upper {
                                d += *r;
                            }
                        });
                        if d > 0 {
                            found = true;
                            upserts.push((key.clone(), v.clone()));
                        }
                        c.step_val(&s);
                    }
                }
                if let (false, Some(old)) = (found, old) {
                    deletes.push((key, old));
                }
            }
        }
        (wrap(upserts), wrap(deletes))
    };
    export(arranged, view, worker, publish, changed, note, read);
}

/// Exports the co-occurrence view (a pair's count is its accumulated
/// difference) of `worker` to `publish`: upserts carry the pair's count now,
/// deletes the pair with count 0.
pub fn export_pairs(arranged: &Arranged<'_, CooccurrenceTrace>, worker: usize, publish: Publish) {
    let changed: Vec<(Id, Id)> = Vec::new();
    let note = |changed: &mut Vec<(Id, Id)>, batch: <CooccurrenceTrace as TraceReader>::Batch| {
        let (mut c, s) = cursor_list(vec![batch]);
        while let Some(k) = c.get_key(&s) {
            changed.push(*k);
            c.step_key(&s);
        }
    };
    let read = |changed: &mut Vec<(Id, Id)>, trace: &mut CooccurrenceTrace, upper| {
        let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
        if !changed.is_empty() {
            changed.sort_unstable();
            changed.dedup();
            let (mut c, s) = cursor_list(all_batches(trace));
            for key in changed.drain(..) {
                c.seek_key(&s, &key);
                let mut count: Diff = 0;
                if c.get_key(&s) == Some(&key) {
                    while c.get_val(&s).is_some() {
                        c.map_times(&s, |t, r| {
                            if *t < upper {
                                count += *r;
                            }
                        });
                        c.step_val(&s);
                    }
                }
                if count > 0 {
                    upserts.push((key, count));
                } else {
                    deletes.push((key, 0));
                }
            }
        }
        (
            ViewPart::Cooccurrence(upserts),
            ViewPart::Cooccurrence(deletes),
        )
    };
    let view = ViewName::EntityCooccurrence;
    export(arranged, view, worker, publish, changed, note, read);
}
