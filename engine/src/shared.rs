//! State shared by the workers, the sources, the API and the sinks: the
//! interner, counters, the feed, each worker's published frontier, the read
//! holds that keep snapshots consistent, and the query channels.
//!
//! # Consistent snapshots
//!
//! Each worker publishes the first epoch its traces have not completed. A
//! reader takes `as_of = min(published) - 1` (every epoch up to `as_of` is
//! complete on every worker) and registers a read hold at `as_of` in the same
//! critical section; workers never compact their traces past the least hold.
//! Every worker then answers the query from its traces with exactly the
//! updates at times `<= as_of`: all rows of one response reflect the same
//! input positions.

use crate::rejects::RejectLog;
use crossbeam_channel::{Receiver, Sender};
use helixflow_operators::content::ContentStore;
use helixflow_operators::intern::Interner;
use helixflow_operators::query::{Question, Reply};
use helixflow_operators::rows::{ViewName, ViewPart};
use helixflow_operators::views::KindStats;
use helixflow_operators::Time;
use helixflow_sources::feed::Feed;
use helixflow_types::timestamp::Millis;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A question to one worker: answer it from the traces at `as_of`.
pub struct WorkerQuery {
    pub question: Arc<Question>,
    pub as_of: Time,
    pub reply: Sender<Option<Reply>>,
}

#[derive(Default)]
struct Frontiers {
    /// Per worker: the first epoch not complete (`Time::MAX` once closed).
    published: Vec<Time>,
    /// Active read holds: as_of → count.
    holds: BTreeMap<Time, usize>,
}

impl Frontiers {
    /// The latest epoch complete on every worker (0: nothing yet).
    fn readable(&self) -> Time {
        self.published
            .iter()
            .copied()
            .min()
            .unwrap_or(0)
            .saturating_sub(1)
    }

    /// The oldest epoch some read may still ask for: traces may compact and
    /// positions may be forgotten up to here.
    fn oldest_needed(&self) -> Time {
        let readable = self.readable();
        self.holds
            .keys()
            .next()
            .map_or(readable, |h| readable.min(*h))
    }
}

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// What the question reads is not computed by this topology.
    #[error("{0} is not computed by this topology")]
    NotComputed(String),
    /// A worker did not answer in time (it is overloaded or has stopped).
    #[error("the workers did not answer within {0:?}")]
    Timeout(Duration),
    /// The engine is shutting down.
    #[error("the engine is stopping")]
    Stopping,
}

/// A consistent read of one view.
pub struct Snapshot {
    /// Every epoch `<= as_of` is reflected, none after.
    pub as_of: Time,
    /// The rows, from every worker.
    pub part: ViewPart,
}

/// What a question reads, for errors.
fn describe(question: &Question) -> String {
    match question {
        Question::View(view) | Question::Rows(view) => format!("view `{view}`"),
        Question::Conversation(_) => "the context state (`views.context`)".to_owned(),
        Question::Directory(_)
        | Question::Partners(_)
        | Question::Links(_)
        | Question::Search(_) => "view `entity_directory`".to_owned(),
        Question::MemorySync => "view `memory_state`".to_owned(),
        Question::Latencies(_) => "view `provider_stats`".to_owned(),
        Question::Debate(_) => "view `debate_stats`".to_owned(),
        Question::TopPairs { .. } => "view `entity_cooccurrence`".to_owned(),
        Question::Counters => "the engine's counters".to_owned(),
        Question::Stop => "the cluster's stop".to_owned(),
    }
}

/// A read hold: questions answered at one `as_of` (see [`Shared::hold`]).
pub struct ReadHold<'a> {
    shared: &'a Shared,
    /// Every epoch `<= as_of` is reflected, none after.
    pub as_of: Time,
}

impl ReadHold<'_> {
    /// Asks every worker `question` at this hold's `as_of`.
    pub fn ask(&self, question: Question, timeout: Duration) -> Result<Reply, SnapshotError> {
        self.shared.ask_workers(question, self.as_of, timeout)
    }
}

impl Drop for ReadHold<'_> {
    fn drop(&mut self) {
        let mut f = self
            .shared
            .frontiers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = f.holds.get_mut(&self.as_of) {
            *n -= 1;
            if *n == 0 {
                f.holds.remove(&self.as_of);
            }
        }
    }
}

