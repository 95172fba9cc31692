//! The API server: axum's router behind the layers that keep it fit for
//! production, served by hyper on a tokio runtime of its own, on a thread
//! of its own, stopped gracefully.
//!
//! What one client can hold, and for how long:
//! - a connection: at most `max_connections` are served at once (more wait
//!   in the listen backlog); a client that takes longer than
//!   `header_timeout` to send a request's headers is disconnected (the
//!   slow-loris defence: hyper's header read timeout);
//! - a request: at most `max_in_flight` are handled at once, the rest wait
//!   their turn in order; each, body and waiting included, gets
//!   `request_timeout`, then a 408 `request_timeout` (tower-http's timeout);
//! - a body: [`crate::extract::MAX_BODY_BYTES`], then 413 `body_too_large`;
//! - access: a bearer token when one is configured ([`crate::access`]).
//!
//! Handlers read on tokio's blocking pool ([`crate::blocking`]), so a slow
//! read holds neither the accept loop nor other connections.

use crate::access::{self, Access};
use crate::error::ApiError;
use crate::reader::ViewReader;
use crate::router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// How the server listens and what it admits.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to bind (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Who may call.
    pub access: Access,
    /// Longest a request may take, waiting for its turn included.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Requests handled at once.
    pub max_in_flight: usize,
}

impl ServeOptions {
    /// Open access and the topology's default limits, on `addr`.
    pub fn new(addr: SocketAddr) -> ServeOptions {
        let defaults = helixflow_types::topology::ApiConfig::default();
        ServeOptions::from_config(addr, &defaults, Access::open())
    }

    /// The limits of a topology's `[api]` table, with `access`.
    pub fn from_config(
        addr: SocketAddr,
        config: &helixflow_types::topology::ApiConfig,
        access: Access,
    ) -> ServeOptions {
        ServeOptions {
            addr,
            access,
            request_timeout: config.request_timeout,
            header_timeout: config.header_timeout,
            max_connections: config.max_connections.max(1),
            max_in_flight: config.max_in_flight.max(1),
        }
    }
}

/// A running API server.
pub struct ApiServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding failed (address in use, no permission...).
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The runtime could not start.
    #[error("cannot start the API runtime: {0}")]
    Runtime(std::io::Error),
}

/// Every route behind the request layers of `options`: outermost the
/// request-duration histogram, then the JSON body for a timeout, access,
/// the timeout, the in-flight limit.
pub fn app(reader: Arc<dyn ViewReader>, options: &ServeOptions) -> Router {
    let timeout = options.request_timeout;
    router(reader)
        .layer(GlobalConcurrencyLimitLayer::new(options.max_in_flight))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            options.access.clone(),
            access::check,
        ))
        .layer(axum::middleware::map_response(move |r: Response| {
            timeout_as_json(r, timeout)
        }))
        .layer(axum::middleware::from_fn(crate::metrics::track))
}

/// The timeout layer answers with an empty 408: give it the API's JSON error.
async fn timeout_as_json(response: Response, timeout: Duration) -> Response {
    let bare = response.status() == StatusCode::REQUEST_TIMEOUT
        && !response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE);
    if !bare {
        return response;
    }
    ApiError::new(
        408,
        "request_timeout",
        format!("the request took longer than {timeout:?} (api.request_timeout)"),
    )
    .into_response()
}

impl ApiServer {
    /// Binds `addr` with open access and default limits (tests, loopback).
    pub fn start(addr: SocketAddr, reader: Arc<dyn ViewReader>) -> Result<ApiServer, ServeError> {
        ApiServer::start_with(ServeOptions::new(addr), reader)
    }

    /// Binds `options.addr` and serves until stopped.
    pub fn start_with(
        options: ServeOptions,
        reader: Arc<dyn ViewReader>,
    ) -> Result<ApiServer, ServeError> {
        let addr = options.addr;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("helixflow-api")
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|error| ServeError::Bind { addr, error })?;
        let bound = listener
            .local_addr()
            .map_err(|error| ServeError::Bind { addr, error })?;
        let (stop, stopped) = oneshot::channel::<()>();
        crate::metrics::install();
        let app = app(reader, &options);
        let thread = std::thread::Builder::new()
            .name("helixflow-api-accept".into())
            .spawn(move || runtime.block_on(serve(listener, app, options, stopped)))
            .map_err(ServeError::Runtime)?;
        Ok(ApiServer {
            addr: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            // The server may already be gone; then there is nothing to stop.
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            // A panicked server thread has nothing left to clean up.
            let _ = t.join();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How long stopping waits for connections to finish their requests.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The accept loop: one task per connection, at most `max_connections` at
/// once, until `stopped` (or its sender is dropped).
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    options: ServeOptions,
    mut stopped: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stopped => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!("the API could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        // Small answers go out at once; a failure only costs latency.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away mid-request is not the server's error.
            let _ = connection.await;
            drop(permit);
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(STOP_GRACE) => {
            tracing::warn!("the API stopped with connections still open after {STOP_GRACE:?}");
        }
    }
}
