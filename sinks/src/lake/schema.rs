//! The lake's tables: one Arrow schema per event type, with the contract's
//! fields as typed columns (`entities` a list of structs, `tags` a list of
//! strings, `properties` a map of typed scalars), `ts` a UTC millisecond
//! timestamp, and `_fingerprint` (the dedup rule's tie-breaker). Events go
//! to record batches and back without loss: a decoded event equals the one
//! encoded, so its fingerprint is the same after a restart.

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, MapBuilder, MapFieldNames,
    StringBuilder, StructBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int64Type, TimestampMillisecondType, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, MapArray, PrimitiveArray, RecordBatch,
    StringArray, StructArray, TimestampMillisecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use helixflow_types::event::{
    DebateRound, EntityMention, EntityUpdate, Event, EventKind, KeyDigest, MemoryOp, MemoryOpKind,
    MergeStrategy, Message, Properties, ProviderCall, RelationshipUpdate, Role,
};
use std::sync::Arc;

/// An event with its payload fingerprint, as the lake stores it.
pub type StoredEvent = (u64, Event);

/// The name of the fingerprint column.
pub const FINGERPRINT: &str = "_fingerprint";

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn mention_fields() -> Fields {
    Fields::from(vec![
        utf8("id", false),
        utf8("name", false),
        utf8("kind", false),
    ])
}

/// The typed alternatives of a property value: exactly one is set, or none
/// for JSON `null`. `unsigned` holds only integers above `i64::MAX`.
fn scalar_fields() -> Fields {
    Fields::from(vec![
        utf8("string", true),
        Field::new("integer", DataType::Int64, true),
        Field::new("unsigned", DataType::UInt64, true),
        Field::new("float", DataType::Float64, true),
        Field::new("boolean", DataType::Boolean, true),
    ])
}

fn map_names() -> MapFieldNames {
    MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

/// The columns of a kind's table, in order.
pub fn schema(kind: EventKind) -> SchemaRef {
    let mut fields = vec![utf8("event_id", false), Field::new("ts", ts_type(), false)];
    let u32f = |n: &str, nullable| Field::new(n, DataType::UInt32, nullable);
    let f64f = |n: &str| Field::new(n, DataType::Float64, false);
    fields.extend(match kind {
        EventKind::Message => vec![
            utf8("conversation_id", false),
            utf8("session_id", false),
            utf8("user_id", false),
            Field::new("seq", DataType::UInt64, false),
            utf8("role", false),
            utf8("content", false),
            u32f("tokens", false),
            utf8("provider", true),
            utf8("model", true),
            u32f("latency_ms", true),
            utf8("intent", true),
            utf8("debate_id", true),
            Field::new(
                "entities",
                DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Struct(mention_fields()),
                    true,
                ))),
                false,
            ),
        ],
        EventKind::Memory => vec![
            utf8("op", false),
            utf8("memory_id", false),
            utf8("user_id", false),
            utf8("node_id", false),
            Field::new("lamport", DataType::UInt64, false),
            utf8("content", true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
            utf8("strategy", false),
        ],
        EventKind::Entity => vec![
            utf8("entity_id", false),
            utf8("name", false),
            utf8("kind", false),
            Field::new("properties", properties_type(), true),
            utf8("conversation_id", true),
        ],
        EventKind::Relationship => vec![
            utf8("source_id", false),
            utf8("target_id", false),
            utf8("rel_type", false),
            f64f("weight"),
            utf8("conversation_id", true),
        ],
        EventKind::ProviderCall => vec![
            utf8("provider", false),
            utf8("model", false),
            u32f("latency_ms", false),
            u32f("tokens_in", false),
            u32f("tokens_out", false),
            f64f("cost_usd"),
            Field::new("success", DataType::Boolean, false),
            utf8("error", true),
        ],
        EventKind::DebateRound => vec![
            utf8("debate_id", false),
            utf8("conversation_id", false),
            utf8("provider", false),
            utf8("model", false),
            u32f("round", false),
            f64f("score"),
            utf8("stance", true),
            Field::new("consensus", DataType::Boolean, false),
        ],
    });
    fields.push(Field::new(FINGERPRINT, DataType::UInt64, false));
    Arc::new(Schema::new(fields))
}