/// Everything the threads of one engine share.
pub struct Shared {
    /// Identifier table.
    pub ids: Interner,
    /// Texts of the distinct messages (when the context state is kept).
    pub texts: ContentStore,
    /// The chunks from the sources.
    pub feed: Feed,
    /// Rejected inputs.
    pub rejects: RejectLog,
    /// Dedup counters per event kind.
    pub dedup: KindStats,
    /// Valid events decoded (duplicates included).
    pub valid: AtomicU64,
    /// Set to stop every thread.
    pub shutdown: AtomicBool,
    frontiers: Mutex<Frontiers>,
    queries: Vec<Sender<WorkerQuery>>,
    /// Memory events not yet visible: (epoch, `ts`), for `memory_sync_lag_seconds`.
    memory_pending: Mutex<Vec<(Time, Millis)>>,
    memory_waiting: AtomicBool,
    /// The latest complete epoch whose memory events were recorded.
    memory_drained: AtomicU64,
    /// Part of a cluster: questions go to one local worker, which asks
    /// every worker of every process ([`crate::cluster_reads`]).
    cluster: bool,
    /// The local worker the next cluster question goes to.
    next_asker: AtomicU64,
    /// In a cluster whose sinks run on process 0: set, and the latest
    /// epoch process 0 said its sinks have written.
    sinks_elsewhere: AtomicBool,
    cluster_written: AtomicU64,
    /// Where the sources' epoch clock learns the first epoch the workers
    /// have not completed ([`helixflow_sources::feed::EpochClock::pace`]).
    pace: std::sync::OnceLock<Arc<AtomicU64>>,
}

/// The receiving ends of the workers' query channels, one per worker.
pub type QueryInboxes = Vec<Receiver<WorkerQuery>>;

