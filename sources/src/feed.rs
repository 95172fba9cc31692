//! The feed: how sources hand raw events to the dataflow, and how they say
//! which epochs are complete.
//!
//! # The progress contract
//!
//! A source sends [`Chunk`]s, each stamped with an epoch (the logical time its
//! events get). Epochs a source stamps never decrease. When a source calls
//! [`SourceHandle::seal`] with epoch `e`, it promises that every chunk with
//! epoch `<= e` has already been sent, and records the input position reached
//! (file offset, generator count, Kafka offsets) so a snapshot at `e` can say
//! what it reflects. [`SourceHandle::finish`] seals everything.
//!
//! The dataflow's ingest operator holds a capability for the least epoch that
//! may still arrive and releases it as [`Feed::sealed`] advances and the
//! chunks of sealed epochs are taken ([`Feed::least_waiting`]): a timestamp
//! is complete once every source has sealed it and every chunk of it has
//! been taken, even while later epochs' chunks still wait in the channel.

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use helixflow_types::decode::Rejection;
use helixflow_types::event::EventKind;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A block of raw events from one source: newline-delimited lines, or (when
/// `records` is set) Kafka message values laid end to end.
#[derive(Clone)]
pub struct Chunk {
    /// Index of the source in the feed.
    pub source: usize,
    /// The epoch (logical time) of every event in the chunk.
    pub epoch: u64,
    /// 1-based line number of the first line (0 when lines are not numbered).
    pub first_line: u64,
    /// Which file the lines come from (for messages about them).
    pub origin: Arc<str>,
    /// The lines, each ending in `\n` except perhaps the last; or the
    /// records' bytes when `records` is set.
    pub data: Vec<u8>,
    /// Record framing (Kafka): where each record ends and where it came from.
    pub records: Option<Records>,
    /// Events already decoded (read back from a lake); `data` is empty then.
    pub decoded: Option<Decoded>,
}

/// Events a source hands over decoded, each with its payload fingerprint.
#[derive(Clone)]
pub struct Decoded {
    pub events: Vec<(u64, helixflow_types::event::Event)>,
    /// The events come from the lake this engine writes (a restart loading
    /// its state): sinks that keep raw events have them already.
    pub restored: bool,
}

/// The framing of a chunk of Kafka messages.
#[derive(Clone)]
pub struct Records {
    /// One entry per message, in `data` order.
    pub metas: Vec<RecordMeta>,
    /// The topics the metas refer to, and where rejected messages go.
    pub topics: Arc<RecordTopics>,
}

/// Where one message ends in the chunk's data and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct RecordMeta {
    /// End of the message value in `data` (exclusive); it starts where the previous one ends.
    pub end: u32,
    /// Index into [`RecordTopics::topics`].
    pub topic: u16,
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
}

/// The topics of one Kafka source: each with the one event type it carries.
pub struct RecordTopics {
    /// `(topic name, the event type it carries)`.
    pub topics: Vec<(Arc<str>, EventKind)>,
    /// Where rejected messages are forwarded, if the topology says so.
    pub dead_letter: Option<Arc<dyn DeadLetter>>,
}

/// Receives rejected messages (a dead-letter topic).
pub trait DeadLetter: Send + Sync {
    /// Forwards one rejected message from `topic`/`partition`@`offset`.
    fn forward(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        rejection: &Rejection,
        payload: &[u8],
    );
}

/// Progress of one source, shared with the workers and the API.
#[derive(Debug)]
pub struct SourceProgress {
    /// The source's name.
    pub name: String,
    sealed: AtomicU64,
    finished: AtomicBool,
    positions: Mutex<BTreeMap<u64, serde_json::Value>>,
    events: AtomicU64,
}

impl SourceProgress {
    /// Greatest sealed epoch.
    pub fn sealed(&self) -> u64 {
        self.sealed.load(Ordering::Acquire)
    }

    /// True once the source will send nothing more.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Raw events (lines) sent so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// The position reached by the last seal at or before `epoch`.
    pub fn position_at(&self, epoch: u64) -> Option<serde_json::Value> {
        let p = self.positions.lock().ok()?;
        p.range(..=epoch).next_back().map(|(_, v)| v.clone())
    }

