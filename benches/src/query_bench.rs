//! query-bench: latency of the query API over REST on a loaded engine.
//!
//! What it measures: the time from sending a request on a fresh loopback
//! connection to reading the whole answer, for
//! - `POST /v1/context/replay` of one 10,000-message conversation, each strategy;
//! - `GET /v1/knowledge/related/{id}` of the entity with the most
//!   conversations (its partner count is printed: it must be >= 1000);
//! - `POST /v1/knowledge/search` over the whole directory (its size is printed)
//!   with id and name fragments;
//! - `POST /v1/analytics/query` (a group-by over `provider_stats`),
//!   `GET /v1/analytics/provider/{p}` over the whole range for the provider
//!   with the most calls, `GET /v1/learning/insights` and
//!   `GET /v1/learning/patterns?type=user_intent`;
//! - with `--kafka BROKERS`: `POST /v1/memory/sync/force` every 100 ms while
//!   generated traffic is produced to fresh topics at `--rate` events/s.
//!
//! Input: `--events` generated events (content of `--content-chars`
//! characters) followed from a file, plus the 10,000-message conversation
//! `bench-long` (each message ~300 characters, mentioning 0-6 of 400
//! entities); the engine is loaded (all input visible) before timing.
//!
//! Run: `cargo run --release -p helixflow-benches --bin query-bench -- --events 1000000`
//! (and `-- --events 0 --kafka 127.0.0.1:9092` after `scripts/services/kafka.sh start`).

#[path = "support_topics.rs"]
mod support_topics;

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use helixflow_api::server::ApiServer;
use helixflow_engine::engine::{Engine, EngineSpec};
use helixflow_engine::produce::{produce, ProduceInput};
use helixflow_engine::rejects::RejectLog;
use helixflow_engine::replay::peak_rss_bytes;
use helixflow_engine::run::EngineReader;
use helixflow_operators::rows::{ViewName, ViewPart};
use helixflow_operators::views::ViewSet;
use helixflow_sources::feed::{EpochClock, EpochPolicy};
use helixflow_sources::generator::{Generator, GeneratorSettings, TrafficShape};
use helixflow_sources::kafka::produce::{Compression, ProduceSettings};
use helixflow_types::topology::{FileSourceConfig, SourceConfig, Topology};
use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_topics::fresh_topics;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Latency of the query API over REST on a loaded engine (p50/p99)")]
struct Args {
    /// Generated events loaded before the queries (besides `bench-long`).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Characters of generated message content.
    #[arg(long, default_value_t = 300)]
    content_chars: usize,
    /// Requests per query kind.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Worker threads.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Also time the sync barrier against this broker while traffic flows.
    #[arg(long)]
    kafka: Option<String>,
    /// Events/s produced during the sync run.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Seconds of traffic in the sync run.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Scratch directory.
    #[arg(long, default_value = "target/bench-query")]
    dir: std::path::PathBuf,
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP head")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    Ok((status, body.to_owned()))
}

/// Times `requests` calls of `call(i)`; every answer must be 200.
fn time(
    label: &str,
    requests: usize,
    mut call: impl FnMut(usize) -> anyhow::Result<(u16, String)>,
) -> anyhow::Result<serde_json::Value> {
    let mut h = Histogram::<u64>::new(3)?;
    let mut last = String::new();
    for i in 0..requests {
        let started = Instant::now();
        let (status, body) = call(i)?;
        h.record(started.elapsed().as_micros() as u64)?;
        if status != 200 {
            bail!("{label}: answer {status}: {body}");
        }
        last = body;
    }
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{label:<34} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({requests} requests, last answer {} bytes)",
        ms(0.5),
        ms(0.99),
        h.max() as f64 / 1000.0,
        last.len()
    );
    Ok(
        serde_json::json!({"query": label, "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": h.max() as f64 / 1000.0, "requests": requests}),
    )
}

