//! The topology file: which sources feed the engine, which views run, which
//! sinks get them, and where the API listens.
//!
//! A topology is TOML, versioned (`version = 1`), loaded into typed structs
//! that reject unknown fields, and validated once by [`Topology::load`].
//! String values may reference environment variables as `${NAME}` or
//! `${NAME:-default}` (inside double-quoted strings), so one file serves a
//! laptop, CI and docker compose. `$${` writes a literal `${`.

mod cluster;
mod kafka;
mod kafka_security;
mod lake;
mod sinks;

use crate::event::EventKind;
pub use cluster::{Cluster, ClusterArgs, ClusterConfig, ClusterError, PROCESS_ENV};
pub use kafka::{KafkaSourceConfig, KafkaTopics, OWNED_KAFKA_OPTIONS};
pub use kafka_security::{
    ClientValue, CredentialsError, KafkaProtocol, KafkaSecurity, SaslMechanism,
    SECURITY_KAFKA_OPTIONS,
};
pub use lake::{LakeS3Settings, LakeSinkConfig, LakeSourceConfig};
use serde::Deserialize;
pub use sinks::{
    ClickHouseSinkConfig, Neo4jSinkConfig, SinkBatching, BOLT_SCHEMES, GRAPH_VIEWS,
    RAW_EVENT_TYPES, TABLE_VIEWS,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Names of the contract's views, in contract order.
/// The first seven are events.md's; the rest are the query contract's
/// (api.md, version 2): the entity directory and the five learning views.
pub const VIEW_NAMES: [&str; 13] = [
    "conversation_snapshots",
    "entity_cooccurrence",
    "provider_stats",
    "memory_state",
    "debate_stats",
    "entities",
    "relationships",
    "entity_directory",
    "user_intents",
    "user_preferences",
    "conversation_flow",
    "debate_strategies",
    "provider_performance",
];

/// A loaded, validated topology.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Format version; only `1` exists.
    pub version: u32,
    /// A name for logs and status lines.
    #[serde(default = "default_name")]
    pub name: String,
    /// Runtime settings.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Where events come from. All sources feed one deduplicated event set.
    pub sources: Vec<SourceConfig>,
    /// Which views run (default: all of them).
    #[serde(default)]
    pub views: ViewsConfig,
    /// Where views go.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// The REST API.
    #[serde(default)]
    pub api: ApiConfig,
    /// The processes of a cluster (absent: one process).
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
}

fn default_name() -> String {
    "helixflow".to_owned()
}

/// Runtime settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Timely worker threads (default 2; `helixflow run -w N` overrides).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Length of one logical epoch: events arriving within it become visible together.
    #[serde(default = "default_epoch", with = "humantime_serde")]
    pub epoch: Duration,
    /// How often the one-line status prints (0s turns it off).
    #[serde(default = "default_status", with = "humantime_serde")]
    pub status_interval: Duration,
}

fn default_workers() -> usize {
    2
}
fn default_epoch() -> Duration {
    Duration::from_millis(20)
}
fn default_status() -> Duration {
    Duration::from_secs(5)
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: default_workers(),
            epoch: default_epoch(),
            status_interval: default_status(),
        }
    }
}

/// One source of events, tagged by `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    /// JSONL files.
    File(FileSourceConfig),
    /// The built-in traffic generator.
    Generator(GeneratorConfig),
    /// The contract's Kafka topics.
    Kafka(Box<KafkaSourceConfig>),
    /// The committed events of a lake, read once.
    Lake(Box<LakeSourceConfig>),
}

impl SourceConfig {
    /// The source's unique name; it labels positions, counters and rejections.
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::File(c) => &c.name,
            SourceConfig::Generator(c) => &c.name,
            SourceConfig::Kafka(c) => &c.name,
            SourceConfig::Lake(c) => &c.name,
        }
    }
}

/// JSONL files, read in order; with `follow`, the last one is tailed like `tail -f`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Unique source name.
    pub name: String,
    /// The files to read.
    pub paths: Vec<PathBuf>,
    /// Keep reading the last file as it grows.
    #[serde(default)]
    pub follow: bool,
}