    /// Forgets positions of epochs before `epoch` (keeping the one in force there).
    pub fn forget_before(&self, epoch: u64) {
        if let Ok(mut p) = self.positions.lock() {
            let keep_from = p.range(..=epoch).next_back().map(|(e, _)| *e);
            if let Some(k) = keep_from {
                let rest = p.split_off(&k);
                *p = rest;
            }
        }
    }
}

/// The feed: one bounded channel shared by all sources and all workers.
#[derive(Clone)]
pub struct Feed {
    tx: Sender<Chunk>,
    rx: Receiver<Chunk>,
    sources: Arc<Mutex<Vec<Arc<SourceProgress>>>>,
    waiting: Arc<Waiting>,
}

/// How many chunks of each epoch are sent (or being sent) and not yet taken.
#[derive(Debug, Default)]
struct Waiting(Mutex<BTreeMap<u64, usize>>);

impl Waiting {
    fn add(&self, epoch: u64) {
        *self.lock().entry(epoch).or_default() += 1;
    }

    fn remove(&self, epoch: u64) {
        let mut waiting = self.lock();
        if let Some(n) = waiting.get_mut(&epoch) {
            *n -= 1;
            if *n == 0 {
                waiting.remove(&epoch);
            }
        }
    }

    fn least(&self) -> Option<u64> {
        self.lock().keys().next().copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, usize>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Feed {
    /// A feed holding at most `capacity` chunks in flight (backpressure beyond).
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        Feed {
            tx,
            rx,
            sources: Arc::default(),
            waiting: Arc::default(),
        }
    }

    /// Registers a source; the handle goes to the thread that produces it.
    pub fn add_source(&self, name: &str) -> SourceHandle {
        let progress = Arc::new(SourceProgress {
            name: name.to_owned(),
            sealed: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            positions: Mutex::new(BTreeMap::new()),
            events: AtomicU64::new(0),
        });
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.push(Arc::clone(&progress));
        SourceHandle {
            index: sources.len() - 1,
            tx: self.tx.clone(),
            progress,
            waiting: Arc::clone(&self.waiting),
        }
    }

    /// Every source's progress.
    pub fn sources(&self) -> Vec<Arc<SourceProgress>> {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The greatest epoch every unfinished source has sealed, and whether all are finished.
    pub fn sealed(&self) -> (u64, bool) {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let mut min = u64::MAX;
        let mut all_finished = true;
        for s in sources.iter() {
            if !s.finished() {
                all_finished = false;
                min = min.min(s.sealed());
            }
        }
        (min, all_finished)
    }

    /// Takes a chunk if one is waiting.
    pub fn try_take(&self) -> Result<Chunk, TryRecvError> {
        let chunk = self.rx.try_recv()?;
        self.waiting.remove(chunk.epoch);
        Ok(chunk)
    }

    /// The least epoch of the chunks sent and not yet taken (`None`: none
    /// is). Read after [`Feed::sealed`], it bounds what may still arrive:
    /// every chunk of an epoch the sources had sealed then is either
    /// counted here or already taken.
    pub fn least_waiting(&self) -> Option<u64> {
        self.waiting.least()
    }

    /// Chunks waiting.
    pub fn backlog(&self) -> usize {
        self.rx.len()
    }

    /// Positions of every source as of `epoch`, as `{source name: position}`.
    /// Sources registered under one name (a Kafka source's consumer threads)
    /// have object positions, merged into one object.
    pub fn positions_at(&self, epoch: u64) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for s in self.sources() {
            let position = s.position_at(epoch).unwrap_or(serde_json::Value::Null);
            match (map.get_mut(&s.name), position) {
                (Some(serde_json::Value::Object(merged)), serde_json::Value::Object(part)) => {
                    merged.extend(part);
                }
                (_, position) => {
                    map.insert(s.name.clone(), position);
                }
            }
        }
        serde_json::Value::Object(map)
    }
}

/// The producing side of one source.
pub struct SourceHandle {
    index: usize,
    tx: Sender<Chunk>,
    progress: Arc<SourceProgress>,
    waiting: Arc<Waiting>,
}

/// The dataflow has gone away; the source should stop.
#[derive(Debug, thiserror::Error)]
#[error("the engine stopped reading this source")]
pub struct FeedClosed;

impl SourceHandle {
    /// This source's index in the feed.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Sends a chunk (blocks while the feed is full: backpressure).
    pub fn send(&self, mut chunk: Chunk, lines: u64) -> Result<(), FeedClosed> {
        chunk.source = self.index;
        self.progress.events.fetch_add(lines, Ordering::Relaxed);
        // Counted before it is in the channel, so that no reader of
        // `least_waiting` can miss it (it is uncounted when taken).
        let epoch = chunk.epoch;
        self.waiting.add(epoch);
        self.tx.send(chunk).map_err(|_| {
            self.waiting.remove(epoch);
            FeedClosed
        })
    }

