//! Stuck consumers: librdkafka can leave an `assign()`ed consumer fetching
//! nothing after a broker restart, although the brokers answer and hold
//! more (librdkafka #5153, rust-rdkafka #597; CI saw one of two consumer
//! threads stop at 7,920 of 10,051 messages for two minutes). Only a new
//! consumer recovers. The source's supervisor asks the brokers for the log
//! ends and, through [`StallWatch`], names the partitions read no further
//! for [`STALL`] while messages wait; a consumer thread whose named
//! partitions also gave it nothing for that long (it judges by what it
//! polled, so a thread held up downstream is not taken for stuck) replaces
//! its consumer at the offsets it reached.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A partition behind its log end and read no further for this long is
/// taken for stuck.
pub(crate) const STALL: Duration = Duration::from_secs(10);

/// How often the supervisor compares the partitions with their log ends.
pub(crate) const STALL_CHECK: Duration = Duration::from_secs(5);

/// A partition: `(topic, partition)`.
pub(crate) type PartitionKey = (String, i32);

/// The supervisor's view: each partition's offset consumed and since when.
#[derive(Default)]
pub(crate) struct StallWatch {
    seen: BTreeMap<PartitionKey, (i64, Instant)>,
}

impl StallWatch {
    /// Takes each partition's `(key, consumed, log end)` at `now` and
    /// returns those behind their log end whose consumed offset has not
    /// moved for [`STALL`]. A partition named is given [`STALL`] again
    /// before it is named a second time.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = (PartitionKey, i64, i64)>,
    ) -> Vec<PartitionKey> {
        let mut stuck = Vec::new();
        for (key, consumed, end) in partitions {
            let consumed = consumed.max(0);
            let entry = self.seen.entry(key.clone()).or_insert((consumed, now));
            if entry.0 != consumed {
                *entry = (consumed, now);
            }
            if end > consumed && now.saturating_duration_since(entry.1) >= STALL {
                entry.1 = now;
                stuck.push(key);
            }
        }
        stuck
    }
}

/// A consumer thread's view: when each of its partitions last gave it a
/// message, counted only while the thread was polling.
pub(crate) struct PollClock {
    last_message: Vec<Instant>,
    last_turn: Instant,
}

/// A pause between two polls longer than this (the thread waited for the
/// workers, or was not scheduled) says nothing about the consumer.
const BUSY: Duration = Duration::from_secs(1);

impl PollClock {
    pub(crate) fn new(partitions: usize, now: Instant) -> Self {
        PollClock {
            last_message: vec![now; partitions],
            last_turn: now,
        }
    }

    /// One turn of the reading loop at `now`.
    pub(crate) fn turn(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_turn) > BUSY {
            self.last_message.fill(now);
        }
        self.last_turn = now;
    }

    /// A message of partition `slot` arrived at `now`.
    pub(crate) fn message(&mut self, slot: usize, now: Instant) {
        self.last_message[slot] = now;
    }

    /// Whether partition `slot` gave nothing for [`STALL`] of polling.
    pub(crate) fn silent(&self, slot: usize, now: Instant) -> bool {
        now.saturating_duration_since(self.last_message[slot]) >= STALL
    }

    /// A new consumer starts: every partition's silence starts again.
    pub(crate) fn restart(&mut self, now: Instant) {
        self.last_message.fill(now);
        self.last_turn = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartitionKey {
        ("t".to_string(), p)
    }

    #[test]
    fn a_partition_behind_and_unmoved_for_the_stall_time_is_named_once_per_stall() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(w
            .observe(at(0), [(key(0), 5, 9), (key(1), 3, 3)])
            .is_empty());
        assert!(w
            .observe(at(5), [(key(0), 5, 9), (key(1), 3, 3)])
            .is_empty());
        assert_eq!(
            w.observe(at(10), [(key(0), 5, 9), (key(1), 3, 3)]),
            vec![key(0)],
            "behind and unmoved for 10 s; partition 1 is caught up"
        );
        assert!(
            w.observe(at(15), [(key(0), 5, 9)]).is_empty(),
            "given the stall time again"
        );
        assert_eq!(w.observe(at(20), [(key(0), 5, 9)]), vec![key(0)]);
        assert!(
            w.observe(at(25), [(key(0), 6, 9)]).is_empty(),
            "it moved: not stuck"
        );
        assert!(w.observe(at(34), [(key(0), 6, 9)]).is_empty());
        assert_eq!(w.observe(at(35), [(key(0), 6, 9)]), vec![key(0)]);
    }

    #[test]
    fn an_unread_partition_counts_from_offset_zero() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        assert!(w.observe(t0, [(key(0), -1, 0)]).is_empty(), "empty log");
        let later = t0 + STALL;
        assert!(w.observe(later, [(key(0), -1, 0)]).is_empty());
        assert_eq!(w.observe(later, [(key(0), -1, 4)]), vec![key(0)]);
    }

    #[test]
    fn silence_counts_only_while_the_thread_polls() {
        let t0 = Instant::now();
        let mut c = PollClock::new(2, t0);
        let mut now = t0;
        for _ in 0..20 {
            now += Duration::from_millis(500);
            c.turn(now);
        }
        c.message(1, now);
        assert!(c.silent(0, now), "10 s of polling without a message");
        assert!(!c.silent(1, now));
        now += Duration::from_secs(30);
        c.turn(now);
        assert!(
            !c.silent(0, now),
            "a 30 s pause between polls (held up downstream) restarts the count"
        );
        c.restart(now + STALL);
        assert!(!c.silent(0, now + STALL));
    }
}
