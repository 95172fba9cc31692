//! Request parsing shared by every handler, with the contract's error codes:
//! query strings ([`Params`]: unknown names are `unknown_parameter`,
//! integers are decimal digits), JSON bodies ([`JsonObject`]: not an object
//! is `bad_body`, `null` is absent, integers must be JSON integers, unknown
//! members are ignored) and raw path segments ([`segment`]: percent-decoded
//! here, so that an encoded `/` stays inside its segment).

use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

/// The largest integer a parameter takes: the OpenAPI document's int64
/// (larger ones are refused as out of range).
pub const MAX_INT: u64 = i64::MAX as u64;

/// Largest request body accepted (larger: 413 `body_too_large`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A query string, checked against the names a route takes.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `query`; a name not in `allowed` is `unknown_parameter`, a
    /// name given twice is `bad_{name}`.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> ApiResult<Params> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                let takes = if allowed.is_empty() {
                    "this route takes no query parameters".to_owned()
                } else {
                    format!("this route takes {}", allowed.join(", "))
                };
                return Err(ApiError::unknown_parameter(format!(
                    "unknown query parameter {k:?}; {takes}"
                )));
            }
            if pairs.iter().any(|(name, _)| *name == k) {
                return Err(ApiError::bad(&k, format!("{k} is given more than once")));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params { pairs })
    }

    /// The raw value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` as a whole number in `min..=max` (decimal digits only), or
    /// `default` when absent.
    pub fn int(&self, name: &str, min: u64, max: u64, default: u64) -> ApiResult<u64> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        let n = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<u64>().ok())
            .flatten()
            .filter(|n| (min..=max).contains(n));
        n.ok_or_else(|| {
            ApiError::bad(
                name,
                format!("{name}={v:?} is not a whole number from {min} to {max}"),
            )
        })
    }
}

/// Percent-decodes one raw path segment (`bad_{param}` when it is not
/// percent-encoded UTF-8).
pub fn segment(raw: &str, param: &str) -> ApiResult<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            ApiError::bad(
                param,
                format!("path segment {raw:?} is not percent-encoded UTF-8"),
            )
        })
}

/// The raw (still percent-encoded) segments of a path after `prefix`
/// segments.
pub fn raw_segments(path: &str, prefix: usize) -> Vec<&str> {
    path.trim_start_matches('/')
        .split('/')
        .skip(prefix)
        .collect()
}

/// A request body that is a JSON object (or absent, as an empty object).
#[derive(Debug, Default)]
pub struct JsonObject {
    members: Map<String, Value>,
    /// False when the request had no body at all.
    pub present: bool,
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status().as_u16() == 413 {
                ApiError::new(
                    413,
                    "body_too_large",
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(
                    400,
                    "bad_body",
                    format!("the request body could not be read: {e}"),
                )
            }
        })?;
        JsonObject::parse(&bytes)
    }
}