    /// Declares every epoch `<= epoch` complete, at input `position`.
    pub fn seal(&self, epoch: u64, position: serde_json::Value) {
        if epoch > self.progress.sealed() {
            if let Ok(mut p) = self.progress.positions.lock() {
                p.insert(epoch, position);
            }
            self.progress.sealed.store(epoch, Ordering::Release);
        }
    }

    /// Declares the source done at `position`.
    pub fn finish(&self, epoch: u64, position: serde_json::Value) {
        self.seal(epoch, position);
        self.progress.finished.store(true, Ordering::Release);
    }
}

/// Which part of an input this process reads, in a cluster of `of`
/// processes (the default, `0 of 1`, is all of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// This process's index.
    pub index: usize,
    /// Processes sharing the input.
    pub of: usize,
}

impl Default for Share {
    fn default() -> Self {
        Share { index: 0, of: 1 }
    }
}

impl Share {
    /// Whether the `n`-th of some items (files, parts) is this process's.
    pub fn takes(&self, n: usize) -> bool {
        n % self.of.max(1) == self.index
    }

    /// Whether this process reads everything.
    pub fn is_all(&self) -> bool {
        self.of <= 1
    }
}

/// How a source assigns epochs.
#[derive(Clone, Debug)]
pub enum EpochPolicy {
    /// Wall-clock ticks shared by all sources of an engine: epoch = 1 + elapsed / tick.
    Clock(EpochClock),
    /// A new epoch every this many lines (batch replay).
    Lines(u64),
}

/// A wall clock cut into ticks, paced by the dataflow: a source closes its
/// epoch at a tick only once the dataflow has completed every epoch the
/// source closed before, so while the workers are behind, what arrives
/// gathers in one epoch (computed once) instead of in a tick's worth each
/// (each costing every operator a round of work).
#[derive(Clone, Debug)]
pub struct EpochClock {
    start: Instant,
    tick: Duration,
    /// The first epoch the dataflow has not completed (0: not reported,
    /// no pacing); shared by every clone.
    first_incomplete: Arc<AtomicU64>,
}

impl EpochClock {
    /// A clock starting now.
    pub fn new(tick: Duration) -> Self {
        EpochClock {
            start: Instant::now(),
            tick: tick.max(Duration::from_micros(100)),
            first_incomplete: Arc::default(),
        }
    }

    /// The current tick (starts at 1).
    pub fn now(&self) -> u64 {
        1 + (self.start.elapsed().as_nanos() / self.tick.as_nanos()) as u64
    }

    /// Whether the dataflow has completed every epoch up to `sealed` (or
    /// does not report its progress).
    fn completed(&self, sealed: u64) -> bool {
        match self.first_incomplete.load(Ordering::Acquire) {
            0 => true,
            first => first > sealed,
        }
    }

    /// Where the dataflow reports the first epoch it has not completed.
    pub fn pace(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.first_incomplete)
    }
}

/// Tracks the current epoch of one source under a policy and seals as it moves.
pub struct EpochCursor {
    policy: EpochPolicy,
    current: u64,
    lines_in_epoch: u64,
    /// The last epoch this cursor closed (0: none).
    closed: u64,
}

impl EpochCursor {
    /// Starts at epoch 1 (or the clock's current epoch).
    pub fn new(policy: EpochPolicy) -> Self {
        let current = match &policy {
            EpochPolicy::Clock(c) => c.now(),
            EpochPolicy::Lines(_) => 1,
        };
        EpochCursor {
            policy,
            current,
            lines_in_epoch: 0,
            closed: 0,
        }
    }

    /// The epoch for the next chunk.
    pub fn current(&self) -> u64 {
        self.current
    }

    /// Accounts for `lines` sent in the current epoch.
    pub fn sent(&mut self, lines: u64) {
        self.lines_in_epoch += lines;
    }

