//! Helixflow's event model and configuration: the contract's six event types,
//! their decoder and validation rules, timestamps, and the typed topology file.
//!
//! This crate has no runtime dependencies (no timely, rdkafka or hyper) so that
//! producers, tests and tools can share it.
//!
//! | module | owns |
//! |---|---|
//! | [`event`] | the decoded event types, idempotency keys, payload fingerprints |
//! | [`decode`] | bytes → [`event::Event`] or a [`decode::Rejection`] with its reason |
//! | [`timestamp`] | RFC 3339 parsing and formatting in UTC milliseconds |
//! | [`topology`] | the topology file: typed, env-substituted, validated once |
//! | [`secret`] | passwords from the environment or a file, never printed |

pub mod decode;
pub mod event;
pub mod secret;
pub mod timestamp;
pub mod topology;
