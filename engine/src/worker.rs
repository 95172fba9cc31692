//! One timely worker: builds the dataflow (ingest → dedup → views), then
//! steps it, publishes its frontier, compacts its traces as far as read holds
//! allow, and answers read queries from its traces (between steps, and
//! while an operator waits inside one: [`crate::waiting`]).

use crate::cluster_reads::ClusterReads;
use crate::cluster_sinks::Forwarder;
use crate::ingest::ingest;
use crate::shared::{Shared, WorkerQuery};
use crate::slow_operators;
use crate::waiting;
use crossbeam_channel::Receiver;
use helixflow_operators::query::{Question, Reply};
use helixflow_operators::views::{build_views, ViewContext, ViewExports, ViewSet, ViewTraces};
use helixflow_operators::Time;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::worker::Worker;

/// Runs one worker until shutdown.
pub fn run_worker(
    worker: &mut Worker,
    shared: Arc<Shared>,
    views: ViewSet,
    inbox: Receiver<WorkerQuery>,
    exports: ViewExports,
    mut forwarder: Option<Forwarder>,
) {
    let index = worker.index();
    slow_operators::install(worker);
    let probe = ProbeHandle::new();
    let traces = worker.dataflow::<Time, _, _>(|scope| {
        let candidates = ingest(scope, Arc::clone(&shared), exports.raw.clone());
        let context = ViewContext {
            ids: &shared.ids,
            texts: &shared.texts,
            stats: &shared.dedup,
        };
        build_views(candidates, views, &context, &probe, &exports)
    });
    // Borrowed by this loop between steps, and by the read service while an
    // operator waits within a step: never both at once.
    let traces = Rc::new(RefCell::new(traces));
    let local = index % shared.workers();
    let answer = {
        let shared = Arc::clone(&shared);
        move |traces: &mut ViewTraces, question: &Question, as_of: Time| {
            answer(traces, question, as_of, &shared, local == 0)
        }
    };
    // A cluster's reads go through the dataflow, to every worker of every
    // process; one process's are answered from the inbox directly.
    let mut cluster_reads = shared
        .is_cluster()
        .then(|| ClusterReads::build(worker, Rc::clone(&traces), Box::new(answer.clone())));
    if cluster_reads.is_none() {
        // One way to answer reads, between steps and while an operator waits.
        let (traces, inbox) = (Rc::clone(&traces), inbox.clone());
        waiting::serve_while_waiting(move || {
            while let Ok(WorkerQuery {
                question,
                as_of,
                reply,
            }) = inbox.try_recv()
            {
                let answered = answer(&mut traces.borrow_mut(), &question, as_of);
                // The asker may have given up (timeout); nothing to do then.
                let _ = reply.send(answered);
            }
        });
    }
    let mut compacted: Time = 0;
    while !shared.shutdown.load(Ordering::Relaxed) {
        worker.step_or_park(Some(Duration::from_millis(1)));
        if let Some(f) = forwarder.as_mut() {
            f.flush();
        }
        let upper = traces.borrow_mut().upper().unwrap_or(Time::MAX);
        let mut allowed = shared.publish(local, upper);
        if let Some(reads) = cluster_reads.as_mut() {
            while let Ok(query) = inbox.try_recv() {
                reads.ask(query);
            }
            reads.advance(allowed);
            allowed = allowed.min(reads.compaction_bound());
        }
        if allowed > compacted && allowed < Time::MAX {
            traces.borrow_mut().compact_to(allowed);
            compacted = allowed;
        }
        waiting::answer_waiting_reads();
    }
    waiting::stop_serving();
    // A cluster's workers finish together: with every question input
    // closed, the read dataflows complete everywhere.
    let clustered = cluster_reads.take().is_some();
    // A closed input (finished files): let the dataflow run to completion,
    // so the sinks' export operators see the final frontier and hand over
    // their last changes. Unbounded sources (Kafka, generator, followed
    // files) never close their input: drop the dataflow rather than wait.
    // Forwarded sink messages keep flowing until the views are done; then
    // the forwarding inputs close, and its dataflow completes too.
    if clustered || traces.borrow_mut().upper().is_none() {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while worker.step_or_park(Some(Duration::from_millis(1)))
            && std::time::Instant::now() < deadline
        {
            if let Some(f) = forwarder.as_mut() {
                f.flush();
            }
            if probe.done() {
                forwarder = None;
            }
        }
    }
    drop(traces);
    for id in worker.installed_dataflows() {
        worker.drop_dataflow(id);
    }
}

/// A worker's reply to `question` at `as_of`: from its traces, or, for the
/// engine's own questions, its process's counters (`first`: this is the
/// process's first worker, which alone reports them) or its stop.
fn answer(
    traces: &mut ViewTraces,
    question: &Question,
    as_of: Time,
    shared: &Shared,
    first: bool,
) -> Option<Reply> {
    match question {
        Question::Counters => Some(Reply::Counters(if first {
            shared.counters()
        } else {
            Default::default()
        })),
        Question::Stop => {
            shared.shutdown.store(true, Ordering::Relaxed);
            Some(Reply::Counters(Default::default()))
        }
        question => traces.answer(question, as_of, &shared.ids),
    }
}