impl Shared {
    /// Shared state for `workers` workers of this process; in a `cluster`,
    /// with the process's global identifier table and content store, the
    /// ones values crossing processes are read into.
    pub fn new(
        workers: usize,
        feed: Feed,
        rejects: RejectLog,
        cluster: bool,
    ) -> (Arc<Shared>, QueryInboxes) {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| crossbeam_channel::unbounded()).unzip();
        let (ids, texts) = if cluster {
            (Interner::global(), ContentStore::global())
        } else {
            (Interner::new(), ContentStore::new())
        };
        let shared = Shared {
            ids,
            texts,
            feed,
            rejects,
            dedup: Default::default(),
            valid: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            frontiers: Mutex::new(Frontiers {
                published: vec![0; workers],
                holds: BTreeMap::new(),
            }),
            queries: senders,
            memory_pending: Mutex::new(Vec::new()),
            memory_waiting: AtomicBool::new(false),
            memory_drained: AtomicU64::new(0),
            cluster,
            next_asker: AtomicU64::new(0),
            sinks_elsewhere: AtomicBool::new(false),
            cluster_written: AtomicU64::new(0),
            pace: std::sync::OnceLock::new(),
        };
        (Arc::new(shared), receivers)
    }

    /// Number of workers of this process.
    pub fn workers(&self) -> usize {
        self.queries.len()
    }

    /// Whether this process is one of a cluster's.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Marks this process as one of a cluster whose sinks run on process 0
    /// and tell every process how far they have written.
    pub fn sinks_in_cluster(&self) {
        self.sinks_elsewhere.store(true, Ordering::Release);
    }

    /// Process 0 says its sinks have written every epoch up to `epoch`.
    pub fn heard_sinks_written(&self, epoch: Time) {
        self.cluster_written.fetch_max(epoch, Ordering::AcqRel);
    }

    /// The latest epoch every sink has written: the cluster's, as process
    /// 0 last said, or else these local sinks'.
    pub fn sinks_written(&self, local: &[Arc<helixflow_sinks::runner::SinkStatus>]) -> Time {
        if self.sinks_elsewhere.load(Ordering::Acquire) {
            self.cluster_written.load(Ordering::Acquire)
        } else {
            crate::db_sinks::written_epoch(local)
        }
    }

    /// This process's counters, by name (what [`Question::Counters`] sums
    /// over a cluster).
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let mut c = BTreeMap::new();
        let lines: u64 = self.feed.sources().iter().map(|s| s.events()).sum();
        c.insert("lines".to_owned(), lines);
        c.insert("valid".to_owned(), self.valid.load(Ordering::Relaxed));
        c.insert("rejected".to_owned(), self.rejects.total());
        for (reason, n) in self.rejects.by_reason() {
            c.insert(format!("rejected.{reason}"), n);
        }
        c.insert("duplicates".to_owned(), self.duplicates());
        c.insert("conflicts".to_owned(), self.conflicts());
        c.insert("context_texts".to_owned(), self.texts.len() as u64);
        c.insert("context_text_bytes".to_owned(), self.texts.text_bytes());
        c
    }

    /// A worker reports the first epoch it has not completed; returns the
    /// epoch its traces may compact to.
    pub fn publish(&self, worker: usize, upper: Time) -> Time {
        let (oldest, readable) = {
            let mut f = self.frontiers.lock().unwrap_or_else(|e| e.into_inner());
            f.published[worker] = upper;
            (f.oldest_needed(), f.readable())
        };
        if let Some(pace) = self.pace.get() {
            pace.fetch_max(readable.saturating_add(1), Ordering::Release);
        }
        // Only when the complete epoch advanced: publish runs on every
        // worker step.
        if self.memory_waiting.load(Ordering::Acquire)
            && readable > self.memory_drained.load(Ordering::Acquire)
        {
            self.memory_visible(readable);
        }
        oldest
    }

    /// Reports the workers' progress to the sources' epoch clock from now
    /// on (once; later calls are ignored).
    pub fn pace_clock(&self, pace: Arc<AtomicU64>) {
        let _ = self.pace.set(pace);
    }

    /// Notes memory events (their `ts`) that arrived in `epoch`.
    pub fn memory_arrived(&self, epoch: Time, ts: &[Millis]) {
        if ts.is_empty() {
            return;
        }
        let mut pending = self
            .memory_pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pending.extend(ts.iter().map(|t| (epoch, *t)));
        self.memory_waiting.store(true, Ordering::Release);
    }

    /// Records how long after its `ts` each memory event of an epoch
    /// `<= readable` became visible.
    fn memory_visible(&self, readable: Time) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut pending = self
            .memory_pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pending.retain(|(epoch, ts)| {
            let visible = *epoch <= readable;
            if visible {
                let lag = u64::try_from(now - ts).unwrap_or(0);
                helixflow_api::metrics::memory_sync_lag(Duration::from_millis(lag));
            }
            !visible
        });
        self.memory_waiting
            .store(!pending.is_empty(), Ordering::Release);
        self.memory_drained.store(readable, Ordering::Release);
    }

    /// The latest epoch complete on every worker (0: nothing yet), and
    /// whether every worker's input is closed.
    pub fn complete(&self) -> (Time, bool) {
        let f = self.frontiers.lock().unwrap_or_else(|e| e.into_inner());
        (f.readable(), f.published.iter().all(|p| *p == Time::MAX))
    }

    /// Takes a read hold at the latest complete epoch: every question asked
    /// through it is answered at that one `as_of`, and traces are not
    /// compacted past it until it is dropped.
    pub fn hold(&self) -> ReadHold<'_> {
        let mut f = self.frontiers.lock().unwrap_or_else(|e| e.into_inner());
        let as_of = f.readable();
        *f.holds.entry(as_of).or_default() += 1;
        ReadHold {
            shared: self,
            as_of,
        }
    }

    /// Reads one view consistently across workers.
    pub fn snapshot(&self, view: ViewName, timeout: Duration) -> Result<Snapshot, SnapshotError> {
        let hold = self.hold();
        match hold.ask(Question::View(view), timeout)? {
            Reply::View(part) => Ok(Snapshot {
                as_of: hold.as_of,
                part,
            }),
            _ => Err(SnapshotError::NotComputed(view.to_string())),
        }
    }

    fn ask_workers(
        &self,
        question: Question,
        as_of: Time,
        timeout: Duration,
    ) -> Result<Reply, SnapshotError> {
        let what = describe(&question);
        let question = Arc::new(question);
        let (tx, rx) = crossbeam_channel::unbounded();
        // In a cluster one local worker asks them all, and replies merged.
        let askers: &[Sender<WorkerQuery>] = if self.cluster {
            let n = self.next_asker.fetch_add(1, Ordering::Relaxed) as usize;
            let i = n % self.queries.len().max(1);
            &self.queries[i..=i]
        } else {
            &self.queries
        };
        for q in askers {
            // A worker that has stopped cannot answer; the timeout below reports it.
            let _ = q.send(WorkerQuery {
                question: Arc::clone(&question),
                as_of,
                reply: tx.clone(),
            });
        }
        let mut merged: Option<Reply> = None;
        let deadline = std::time::Instant::now() + timeout;
        let mut answers = 0;
        while answers < askers.len() {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Some(part)) => {
                    answers += 1;
                    match merged.as_mut() {
                        Some(m) => m.absorb(part),
                        None => merged = Some(part),
                    }
                }
                Ok(None) => return Err(SnapshotError::NotComputed(what)),
                Err(_) if self.shutdown.load(Ordering::Relaxed) => {
                    return Err(SnapshotError::Stopping)
                }
                Err(_) if std::time::Instant::now() >= deadline => {
                    return Err(SnapshotError::Timeout(timeout))
                }
                Err(_) => {}
            }
        }
        merged.ok_or(SnapshotError::NotComputed(what))
    }

    /// How many rows `view` has now (from every worker, every process).
    pub fn rows(&self, view: ViewName, timeout: Duration) -> Result<u64, SnapshotError> {
        match self.hold().ask(Question::Rows(view), timeout)? {
            Reply::Counters(c) => Ok(c.get("rows").copied().unwrap_or(0)),
            _ => Err(SnapshotError::NotComputed(view.to_string())),
        }
    }

    /// Forgets source positions no read can ask for any more (older than
    /// every read hold and the latest complete epoch) and no sink will
    /// record (older than `sinks_written`, what every sink has written).
    pub fn trim_positions(&self, sinks_written: Time) {
        let oldest = self
            .frontiers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .oldest_needed()
            .min(sinks_written);
        for source in self.feed.sources() {
            source.forget_before(oldest);
        }
    }

    /// Duplicates dropped (all kinds).
    pub fn duplicates(&self) -> u64 {
        self.dedup
            .iter()
            .map(|s| s.duplicates.load(Ordering::Relaxed))
            .sum()
    }

    /// Conflicting duplicates (all kinds).
    pub fn conflicts(&self) -> u64 {
        self.dedup
            .iter()
            .map(|s| s.conflicts.load(Ordering::Relaxed))
            .sum()
    }
}
