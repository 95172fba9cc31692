//! The `helixflow` binary: parses arguments and dispatches to the engine library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
