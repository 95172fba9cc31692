//! Sinks: where views go.
//!
//! | module | owns |
//! |---|---|
//! | [`files`] | a view as `DIR/{view}.jsonl`, sorted, replaced atomically |

pub mod files;