fn properties_type() -> DataType {
    // The map type a MapBuilder with these names produces.
    let names = map_names();
    DataType::Map(
        Arc::new(Field::new(
            names.entry.as_str(),
            DataType::Struct(Fields::from(vec![
                utf8(&names.key, false),
                Field::new(&names.value, DataType::Struct(scalar_fields()), true),
            ])),
            false,
        )),
        false,
    )
}

// ----------------------------------------------------------------------
// Events to a record batch.

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}
fn opt_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}
fn prim<T: arrow_array::ArrowPrimitiveType>(values: impl Iterator<Item = T::Native>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::from_iter_values(values))
}
fn opt_prim<T: arrow_array::ArrowPrimitiveType>(
    values: impl Iterator<Item = Option<T::Native>>,
) -> ArrayRef {
    Arc::new(values.collect::<PrimitiveArray<T>>())
}
fn bools(values: impl Iterator<Item = bool>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<BooleanArray>())
}

/// Encodes events of one kind (any other kind in `events` is skipped) as a
/// record batch of that kind's schema.
pub fn encode(kind: EventKind, events: &[&StoredEvent]) -> Result<RecordBatch, String> {
    macro_rules! of {
        ($variant:ident) => {
            events
                .iter()
                .filter_map(|(fp, e)| match e {
                    Event::$variant(x) => Some((*fp, x)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
    }
    let schema = schema(kind);
    let mut columns: Vec<ArrayRef>;
    let fps: Vec<u64>;
    match kind {
        EventKind::Message => {
            let rows: Vec<(u64, &Message)> = of!(Message);
            fps = rows.iter().map(|r| r.0).collect();
            let m = || rows.iter().map(|r| r.1);
            columns = vec![
                strings(m().map(|x| x.event_id.as_str())),
                ts(m().map(|x| x.ts)),
                strings(m().map(|x| x.conversation_id.as_str())),
                strings(m().map(|x| x.session_id.as_str())),
                strings(m().map(|x| x.user_id.as_str())),
                prim::<UInt64Type>(m().map(|x| x.seq)),
                strings(m().map(|x| x.role.name())),
                strings(m().map(|x| x.content.as_str())),
                prim::<UInt32Type>(m().map(|x| x.tokens)),
                opt_strings(m().map(|x| x.provider.as_deref())),
                opt_strings(m().map(|x| x.model.as_deref())),
                opt_prim::<UInt32Type>(m().map(|x| x.latency_ms)),
                opt_strings(m().map(|x| x.intent.as_deref())),
                opt_strings(m().map(|x| x.debate_id.as_deref())),
                mentions(m().map(|x| x.entities.as_slice())),
            ];
        }
        EventKind::Memory => {
            let rows: Vec<(u64, &MemoryOp)> = of!(Memory);
            fps = rows.iter().map(|r| r.0).collect();
            let m = || rows.iter().map(|r| r.1);
            columns = vec![
                strings(m().map(|x| x.event_id.as_str())),
                ts(m().map(|x| x.ts)),
                strings(m().map(|x| op_name(x.op))),
                strings(m().map(|x| x.memory_id.as_str())),
                strings(m().map(|x| x.user_id.as_str())),
                strings(m().map(|x| x.node_id.as_str())),
                prim::<UInt64Type>(m().map(|x| x.lamport)),
                opt_strings(m().map(|x| x.content.as_deref())),
                tags(m().map(|x| x.tags.as_deref())),
                strings(m().map(|x| strategy_name(x.strategy))),
            ];
        }
        EventKind::Entity => {
            let rows: Vec<(u64, &EntityUpdate)> = of!(Entity);
            fps = rows.iter().map(|r| r.0).collect();
            let m = || rows.iter().map(|r| r.1);
            columns = vec![
                strings(m().map(|x| x.event_id.as_str())),
                ts(m().map(|x| x.ts)),
                strings(m().map(|x| x.entity_id.as_str())),
                strings(m().map(|x| x.name.as_str())),
                strings(m().map(|x| x.kind.as_str())),
                properties(m().map(|x| x.properties.as_ref()))?,
                opt_strings(m().map(|x| x.conversation_id.as_deref())),
            ];
        }
        EventKind::Relationship => {
            let rows: Vec<(u64, &RelationshipUpdate)> = of!(Relationship);
            fps = rows.iter().map(|r| r.0).collect();
            let m = || rows.iter().map(|r| r.1);
            columns = vec![
                strings(m().map(|x| x.event_id.as_str())),
                ts(m().map(|x| x.ts)),
                strings(m().map(|x| x.source_id.as_str())),
                strings(m().map(|x| x.target_id.as_str())),
                strings(m().map(|x| x.rel_type.as_str())),
                prim::<Float64Type>(m().map(|x| x.weight)),
                opt_strings(m().map(|x| x.conversation_id.as_deref())),
            ];
        }
        EventKind::ProviderCall => {
            let rows: Vec<(u64, &ProviderCall)> = of!(ProviderCall);
            fps = rows.iter().map(|r| r.0).collect();
            let m = || rows.iter().map(|r| r.1);
            columns = vec![
                strings(m().map(|x| x.event_id.as_str())),
                ts(m().map(|x| x.ts)),
                strings(m().map(|x| x.provider.as_str())),
                strings(m().map(|x| x.model.as_str())),
                prim::<UInt32Type>(m().map(|x| x.latency_ms)),
                prim::<UInt32Type>(m().map(|x| x.tokens_in)),
                prim::<UInt32Type>(m().map(|x| x.tokens_out)),
                prim::<Float64Type>(m().map(|x| x.cost_usd)),
                bools(m().map(|x| x.success)),
                opt_strings(m().map(|x| x.error.as_deref())),
            ];
        }
        EventKind::DebateRound => {
            let rows: Vec<(u64, &DebateRound)> = of!(DebateRound);
            fps = rows.iter().map(|r| r.0).collect();
            let m = || rows.iter().map(|r| r.1);
            columns = vec![
                strings(m().map(|x| x.event_id.as_str())),
                ts(m().map(|x| x.ts)),
                strings(m().map(|x| x.debate_id.as_str())),
                strings(m().map(|x| x.conversation_id.as_str())),
                strings(m().map(|x| x.provider.as_str())),
                strings(m().map(|x| x.model.as_str())),
                prim::<UInt32Type>(m().map(|x| x.round)),
                prim::<Float64Type>(m().map(|x| x.score)),
                opt_strings(m().map(|x| x.stance.as_deref())),
                bools(m().map(|x| x.consensus)),
            ];
        }
    }
    columns.push(prim::<UInt64Type>(fps.into_iter()));
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

fn ts(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter_values(values).with_timezone("UTC"))
}

fn mentions<'a>(values: impl Iterator<Item = &'a [EntityMention]>) -> ArrayRef {
    let fields = mention_fields();
    let inner = StructBuilder::from_fields(fields.clone(), 0);
    let mut list = ListBuilder::new(inner).with_field(Arc::new(Field::new(
        "item",
        DataType::Struct(fields),
        true,
    )));
    for mentions in values {
        let s = list.values();
        for m in mentions {
            for (i, v) in [&m.id, &m.name, &m.kind].into_iter().enumerate() {
                if let Some(b) = s.field_builder::<StringBuilder>(i) {
                    b.append_value(v);
                }
            }
            s.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

fn tags<'a>(values: impl Iterator<Item = Option<&'a [String]>>) -> ArrayRef {
    let mut list = ListBuilder::new(StringBuilder::new());
    for tags in values {
        match tags {
            Some(tags) => {
                for t in tags {
                    list.values().append_value(t);
                }
                list.append(true);
            }
            None => list.append(false),
        }
    }
    Arc::new(list.finish())
}

fn properties<'a>(
    values: impl Iterator<Item = Option<&'a Properties>>,
) -> Result<ArrayRef, String> {
    let mut map = MapBuilder::new(
        Some(map_names()),
        StringBuilder::new(),
        StructBuilder::from_fields(scalar_fields(), 0),
    );
    for props in values {
        let Some(props) = props else {
            map.append(false).map_err(|e| e.to_string())?;
            continue;
        };
        for (k, v) in props {
            map.keys().append_value(k);
            append_scalar(map.values(), v)?;
        }
        map.append(true).map_err(|e| e.to_string())?;
    }
    Ok(Arc::new(map.finish()))
}

/// Appends one property value as its typed alternative.
fn append_scalar(s: &mut StructBuilder, v: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    let (mut string, mut integer, mut unsigned, mut float, mut boolean) =
        (None, None, None, None, None);
    match v {
        Value::Null => {}
        Value::String(x) => string = Some(x.as_str()),
        Value::Bool(b) => boolean = Some(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                integer = Some(i);
            } else if let Some(u) = n.as_u64() {
                unsigned = Some(u);
            } else {
                float = n.as_f64();
            }
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(format!("a property value that is not a scalar: {v}"));
        }
    }
    let missing = || "the property value builder lost a field".to_owned();
    s.field_builder::<StringBuilder>(0)
        .ok_or_else(missing)?
        .append_option(string);
    s.field_builder::<Int64Builder>(1)
        .ok_or_else(missing)?
        .append_option(integer);
    s.field_builder::<UInt64Builder>(2)
        .ok_or_else(missing)?
        .append_option(unsigned);
    s.field_builder::<Float64Builder>(3)
        .ok_or_else(missing)?
        .append_option(float);
    s.field_builder::<BooleanBuilder>(4)
        .ok_or_else(missing)?
        .append_option(boolean);
    s.append(true);
    Ok(())
}

fn op_name(op: MemoryOpKind) -> &'static str {
    match op {
        MemoryOpKind::Add => "add",
        MemoryOpKind::Update => "update",
        MemoryOpKind::Delete => "delete",
    }
}

fn strategy_name(s: MergeStrategy) -> &'static str {
    match s {
        MergeStrategy::Lww => "lww",
        MergeStrategy::MergeAll => "merge_all",
    }
}

// ----------------------------------------------------------------------
// A record batch back to events.

/// Reads one kind's columns by name, each checked for its type.
struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn get(&self, name: &str) -> Result<&'a ArrayRef, String> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column `{name}`"))
    }
    fn typed<T: Array + 'static>(&self, name: &str, what: &str) -> Result<&'a T, String> {
        let col = self.get(name)?;
        col.as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| format!("column `{name}` is {}, not {what}", col.data_type()))
    }
    fn strings(&self, name: &str) -> Result<&'a StringArray, String> {
        self.typed(name, "a string")
    }
    fn u64s(&self, name: &str) -> Result<&'a UInt64Array, String> {
        self.typed(name, "a UInt64")
    }
    fn u32s(&self, name: &str) -> Result<&'a UInt32Array, String> {
        self.typed(name, "a UInt32")
    }
    fn f64s(&self, name: &str) -> Result<&'a Float64Array, String> {
        self.typed(name, "a Float64")
    }
    fn bools(&self, name: &str) -> Result<&'a BooleanArray, String> {
        self.typed(name, "a Boolean")
    }
    fn ts(&self) -> Result<&'a PrimitiveArray<TimestampMillisecondType>, String> {
        self.typed("ts", "a millisecond timestamp")
    }
}

