//! The ClickHouse sink: keeps one `ReplacingMergeTree` table per view equal
//! to the view (schema in [`schema`]), writing each batch of changed keys as
//! RowBinary inserts through the `clickhouse` crate.

pub mod rows;
pub mod schema;

use crate::pending::{Op, RowChange};
use crate::runner::{SinkError, SinkWriter};
use clickhouse::{Client, Compression};
use helixflow_operators::rows::ViewName;
use helixflow_types::topology::ClickHouseSinkConfig;
use rows::{ConversationRow, DebateRow, MemoryRow, ProviderRow, RowError};

/// Writes view tables to one ClickHouse database.
pub struct ClickHouseWriter {
    /// For the schema (no database: it may not exist yet).
    admin: Client,
    /// For inserts into the sink's database.
    client: Client,
    database: String,
    views: Vec<ViewName>,
    runtime: tokio::runtime::Runtime,
}

/// A client for a sink's settings (credentials from the named environment variables).
pub fn client(config: &ClickHouseSinkConfig) -> Client {
    let mut client = Client::default()
        .with_url(&config.url)
        .with_validation(config.validation)
        .with_compression(if config.compression {
            Compression::Lz4
        } else {
            Compression::None
        });
    if let Ok(user) = std::env::var(&config.user_env) {
        client = client.with_user(user);
    }
    if let Ok(password) = std::env::var(&config.password_env) {
        client = client.with_password(password);
    }
    client
}

impl ClickHouseWriter {
    /// A writer for `views` (those without a table are ignored).
    pub fn new(config: &ClickHouseSinkConfig, views: Vec<ViewName>) -> Result<Self, SinkError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SinkError::new("starting the ClickHouse client's runtime", e))?;
        Ok(ClickHouseWriter {
            admin: client(config),
            client: client(config).with_database(&config.database),
            database: config.database.clone(),
            views,
            runtime,
        })
    }

    async fn insert<T>(&self, view: ViewName, rows: Vec<T>) -> Result<(), SinkError>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        let table = view.as_str();
        let what = || {
            format!(
                "inserting {} rows into {}.{table}",
                rows.len(),
                self.database
            )
        };
        let mut insert = self
            .client
            .insert::<T>(table)
            .await
            .map_err(|e| SinkError::new(what(), e))?;
        for r in &rows {
            insert
                .write(r)
                .await
                .map_err(|e| SinkError::new(what(), e))?;
        }
        insert.end().await.map_err(|e| SinkError::new(what(), e))
    }
}

fn typed<T>(
    changes: &[RowChange],
    view: ViewName,
    version: u64,
    convert: fn(&crate::pending::Row, u64, bool) -> Result<T, RowError>,
) -> Result<Vec<T>, SinkError> {
    changes
        .iter()
        .filter(|c| c.view == view)
        .map(|c| convert(&c.row, version, c.op == Op::Delete))
        .collect::<Result<_, _>>()
        .map_err(|e| SinkError::new(format!("converting {view} rows"), e))
}

impl SinkWriter for ClickHouseWriter {
    fn prepare(&mut self) -> Result<(), SinkError> {
        let mut statements = vec![format!("CREATE DATABASE IF NOT EXISTS {}", self.database)];
        statements.extend(
            self.views
                .iter()
                .filter_map(|v| schema::create_table(&self.database, *v)),
        );
        self.runtime.block_on(async {
            for s in &statements {
                self.admin
                    .query(s)
                    .execute()
                    .await
                    .map_err(|e| SinkError::new(format!("creating the schema ({s})"), e))?;
            }
            Ok(())
        })
    }

    fn write(&mut self, version: u64, changes: &[RowChange]) -> Result<(), SinkError> {
        self.runtime.block_on(async {
            for view in &self.views {
                if !changes.iter().any(|c| c.view == *view) {
                    continue;
                }
                match view {
                    ViewName::ConversationSnapshots => {
                        let rows = typed(changes, *view, version, ConversationRow::from_row)?;
                        self.insert(*view, rows).await?
                    }
                    ViewName::ProviderStats => {
                        let rows = typed(changes, *view, version, ProviderRow::from_row)?;
                        self.insert(*view, rows).await?
                    }
                    ViewName::MemoryState => {
                        let rows = typed(changes, *view, version, MemoryRow::from_row)?;
                        self.insert(*view, rows).await?
                    }
                    ViewName::DebateStats => {
                        let rows = typed(changes, *view, version, DebateRow::from_row)?;
                        self.insert(*view, rows).await?
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }
}
