//! The Neo4j sink: the knowledge graph over Bolt (`bolt+s://` for TLS,
//! trusting the sink's `ca_file` beside the system's CAs).
//!
//! - `(:Entity {id, name, kind, properties, conversation_id, ts, event_id})`
//!   from the `entities` view; every node's `name` and `kind` come from
//!   its `entity_directory` row (its `entities` row, else its latest
//!   mention: the one rule the API's directory also serves), so an entity
//!   only mentioned, or only an endpoint, is `(:Entity {id, name, kind})`
//!   (`name` and `kind` absent when nothing names it).
//! - `(a)-[:RELATES {rel_type, weight, conversation_id, ts, event_id}]->(b)`
//!   per `relationships` row (one edge per source, target and rel_type).
//! - `(a)-[:CO_OCCURS {count}]->(b)` per `entity_cooccurrence` pair, `a < b`.
//!
//! Every write sets absolute values with `UNWIND $rows ... MERGE`, in one
//! transaction per batch, so a retried or repeated batch changes nothing.
//! Each committed transaction counts in `neo4j_transaction_committed_total`.
//! A pair that disappears from the view loses its edge. A uniqueness
//! constraint on `Entity.id` is created at start.

use crate::pending::{Batch, IdNames, Op};
use crate::runner::{SinkError, SinkWriter};
use helixflow_operators::intern::Id;
use helixflow_operators::rows::ViewItem;
use helixflow_operators::rows::ViewName;
use helixflow_types::secret::secret_from_env;
use helixflow_types::timestamp::format_millis;
use helixflow_types::topology::Neo4jSinkConfig;
use neo4rs::{query, BoltList, BoltMap, BoltString, BoltType, ConfigBuilder, Graph};
use std::sync::Arc;

const CONSTRAINT: &str =
    "CREATE CONSTRAINT helixflow_entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE";

const UPSERT_ENTITIES: &str = "UNWIND $rows AS row \
     MERGE (e:Entity {id: row.entity_id}) \
     SET e.name = row.name, e.kind = row.kind, e.properties = row.properties, \
         e.conversation_id = row.conversation_id, e.ts = row.ts, e.event_id = row.event_id";
const UPSERT_RELATIONSHIPS: &str = "UNWIND $rows AS row \
     MERGE (a:Entity {id: row.source_id}) \
     MERGE (b:Entity {id: row.target_id}) \
     MERGE (a)-[r:RELATES {rel_type: row.rel_type}]->(b) \
     SET r.weight = row.weight, r.conversation_id = row.conversation_id, \
         r.ts = row.ts, r.event_id = row.event_id";
const DELETE_RELATIONSHIPS: &str = "UNWIND $rows AS row \
     MATCH (:Entity {id: row.source_id})-[r:RELATES {rel_type: row.rel_type}]->(:Entity {id: row.target_id}) \
     DELETE r";
const UPSERT_PAIRS: &str = "UNWIND $rows AS row \
     MERGE (a:Entity {id: row.a}) \
     MERGE (b:Entity {id: row.b}) \
     MERGE (a)-[r:CO_OCCURS]->(b) \
     SET r.count = row.count";
const DELETE_PAIRS: &str = "UNWIND $rows AS row \
     MATCH (:Entity {id: row.a})-[r:CO_OCCURS]->(:Entity {id: row.b}) \
     DELETE r";
/// Entity rows only ever change (the view keeps the latest update of an
/// id); should one disappear, its node keeps its id and loses the fields
/// (its name and kind then follow its directory row).
const DELETE_ENTITIES: &str = "UNWIND $rows AS row \
     MATCH (e:Entity {id: row.entity_id}) \
     REMOVE e.properties, e.conversation_id, e.ts, e.event_id";
/// The directory names the node (a `null` name or kind removes it).
const UPSERT_DIRECTORY: &str = "UNWIND $rows AS row \
     MERGE (e:Entity {id: row.id}) \
     SET e.name = row.name, e.kind = row.kind";
const DELETE_DIRECTORY: &str = "UNWIND $rows AS row \
     MATCH (e:Entity {id: row.id}) \
     REMOVE e.name, e.kind";

/// Rows per `UNWIND` statement.
const STATEMENT_ROWS: usize = 25_000;

