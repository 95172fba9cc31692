//! One timely worker: builds the dataflow (ingest → dedup → views), then
//! steps it, publishes its frontier, compacts its traces as far as read holds
//! allow, and answers read queries from its traces (between steps, and
//! while an operator waits inside one: [`crate::waiting`]).

use crate::ingest::ingest;
use crate::shared::{Shared, WorkerQuery};
use crate::slow_operators;
use crate::waiting;
use crossbeam_channel::Receiver;
use helixflow_operators::views::{build_views, ViewContext, ViewExports, ViewSet};
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
    // One way to answer reads, between steps and while an operator waits.
    {
        let (traces, shared) = (Rc::clone(&traces), Arc::clone(&shared));
        waiting::serve_while_waiting(move || {
            while let Ok(WorkerQuery {
                question,
                as_of,
                reply,
            }) = inbox.try_recv()
            {
                let answer = traces.borrow_mut().answer(&question, as_of, &shared.ids);
                // The asker may have given up (timeout); nothing to do then.
                let _ = reply.send(answer);
            }
        });
    }
    let mut compacted: Time = 0;
    while !shared.shutdown.load(Ordering::Relaxed) {
        worker.step_or_park(Some(Duration::from_millis(1)));
        let upper = traces.borrow_mut().upper().unwrap_or(Time::MAX);
        let allowed = shared.publish(index, upper);
        if allowed > compacted && allowed < Time::MAX {
            traces.borrow_mut().compact_to(allowed);
            compacted = allowed;
        }
        waiting::answer_waiting_reads();
    }
    waiting::stop_serving();
    // A closed input (finished files): let the dataflow run to completion,
    // so the sinks' export operators see the final frontier and hand over
    // their last changes. Unbounded sources (Kafka, generator, followed
    // files) never close their input: drop the dataflow rather than wait.
    if traces.borrow_mut().upper().is_none() {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while worker.step() && std::time::Instant::now() < deadline {}
    }
    drop(traces);
    for id in worker.installed_dataflows() {
        worker.drop_dataflow(id);
    }
}
