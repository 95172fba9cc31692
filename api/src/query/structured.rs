//! The structured query of `POST /v1/analytics/query` (api.md): filter,
//! group, aggregate, order and limit over one view's rows; never free-form
//! SQL. [`StructuredQuery::parse`] checks every member against the view's
//! fields, in the order the contract lists them, before a row is read;
//! [`StructuredQuery::run`] is a pure function of the rows.

use crate::error::{ApiError, ApiResult};
use crate::extract::{kind_of, JsonObject};
use helixflow_operators::rows::{FieldType, ViewName};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Largest `limit`.
pub const MAX_LIMIT: u64 = 100_000;
/// `limit` when absent.
pub const DEFAULT_LIMIT: u64 = 1000;

/// A comparison of `where`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Prefix,
    Contains,
    In,
}

const OPS: [(&str, Op); 9] = [
    ("eq", Op::Eq),
    ("ne", Op::Ne),
    ("lt", Op::Lt),
    ("le", Op::Le),
    ("gt", Op::Gt),
    ("ge", Op::Ge),
    ("prefix", Op::Prefix),
    ("contains", Op::Contains),
    ("in", Op::In),
];

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

const FUNCS: [(&str, Func); 5] = [
    ("count", Func::Count),
    ("sum", Func::Sum),
    ("min", Func::Min),
    ("max", Func::Max),
    ("avg", Func::Avg),
];

/// One test of `where`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub field: String,
    pub op: Op,
    pub value: Value,
}

/// One aggregate: its function, its field (none for `count`), its name.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub func: Func,
    pub field: Option<(String, FieldType)>,
    pub name: String,
}

/// One key of `order_by`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderKey {
    pub field: String,
    pub desc: bool,
}

/// A checked query.
#[derive(Clone, Debug, PartialEq)]
pub struct StructuredQuery {
    pub view: ViewName,
    pub filters: Vec<Filter>,
    pub group_by: Vec<String>,
    pub aggregates: Vec<Aggregate>,
    pub order_by: Vec<OrderKey>,
    pub limit: usize,
}

fn names<T>(table: &[(&str, T)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// The value matches the field's type (for `eq`, `ne`, `in` and ordering).
fn value_fits(t: FieldType, v: &Value) -> bool {
    match t {
        FieldType::Str | FieldType::Time => v.is_string(),
        FieldType::Int | FieldType::Float => v.is_number(),
        FieldType::Bool => v.is_boolean(),
        _ => false,
    }
}

fn object<'a>(
    item: &'a Value,
    param: &str,
    at: &str,
    shape: &str,
) -> ApiResult<&'a Map<String, Value>> {
    item.as_object().ok_or_else(|| {
        ApiError::bad(
            param,
            format!("{at} must be an object {shape}, got {}", kind_of(item)),
        )
    })
}

/// A member of an entry (`null` is absent).
fn member<'a>(entry: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    entry.get(name).filter(|v| !v.is_null())
}

fn string_member<'a>(
    entry: &'a Map<String, Value>,
    name: &str,
    param: &str,
    at: &str,
) -> ApiResult<Option<&'a str>> {
    match member(entry, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad(
            param,
            format!("{at}.{name} must be a string, got {}", kind_of(other)),
        )),
    }
}

