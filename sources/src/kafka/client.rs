//! librdkafka client settings for the source's consumers and its
//! dead-letter producer, and the client context that feeds the source's
//! status (statistics → high watermarks, client errors → broker state).

use super::status::KafkaStatus;
use helixflow_types::topology::KafkaSourceConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use std::sync::Arc;

/// How often librdkafka reports statistics (the high watermarks behind lag).
const STATISTICS_INTERVAL_MS: &str = "500";

/// The consumer settings: the topology's pass-through options first, then
/// the options the engine owns (validated at load not to clash).
pub(crate) fn consumer_config(k: &KafkaSourceConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    client_base(&mut c, k);
    c.set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", k.fetch_wait_max_ms.to_string())
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    c
}

/// The dead-letter producer's settings: idempotent, LZ4.
pub(crate) fn dead_letter_config(k: &KafkaSourceConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    client_base(&mut c, k);
    c.set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "5");
    c
}

/// What every client of the source shares: the pass-through options, the
/// brokers, and TLS/SASL (validated at load not to clash).
fn client_base(c: &mut ClientConfig, k: &KafkaSourceConfig) {
    for (key, value) in &k.options {
        c.set(key, value);
    }
    for (key, value) in &k.client_security {
        c.set(*key, value.expose());
    }
    c.set("bootstrap.servers", &k.brokers);
}

/// Routes librdkafka's statistics and errors into the source's status.
pub(crate) struct StatusContext {
    pub(crate) status: Arc<KafkaStatus>,
}

impl StatusContext {
    pub(crate) fn new(status: &Arc<KafkaStatus>) -> Self {
        StatusContext {
            status: Arc::clone(status),
        }
    }
}

impl ClientContext for StatusContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                if partition >= 0 && p.hi_offset >= 0 {
                    self.status.high_watermark(&topic, partition, p.hi_offset);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.status.client_error(format!("{error} ({reason})"));
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(target: "librdkafka", "{facility}: {message}");
                // A broker connection failing (FAIL: TLS handshake, SASL
                // authentication...) says why here; the operation that
                // then fails says only "transport failure".
                if facility == "FAIL" {
                    self.status.client_error(message.to_owned());
                }
            }
            L::Warning => tracing::warn!(target: "librdkafka", "{facility}: {message}"),
            _ => tracing::debug!(target: "librdkafka", "{facility}: {message}"),
        }
    }
}

impl ConsumerContext for StatusContext {}
