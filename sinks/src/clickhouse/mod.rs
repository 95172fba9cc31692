//! The ClickHouse sink: keeps one `ReplacingMergeTree` table per view equal
//! to the view (schema in [`schema`]), writing each batch of changed keys as
//! RowBinary inserts through the `clickhouse` crate. Each insert that lands
//! is timed in the `clickhouse_insert_duration_seconds{table}` histogram.
//! Over `https://` it trusts the sink's `ca_file` (else the system's CAs).

pub mod raw;
pub mod rows;
pub mod schema;

use crate::pending::{Batch, IdNames, Op};
use crate::runner::{SinkError, SinkWriter};
use clickhouse::{Client, Compression};
use helixflow_operators::rows::ViewName;
use helixflow_types::secret::secret_from_env;
use helixflow_types::topology::ClickHouseSinkConfig;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use raw::{RawKinds, RawTables};
use rows::{
    ConversationRow, DebateRow, FlowRow, IntentRow, MemoryRow, PerformanceRow, PreferenceRow,
    ProviderRow, StrategyRow, TableRow,
};
use std::sync::Arc;

/// Writes view tables to one ClickHouse database.
pub struct ClickHouseWriter {
    /// For the schema (no database: it may not exist yet).
    admin: Client,
    /// For inserts into the sink's database.
    client: Client,
    database: String,
    views: Vec<ViewName>,
    names: Arc<dyn IdNames>,
    raw: RawTables,
    runtime: tokio::runtime::Runtime,
}

/// Rows per insert of raw events (one block: atomic on the server).
const RAW_INSERT_ROWS: usize = 100_000;

/// How long an idle connection is kept (ClickHouse closes them after 3 s).
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A client for a sink's settings: HTTP or HTTPS (trusting `ca_file`, else
/// the system's CAs), credentials from the named environment variables (or
/// the files their `_FILE` variables name).
pub fn client(config: &ClickHouseSinkConfig) -> Result<Client, SinkError> {
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(std::time::Duration::from_secs(60)));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new();
    let https = match &config.ca_file {
        Some(ca) => https.with_tls_config(crate::tls::client_config_trusting(ca)?),
        None => {
            crate::tls::install_crypto_provider();
            https
                .with_native_roots()
                .map_err(|e| SinkError::new("loading the system's CA certificates", e))?
        }
    };
    let connector = https.https_or_http().enable_http1().wrap_connector(http);
    let hyper = HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector);
    let mut client = Client::with_http_client(hyper)
        .with_url(&config.url)
        .with_validation(config.validation)
        .with_compression(if config.compression {
            Compression::Lz4
        } else {
            Compression::None
        });
    let secret = |var: &str| {
        secret_from_env(var).map_err(|e| SinkError::new("reading the ClickHouse credentials", e))
    };
    if let Some(user) = secret(&config.user_env)? {
        client = client.with_user(user.expose());
    }
    if let Some(password) = secret(&config.password_env)? {
        client = client.with_password(password.expose());
    }
    Ok(client)
}

impl ClickHouseWriter {
    /// A writer for `views` (those without a table are ignored), naming ids through `names`.
    pub fn new(
        config: &ClickHouseSinkConfig,
        views: Vec<ViewName>,
        names: Arc<dyn IdNames>,
    ) -> Result<Self, SinkError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SinkError::new("starting the ClickHouse client's runtime", e))?;
        Ok(ClickHouseWriter {
            admin: client(config)?,
            client: client(config)?.with_database(&config.database),
            database: config.database.clone(),
            views,
            names,
            raw: RawTables::new(RawKinds::of(&config.raw_kinds())),
            runtime,
        })
    }

    async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<(), SinkError>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        let what = || {
            format!(
                "inserting {} rows into {}.{table}",
                rows.len(),
                self.database
            )
        };
        let started = std::time::Instant::now();
        let mut insert = self
            .client
            .insert::<T>(table)
            .await
            .map_err(|e| SinkError::caused_by(what(), &e))?;
        for r in rows {
            insert
                .write(r)
                .await
                .map_err(|e| SinkError::caused_by(what(), &e))?;
        }
        insert
            .end()
            .await
            .map_err(|e| SinkError::caused_by(what(), &e))?;
        // Only inserts that landed: a failed one is counted by the runner.
        metrics::histogram!("clickhouse_insert_duration_seconds", "table" => table.to_owned())
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }
}

impl ClickHouseWriter {
    /// Inserts the batch's rows of `view` (if any) into its table.
    fn write_view<T>(&self, view: ViewName, batch: &Batch, version: u64) -> Result<(), SinkError>
    where
        T: TableRow + clickhouse::RowOwned + clickhouse::RowWrite,
    {
        let rows: Vec<T> = batch
            .changes
            .iter()
            .filter(|c| c.view == view)
            .filter_map(|c| T::from_item(&c.item, &*self.names, version, c.op == Op::Delete))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        self.runtime.block_on(self.insert(view.as_str(), &rows))
    }
}

impl SinkWriter for ClickHouseWriter {
    fn prepare(&mut self) -> Result<(), SinkError> {
        let mut statements = vec![format!("CREATE DATABASE IF NOT EXISTS {}", self.database)];
        statements.extend(
            self.views
                .iter()
                .filter_map(|v| schema::create_table(&self.database, *v)),
        );
        statements.extend(raw::create_statements(&self.database, self.raw.kinds));
        self.runtime.block_on(async {
            for s in &statements {
                self.admin
                    .query(s)
                    .execute()
                    .await
                    .map_err(|e| SinkError::caused_by(format!("creating the schema ({s})"), &e))?;
            }
            // Uncompressed: 18.16 answers compressed selects in a way the
            // crate reads as empty.
            let reader = self.admin.clone().with_compression(Compression::None);
            self.raw.load(&reader, &self.database).await
        })
    }

    fn write(&mut self, version: u64, batch: &Batch) -> Result<(), SinkError> {
        for view in self.views.clone() {
            match view {
                ViewName::ConversationSnapshots => {
                    self.write_view::<ConversationRow>(view, batch, version)?
                }
                ViewName::ProviderStats => self.write_view::<ProviderRow>(view, batch, version)?,
                ViewName::MemoryState => self.write_view::<MemoryRow>(view, batch, version)?,
                ViewName::DebateStats => self.write_view::<DebateRow>(view, batch, version)?,
                ViewName::UserIntents => self.write_view::<IntentRow>(view, batch, version)?,
                ViewName::UserPreferences => {
                    self.write_view::<PreferenceRow>(view, batch, version)?
                }
                ViewName::ConversationFlow => self.write_view::<FlowRow>(view, batch, version)?,
                ViewName::DebateStrategies => {
                    self.write_view::<StrategyRow>(view, batch, version)?
                }
                ViewName::ProviderPerformance => {
                    self.write_view::<PerformanceRow>(view, batch, version)?
                }
                _ => {}
            }
        }
        // Raw events after the views; each insert recorded as it lands.
        let planned = self.raw.plan(&batch.raw, version);
        for rows in planned.calls.chunks(RAW_INSERT_ROWS) {
            self.runtime.block_on(self.insert("provider_calls", rows))?;
            self.raw.calls_written(rows);
        }
        for rows in planned.messages.chunks(RAW_INSERT_ROWS) {
            self.runtime.block_on(self.insert("messages", rows))?;
            self.raw.messages_written(rows);
        }
        Ok(())
    }
}
