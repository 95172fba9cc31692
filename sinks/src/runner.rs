//! The thread that drives one database sink: it takes the views' changes
//! from the dataflow, keeps the latest change per key (see [`Pending`]),
//! writes batches when they are big or old enough, retries failed writes
//! with exponential backoff, and publishes how far the store is written so
//! that Kafka offsets are committed only for what the store holds.
//!
//! Backpressure: while `max_pending_rows` keys wait, the runner stops taking
//! changes; its queue fills (at most `max_pending_rows` rows plus one
//! message, see [`crate::queue`]), the export operators wait, and the
//! dataflow and the sources wait with them (the workers still answer reads
//! meanwhile). Nothing is dropped.

use crate::pending::{Batch, Pending};
use crate::queue::ChangeReceiver;
use crate::queue::SinkMessage;
use helixflow_operators::rows::ViewName;
use helixflow_operators::Time;
use helixflow_types::topology::SinkBatching;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Why a write (or schema set-up) failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct SinkError {
    /// What was being done, e.g. `inserting 5000 rows into helixflow.provider_stats`.
    pub what: String,
    /// The server's or client's message.
    pub detail: String,
}

impl SinkError {
    /// An error while doing `what`.
    pub fn new(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        SinkError {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    /// An error while doing `what`, with each of its causes (a client's
    /// "connect error" says why only in its sources: a refused
    /// certificate, a closed port).
    pub fn caused_by(what: impl Into<String>, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut detail = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = cause.source();
        }
        SinkError {
            what: what.into(),
            detail,
        }
    }
}

/// A store the runner writes to.
pub trait SinkWriter: Send + 'static {
    /// Creates what the store needs (schema, constraints); retried until it succeeds.
    fn prepare(&mut self) -> Result<(), SinkError>;
    /// Writes every change (and raw event), idempotently. `version` grows
    /// with every call.
    fn write(&mut self, version: u64, batch: &Batch) -> Result<(), SinkError>;
    /// True for a store that records how far its input has got (the lake's
    /// manifest): the runner then also writes batches that carry only
    /// progress, at the flush interval, and the written frontier moves only
    /// with a write.
    fn commits_progress(&self) -> bool {
        false
    }
}

/// What one sink has done, for status lines, metrics and Kafka commits.
pub struct SinkStatus {
    /// The sink's name in the topology.
    pub name: String,
    /// `clickhouse` or `neo4j`.
    pub kind: &'static str,
    written: AtomicU64,
    rows: AtomicU64,
    batches: AtomicU64,
    failures: AtomicU64,
    pending: AtomicU64,
    largest_message: AtomicU64,
    queued: AtomicU64,
    trouble: Mutex<Trouble>,
}

/// A sink's failures, as health reports them.
#[derive(Clone, Debug, Default)]
pub struct Trouble {
    /// Why the sink cannot write right now, if it cannot.
    pub problem: Option<String>,
    /// Since when (ms since the Unix epoch) it has not been able to write.
    pub since: Option<i64>,
    /// The last failure (kept after the sink recovers), and when it happened.
    pub last_error: Option<(String, i64)>,
    /// The runner has returned: it writes nothing more.
    pub stopped: bool,
}

