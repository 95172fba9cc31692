//! Who may call the API: with a token configured, every request must carry
//! `Authorization: Bearer <token>`, compared in constant time; anything else
//! is 401 `unauthorized` (a JSON error, with `WWW-Authenticate: Bearer`).
//! Without a token every request passes (the server decides when that is
//! allowed: see `ApiConfig::effective_auth`).

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The bearer token every request must carry (`None`: no check).
#[derive(Clone, Default)]
pub struct Access {
    token: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Access")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Access {
    /// Every request passes.
    pub fn open() -> Access {
        Access { token: None }
    }

    /// Requests must carry `token`.
    pub fn token(token: &str) -> Access {
        Access {
            token: Some(token.as_bytes().into()),
        }
    }

    /// True when a token is required.
    pub fn is_checked(&self) -> bool {
        self.token.is_some()
    }

    /// Whether a request with this `Authorization` header value may pass.
    pub fn admits(&self, authorization: Option<&[u8]>) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let Some(value) = authorization else {
            return Err(unauthorized(
                "this API requires `Authorization: Bearer <token>` (the engine's HELIXFLOW_API_TOKEN)",
            ));
        };
        let presented = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "));
        let Some(presented) = presented else {
            return Err(unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        // Constant time in the token's contents (lengths may differ openly).
        if bool::from(presented.ct_eq(token)) {
            Ok(())
        } else {
            Err(unauthorized("the bearer token is not this API's token"))
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(401, "unauthorized", message)
}

/// The middleware: passes admitted requests on, answers the rest with 401.
pub async fn check(State(access): State<Access>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match access.admits(authorization) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            let mut response = e.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let access = Access::token("s3cret-token");
        assert!(access.admits(Some(b"Bearer s3cret-token")).is_ok());
        assert!(access.admits(Some(b"bearer s3cret-token")).is_ok());
        for wrong in [
            &b"Bearer s3cret-tokem"[..],
            b"Bearer s3cret-token ",
            b"Bearer s3cret",
            b"Bearer ",
            b"Basic czNjcmV0LXRva2Vu",
            b"s3cret-token",
        ] {
            let e = access.admits(Some(wrong)).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (401, "unauthorized"));
        }
        let e = access.admits(None).unwrap_err();
        assert!(e.message.contains("Bearer"), "{}", e.message);
    }

    #[test]
    fn an_open_api_admits_anything_and_never_prints_a_token() {
        assert!(Access::open().admits(None).is_ok());
        assert!(Access::open().admits(Some(b"Bearer x")).is_ok());
        assert!(!format!("{:?}", Access::token("abc")).contains("abc"));
    }
}
