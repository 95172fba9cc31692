//! `helixflow produce`: sends a JSONL file (or generated traffic) to the
//! contract's Kafka topics, with a progress bar and a final line giving
//! messages/s and delivery latency p50/p99.

use anyhow::Context;
use helixflow_sources::generator::{Generator, GeneratorSettings};
use helixflow_sources::kafka::produce::{EventProducer, ProduceReport, ProduceSettings};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

/// What to send.
pub enum ProduceInput {
    /// A JSONL file, one event per line (`-`: standard input).
    File(PathBuf),
    /// The generator's traffic.
    Generated(GeneratorSettings),
}

/// How long the end of a run waits for the last acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends `input` and reports; fails if a message could not be delivered.
pub fn produce(
    settings: &ProduceSettings,
    input: ProduceInput,
    progress: bool,
) -> anyhow::Result<ProduceReport> {
    let mut producer = EventProducer::new(settings)
        .with_context(|| format!("connecting a producer to {}", settings.brokers))?;
    let total = match &input {
        ProduceInput::Generated(g) => g.events.unwrap_or(0),
        ProduceInput::File(_) => 0,
    };
    let bar = if progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} sent [{elapsed_precise}] {per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let tick = |producer: &EventProducer| {
        if producer.sent().is_multiple_of(4096) {
            bar.set_position(producer.sent());
            bar.set_message(format!("{} acknowledged", producer.delivered()));
        }
    };
    match input {
        ProduceInput::Generated(g) => {
            let mut generator = Generator::new(g);
            let mut line = String::new();
            while !generator.done() {
                line.clear();
                generator.next_line(&mut line);
                producer.send(line.trim_end_matches('\n').as_bytes())?;
                tick(&producer);
            }
        }
        ProduceInput::File(path) => {
            let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::with_capacity(
                    1 << 20,
                    std::fs::File::open(&path)
                        .with_context(|| format!("opening {}", path.display()))?,
                ))
            };
            let mut reader = reader;
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                producer.send(&line)?;
                tick(&producer);
            }
        }
    }
    bar.set_position(producer.sent());
    let report = producer
        .finish(FLUSH_TIMEOUT)
        .context("waiting for the broker to acknowledge every message")?;
    bar.finish_and_clear();
    anyhow::ensure!(
        report.failed == 0,
        "{} of {} messages were not delivered",
        report.failed,
        report.sent
    );
    Ok(report)
}

/// The final line: counts, rate and delivery latency.
pub fn summary_line(report: &ProduceReport, brokers: &str) -> String {
    let mut line = format!(
        "produced {} messages to {brokers} in {:.2}s ({:.0} messages/s); delivery latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report.delivered,
        report.seconds,
        report.delivered as f64 / report.seconds.max(1e-9),
        report.latency_ms_p50,
        report.latency_ms_p99,
        report.latency_ms_max
    );
    if report.untyped > 0 {
        line.push_str(&format!(
            "; {} lines without a known type went, unkeyed, to the conversations topic",
            report.untyped
        ));
    }
    line
}