/// The generated events, then the 10,000-message conversation.
fn write_input(args: &Args, path: &std::path::Path) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut g = Generator::new(GeneratorSettings {
        seed: 1,
        events: Some(args.events),
        scale: args.events.max(1000),
        shape: TrafficShape::SHORT.with_content_chars(args.content_chars),
        ..GeneratorSettings::default()
    });
    let mut text = String::new();
    while !g.done() {
        text.clear();
        g.next_line(&mut text);
        out.write_all(text.as_bytes())?;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
    let words = [
        "context", "agent", "memory", "answer", "plan", "query", "token", "résumé",
    ];
    for seq in 0..10_000u64 {
        let role = match seq % 10 {
            0 => "system",
            s if s % 2 == 1 => "assistant",
            _ => "user",
        };
        let mut content = String::new();
        while content.len() < 300 {
            content.push_str(words[rng.gen_range(0..words.len())]);
            content.push(' ');
        }
        let entities: Vec<String> = (0..rng.gen_range(0..=6))
            .map(|_| {
                let e = rng.gen_range(0..400);
                format!(r#"{{"id":"long-ent-{e}","name":"Long {e}","kind":"concept"}}"#)
            })
            .collect();
        let ms = 1_769_731_200_000i64 + seq as i64 * 1000;
        let mut ts = String::new();
        helixflow_types::timestamp::write_millis(ms, &mut ts);
        writeln!(
            out,
            r#"{{"type":"message","event_id":"long-{seq}","ts":"{ts}","conversation_id":"bench-long","session_id":"s","user_id":"u","seq":{seq},"role":"{role}","content":"{content}","tokens":{},"entities":[{}]}}"#,
            rng.gen_range(20..400),
            entities.join(",")
        )?;
    }
    out.flush()?;
    Ok(())
}

fn query_run(args: &Args) -> anyhow::Result<Vec<serde_json::Value>> {
    std::fs::create_dir_all(&args.dir)?;
    let input = args.dir.join(format!(
        "query-{}-{}.jsonl",
        args.events, args.content_chars
    ));
    if !input.is_file() {
        eprintln!(
            "writing {} events and bench-long into {}",
            args.events,
            input.display()
        );
        write_input(args, &input)?;
    }
    let loading = Instant::now();
    let sources = vec![SourceConfig::File(FileSourceConfig {
        name: "events".into(),
        paths: vec![input],
        follow: false,
    })];
    let engine = Engine::start(EngineSpec {
        workers: args.workers,
        views: ViewSet::all(),
        sources: sources.clone(),
        epochs: EpochPolicy::Clock(EpochClock::new(Duration::from_millis(20))),
        rejects: RejectLog::default(),
        feed_capacity: 8,
        sinks: Vec::new(),
        cluster: None,
        timeouts: Default::default(),
    })?;
    engine.wait_complete();
    eprintln!(
        "loaded in {:.1} s, peak RSS {} MiB",
        loading.elapsed().as_secs_f64(),
        peak_rss_bytes().unwrap_or(0) >> 20
    );
    let directory = engine
        .shared
        .snapshot(ViewName::EntityDirectory, Duration::from_secs(60))?;
    let ViewPart::Directory(rows) = directory.part else {
        bail!("no directory");
    };
    let hub = rows
        .iter()
        .max_by_key(|(_, r)| r.conversations)
        .map(|(id, _)| engine.shared.ids.resolve(*id).to_owned())
        .context("an empty directory")?;
    let ids: Vec<String> = rows
        .iter()
        .map(|(id, _)| engine.shared.ids.resolve(*id).to_owned())
        .collect();
    println!(
        "directory: {} entities; related-entity hub: {hub}",
        rows.len()
    );
    let reader = EngineReader::new(
        Arc::clone(&engine.shared),
        engine.kafka.clone(),
        ViewSet::all(),
        "query-bench",
    )
    .with_sync(&sources, Vec::new())?;
    let server = ApiServer::start("127.0.0.1:0".parse()?, Arc::new(reader))?;
    let addr = server.addr();
    let mut figures = Vec::new();
    for strategy in ["full", "window", "entity", "hybrid"] {
        let body = format!(r#"{{"conversation_id":"bench-long","strategy":"{strategy}"}}"#);
        figures.push(time(
            &format!("context replay 10K msgs, {strategy}"),
            args.requests,
            |_| request(addr, "POST", "/v1/context/replay", &body),
        )?);
    }
    let (_, related) = request(
        addr,
        "GET",
        &format!("/v1/knowledge/related/{hub}?limit=20"),
        "",
    )?;
    let total: serde_json::Value = serde_json::from_str(&related)?;
    println!("related partners of {hub}: {}", total["total"]);
    let path = format!("/v1/knowledge/related/{hub}");
    figures.push(time("related (hub, limit 20)", args.requests, |_| {
        request(addr, "GET", &path, "")
    })?);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let queries: Vec<String> = (0..args.requests)
        .map(|i| {
            let id = &ids[rng.gen_range(0..ids.len())];
            let cut = if i % 3 == 0 {
                id.len()
            } else {
                (id.len() / 2).max(1)
            };
            format!(
                r#"{{"query":{},"limit":20}}"#,
                serde_json::json!(id.chars().take(cut).collect::<String>())
            )
        })
        .collect();
    figures.push(time(
        &format!("search over {} entities", rows.len()),
        args.requests,
        |i| request(addr, "POST", "/v1/knowledge/search", &queries[i]),
    )?);
    // Analytics and learning (issue 12).
    let group_by = r#"{"view":"provider_stats","group_by":["provider","model"],"aggregates":[{"fn":"sum","field":"calls","as":"calls"},{"fn":"sum","field":"cost_usd","as":"cost"},{"fn":"max","field":"latency_p99","as":"worst_p99"}],"order_by":[{"field":"calls","desc":true}]}"#;
    figures.push(time(
        "analytics/query, group-by provider_stats",
        args.requests,
        |_| request(addr, "POST", "/v1/analytics/query", group_by),
    )?);
    let (_, perf) = request(
        addr,
        "GET",
        "/v1/learning/patterns?type=provider_performance",
        "",
    )?;
    let perf: serde_json::Value = serde_json::from_str(&perf)?;
    let busiest = perf["patterns"]
        .as_array()
        .and_then(|rows| rows.iter().max_by_key(|r| r["calls"].as_u64().unwrap_or(0)))
        .and_then(|r| r["provider"].as_str())
        .context("no provider_performance row")?
        .to_owned();
    let (_, whole) = request(
        addr,
        "GET",
        &format!("/v1/analytics/provider/{busiest}"),
        "",
    )?;
    let whole: serde_json::Value = serde_json::from_str(&whole)?;
    println!(
        "analytics/provider/{busiest}: {} calls over {} hours",
        whole["overall"]["calls"],
        whole["hours"].as_array().map_or(0, Vec::len)
    );
    let path = format!("/v1/analytics/provider/{busiest}");
    figures.push(time(
        "analytics/provider, whole range",
        args.requests,
        |_| request(addr, "GET", &path, ""),
    )?);
    figures.push(time("learning/insights (defaults)", args.requests, |_| {
        request(addr, "GET", "/v1/learning/insights", "")
    })?);
    figures.push(time(
        "learning/patterns user_intent",
        args.requests,
        |_| request(addr, "GET", "/v1/learning/patterns?type=user_intent", ""),
    )?);
    server.stop();
    engine.shutdown().map_err(anyhow::Error::msg)?;
    Ok(figures)
}

fn sync_run(args: &Args, brokers: &str) -> anyhow::Result<serde_json::Value> {
    let topics = fresh_topics(brokers, "sync")?;
    let text = format!(
        "version = 1\n[engine]\nworkers = {}\nepoch = \"5ms\"\nstatus_interval = \"0s\"\n\
         [[sources]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ngroup_id = \"bench-sync-{}\"\n{}",
        args.workers,
        std::process::id(),
        topics.toml_table()
    );
    let topology = Topology::parse("bench.toml", &text, |_| None)?;
    let engine = Engine::start(EngineSpec::streaming(&topology))?;
    let reader = EngineReader::new(
        Arc::clone(&engine.shared),
        engine.kafka.clone(),
        ViewSet::all(),
        "query-bench",
    )
    .with_sync(&topology.sources, engine.sinks.clone())?;
    let server = ApiServer::start("127.0.0.1:0".parse()?, Arc::new(reader))?;
    let addr = server.addr();
    let settings = ProduceSettings {
        brokers: brokers.to_owned(),
        topics,
        rate: args.rate,
        compression: Compression::Lz4,
    };
    let events = args.rate * args.seconds;
    let generated = GeneratorSettings {
        seed: 5,
        events: Some(events),
        scale: events.max(1000),
        shape: TrafficShape::SHORT.with_content_chars(args.content_chars),
        ..GeneratorSettings::default()
    };
    let producer =
        std::thread::spawn(move || produce(&settings, ProduceInput::Generated(generated), false));
    // Let the traffic reach its rate, then call the barrier every 100 ms
    // until shortly before the traffic ends.
    std::thread::sleep(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(args.seconds.saturating_sub(4).max(1));
    let mut h = Histogram::<u64>::new(3)?;
    let mut waited = Histogram::<u64>::new(3)?;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let (status, body) = request(
            addr,
            "POST",
            "/v1/memory/sync/force",
            r#"{"timeout_ms": 10000}"#,
        )?;
        h.record(started.elapsed().as_micros() as u64)?;
        if status != 200 {
            bail!("sync force answered {status}: {body}");
        }
        let answer: serde_json::Value = serde_json::from_str(&body)?;
        waited.record(answer["waited_ms"].as_u64().unwrap_or(0))?;
    }
    let report = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "sync force at {} events/s: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms ({} barriers; waited_ms p50 {} p99 {}; {} events produced)",
        args.rate,
        ms(0.5),
        ms(0.99),
        h.max() as f64 / 1000.0,
        h.len(),
        waited.value_at_quantile(0.5),
        waited.value_at_quantile(0.99),
        report.delivered
    );
    server.stop();
    engine.shutdown().map_err(anyhow::Error::msg)?;
    Ok(serde_json::json!({"p50_ms": ms(0.5), "p99_ms": ms(0.99), "barriers": h.len()}))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.events > 0 {
        query_run(&args)?;
    }
    if let Some(brokers) = args.kafka.clone() {
        sync_run(&args, &brokers)?;
    }
    Ok(())
}
