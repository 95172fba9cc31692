//! Fresh contract topics for a benchmark run (4 partitions for messages,
//! 2 for the other kinds), shared by the Kafka benchmarks.

use helixflow_types::event::EventKind;
use helixflow_types::topology::KafkaTopics;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// Creates six topics named after `tag` and the time.
pub fn fresh_topics(brokers: &str, tag: &str) -> anyhow::Result<KafkaTopics> {
    let base = format!(
        "bench-{tag}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let t = KafkaTopics::prefixed(&base);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new: Vec<NewTopic<'_>> = t
        .by_kind()
        .iter()
        .map(|(k, n)| {
            let parts = if *k == EventKind::Message { 4 } else { 2 };
            NewTopic::new(n, parts, TopicReplication::Fixed(1))
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for r in rt.block_on(admin.create_topics(&new, &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    Ok(t)
}