/// Writes the graph to one Neo4j database.
pub struct Neo4jWriter {
    uri: String,
    user: String,
    password: String,
    graph: Option<Graph>,
    /// A CA to trust for `bolt+s://`.
    ca_file: Option<std::path::PathBuf>,
    names: Arc<dyn IdNames>,
    runtime: tokio::runtime::Runtime,
}

impl Neo4jWriter {
    /// A writer for a sink's settings (credentials from the named environment
    /// variables), naming ids through `names`.
    pub fn new(config: &Neo4jSinkConfig, names: Arc<dyn IdNames>) -> Result<Self, SinkError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| SinkError::new("starting the Neo4j client's runtime", e))?;
        let secret = |var: &str| {
            secret_from_env(var).map_err(|e| SinkError::new("reading the Neo4j credentials", e))
        };
        let user = secret(&config.user_env)?;
        let password = secret(&config.password_env)?;
        crate::tls::install_crypto_provider();
        Ok(Neo4jWriter {
            // Plain `bolt://` and `neo4j://` connect directly to the one
            // server (the driver does not route); the TLS schemes keep theirs.
            uri: config
                .uri
                .trim_start_matches("bolt://")
                .trim_start_matches("neo4j://")
                .to_owned(),
            ca_file: config.ca_file.clone(),
            user: user.map_or_else(|| "neo4j".into(), |u| u.expose().to_owned()),
            password: password.map(|p| p.expose().to_owned()).unwrap_or_default(),
            graph: None,
            names,
            runtime,
        })
    }

    /// The server's address with its scheme, for messages.
    fn display_uri(&self) -> String {
        if self.uri.contains("://") {
            self.uri.clone()
        } else {
            format!("bolt://{}", self.uri)
        }
    }

    fn graph(&mut self) -> Result<Graph, SinkError> {
        if let Some(g) = &self.graph {
            return Ok(g.clone());
        }
        let mut config = ConfigBuilder::default()
            .uri(&self.uri)
            .user(&self.user)
            .password(&self.password)
            .max_connections(2);
        if let Some(ca) = &self.ca_file {
            // neo4rs adds this file's certificates to the trusted roots.
            config = config.with_client_certificate(ca);
        }
        let config = config
            .build()
            .map_err(|e| SinkError::new(format!("configuring Bolt for {}", self.uri), e))?;
        let graph = self.runtime.block_on(Graph::connect(config)).map_err(|e| {
            SinkError::caused_by(format!("connecting to {}", self.display_uri()), &e)
        })?;
        self.graph = Some(graph.clone());
        Ok(graph)
    }
}

/// A typed view row as the Bolt map its statement reads (`None` for a
/// view without a graph form). Ids become their names; `properties` stays
/// the contract's JSON text (Neo4j properties cannot hold maps); `ts` is the
/// contract's RFC 3339 string; a pair is oriented `a < b` by string.
fn bolt_row(item: &ViewItem, names: &dyn IdNames) -> Option<BoltType> {
    let mut m = BoltMap::new();
    let mut put = |k: &str, v: BoltType| m.put(BoltString::from(k), v);
    let name = |id: Id| BoltType::from(names.name(id));
    let optional = |v: Option<BoltType>| v.unwrap_or(BoltType::Null(neo4rs::BoltNull));
    match item {
        ViewItem::Entity(id, e) => {
            put("entity_id", name(*id));
            put("name", e.name.as_str().into());
            put("kind", e.kind.as_str().into());
            put(
                "properties",
                optional(e.properties.as_deref().map(BoltType::from)),
            );
            put("conversation_id", optional(e.conversation.map(name)));
            put("ts", format_millis(e.ts).into());
            put("event_id", e.event_id.as_str().into());
        }
        ViewItem::Relationship((source, target, rel_type), r) => {
            put("source_id", name(*source));
            put("target_id", name(*target));
            put("rel_type", name(*rel_type));
            put("weight", r.weight.0.into());
            put("conversation_id", optional(r.conversation.map(name)));
            put("ts", format_millis(r.ts).into());
            put("event_id", r.event_id.as_str().into());
        }
        ViewItem::Directory(id, row) => {
            put("id", name(*id));
            put("name", optional(row.name.map(name)));
            put("kind", optional(row.kind.map(name)));
        }
        ViewItem::Pair((a, b), count) => {
            let (a, b) = (names.name(*a), names.name(*b));
            let (a, b) = if a.as_bytes() <= b.as_bytes() {
                (a, b)
            } else {
                (b, a)
            };
            put("a", a.into());
            put("b", b.into());
            put("count", (*count as i64).into());
        }
        _ => return None,
    }
    Some(BoltType::Map(m))
}

