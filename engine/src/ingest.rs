//! `ingest`: the timely source operator that takes raw chunks from the feed,
//! decodes each line, interns it into a fact and emits it at the chunk's
//! epoch. Chunks are newline-delimited lines (files, generator) or framed
//! Kafka records, whose event type must match their topic's. Rejected
//! inputs go to the reject log (and a Kafka source's dead-letter topic);
//! they never stop the stream. When a sink keeps raw events, the decoded
//! events of each chunk are handed to it too, before the operator's
//! capability passes the chunk's epoch, and so is each move of that
//! capability (the sink's raw progress).
//!
//! Capability contract: the operator holds a capability for the least epoch
//! that may still arrive. It downgrades to the lesser of `sealed + 1` and
//! the least epoch of a chunk still waiting in the feed, read after `sealed`
//! (so every chunk of an earlier epoch has been taken, by this worker or
//! another, whose own capability covers it until it is emitted), and drops
//! it once every source has finished and the feed is drained.

use crate::shared::Shared;
use helixflow_operators::changes::{PublishRaw, RawFeed};
use helixflow_operators::facts::{Candidate, Fact};
use helixflow_operators::intern::Interner;
use helixflow_operators::Time;
use helixflow_sources::feed::{Chunk, Records};
use helixflow_types::decode::{decode_event, RejectReason, Rejection};
use helixflow_types::event::{Event, EventKind};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, StreamVec};

/// Longest time one activation spends decoding before yielding to other operators.
const SLICE: Duration = Duration::from_millis(20);

/// Builds the ingest operator on this worker.
pub fn ingest<'s>(
    scope: Scope<'s, Time>,
    shared: Arc<Shared>,
    raw: Option<PublishRaw>,
) -> StreamVec<'s, Time, Candidate<Fact>> {
    source::<_, CapacityContainerBuilder<Vec<Candidate<Fact>>>, _, _>(
        scope,
        "ingest",
        move |cap, info| {
            let activator = scope.activator_for(info.address);
            let worker = scope.index();
            let mut cap = Some(cap);
            // The raw progress last handed to sinks.
            let mut told: Time = 0;
            let mut names: Vec<String> = Vec::new();
            move |output| {
                let Some(current) = cap.as_mut() else { return };
                let started = Instant::now();
                let mut valid = 0u64;
                while started.elapsed() < SLICE {
                    let Ok(mut chunk) = shared.feed.try_take() else {
                        break;
                    };
                    let at = current.delayed(&chunk.epoch.max(*current.time()));
                    let mut session = output.session(&at);
                    if names.len() <= chunk.source {
                        names = shared
                            .feed
                            .sources()
                            .iter()
                            .map(|s| s.name.clone())
                            .collect();
                    }
                    let source_name = names.get(chunk.source).map_or("?", String::as_str);
                    let keep_raw = raw.is_some();
                    let mut raw_events = Vec::new();
                    let mut memory_ts = Vec::new();
                    let mut accept = |candidate: Candidate<Fact>, event: Event| {
                        valid += 1;
                        if let Event::Memory(m) = &event {
                            memory_ts.push(m.ts);
                        }
                        if keep_raw {
                            raw_events.push((candidate.fingerprint, event));
                        }
                        session.give(candidate);
                    };
                    let mut restored = false;
                    match (&chunk.records, chunk.decoded.take()) {
                        (_, Some(decoded)) => {
                            restored = decoded.restored;
                            ingest_decoded(
                                decoded.events,
                                &chunk.origin,
                                &shared,
                                source_name,
                                &mut accept,
                            );
                        }
                        (None, None) => ingest_lines(&chunk, &shared, source_name, &mut accept),
                        (Some(records), None) => {
                            ingest_records(&chunk.data, records, &shared, &mut accept)
                        }
                    }
                    if let Some(publish) = raw.as_ref().filter(|_| !raw_events.is_empty()) {
                        publish(if restored {
                            RawFeed::Restored(raw_events)
                        } else {
                            RawFeed::Events(raw_events)
                        });
                    }
                    shared.memory_arrived(*at.time(), &memory_ts);
                }
                shared.valid.fetch_add(valid, Ordering::Relaxed);
                // `sealed` first: every chunk of an epoch sealed by then is
                // counted by `least_waiting` below unless already taken.
                let (sealed, finished) = shared.feed.sealed();
                let waiting = shared.feed.least_waiting();
                if finished && waiting.is_none() {
                    cap = None;
                    if let Some(publish) = &raw {
                        publish(RawFeed::Progress {
                            worker,
                            upper: Time::MAX,
                        });
                    }
                    return;
                }
                // Sealed epochs whose chunks are all taken are complete, even
                // while later epochs' chunks wait (a reader ahead of the
                // workers must not hold every epoch open).
                let upper = waiting.unwrap_or(u64::MAX).min(sealed.saturating_add(1));
                if upper > *current.time() {
                    current.downgrade(&upper);
                }
                if let Some(publish) = raw.as_ref().filter(|_| *current.time() > told) {
                    told = *current.time();
                    publish(RawFeed::Progress {
                        worker,
                        upper: told,
                    });
                }
                if waiting.is_none() {
                    activator.activate_after(Duration::from_millis(1));
                } else {
                    activator.activate();
                }
            }
        },
    )
}

