//! sink-bench: the database sinks' write rates against the real servers.
//!
//! - **ClickHouse**: N `conversation_snapshots` rows written two ways to the
//!   same server in the same run, alternating, `--runs` times each:
//!   *raw*, the `clickhouse` crate inserting ready-made typed rows in
//!   batches of `batch_rows` (the fastest this client can load the table);
//!   *sink*, the engine's path for the same rows: change messages (as the
//!   export operators send them) through the row-bounded queue into a
//!   `SinkRunner`, converted to table rows, batched and written by the
//!   `ClickHouseWriter`, timed until the sink reports everything written.
//! - **Neo4j**: N `entities` rows (nodes) and then M `entity_cooccurrence`
//!   pairs among them (relationships) through a `SinkRunner` and the
//!   `Neo4jWriter` into an emptied graph, timed until written.
//!
//! Each run writes into an emptied store and checks its row, node or edge
//! count afterwards, so a figure never counts rows that did not land. The
//! rows are synthetic (ids `conv-i`, `ent-i`; pairs spread evenly over the
//! entities): the generator's 1M events have only ~16K conversations.
//!
//! Needs the servers: `scripts/services/clickhouse.sh start`,
//! `scripts/services/neo4j.sh start`. Run:
//! `cargo run --release -p helixflow-benches --bin sink-bench`

use anyhow::{bail, Context};
use clap::Parser;
use helixflow_operators::changes::ViewChanges;
use helixflow_operators::conversation_snapshots::ConversationRow;
use helixflow_operators::facts::EntityFact;
use helixflow_operators::intern::{Id, Interner};
use helixflow_operators::rows::{ViewItem, ViewName, ViewPart};
use helixflow_operators::Time;
use helixflow_sinks::clickhouse::rows::TableRow;
use helixflow_sinks::clickhouse::{client, rows, ClickHouseWriter};
use helixflow_sinks::neo4j::Neo4jWriter;
use helixflow_sinks::pending::IdNames;
use helixflow_sinks::queue::{change_queue, SinkMessage};
use helixflow_sinks::runner::{SinkRunner, SinkStatus, SinkWriter};
use helixflow_types::topology::{ClickHouseSinkConfig, Neo4jSinkConfig, SinkBatching};
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    about = "ClickHouse sink vs raw clickhouse-crate inserts, and Neo4j nodes/s and relationships/s"
)]
struct Args {
    /// ClickHouse HTTP address.
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    clickhouse_url: String,
    /// Neo4j Bolt address.
    #[arg(long, env = "NEO4J_URI", default_value = "bolt://127.0.0.1:7687")]
    neo4j_uri: String,
    /// Rows for the ClickHouse comparison.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u32,
    /// Entity nodes for Neo4j.
    #[arg(long, default_value_t = 200_000)]
    nodes: u32,
    /// Co-occurrence relationships for Neo4j.
    #[arg(long, default_value_t = 500_000)]
    rels: u32,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Rows per write, for the sink and for raw inserts alike.
    #[arg(long, default_value_t = 50_000)]
    batch_rows: usize,
    /// Rows per change message fed to the sink (one worker's epoch).
    #[arg(long, default_value_t = 10_000)]
    message_rows: usize,
    /// Skip the Neo4j part.
    #[arg(long)]
    no_neo4j: bool,
    /// Write the figures as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

const DATABASE: &str = "helixflow_sink_bench";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ids = Arc::new(Interner::new());
    let names: Arc<dyn IdNames> = Arc::clone(&ids) as Arc<dyn IdNames>;
    let mut report = serde_json::Map::new();

