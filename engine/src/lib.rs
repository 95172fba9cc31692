//! Helixflow's runtime: topology → sources, timely workers and views; the
//! `replay`, `run`, `validate`, `generate` and `produce` commands.
//!
//! | module | owns |
//! |---|---|
//! | [`engine`] | starting/stopping sources, workers and their shared state |
//! | [`cluster`] | cluster mode: connecting the processes for timely, noticing a lost peer |
//! | [`cluster_reads`] | reads of a cluster: questions through the dataflow to every worker, replies gathered |
//! | [`cluster_sinks`] | a cluster's sinks on process 0: changes and raw events forwarded there, its written epoch told back |
//! | [`db_sinks`] | database sinks (ClickHouse, Neo4j, the lake): runner threads and the fan-out to them |
//! | [`lake_source`] | a lake's committed events read back into the feed (restore, `replay --lake`) |
//! | [`shared`] | shared state, published frontiers, read holds, consistent snapshots |
//! | [`worker`] | one timely worker: dataflow, compaction, answering reads |
//! | [`waiting`] | reads a worker answers while an operator of its waits on a full sink queue |
//! | [`sync`] | the memory sync barrier: sources' ends, then views, sinks, commits |
//! | [`slow_operators`] | opt-in log of operator activations that held a worker too long |
//! | [`ingest`] | the source operator: feed chunks → decoded facts |
//! | [`health`] | the `/v1/health` document and the components of `/v1/bigdata/health` |
//! | [`metrics`] | the engine's counters and gauges, set from its state at each scrape |
//! | [`kafka_health`] | Kafka offsets, visible positions and lag for health, metrics, status |
//! | [`logging`] | the binaries' log output |
//! | [`rejects`] | counters and last payloads of rejected inputs |
//! | [`restore`] | a restart from the lake: its events loaded, Kafka resumed at its offsets |
//! | [`replay`] | batch replay of JSONL files to view files |
//! | [`run`] | the streaming engine from a topology, status line, sinks, API |
//! | [`produce`] | sending a JSONL file or generated traffic to the Kafka topics |
//! | [`generate`] | writing generated traffic to a JSONL file |
//! | [`traffic_args`] | the options that shape generated traffic (contents, co-occurrence density) |

pub mod cluster;
pub mod cluster_reads;
pub mod cluster_sinks;
pub mod db_sinks;
pub mod engine;
pub mod generate;
pub mod health;
pub mod huge_pages;
pub mod ingest;
pub mod kafka_health;
pub mod lake_source;
pub mod logging;
pub mod metrics;
pub mod produce;
pub mod rejects;
pub mod replay;
pub mod restore;
pub mod run;
pub mod shared;
pub mod slow_operators;
pub mod sync;
pub mod traffic_args;
pub mod waiting;
pub mod worker;
