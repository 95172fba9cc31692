//! incremental-bench: after N events, how long until every view reflects
//! 10K more? The figure a batch engine has no answer to but a full
//! recompute.
//!
//! 1. Generates N + U×K events (the core's generator, seed 42, 1% exact
//!    duplicates, no malformed lines) and writes the first N to a file.
//! 2. Starts an engine with every view on, a `follow` file source on that
//!    file and 5 ms epochs, and waits until every view reflects line N
//!    (the epoch complete on every worker covers that position).
//! 3. U times: appends the next K lines at once and measures, polling every
//!    millisecond, the time until every view reflects all of them.
//!
//! Run: `cargo run --release -p helixflow-benches --bin incremental-bench`

use anyhow::{bail, Context};
use clap::Parser;
use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::rejects::RejectLog;
use helixflow_operators::views::ViewSet;
use helixflow_sources::feed::{EpochClock, EpochPolicy};
use helixflow_sources::generator::{Generator, GeneratorSettings, TrafficShape};
use helixflow_types::topology::{FileSourceConfig, SourceConfig};
use std::io::Write;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Time until every view reflects an update of K events after N")]
struct Args {
    /// Events before the updates.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per update.
    #[arg(long, default_value_t = 10_000)]
    update: u64,
    /// Updates (the median is reported).
    #[arg(long, default_value_t = 5)]
    updates: u64,
    /// Worker threads.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Write the figures as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

const SOURCE: &str = "events";

/// The input line every view reflects (0 before the first epoch).
fn visible_line(engine: &Engine) -> u64 {
    let (complete, _) = engine.shared.complete();
    engine.shared.feed.positions_at(complete)[SOURCE]["line"]
        .as_u64()
        .unwrap_or(0)
}

fn wait_visible(engine: &Engine, line: u64, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while visible_line(engine) < line {
        if started.elapsed() > limit {
            bail!(
                "only line {} of {line} visible after {limit:?}",
                visible_line(engine)
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(started.elapsed())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let total = args.events + args.updates * args.update;
    let mut generator = Generator::new(GeneratorSettings {
        seed: 42,
        events: Some(total),
        rate: 0,
        duplicate_ratio: 0.01,
        malformed_ratio: 0.0,
        scale: total,
        shape: TrafficShape::SHORT,
    });
    let mut lines = Vec::with_capacity(total as usize);
    while !generator.done() {
        let mut line = String::new();
        generator.next_line(&mut line);
        lines.push(line.into_bytes());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("events.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for l in &lines[..args.events as usize] {
        file.write_all(l)?;
    }
    file.flush()?;

    let started = Instant::now();
    let engine = Engine::start(EngineSpec {
        workers: args.workers,
        views: ViewSet::all(),
        sources: vec![SourceConfig::File(FileSourceConfig {
            name: SOURCE.into(),
            paths: vec![path.clone()],
            follow: true,
        })],
        epochs: EpochPolicy::Clock(EpochClock::new(Duration::from_millis(5))),
        rejects: RejectLog::default(),
        feed_capacity: 64,
        sinks: Vec::new(),
        cluster: None,
        timeouts: Default::default(),
    })
    .context("starting the engine")?;
    wait_visible(&engine, args.events, Duration::from_secs(600))?;
    let initial = started.elapsed();
    println!(
        "{} events, every view complete after {:.2} s ({:.0} events/s, following the file, -w {})",
        args.events,
        initial.as_secs_f64(),
        args.events as f64 / initial.as_secs_f64(),
        args.workers
    );

    let mut times = Vec::new();
    for u in 0..args.updates {
        // Let the engine settle (merges of the previous update) first.
        std::thread::sleep(Duration::from_millis(500));
        let from = (args.events + u * args.update) as usize;
        let to = from + args.update as usize;
        let mut block = Vec::new();
        for l in &lines[from..to] {
            block.extend_from_slice(l);
        }
        let appended = Instant::now();
        file.write_all(&block)?;
        file.flush()?;
        wait_visible(&engine, to as u64, Duration::from_secs(60))?;
        let took = appended.elapsed();
        println!(
            "update {}: {} events visible in every view after {:.1} ms",
            u + 1,
            args.update,
            took.as_secs_f64() * 1000.0
        );
        times.push(took.as_secs_f64() * 1000.0);
    }
    engine
        .shutdown()
        .map_err(|e| anyhow::anyhow!("stopping the engine: {e}"))?;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!(
        "median of {}: {median:.1} ms for {} events after {}",
        args.updates, args.update, args.events
    );
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "events": args.events, "update": args.update, "workers": args.workers,
            "initial_s": initial.as_secs_f64(), "update_ms": times, "median_update_ms": median,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