    let conversations = conversation_rows(&ids, args.rows)?;
    let (mut raw, mut sink) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let r = clickhouse_raw(&args, &names, &conversations)?;
        let s = clickhouse_sink(&args, &names, &conversations)?;
        println!(
            "clickhouse run {run}: raw {:.0} rows/s ({:.2} s), sink {:.0} rows/s ({:.2} s)",
            rate(args.rows, r),
            r,
            rate(args.rows, s),
            s
        );
        raw.push(r);
        sink.push(s);
    }
    let (raw_s, sink_s) = (median(&mut raw), median(&mut sink));
    println!(
        "clickhouse, {} rows, median of {}: raw {:.0} rows/s, sink {:.0} rows/s = {:.0}% of raw",
        args.rows,
        args.runs,
        rate(args.rows, raw_s),
        rate(args.rows, sink_s),
        100.0 * raw_s / sink_s
    );
    report.insert(
        "clickhouse".into(),
        json!({"rows": args.rows, "raw_s": raw, "sink_s": sink,
               "raw_rows_per_s": rate(args.rows, raw_s), "sink_rows_per_s": rate(args.rows, sink_s),
               "sink_share_of_raw": raw_s / sink_s}),
    );

    if !args.no_neo4j {
        let entities = entity_rows(&ids, args.nodes)?;
        let pairs = pair_rows(&ids, args.nodes, args.rels)?;
        let (mut nodes_s, mut rels_s) = (Vec::new(), Vec::new());
        for run in 1..=args.runs {
            let (n, r) = neo4j_run(&args, &names, &entities, &pairs)?;
            println!(
                "neo4j run {run}: {:.0} nodes/s ({n:.2} s), {:.0} relationships/s ({r:.2} s)",
                rate(args.nodes, n),
                rate(args.rels, r)
            );
            nodes_s.push(n);
            rels_s.push(r);
        }
        let (n, r) = (median(&mut nodes_s), median(&mut rels_s));
        println!(
            "neo4j, {} nodes and {} relationships, median of {}: {:.0} nodes/s, {:.0} relationships/s",
            args.nodes,
            args.rels,
            args.runs,
            rate(args.nodes, n),
            rate(args.rels, r)
        );
        report.insert(
            "neo4j".into(),
            json!({"nodes": args.nodes, "relationships": args.rels, "nodes_s": nodes_s,
                   "relationships_s": rels_s, "nodes_per_s": rate(args.nodes, n),
                   "relationships_per_s": rate(args.rels, r)}),
        );
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn rate(rows: u32, secs: f64) -> f64 {
    f64::from(rows) / secs
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn batching(args: &Args) -> SinkBatching {
    SinkBatching {
        batch_rows: args.batch_rows,
        flush_interval: Duration::from_millis(200),
        max_pending_rows: 4 * args.batch_rows,
        ..SinkBatching::default()
    }
}

fn clickhouse_config(args: &Args) -> anyhow::Result<ClickHouseSinkConfig> {
    let mut config: ClickHouseSinkConfig = serde_json::from_value(json!({
        "name": "bench", "url": args.clickhouse_url, "database": DATABASE,
        "views": ["conversation_snapshots"], "raw_events": [],
    }))?;
    config.batching = batching(args);
    Ok(config)
}

/// Synthetic `conversation_snapshots` rows, one message of `message_rows` each.
fn conversation_rows(ids: &Interner, n: u32) -> anyhow::Result<Vec<(Id, ConversationRow)>> {
    let providers = ["openai", "anthropic", "deepseek", "mistral"]
        .iter()
        .map(|p| ids.intern(p))
        .collect::<Result<Vec<_>, _>>()?;
    (0..n)
        .map(|i| {
            let messages = u64::from(i % 40) + 1;
            Ok((
                ids.intern(&format!("conv-{i}"))?,
                ConversationRow {
                    user: ids.intern(&format!("user-{}", i % 5_000))?,
                    session: ids.intern(&format!("sess-{i}"))?,
                    message_count: messages,
                    user_messages: messages / 2,
                    assistant_messages: messages - messages / 2,
                    total_tokens: messages * 150,
                    first_ts: 1_769_731_200_000 + i64::from(i),
                    last_ts: 1_769_731_200_000 + i64::from(i) + 60_000,
                    last_seq: messages - 1,
                    providers: providers[..(i % 4) as usize + 1].to_vec(),
                    entity_count: u64::from(i % 7),
                },
            ))
        })
        .collect()
}

fn entity_rows(ids: &Interner, n: u32) -> anyhow::Result<Vec<(Id, EntityFact)>> {
    let kinds = ["person", "project", "place", "tool"];
    (0..n)
        .map(|i| {
            let id = ids.intern(&format!("ent-{i}"))?;
            Ok((
                id,
                EntityFact {
                    ts: 1_769_731_200_000 + i64::from(i),
                    event_id: format!("ent-evt-{i}"),
                    entity: id,
                    name: format!("entity {i}"),
                    kind: kinds[(i % 4) as usize].to_owned(),
                    properties: Some(format!("{{\"score\":{}}}", i % 100)),
                    conversation: None,
                },
            ))
        })
        .collect()
}

/// `rels` distinct pairs among `nodes` entities: entity i with i+1, i+2, ...
fn pair_rows(ids: &Interner, nodes: u32, rels: u32) -> anyhow::Result<Vec<((Id, Id), isize)>> {
    let per_node = rels.div_ceil(nodes).max(1);
    if per_node >= nodes {
        bail!("{rels} relationships need more than {nodes} nodes");
    }
    let id = |i: u32| ids.lookup(&format!("ent-{}", i % nodes)).context("entity");
    let mut pairs = Vec::with_capacity(rels as usize);
    'outer: for step in 1..=per_node {
        for i in 0..nodes {
            if pairs.len() == rels as usize {
                break 'outer;
            }
            pairs.push(((id(i)?, id(i + step)?), (i % 9 + 1) as isize));
        }
    }
    Ok(pairs)
}

/// Change messages of `message_rows` rows each, the last one closing the input.
fn messages<T: Clone>(
    rows: &[T],
    chunk: usize,
    view: ViewName,
    part: fn(Vec<T>) -> ViewPart,
    empty: fn() -> ViewPart,
) -> Vec<ViewChanges> {
    let chunks: Vec<&[T]> = rows.chunks(chunk).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| ViewChanges {
            view,
            worker: 0,
            upper: if i + 1 == chunks.len() {
                Time::MAX
            } else {
                i as Time + 1
            },
            upserts: part(c.to_vec()),
            deletes: empty(),
        })
        .collect()
}

