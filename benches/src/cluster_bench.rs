//! cluster-bench: what running as a cluster costs. `helixflow replay` of
//! the same input as processes × workers configurations on one machine
//! (default 1×2, 2×1, 3×1), every view on: wall time, CPU seconds per
//! event summed over the processes (each process's own user + system time,
//! `replay --stats`), bytes exchanged between the processes (the loopback
//! interface's transmitted bytes during the run: run it on an otherwise
//! idle machine), and each process's peak RSS (its share of the state).
//! The overhead is each configuration's CPU per event against the first's.
//!
//! Run (after `cargo build --release`):
//! `cargo run --release -p helixflow-benches --bin cluster-bench -- --events 1000000 --content-chars 300`

use anyhow::{bail, Context};
use clap::Parser;
use helixflow_engine::traffic_args::TrafficArgs;
#[path = "support_binary.rs"]
mod support_binary;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use support_binary::{generated, helixflow};

#[derive(Parser)]
#[command(
    about = "Replays one input as several processes x workers and prints CPU per event, bytes exchanged and RSS per process"
)]
struct Args {
    /// Events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    #[command(flatten)]
    traffic: TrafficArgs,
    /// Configurations, PROCESSESxWORKERS; the first is the baseline.
    #[arg(long, value_delimiter = ',', default_value = "1x2,2x1,3x1")]
    configs: Vec<String>,
    /// Runs per configuration (the one with the median CPU is reported).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Scratch directory (input and outputs).
    #[arg(long, default_value = "target/bench-cluster")]
    dir: PathBuf,
    /// Where to write the figures as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One run's figures.
#[derive(Clone, serde::Serialize)]
struct Run {
    processes: usize,
    workers: usize,
    wall_seconds: f64,
    lines: u64,
    cpu_seconds: f64,
    cpu_us_per_event: f64,
    exchanged_bytes: u64,
    peak_rss_bytes: Vec<u64>,
}

fn parse_config(c: &str) -> anyhow::Result<(usize, usize)> {
    let (p, w) = c
        .split_once('x')
        .with_context(|| format!("{c:?}: write PROCESSESxWORKERS, e.g. 2x1"))?;
    Ok((p.parse()?, w.parse()?))
}

/// Bytes the loopback interface has sent since boot.
fn loopback_bytes() -> anyhow::Result<u64> {
    let path = "/sys/class/net/lo/statistics/tx_bytes";
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("reading {path}"))?
        .trim()
        .parse()?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run_once(
    bin: &Path,
    input: &Path,
    dir: &Path,
    processes: usize,
    workers: usize,
) -> anyhow::Result<Run> {
    let tag = format!("{processes}x{workers}");
    let hosts = dir.join(format!("hosts-{tag}"));
    let lines: Vec<String> = (0..processes)
        .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
        .collect::<anyhow::Result<_>>()?;
    std::fs::write(&hosts, lines.join("\n") + "\n")?;
    let stats = dir.join(format!("stats-{tag}.json"));
    let out = dir.join(format!("out-{tag}"));
    let before = loopback_bytes()?;
    let started = Instant::now();
    let children = (0..processes)
        .map(|i| {
            let mut c = Command::new(bin);
            c.args(["replay", "--quiet", "-w", &workers.to_string(), "--out"])
                .arg(&out)
                .arg("--stats")
                .arg(&stats);
            if processes > 1 {
                c.args([
                    "--processes",
                    &processes.to_string(),
                    "--process",
                    &i.to_string(),
                ])
                .arg("--hostfile")
                .arg(&hosts);
            }
            // Each process's stderr (its rejected lines) to a file: a pipe
            // not read until the end would fill and stop the process.
            let log = std::fs::File::create(dir.join(format!("log-{tag}-{i}.txt")))?;
            c.arg(input).stdout(Stdio::null()).stderr(log).spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for (i, mut child) in children.into_iter().enumerate() {
        if !child.wait()?.success() {
            let log = std::fs::read_to_string(dir.join(format!("log-{tag}-{i}.txt")))?;
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!("{tag}: process {i} failed: {}", tail.join(" | "));
        }
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let exchanged_bytes = loopback_bytes()?.saturating_sub(before);
    let mut cpu_seconds = 0.0;
    let mut peak_rss_bytes = Vec::new();
    let mut total_lines = 0;
    for i in 0..processes {
        let file = if i == 0 {
            stats.clone()
        } else {
            PathBuf::from(format!("{}.p{i}", stats.display()))
        };
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)
            .with_context(|| format!("reading {}", file.display()))?;
        cpu_seconds += s["cpu_seconds"].as_f64().context("no cpu_seconds")?;
        peak_rss_bytes.push(s["peak_rss_bytes"].as_u64().unwrap_or(0));
        if i == 0 {
            // Process 0's counts are the cluster's.
            total_lines = s["lines"].as_u64().unwrap_or(0);
        }
    }
    Ok(Run {
        processes,
        workers,
        wall_seconds,
        lines: total_lines,
        cpu_seconds,
        cpu_us_per_event: cpu_seconds * 1e6 / total_lines.max(1) as f64,
        exchanged_bytes,
        peak_rss_bytes,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = helixflow()?;
    std::fs::create_dir_all(&args.dir)?;
    let shape = args.traffic.shape();
    let input = generated(&bin, &args.dir, args.events, &shape)?;
    let input_bytes = std::fs::metadata(&input)?.len();
    println!(
        "input: {} events ({shape}), {} bytes ({:.0} bytes/event)",
        args.events,
        input_bytes,
        input_bytes as f64 / args.events.max(1) as f64
    );
    println!(
        "{:>6} {:>8} {:>9} {:>11} {:>9} {:>14} {:>9}  peak RSS per process (MiB)",
        "config", "wall_s", "cpu_s", "cpu_us/evt", "overhead", "exchanged_MiB", "B/event"
    );
    let mut baseline: Option<f64> = None;
    let mut report = Vec::new();
    for config in &args.configs {
        let (processes, workers) = parse_config(config)?;
        let mut runs = (0..args.runs.max(1))
            .map(|_| run_once(&bin, &input, &args.dir, processes, workers))
            .collect::<anyhow::Result<Vec<_>>>()?;
        runs.sort_by(|a, b| a.cpu_seconds.total_cmp(&b.cpu_seconds));
        let r = runs[runs.len() / 2].clone();
        let base = *baseline.get_or_insert(r.cpu_us_per_event);
        println!(
            "{:>6} {:>8.2} {:>9.2} {:>11.2} {:>8.0}% {:>14.1} {:>9.1}  {}",
            config,
            r.wall_seconds,
            r.cpu_seconds,
            r.cpu_us_per_event,
            (r.cpu_us_per_event / base - 1.0) * 100.0,
            r.exchanged_bytes as f64 / (1 << 20) as f64,
            r.exchanged_bytes as f64 / r.lines.max(1) as f64,
            r.peak_rss_bytes
                .iter()
                .map(|b| format!("{:.0}", *b as f64 / (1 << 20) as f64))
                .collect::<Vec<_>>()
                .join(" / ")
        );
        report.push(serde_json::json!({"config": config, "median": r, "runs": runs}));
    }
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
