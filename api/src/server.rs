//! The hyper server: one tokio runtime on its own threads, each request
//! handled by [`crate::routes::handle`] on the blocking pool (reads wait for
//! the workers and rendering is CPU work).

use crate::reader::ViewReader;
use crate::routes::{handle, Response};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response as HttpResponse};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

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

impl ApiServer {
    /// Binds `addr` (port 0 picks a free port) and serves until stopped.
    pub fn start(addr: SocketAddr, reader: Arc<dyn ViewReader>) -> Result<ApiServer, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
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
        let (stop, mut stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("helixflow-api-accept".into())
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let reader = Arc::clone(&reader);
                                tokio::spawn(async move {
                                    let service = service_fn(move |req| respond(Arc::clone(&reader), req));
                                    if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                                        tracing::debug!("API connection ended: {e}");
                                    }
                                });
                            }
                        }
                    }
                });
            })
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

async fn respond(
    reader: Arc<dyn ViewReader>,
    req: Request<Incoming>,
) -> Result<HttpResponse<Full<Bytes>>, std::convert::Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let response = tokio::task::spawn_blocking(move || {
        handle(reader.as_ref(), &method, &path, query.as_deref())
    })
    .await
    .unwrap_or_else(|e| {
        Response::error(&crate::error::ApiError::new(
            500,
            "internal",
            format!("request handler failed: {e}"),
        ))
    });
    let mut builder = HttpResponse::builder()
        .status(response.status)
        .header("content-type", response.content_type);
    for (k, v) in &response.headers {
        builder = builder.header(*k, v.as_str());
    }
    Ok(builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| {
            HttpResponse::new(Full::new(Bytes::from_static(
                b"{\"error\":{\"code\":\"internal\",\"message\":\"bad header\"}}",
            )))
        }))
}
