//! API errors: a stable machine code, an HTTP status and a message that says
//! what was wrong and how to fix it. Rendered as
//! `{"error": {"code": "...", "message": "..."}}`.

/// An API error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable code (`unknown_view`, `bad_key`, `bad_limit`, ...).
    pub code: &'static str,
    /// Human explanation.
    pub message: String,
}

impl ApiError {
    /// An error with this status and code.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({"error": {"code": self.code, "message": self.message}}).to_string()
    }
}
