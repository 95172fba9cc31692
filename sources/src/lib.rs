//! Sources of events and the feed that carries them to the dataflow.
//!
//! | module | owns |
//! |---|---|
//! | [`feed`] | the chunk channel, epochs, and each source's progress contract |
//! | [`file`] | JSONL files, read in order, optionally followed like `tail -f` |
//! | [`generator`] | realistic, seeded HelixAgent traffic for all six event types |
//! | [`kafka`] | the contract's Kafka topics: consumers, offsets, dead letters, the producer |

pub mod feed;
pub mod file;
pub mod generator;
pub mod kafka;
