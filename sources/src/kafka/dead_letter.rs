//! The dead-letter producer: rejected messages go, unchanged, to the
//! topology's dead-letter topic, with the reason and origin in headers
//! (`helixflow.reason`, `helixflow.detail`, `helixflow.topic`,
//! `helixflow.partition`, `helixflow.offset`). Idempotent; offsets are not
//! committed while a forward is still in flight.

use super::client::dead_letter_config;
use super::status::KafkaStatus;
use crate::feed::DeadLetter;
use helixflow_types::decode::Rejection;
use helixflow_types::topology::KafkaSourceConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Counts acknowledged and failed forwards.
pub(crate) struct DeliveryCounter {
    status: Arc<KafkaStatus>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.status.dead_lettered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.status
                    .dead_letter_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "kafka source `{}`: a rejected message could not be sent to the dead-letter topic: {e}",
                    self.status.source
                );
            }
        }
    }
}

/// Forwards rejected messages to a topic.
pub struct DeadLetterProducer {
    topic: String,
    producer: ThreadedProducer<DeliveryCounter>,
}

impl DeadLetterProducer {
    /// A producer to `config.dead_letter_topic` (None if it is not set).
    pub(crate) fn new(
        config: &KafkaSourceConfig,
        status: Arc<KafkaStatus>,
    ) -> Result<Option<Self>, KafkaError> {
        let Some(topic) = &config.dead_letter_topic else {
            return Ok(None);
        };
        let producer =
            dead_letter_config(config).create_with_context(DeliveryCounter { status })?;
        Ok(Some(DeadLetterProducer {
            topic: topic.clone(),
            producer,
        }))
    }

    /// Messages handed over but not yet acknowledged.
    pub(crate) fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Waits (up to `timeout`) for every forward to be acknowledged.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

impl DeadLetter for DeadLetterProducer {
    fn forward(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        rejection: &Rejection,
        payload: &[u8],
    ) {
        let partition_text = partition.to_string();
        let offset_text = offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "helixflow.reason",
                value: Some(rejection.reason.code()),
            })
            .insert(Header {
                key: "helixflow.detail",
                value: Some(rejection.detail.as_str()),
            })
            .insert(Header {
                key: "helixflow.topic",
                value: Some(topic),
            })
            .insert(Header {
                key: "helixflow.partition",
                value: Some(partition_text.as_str()),
            })
            .insert(Header {
                key: "helixflow.offset",
                value: Some(offset_text.as_str()),
            });
        let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(&self.topic)
            .payload(payload)
            .headers(headers);
        // The local queue is full only while the broker is slow or down:
        // wait for room rather than drop the message.
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    tracing::error!(
                        "dead-letter topic `{}`: cannot queue a rejected message from {topic}/{partition}@{offset}: {e}",
                        self.topic
                    );
                    return;
                }
            }
        }
    }
}
