//! Query logic as plain functions over the rows read from the arranged
//! state: the selection rules and rankings of api.md, testable without a
//! server or an engine. Handlers parse, call these, and render.

pub mod analytics;
pub mod context;
pub mod knowledge;
pub mod learning;
pub mod structured;
