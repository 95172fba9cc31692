//! The contract's views as differential-dataflow operators.
//!
//! | module | owns |
//! |---|---|
//! | [`intern`] | string ids → dense `u32` [`intern::Id`]s, shared by all workers |
//! | [`facts`] | the compact, interned form of each event kind |
//! | [`content`] | the text of every distinct message, stored once |
//! | [`dedup`] | idempotency-key deduplication with an order-independent conflict rule |
//! | [`conversation_snapshots`] | one row per conversation |
//! | [`memberships`] | distinct (conversation, entity) pairs, arranged by conversation |
//! | [`entity_cooccurrence`] | entity pairs by number of shared conversations |
//! | [`provider_stats`] | per provider/model/hour counts, sums, exact percentiles |
//! | [`memory_state`] | CRDT-resolved memories |
//! | [`debate_stats`] | per-debate statistics |
//! | [`latest`] | latest event per key: the `entities` and `relationships` views |
//! | [`entity_directory`] | one row per known entity id: names and counts |
//! | [`knowledge`] | indexes of knowledge queries: entity → conversations, relationship links |
//! | [`memory_sync`] | per-node memory figures, distinct memory ids |
//! | [`user_intents`] | per user and intent: messages, conversations, sessions |
//! | [`user_preferences`] | per user and provider: messages, tokens, share |
//! | [`conversation_flow`] | role transitions between consecutive messages |
//! | [`debate_strategies`] | per stance: rounds, debates, leads, consensus |
//! | [`provider_performance`] | per provider and model over all hours, exact percentiles |
//! | [`pair_ranks`] | co-occurrence pairs by count, for ranking queries |
//! | [`partials`] | partial aggregates merged in two levels, bit-for-bit deterministic |
//! | [`reduce_view`] | the reduce-and-arrange shape every keyed view shares |
//! | [`in_time_order`] | the operator shape for logic that takes complete times in order |
//! | [`views`] | wiring all of the above; reading traces at a consistent time |
//! | [`query`] | the questions the API asks the workers, and their replies |
//! | [`changes`] | per-view change streams (upserts and deletes of keys) for sinks |
//! | [`rows`] | view names, key fields, rows read from one worker |
//! | [`render`] | rows → sorted, paged JSON lines |

pub mod changes;
pub mod content;
pub mod conversation_flow;
pub mod conversation_snapshots;
pub mod debate_stats;
pub mod debate_strategies;
pub mod dedup;
pub mod entity_cooccurrence;
pub mod entity_directory;
pub mod facts;
pub mod in_time_order;
pub mod intern;
pub mod knowledge;
pub mod latest;
pub mod memberships;
pub mod memory_state;
pub mod memory_sync;
pub mod multiset;
pub mod pair_ranks;
pub mod partials;
pub mod provider_performance;
pub mod provider_stats;
pub mod query;
pub mod reduce_view;
pub mod render;
pub mod rows;
pub mod user_intents;
pub mod user_preferences;
pub mod views;
pub mod wire_ids;

/// Logical time: the input epoch.
pub type Time = u64;
/// Difference type of every collection.
pub type Diff = isize;