impl JsonObject {
    /// Parses a body: empty is an absent body; anything else must be a JSON object.
    pub fn parse(bytes: &[u8]) -> ApiResult<JsonObject> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject::default());
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(members)) => Ok(JsonObject {
                members,
                present: true,
            }),
            Ok(other) => Err(ApiError::new(
                400,
                "bad_body",
                format!("the body must be a JSON object, got {}", kind_of(&other)),
            )),
            Err(e) => Err(ApiError::new(
                400,
                "bad_body",
                format!("the body is not valid JSON: {e}"),
            )),
        }
    }

    /// Fails with `bad_body` when the request had no body.
    pub fn required(self) -> ApiResult<JsonObject> {
        if self.present {
            Ok(self)
        } else {
            Err(ApiError::new(
                400,
                "bad_body",
                "this route needs a JSON object body",
            ))
        }
    }

    /// A member's value (`null` is absent).
    pub fn member(&self, name: &str) -> Option<&Value> {
        self.members.get(name).filter(|v| !v.is_null())
    }

    /// An optional array member.
    pub fn array(&self, name: &str) -> ApiResult<Option<&[Value]>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(ApiError::bad(
                name,
                format!("`{name}` must be an array, got {}", kind_of(other)),
            )),
        }
    }

    /// An optional string member.
    pub fn string(&self, name: &str) -> ApiResult<Option<&str>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::bad(
                name,
                format!("`{name}` must be a string, got {}", kind_of(other)),
            )),
        }
    }

    /// A required string member.
    pub fn required_string(&self, name: &str) -> ApiResult<&str> {
        self.string(name)?
            .ok_or_else(|| ApiError::bad(name, format!("`{name}` is required (a string)")))
    }

    /// An optional string member that must be one of `allowed`.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> ApiResult<Option<&str>> {
        match self.string(name)? {
            Some(s) if !allowed.contains(&s) => Err(ApiError::bad(
                name,
                format!(
                    "`{name}` is {s:?}; it must be one of {}",
                    allowed.join(", ")
                ),
            )),
            other => Ok(other),
        }
    }

    /// An optional JSON-integer member in `min..=max` (`3.0` is refused).
    pub fn int(&self, name: &str, min: u64, max: u64) -> ApiResult<Option<u64>> {
        let Some(v) = self.member(name) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) if n.is_u64() || n.is_i64() => n.as_u64(),
            _ => {
                return Err(ApiError::bad(
                    name,
                    format!("`{name}` must be a JSON integer, got {v}"),
                ))
            }
        };
        match n.filter(|n| (min..=max).contains(n)) {
            Some(n) => Ok(Some(n)),
            None => Err(ApiError::bad(
                name,
                format!("`{name}` is {v}; it must be from {min} to {max}"),
            )),
        }
    }

    /// An optional array of strings.
    pub fn strings(&self, name: &str) -> ApiResult<Option<Vec<String>>> {
        let Some(v) = self.member(name) else {
            return Ok(None);
        };
        let bad = || {
            ApiError::bad(
                name,
                format!("`{name}` must be an array of strings, got {v}"),
            )
        };
        let Value::Array(items) = v else {
            return Err(bad());
        };
        items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }
}

/// How an error message names a value's JSON type.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_name_the_bad_parameter() {
        let p = Params::parse(Some("limit=5"), &["limit"]).unwrap();
        assert_eq!(p.int("limit", 1, 10, 20).unwrap(), 5);
        for (q, code) in [
            ("limit=0", "bad_limit"),
            ("limit=11", "bad_limit"),
            ("limit=+5", "bad_limit"),
            ("limit=5.0", "bad_limit"),
            ("limit=", "bad_limit"),
            ("limit=1&limit=2", "bad_limit"),
            ("page=2", "unknown_parameter"),
        ] {
            let e = Params::parse(Some(q), &["limit"])
                .and_then(|p| p.int("limit", 1, 10, 20))
                .unwrap_err();
            assert_eq!(e.code, code, "{q}");
        }
        assert_eq!(
            Params::parse(None, &["limit"])
                .unwrap()
                .int("limit", 1, 10, 20)
                .unwrap(),
            20
        );
    }

    #[test]
    fn bodies_are_objects_with_typed_members() {
        assert_eq!(JsonObject::parse(b"[1]").unwrap_err().code, "bad_body");
        assert_eq!(JsonObject::parse(b"{").unwrap_err().code, "bad_body");
        assert!(!JsonObject::parse(b"  ").unwrap().present);
        let b = JsonObject::parse(
            br#"{"n": 3, "f": 3.0, "z": null, "s": "x", "neg": -1, "a": ["p", 1]}"#,
        )
        .unwrap();
        assert_eq!(b.int("n", 1, 5).unwrap(), Some(3));
        assert_eq!(b.int("f", 1, 5).unwrap_err().code, "bad_f");
        assert_eq!(b.int("neg", 1, 5).unwrap_err().code, "bad_neg");
        assert_eq!(b.int("n", 4, 5).unwrap_err().code, "bad_n");
        assert_eq!(b.int("z", 1, 5).unwrap(), None);
        assert_eq!(b.string("z").unwrap(), None);
        assert_eq!(b.required_string("z").unwrap_err().code, "bad_z");
        assert_eq!(b.string("n").unwrap_err().code, "bad_n");
        assert_eq!(b.one_of("s", &["y"]).unwrap_err().code, "bad_s");
        assert_eq!(b.strings("a").unwrap_err().code, "bad_a");
        assert_eq!(b.strings("missing").unwrap(), None);
    }
}