impl StructuredQuery {
    /// Checks a request body: `view`, `where`, `group_by`, `aggregates`,
    /// `order_by`, `limit`, in that order; each problem is `bad_<member>`.
    pub fn parse(body: &JsonObject) -> ApiResult<StructuredQuery> {
        let name = body.required_string("view")?;
        let view = ViewName::parse(name).ok_or_else(|| {
            let all: Vec<&str> = ViewName::ALL.iter().map(|v| v.as_str()).collect();
            ApiError::bad(
                "view",
                format!("no view {name:?}; views: {}", all.join(", ")),
            )
        })?;
        let filters = body
            .array("where")?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, w)| parse_filter(view, &format!("where[{i}]"), w))
            .collect::<ApiResult<Vec<_>>>()?;
        let group_by = parse_group_by(view, body)?;
        let aggregates = body
            .array("aggregates")?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, a)| parse_aggregate(view, &format!("aggregates[{i}]"), a))
            .collect::<ApiResult<Vec<_>>>()?;
        for (i, a) in aggregates.iter().enumerate() {
            if aggregates[..i].iter().any(|b| b.name == a.name) || group_by.contains(&a.name) {
                return Err(ApiError::bad(
                    "aggregates",
                    format!(
                        "aggregates[{i}].as {:?} is not unique among the aggregates and group_by fields",
                        a.name
                    ),
                ));
            }
        }
        let grouped = !group_by.is_empty() || !aggregates.is_empty();
        let order_by = body
            .array("order_by")?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let at = format!("order_by[{i}]");
                let o = object(o, "order_by", &at, "{field, desc}")?;
                let field = string_member(o, "field", "order_by", &at)?
                    .ok_or_else(|| ApiError::bad("order_by", format!("{at}.field is required")))?;
                let known = if grouped {
                    group_by.iter().any(|g| g == field)
                        || aggregates.iter().any(|a| a.name == field)
                } else {
                    view.field(field).is_some_and(FieldType::is_scalar)
                };
                if !known {
                    let what = if grouped {
                        "a group_by field or an aggregate's `as`".to_owned()
                    } else {
                        format!("a scalar field of {view}")
                    };
                    return Err(ApiError::bad(
                        "order_by",
                        format!("{at}.field {field:?} is not {what}"),
                    ));
                }
                let desc = match member(o, "desc") {
                    None => false,
                    Some(Value::Bool(d)) => *d,
                    Some(other) => {
                        return Err(ApiError::bad(
                            "order_by",
                            format!("{at}.desc must be a boolean, got {}", kind_of(other)),
                        ))
                    }
                };
                Ok(OrderKey {
                    field: field.to_owned(),
                    desc,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let limit = body.int("limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT) as usize;
        Ok(StructuredQuery {
            view,
            filters,
            group_by,
            aggregates,
            order_by,
            limit,
        })
    }
}

fn parse_filter(view: ViewName, at: &str, item: &Value) -> ApiResult<Filter> {
    let bad = |why: String| ApiError::bad("where", format!("{at}: {why}"));
    let w = object(item, "where", at, "{field, op, value}")?;
    let field =
        string_member(w, "field", "where", at)?.ok_or_else(|| bad("`field` is required".into()))?;
    let t = view
        .field(field)
        .ok_or_else(|| bad(format!("{field:?} is not a field of {view}")))?;
    let op_name =
        string_member(w, "op", "where", at)?.ok_or_else(|| bad("`op` is required".into()))?;
    let op = OPS
        .iter()
        .find(|(n, _)| *n == op_name)
        .map(|(_, o)| *o)
        .ok_or_else(|| bad(format!("op {op_name:?} is not one of {}", names(&OPS))))?;
    let value = member(w, "value").ok_or_else(|| bad("`value` is required".into()))?;
    let fits = match op {
        Op::Eq | Op::Ne => value_fits(t, value),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => t != FieldType::Bool && value_fits(t, value),
        Op::Prefix => matches!(t, FieldType::Str | FieldType::Time) && value.is_string(),
        Op::Contains => match t {
            FieldType::Str | FieldType::Time | FieldType::Strs => value.is_string(),
            FieldType::Tuple => value.is_string() || value.is_number(),
            _ => false,
        },
        Op::In => value
            .as_array()
            .is_some_and(|items| items.iter().all(|i| value_fits(t, i))),
    };
    if !fits {
        return Err(bad(format!(
            "{op_name} cannot compare {view}.{field} ({}) with {value}",
            type_name(t)
        )));
    }
    Ok(Filter {
        field: field.to_owned(),
        op,
        value: value.clone(),
    })
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Str => "a string",
        FieldType::Time => "a timestamp string",
        FieldType::Int => "an integer",
        FieldType::Float => "a number",
        FieldType::Bool => "a boolean",
        FieldType::Strs => "an array of strings",
        FieldType::Tuple => "an array",
        FieldType::Object => "an object",
    }
}

