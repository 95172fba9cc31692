//! lake-bench: what the lake costs and what it buys, on one broker, in one
//! run, at realistic event sizes (message contents of `--content-chars`).
//!
//! 1. Generates N events, writes them as JSONL and produces them to fresh
//!    topics shaped like the contract's.
//! 2. **Lake off**: an engine (Kafka source, every view) from the earliest
//!    offset until the views reflect all N: the end-to-end rate without a
//!    lake, and exactly what a restart without a lake does.
//! 3. **Lake on**: the same with a lake sink (local directory), timed until
//!    the views reflect all N and the lake has committed them: the rate
//!    with the lake, against (2). Then stopped.
//! 4. **Lake restart**: the same topology again (its group and lake): it
//!    loads the lake and resumes Kafka at the recorded offsets, timed until
//!    the restore is done and the views reflect all N; against (2).
//! 5. Lake bytes against the JSONL's; `replay --lake` against `replay`
//!    over the JSONL (same dataflow, in process).
//!
//! Needs a broker: `scripts/services/kafka.sh start`. Run:
//! `cargo run --release -p helixflow-benches --bin lake-bench -- --events 1000000`

#[path = "support_topics.rs"]
mod support_topics;

use anyhow::Context;
use clap::Parser;
use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::kafka_health::lags_now;
use helixflow_engine::replay::{replay, ReplayInput, ReplaySpec};
use helixflow_operators::views::ViewSet;
use helixflow_sources::generator::{Generator, GeneratorSettings, TrafficShape};
use helixflow_sources::kafka::produce::{Compression, EventProducer, ProduceSettings};
use helixflow_types::topology::{KafkaTopics, LakeSourceConfig, Topology};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support_topics::fresh_topics;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "The lake's cost (throughput on/off) and gain (restart, batch replay)")]
struct Args {
    /// Brokers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Events generated.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Characters of message content (the generator's default is short;
    /// 300 gives events of about 500 bytes).
    #[arg(long, default_value_t = 300)]
    content_chars: usize,
    /// Worker threads of the engine.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Where the JSONL, the lake and the view files go (default: a temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn topology(
    args: &Args,
    topics: &KafkaTopics,
    group: &str,
    lake: Option<&Path>,
) -> anyhow::Result<Topology> {
    let sink = lake.map_or(String::new(), |l| {
        format!(
            "[[sinks]]\nname = \"lake\"\nkind = \"lake\"\nlocation = \"{}\"\n",
            l.display()
        )
    });
    let text = format!(
        "version = 1\n[engine]\nworkers = {}\nepoch = \"100ms\"\nstatus_interval = \"0s\"\n\
         [[sources]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = \"{}\"\ngroup_id = \"{group}\"\n{}\n{sink}",
        args.workers,
        args.brokers,
        topics.toml_table()
    );
    Ok(Topology::parse("lake-bench.toml", &text, |_| None)?)
}

