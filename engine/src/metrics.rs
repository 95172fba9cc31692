//! The engine's counters and gauges, set through the `metrics` facade from
//! the engine's own state at each scrape of `GET /metrics` (the hot paths
//! keep their plain atomics): events, duplicates, rejections, sources, the
//! feed, Kafka offsets and lag, the sinks, and each component's state.
//! Names are stable: dashboards read them.

use crate::health::{sources_by_name, HealthInputs};
use crate::kafka_health::partition_lags;
use helixflow_operators::rows::ViewName;
use metrics::{counter, describe_counter, describe_gauge, gauge};
use std::sync::atomic::Ordering;
use std::sync::Once;

static DESCRIBED: Once = Once::new();

/// How long a scrape waits for a view's row count.
const VIEW_ROWS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The HELP lines, once per process.
fn describe() {
    DESCRIBED.call_once(|| {
        describe_counter!(
            "helixflow_valid_events_total",
            "Valid events decoded, duplicates included."
        );
        describe_counter!(
            "helixflow_duplicate_events_total",
            "Valid events dropped for a key already present."
        );
        describe_counter!(
            "helixflow_conflicting_events_total",
            "Dropped duplicates whose payload differed from the kept event."
        );
        describe_counter!(
            "helixflow_rejected_events_total",
            "Rejected inputs by source and reason."
        );
        describe_counter!(
            "helixflow_source_lines_total",
            "Raw lines each source has handed to the engine."
        );
        describe_gauge!(
            "helixflow_complete_epoch",
            "Latest epoch every view reflects."
        );
        describe_gauge!(
            "helixflow_feed_backlog_chunks",
            "Chunks waiting between sources and workers."
        );
        describe_gauge!(
            "helixflow_kafka_consumer_lag",
            "Messages in a partition that the views do not reflect yet (high watermark - visible offset)."
        );
        describe_gauge!(
            "kafka_consumer_lag_records",
            "The platform's name for helixflow_kafka_consumer_lag."
        );
        describe_gauge!(
            "helixflow_kafka_committed_offset",
            "Offset committed to the consumer group (only offsets the views reflect)."
        );
        describe_counter!(
            "helixflow_kafka_dead_lettered_total",
            "Rejected messages acknowledged by the dead-letter topic."
        );
        describe_counter!(
            "helixflow_kafka_consumer_reconnects_total",
            "Kafka consumers replaced because they had stopped fetching while messages waited."
        );
        describe_gauge!("helixflow_interned_ids", "Distinct identifiers interned.");
        describe_counter!(
            "helixflow_sink_rows_written_total",
            "Changed rows a database sink has written (a retried row counts again)."
        );
        describe_counter!(
            "helixflow_sink_failed_writes_total",
            "Writes a database sink has retried."
        );
        describe_gauge!(
            "helixflow_sink_rows_held",
            "Changed rows a database sink holds (backlog plus queue)."
        );
        describe_gauge!(
            "helixflow_sink_written_epoch",
            "Every change of an epoch up to this one is in the sink's store."
        );
        describe_gauge!(
            "helixflow_view_rows",
            "Rows of each view at the latest complete epoch (the whole cluster's)."
        );
        describe_gauge!(
            "helixflow_component_state",
            "Each component's state: 0 ok, 1 degraded, 2 down (as /v1/bigdata/health)."
        );
    });
}

/// Sets every counter and gauge from the engine's state now.
pub fn record(inputs: &HealthInputs) {
    describe();
    let s = inputs.shared;
    let (as_of, _) = s.complete();
    counter!("helixflow_valid_events_total").absolute(s.valid.load(Ordering::Relaxed));
    counter!("helixflow_duplicate_events_total").absolute(s.duplicates());
    counter!("helixflow_conflicting_events_total").absolute(s.conflicts());
    for (source, reasons) in s.rejects.by_source() {
        for (reason, n) in reasons {
            counter!("helixflow_rejected_events_total", "source" => source.clone(), "reason" => reason.to_string())
                .absolute(n);
        }
    }
    // One series per source, summed over a Kafka source's consumer threads.
    for (name, parts) in sources_by_name(s) {
        let lines = parts.iter().map(|p| p.events()).sum();
        counter!("helixflow_source_lines_total", "source" => name).absolute(lines);
    }
    gauge!("helixflow_complete_epoch").set(as_of as f64);
    gauge!("helixflow_feed_backlog_chunks").set(s.feed.backlog() as f64);
    gauge!("helixflow_interned_ids").set(s.ids.len() as f64);
    let positions = s.feed.positions_at(as_of);
    for k in inputs.kafka {
        for p in partition_lags(k, &positions) {
            let labels = [
                ("source", k.source.clone()),
                ("topic", p.topic.clone()),
                ("partition", p.partition.to_string()),
            ];
            let lag = p.lag.max(0) as f64;
            gauge!("helixflow_kafka_consumer_lag", &labels).set(lag);
            gauge!("kafka_consumer_lag_records", &labels).set(lag);
            gauge!("helixflow_kafka_committed_offset", &labels).set(p.committed.max(0) as f64);
        }
        counter!("helixflow_kafka_dead_lettered_total", "source" => k.source.clone())
            .absolute(k.dead_lettered());
        counter!("helixflow_kafka_consumer_reconnects_total", "source" => k.source.clone())
            .absolute(k.reconnects());
    }
    for sink in inputs.sinks {
        let labels = [("sink", sink.name.clone()), ("kind", sink.kind.to_owned())];
        counter!("helixflow_sink_rows_written_total", &labels).absolute(sink.rows_written());
        counter!("helixflow_sink_failed_writes_total", &labels).absolute(sink.failures());
        gauge!("helixflow_sink_rows_held", &labels).set((sink.pending() + sink.queued()) as f64);
        gauge!("helixflow_sink_written_epoch", &labels)
            .set(sink.written_frontier().saturating_sub(1) as f64);
    }
    for view in ViewName::ALL {
        // A view this topology does not compute has no series.
        if let Ok(rows) = s.rows(view, VIEW_ROWS_TIMEOUT) {
            gauge!("helixflow_view_rows", "view" => view.as_str()).set(rows as f64);
        }
    }
    for c in inputs.components() {
        gauge!("helixflow_component_state", "component" => c.component.as_str(), "name" => c.name)
            .set(f64::from(c.state.level()));
    }
}
