//! Command-line interface: argument parsing and dispatch only.

use anyhow::Context;
use clap::{Parser, Subcommand};
use helixflow_engine::generate::generate;
use helixflow_engine::produce::{produce, summary_line, ProduceInput};
use helixflow_engine::replay::{replay, ReplayInput, ReplaySpec};
use helixflow_engine::traffic_args::TrafficArgs;
use helixflow_operators::rows::ViewName;
use helixflow_operators::views::ViewSet;
use helixflow_sources::generator::GeneratorSettings;
use helixflow_sources::kafka::produce::{Compression, ProduceSettings};
use helixflow_types::timestamp::Day;
use helixflow_types::topology::LakeSourceConfig;
use helixflow_types::topology::{
    Cluster, ClusterArgs, ClusterConfig, KafkaTopics, SourceConfig, Topology, PROCESS_ENV,
};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Helixflow: live, queryable, incrementally maintained views over
/// AI-agent event streams (timely/differential dataflow).
#[derive(Parser)]
#[command(
    name = "helixflow",
    version,
    about = "Helixflow: live, queryable, incrementally maintained views over AI-agent event streams (timely/differential dataflow).",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a topology: sources → views → sinks and the REST API, until Ctrl-C.
    Run {
        /// The topology file (e.g. topologies/demo.toml).
        topology: PathBuf,
        /// Override the API address (`api.bind`), e.g. 127.0.0.1:9000.
        #[arg(long)]
        api: Option<String>,
        /// Override the number of worker threads.
        #[arg(short = 'w', long)]
        workers: Option<usize>,
        /// Stop once every source has finished and the views reflect it.
        #[arg(long)]
        exit_when_done: bool,
        #[command(flatten)]
        cluster: ClusterFlags,
    },
    /// Compute every view over JSONL event files (or a lake's committed
    /// events, with --lake) and write DIR/{view}.jsonl.
    Replay {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Worker threads.
        #[arg(short = 'w', long, default_value_t = 2)]
        workers: usize,
        /// Lines per logical epoch: bounds how much join output is buffered
        /// before it is consolidated (measured in docs/benchmarks.md).
        #[arg(long, default_value_t = 1_000_000)]
        epoch_lines: u64,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        /// Also write the run's figures (time, events/s, CPU seconds, peak
        /// RSS) as JSON here; in a cluster, process I > 0 writes its own to
        /// FILE.pI.
        #[arg(long)]
        stats: Option<PathBuf>,
        /// Do not keep the context state (message texts, messages arranged by
        /// conversation): the view files are the same, the memory less.
        #[arg(long)]
        no_context: bool,
        /// Compute and write only these views (comma-separated; default: all).
        #[arg(long, value_delimiter = ',', value_name = "VIEW,...")]
        views: Vec<String>,
        /// Read a lake instead of files: a directory or s3://BUCKET/PREFIX
        /// (S3 settings from AWS_ENDPOINT, AWS_ACCESS_KEY_ID, ...).
        #[arg(long, value_name = "DIR_OR_URL", conflicts_with = "files")]
        lake: Option<String>,
        /// With --lake: the first day read (YYYY-MM-DD, UTC).
        #[arg(long, requires = "lake", value_name = "DAY")]
        from: Option<String>,
        /// With --lake: the last day read (YYYY-MM-DD, UTC).
        #[arg(long, requires = "lake", value_name = "DAY")]
        to: Option<String>,
        /// JSONL files (`-` for standard input).
        #[arg(required_unless_present = "lake")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        cluster: ClusterFlags,
    },
    /// Check a topology file and print what it would run.
    Validate {
        /// The topology file.
        topology: PathBuf,
    },
    /// Write generated HelixAgent traffic as JSONL.
    Generate {
        /// Number of events (lines).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Fraction of lines that repeat an earlier event.
        #[arg(long, default_value_t = 0.01)]
        duplicate_ratio: f64,
        /// Fraction of malformed lines.
        #[arg(long, default_value_t = 0.001)]
        malformed_ratio: f64,
        #[command(flatten)]
        traffic: TrafficArgs,
        /// Output file (`-` for standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// Send events to the contract's Kafka topics (keyed by the contract's
    /// key, idempotent producer): a JSONL file, or generated traffic.
    Produce {
        /// Kafka brokers.
        #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
        brokers: String,
        /// Use the topic names of this topology's Kafka source (default: the contract's).
        #[arg(long)]
        topology: Option<PathBuf>,
        /// JSONL file to send (`-` for standard input); without it, generated traffic.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Generated events to send (without --input).
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Fraction of generated events re-sent as duplicates.
        #[arg(long, default_value_t = 0.01)]
        duplicate_ratio: f64,
        /// Fraction of generated lines that are malformed.
        #[arg(long, default_value_t = 0.001)]
        malformed_ratio: f64,
        #[command(flatten)]
        traffic: TrafficArgs,
        /// Messages per second (0: as fast as the broker takes them).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Batch compression.
        #[arg(long, value_enum, default_value_t = CompressionArg::Lz4)]
        compression: CompressionArg,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        /// Also write the figures as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// The cluster flags of `run` and `replay` (timely's conventions).
#[derive(clap::Args, Clone, Debug, Default)]
struct ClusterFlags {
    /// Processes in the cluster (with --hostfile: its first N lines; without:
    /// localhost:2101, localhost:2102, ...).
    #[arg(long, value_name = "N")]
    processes: Option<usize>,
    /// This process's index in the cluster, from 0 (or HELIXFLOW_PROCESS).
    #[arg(long, value_name = "I")]
    process: Option<usize>,
    /// The cluster's addresses, one host:port per line, process 0 first.
    #[arg(long, value_name = "FILE")]
    hostfile: Option<PathBuf>,
}

impl ClusterFlags {
    /// The cluster these flags, a topology's `[cluster]` table and
    /// HELIXFLOW_PROCESS describe (`None`: one process).
    fn resolve(&self, table: Option<&ClusterConfig>) -> anyhow::Result<Option<Cluster>> {
        let args = ClusterArgs {
            processes: self.processes,
            process: self.process,
            hostfile: self.hostfile.clone(),
        };
        let env = std::env::var(PROCESS_ENV).ok();
        Ok(args.resolve(table, env.as_deref())?)
    }
}

/// `--compression` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CompressionArg {
    None,
    Lz4,
    Zstd,
}

/// Entry point.
pub fn main() -> ExitCode {
    helixflow_engine::huge_pages::disable_unless_asked();
    let cli = Cli::parse();
    helixflow_engine::logging::init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            topology,
            api,
            workers,
            exit_when_done,
            cluster,
        } => {
            let mut t = Topology::load(&topology)?;
            let cluster = cluster
                .resolve(t.cluster.as_ref())
                .with_context(|| format!("{}: [cluster]", topology.display()))?;
            if let Some(api) = api {
                t.api.bind = api;
                t.api.enabled = true;
                if t.api.bind_addr().is_none() {
                    anyhow::bail!("--api {}: not an address (use IP:PORT)", t.api.bind);
                }
            }
            if let Some(w) = workers {
                anyhow::ensure!(w > 0, "-w must be at least 1");
                t.engine.workers = w;
            }
            helixflow_engine::run::run(t, exit_when_done, cluster)
        }
        Command::Replay {
            out,
            workers,
            epoch_lines,
            quiet,
            stats,
            no_context,
            views,
            lake,
            from,
            to,
            files,
            cluster,
        } => {
            let cluster = cluster.resolve(None)?;
            anyhow::ensure!(workers > 0, "-w must be at least 1");
            for (flag, day) in [("--from", &from), ("--to", &to)] {
                if let Some(d) = day.as_deref().filter(|d| Day::parse(d).is_none()) {
                    anyhow::bail!("{flag}: {d:?} is not a day (use YYYY-MM-DD)");
                }
            }
            let unit = if lake.is_some() {
                "lake events"
            } else {
                "lines"
            };
            let input = match lake {
                Some(location) => ReplayInput::Lake(LakeSourceConfig {
                    name: "replay".into(),
                    location,
                    from,
                    to,
                    s3: Default::default(),
                    restore: false,
                }),
                None => ReplayInput::Files(files),
            };
            let all: Vec<&str> = ViewName::ALL.iter().map(|v| v.as_str()).collect();
            if let Some(bad) = views.iter().find(|v| !all.contains(&v.as_str())) {
                anyhow::bail!("--views: no view {bad:?}; views: {}", all.join(", "));
            }
            let views = if views.is_empty() {
                ViewSet::all()
            } else {
                ViewSet::from_names(views.iter().map(String::as_str), true)
            };
            let summary = replay(ReplaySpec {
                input,
                out: out.clone(),
                workers,
                epoch_lines: epoch_lines.max(1),
                progress: !quiet && std::io::stderr().is_terminal(),
                views: if no_context {
                    views.without_context()
                } else {
                    views
                },
                cluster: cluster.clone(),
                timeouts: Default::default(),
            })?;
            if let Some(path) = stats {
                // In a cluster each process writes its own figures: process
                // 0 (whose counts are the cluster's) FILE, process I FILE.pI.
                let path = match cluster.as_ref().filter(|c| c.process > 0) {
                    Some(c) => PathBuf::from(format!("{}.p{}", path.display(), c.process)),
                    None => path,
                };
                std::fs::write(&path, summary.to_json().to_string())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if !summary.wrote_files {
                eprintln!(
                    "process {} read {} {unit} in {:.2}s: {} valid, {} rejected; process 0 wrote the views to {}",
                    cluster.as_ref().map_or(0, |c| c.process),
                    summary.lines,
                    summary.seconds,
                    summary.valid,
                    summary.rejected,
                    out.display()
                );
                return Ok(());
            }
            eprintln!(
                "replayed {} {unit} in {:.2}s ({:.0} {unit}/s; views complete after {:.2}s, files written in {:.2}s): {} valid, {} rejected, {} duplicates; views in {}",
                summary.lines,
                summary.seconds,
                summary.lines as f64 / summary.seconds.max(1e-9),
                summary.compute_seconds,
                summary.seconds - summary.compute_seconds,
                summary.valid,
                summary.rejected,
                summary.duplicates,
                out.display()
            );
            Ok(())
        }
        Command::Validate { topology } => {
            let t = Topology::load(&topology)?;
            println!(
                "{}: ok (topology `{}`: {} source(s), views {}, {} sink(s), api {})",
                topology.display(),
                t.name,
                t.sources.len(),
                t.views.names().join(","),
                t.sinks.len(),
                if t.api.enabled {
                    t.api.bind.as_str()
                } else {
                    "off"
                }
            );
            Ok(())
        }
        Command::Generate {
            events,
            seed,
            duplicate_ratio,
            malformed_ratio,
            traffic,
            out,
        } => {
            let settings = GeneratorSettings {
                seed,
                events: Some(events),
                rate: 0,
                duplicate_ratio,
                malformed_ratio,
                scale: events,
                shape: traffic.shape(),
            };
            let progress = out.as_os_str() != "-" && std::io::stderr().is_terminal();
            if out.as_os_str() == "-" {
                generate(settings, &mut std::io::stdout().lock(), false)?;
            } else {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(&out)
                        .with_context(|| format!("creating {}", out.display()))?,
                );
                generate(settings, &mut f, progress)?;
            }
            Ok(())
        }
        Command::Produce {
            brokers,
            topology,
            input,
            events,
            seed,
            duplicate_ratio,
            malformed_ratio,
            traffic,
            rate,
            compression,
            quiet,
            report,
        } => {
            let topics = match topology {
                Some(path) => kafka_topics(&Topology::load(&path)?)
                    .with_context(|| format!("{}: no Kafka source", path.display()))?,
                None => KafkaTopics::default(),
            };
            let settings = ProduceSettings {
                brokers: brokers.clone(),
                topics,
                rate,
                compression: match compression {
                    CompressionArg::None => Compression::None,
                    CompressionArg::Lz4 => Compression::Lz4,
                    CompressionArg::Zstd => Compression::Zstd,
                },
            };
            let input = match input {
                Some(path) => ProduceInput::File(path),
                None => ProduceInput::Generated(GeneratorSettings {
                    seed,
                    events: Some(events),
                    rate: 0,
                    duplicate_ratio,
                    malformed_ratio,
                    scale: events,
                    shape: traffic.shape(),
                }),
            };
            let figures = produce(&settings, input, !quiet && std::io::stderr().is_terminal())?;
            eprintln!("{}", summary_line(&figures, &brokers));
            if let Some(path) = report {
                let json = serde_json::to_string(&figures)?;
                std::fs::write(&path, json)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
    }
}

/// The topics of a topology's first Kafka source.
fn kafka_topics(t: &Topology) -> Option<KafkaTopics> {
    t.sources.iter().find_map(|s| match s {
        SourceConfig::Kafka(k) => Some(k.topics.clone()),
        _ => None,
    })
}