/// Decodes newline-delimited lines; rejections name `file:line`.
fn ingest_lines(
    chunk: &Chunk,
    shared: &Shared,
    source_name: &str,
    accept: &mut impl FnMut(Candidate<Fact>, Event),
) {
    let lines = chunk.data.split(|&b| b == b'\n');
    for (this_line, line) in (chunk.first_line..).zip(lines) {
        if line.is_empty() && is_trailing(&chunk.data, line) {
            continue;
        }
        match decode_candidate(line, None, &shared.ids) {
            Ok((candidate, event)) => accept(candidate, event),
            Err(rejection) => {
                let at = if chunk.first_line > 0 {
                    format!("{}:{this_line}", chunk.origin)
                } else {
                    chunk.origin.to_string()
                };
                shared.rejects.record(source_name, &at, &rejection, line);
            }
        }
    }
}

/// Takes events decoded already (from a lake): only the interner can
/// refuse one (when it is full).
fn ingest_decoded(
    events: Vec<(u64, Event)>,
    origin: &str,
    shared: &Shared,
    source_name: &str,
    accept: &mut impl FnMut(Candidate<Fact>, Event),
) {
    for (_, event) in events {
        match Candidate::from_event(&event, &shared.ids) {
            Ok(candidate) => accept(candidate, event),
            Err(full) => {
                let rejection = Rejection {
                    reason: RejectReason::OutOfRange,
                    detail: full.to_string(),
                };
                shared.rejects.record(source_name, origin, &rejection, b"");
            }
        }
    }
}

/// Decodes Kafka messages; each must carry its topic's event type.
/// Rejections are counted under the topic, named `topic/partition@offset`,
/// and forwarded to the dead-letter topic if there is one.
fn ingest_records(
    data: &[u8],
    records: &Records,
    shared: &Shared,
    accept: &mut impl FnMut(Candidate<Fact>, Event),
) {
    let mut start = 0usize;
    for meta in &records.metas {
        let end = (meta.end as usize).min(data.len());
        let payload = &data[start.min(end)..end];
        start = end;
        let Some((topic, kind)) = records.topics.topics.get(usize::from(meta.topic)) else {
            continue;
        };
        match decode_candidate(payload, Some((*kind, topic)), &shared.ids) {
            Ok((candidate, event)) => accept(candidate, event),
            Err(rejection) => {
                let at = format!("{topic}/{}@{}", meta.partition, meta.offset);
                shared.rejects.record(topic, &at, &rejection, payload);
                if let Some(dead_letter) = &records.topics.dead_letter {
                    dead_letter.forward(topic, meta.partition, meta.offset, &rejection, payload);
                }
            }
        }
    }
}

/// Decodes one event into a candidate fact (and the event itself); with
/// `expected`, the event must be of the type its topic carries.
fn decode_candidate(
    bytes: &[u8],
    expected: Option<(EventKind, &str)>,
    ids: &Interner,
) -> Result<(Candidate<Fact>, Event), Rejection> {
    let event = decode_event(bytes)?;
    if let Some((kind, topic)) = expected {
        if event.kind() != kind {
            return Err(Rejection {
                reason: RejectReason::WrongTopic,
                detail: format!(
                    "a `{}` event on topic `{topic}`, which carries `{}` events",
                    event.kind().type_name(),
                    kind.type_name()
                ),
            });
        }
    }
    let candidate = Candidate::from_event(&event, ids).map_err(|full| Rejection {
        reason: RejectReason::OutOfRange,
        detail: full.to_string(),
    })?;
    Ok((candidate, event))
}

/// True if `line` is the empty piece after a chunk's final newline.
fn is_trailing(data: &[u8], line: &[u8]) -> bool {
    line.as_ptr() == data.as_ptr().wrapping_add(data.len())
}
