//! One consumer thread: reads its partitions from the earliest offset,
//! frames messages into record chunks stamped with the current epoch, seals
//! each closed epoch with the offsets reached, and hands the offsets of the
//! latest epoch the views have absorbed to its [`Committer`].

use super::client::{consumer_config, StatusContext};
use super::committer::Committer;
use super::dead_letter::DeadLetterProducer;
use super::stall::{PollClock, STALL};
use super::status::KafkaStatus;
use super::{client_error, EngineHooks, KafkaSourceError};
use crate::feed::{
    Chunk, EpochCursor, EpochPolicy, RecordMeta, RecordTopics, Records, SourceHandle,
};
use helixflow_types::topology::KafkaSourceConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A chunk is sent once it holds this many bytes (or its epoch closes).
const CHUNK_BYTES: usize = 256 * 1024;
/// How long one poll waits for a message.
const POLL: Duration = Duration::from_millis(2);
/// A commit unanswered this long is reported (reading goes on regardless).
const SLOW_COMMIT: Duration = Duration::from_secs(30);
/// How often the thread looks for partitions the supervisor took for stuck.
const STALL_LOOK: Duration = Duration::from_secs(1);
/// How long stopping waits for the last commit's answer.
const LAST_COMMIT_WAIT: Duration = Duration::from_secs(5);

/// A partition, by index into the source's topics.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Partition {
    pub(crate) topic: u16,
    pub(crate) partition: i32,
}

/// Everything one consumer thread needs.
pub(crate) struct ConsumerThread {
    pub(crate) config: KafkaSourceConfig,
    pub(crate) handle: SourceHandle,
    pub(crate) partitions: Vec<Partition>,
    pub(crate) topics: Arc<RecordTopics>,
    pub(crate) epochs: EpochPolicy,
    pub(crate) hooks: EngineHooks,
    pub(crate) status: Arc<KafkaStatus>,
    pub(crate) dead_letter: Option<Arc<DeadLetterProducer>>,
    /// The source's name, for the chunks' `origin`.
    pub(crate) origin: Arc<str>,
}

/// The chunk being filled.
struct Pending {
    epoch: u64,
    data: Vec<u8>,
    metas: Vec<RecordMeta>,
}

impl ConsumerThread {
    fn topic(&self, p: Partition) -> &str {
        &self.topics.topics[usize::from(p.topic)].0
    }

    /// `{"topic/partition": next offset}` for this thread's partitions.
    fn positions(&self, next: &[i64]) -> serde_json::Value {
        let map = self
            .partitions
            .iter()
            .zip(next)
            .map(|(p, n)| (position_key(self.topic(*p), p.partition), (*n).into()))
            .collect();
        serde_json::Value::Object(map)
    }