/// The built-in generator of realistic HelixAgent traffic.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// Unique source name.
    pub name: String,
    /// Events per second; 0 means as fast as possible.
    #[serde(default = "default_rate")]
    pub rate: u64,
    /// Seed: the same seed gives the same events.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Stop after this many events (absent: never stop).
    #[serde(default)]
    pub events: Option<u64>,
    /// Fraction of events re-sent as at-least-once duplicates.
    #[serde(default = "default_duplicates")]
    pub duplicate_ratio: f64,
    /// Fraction of lines that are malformed on purpose.
    #[serde(default = "default_malformed")]
    pub malformed_ratio: f64,
    /// Characters of message content (0, the default: a short label).
    #[serde(default)]
    pub content_chars: usize,
}

fn default_rate() -> u64 {
    2_000
}
fn default_seed() -> u64 {
    42
}
fn default_duplicates() -> f64 {
    0.01
}
fn default_malformed() -> f64 {
    0.001
}

/// Which views run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewsConfig {
    /// View names, or `["all"]` (the default).
    #[serde(default = "all_views")]
    pub enabled: Vec<String>,
    /// Keep every distinct message's text and the messages arranged by
    /// conversation, for context replay (default true; off saves the
    /// memory the texts take, and `/v1/context/*` answers 404
    /// `context_not_enabled`).
    #[serde(default = "default_true")]
    pub context: bool,
}

fn default_true() -> bool {
    true
}

fn all_views() -> Vec<String> {
    vec!["all".to_owned()]
}

impl Default for ViewsConfig {
    fn default() -> Self {
        ViewsConfig {
            enabled: all_views(),
            context: true,
        }
    }
}

impl ViewsConfig {
    /// The enabled views' names, `all` expanded.
    pub fn names(&self) -> Vec<&'static str> {
        expand_views(&self.enabled)
    }
}

fn expand_views(list: &[String]) -> Vec<&'static str> {
    if list.iter().any(|v| v == "all") {
        return VIEW_NAMES.to_vec();
    }
    VIEW_NAMES
        .into_iter()
        .filter(|v| list.iter().any(|l| l == v))
        .collect()
}

/// One sink, tagged by `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkConfig {
    /// View snapshots as JSONL files.
    Files(FilesSinkConfig),
    /// View tables in ClickHouse.
    #[serde(rename = "clickhouse")]
    ClickHouse(Box<ClickHouseSinkConfig>),
    /// The knowledge graph in Neo4j.
    Neo4j(Box<Neo4jSinkConfig>),
    /// Every distinct valid event as Parquet (the engine's durable state).
    Lake(Box<LakeSinkConfig>),
}

impl SinkConfig {
    /// The sink's unique name.
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Files(c) => &c.name,
            SinkConfig::ClickHouse(c) => &c.name,
            SinkConfig::Neo4j(c) => &c.name,
            SinkConfig::Lake(c) => &c.name,
        }
    }

    /// The views this sink receives, `all` expanded.
    pub fn view_names(&self) -> Vec<&'static str> {
        match self {
            SinkConfig::Files(c) => expand_views(&c.views),
            SinkConfig::ClickHouse(c) => expand_views(&c.views),
            SinkConfig::Neo4j(c) => expand_views(&c.views),
            SinkConfig::Lake(_) => Vec::new(),
        }
    }

    /// The kinds of raw events this sink takes from ingest: a ClickHouse
    /// sink's `raw_events`, every kind for the lake (the others take views
    /// only).
    pub fn raw_kinds(&self) -> Vec<EventKind> {
        match self {
            SinkConfig::ClickHouse(c) => c.raw_kinds(),
            SinkConfig::Lake(_) => EventKind::ALL.to_vec(),
            SinkConfig::Files(_) | SinkConfig::Neo4j(_) => Vec::new(),
        }
    }

    fn views_field(&self) -> &[String] {
        match self {
            SinkConfig::Files(c) => &c.views,
            SinkConfig::ClickHouse(c) => &c.views,
            SinkConfig::Neo4j(c) => &c.views,
            SinkConfig::Lake(_) => &[],
        }
    }
}

/// Writes each view as `DIR/{view}.jsonl` (sorted, as `replay` does),
/// replacing the files atomically every `interval`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSinkConfig {
    /// Unique sink name.
    pub name: String,
    /// The views it receives: names, or `["all"]` (the default).
    #[serde(default = "all_views")]
    pub views: Vec<String>,
    /// Output directory (created if absent).
    pub dir: PathBuf,
    /// How often the files are rewritten.
    #[serde(default = "default_sink_interval", with = "humantime_serde")]
    pub interval: Duration,
}

