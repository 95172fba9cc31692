//! `helixflow replay`: computes every view over JSONL files (or a lake's
//! committed events) with the same dataflow as the streaming engine,
//! writes `DIR/{view}.jsonl` and `DIR/rejected.json`, and reports rejected
//! lines on stderr.
//!
//! As a cluster, every process reads its share of the input; once the views
//! reflect all of it, process 0 reads every view and the counters from the
//! whole cluster, writes the files, and tells the others to stop.

use crate::cluster::{self, Timeouts};
use crate::engine::{Engine, EngineSpec};
use crate::rejects::RejectLog;
use crate::shared::Shared;
use anyhow::{bail, Context};
use helixflow_operators::query::{Question, Reply};
use helixflow_operators::rows::ViewName;
use helixflow_operators::views::ViewSet;
use helixflow_sinks::files::{write_file_atomic, write_view_file};
use helixflow_sources::feed::EpochPolicy;
use helixflow_types::topology::{Cluster, FileSourceConfig, LakeSourceConfig, SourceConfig};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a replay reads.
pub enum ReplayInput {
    /// JSONL files (`-` = standard input).
    Files(Vec<PathBuf>),
    /// A lake's committed events.
    Lake(LakeSourceConfig),
}

/// Settings of one replay.
pub struct ReplaySpec {
    /// The input.
    pub input: ReplayInput,
    /// Output directory.
    pub out: PathBuf,
    /// Worker threads.
    pub workers: usize,
    /// Lines per epoch.
    pub epoch_lines: u64,
    /// Show a progress bar.
    pub progress: bool,
    /// The views to compute and write, and whether to keep the context
    /// state (message texts, messages by conversation) as `run` does by
    /// default; replay's files do not need it.
    pub views: ViewSet,
    /// The processes of a cluster replay (`None`: this one alone).
    pub cluster: Option<Cluster>,
    /// The cluster's connection timeouts.
    pub timeouts: Timeouts,
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct ReplaySummary {
    /// False on a cluster's other processes: process 0 wrote the files,
    /// and the figures are this process's alone.
    pub wrote_files: bool,
    pub lines: u64,
    pub valid: u64,
    pub rejected: u64,
    pub duplicates: u64,
    /// Wall time until every view reflected all input.
    pub compute_seconds: f64,
    /// Wall time of the whole replay, writing the files included.
    pub seconds: f64,
    /// Peak resident memory of the process, if the OS says (Linux).
    pub peak_rss_bytes: Option<u64>,
    /// CPU time of the process (user + system), if the OS says (Linux).
    pub cpu_seconds: Option<f64>,
    /// Message texts kept for context replay, and their bytes.
    pub context_texts: u64,
    pub context_text_bytes: u64,
}

impl ReplaySummary {
    /// The summary of a replay whose `counters` are these, started at
    /// `started`, its views complete after `compute_seconds`.
    fn of(
        counters: &BTreeMap<String, u64>,
        wrote_files: bool,
        started: Instant,
        compute_seconds: f64,
    ) -> Self {
        let count = |name: &str| counters.get(name).copied().unwrap_or(0);
        ReplaySummary {
            wrote_files,
            lines: count("lines"),
            valid: count("valid"),
            rejected: count("rejected"),
            duplicates: count("duplicates"),
            compute_seconds,
            seconds: started.elapsed().as_secs_f64(),
            peak_rss_bytes: peak_rss_bytes(),
            cpu_seconds: cpu_seconds(),
            context_texts: count("context_texts"),
            context_text_bytes: count("context_text_bytes"),
        }
    }

    /// As JSON (what `replay --stats FILE` writes).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "lines": self.lines,
            "valid": self.valid,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "compute_seconds": self.compute_seconds,
            "seconds": self.seconds,
            "lines_per_second": self.lines as f64 / self.seconds.max(1e-9),
            "peak_rss_bytes": self.peak_rss_bytes,
            "cpu_seconds": self.cpu_seconds,
            "context_texts": self.context_texts,
            "context_text_bytes": self.context_text_bytes,
        })
    }
}

