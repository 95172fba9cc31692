//! Log output of the binaries: stderr, filtered by `RUST_LOG` (default
//! `info`). Operator stalls can be logged too (see [`crate::slow_operators`]).

/// Installs the global subscriber.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
