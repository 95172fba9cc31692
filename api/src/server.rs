//! The API server: axum's router served by hyper on a tokio runtime of its
//! own, on a thread of its own, stopped gracefully.

use crate::reader::ViewReader;
use crate::router;
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
        let (stop, stopped) = oneshot::channel::<()>();
        crate::metrics::install();
        let app = router(reader);
        let thread = std::thread::Builder::new()
            .name("helixflow-api-accept".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let shutdown = async {
                        // A dropped sender also means stop.
                        let _ = stopped.await;
                    };
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                    {
                        tracing::warn!("the API server stopped: {e}");
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