fn text(a: &StringArray, i: usize) -> String {
    a.value(i).to_owned()
}
fn opt_text(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_owned())
}
fn opt_u32(a: &UInt32Array, i: usize) -> Option<u32> {
    a.is_valid(i).then(|| a.value(i))
}

/// A required column must hold no nulls.
fn no_nulls(name: &str, a: &dyn Array) -> Result<(), String> {
    if a.null_count() > 0 {
        return Err(format!("column `{name}` has nulls, but every event has it"));
    }
    Ok(())
}

/// Decodes a record batch of `kind`'s table into events.
pub fn decode(kind: EventKind, batch: &RecordBatch) -> Result<Vec<StoredEvent>, String> {
    let c = Columns { batch };
    let required = schema(kind);
    for f in required.fields().iter().filter(|f| !f.is_nullable()) {
        no_nulls(f.name(), c.get(f.name())?.as_ref())?;
    }
    let event_id = c.strings("event_id")?;
    let ts = c.ts()?;
    let fps = c.u64s(FINGERPRINT)?;
    let n = batch.num_rows();
    let mut out = Vec::with_capacity(n);
    match kind {
        EventKind::Message => {
            let (conv, session, user) = (
                c.strings("conversation_id")?,
                c.strings("session_id")?,
                c.strings("user_id")?,
            );
            let (seq, role, content, tokens) = (
                c.u64s("seq")?,
                c.strings("role")?,
                c.strings("content")?,
                c.u32s("tokens")?,
            );
            let (provider, model, latency, intent, debate) = (
                c.strings("provider")?,
                c.strings("model")?,
                c.u32s("latency_ms")?,
                c.strings("intent")?,
                c.strings("debate_id")?,
            );
            let entities: &ListArray = c.typed("entities", "a list")?;
            for i in 0..n {
                let role_name = role.value(i);
                let role = Role::NAMES
                    .iter()
                    .find(|(name, _)| *name == role_name)
                    .map(|(_, r)| *r)
                    .ok_or_else(|| format!("row {i}: role `{role_name}` is not a contract role"))?;
                out.push((
                    fps.value(i),
                    Event::Message(Message {
                        event_id: text(event_id, i),
                        ts: ts.value(i),
                        conversation_id: text(conv, i),
                        session_id: text(session, i),
                        user_id: text(user, i),
                        seq: seq.value(i),
                        role,
                        content: text(content, i),
                        tokens: tokens.value(i),
                        provider: opt_text(provider, i),
                        model: opt_text(model, i),
                        latency_ms: opt_u32(latency, i),
                        intent: opt_text(intent, i),
                        debate_id: opt_text(debate, i),
                        entities: decode_mentions(entities, i)?,
                    }),
                ));
            }
        }
        EventKind::Memory => {
            let (op, memory, user, node) = (
                c.strings("op")?,
                c.strings("memory_id")?,
                c.strings("user_id")?,
                c.strings("node_id")?,
            );
            let (lamport, content, strategy) = (
                c.u64s("lamport")?,
                c.strings("content")?,
                c.strings("strategy")?,
            );
            let tags: &ListArray = c.typed("tags", "a list")?;
            for i in 0..n {
                let op = match op.value(i) {
                    "add" => MemoryOpKind::Add,
                    "update" => MemoryOpKind::Update,
                    "delete" => MemoryOpKind::Delete,
                    other => return Err(format!("row {i}: op `{other}` is not a contract op")),
                };
                let strategy = match strategy.value(i) {
                    "lww" => MergeStrategy::Lww,
                    "merge_all" => MergeStrategy::MergeAll,
                    other => {
                        return Err(format!(
                            "row {i}: strategy `{other}` is not a contract strategy"
                        ))
                    }
                };
                let tags = if tags.is_valid(i) {
                    let list = tags.value(i);
                    let list = list
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .ok_or("column `tags` is not a list of strings")?;
                    Some((0..list.len()).map(|j| text(list, j)).collect())
                } else {
                    None
                };
                out.push((
                    fps.value(i),
                    Event::Memory(MemoryOp {
                        event_id: text(event_id, i),
                        ts: ts.value(i),
                        op,
                        memory_id: text(memory, i),
                        user_id: text(user, i),
                        node_id: text(node, i),
                        lamport: lamport.value(i),
                        content: opt_text(content, i),
                        tags,
                        strategy,
                    }),
                ));
            }
        }
        EventKind::Entity => {
            let (entity, name, ekind, conv) = (
                c.strings("entity_id")?,
                c.strings("name")?,
                c.strings("kind")?,
                c.strings("conversation_id")?,
            );
            let props: &MapArray = c.typed("properties", "a map")?;
            for i in 0..n {
                out.push((
                    fps.value(i),
                    Event::Entity(EntityUpdate {
                        event_id: text(event_id, i),
                        ts: ts.value(i),
                        entity_id: text(entity, i),
                        name: text(name, i),
                        kind: text(ekind, i),
                        properties: decode_properties(props, i)?,
                        conversation_id: opt_text(conv, i),
                    }),
                ));
            }
        }
        EventKind::Relationship => {
            let (source, target, rel, weight, conv) = (
                c.strings("source_id")?,
                c.strings("target_id")?,
                c.strings("rel_type")?,
                c.f64s("weight")?,
                c.strings("conversation_id")?,
            );
            for i in 0..n {
                out.push((
                    fps.value(i),
                    Event::Relationship(RelationshipUpdate {
                        event_id: text(event_id, i),
                        ts: ts.value(i),
                        source_id: text(source, i),
                        target_id: text(target, i),
                        rel_type: text(rel, i),
                        weight: weight.value(i),
                        conversation_id: opt_text(conv, i),
                    }),
                ));
            }
        }
        EventKind::ProviderCall => {
            let (provider, model) = (c.strings("provider")?, c.strings("model")?);
            let (latency, tin, tout) = (
                c.u32s("latency_ms")?,
                c.u32s("tokens_in")?,
                c.u32s("tokens_out")?,
            );
            let (cost, success, error) = (
                c.f64s("cost_usd")?,
                c.bools("success")?,
                c.strings("error")?,
            );
            for i in 0..n {
                out.push((
                    fps.value(i),
                    Event::ProviderCall(ProviderCall {
                        event_id: text(event_id, i),
                        ts: ts.value(i),
                        provider: text(provider, i),
                        model: text(model, i),
                        latency_ms: latency.value(i),
                        tokens_in: tin.value(i),
                        tokens_out: tout.value(i),
                        cost_usd: cost.value(i),
                        success: success.value(i),
                        error: opt_text(error, i),
                    }),
                ));
            }
        }
        EventKind::DebateRound => {
            let (debate, conv, provider, model) = (
                c.strings("debate_id")?,
                c.strings("conversation_id")?,
                c.strings("provider")?,
                c.strings("model")?,
            );
            let (round, score, stance, consensus) = (
                c.u32s("round")?,
                c.f64s("score")?,
                c.strings("stance")?,
                c.bools("consensus")?,
            );
            for i in 0..n {
                out.push((
                    fps.value(i),
                    Event::DebateRound(DebateRound {
                        event_id: text(event_id, i),
                        ts: ts.value(i),
                        debate_id: text(debate, i),
                        conversation_id: text(conv, i),
                        provider: text(provider, i),
                        model: text(model, i),
                        round: round.value(i),
                        score: score.value(i),
                        stance: opt_text(stance, i),
                        consensus: consensus.value(i),
                    }),
                ));
            }
        }
    }
    Ok(out)
}