    /// Moves to a later epoch if the policy says so; returns the epoch that
    /// just closed (to seal), if any.
    pub fn advance(&mut self) -> Option<u64> {
        let next = match &self.policy {
            // Paced: while the dataflow still computes what this source
            // closed, the current epoch stays open and gathers more.
            EpochPolicy::Clock(c) if !c.completed(self.closed) => self.current,
            EpochPolicy::Clock(c) => c.now(),
            EpochPolicy::Lines(n) if self.lines_in_epoch >= *n => self.current + 1,
            EpochPolicy::Lines(_) => self.current,
        };
        (next > self.current).then(|| {
            let closed = next - 1;
            self.current = next;
            self.lines_in_epoch = 0;
            self.closed = closed;
            closed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_is_the_minimum_over_unfinished_sources() {
        let feed = Feed::new(4);
        let a = feed.add_source("a");
        let b = feed.add_source("b");
        a.seal(5, serde_json::json!({"line": 5}));
        b.seal(3, serde_json::json!({"line": 3}));
        assert_eq!(feed.sealed(), (3, false));
        b.finish(4, serde_json::json!({"line": 9}));
        assert_eq!(feed.sealed(), (5, false));
        a.finish(6, serde_json::Value::Null);
        assert!(feed.sealed().1);
        assert_eq!(feed.positions_at(3)["b"]["line"], 3);
        assert_eq!(feed.positions_at(4)["b"]["line"], 9);
        for s in feed.sources() {
            s.forget_before(5);
        }
        assert_eq!(
            feed.positions_at(5)["a"]["line"],
            5,
            "the position in force at 5 is kept"
        );
        assert_eq!(
            feed.positions_at(3)["b"],
            serde_json::Value::Null,
            "older ones are gone"
        );
    }

    fn chunk(epoch: u64) -> Chunk {
        Chunk {
            source: 0,
            epoch,
            first_line: 0,
            origin: Arc::from("test"),
            data: Vec::new(),
            records: None,
            decoded: None,
        }
    }

    #[test]
    fn least_waiting_is_the_least_epoch_sent_and_not_taken() {
        let feed = Feed::new(8);
        let a = feed.add_source("a");
        let b = feed.add_source("b");
        assert_eq!(feed.least_waiting(), None);
        for epoch in [2, 2, 3] {
            a.send(chunk(epoch), 1).unwrap();
        }
        b.send(chunk(1), 1).unwrap();
        assert_eq!(feed.least_waiting(), Some(1));
        // Taken in channel order: a's two chunks of 2, then 3, then b's 1.
        let taken: Vec<u64> = (0..3).map(|_| feed.try_take().unwrap().epoch).collect();
        assert_eq!(taken, vec![2, 2, 3]);
        assert_eq!(feed.least_waiting(), Some(1), "b's chunk still waits");
        assert_eq!(feed.try_take().unwrap().epoch, 1);
        assert_eq!(feed.least_waiting(), None);
        assert!(feed.try_take().is_err());
        assert_eq!(feed.least_waiting(), None);
    }

    #[test]
    fn a_paced_clock_closes_an_epoch_only_once_the_dataflow_completed_the_last() {
        let clock = EpochClock::new(Duration::from_micros(100));
        let pace = clock.pace();
        let mut c = EpochCursor::new(EpochPolicy::Clock(clock));
        let wait_a_tick = || std::thread::sleep(Duration::from_millis(2));
        // Not reported yet: the clock alone decides.
        wait_a_tick();
        let first = c.advance().expect("a tick passed");
        // The dataflow has not completed `first`: the epoch stays open,
        // however many ticks pass.
        pace.store(first, Ordering::Release);
        wait_a_tick();
        assert_eq!(c.advance(), None);
        let held = c.current();
        wait_a_tick();
        assert_eq!((c.advance(), c.current()), (None, held));
        // Once it has, the cursor moves to the clock's tick, closing one
        // epoch that gathered everything in between.
        pace.store(first + 1, Ordering::Release);
        let closed = c.advance().expect("the dataflow caught up");
        assert!(closed >= held && c.current() > held);
    }

    #[test]
    fn line_policy_moves_epochs_by_volume() {
        let mut c = EpochCursor::new(EpochPolicy::Lines(10));
        c.sent(9);
        assert_eq!(c.advance(), None);
        c.sent(1);
        assert_eq!(c.advance(), Some(1));
        assert_eq!(c.current(), 2);
    }
}
