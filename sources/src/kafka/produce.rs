//! Producing events to the contract's topics (`helixflow produce`): each
//! line goes to the topic of its `type`, keyed by the contract's key field,
//! through an idempotent, compressing producer; an optional rate; delivery
//! latency recorded per message (send → broker acknowledgement).
//!
//! A line whose `type` is missing or unknown (or that is not JSON at all)
//! still goes out, unkeyed, on the conversations topic, so the engine sees
//! it and rejects it with its reason: `produce` does not judge events.

use hdrhistogram::Histogram;
use helixflow_types::event::EventKind;
use helixflow_types::topology::KafkaTopics;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Compression of produced batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// None.
    None,
    /// LZ4 (fast; the default).
    Lz4,
    /// Zstandard (smaller).
    Zstd,
}

impl Compression {
    fn codec(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// What to produce to and how.
#[derive(Clone, Debug)]
pub struct ProduceSettings {
    /// `host:port[,...]`.
    pub brokers: String,
    /// Topic of each event type.
    pub topics: KafkaTopics,
    /// Messages per second; 0 sends as fast as the broker takes them.
    pub rate: u64,
    /// Batch compression.
    pub compression: Compression,
}

/// Figures of one produce run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProduceReport {
    /// Messages handed to the producer.
    pub sent: u64,
    /// Messages the broker acknowledged.
    pub delivered: u64,
    /// Messages that could not be delivered.
    pub failed: u64,
    /// Lines whose type could not be told (sent unkeyed to the conversations topic).
    pub untyped: u64,
    /// Seconds from the first send to the last acknowledgement.
    pub seconds: f64,
    /// Delivery latency percentiles, milliseconds.
    pub latency_ms_p50: f64,
    /// 99th percentile.
    pub latency_ms_p99: f64,
    /// Worst.
    pub latency_ms_max: f64,
}

/// Records acknowledgements and their latency.
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    latency_us: Mutex<Histogram<u64>>,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: Box<Instant>) {
        match result {
            Ok(_) => {
                let us = sent_at.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
                if let Ok(mut h) = self.latency_us.lock() {
                    h.saturating_record(us.max(1));
                }
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

/// A producer of contract events.
pub struct EventProducer {
    producer: ThreadedProducer<Deliveries>,
    context: Arc<Deliveries>,
    topics: KafkaTopics,
    rate: u64,
    sent: u64,
    untyped: u64,
    started: Instant,
}

/// The fields that route a line.
#[derive(Deserialize)]
struct Route<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    conversation_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    memory_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    entity_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    provider: Option<Cow<'a, str>>,
    #[serde(borrow)]
    debate_id: Option<Cow<'a, str>>,
}

/// The event type and contract key of a line, as far as they can be told.
pub fn route(line: &[u8]) -> (Option<EventKind>, Option<String>) {
    let from_value = || {
        let v: serde_json::Value = serde_json::from_slice(line).ok()?;
        let kind = EventKind::from_type_name(v.get("type")?.as_str()?)?;
        let key = v
            .get(kind.kafka_key_field())
            .and_then(|k| k.as_str())
            .map(str::to_owned);
        Some((Some(kind), key))
    };
    match serde_json::from_slice::<Route<'_>>(line) {
        Ok(r) => {
            let Some(kind) = r.kind.as_deref().and_then(EventKind::from_type_name) else {
                return (None, None);
            };
            let key = match kind {
                EventKind::Message => r.conversation_id,
                EventKind::Memory => r.memory_id,
                EventKind::Entity => r.entity_id,
                EventKind::Relationship => r.source_id,
                EventKind::ProviderCall => r.provider,
                EventKind::DebateRound => r.debate_id,
            };
            (Some(kind), key.map(Cow::into_owned))
        }
        // A key field of the wrong JSON type: route by `type` alone.
        Err(_) => from_value().unwrap_or((None, None)),
    }
}

impl EventProducer {
    /// Connects an idempotent producer.
    pub fn new(settings: &ProduceSettings) -> Result<Self, KafkaError> {
        let context = Deliveries {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .map_err(|_| KafkaError::ClientCreation("latency histogram".into()))?,
            ),
            first_error: Mutex::new(None),
        };
        let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
            .set("bootstrap.servers", &settings.brokers)
            .set("enable.idempotence", "true")
            .set("compression.type", settings.compression.codec())
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.kbytes", "1048576")
            .create_with_context(context)?;
        let context = Arc::clone(producer.context());
        Ok(EventProducer {
            producer,
            context,
            topics: settings.topics.clone(),
            rate: settings.rate,
            sent: 0,
            untyped: 0,
            started: Instant::now(),
        })
    }

    /// Sends one event (a JSONL line without its newline), waiting for room
    /// in the local queue and for the rate if one is set.
    pub fn send(&mut self, line: &[u8]) -> Result<(), KafkaError> {
        if self.rate > 0 {
            let due = self.started + Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let (kind, key) = route(line);
        if kind.is_none() {
            self.untyped += 1;
        }
        let topic = self.topics.topic_of(kind.unwrap_or(EventKind::Message));
        let mut record: BaseRecord<'_, str, [u8], Box<Instant>> =
            BaseRecord::with_opaque_to(topic, Box::new(Instant::now())).payload(line);
        if let Some(k) = key.as_deref() {
            record = record.key(k);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Messages acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.context.delivered.load(Ordering::Relaxed)
    }

    /// Messages handed over so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Waits (up to `timeout`) for every acknowledgement and reports.
    pub fn finish(self, timeout: Duration) -> Result<ProduceReport, KafkaError> {
        self.producer.flush(timeout)?;
        let seconds = self.started.elapsed().as_secs_f64();
        let c = &self.context;
        let failed = c.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = c.first_error.lock().ok().and_then(|f| f.clone());
            tracing::error!(
                "{failed} messages were not delivered; first error: {}",
                first.unwrap_or_default()
            );
        }
        let ms = |q: f64| {
            c.latency_us
                .lock()
                .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
        };
        Ok(ProduceReport {
            sent: self.sent,
            delivered: c.delivered.load(Ordering::Relaxed),
            failed,
            untyped: self.untyped,
            seconds,
            latency_ms_p50: ms(0.5),
            latency_ms_p99: ms(0.99),
            latency_ms_max: ms(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::route;
    use helixflow_types::event::EventKind;

    #[test]
    fn lines_route_by_type_to_the_contract_key() {
        let (k, key) = route(br#"{"type":"message","conversation_id":"c\u00e9","seq":1}"#);
        assert_eq!((k, key.as_deref()), (Some(EventKind::Message), Some("cé")));
        let (k, key) = route(br#"{"type":"provider_call","provider":"openai"}"#);
        assert_eq!(
            (k, key.as_deref()),
            (Some(EventKind::ProviderCall), Some("openai"))
        );
        let (k, key) = route(br#"{"type":"memory","memory_id":7}"#);
        assert_eq!(
            (k, key),
            (Some(EventKind::Memory), None),
            "a bad key field still routes by type"
        );
        assert_eq!(route(b"not json"), (None, None));
        assert_eq!(route(br#"{"type":"nope"}"#), (None, None));
    }
}