/// Peak resident set size of this process (`VmHWM`), on Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time this process has used (user + system), from `/proc/self/stat`
/// (in clock ticks of 1/100 s, Linux's fixed `USER_HZ`).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 of `rest`.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Runs a replay to completion.
pub fn replay(spec: ReplaySpec) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let (source, template, total) = match spec.input {
        ReplayInput::Files(files) => {
            for f in &files {
                if f.as_os_str() != "-" && !f.is_file() {
                    bail!("{}: no such file", f.display());
                }
            }
            let total_bytes: u64 = files
                .iter()
                .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                .sum();
            let source = SourceConfig::File(FileSourceConfig {
                name: "replay".into(),
                paths: files,
                follow: false,
            });
            let template = "{spinner} replay [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}";
            (source, template, total_bytes)
        }
        ReplayInput::Lake(lake) => {
            let template = "{spinner} replay --lake [{elapsed_precise}] {bar:40} {pos}/{len} events {per_sec} {msg}";
            (SourceConfig::Lake(Box::new(lake)), template, 0)
        }
    };
    let bar = if spec.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let echo_bar = bar.clone();
    let rejects = RejectLog::with_echo(move |line| echo_bar.suspend(|| eprintln!("{line}")));
    let mut engine = Engine::start(EngineSpec {
        workers: spec.workers,
        views: spec.views,
        sources: vec![source],
        epochs: EpochPolicy::Lines(spec.epoch_lines),
        rejects,
        feed_capacity: 4 * spec.workers.max(1),
        sinks: Vec::new(),
        cluster: spec.cluster.clone(),
        timeouts: spec.timeouts,
    })?;
    let leader = spec.cluster.as_ref().is_none_or(Cluster::is_leader);
    let shared = Arc::clone(&engine.shared);
    loop {
        let (_, closed) = shared.complete();
        match engine.lakes.first() {
            Some(lake) => {
                bar.set_length(lake.events_total.load(Ordering::Relaxed));
                bar.set_position(lake.events_read.load(Ordering::Relaxed));
            }
            None => bar.set_position(engine.file_progress.bytes.load(Ordering::Relaxed)),
        }
        bar.set_message(format!("{} events", shared.valid.load(Ordering::Relaxed)));
        if closed {
            break;
        }
        if let Some(err) = engine.source_error() {
            bar.finish_and_clear();
            let _ = engine.shutdown();
            bail!("reading input failed: {err}");
        }
        if let Some(lost) = cluster::lost_peer() {
            bar.finish_and_clear();
            cluster::exit_peer_lost(lost);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bar.finish_and_clear();
    let compute_seconds = started.elapsed().as_secs_f64();
    if !leader {
        return follow_the_leader(engine, started, compute_seconds);
    }
    // Read every view at the final time (from every process), stop the
    // dataflow (freeing its state), then render and write the views in
    // parallel.
    let mut parts = Vec::new();
    for view in ViewName::ALL
        .into_iter()
        .filter(|v| spec.views.contains(*v))
    {
        let snapshot = shared
            .snapshot(view, Duration::from_secs(600))
            .with_context(|| format!("reading view {view}"))?;
        parts.push((view, snapshot.part));
    }
    let counters = counters(&shared)?;
    let count = |name: &str| counters.get(name).copied().unwrap_or(0);
    let by_reason: BTreeMap<&str, u64> = counters
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("rejected.")?, *v)))
        .collect();
    let report = serde_json::json!({
        "total": count("rejected"),
        "by_reason": by_reason,
        "duplicates": count("duplicates"),
        "conflicts": count("conflicts"),
    });
    if shared.is_cluster() {
        // Everything is read: the other processes may go.
        cluster::stopping();
        shared
            .hold()
            .ask(Question::Stop, Duration::from_secs(60))
            .context("stopping the cluster's other processes")?;
    }
    let ids = shared.ids.clone();
    drop(shared);
    engine.shutdown().map_err(anyhow::Error::msg)?;
    std::thread::scope(|scope| {
        let writers: Vec<_> = parts
            .into_iter()
            .map(|(view, part)| {
                let (out, ids) = (&spec.out, &ids);
                scope.spawn(move || {
                    write_view_file(out, view, part, ids)
                        .with_context(|| format!("writing {}/{view}.jsonl", out.display()))
                })
            })
            .collect();
        writers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a view writer panicked"))?
                .map(|_| ())
        })
    })?;
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    write_file_atomic(&spec.out, "rejected.json", text.as_bytes())
        .with_context(|| format!("writing {}/rejected.json", spec.out.display()))?;
    Ok(ReplaySummary::of(&counters, true, started, compute_seconds))
}

/// The engine's counters, summed over every process.
fn counters(shared: &Shared) -> anyhow::Result<BTreeMap<String, u64>> {
    match shared
        .hold()
        .ask(Question::Counters, Duration::from_secs(60))
        .context("reading the counters")?
    {
        Reply::Counters(c) => Ok(c),
        _ => bail!("the workers replied to the counters with something else"),
    }
}

/// A cluster's other process: once the views reflect all input, it serves
/// process 0's reads until told to stop (or a peer is lost).
fn follow_the_leader(
    engine: Engine,
    started: Instant,
    compute_seconds: f64,
) -> anyhow::Result<ReplaySummary> {
    let shared = Arc::clone(&engine.shared);
    while !shared.shutdown.load(Ordering::Relaxed) {
        if let Some(lost) = cluster::lost_peer() {
            cluster::exit_peer_lost(lost);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mine = shared.counters();
    drop(shared);
    cluster::stopping();
    engine.shutdown().map_err(anyhow::Error::msg)?;
    Ok(ReplaySummary::of(&mine, false, started, compute_seconds))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_seconds_grow_while_the_process_works() {
        let before = super::cpu_seconds().expect("Linux reports CPU time");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = super::cpu_seconds().expect("Linux reports CPU time");
        assert!(
            after >= before + 0.1,
            "{before} s, then {after} s after 0.3 s of work"
        );
    }
}