fn parse_group_by(view: ViewName, body: &JsonObject) -> ApiResult<Vec<String>> {
    let Some(items) = body.array("group_by")? else {
        return Ok(Vec::new());
    };
    let mut fields: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let bad = |why: String| ApiError::bad("group_by", format!("group_by[{i}]: {why}"));
        let field = item
            .as_str()
            .ok_or_else(|| bad(format!("must be a field name, got {}", kind_of(item))))?;
        match view.field(field) {
            None => return Err(bad(format!("{field:?} is not a field of {view}"))),
            Some(t) if !t.is_scalar() => {
                return Err(bad(format!(
                    "{view}.{field} is {}: only scalar fields group",
                    type_name(t)
                )))
            }
            Some(_) if fields.iter().any(|f| f == field) => {
                return Err(bad(format!("{field:?} is listed twice")))
            }
            Some(_) => fields.push(field.to_owned()),
        }
    }
    Ok(fields)
}

fn parse_aggregate(view: ViewName, at: &str, item: &Value) -> ApiResult<Aggregate> {
    let bad = |why: String| ApiError::bad("aggregates", format!("{at}: {why}"));
    let a = object(item, "aggregates", at, "{fn, field, as}")?;
    let fn_name =
        string_member(a, "fn", "aggregates", at)?.ok_or_else(|| bad("`fn` is required".into()))?;
    let func = FUNCS
        .iter()
        .find(|(n, _)| *n == fn_name)
        .map(|(_, f)| *f)
        .ok_or_else(|| bad(format!("fn {fn_name:?} is not one of {}", names(&FUNCS))))?;
    let field = string_member(a, "field", "aggregates", at)?;
    let field = match (func, field) {
        (Func::Count, None) => None,
        (Func::Count, Some(_)) => return Err(bad("count takes no `field`".into())),
        (_, None) => return Err(bad(format!("{fn_name} needs a `field`"))),
        (_, Some(f)) => {
            let t = view
                .field(f)
                .ok_or_else(|| bad(format!("{f:?} is not a field of {view}")))?;
            let numeric = matches!(t, FieldType::Int | FieldType::Float);
            let ordered = numeric || matches!(t, FieldType::Str | FieldType::Time);
            let fits = match func {
                Func::Sum | Func::Avg => numeric,
                _ => ordered,
            };
            if !fits {
                return Err(bad(format!(
                    "{fn_name} cannot take {view}.{f} ({})",
                    type_name(t)
                )));
            }
            Some((f.to_owned(), t))
        }
    };
    let name = string_member(a, "as", "aggregates", at)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("`as` (the output name) is required".into()))?;
    Ok(Aggregate {
        func,
        field,
        name: name.to_owned(),
    })
}

/// Orders scalar values: numbers as numbers, strings by bytes, `false`
/// before `true`, `null` (or absent) after everything.
pub fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Value::Number(x)), Some(Value::Number(y))) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => Ordering::Equal,
        },
        (Some(Value::String(x)), Some(Value::String(y))) => x.as_bytes().cmp(y.as_bytes()),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Equal as the query compares: numbers as numbers, anything else exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare(Some(a), Some(b)).is_eq(),
        _ => a == b,
    }
}

impl Filter {
    /// Whether `row` passes (a `null` or absent field passes `ne` only).
    pub fn holds(&self, row: &Value) -> bool {
        let Some(v) = row.get(&self.field).filter(|v| !v.is_null()) else {
            return self.op == Op::Ne;
        };
        let order = || compare(Some(v), Some(&self.value));
        match self.op {
            Op::Eq => same(v, &self.value),
            Op::Ne => !same(v, &self.value),
            Op::Lt => order().is_lt(),
            Op::Le => order().is_le(),
            Op::Gt => order().is_gt(),
            Op::Ge => order().is_ge(),
            Op::Prefix => match (v.as_str(), self.value.as_str()) {
                (Some(s), Some(p)) => s.as_bytes().starts_with(p.as_bytes()),
                _ => false,
            },
            Op::Contains => match v {
                Value::String(s) => self.value.as_str().is_some_and(|p| s.contains(p)),
                Value::Array(items) => items.iter().any(|i| same(i, &self.value)),
                _ => false,
            },
            Op::In => self
                .value
                .as_array()
                .is_some_and(|items| items.iter().any(|i| same(v, i))),
        }
    }
}

