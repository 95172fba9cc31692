//! The high watermarks of a Kafka source's partitions, asked of the brokers
//! now (one ListOffsets request for every partition), for the memory sync
//! barrier ("every event in the topic when the call arrived": the statistics
//! the consumers receive are up to half a second old, so they cannot serve)
//! and for the supervisor's watch on stuck consumers.

use super::client::consumer_config;
use helixflow_types::topology::KafkaSourceConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

/// A client that only asks for offsets (it joins no group and reads nothing).
pub struct WatermarkProbe {
    consumer: BaseConsumer,
}

impl WatermarkProbe {
    /// A probe on the brokers of `config` (with its client options).
    pub fn new(config: &KafkaSourceConfig) -> Result<WatermarkProbe, KafkaError> {
        let mut c = consumer_config(config);
        // Never commits: only asks for offsets.
        c.set("group.id", format!("{}-watermarks", config.group_id));
        Ok(WatermarkProbe {
            consumer: c.create()?,
        })
    }

    /// The log end offset of each `(topic, partition)`, in order.
    pub fn high_watermarks(
        &self,
        partitions: &[(String, i32)],
        timeout: Duration,
    ) -> Result<Vec<i64>, KafkaError> {
        log_ends(&self.consumer, partitions, timeout)
    }
}

/// The log end offset of each `(topic, partition)`, in order, asked through
/// `client` in one request.
pub(crate) fn log_ends<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    partitions: &[(String, i32)],
    timeout: Duration,
) -> Result<Vec<i64>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition_offset(topic, *partition, Offset::End)?;
    }
    let answered = client.offsets_for_times(tpl, timeout)?;
    partitions
        .iter()
        .map(|(topic, partition)| {
            let offset = answered
                .find_partition(topic, *partition)
                .map(|e| e.offset());
            match offset {
                Some(Offset::Offset(o)) => Ok(o),
                // An empty partition has no offset to name: its end is 0.
                _ => Ok(0),
            }
        })
        .collect()
}
