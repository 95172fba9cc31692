//! replay-bench: events/s and peak RSS of `helixflow replay` over generated
//! HelixAgent traffic, with every view on, at each worker count.
//!
//! What it isolates: the whole batch path — reading and decoding JSONL,
//! dedup, every view, and writing every view file — as one process per run,
//! so peak RSS is that run's own. The input is generated once by
//! `helixflow generate` (seeded, 1% duplicates, 0.1% malformed lines).
//!
//! Run (after `cargo build --release`):
//! `cargo run --release -p helixflow-benches --bin replay-bench -- --events 1000000 --runs 3`

use anyhow::{bail, Context};
#[path = "support_binary.rs"]
mod support_binary;
use clap::Parser;
use helixflow_engine::traffic_args::TrafficArgs;
use std::path::PathBuf;
use std::process::Command;
use support_binary::{generated, helixflow};

#[derive(Parser)]
#[command(about = "Times `helixflow replay` at -w 1 and -w 2 and prints events/s and peak RSS")]
struct Args {
    /// Events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    #[command(flatten)]
    traffic: TrafficArgs,
    /// Runs per worker count (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Worker counts to run.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
    /// Scratch directory (input and outputs).
    #[arg(long, default_value = "target/bench-replay")]
    dir: PathBuf,
    /// Where to write the figures as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = helixflow()?;
    std::fs::create_dir_all(&args.dir)?;
    let shape = args.traffic.shape();
    let input = generated(&bin, &args.dir, args.events, &shape)?;
    println!("input: {} events, {shape}", args.events);
    let mut report = Vec::new();
    println!(
        "{:>8} {:>10} {:>12} {:>12} {:>14} {:>12}",
        "workers", "runs", "wall_s", "compute_s", "events/s", "peak_rss_MiB"
    );
    for &w in &args.workers {
        let mut runs = Vec::new();
        for r in 0..args.runs {
            let stats = args.dir.join(format!("stats-w{w}-{r}.json"));
            let out = Command::new(&bin)
                .args(["replay", "--quiet", "-w", &w.to_string(), "--out"])
                .arg(args.dir.join(format!("out-w{w}")))
                .arg("--stats")
                .arg(&stats)
                .arg(&input)
                .output()?;
            if !out.status.success() {
                bail!(
                    "replay -w {w} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats)?)
                .with_context(|| format!("reading {}", stats.display()))?;
            runs.push(s);
        }
        runs.sort_by(|a, b| {
            a["seconds"]
                .as_f64()
                .partial_cmp(&b["seconds"].as_f64())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let median = runs[runs.len() / 2].clone();
        let peak = runs
            .iter()
            .filter_map(|r| r["peak_rss_bytes"].as_u64())
            .max()
            .unwrap_or(0);
        println!(
            "{:>8} {:>10} {:>12.2} {:>12.2} {:>14.0} {:>12.0}",
            w,
            runs.len(),
            median["seconds"].as_f64().unwrap_or(0.0),
            median["compute_seconds"].as_f64().unwrap_or(0.0),
            median["lines_per_second"].as_f64().unwrap_or(0.0),
            peak as f64 / (1 << 20) as f64
        );
        report.push(serde_json::json!({"workers": w, "median": median, "max_peak_rss_bytes": peak, "runs": runs}));
    }
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
