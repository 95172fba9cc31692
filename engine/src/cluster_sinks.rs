//! A cluster's sinks: every database and lake sink runs on process 0, so
//! each row and each raw event is written once, not once per process, and
//! only one process ever commits to the lake.
//!
//! Every worker of every process publishes its views' changes and its raw
//! events as it does alone, but into a [`Forwarder`]: a small dataflow that
//! carries them through timely's exchange to a worker of process 0 (worker
//! `w` to worker `w % workers-per-process`, so the messages of one worker
//! keep their order), where a sink operator hands them to the real sink
//! queues. The sinks wait for the progress of every worker of the cluster,
//! as they wait for every local worker in one process.
//!
//! Kafka offsets are committed by the process that read them, and only for
//! epochs every sink has written: process 0's first worker broadcasts the
//! sinks' written epoch to every worker, and each process keeps the latest
//! it heard ([`Shared::sinks_written`]).

use crate::db_sinks::is_database_sink;
use crate::shared::Shared;
use helixflow_operators::changes::{RawFeed, ViewChanges};
use helixflow_operators::rows::{ViewName, VIEW_COUNT};
use helixflow_operators::views::ViewExports;
use helixflow_operators::wire_ids::WithIds;
use helixflow_operators::Time;
use helixflow_types::topology::SinkConfig;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::Exchange;
use timely::dataflow::InputHandleVec;
use timely::worker::Worker;

/// What a worker hands its sinks, on its way to process 0 (in a
/// [`WithIds`]: a batch of changes names each id once).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Forwarded {
    Changes(ViewChanges),
    Raw(RawFeed),
}

/// Which views the sinks of a topology take, and whether they take raw events.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportShape {
    pub views: [bool; VIEW_COUNT],
    pub raw: bool,
}

impl ExportShape {
    /// What the database and lake sinks of a topology take (the same on
    /// every process, which start no sink of their own but process 0).
    pub fn of_sinks(configs: &[SinkConfig]) -> Self {
        let mut shape = ExportShape::default();
        for config in configs.iter().filter(|c| is_database_sink(c)) {
            for view in config.view_names().into_iter().filter_map(ViewName::parse) {
                shape.views[view as usize] = true;
            }
            shape.raw |= !config.raw_kinds().is_empty();
        }
        shape
    }

    /// The shape of `exports` (what a topology's sinks take).
    pub fn of(exports: &ViewExports) -> Self {
        let mut views = [false; VIEW_COUNT];
        for (on, publish) in views.iter_mut().zip(&exports.publish) {
            *on = publish.is_some();
        }
        ExportShape {
            views,
            raw: exports.raw.is_some(),
        }
    }

    /// Whether any sink takes anything.
    pub fn any(&self) -> bool {
        self.raw || self.views.iter().any(|v| *v)
    }
}

/// One worker's end of the forwarding to process 0's sinks.
pub struct Forwarder {
    /// What this worker's exports published since the last flush.
    buffer: Arc<Mutex<Vec<Forwarded>>>,
    input: InputHandleVec<Time, (usize, WithIds<Forwarded>)>,
    written_input: InputHandleVec<Time, Time>,
    /// How far process 0's sinks have written (its first worker only).
    written: Option<Arc<dyn Fn() -> Time + Send + Sync>>,
    last_written: Time,
    index: usize,
}

