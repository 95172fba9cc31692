//! The API's one error type: a stable machine code, an HTTP status and a
//! message that says what was wrong and how to fix it. Every handler returns
//! it; it renders as `{"error": {"code": "...", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable code (`unknown_view`, `bad_limit`, `not_found`, ...).
    pub code: String,
    /// Human explanation.
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code (`bad_limit`, `not_found`, `unauthorized`, ...).
    pub code: String,
    /// What was wrong and how to fix it.
    pub message: String,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with this status and code.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A 400 for a parameter of the wrong shape, type or range: the code is
    /// `bad_` + the parameter's name, as the query contract asks.
    pub fn bad(param: &str, message: impl Into<String>) -> Self {
        ApiError::new(400, format!("bad_{param}"), message)
    }

    /// A 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(404, "not_found", message)
    }

    /// A 400 `unknown_parameter`.
    pub fn unknown_parameter(message: impl Into<String>) -> Self {
        ApiError::new(400, "unknown_parameter", message)
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.clone(),
                message: self.message.clone(),
            },
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response()
    }
}