    pub(crate) fn run(self) -> Result<(), KafkaSourceError> {
        let mut cursor = EpochCursor::new(self.epochs.clone());
        if self.partitions.is_empty() {
            self.handle.finish(cursor.current(), serde_json::json!({}));
            return Ok(());
        }
        let slots: Vec<(String, i32)> = self
            .partitions
            .iter()
            .map(|p| (self.topic(*p).to_string(), p.partition))
            .collect();
        // Resumed partitions are positioned at their resume offset already.
        let mut next: Vec<i64> = self
            .partitions
            .iter()
            .map(|p| {
                let key = position_key(self.topic(*p), p.partition);
                self.config.resume.get(&key).copied().unwrap_or(0)
            })
            .collect();
        let (mut consumer, mut committer) = self.connect(&slots, &next)?;
        let mut pending: Option<Pending> = None;
        let mut commits = Commits::new(self.partitions.len(), self.config.commit_interval);
        let mut requests_served = self.status.commit_requests();
        let mut clock = PollClock::new(self.partitions.len(), Instant::now());
        let mut next_stall_look = Instant::now() + STALL_LOOK;
        while !(self.hooks.stopping)() {
            let now = Instant::now();
            clock.turn(now);
            if now >= next_stall_look {
                next_stall_look = now + STALL_LOOK;
                if let Some(stuck) = self.stuck(&slots, &clock, now) {
                    tracing::warn!(
                        "kafka source `{}`: {stuck} read nothing for {} s although the brokers answer and hold more; replacing the consumer at the offsets reached (librdkafka can stay stuck after a broker restart)",
                        self.status.source,
                        STALL.as_secs()
                    );
                    self.take_commit_replies(&committer, &mut commits);
                    committer.finish(LAST_COMMIT_WAIT);
                    self.take_commit_replies(&committer, &mut commits);
                    commits.hand_again();
                    (consumer, committer) = self.connect(&slots, &next)?;
                    self.status.reconnects.fetch_add(1, Ordering::Relaxed);
                    clock.restart(Instant::now());
                }
            }
            match consumer.poll(POLL) {
                Some(Ok(message)) => {
                    self.status.broker_ok();
                    let Some(slot) = self.slot(message.topic(), message.partition()) else {
                        continue;
                    };
                    clock.message(slot, now);
                    next[slot] = message.offset() + 1;
                    let chunk = pending.get_or_insert_with(|| Pending {
                        epoch: cursor.current(),
                        data: Vec::with_capacity(CHUNK_BYTES + 4096),
                        metas: Vec::with_capacity(1024),
                    });
                    chunk
                        .data
                        .extend_from_slice(message.payload().unwrap_or_default());
                    chunk.metas.push(RecordMeta {
                        end: u32::try_from(chunk.data.len()).unwrap_or(u32::MAX),
                        topic: self.partitions[slot].topic,
                        partition: message.partition(),
                        offset: message.offset(),
                    });
                    if chunk.data.len() >= CHUNK_BYTES && self.send(pending.take()).is_err() {
                        break;
                    }
                }
                Some(Err(e)) => self.status.broker_error(e.to_string()),
                None => {}
            }
            if let Some(closed) = cursor.advance() {
                if self.send(pending.take()).is_err() {
                    break;
                }
                self.handle.seal(closed, self.positions(&next));
                for (p, n) in self.partitions.iter().zip(&next) {
                    self.status.consumed(self.topic(*p), p.partition, *n);
                }
                commits.sealed(closed, &next);
            }
            self.take_commit_replies(&committer, &mut commits);
            let requests = self.status.commit_requests();
            if commits.due() || requests != requests_served {
                requests_served = requests;
                self.commit(&committer, &mut commits);
            }
        }
        // A last commit of what the views hold; the next run rebuilds from
        // the earliest offsets anyway, so stopping does not wait long.
        self.commit(&committer, &mut commits);
        if !committer.finish(LAST_COMMIT_WAIT) {
            tracing::warn!(
                "kafka source `{}`: the last offset commit got no answer within {} s",
                self.status.source,
                LAST_COMMIT_WAIT.as_secs()
            );
        }
        self.take_commit_replies(&committer, &mut commits);
        Ok(())
    }