impl Forwarder {
    /// Builds the forwarding dataflow on this worker; returns it and the
    /// exports this worker's views publish to. `sinks` are process 0's
    /// real exports (the sink queues), `None` on the other processes;
    /// `written` is how far they have written.
    pub fn build(
        worker: &mut Worker,
        shape: ExportShape,
        sinks: Option<ViewExports>,
        written: Option<Arc<dyn Fn() -> Time + Send + Sync>>,
        threads: usize,
        shared: Arc<Shared>,
    ) -> (Forwarder, ViewExports) {
        let index = worker.index();
        let (input, written_input) = worker.dataflow::<Time, _, _>(|scope| {
            let (input, forwarded) = scope.new_input::<(usize, WithIds<Forwarded>)>();
            let threads = threads.max(1) as u64;
            forwarded
                .exchange(move |(from, _): &(usize, WithIds<Forwarded>)| *from as u64 % threads)
                .sink(Pipeline, "to_sinks", move |(input, _frontier)| {
                    input.for_each(|_cap, data: &mut Vec<(usize, WithIds<Forwarded>)>| {
                        let Some(sinks) = sinks.as_ref() else {
                            return;
                        };
                        for (_, message) in data.drain(..) {
                            match message.into_inner() {
                                Forwarded::Changes(changes) => {
                                    if let Some(publish) = &sinks.publish[changes.view as usize] {
                                        publish(changes);
                                    }
                                }
                                Forwarded::Raw(raw) => {
                                    if let Some(publish) = &sinks.raw {
                                        publish(raw);
                                    }
                                }
                            }
                        }
                    });
                });
            let (written_input, written) = scope.new_input::<Time>();
            written
                .broadcast()
                .sink(Pipeline, "sinks_written", move |(input, _frontier)| {
                    input.for_each(|_cap, data: &mut Vec<Time>| {
                        for w in data.drain(..) {
                            shared.heard_sinks_written(w);
                        }
                    });
                });
            (input, written_input)
        });
        let buffer: Arc<Mutex<Vec<Forwarded>>> = Arc::default();
        let mut exports = ViewExports {
            worker: index,
            ..ViewExports::default()
        };
        for (publish, on) in exports.publish.iter_mut().zip(shape.views) {
            if on {
                let buffer = Arc::clone(&buffer);
                *publish = Some(Arc::new(move |c: ViewChanges| {
                    lock(&buffer).push(Forwarded::Changes(c));
                }));
            }
        }
        if shape.raw {
            let buffer = Arc::clone(&buffer);
            exports.raw = Some(Arc::new(move |r: RawFeed| {
                lock(&buffer).push(Forwarded::Raw(r));
            }));
        }
        let forwarder = Forwarder {
            buffer,
            input,
            written_input,
            written: written.filter(|_| index == 0),
            last_written: Time::MAX,
            index,
        };
        (forwarder, exports)
    }

    /// Sends what this worker's exports published (between steps), and on
    /// process 0's first worker, the sinks' written epoch when it moved.
    pub fn flush(&mut self) {
        let published = std::mem::take(&mut *lock(&self.buffer));
        if !published.is_empty() {
            for message in published {
                self.input.send((self.index, WithIds::new(message)));
            }
            self.input.flush();
        }
        if let Some(written) = &self.written {
            let now = written();
            if now != self.last_written {
                self.last_written = now;
                self.written_input.send(now);
                self.written_input.flush();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use helixflow_sources::generator::{Generator, GeneratorSettings, TrafficShape};
    use helixflow_types::decode::decode_event;

    #[test]
    fn raw_events_cross_processes_exactly() {
        let mut g = Generator::new(GeneratorSettings {
            seed: 3,
            events: Some(3000),
            rate: 0,
            duplicate_ratio: 0.0,
            malformed_ratio: 0.0,
            scale: 3000,
            shape: TrafficShape::SHORT.with_content_chars(50),
        });
        let mut text = String::new();
        while !g.done() {
            g.next_line(&mut text);
        }
        let mut lines: Vec<&str> = text.lines().collect();
        let with_properties = r#"{"type":"entity","event_id":"e1","ts":"2026-01-30T10:00:00Z","entity_id":"x","name":"X","kind":"k","properties":{"a":1,"b":-2,"c":1.5,"d":true,"e":"s","f":18446744073709551615}}"#;
        lines.push(with_properties);
        let events: Vec<(u64, _)> = lines
            .iter()
            .map(|l| (7, decode_event(l.as_bytes()).unwrap()))
            .collect();
        let message = Forwarded::Raw(RawFeed::Events(events.clone()));
        let bytes = bincode::serialize(&message).unwrap();
        let Forwarded::Raw(RawFeed::Events(back)) = bincode::deserialize(&bytes).unwrap() else {
            panic!("another message came back");
        };
        assert_eq!(back, events);
    }
}
