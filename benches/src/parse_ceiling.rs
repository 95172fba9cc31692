//! parse-ceiling: how fast one thread can only read and parse a JSONL file
//! of events, the ceiling any engine that reads that file runs under.
//!
//! For the same file, each `--runs` times (median kept):
//! - **read**: the file into memory and split into lines, nothing parsed;
//! - **serde_json, syntax only**: every line through serde_json into
//!   `IgnoredAny` (the JSON is checked, nothing is built);
//! - **serde_json, DOM**: every line into a `serde_json::Value`;
//! - **Helixflow's decoder**: every line through `decode_event`, the typed,
//!   validating decoder the engine's ingest runs (it builds the event).
//!
//! Run: `cargo run --release -p helixflow-benches --bin parse-ceiling -- FILE`

use anyhow::Context;
use clap::Parser;
use helixflow_types::decode::decode_event;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Read-and-parse ceiling of a JSONL event file, one thread")]
struct Args {
    /// The JSONL file (e.g. the peer benchmark's input).
    file: std::path::PathBuf,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Write the figures as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// One way through a line: true if it was accepted.
type Pass = dyn Fn(&[u8]) -> bool;

/// Times `pass` over the file's lines; returns (median seconds, lines, accepted).
fn measure(args: &Args, pass: impl Fn(&[u8]) -> bool) -> anyhow::Result<(f64, usize, usize)> {
    let mut times = Vec::new();
    let (mut lines, mut accepted) = (0, 0);
    for _ in 0..args.runs {
        let started = Instant::now();
        let data = std::fs::read(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?;
        (lines, accepted) = (0, 0);
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            accepted += usize::from(pass(line));
        }
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], lines, accepted))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bytes = std::fs::metadata(&args.file)?.len();
    let passes: [(&str, Box<Pass>); 4] = [
        ("read and split lines", Box::new(|l| !l.is_empty())),
        (
            "serde_json, syntax only (IgnoredAny)",
            Box::new(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok()),
        ),
        (
            "serde_json, DOM (Value)",
            Box::new(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok()),
        ),
        (
            "Helixflow's decoder (decode_event)",
            Box::new(|l| decode_event(l).is_ok()),
        ),
    ];
    let mut report = serde_json::Map::new();
    println!(
        "{} ({:.0} MiB), one thread, median of {}:",
        args.file.display(),
        bytes as f64 / 1048576.0,
        args.runs
    );
    for (name, pass) in &passes {
        let (secs, lines, accepted) = measure(&args, pass)?;
        println!(
            "  {name:<40} {secs:>6.2} s  {:>12.0} lines/s  {:>6.0} MiB/s  ({accepted} of {lines} accepted)",
            lines as f64 / secs,
            bytes as f64 / 1048576.0 / secs
        );
        report.insert(
            (*name).into(),
            serde_json::json!({"seconds": secs, "lines": lines, "accepted": accepted,
                               "lines_per_s": lines as f64 / secs}),
        );
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