    /// A consumer assigned this thread's partitions from `next` (the start:
    /// the resume offsets, or the beginning), and its committer.
    fn connect(
        &self,
        slots: &[(String, i32)],
        next: &[i64],
    ) -> Result<(Arc<BaseConsumer<StatusContext>>, Committer), KafkaSourceError> {
        let consumer: Arc<BaseConsumer<StatusContext>> = Arc::new(
            consumer_config(&self.config)
                .create_with_context(StatusContext::new(&self.status))
                .map_err(client_error("creating a consumer"))?,
        );
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), n) in slots.iter().zip(next) {
            let start = if *n > 0 {
                Offset::Offset(*n)
            } else {
                Offset::Beginning
            };
            tpl.add_partition_offset(topic, *partition, start)
                .map_err(client_error("assigning partitions"))?;
        }
        consumer
            .assign(&tpl)
            .map_err(client_error("assigning partitions"))?;
        let committer = Committer::start(
            format!("kafka-commit-{}", self.origin),
            Arc::clone(&consumer),
            slots.to_vec(),
        )
        .map_err(KafkaSourceError::Thread)?;
        Ok((consumer, committer))
    }

    /// The partitions the supervisor took for stuck that also gave this
    /// thread nothing for [`STALL`] of polling, named; `None` if none.
    fn stuck(&self, slots: &[(String, i32)], clock: &PollClock, now: Instant) -> Option<String> {
        let named: Vec<String> = self
            .status
            .take_stalled(slots)
            .into_iter()
            .filter(|slot| clock.silent(*slot, now))
            .map(|slot| position_key(&slots[slot].0, slots[slot].1))
            .collect();
        (!named.is_empty()).then(|| format!("partitions {}", named.join(", ")))
    }

    /// Index of a partition among this thread's.
    fn slot(&self, topic: &str, partition: i32) -> Option<usize> {
        self.partitions
            .iter()
            .position(|p| p.partition == partition && self.topic(*p) == topic)
    }

    fn send(&self, pending: Option<Pending>) -> Result<(), crate::feed::FeedClosed> {
        let Some(p) = pending else { return Ok(()) };
        let count = p.metas.len() as u64;
        let chunk = Chunk {
            source: 0,
            epoch: p.epoch,
            first_line: 0,
            origin: Arc::clone(&self.origin),
            data: p.data,
            records: Some(Records {
                metas: p.metas,
                topics: Arc::clone(&self.topics),
            }),
            decoded: None,
        };
        self.handle.send(chunk, count)
    }

    /// Hands the committer the offsets of the latest sealed epoch the
    /// views have absorbed, if they moved.
    fn commit(&self, committer: &Committer, commits: &mut Commits) {
        if let Some(waited) = committer.waiting_for().filter(|w| *w >= SLOW_COMMIT) {
            commits.report_slow(|| {
                tracing::warn!(
                    "kafka source `{}`: an offset commit has waited {:.0} s for the group coordinator; reading goes on",
                    self.status.source,
                    waited.as_secs_f64()
                );
            });
        }
        let Some(target) = commits.absorbed((self.hooks.absorbed)()) else {
            return;
        };
        // A rejected message of these offsets may still be on its way to
        // the dead-letter topic: commit once it has been acknowledged.
        if self.dead_letter.as_ref().is_some_and(|d| d.in_flight() > 0) {
            commits.retry(target);
            return;
        }
        committer.ask(target.clone());
        commits.handed(target);
    }

    /// Records the coordinator's answers to this thread's commits.
    fn take_commit_replies(&self, committer: &Committer, commits: &mut Commits) {
        for reply in committer.take_replies() {
            match &reply.error {
                None => {
                    for (p, offset) in self.partitions.iter().zip(&reply.offsets) {
                        if *offset > 0 {
                            self.status.committed(self.topic(*p), p.partition, *offset);
                        }
                    }
                }
                Some(e) => {
                    self.status.commit_failures.fetch_add(1, Ordering::Relaxed);
                    self.status.broker_error(format!("committing offsets: {e}"));
                }
            }
            commits.answered(reply.offsets, reply.error.is_none());
        }
    }
}

/// The key of a partition in positions: `topic/partition`.
pub fn position_key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Offsets sealed per epoch, waiting for the views to absorb them, and
/// what was handed to the committer.
struct Commits {
    sealed: VecDeque<(u64, Vec<i64>)>,
    /// The last offsets handed to the committer (`None` after a refusal of
    /// them, so that they are handed again).
    handed: Option<Vec<i64>>,
    retry: Option<Vec<i64>>,
    /// A slow commit was reported (until an answer comes).
    slow_reported: bool,
    interval: Duration,
    last: Instant,
}