impl Aggregate {
    /// The aggregate over a group's rows.
    fn over(&self, rows: &[&Value]) -> Value {
        let Some((field, t)) = &self.field else {
            return rows.len().into();
        };
        let values: Vec<&Value> = rows
            .iter()
            .filter_map(|r| r.get(field).filter(|v| !v.is_null()))
            .collect();
        match self.func {
            Func::Count => rows.len().into(),
            Func::Sum if *t == FieldType::Int => {
                let sum: i128 = values
                    .iter()
                    .filter_map(|v| v.as_i64().map(i128::from).or(v.as_u64().map(i128::from)))
                    .sum();
                u64::try_from(sum)
                    .map(Value::from)
                    .or_else(|_| i64::try_from(sum).map(Value::from))
                    .unwrap_or_else(|_| Value::from(sum as f64))
            }
            Func::Sum => values.iter().filter_map(|v| v.as_f64()).sum::<f64>().into(),
            Func::Avg if values.is_empty() => Value::Null,
            Func::Avg => {
                let sum: f64 = values.iter().filter_map(|v| v.as_f64()).sum();
                (sum / values.len() as f64).into()
            }
            Func::Min => values
                .iter()
                .min_by(|a, b| compare(Some(a), Some(b)))
                .map_or(Value::Null, |v| (*v).clone()),
            Func::Max => values
                .iter()
                .max_by(|a, b| compare(Some(a), Some(b)))
                .map_or(Value::Null, |v| (*v).clone()),
        }
    }
}

impl StructuredQuery {
    /// The answer's rows from the view's rows (given in key order).
    pub fn run(&self, rows: Vec<Value>) -> Vec<Value> {
        let matching: Vec<Value> = rows
            .into_iter()
            .filter(|r| self.filters.iter().all(|f| f.holds(r)))
            .collect();
        let mut out = if self.group_by.is_empty() && self.aggregates.is_empty() {
            matching
        } else {
            self.groups(&matching)
        };
        // Stable: ties keep the key (or group) order.
        out.sort_by(|a, b| {
            self.order_by
                .iter()
                .map(|k| {
                    let o = compare(a.get(&k.field), b.get(&k.field));
                    if k.desc {
                        o.reverse()
                    } else {
                        o
                    }
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        out.truncate(self.limit);
        out
    }

    /// One row per distinct group tuple (one in all without `group_by`),
    /// in tuple order: the group fields, then the aggregates.
    fn groups(&self, rows: &[Value]) -> Vec<Value> {
        let tuple = |r: &Value| -> Vec<Value> {
            self.group_by
                .iter()
                .map(|f| r.get(f).cloned().unwrap_or(Value::Null))
                .collect()
        };
        let order = |a: &Vec<Value>, b: &Vec<Value>| {
            a.iter()
                .zip(b)
                .map(|(x, y)| compare(Some(x), Some(y)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        let mut keyed: Vec<(Vec<Value>, &Value)> = rows.iter().map(|r| (tuple(r), r)).collect();
        keyed.sort_by(|a, b| order(&a.0, &b.0));
        let mut groups: Vec<(Vec<Value>, Vec<&Value>)> = Vec::new();
        for (t, r) in keyed {
            match groups.last_mut() {
                Some((last, members)) if order(last, &t).is_eq() => members.push(r),
                _ => groups.push((t, vec![r])),
            }
        }
        if groups.is_empty() && self.group_by.is_empty() {
            groups.push((Vec::new(), Vec::new()));
        }
        groups
            .into_iter()
            .map(|(t, members)| {
                let mut row = Map::new();
                for (f, v) in self.group_by.iter().zip(t) {
                    row.insert(f.clone(), v);
                }
                for a in &self.aggregates {
                    row.insert(a.name.clone(), a.over(&members));
                }
                Value::Object(row)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