fn default_sink_interval() -> Duration {
    Duration::from_secs(10)
}

/// The REST API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the API.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address to listen on (default `127.0.0.1:8080`).
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Who may call: `token` (a bearer token from `HELIXFLOW_API_TOKEN`) or
    /// `none` (anyone who can reach the address). Absent: `none` on a
    /// loopback address (`token` if the variable is set), `token` on any other.
    #[serde(default)]
    pub auth: Option<ApiAuth>,
    /// Longest a request may take, body and answer included (then 408).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers (a slow or
    /// stalled client is disconnected).
    #[serde(default = "default_header_timeout", with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests handled at once; more wait their turn (within `request_timeout`).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// How the API admits callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiAuth {
    /// `Authorization: Bearer <HELIXFLOW_API_TOKEN>` on every request.
    Token,
    /// No check.
    None,
}

fn yes() -> bool {
    true
}
fn default_bind() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_in_flight() -> usize {
    64
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            bind: default_bind(),
            auth: None,
            request_timeout: default_request_timeout(),
            header_timeout: default_header_timeout(),
            max_connections: default_max_connections(),
            max_in_flight: default_max_in_flight(),
        }
    }
}

impl ApiConfig {
    /// The parsed bind address (validated at load).
    pub fn bind_addr(&self) -> Option<SocketAddr> {
        self.bind.parse().ok()
    }

    /// The access rule in force, given whether a token is configured:
    /// `auth` when the topology says, else `token` off loopback or when a
    /// token is set, else `none`.
    pub fn effective_auth(&self, token_set: bool) -> ApiAuth {
        match self.auth {
            Some(a) => a,
            None if token_set => ApiAuth::Token,
            None if self.bind_addr().is_some_and(|a| a.ip().is_loopback()) => ApiAuth::None,
            None => ApiAuth::Token,
        }
    }
}

/// Why a topology file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("{file}: cannot read the topology file: {error}")]
    Read { file: String, error: std::io::Error },
    /// An environment reference could not be resolved.
    #[error("{file}:{line}: {message}")]
    Env {
        file: String,
        line: usize,
        message: String,
    },
    /// TOML syntax, an unknown field, a missing field or a wrong type.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// Parsed, but the settings do not make sense together.
    #[error("{file}: `{field}`: {message}; fix: {fix}")]
    Invalid {
        file: String,
        field: String,
        message: String,
        fix: String,
    },
}

