//! The hand-off of change messages from the workers' export operators to
//! one sink runner, bounded by rows as well as by messages: a sender waits
//! while the rows queued reach the limit (or the channel's message slots
//! are full), so what a sink holds in flight stays bounded however large
//! each epoch's messages are. Waiting is how backpressure reaches the
//! dataflow and, through it, the sources.

use helixflow_operators::changes::{RawEvent, ViewChanges};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// What flows to a sink runner: a view's changes, raw events, or how far
/// one worker's ingest has handed raw events over.
#[derive(Clone, Debug)]
pub enum SinkMessage {
    Changes(ViewChanges),
    Raw(Vec<RawEvent>),
    /// Worker `worker` has handed over every raw event of the epochs
    /// before `upper` (`Time::MAX`: all it will ever have).
    RawProgress {
        worker: usize,
        upper: helixflow_operators::Time,
    },
}

impl SinkMessage {
    /// Rows the message carries (changed keys, or events).
    pub fn rows(&self) -> usize {
        match self {
            SinkMessage::Changes(c) => c.rows(),
            SinkMessage::Raw(r) => r.len(),
            SinkMessage::RawProgress { .. } => 0,
        }
    }
}

/// Message slots of a queue (progress-only messages carry no rows).
const MESSAGE_SLOTS: usize = 1024;

/// How long a waiting sender sleeps before it looks again.
const WAIT_STEP: Duration = Duration::from_millis(2);

/// The workers' end of a queue (cloned into every worker).
#[derive(Clone)]
pub struct ChangeSender {
    tx: crossbeam_channel::Sender<SinkMessage>,
    queued: Arc<AtomicU64>,
    limit: u64,
    /// Gone once the runner has dropped its end.
    runner: Weak<()>,
}

/// The runner's end of a queue.
pub struct ChangeReceiver {
    rx: crossbeam_channel::Receiver<SinkMessage>,
    queued: Arc<AtomicU64>,
    _alive: Arc<()>,
}

/// A queue that admits a message while fewer than `limit_rows` rows wait,
/// so it never holds more than `limit_rows` plus one message.
pub fn change_queue(limit_rows: u64) -> (ChangeSender, ChangeReceiver) {
    let (tx, rx) = crossbeam_channel::bounded(MESSAGE_SLOTS);
    let queued = Arc::new(AtomicU64::new(0));
    let alive = Arc::new(());
    (
        ChangeSender {
            tx,
            queued: Arc::clone(&queued),
            limit: limit_rows.max(1),
            runner: Arc::downgrade(&alive),
        },
        ChangeReceiver {
            rx,
            queued,
            _alive: alive,
        },
    )
}

impl ChangeSender {
    /// Sends `msg`, waiting while the queue is full. Returns false, having
    /// dropped the message, only if `give_up()` turns true while waiting (the
    /// engine is stopping) or the runner is gone. `give_up` is asked on
    /// every turn of a wait, every few milliseconds: a waiting caller does
    /// its other work there.
    pub fn send(&self, msg: SinkMessage, give_up: impl Fn() -> bool) -> bool {
        let rows = msg.rows() as u64;
        while rows > 0 && self.queued.load(Ordering::Acquire) >= self.limit {
            if give_up() || self.runner.strong_count() == 0 {
                return false;
            }
            std::thread::sleep(WAIT_STEP);
        }
        self.queued.fetch_add(rows, Ordering::AcqRel);
        let mut msg = msg;
        loop {
            match self.tx.send_timeout(msg, WAIT_STEP) {
                Ok(()) => return true,
                Err(crossbeam_channel::SendTimeoutError::Timeout(back)) if !give_up() => msg = back,
                Err(_) => {
                    self.queued.fetch_sub(rows, Ordering::AcqRel);
                    return false;
                }
            }
        }
    }
}

impl ChangeReceiver {
    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<SinkMessage> {
        self.rx.recv_timeout(timeout).ok().map(|m| self.taken(m))
    }
    /// The next message if one is waiting.
    pub fn try_recv(&self) -> Option<SinkMessage> {
        self.rx.try_recv().ok().map(|m| self.taken(m))
    }
    /// True when no message waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
    /// Rows of the messages waiting.
    pub fn queued_rows(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }
    fn taken(&self, msg: SinkMessage) -> SinkMessage {
        self.queued.fetch_sub(msg.rows() as u64, Ordering::AcqRel);
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helixflow_operators::intern::Id;
    use helixflow_operators::rows::{ViewName, ViewPart};
    use std::sync::atomic::AtomicBool;

    fn message(rows: u32) -> SinkMessage {
        SinkMessage::Changes(ViewChanges {
            view: ViewName::EntityCooccurrence,
            worker: 0,
            upper: 1,
            upserts: ViewPart::Cooccurrence((0..rows).map(|i| ((Id(i), Id(i + 1)), 1)).collect()),
            deletes: ViewPart::Cooccurrence(Vec::new()),
        })
    }

    #[test]
    fn a_sender_waits_at_the_row_limit_and_goes_on_once_rows_are_taken() {
        let (tx, rx) = change_queue(10);
        assert!(tx.send(message(8), || false));
        assert!(tx.send(message(8), || false), "admitted below the limit");
        assert_eq!(rx.queued_rows(), 16);
        // Full: a sender that may give up does, and the queue is unchanged.
        assert!(!tx.send(message(1), || true));
        assert_eq!(rx.queued_rows(), 16);
        // Progress-only messages always pass.
        assert!(tx.send(message(0), || true));

        let waiting = Arc::new(AtomicBool::new(true));
        let sender = {
            let (tx, waiting) = (tx.clone(), Arc::clone(&waiting));
            std::thread::spawn(move || {
                let sent = tx.send(message(3), || false);
                waiting.store(false, Ordering::Release);
                sent
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(waiting.load(Ordering::Acquire), "the sender did not wait");
        assert_eq!(rx.try_recv().map(|m| m.rows()), Some(8));
        assert_eq!(rx.try_recv().map(|m| m.rows()), Some(8));
        assert!(sender.join().unwrap_or(false));
        assert_eq!(rx.try_recv().map(|m| m.rows()), Some(0));
        assert_eq!(rx.try_recv().map(|m| m.rows()), Some(3));
        assert_eq!(rx.queued_rows(), 0);
    }
}
