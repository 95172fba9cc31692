//! The Kafka source's settings: brokers, consumer group, the topic of each
//! event type, typed client options, and pass-through librdkafka options
//! checked against the options the engine owns.

use super::kafka_security::{ClientValue, KafkaSecurity, SECURITY_KAFKA_OPTIONS};
use crate::event::EventKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// librdkafka options the engine sets itself; a topology may not override them.
pub const OWNED_KAFKA_OPTIONS: [(&str, &str); 9] = [
    ("bootstrap.servers", "set `brokers` instead"),
    ("group.id", "set `group_id` instead"),
    (
        "enable.auto.commit",
        "the engine commits offsets itself, only after the views have absorbed them",
    ),
    (
        "enable.auto.offset.store",
        "the engine commits offsets itself, only after the views have absorbed them",
    ),
    (
        "auto.offset.reset",
        "the engine rebuilds its state from the earliest retained offset",
    ),
    (
        "enable.partition.eof",
        "the engine tracks the end of each partition itself",
    ),
    (
        "statistics.interval.ms",
        "the engine reads consumer lag from librdkafka's statistics",
    ),
    ("fetch.wait.max.ms", "set `fetch_wait_max_ms` instead"),
    (
        "enable.idempotence",
        "the engine's dead-letter producer is always idempotent",
    ),
];

/// A Kafka source: brokers, group and the topic of each event type.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Unique source name.
    pub name: String,
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// Consumer group: offsets are committed under it; a new group starts from
    /// the earliest offset.
    pub group_id: String,
    /// Topic names (defaults: the contract's).
    #[serde(default)]
    pub topics: KafkaTopics,
    /// Consumer threads the partitions are spread over (default: one per worker).
    #[serde(default)]
    pub consumers: Option<usize>,
    /// librdkafka's `fetch.wait.max.ms`: how long a fetch waits for data.
    /// Low values cut latency (librdkafka's default is 500).
    #[serde(default = "default_fetch_wait_max_ms")]
    pub fetch_wait_max_ms: u32,
    /// How often offsets the views have absorbed are committed.
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
    /// If set, rejected messages are produced to this topic, with the reason
    /// in the `helixflow.reason` header.
    #[serde(default)]
    pub dead_letter_topic: Option<String>,
    /// TLS and SASL (`[sources.security]`; default plaintext).
    #[serde(default)]
    pub security: KafkaSecurity,
    /// Further librdkafka client options, passed through as given (except the
    /// ones in [`OWNED_KAFKA_OPTIONS`] and [`SECURITY_KAFKA_OPTIONS`]).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Set by the engine when it restores from its lake: per
    /// `topic/partition`, the offset to resume at (the lake holds every
    /// event before it). Partitions not listed start at the earliest offset.
    #[serde(skip)]
    pub resume: BTreeMap<String, i64>,
    /// The librdkafka options `security` gives, credentials read from the
    /// environment at load ([`super::Topology::load`]).
    #[serde(skip)]
    pub client_security: Vec<(&'static str, ClientValue)>,
}

fn default_fetch_wait_max_ms() -> u32 {
    10
}
fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}

/// The topic of each event type.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopics {
    #[serde(default = "t_conv")]
    pub conversations: String,
    #[serde(default = "t_mem")]
    pub memory: String,
    #[serde(default = "t_ent")]
    pub entities: String,
    #[serde(default = "t_rel")]
    pub relationships: String,
    #[serde(default = "t_prov")]
    pub providers: String,
    #[serde(default = "t_deb")]
    pub debates: String,
}

fn t_conv() -> String {
    EventKind::Message.default_topic().into()
}
fn t_mem() -> String {
    EventKind::Memory.default_topic().into()
}
fn t_ent() -> String {
    EventKind::Entity.default_topic().into()
}
fn t_rel() -> String {
    EventKind::Relationship.default_topic().into()
}
fn t_prov() -> String {
    EventKind::ProviderCall.default_topic().into()
}
fn t_deb() -> String {
    EventKind::DebateRound.default_topic().into()
}

impl Default for KafkaTopics {
    fn default() -> Self {
        KafkaTopics {
            conversations: t_conv(),
            memory: t_mem(),
            entities: t_ent(),
            relationships: t_rel(),
            providers: t_prov(),
            debates: t_deb(),
        }
    }
}

impl KafkaTopics {
    /// Each event kind with its topic, in contract order.
    pub fn by_kind(&self) -> [(EventKind, &str); 6] {
        [
            (EventKind::Message, &self.conversations),
            (EventKind::Memory, &self.memory),
            (EventKind::Entity, &self.entities),
            (EventKind::Relationship, &self.relationships),
            (EventKind::ProviderCall, &self.providers),
            (EventKind::DebateRound, &self.debates),
        ]
    }

    /// Six topics named `{base}.conversations`, `{base}.memory`, ... (tests, benchmarks).
    pub fn prefixed(base: &str) -> Self {
        KafkaTopics {
            conversations: format!("{base}.conversations"),
            memory: format!("{base}.memory"),
            entities: format!("{base}.entities"),
            relationships: format!("{base}.relationships"),
            providers: format!("{base}.providers"),
            debates: format!("{base}.debates"),
        }
    }

    /// The `[sources.topics]` table of a topology naming these topics.
    pub fn toml_table(&self) -> String {
        let mut out = String::from("[sources.topics]\n");
        for (kind, topic) in self.by_kind() {
            out.push_str(&format!("{} = {topic:?}\n", topic_field(kind)));
        }
        out
    }

    /// The topic carrying `kind`.
    pub fn topic_of(&self, kind: EventKind) -> &str {
        self.by_kind()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map_or("", |(_, t)| t)
    }
}

