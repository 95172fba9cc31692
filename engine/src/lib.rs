//! Helixflow's runtime: topology → sources, timely workers and views; the
//! `replay`, `run`, `validate` and `generate` commands.
//!
//! | module | owns |
//! |---|---|
//! | [`engine`] | starting/stopping sources, workers and their shared state |
//! | [`shared`] | shared state, published frontiers, read holds, consistent snapshots |
//! | [`worker`] | one timely worker: dataflow, compaction, answering reads |
//! | [`ingest`] | the source operator: feed chunks → decoded facts |
//! | [`rejects`] | counters and last payloads of rejected inputs |
//! | [`replay`] | batch replay of JSONL files to view files |
//! | [`run`] | the streaming engine from a topology, status line, sinks, API |
//! | [`generate`] | writing generated traffic to a JSONL file |

pub mod engine;
pub mod generate;
pub mod ingest;
pub mod rejects;
pub mod replay;
pub mod run;
pub mod shared;
pub mod worker;
