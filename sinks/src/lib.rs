//! Helixflow's sinks.
//!
//! | module | owns |
//! |---|---|
//! | [`files`] | view snapshots as JSONL files |
//! | [`pending`] | a database sink's backlog: the latest change per key |
//! | [`queue`] | the row-bounded hand-off of change messages from the workers to a runner |
//! | [`runner`] | the thread that batches, writes, retries and reports a database sink |
//! | [`clickhouse`] | view tables in ClickHouse |
//! | [`neo4j`] | the knowledge graph in Neo4j |
//! | [`lake`] | every distinct valid event as Parquet, with committed manifests |
//! | [`tls`] | the database sinks' TLS: crypto provider, trusted roots |

pub mod clickhouse;
pub mod files;
pub mod lake;
pub mod neo4j;
pub mod pending;
pub mod queue;
pub mod runner;
pub mod tls;