/// Starts an engine on `t` (with its restore, if it has a lake) and waits
/// until the views reflect `n` Kafka messages and every restored event;
/// returns the engine and the seconds taken.
fn run_until(mut t: Topology, n: u64, what: &str) -> anyhow::Result<(Engine, f64)> {
    let started = Instant::now();
    let restore = helixflow_engine::restore::plan(&mut t)?;
    if let Some(r) = &restore {
        println!(
            "  {what}: restoring {} events from commit {}",
            r.events, r.commit
        );
    }
    let engine = Engine::start(EngineSpec::streaming(&t))?;
    loop {
        let visible: i64 = lags_now(&engine.shared, &engine.kafka)
            .iter()
            .map(|p| p.visible)
            .sum();
        // A restore counts once the views reflect every event it read.
        let (as_of, _) = engine.shared.complete();
        let positions = engine.shared.feed.positions_at(as_of);
        let restored = engine.lakes.iter().all(|l| {
            let seen = positions[&l.name]["events"].as_u64().unwrap_or(0);
            l.done.load(Ordering::Acquire) && seen >= l.events_total.load(Ordering::Relaxed)
        });
        if visible >= n as i64 && restored {
            break;
        }
        if let Some(l) = engine.lakes.iter().find_map(|l| l.error()) {
            anyhow::bail!("{what}: the restore failed: {l}");
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "{what}: did not catch up"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((engine, started.elapsed().as_secs_f64()))
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    helixflow_engine::huge_pages::disable_unless_asked();
    helixflow_engine::logging::init();
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let jsonl = dir.join("events.jsonl");
    let lake = dir.join("lake");
    let _ = std::fs::remove_dir_all(&lake);

    // 1. The events: a JSONL file and the same lines on fresh topics.
    let topics = fresh_topics(&args.brokers, "lake")
        .context("is the broker up? scripts/services/kafka.sh start")?;
    let mut producer = EventProducer::new(&ProduceSettings {
        brokers: args.brokers.clone(),
        topics: topics.clone(),
        rate: 0,
        compression: Compression::Lz4,
    })?;
    let mut g = Generator::new(GeneratorSettings {
        seed: 42,
        events: Some(args.events),
        rate: 0,
        duplicate_ratio: 0.01,
        malformed_ratio: 0.001,
        scale: args.events,
        shape: TrafficShape::SHORT.with_content_chars(args.content_chars),
    });
    let mut out = std::io::BufWriter::new(std::fs::File::create(&jsonl)?);
    let mut line = String::new();
    while !g.done() {
        line.clear();
        g.next_line(&mut line);
        out.write_all(line.as_bytes())?;
        producer.send(line.trim_end().as_bytes())?;
    }
    out.flush()?;
    let produced = producer.finish(Duration::from_secs(600))?;
    let n = produced.delivered;
    let jsonl_bytes = std::fs::metadata(&jsonl)?.len();
    println!(
        "{n} events ({:.0} bytes each on average, {jsonl_bytes} bytes of JSONL) produced in {:.1} s",
        jsonl_bytes as f64 / n as f64,
        produced.seconds
    );

    // 2. Lake off: from the earliest offset, as a restart without a lake.
    let off = topology(&args, &topics, &format!("off-{}", std::process::id()), None)?;
    let (engine, off_s) = run_until(off, n, "lake off")?;
    engine.shutdown().map_err(anyhow::Error::msg)?;
    println!(
        "lake off (and a restart without a lake, from the earliest offset): {off_s:.2} s, {:.0} events/s",
        n as f64 / off_s
    );

    // 3. Lake on: the same, plus the lake sink, until the lake has it all.
    let group = format!("on-{}", std::process::id());
    let on = topology(&args, &topics, &group, Some(&lake))?;
    let started = Instant::now();
    let (engine, reflect_s) = run_until(on.clone(), n, "lake on")?;
    anyhow::ensure!(
        engine.wait_sinks_written(Duration::from_secs(600)),
        "the lake did not commit everything"
    );
    let on_s = started.elapsed().as_secs_f64();
    let commits = engine.sinks.first().map_or(0, |s| s.batches_written());
    engine.shutdown().map_err(anyhow::Error::msg)?;
    let lake_bytes = dir_bytes(&lake);
    println!(
        "lake on: {reflect_s:.2} s to reflect all, {:.0} events/s = {:.0}% of lake off; all committed after {on_s:.2} s ({commits} commits, commit_interval 5 s)",
        n as f64 / reflect_s,
        100.0 * off_s / reflect_s
    );

    // 4. Restart with the lake: restore, resume at the recorded offsets.
    let (engine, restart_s) = run_until(on, n, "lake restart")?;
    let restored = engine
        .lakes
        .first()
        .map_or(0, |l| l.events_read.load(Ordering::Relaxed));
    engine.shutdown().map_err(anyhow::Error::msg)?;
    println!(
        "restart with the lake: {restart_s:.2} s to caught-up ({restored} events restored) = {:.2} of a restart without it ({off_s:.2} s)",
        restart_s / off_s
    );

    // 5. Bytes, and replay --lake against replay over the JSONL.
    println!(
        "lake bytes: {lake_bytes} = {:.1}% of the JSONL's {jsonl_bytes}",
        100.0 * lake_bytes as f64 / jsonl_bytes as f64
    );
    let spec = |input, out: &str| ReplaySpec {
        input,
        out: dir.join(out),
        workers: args.workers,
        epoch_lines: 1_000_000,
        progress: false,
        views: ViewSet::all(),
        cluster: None,
        timeouts: Default::default(),
    };
    let lines = replay(spec(
        ReplayInput::Files(vec![jsonl.clone()]),
        "replay-jsonl",
    ))?;
    let from_lake = replay(spec(
        ReplayInput::Lake(LakeSourceConfig {
            name: "replay".into(),
            location: lake.display().to_string(),
            from: None,
            to: None,
            s3: Default::default(),
            restore: false,
        }),
        "replay-lake",
    ))?;
    println!(
        "replay over the JSONL: {:.2} s ({:.0} lines/s); replay --lake: {:.2} s ({:.0} events/s) = {:.2} of it",
        lines.seconds,
        lines.lines as f64 / lines.seconds,
        from_lake.seconds,
        from_lake.lines as f64 / from_lake.seconds,
        from_lake.seconds / lines.seconds
    );
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "events": n, "jsonl_bytes": jsonl_bytes, "lake_bytes": lake_bytes,
            "lake_off_s": off_s, "lake_on_reflect_s": reflect_s, "lake_on_committed_s": on_s,
            "lake_restart_s": restart_s,
            "replay_jsonl_s": lines.seconds, "replay_lake_s": from_lake.seconds,
        });
        std::fs::write(path, json.to_string())?;
    }
    Ok(())
}