/// The statement for one view and op.
fn statement(view: ViewName, op: Op) -> Option<&'static str> {
    Some(match (view, op) {
        (ViewName::Entities, Op::Upsert) => UPSERT_ENTITIES,
        (ViewName::Entities, Op::Delete) => DELETE_ENTITIES,
        (ViewName::Relationships, Op::Upsert) => UPSERT_RELATIONSHIPS,
        (ViewName::Relationships, Op::Delete) => DELETE_RELATIONSHIPS,
        (ViewName::EntityCooccurrence, Op::Upsert) => UPSERT_PAIRS,
        (ViewName::EntityCooccurrence, Op::Delete) => DELETE_PAIRS,
        (ViewName::EntityDirectory, Op::Upsert) => UPSERT_DIRECTORY,
        (ViewName::EntityDirectory, Op::Delete) => DELETE_DIRECTORY,
        _ => return None,
    })
}

impl SinkWriter for Neo4jWriter {
    fn prepare(&mut self) -> Result<(), SinkError> {
        let graph = self.graph()?;
        // In an explicit transaction, as the writes: `Graph::run` would retry
        // on its own for up to 60 s before the runner could report anything.
        let what = "creating the Entity.id uniqueness constraint";
        let result = self.runtime.block_on(async {
            let mut txn = graph
                .start_txn()
                .await
                .map_err(|e| SinkError::new(what, e))?;
            txn.run(query(CONSTRAINT))
                .await
                .map_err(|e| SinkError::new(what, e))?;
            txn.commit().await.map_err(|e| SinkError::new(what, e))
        });
        if result.is_err() {
            // Reconnect on the next attempt: the connection may be the problem.
            self.graph = None;
        }
        result
    }

    fn write(&mut self, _version: u64, batch: &Batch) -> Result<(), SinkError> {
        let graph = self.graph()?;
        let names = &*self.names;
        // Entities first (so their nodes exist with fields), then the names
        // the directory gives, then edges; deletes before upserts of the
        // same view.
        let view_statements = |view: ViewName, op: Op| {
            let rows: Vec<BoltType> = batch
                .changes
                .iter()
                .filter(|c| c.view == view && c.op == op)
                .filter_map(|c| bolt_row(&c.item, names))
                .collect();
            statement(view, op).map(|text| (format!("{view} rows ({op:?})"), text, rows))
        };
        let mut statements: Vec<(String, &str, Vec<BoltType>)> = Vec::new();
        statements.extend(view_statements(ViewName::Entities, Op::Delete));
        statements.extend(view_statements(ViewName::Entities, Op::Upsert));
        for view in [
            ViewName::EntityDirectory,
            ViewName::Relationships,
            ViewName::EntityCooccurrence,
        ] {
            statements.extend(view_statements(view, Op::Delete));
            statements.extend(view_statements(view, Op::Upsert));
        }
        let result = self.runtime.block_on(async {
            let mut txn = graph
                .start_txn()
                .await
                .map_err(|e| SinkError::new("starting a transaction", e))?;
            for (what, text, rows) in &statements {
                for chunk in rows.chunks(STATEMENT_ROWS) {
                    let q =
                        query(text).param("rows", BoltType::List(BoltList::from(chunk.to_vec())));
                    txn.run(q).await.map_err(|e| {
                        SinkError::new(format!("writing {} {what}", chunk.len()), e)
                    })?;
                }
            }
            txn.commit()
                .await
                .map_err(|e| SinkError::new("committing the transaction", e))?;
            metrics::counter!("neo4j_transaction_committed_total").increment(1);
            Ok(())
        });
        if result.is_err() {
            // Reconnect on the next attempt: the connection may be the problem.
            self.graph = None;
        }
        result
    }
}