/// Decodes the key columns, `ts` and the fingerprint of a batch (read with
/// only those columns, see [`crate::lake::files::read_keys`]).
pub fn decode_keys(
    kind: EventKind,
    batch: &RecordBatch,
) -> Result<Vec<crate::lake::files::KeyedRow>, String> {
    let c = Columns { batch };
    let (ts, fps) = (c.ts()?, c.u64s(FINGERPRINT)?);
    let n = batch.num_rows();
    if kind == EventKind::Message {
        let (conv, seq) = (c.strings("conversation_id")?, c.u64s("seq")?);
        Ok((0..n)
            .map(|i| {
                (
                    KeyDigest::of_message(conv.value(i), seq.value(i)),
                    ts.value(i),
                    fps.value(i),
                )
            })
            .collect())
    } else {
        let id = c.strings("event_id")?;
        Ok((0..n)
            .map(|i| {
                (
                    KeyDigest::of_event(kind, id.value(i)),
                    ts.value(i),
                    fps.value(i),
                )
            })
            .collect())
    }
}

fn decode_mentions(list: &ListArray, i: usize) -> Result<Vec<EntityMention>, String> {
    let row = list.value(i);
    let s: &StructArray = row
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or("column `entities` is not a list of structs")?;
    let field = |name: &str| {
        s.column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| format!("`entities` entries lack a string `{name}`"))
    };
    let (id, name, kind) = (field("id")?, field("name")?, field("kind")?);
    Ok((0..s.len())
        .map(|j| EntityMention {
            id: text(id, j),
            name: text(name, j),
            kind: text(kind, j),
        })
        .collect())
}