/// Now, in milliseconds since the Unix epoch.
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SinkStatus {
    /// A sink that has written nothing yet.
    pub fn new(name: &str, kind: &'static str) -> Self {
        SinkStatus {
            name: name.to_owned(),
            kind,
            written: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            largest_message: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            trouble: Mutex::new(Trouble::default()),
        }
    }

    /// Every change at a time before this is in the store (`Time::MAX`: all of it).
    pub fn written_frontier(&self) -> Time {
        self.written.load(Ordering::Acquire)
    }
    /// Rows written (a retried row counts again).
    pub fn rows_written(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }
    /// Batches written.
    pub fn batches_written(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
    /// Failed writes.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Changed keys waiting to be written.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
    /// Changed rows queued for the runner, not yet in its backlog.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }
    /// Rows of the largest change message taken so far: the backlog passes
    /// `max_pending_rows` by at most this much.
    pub fn largest_message(&self) -> u64 {
        self.largest_message.load(Ordering::Relaxed)
    }
    /// Why the sink cannot write right now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.trouble().problem
    }
    /// The problem, since when, the last failure, and whether it stopped.
    pub fn trouble(&self) -> Trouble {
        self.trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn held(&self, pending: &Pending, queue: &ChangeReceiver) {
        self.pending.store(pending.len() as u64, Ordering::Relaxed);
        self.queued.store(queue.queued_rows(), Ordering::Relaxed);
    }
    /// Sets (a failure: noted as the last error) or clears the problem.
    fn set_problem(&self, p: Option<String>) {
        let mut t = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        match p {
            Some(problem) => {
                let now = now_millis();
                t.since.get_or_insert(now);
                t.last_error = Some((problem.clone(), now));
                t.problem = Some(problem);
            }
            None => {
                t.problem = None;
                t.since = None;
            }
        }
    }
    fn set_stopped(&self) {
        self.trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopped = true;
    }
}

/// Everything a runner thread needs.
pub struct SinkRunner {
    pub batching: SinkBatching,
    /// The views this sink receives.
    pub views: Vec<ViewName>,
    /// The sink takes raw events from ingest: its written frontier also
    /// waits for every worker's raw progress.
    pub raw: bool,
    /// Worker count (each worker exports its own keys).
    pub workers: usize,
    pub changes: ChangeReceiver,
    pub status: Arc<SinkStatus>,
    /// Set when the engine stops: write what is pending, then return.
    pub stop: Arc<AtomicBool>,
    /// How long a stopping sink keeps retrying its last writes.
    pub stop_grace: Duration,
}

/// A write version: microseconds since the epoch, strictly increasing.
fn next_version(last: u64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    now.max(last + 1)
}

impl SinkRunner {
    /// Runs until stopped and drained (or the stop grace runs out).
    pub fn run(self, writer: impl SinkWriter) {
        let status = Arc::clone(&self.status);
        self.run_writer(writer);
        status.set_stopped();
    }

    fn run_writer(self, mut writer: impl SinkWriter) {
        let status = &self.status;
        let b = &self.batching;
        let mut backoff = b.retry_initial;
        // Schema first, retried like writes.
        loop {
            match writer.prepare() {
                Ok(()) => break,
                Err(e) => {
                    status.failures.fetch_add(1, Ordering::Relaxed);
                    status.set_problem(Some(format!("{e} (retrying in {backoff:?})")));
                    // Changes wait in the queue meanwhile: health shows them held.
                    status.held(&Pending::default(), &self.changes);
                    if self.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(b.retry_max);
                }
            }
        }
        status.set_problem(None);
        backoff = b.retry_initial;
        // Per (view, worker), and per worker for raw events (view `None`).
        let streams: Vec<Option<ViewName>> = self
            .views
            .iter()
            .copied()
            .map(Some)
            .chain(self.raw.then_some(None))
            .collect();
        let mut frontiers: HashMap<(Option<ViewName>, usize), Time> = streams
            .iter()
            .flat_map(|v| (0..self.workers).map(move |w| ((*v, w), 0)))
            .collect();
        let progress_writes = writer.commits_progress();
        let mut last_write = Instant::now();
        let mut pending = Pending::default();
        let mut oldest: Option<Instant> = None;
        let mut retry_at: Option<Instant> = None;
        let mut version = 0u64;
        let mut stop_deadline: Option<Instant> = None;
        loop {
            let stopping = self.stop.load(Ordering::Relaxed);
            if stopping && stop_deadline.is_none() {
                stop_deadline = Some(Instant::now() + self.stop_grace);
            }
            // Take changes while there is room (always when stopping: the
            // dataflow is gone and the channel only drains).
            // Takes one message at a time, so the backlog passes the bound
            // by at most one message's rows.
            let room = |p: &Pending| p.len() < b.max_pending_rows || stopping;
            if room(&pending) {
                let first = self.changes.recv_timeout(Duration::from_millis(5));
                let mut next = first;
                let mut taken = 0;
                while let Some(m) = next.take() {
                    taken += 1;
                    if m.rows() > 0 {
                        oldest.get_or_insert_with(Instant::now);
                        status
                            .largest_message
                            .fetch_max(m.rows() as u64, Ordering::Relaxed);
                    }
                    match m {
                        SinkMessage::Changes(c) => {
                            if let Some(f) = frontiers.get_mut(&(Some(c.view), c.worker)) {
                                *f = (*f).max(c.upper);
                            }
                            pending.absorb(c);
                        }
                        SinkMessage::Raw(r) => pending.absorb_raw(r),
                        SinkMessage::RawProgress { worker, upper } => {
                            if let Some(f) = frontiers.get_mut(&(None, worker)) {
                                *f = (*f).max(upper);
                            }
                        }
                    }
                    // A bounded round, so a busy channel still lets batches out.
                    if room(&pending) && taken < 4096 {
                        next = self.changes.try_recv();
                    }
                }
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
            status.held(&pending, &self.changes);
            let covered = frontiers.values().copied().min().unwrap_or(Time::MAX);
            // A store that records progress writes it too, at the flush interval.
            let progress_due = progress_writes
                && covered > status.written_frontier()
                && (last_write.elapsed() >= b.flush_interval || covered == Time::MAX || stopping);
            if pending.is_empty() && !progress_due {
                if !progress_writes {
                    status.written.fetch_max(covered, Ordering::AcqRel);
                }
                let caught_up = !progress_writes || status.written_frontier() >= covered;
                if stopping && self.changes.is_empty() && caught_up {
                    return;
                }
                if covered == Time::MAX {
                    std::thread::sleep(Duration::from_millis(20));
                }
                continue;
            }
            let due = pending.len() >= b.batch_rows
                || oldest.is_some_and(|o| o.elapsed() >= b.flush_interval)
                || stopping
                || covered == Time::MAX
                || progress_due;
            if !due || retry_at.is_some_and(|r| Instant::now() < r) {
                if stopping && stop_deadline.is_some_and(|d| Instant::now() >= d) {
                    status.set_problem(Some(format!(
                        "stopped with {} changed rows unwritten (their input offsets are not committed)",
                        pending.len()
                    )));
                    return;
                }
                continue;
            }
            let mut batch = pending.take();
            batch.upper = covered;
            version = next_version(version);
            match writer.write(version, &batch) {
                Ok(()) => {
                    last_write = Instant::now();
                    status.rows.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    status.batches.fetch_add(1, Ordering::Relaxed);
                    status.written.fetch_max(covered, Ordering::AcqRel);
                    status.set_problem(None);
                    oldest = (!pending.is_empty()).then(Instant::now);
                    backoff = b.retry_initial;
                    retry_at = None;
                }
                Err(e) => {
                    status.failures.fetch_add(1, Ordering::Relaxed);
                    status.set_problem(Some(format!("{e} (retrying in {backoff:?})")));
                    pending.restore(batch);
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(b.retry_max);
                }
            }
            status.held(&pending, &self.changes);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The runner against a scripted writer (a unit test: the real servers
    //! are exercised by scripts/test.sh and engine/tests/*_outage.rs).

    use super::*;
    use helixflow_operators::changes::ViewChanges;
    use helixflow_operators::intern::Id;
    use helixflow_operators::rows::{ViewItem, ViewPart};
    use std::collections::BTreeMap;

    /// Fails while `down`, else records the last row written per key.
    struct Scripted {
        down: Arc<AtomicBool>,
        store: Arc<Mutex<BTreeMap<(u32, u32), isize>>>,
    }

    impl SinkWriter for Scripted {
        fn prepare(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn write(&mut self, _version: u64, batch: &Batch) -> Result<(), SinkError> {
            if self.down.load(Ordering::Relaxed) {
                return Err(SinkError::new("writing", "connection refused"));
            }
            let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            for c in &batch.changes {
                if let ViewItem::Pair((a, b), n) = c.item {
                    store.insert((a.0, b.0), n);
                }
            }
            Ok(())
        }
    }

    fn message(upper: Time, pairs: Vec<((Id, Id), helixflow_operators::Diff)>) -> SinkMessage {
        SinkMessage::Changes(ViewChanges {
            view: ViewName::EntityCooccurrence,
            worker: 0,
            upper,
            upserts: ViewPart::Cooccurrence(pairs),
            deletes: ViewPart::Cooccurrence(Vec::new()),
        })
    }

    #[test]
    fn a_down_store_fills_the_bounded_backlog_then_blocks_and_loses_nothing_once_back() {
        let (tx, rx) = crate::queue::change_queue(4);
        let down = Arc::new(AtomicBool::new(true));
        let store = Arc::new(Mutex::new(BTreeMap::new()));
        let status = Arc::new(SinkStatus::new("t", "test"));
        let stop = Arc::new(AtomicBool::new(false));
        let runner = SinkRunner {
            batching: SinkBatching {
                batch_rows: 1,
                flush_interval: Duration::from_millis(1),
                max_pending_rows: 6,
                retry_initial: Duration::from_millis(5),
                retry_max: Duration::from_millis(5),
            },
            views: vec![ViewName::EntityCooccurrence],
            raw: false,
            workers: 1,
            changes: rx,
            status: Arc::clone(&status),
            stop: Arc::clone(&stop),
            stop_grace: Duration::from_secs(5),
        };
        let writer = Scripted {
            down: Arc::clone(&down),
            store: Arc::clone(&store),
        };
        let thread = std::thread::spawn(move || runner.run(writer));
        // Each message changes two new pairs. While the store is down the
        // runner takes messages until 6 rows wait, then its queue fills
        // (4 rows) and senders wait.
        let mut sent = 0u32;
        let blocked = loop {
            let pairs = vec![
                ((Id(sent), Id(sent + 1000)), 1),
                ((Id(sent), Id(sent + 2000)), 2),
            ];
            let deadline = Instant::now() + Duration::from_millis(300);
            if !tx.send(message(u64::from(sent) + 1, pairs), || {
                Instant::now() > deadline
            }) {
                break sent;
            }
            sent += 1;
            assert!(sent < 100, "the runner never applied backpressure");
        };
        assert!(
            status.pending() <= 6 + 2,
            "backlog {} over the bound",
            status.pending()
        );
        assert!(
            status.queued() <= 4 + 2,
            "queue {} over the bound",
            status.queued()
        );
        assert_eq!(status.rows_written(), 0);
        assert_eq!(status.written_frontier(), 0);
        assert!(status.failures() > 0);
        assert!(status
            .problem()
            .is_some_and(|p| p.contains("connection refused")));

        // Back up: everything flows, and the final message closes the input.
        down.store(false, Ordering::Relaxed);
        for i in blocked..blocked + 3 {
            let pairs = vec![((Id(i), Id(i + 1000)), 1), ((Id(i), Id(i + 2000)), 2)];
            assert!(tx.send(message(u64::from(i) + 1, pairs), || false));
        }
        // The first pair changes count: the store must end with the latest.
        assert!(tx.send(message(Time::MAX, vec![((Id(0), Id(1000)), 7)]), || false));
        let deadline = Instant::now() + Duration::from_secs(10);
        while status.written_frontier() != Time::MAX {
            assert!(
                Instant::now() < deadline,
                "never caught up: {:?}",
                status.problem()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap_or_default();
        let store = store.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(store.len() as u32, 2 * (blocked + 3), "every pair, once");
        assert_eq!(store[&(0, 1000)], 7);
        assert_eq!(store[&(1, 2001)], 2);
        assert!(status.problem().is_none());
    }
}