/// A field under the source, what is wrong with it, and the fix.
pub(super) type Problem = (String, String, String);

impl KafkaSourceConfig {
    /// Checks the settings; the field named is relative to the source's table.
    pub(super) fn validate(&self) -> Result<(), Problem> {
        let problem = |field: &str, message: String, fix: &str| {
            Err((field.to_owned(), message, fix.to_owned()))
        };
        if self.brokers.trim().is_empty() {
            return problem(
                "brokers",
                "no broker".into(),
                "set `brokers = \"${KAFKA_BROKERS:-127.0.0.1:9092}\"`",
            );
        }
        if self.group_id.trim().is_empty() {
            return problem("group_id", "empty group id".into(), "set a consumer group");
        }
        if self.consumers == Some(0) || self.consumers.is_some_and(|c| c > 256) {
            return problem(
                "consumers",
                format!("{} consumer threads", self.consumers.unwrap_or(0)),
                "use 1 to 256, or leave it out for one per worker",
            );
        }
        if self.commit_interval.is_zero() {
            return problem(
                "commit_interval",
                "a commit interval of 0s".into(),
                "use e.g. `commit_interval = \"1s\"`",
            );
        }
        let topics = self.topics.by_kind();
        for (i, (kind, topic)) in topics.iter().enumerate() {
            let field = format!("topics.{}", topic_field(*kind));
            if !valid_topic_name(topic) {
                return problem(
                    &field,
                    format!("{topic:?} is not a Kafka topic name"),
                    "use 1 to 249 characters of a-z A-Z 0-9 . _ -",
                );
            }
            if let Some((other, _)) = topics[..i].iter().find(|(_, t)| t == topic) {
                return problem(
                    &field,
                    format!(
                        "topic {topic:?} is also the `{}` topic; each topic carries one event type",
                        topic_field(*other)
                    ),
                    "give each event type its own topic",
                );
            }
        }
        if let Some(dlq) = &self.dead_letter_topic {
            if !valid_topic_name(dlq) {
                return problem(
                    "dead_letter_topic",
                    format!("{dlq:?} is not a Kafka topic name"),
                    "use 1 to 249 characters of a-z A-Z 0-9 . _ -",
                );
            }
            if topics.iter().any(|(_, t)| t == dlq) {
                return problem(
                    "dead_letter_topic",
                    format!("{dlq:?} is also an input topic"),
                    "send rejected messages to a topic of their own",
                );
            }
        }
        for key in self.options.keys() {
            if let Some((_, why)) = OWNED_KAFKA_OPTIONS.iter().find(|(k, _)| k == key) {
                return problem(
                    &format!("options.{key:?}"),
                    format!("`{key}` is set by the engine: {why}"),
                    "remove it from `options`",
                );
            }
            if let Some((_, why)) = SECURITY_KAFKA_OPTIONS.iter().find(|(k, _)| k == key) {
                return problem(
                    &format!("options.{key:?}"),
                    format!("`{key}` is not a pass-through option: {why}"),
                    "remove it from `options`",
                );
            }
        }
        self.security.validate()
    }
}

/// The name of the `[sources.topics]` field for `kind`.
fn topic_field(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Message => "conversations",
        EventKind::Memory => "memory",
        EventKind::Entity => "entities",
        EventKind::Relationship => "relationships",
        EventKind::ProviderCall => "providers",
        EventKind::DebateRound => "debates",
    }
}

/// Kafka's rule for topic names.
fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 250
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::super::Topology;

    fn parse(extra: &str) -> Result<Topology, String> {
        let text = format!(
            "version = 1\n[[sources]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ngroup_id = \"g\"\n{extra}"
        );
        Topology::parse("t.toml", &text, |_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_contract_topics_and_low_latency_fetches() {
        let t = parse("").unwrap();
        let super::super::SourceConfig::Kafka(k) = &t.sources[0] else {
            panic!("not kafka")
        };
        assert_eq!(k.topics.conversations, "helixagent.conversations");
        assert_eq!(k.fetch_wait_max_ms, 10);
        assert_eq!(k.consumers, None);
    }

    #[test]
    fn a_topics_table_parses_back_to_the_same_topics() {
        let topics = super::KafkaTopics::prefixed("t-1");
        let t = parse(&topics.toml_table()).unwrap();
        let super::super::SourceConfig::Kafka(k) = &t.sources[0] else {
            panic!("not kafka")
        };
        assert_eq!(k.topics.by_kind(), topics.by_kind());
    }

    #[test]
    fn owned_options_are_refused_with_the_reason() {
        let err = parse("[sources.options]\n\"enable.auto.commit\" = \"true\"\n").unwrap_err();
        assert!(
            err.contains("sources[0].options.\"enable.auto.commit\"")
                && err.contains("commits offsets itself")
                && err.contains("remove it"),
            "{err}"
        );
        let ok = parse("[sources.options]\n\"client.id\" = \"me\"\n").unwrap();
        assert_eq!(ok.sources.len(), 1);
    }

    #[test]
    fn topics_must_be_distinct_and_well_formed() {
        let err = parse("[sources.topics]\nmemory = \"helixagent.conversations\"\n").unwrap_err();
        assert!(
            err.contains("sources[0].topics.memory") && err.contains("`conversations` topic"),
            "{err}"
        );
        let err = parse("[sources.topics]\ndebates = \"a b\"\n").unwrap_err();
        assert!(err.contains("not a Kafka topic name"), "{err}");
        let err = parse("dead_letter_topic = \"helixagent.analytics.debates\"\n").unwrap_err();
        assert!(err.contains("also an input topic"), "{err}");
        let err = parse("consumers = 0\n").unwrap_err();
        assert!(err.contains("sources[0].consumers"), "{err}");
    }
}
