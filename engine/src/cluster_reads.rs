//! Reads of a cluster: a question asked of any process is answered by every
//! worker of every process, at one `as_of`, through the dataflow itself.
//!
//! One process's workers cannot read another's traces, so in cluster mode a
//! worker takes each question from its inbox into a small dataflow of its
//! own (timely's exchange carries it; [`Id`](helixflow_operators::intern::Id)s
//! cross as their strings):
//!
//! ```text
//! questions (input, at this worker's oldest needed epoch)
//!   → broadcast to every worker → answer_reads (each worker, from its traces)
//!   → exchange to the asking worker → gather_reads (merges, replies)
//! ```
//!
//! **Consistency.** The asker chose `as_of` under a read hold of its own
//! process (every epoch `<= as_of` complete there). A worker answers once
//! its own traces have passed `as_of`, which they all do, since progress is
//! cluster-wide. No worker compacts its traces past a question it has not
//! answered yet: each worker's question input stays at its process's
//! oldest needed epoch (at most any `as_of` its readers can still ask), so
//! the frontier of the broadcast questions, seen by every worker, bounds
//! the compaction of all of them ([`ClusterReads::compaction_bound`]).

use crate::shared::WorkerQuery;
use crossbeam_channel::Sender;
use helixflow_operators::query::{Question, Reply};
use helixflow_operators::views::ViewTraces;
use helixflow_operators::wire_ids::WithIds;
use helixflow_operators::Time;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Exchange, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

/// A question on its way to every worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Asked {
    /// Unique at the asking worker.
    id: u64,
    /// The asking worker (its global index).
    origin: usize,
    as_of: Time,
    question: Question,
}

/// One worker's reply, on its way back to the asker (`None`: not computed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answered {
    id: u64,
    origin: usize,
    /// A view's part can hold millions of rows: its ids cross once each.
    reply: WithIds<Option<Reply>>,
}

/// How a worker answers a question from its traces at `as_of`.
pub type Answer = Box<dyn FnMut(&mut ViewTraces, &Question, Time) -> Option<Reply>>;

/// A question being gathered at the asking worker.
struct Gathering {
    remaining: usize,
    merged: Option<Reply>,
    not_computed: bool,
    reply: Sender<Option<Reply>>,
}

/// One worker's end of the cluster's reads.
pub struct ClusterReads {
    input: InputHandleVec<Time, Asked>,
    probe: ProbeHandle<Time>,
    /// The least `as_of` of the questions this worker holds unanswered.
    held: Rc<Cell<Time>>,
    gathering: Rc<RefCell<HashMap<u64, Gathering>>>,
    next_id: u64,
    origin: usize,
    peers: usize,
}

impl ClusterReads {
    /// Builds the read dataflow on this worker over its `traces`.
    pub fn build(worker: &mut Worker, traces: Rc<RefCell<ViewTraces>>, mut answer: Answer) -> Self {
        let held = Rc::new(Cell::new(Time::MAX));
        let gathering: Rc<RefCell<HashMap<u64, Gathering>>> = Rc::default();
        let (origin, peers) = (worker.index(), worker.peers());
        let (input, probe) = worker.dataflow::<Time, _, _>(|scope| {
            let (input, questions) = scope.new_input::<Asked>();
            let (probe, everywhere) = questions.broadcast().probe();
            let held_here = Rc::clone(&held);
            let answers = everywhere.unary_frontier(Pipeline, "answer_reads", move |_cap, info| {
                let activator = scope.activator_for(info.address);
                let mut stash = Vec::new();
                move |(input, _frontier), output| {
                    input.for_each(|cap, data| {
                        let Some(retained) = cap.retain_least(0) else {
                            return;
                        };
                        for asked in data.drain(..) {
                            stash.push((retained.clone(), asked));
                        }
                    });
                    let mut traces = traces.borrow_mut();
                    let upper = traces.upper();
                    stash.retain(|(cap, asked): &(_, Asked)| {
                        // Every update at or before `as_of` is in the traces.
                        if upper.is_some_and(|u| u <= asked.as_of) {
                            return true;
                        }
                        let reply = answer(&mut traces, &asked.question, asked.as_of);
                        output.session(cap).give(Answered {
                            id: asked.id,
                            origin: asked.origin,
                            reply: WithIds::new(reply),
                        });
                        false
                    });
                    held_here.set(
                        stash
                            .iter()
                            .map(|(_, a)| a.as_of)
                            .min()
                            .unwrap_or(Time::MAX),
                    );
                    if !stash.is_empty() {
                        activator.activate_after(Duration::from_millis(1));
                    }
                }
            });
            let gather = Rc::clone(&gathering);
            answers.exchange(|a: &Answered| a.origin as u64).sink(
                Pipeline,
                "gather_reads",
                move |(input, _frontier)| {
                    input.for_each(|_cap, data: &mut Vec<Answered>| {
                        let mut gathering = gather.borrow_mut();
                        for answered in data.drain(..) {
                            let Some(g) = gathering.get_mut(&answered.id) else {
                                continue;
                            };
                            match (answered.reply.into_inner(), g.merged.as_mut()) {
                                (None, _) => g.not_computed = true,
                                (Some(part), Some(merged)) => merged.absorb(part),
                                (Some(part), None) => g.merged = Some(part),
                            }
                            g.remaining -= 1;
                            if g.remaining == 0 {
                                if let Some(done) = gathering.remove(&answered.id) {
                                    let reply = if done.not_computed { None } else { done.merged };
                                    // The asker may have given up (timeout).
                                    let _ = done.reply.send(reply);
                                }
                            }
                        }
                    });
                },
            );
            (input, probe)
        });
        ClusterReads {
            input,
            probe,
            held,
            gathering,
            next_id: 0,
            origin,
            peers,
        }
    }

    /// Sends a question from this worker's inbox to every worker.
    pub fn ask(&mut self, query: WorkerQuery) {
        let id = self.next_id;
        self.next_id += 1;
        self.gathering.borrow_mut().insert(
            id,
            Gathering {
                remaining: self.peers,
                merged: None,
                not_computed: false,
                reply: query.reply,
            },
        );
        self.input.send(Asked {
            id,
            origin: self.origin,
            as_of: query.as_of,
            question: (*query.question).clone(),
        });
        // An input buffers what it is given until told to send it.
        self.input.flush();
    }

    /// Moves this worker's question input to `oldest_needed` (its process's
    /// least read hold, or latest complete epoch): no question it sends
    /// later asks for anything older.
    pub fn advance(&mut self, oldest_needed: Time) {
        if oldest_needed > *self.input.time() && oldest_needed < Time::MAX {
            self.input.advance_to(oldest_needed);
        }
    }

    /// How far this worker's traces may compact: not past a question that
    /// may still reach it, nor one it holds.
    pub fn compaction_bound(&self) -> Time {
        let incoming = self
            .probe
            .with_frontier(|f| f.iter().copied().min().unwrap_or(Time::MAX));
        incoming.min(self.held.get())
    }
}