impl Topology {
    /// Reads, substitutes environment references, parses and validates.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| TopologyError::Read {
            file: file.clone(),
            error,
        })?;
        Topology::parse(&file, &text, |name| std::env::var(name).ok())
    }

    /// Parses topology text; `env` resolves variable names.
    pub fn parse(
        file: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Topology, TopologyError> {
        let substituted = substitute_env(file, text, &env)?;
        let topology: Topology =
            toml::from_str(&substituted).map_err(|e| TopologyError::Parse {
                file: file.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
        let mut topology = topology;
        topology.validate(file)?;
        topology.resolve_credentials(file, &env)?;
        Ok(topology)
    }

    /// Reads each Kafka source's SASL credentials through `env` (once, at
    /// load: a missing password is a load error naming the variable).
    fn resolve_credentials(
        &mut self,
        file: &str,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), TopologyError> {
        for (i, source) in self.sources.iter_mut().enumerate() {
            if let SourceConfig::Kafka(k) = source {
                k.client_security = k.security.client_options(env).map_err(|e| {
                    let field = match &e {
                        CredentialsError::Missing { what: "username", .. }
                        | CredentialsError::Unreadable { what: "username", .. } => "username_env",
                        _ => "password_env",
                    };
                    TopologyError::Invalid {
                        file: file.to_owned(),
                        field: format!("sources[{i}].security.{field}"),
                        message: e.to_string(),
                        fix: "give the engine the credentials in its environment, never in the topology".into(),
                    }
                })?;
            }
        }
        Ok(())
    }

    fn validate(&self, file: &str) -> Result<(), TopologyError> {
        let invalid = |field: &str, message: String, fix: &str| TopologyError::Invalid {
            file: file.to_owned(),
            field: field.to_owned(),
            message,
            fix: fix.to_owned(),
        };
        if self.version != 1 {
            return Err(invalid(
                "version",
                format!("version {} is not supported", self.version),
                "write `version = 1`",
            ));
        }
        if self.engine.workers == 0 || self.engine.workers > 256 {
            return Err(invalid(
                "engine.workers",
                format!("{} workers", self.engine.workers),
                "use 1 to 256 workers",
            ));
        }
        if self.engine.epoch.is_zero() {
            return Err(invalid(
                "engine.epoch",
                "an epoch of 0s".into(),
                "use e.g. `epoch = \"20ms\"`",
            ));
        }
        if self.sources.is_empty() {
            return Err(invalid(
                "sources",
                "no source".into(),
                "add a `[[sources]]` table",
            ));
        }
        for (i, s) in self.sources.iter().enumerate() {
            let field = format!("sources[{i}]");
            if s.name().is_empty() {
                return Err(invalid(
                    &format!("{field}.name"),
                    "empty name".into(),
                    "give every source a name",
                ));
            }
            if self.sources[..i].iter().any(|o| o.name() == s.name()) {
                return Err(invalid(
                    &format!("{field}.name"),
                    format!("source name {:?} is used twice", s.name()),
                    "give every source a unique name",
                ));
            }
            match s {
                SourceConfig::File(f) if f.paths.is_empty() => {
                    return Err(invalid(
                        &format!("{field}.paths"),
                        "no file".into(),
                        "list at least one JSONL file",
                    ));
                }
                SourceConfig::Generator(g) => {
                    for (name, r) in [
                        ("duplicate_ratio", &g.duplicate_ratio),
                        ("malformed_ratio", &g.malformed_ratio),
                    ] {
                        if !(0.0..=0.5).contains(r) {
                            return Err(invalid(
                                &format!("{field}.{name}"),
                                format!("{r} is outside 0..=0.5"),
                                "use a fraction such as 0.01",
                            ));
                        }
                    }
                }
                SourceConfig::Lake(l) => {
                    for (name, day) in [("from", &l.from), ("to", &l.to)] {
                        if let Some(d) = day
                            .as_deref()
                            .filter(|d| crate::timestamp::Day::parse(d).is_none())
                        {
                            return Err(invalid(
                                &format!("{field}.{name}"),
                                format!("{d:?} is not a day"),
                                "use YYYY-MM-DD, e.g. \"2026-01-30\"",
                            ));
                        }
                    }
                }
                SourceConfig::Kafka(k) => {
                    k.validate()
                        .map_err(|(sub, m, f)| invalid(&format!("{field}.{sub}"), m, &f))?;
                }
                SourceConfig::File(_) => {}
            }
        }
        check_view_list(&self.views.enabled).map_err(|(m, f)| invalid("views.enabled", m, &f))?;
        if self.views.names().is_empty() {
            return Err(invalid(
                "views.enabled",
                "no view enabled".into(),
                "list at least one view or `all`",
            ));
        }
        for (i, s) in self.sinks.iter().enumerate() {
            let field = format!("sinks[{i}]");
            if self.sinks[..i].iter().any(|o| o.name() == s.name()) {
                return Err(invalid(
                    &format!("{field}.name"),
                    format!("sink name {:?} is used twice", s.name()),
                    "give every sink a unique name",
                ));
            }
            check_view_list(s.views_field())
                .map_err(|(m, f)| invalid(&format!("{field}.views"), m, &f))?;
            let enabled = self.views.names();
            if let Some(v) = s.view_names().into_iter().find(|v| !enabled.contains(v)) {
                return Err(invalid(
                    &format!("{field}.views"),
                    format!("view `{v}` is not enabled in `views.enabled`"),
                    "enable the view or remove it from the sink",
                ));
            }
            match s {
                SinkConfig::Files(files) => {
                    if files.interval.is_zero() {
                        return Err(invalid(
                            &format!("{field}.interval"),
                            "an interval of 0s".into(),
                            "use e.g. `interval = \"10s\"`",
                        ));
                    }
                }
                SinkConfig::ClickHouse(c) => {
                    check_sink_views(&field, s, &TABLE_VIEWS)
                        .and_then(|()| check_batching(&field, &c.batching))
                        .map_err(|(f, m, fix)| invalid(&f, m, &fix))?;
                    if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
                        return Err(invalid(
                            &format!("{field}.url"),
                            format!("{:?} is not an HTTP address", c.url),
                            "use e.g. `url = \"http://127.0.0.1:8123\"`",
                        ));
                    }
                    if let Some(ca) = &c.ca_file {
                        if !c.url.starts_with("https://") {
                            return Err(invalid(
                                &format!("{field}.ca_file"),
                                format!("a CA file for {:?}, which is not HTTPS", c.url),
                                "use an `https://` URL, or drop `ca_file`",
                            ));
                        }
                        check_file(ca).map_err(|m| {
                            invalid(&format!("{field}.ca_file"), m, "name a readable PEM file")
                        })?;
                    }
                    if let Some(t) = c
                        .raw_events
                        .iter()
                        .find(|t| !RAW_EVENT_TYPES.contains(&t.as_str()))
                    {
                        return Err(invalid(
                            &format!("{field}.raw_events"),
                            format!("no raw table for event type `{t}`"),
                            "list only `provider_call` and `message` (or `[]`)",
                        ));
                    }
                }
                SinkConfig::Lake(c) => {
                    check_batching(&field, &c.batching())
                        .map_err(|(f, m, fix)| invalid(&lake_field(&f), m, &fix))?;
                    check_lake(&field, c).map_err(|(f, m, fix)| invalid(&f, m, &fix))?;
                    if self
                        .sinks
                        .iter()
                        .filter(|s| matches!(s, SinkConfig::Lake(_)))
                        .count()
                        > 1
                    {
                        return Err(invalid(
                            &field,
                            "a second lake sink".into(),
                            "keep one lake per topology (it is the engine's durable state)",
                        ));
                    }
                }
                SinkConfig::Neo4j(c) => {
                    check_sink_views(&field, s, &GRAPH_VIEWS)
                        .and_then(|()| check_batching(&field, &c.batching))
                        .map_err(|(f, m, fix)| invalid(&f, m, &fix))?;
                    let scheme = c.uri.split_once("://").map(|(s, _)| s);
                    let Some(&(_, tls)) =
                        BOLT_SCHEMES.iter().find(|(name, _)| Some(*name) == scheme)
                    else {
                        return Err(invalid(
                            &format!("{field}.uri"),
                            format!("{:?} is not a Bolt address", c.uri),
                            "use e.g. `uri = \"bolt://127.0.0.1:7687\"` (or bolt+s://, neo4j://, neo4j+s://)",
                        ));
                    };
                    if let Some(ca) = &c.ca_file {
                        if !tls {
                            return Err(invalid(
                                &format!("{field}.ca_file"),
                                format!("a CA file for {:?}, which is not TLS", c.uri),
                                "use a `bolt+s://` URI, or drop `ca_file`",
                            ));
                        }
                        check_file(ca).map_err(|m| {
                            invalid(&format!("{field}.ca_file"), m, "name a readable PEM file")
                        })?;
                    }
                }
            }
        }
        if self.api.enabled && self.api.bind_addr().is_none() {
            return Err(invalid(
                "api.bind",
                format!("{:?} is not an address", self.api.bind),
                "use IP:PORT, e.g. `bind = \"127.0.0.1:8080\"`",
            ));
        }
        for (field, value) in [
            ("api.max_connections", self.api.max_connections),
            ("api.max_in_flight", self.api.max_in_flight),
        ] {
            if value == 0 {
                return Err(invalid(
                    field,
                    "must be at least 1".into(),
                    "leave it out for the default",
                ));
            }
        }
        for (field, value) in [
            ("api.request_timeout", self.api.request_timeout),
            ("api.header_timeout", self.api.header_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(
                    field,
                    "must be longer than 0s".into(),
                    "leave it out for the default",
                ));
            }
        }
        Ok(())
    }
}