/// Feeds `msgs` through a queue into a runner over `writer`; seconds until
/// the runner reports everything written.
fn through_sink(
    args: &Args,
    view: ViewName,
    msgs: Vec<ViewChanges>,
    writer: impl SinkWriter,
) -> anyhow::Result<f64> {
    let batching = batching(args);
    let (tx, rx) = change_queue(batching.max_pending_rows as u64);
    let status = Arc::new(SinkStatus::new("bench", "bench"));
    let stop = Arc::new(AtomicBool::new(false));
    let runner = SinkRunner {
        batching,
        views: vec![view],
        raw: false,
        workers: 1,
        changes: rx,
        status: Arc::clone(&status),
        stop: Arc::clone(&stop),
        stop_grace: Duration::from_secs(10),
    };
    let thread = std::thread::spawn(move || runner.run(writer));
    // Schema first (untimed): wait for the runner's first written frontier.
    let started = Instant::now();
    for m in msgs {
        tx.send(SinkMessage::Changes(m), || false);
    }
    while status.written_frontier() != Time::MAX {
        if let Some(p) = status.problem() {
            if started.elapsed() > Duration::from_secs(5) && status.failures() > 3 {
                bail!("the sink cannot write: {p}");
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("the runner panicked"))?;
    Ok(secs)
}

fn clickhouse_reset(
    config: &ClickHouseSinkConfig,
    names: &Arc<dyn IdNames>,
) -> anyhow::Result<ClickHouseWriter> {
    let admin = client(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(
        admin
            .query(&format!("DROP DATABASE IF EXISTS {DATABASE}"))
            .execute(),
    )?;
    // Let the server finish dropping the last run's parts before the clock starts.
    std::thread::sleep(Duration::from_secs(1));
    let mut writer = ClickHouseWriter::new(
        config,
        vec![ViewName::ConversationSnapshots],
        Arc::clone(names),
    )?;
    writer.prepare()?;
    Ok(writer)
}

fn clickhouse_count(config: &ClickHouseSinkConfig) -> anyhow::Result<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Uncompressed: 18.16 answers compressed selects in a way the crate reads as empty.
    let n = runtime.block_on(
        client(config)?
            .with_compression(clickhouse::Compression::None)
            .query(&format!(
                "SELECT count() FROM (SELECT * FROM {DATABASE}.conversation_snapshots FINAL) WHERE _deleted = 0"
            ))
            .fetch_one::<u64>(),
    )?;
    Ok(n)
}

fn clickhouse_raw(
    args: &Args,
    names: &Arc<dyn IdNames>,
    conversations: &[(Id, ConversationRow)],
) -> anyhow::Result<f64> {
    let config = clickhouse_config(args)?;
    clickhouse_reset(&config, names)?;
    // Typed rows ready before the clock starts: the crate's own rate.
    let typed: Vec<rows::ConversationRow> = conversations
        .iter()
        .filter_map(|(id, row)| {
            let item = ViewItem::Conversation(*id, row.clone());
            rows::ConversationRow::from_item(&item, &**names, 1, false)
        })
        .collect();
    let ch = client(&config)?.with_database(DATABASE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime.block_on(async {
        for chunk in typed.chunks(args.batch_rows) {
            let mut insert = ch
                .insert::<rows::ConversationRow>("conversation_snapshots")
                .await?;
            for r in chunk {
                insert.write(r).await?;
            }
            insert.end().await?;
        }
        anyhow::Ok(())
    })?;
    let secs = started.elapsed().as_secs_f64();
    check_count("clickhouse raw", clickhouse_count(&config)?, args.rows)?;
    Ok(secs)
}

fn clickhouse_sink(
    args: &Args,
    names: &Arc<dyn IdNames>,
    conversations: &[(Id, ConversationRow)],
) -> anyhow::Result<f64> {
    let config = clickhouse_config(args)?;
    let writer = clickhouse_reset(&config, names)?;
    let msgs = messages(
        conversations,
        args.message_rows,
        ViewName::ConversationSnapshots,
        ViewPart::Conversations,
        || ViewPart::Conversations(Vec::new()),
    );
    let secs = through_sink(args, ViewName::ConversationSnapshots, msgs, writer)?;
    check_count("clickhouse sink", clickhouse_count(&config)?, args.rows)?;
    Ok(secs)
}

fn check_count(what: &str, got: u64, want: u32) -> anyhow::Result<()> {
    if got != u64::from(want) {
        bail!("{what}: {got} rows in the store, {want} written");
    }
    Ok(())
}

fn neo4j_config(args: &Args) -> anyhow::Result<Neo4jSinkConfig> {
    let mut config: Neo4jSinkConfig =
        serde_json::from_value(json!({"name": "bench", "uri": args.neo4j_uri}))?;
    config.batching = batching(args);
    Ok(config)
}

/// Runs a Cypher statement and returns its first row's `n`, if any.
fn cypher(args: &Args, statement: &str) -> anyhow::Result<Option<i64>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let graph =
            neo4rs::Graph::new(args.neo4j_uri.trim_start_matches("bolt://"), "neo4j", "").await?;
        let mut rows = graph.execute(neo4rs::query(statement)).await?;
        let first = rows.next().await?;
        anyhow::Ok(first.and_then(|r| r.get::<i64>("n").ok()))
    })
}