fn decode_properties(map: &MapArray, i: usize) -> Result<Option<Properties>, String> {
    if !map.is_valid(i) {
        return Ok(None);
    }
    let entries = map.value(i);
    let keys = entries
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("`properties` keys are not strings")?;
    let values = entries
        .column(1)
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or("`properties` values are not structs")?;
    let (string, integer, unsigned, float, boolean) = (
        values.column(0).as_string::<i32>(),
        values.column(1).as_primitive::<Int64Type>(),
        values.column(2).as_primitive::<UInt64Type>(),
        values.column(3).as_primitive::<Float64Type>(),
        values.column(4).as_boolean(),
    );
    let mut out = Properties::new();
    for j in 0..keys.len() {
        let value = if string.is_valid(j) {
            serde_json::Value::String(string.value(j).to_owned())
        } else if integer.is_valid(j) {
            integer.value(j).into()
        } else if unsigned.is_valid(j) {
            unsigned.value(j).into()
        } else if float.is_valid(j) {
            serde_json::Number::from_f64(float.value(j))
                .map(serde_json::Value::Number)
                .ok_or_else(|| format!("property `{}` is not a finite number", keys.value(j)))?
        } else if boolean.is_valid(j) {
            serde_json::Value::Bool(boolean.value(j))
        } else {
            serde_json::Value::Null
        };
        out.insert(keys.value(j).to_owned(), value);
    }
    Ok(Some(out))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use helixflow_types::decode::decode_event;

    /// Every shape of every kind: optional fields set and absent, empty
    /// lists, every property type.
    pub(crate) const SAMPLES: [&str; 10] = [
        r#"{"type":"message","event_id":"m1","ts":"2026-01-30T12:00:00.123Z","conversation_id":"c1","session_id":"s1","user_id":"u1","seq":0,"role":"user","content":"hi","tokens":3,"entities":[{"id":"e","name":"n","kind":"k"},{"id":"f","name":"","kind":"k"}]}"#,
        r#"{"type":"message","event_id":"m2","ts":"2026-01-30T12:00:01Z","conversation_id":"c1","session_id":"s1","user_id":"u1","seq":1,"role":"assistant","content":"","tokens":0,"provider":"p","model":"m","latency_ms":12,"intent":"ask","debate_id":"d"}"#,
        r#"{"type":"memory","event_id":"e1","ts":"2026-01-30T12:00:00+05:30","op":"add","memory_id":"m","user_id":"u","node_id":"n","lamport":1,"content":"c","tags":["a","b"],"strategy":"merge_all"}"#,
        r#"{"type":"memory","event_id":"e2","ts":"2026-01-31T00:00:00Z","op":"delete","memory_id":"m","user_id":"u","node_id":"n","lamport":2}"#,
        r#"{"type":"memory","event_id":"e3","ts":"2026-01-31T00:00:00Z","op":"update","memory_id":"m","user_id":"u","node_id":"n","lamport":3,"content":"x","tags":[]}"#,
        r#"{"type":"entity","event_id":"e4","ts":"2026-01-30T12:00:00Z","entity_id":"x","name":"X","kind":"k","properties":{"a":1,"b":"s","c":true,"d":null,"e":1.5e3,"f":-7,"g":18446744073709551615,"h":0.25},"conversation_id":"c1"}"#,
        r#"{"type":"entity","event_id":"e5","ts":"2026-01-30T12:00:00Z","entity_id":"y","name":"Y","kind":"k"}"#,
        r#"{"type":"relationship","event_id":"r1","ts":"2026-01-30T12:00:00Z","source_id":"x","target_id":"y","rel_type":"knows","weight":0.1}"#,
        r#"{"type":"provider_call","event_id":"p1","ts":"2026-01-30T12:00:00Z","provider":"openai","model":"gpt","latency_ms":100,"tokens_in":1,"tokens_out":2,"cost_usd":0.003,"success":false,"error":"timeout"}"#,
        r#"{"type":"debate_round","event_id":"d1","ts":"2026-01-30T12:00:00Z","debate_id":"d","conversation_id":"c1","provider":"p","model":"m","round":2,"score":0.5,"stance":"pro","consensus":true}"#,
    ];

    pub(crate) fn samples() -> Vec<StoredEvent> {
        SAMPLES
            .iter()
            .map(|s| {
                let e = decode_event(s.as_bytes()).expect("sample decodes");
                (e.payload_fingerprint(), e)
            })
            .collect()
    }

    #[test]
    fn every_kind_round_trips_through_a_record_batch_unchanged() {
        let events = samples();
        for kind in EventKind::ALL {
            let mine: Vec<&StoredEvent> = events.iter().filter(|(_, e)| e.kind() == kind).collect();
            assert!(!mine.is_empty(), "a sample of {kind:?}");
            let batch = encode(kind, &mine).expect("encodes");
            assert_eq!(batch.num_rows(), mine.len());
            let back = decode(kind, &batch).expect("decodes");
            for ((fp, e), (fp2, e2)) in mine.iter().zip(&back) {
                assert_eq!(e, e2);
                assert_eq!(fp, fp2);
                assert_eq!(
                    e2.payload_fingerprint(),
                    *fp,
                    "same fingerprint after the trip"
                );
            }
        }
    }

    #[test]
    fn a_batch_of_another_shape_is_refused_with_the_column_named() {
        let events = samples();
        let calls: Vec<&StoredEvent> = events
            .iter()
            .filter(|(_, e)| e.kind() == EventKind::ProviderCall)
            .collect();
        let batch = encode(EventKind::ProviderCall, &calls).expect("encodes");
        let err = decode(EventKind::DebateRound, &batch).expect_err("wrong table");
        assert!(err.contains("no column `debate_id`"), "{err}");
    }
}