/// A rejected field: (field, message, fix).
type FieldError = (String, String, String);

/// A database sink takes only the views it has a form for.
fn check_sink_views(field: &str, sink: &SinkConfig, allowed: &[&str]) -> Result<(), FieldError> {
    match sink.view_names().into_iter().find(|v| !allowed.contains(v)) {
        Some(v) => Err((
            format!("{field}.views"),
            format!("this sink has no table or graph form for view `{v}`"),
            format!("list only views among {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A sink that takes raw events needs a view: its written epoch (which
/// Kafka commits wait for) comes from the views' changes.
/// A lake's batching fields under their own names.
fn lake_field(f: &str) -> String {
    f.replace("batching.batch_rows", "commit_events")
        .replace("batching.flush_interval", "commit_interval")
        .replace("batching.max_pending_rows", "max_pending_events")
        .replace("batching.", "")
}

fn check_lake(field: &str, c: &LakeSinkConfig) -> Result<(), FieldError> {
    let scheme = c.location.split_once("://").map(|(s, _)| s);
    if c.location.trim().is_empty() || scheme.is_some_and(|s| s != "s3" && s != "file") {
        return Err((
            format!("{field}.location"),
            format!(
                "{:?} is not a directory, file://DIR or s3://BUCKET/PREFIX",
                c.location
            ),
            "use e.g. `location = \"data/lake\"` or `location = \"s3://helixflow/lake\"`".into(),
        ));
    }
    if c.location == "s3://" || c.location.starts_with("s3:///") {
        return Err((
            format!("{field}.location"),
            format!("{:?} names no bucket", c.location),
            "use `s3://BUCKET/PREFIX`".into(),
        ));
    }
    if c.file_rows == 0 {
        return Err((
            format!("{field}.file_rows"),
            "0 rows".into(),
            "use e.g. `file_rows = 1000000`".into(),
        ));
    }
    if c.compact_files < 2 {
        return Err((
            format!("{field}.compact_files"),
            format!("{} (compaction merges at least 2 files)", c.compact_files),
            "use e.g. `compact_files = 8`".into(),
        ));
    }
    Ok(())
}

fn check_batching(field: &str, batching: &SinkBatching) -> Result<(), FieldError> {
    batching
        .validate()
        .map_err(|(f, m, fix)| (format!("{field}.batching.{f}"), m, fix.to_owned()))
}

fn check_view_list(list: &[String]) -> Result<(), (String, String)> {
    for v in list {
        if v != "all" && !VIEW_NAMES.contains(&v.as_str()) {
            return Err((
                format!("unknown view {v:?}"),
                format!("use `all` or some of: {}", VIEW_NAMES.join(", ")),
            ));
        }
    }
    Ok(())
}

/// `Ok` if `path` is a file, else what is wrong.
fn check_file(path: &Path) -> Result<(), String> {
    if path.is_file() {
        Ok(())
    } else {
        Err(format!("{} is not a file", path.display()))
    }
}

/// Replaces `${NAME}` and `${NAME:-default}`; the value is escaped for a TOML
/// basic string.
fn substitute_env(
    file: &str,
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, TopologyError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let line = text[..text.len() - rest.len() + at].matches('\n').count() + 1;
        let env_err = |message: String| TopologyError::Env {
            file: file.to_owned(),
            line,
            message,
        };
        let end = body_start
            .find('}')
            .ok_or_else(|| env_err("`${` without a closing `}`".into()))?;
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(env_err(format!("`${{{body}}}` is not a variable reference (use `${{NAME}}` or `${{NAME:-default}}`)")));
        }
        let value = match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => {
                return Err(env_err(format!(
                    "environment variable {name} is not set and `${{{name}}}` has no default (write `${{{name}:-value}}`)"
                )))
            }
        };
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Topology, TopologyError> {
        Topology::parse("t.toml", text, |n| {
            (n == "SET").then(|| "10.0.0.1:9".to_owned())
        })
    }

    const MIN: &str = "version = 1\n[[sources]]\nname = \"g\"\nkind = \"generator\"\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let t = parse(MIN).unwrap();
        assert_eq!(t.views.names().len(), VIEW_NAMES.len());
        assert!(t.views.context);
        assert_eq!(t.api.bind, "127.0.0.1:8080");
        assert!(matches!(&t.sources[0], SourceConfig::Generator(g) if g.rate == 2000));
    }

    #[test]
    fn env_references_resolve_with_defaults() {
        let t = parse(&format!("{MIN}[api]\nbind = \"${{SET}}\"\n")).unwrap();
        assert_eq!(t.api.bind, "10.0.0.1:9");
        let t = parse(&format!("{MIN}[api]\nbind = \"${{UNSET:-127.0.0.1:1}}\"\n")).unwrap();
        assert_eq!(t.api.bind, "127.0.0.1:1");
        let err = parse(&format!("{MIN}[api]\nbind = \"${{UNSET}}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.toml:6") && err.contains("UNSET"), "{err}");
    }

    #[test]
    fn unknown_fields_name_line_and_field() {
        let err = parse(&format!("{MIN}rat = 5\n")).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("`rat`") && err.contains("`rate`"),
            "{err}"
        );
    }

    #[test]
    fn invalid_combinations_say_the_fix() {
        let err = parse(&format!("{MIN}[views]\nenabled = [\"nope\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("views.enabled") && err.contains("fix:"),
            "{err}"
        );
        let err = parse(&format!("{MIN}[api]\nbind = \"localhost\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.bind"), "{err}");
        let err = parse(&MIN.replace("version = 1", "version = 2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("version"), "{err}");
        let two = format!("{MIN}[[sources]]\nname = \"g\"\nkind = \"generator\"\n");
        assert!(parse(&two).unwrap_err().to_string().contains("used twice"));
        let sink = format!("{MIN}[views]\nenabled = [\"entities\"]\n[[sinks]]\nname = \"f\"\nkind = \"files\"\ndir = \"o\"\nviews = [\"debate_stats\"]\n");
        assert!(parse(&sink)
            .unwrap_err()
            .to_string()
            .contains("not enabled"));
    }

    #[test]
    fn lake_sinks_name_the_bad_option() {
        let lake = |extra: &str| {
            parse(&format!(
                "{MIN}[[sinks]]\nname = \"lake\"\nkind = \"lake\"\n{extra}"
            ))
        };
        let ok = lake("location = \"data/lake\"\n").expect("a lake");
        let SinkConfig::Lake(c) = &ok.sinks[0] else {
            panic!("not a lake: {:?}", ok.sinks[0]);
        };
        assert_eq!(c.commit_interval, Duration::from_secs(5));
        assert_eq!(ok.sinks[0].raw_kinds(), EventKind::ALL.to_vec());
        assert!(lake("location = \"s3://bucket/prefix\"\n[sinks.s3]\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\n").is_ok());
        for (extra, field) in [
            ("location = \"gs://b\"\n", "sinks[0].location"),
            ("location = \"s3://\"\n", "sinks[0].location"),
            (
                "location = \"l\"\ncommit_interval = \"0s\"\n",
                "sinks[0].commit_interval",
            ),
            (
                "location = \"l\"\ncommit_events = 0\n",
                "sinks[0].commit_events",
            ),
            (
                "location = \"l\"\nmax_pending_events = 10\n",
                "sinks[0].max_pending_events",
            ),
            (
                "location = \"l\"\ncompact_files = 1\n",
                "sinks[0].compact_files",
            ),
            ("location = \"l\"\nfile_rows = 0\n", "sinks[0].file_rows"),
        ] {
            let err = lake(extra).expect_err(extra).to_string();
            assert!(
                err.contains(field) && err.contains("fix:"),
                "{extra}: {err}"
            );
        }
        let err = lake("").expect_err("no location").to_string();
        assert!(err.contains("location"), "{err}");
        let two = format!(
            "{MIN}[[sinks]]\nname = \"a\"\nkind = \"lake\"\nlocation = \"a\"\n[[sinks]]\nname = \"b\"\nkind = \"lake\"\nlocation = \"b\"\n"
        );
        let err = parse(&two).expect_err("two lakes").to_string();
        assert!(err.contains("second lake"), "{err}");
    }

    #[test]
    fn database_sinks_name_the_bad_option() {
        let clickhouse = |extra: &str| {
            parse(&format!(
                "{MIN}[[sinks]]\nname = \"ch\"\nkind = \"clickhouse\"\nurl = \"http://h:8123\"\n{extra}"
            ))
        };
        assert!(clickhouse("").is_ok());
        let err = clickhouse("raw_events = [\"memory\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sinks[0].raw_events") && err.contains("`memory`"),
            "{err}"
        );
        // Raw events alone: the sink's progress comes from ingest.
        assert!(clickhouse("views = []\n").is_ok());
        assert!(clickhouse("views = []\nraw_events = []\n").is_ok());
        let neo4j = |extra: &str| {
            parse(&format!(
                "{MIN}[[sinks]]\nname = \"g\"\nkind = \"neo4j\"\nuri = \"bolt://h:7687\"\n{extra}"
            ))
        };
        // The graph takes no raw events: names come from entity_directory.
        assert!(neo4j("views = []\n").is_ok());
        let err = neo4j("mention_names = true\n").unwrap_err().to_string();
        assert!(err.contains("mention_names"), "{err}");
    }
}