impl Commits {
    fn new(partitions: usize, interval: Duration) -> Self {
        Commits {
            sealed: VecDeque::new(),
            handed: Some(vec![0; partitions]),
            retry: None,
            slow_reported: false,
            interval,
            last: Instant::now(),
        }
    }

    /// Notes the offsets reached when `epoch` was sealed (only if they moved).
    fn sealed(&mut self, epoch: u64, next: &[i64]) {
        let last = self.sealed.back().map(|(_, o)| o).or(self.handed.as_ref());
        if last.is_none_or(|l| l.as_slice() != next) {
            self.sealed.push_back((epoch, next.to_vec()));
        }
    }

    fn due(&self) -> bool {
        self.last.elapsed() >= self.interval
    }

    /// The newest offsets absorbed by `epoch` and not handed over yet.
    fn absorbed(&mut self, epoch: u64) -> Option<Vec<i64>> {
        self.last = Instant::now();
        let mut target = self.retry.take();
        while self.sealed.front().is_some_and(|(e, _)| *e <= epoch) {
            target = self.sealed.pop_front().map(|(_, o)| o);
        }
        target.filter(|t| self.handed.as_ref() != Some(t))
    }

    /// `target` was handed to the committer.
    fn handed(&mut self, target: Vec<i64>) {
        self.handed = Some(target);
    }

    /// The coordinator answered a commit of `offsets`. A refusal of the
    /// newest offsets handed over has them handed again next time; a
    /// refusal of older ones changes nothing (the newer commit covers them).
    fn answered(&mut self, offsets: Vec<i64>, ok: bool) {
        self.slow_reported = false;
        if !ok && self.handed.as_ref() == Some(&offsets) {
            self.handed = None;
            self.retry.get_or_insert(offsets);
        }
    }

    /// Runs `report` once per slow commit.
    fn report_slow(&mut self, report: impl FnOnce()) {
        if !self.slow_reported {
            self.slow_reported = true;
            report();
        }
    }

    /// The committer was replaced: the offsets handed to the old one may
    /// never have been committed, so they are handed again.
    fn hand_again(&mut self) {
        if let Some(handed) = self.handed.take() {
            self.retry.get_or_insert(handed);
        }
    }

    /// A commit of `target` did not happen: try again next time.
    fn retry(&mut self, target: Vec<i64>) {
        self.retry = Some(target);
    }
}

#[cfg(test)]
mod tests {
    use super::Commits;
    use std::time::Duration;

    #[test]
    fn commits_only_what_the_views_absorbed() {
        let mut c = Commits::new(2, Duration::ZERO);
        c.sealed(1, &[5, 0]);
        c.sealed(2, &[5, 0]);
        c.sealed(3, &[9, 4]);
        assert_eq!(c.absorbed(0), None, "nothing absorbed yet");
        let first = c.absorbed(2);
        assert_eq!(first, Some(vec![5, 0]));
        c.retry(vec![5, 0]);
        assert_eq!(
            c.absorbed(2),
            Some(vec![5, 0]),
            "a commit put off is retried"
        );
        c.handed(vec![5, 0]);
        assert_eq!(c.absorbed(2), None, "already handed over");
        assert_eq!(c.absorbed(7), Some(vec![9, 4]));
    }

    #[test]
    fn a_refused_commit_is_handed_again_unless_a_newer_one_covers_it() {
        let mut c = Commits::new(1, Duration::ZERO);
        c.sealed(1, &[5]);
        c.handed(vec![5]);
        c.answered(vec![5], false);
        assert_eq!(c.absorbed(1), Some(vec![5]), "refused: handed again");
        c.handed(vec![5]);
        c.sealed(2, &[8]);
        let newer = c.absorbed(2);
        assert_eq!(newer, Some(vec![8]));
        c.handed(vec![8]);
        c.answered(vec![5], false);
        assert_eq!(c.absorbed(2), None, "the refused offsets are covered by 8");
        c.answered(vec![8], true);
        assert_eq!(c.absorbed(3), None, "committed");
    }
}