fn neo4j_run(
    args: &Args,
    names: &Arc<dyn IdNames>,
    entities: &[(Id, EntityFact)],
    pairs: &[((Id, Id), isize)],
) -> anyhow::Result<(f64, f64)> {
    cypher(
        args,
        "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
    )?;
    let config = neo4j_config(args)?;
    let msgs = messages(
        entities,
        args.message_rows,
        ViewName::Entities,
        ViewPart::Entities,
        || ViewPart::Entities(Vec::new()),
    );
    let nodes = through_sink(
        args,
        ViewName::Entities,
        msgs,
        Neo4jWriter::new(&config, Arc::clone(names))?,
    )?;
    let got = cypher(args, "MATCH (e:Entity) RETURN count(e) AS n")?.unwrap_or(0);
    check_count("neo4j nodes", got as u64, args.nodes)?;
    let msgs = messages(
        pairs,
        args.message_rows,
        ViewName::EntityCooccurrence,
        ViewPart::Cooccurrence,
        || ViewPart::Cooccurrence(Vec::new()),
    );
    let rels = through_sink(
        args,
        ViewName::EntityCooccurrence,
        msgs,
        Neo4jWriter::new(&config, Arc::clone(names))?,
    )?;
    let got = cypher(args, "MATCH ()-[r:CO_OCCURS]->() RETURN count(r) AS n")?.unwrap_or(0);
    check_count("neo4j relationships", got as u64, args.rels)?;
    Ok((nodes, rels))
}
