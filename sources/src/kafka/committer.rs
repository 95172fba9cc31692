//! The offset committer of one consumer thread: a thread of its own that
//! commits the newest offsets it was handed. librdkafka's synchronous
//! commit waits without limit for the group coordinator (for instance while
//! a restarted broker settles), and its asynchronous commit reports nothing
//! back through `rdkafka` without a global callback; committing here keeps
//! the reading thread from ever waiting on the coordinator, and each answer
//! comes back to it as a [`CommitReply`]. Only the newest offsets matter:
//! offsets handed over while a commit is in flight replace older ones not
//! yet sent.

use super::client::StatusContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The coordinator's answer to one commit.
#[derive(Debug)]
pub(crate) struct CommitReply {
    /// The offsets committed (or refused), per partition slot; 0 where the
    /// commit named no offset.
    pub(crate) offsets: Vec<i64>,
    /// Why the commit failed.
    pub(crate) error: Option<String>,
}

#[derive(Default)]
struct State {
    /// Offsets waiting to be committed.
    next: Option<Vec<i64>>,
    /// When the commit in flight was sent.
    busy_since: Option<Instant>,
    replies: Vec<CommitReply>,
    stopping: bool,
}

type SharedState = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &SharedState) -> MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Commits on a thread of its own; see the module doc.
pub(crate) struct Committer {
    shared: SharedState,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Starts the thread. `partitions` names each slot's `(topic, partition)`.
    pub(crate) fn start(
        name: String,
        consumer: Arc<BaseConsumer<StatusContext>>,
        partitions: Vec<(String, i32)>,
    ) -> std::io::Result<Self> {
        let shared = SharedState::default();
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || commit_loop(&consumer, &partitions, &state))?;
        Ok(Committer {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands over offsets to commit (per slot; 0 = none), replacing any not
    /// sent yet.
    pub(crate) fn ask(&self, offsets: Vec<i64>) {
        lock(&self.shared).next = Some(offsets);
        self.shared.1.notify_all();
    }

    /// The answers received since the last call, oldest first.
    pub(crate) fn take_replies(&self) -> Vec<CommitReply> {
        std::mem::take(&mut lock(&self.shared).replies)
    }

    /// How long the commit in flight has waited for its answer.
    pub(crate) fn waiting_for(&self) -> Option<Duration> {
        lock(&self.shared).busy_since.map(|t| t.elapsed())
    }

    /// Lets the offsets handed over be committed, waiting at most `wait`,
    /// then stops the thread. False if a commit was still unanswered (the
    /// thread is then left to finish on its own).
    pub(crate) fn finish(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut state = lock(&self.shared);
        state.stopping = true;
        self.shared.1.notify_all();
        while state.next.is_some() || state.busy_since.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.shared.1.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
        drop(state);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        true
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        lock(&self.shared).stopping = true;
        self.shared.1.notify_all();
    }
}

fn commit_loop(
    consumer: &BaseConsumer<StatusContext>,
    partitions: &[(String, i32)],
    shared: &SharedState,
) {
    loop {
        let offsets = {
            let mut state = lock(shared);
            while state.next.is_none() && !state.stopping {
                state = match shared.1.wait(state) {
                    Ok(s) => s,
                    Err(e) => e.into_inner(),
                };
            }
            let Some(offsets) = state.next.take() else {
                return;
            };
            state.busy_since = Some(Instant::now());
            offsets
        };
        let error = commit(consumer, partitions, &offsets).err();
        let mut state = lock(shared);
        state.busy_since = None;
        state.replies.push(CommitReply { offsets, error });
        shared.1.notify_all();
    }
}

/// One synchronous commit of the slots with an offset.
fn commit(
    consumer: &BaseConsumer<StatusContext>,
    partitions: &[(String, i32)],
    offsets: &[i64],
) -> Result<(), String> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in partitions.iter().zip(offsets) {
        if *offset > 0 {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| e.to_string())?;
        }
    }
    if tpl.count() == 0 {
        return Ok(());
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(|e| e.to_string())
}
