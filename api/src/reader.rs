//! What the API needs from an engine: consistent snapshots of views, the
//! identifier table to render them, and a health report.

use helixflow_operators::intern::Interner;
use helixflow_operators::rows::{ViewName, ViewPart};

/// A consistent read of one view.
pub struct ApiSnapshot {
    /// Every input epoch `<= as_of` is reflected, none after.
    pub as_of: u64,
    /// Input positions (per source) that `as_of` corresponds to.
    pub positions: serde_json::Value,
    /// The rows.
    pub part: ViewPart,
}

/// Why a snapshot could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The topology does not compute the view.
    #[error("view `{0}` is not enabled in this topology")]
    NotEnabled(ViewName),
    /// The engine could not answer (overloaded or stopping).
    #[error("the engine could not answer: {0}")]
    Unavailable(String),
}

/// An engine as the API sees it.
pub trait ViewReader: Send + Sync + 'static {
    /// A consistent snapshot of `view`.
    fn read(&self, view: ViewName) -> Result<ApiSnapshot, ReadError>;
    /// The identifier table.
    fn ids(&self) -> &Interner;
    /// Status, counters, positions and lag, as JSON.
    fn health(&self) -> serde_json::Value;
    /// Counters and gauges in the Prometheus text exposition format.
    fn metrics(&self) -> String;
}
