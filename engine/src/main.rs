//! The `helixflow` binary: parses arguments and dispatches to the engine library.

mod cli;

/// mimalloc: differential's batchers allocate and free large buffers at a
/// high rate; glibc's allocator returns them to the OS and page-faults them
/// back (measured in docs/benchmarks.md). Its v2 line (the `v2` feature):
/// v3 holds freed memory for 1 s before returning it (v2: 10 ms), which
/// put a realistic replay's peak ~130 MiB higher (docs/benchmarks.md). The
/// `system-allocator` feature keeps the system's, for heap profilers that
/// hook malloc (heaptrack).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
