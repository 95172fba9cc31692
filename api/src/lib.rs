//! The REST API: views read from the dataflow's arranged state, as JSON lines.
//!
//! | module | owns |
//! |---|---|
//! | [`reader`] | what the API needs from an engine ([`reader::ViewReader`]) |
//! | [`routes`] | request → response, without sockets (unit-testable) |
//! | [`error`] | API errors with stable codes and HTTP statuses |
//! | [`server`] | the hyper server on a tokio runtime of its own |
//!
//! Routes: `GET /v1/health`, `GET /v1/views`, `GET /v1/views/{name}`
//! (`limit`, `after`), `GET /v1/views/{name}/{key...}`,
//! `GET /v1/conversations/{id}`, and `GET /metrics` (Prometheus text).

pub mod error;
pub mod reader;
pub mod routes;
pub mod server;
