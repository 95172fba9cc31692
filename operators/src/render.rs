//! Rendering a view's rows as the contract's JSON lines: ids resolved to
//! strings, rows sorted by the view's key fields in UTF-8 byte order, and
//! optionally paged (`after` a key, at most `limit` rows) or cut to one key.

use crate::debate_stats::DebateRow;
use crate::entity_directory::DirectoryRow;
use crate::intern::{Id, Interner};
use crate::memory_state::MemoryRow;
use crate::rows::ViewPart;
use helixflow_types::timestamp::{format_hour, write_millis};
use std::cmp::Ordering;
use std::io::{self, Write};

/// Which rows of a view to write.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only rows whose key is greater than this one.
    pub after: Option<Vec<String>>,
    /// At most this many rows.
    pub limit: Option<usize>,
    /// Only the row with exactly this key.
    pub key: Option<Vec<String>>,
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Rows written.
    pub rows: usize,
    /// Key of the last row written.
    pub last_key: Option<Vec<String>>,
    /// True if `limit` cut rows off (another page follows).
    pub more: bool,
}

/// One JSON object being written, fields in order.
struct Line {
    buf: String,
}

impl Line {
    fn new() -> Self {
        Line {
            buf: String::from("{"),
        }
    }
    fn key(&mut self, k: &str) {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        push_json_str(&mut self.buf, k);
        self.buf.push(':');
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        push_json_str(&mut self.buf, v);
        self
    }
    fn u64(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        self.buf.push_str(itoa::Buffer::new().format(v));
        self
    }
    fn f64(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        push_f64(&mut self.buf, v);
        self
    }
    fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
        self
    }
    fn ts(&mut self, k: &str, ms: i64) -> &mut Self {
        self.key(k);
        self.buf.push('"');
        write_millis(ms, &mut self.buf);
        self.buf.push('"');
        self
    }
    fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.buf.push_str(json);
        self
    }
    fn strs<'a>(&mut self, k: &str, items: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.key(k);
        self.buf.push('[');
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            push_json_str(&mut self.buf, s);
        }
        self.buf.push(']');
        self
    }
    fn finish(mut self) -> String {
        self.buf.push_str("}\n");
        self.buf
    }
}

/// Appends `s` as a JSON string. Identifiers rarely need escaping, so the
/// common case is a plain copy; otherwise serde_json escapes it.
fn push_json_str(buf: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.push('"');
        buf.push_str(s);
        buf.push('"');
    } else {
        // Writing to a String cannot fail.
        let _ = serde_json::to_writer(string_writer(buf), s);
    }
}

fn push_f64(buf: &mut String, v: f64) {
    match serde_json::Number::from_f64(v) {
        Some(n) => buf.push_str(&n.to_string()),
        None => buf.push_str("null"),
    }
}

/// Adapts a `String` to `io::Write` for serde_json (it only writes UTF-8).
fn string_writer(buf: &mut String) -> StringWriter<'_> {
    StringWriter(buf)
}

struct StringWriter<'a>(&'a mut String);

impl io::Write for StringWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let s = std::str::from_utf8(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.0.push_str(s);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn cmp_key<S: AsRef<str>>(a: &[&str], b: &[S]) -> Ordering {
    a.iter()
        .map(|s| s.as_bytes())
        .cmp(b.iter().map(|s| s.as_ref().as_bytes()))
}

/// Sorts keyed rows by their string keys and writes the selected ones.
fn write_keyed<'r, R>(
    mut rows: Vec<(Vec<&'r str>, R)>,
    sel: &Selection,
    out: &mut dyn Write,
    line: impl Fn(&[&'r str], &R) -> String,
) -> io::Result<Rendered> {
    rows.sort_unstable_by(|a, b| cmp_key(&a.0, &b.0));
    let start = match (&sel.key, &sel.after) {
        (Some(k), _) => rows.partition_point(|r| cmp_key(&r.0, k) == Ordering::Less),
        (None, Some(after)) => rows.partition_point(|r| cmp_key(&r.0, after) != Ordering::Greater),
        (None, None) => 0,
    };
    let mut rendered = Rendered::default();
    for (i, (key, row)) in rows.iter().enumerate().skip(start) {
        if let Some(k) = &sel.key {
            if cmp_key(key, k) != Ordering::Equal {
                break;
            }
        }
        if sel.limit.is_some_and(|l| rendered.rows >= l) {
            rendered.more = i < rows.len();
            break;
        }
        out.write_all(line(key, row).as_bytes())?;
        rendered.rows += 1;
        rendered.last_key = Some(key.iter().map(|s| s.to_string()).collect());
    }
    Ok(rendered)
}

/// A `memory_state` row's `version` as the contract writes it: `[lamport, node_id]`.
pub fn memory_version_json(row: &MemoryRow) -> String {
    let mut version = String::from("[");
    version.push_str(&row.lamport.to_string());
    version.push(',');
    push_json_str(&mut version, &row.node);
    version.push(']');
    version
}

/// A `debate_stats` row's `mean_score` object as the contract writes it.
pub fn mean_score_json(row: &DebateRow) -> String {
    let mut means = String::from("{");
    for (i, (p, m)) in row.mean_score.iter().enumerate() {
        if i > 0 {
            means.push(',');
        }
        push_json_str(&mut means, p);
        means.push(':');
        push_f64(&mut means, m.0);
    }
    means.push('}');
    means
}

/// Writes the selected rows of `part` as sorted JSON lines (consuming it, so
/// that large views are sorted in place).
pub fn render(
    part: ViewPart,
    ids: &Interner,
    sel: &Selection,
    out: &mut dyn Write,
) -> io::Result<Rendered> {
    let r = |id: Id| ids.resolve(id);
    let part = match part {
        ViewPart::Cooccurrence(pairs) => return render_pairs(pairs, ids, sel, out),
        other => other,
    };
    match &part {
        ViewPart::Conversations(rows) => write_keyed(
            rows.iter().map(|(k, row)| (vec![r(*k)], row)).collect(),
            sel,
            out,
            |key, row| {
                let mut providers: Vec<&str> = row.providers.iter().map(|p| r(*p)).collect();
                providers.sort_unstable();
                let mut l = Line::new();
                l.str("conversation_id", key[0])
                    .str("user_id", r(row.user))
                    .str("session_id", r(row.session))
                    .u64("message_count", row.message_count)
                    .u64("user_messages", row.user_messages)
                    .u64("assistant_messages", row.assistant_messages)
                    .u64("total_tokens", row.total_tokens)
                    .ts("first_ts", row.first_ts)
                    .ts("last_ts", row.last_ts)
                    .u64("last_seq", row.last_seq)
                    .strs("providers", providers)
                    .u64("entity_count", row.entity_count);
                l.finish()
            },
        ),
        // Handled above.
        ViewPart::Cooccurrence(_) => Ok(Rendered::default()),
        ViewPart::ProviderStats(rows) => {
            let hours: Vec<String> = rows.iter().map(|((_, _, h), _)| format_hour(*h)).collect();
            write_keyed(
                rows.iter()
                    .zip(&hours)
                    .map(|(((p, m, _), row), h)| (vec![r(*p), r(*m), h.as_str()], row))
                    .collect(),
                sel,
                out,
                |key, row| {
                    let mut l = Line::new();
                    l.str("provider", key[0])
                        .str("model", key[1])
                        .str("hour", key[2])
                        .u64("calls", row.calls)
                        .u64("errors", row.errors)
                        .u64("tokens_in", row.tokens_in)
                        .u64("tokens_out", row.tokens_out)
                        .f64("cost_usd", row.cost_usd.0)
                        .u64("latency_p50", row.latency_p50.into())
                        .u64("latency_p95", row.latency_p95.into())
                        .u64("latency_p99", row.latency_p99.into())
                        .f64("latency_avg", row.latency_avg.0);
                    l.finish()
                },
            )
        }
        ViewPart::Memory(rows) => write_keyed(
            rows.iter().map(|(k, row)| (vec![r(*k)], row)).collect(),
            sel,
            out,
            |key, row| {
                let version = memory_version_json(row);
                let mut l = Line::new();
                l.str("memory_id", key[0])
                    .str("content", &row.content)
                    .str("user_id", r(row.user))
                    .strs("tags", row.tags.iter().map(String::as_str))
                    .raw("version", &version);
                l.finish()
            },
        ),
        ViewPart::Debates(rows) => write_keyed(
            rows.iter().map(|(k, row)| (vec![r(*k)], row)).collect(),
            sel,
            out,
            |key, row| {
                let means = mean_score_json(row);
                let mut l = Line::new();
                l.str("debate_id", key[0])
                    .u64("rounds", row.rounds.into())
                    .strs("participants", row.participants.iter().map(String::as_str))
                    .raw("mean_score", &means)
                    .str("leader", &row.leader)
                    .bool("consensus", row.consensus);
                l.finish()
            },
        ),
        ViewPart::Entities(rows) => write_keyed(
            rows.iter().map(|(k, row)| (vec![r(*k)], row)).collect(),
            sel,
            out,
            |key, e| {
                let mut l = Line::new();
                l.str("entity_id", key[0])
                    .str("name", &e.name)
                    .str("kind", &e.kind);
                if let Some(p) = &e.properties {
                    l.raw("properties", p);
                }
                if let Some(c) = e.conversation {
                    l.str("conversation_id", r(c));
                }
                l.ts("ts", e.ts).str("event_id", &e.event_id);
                l.finish()
            },
        ),
        ViewPart::Directory(rows) => write_keyed(
            rows.iter().map(|(k, row)| (vec![r(*k)], row)).collect(),
            sel,
            out,
            |key, row| directory_line(key[0], row, ids),
        ),
        ViewPart::Intents(rows) => write_keyed(
            rows.iter()
                .map(|((u, i), row)| (vec![r(*u), r(*i)], row))
                .collect(),
            sel,
            out,
            |key, row| {
                let mut l = Line::new();
                l.str("user_id", key[0])
                    .str("intent", key[1])
                    .u64("messages", row.messages)
                    .u64("conversations", row.conversations)
                    .u64("sessions", row.sessions)
                    .ts("first_ts", row.first_ts)
                    .ts("last_ts", row.last_ts);
                l.finish()
            },
        ),
        ViewPart::Preferences(rows) => write_keyed(
            rows.iter()
                .map(|((u, p), row)| (vec![r(*u), r(*p)], row))
                .collect(),
            sel,
            out,
            |key, row| {
                let mut l = Line::new();
                l.str("user_id", key[0])
                    .str("provider", key[1])
                    .u64("messages", row.messages)
                    .u64("tokens", row.tokens)
                    .u64("conversations", row.conversations)
                    .f64("share", row.share.0);
                l.finish()
            },
        ),
        ViewPart::Flow(rows) => write_keyed(
            rows.iter()
                .map(|((from, to), row)| (vec![from.name(), to.name()], row))
                .collect(),
            sel,
            out,
            |key, row| {
                let mut l = Line::new();
                l.str("from_role", key[0])
                    .str("to_role", key[1])
                    .u64("transitions", row.transitions)
                    .u64("conversations", row.conversations);
                l.finish()
            },
        ),
        ViewPart::Strategies(rows) => write_keyed(
            rows.iter().map(|(k, row)| (vec![r(*k)], row)).collect(),
            sel,
            out,
            |key, row| {
                let mut l = Line::new();
                l.str("stance", key[0])
                    .u64("rounds", row.rounds)
                    .u64("debates", row.debates)
                    .f64("mean_score", row.mean_score.0)
                    .strs("providers", row.providers.iter().map(String::as_str))
                    .u64("led", row.led)
                    .u64("consensus_debates", row.consensus_debates);
                l.finish()
            },
        ),
        ViewPart::Performance(rows) => write_keyed(
            rows.iter()
                .map(|((p, m), row)| (vec![r(*p), r(*m)], row))
                .collect(),
            sel,
            out,
            |key, row| {
                let mut l = Line::new();
                l.str("provider", key[0])
                    .str("model", key[1])
                    .u64("calls", row.calls)
                    .u64("errors", row.errors)
                    .f64("error_rate", row.error_rate.0)
                    .u64("tokens_in", row.tokens_in)
                    .u64("tokens_out", row.tokens_out)
                    .f64("cost_usd", row.cost_usd.0)
                    .u64("latency_p50", row.latency_p50.into())
                    .u64("latency_p95", row.latency_p95.into())
                    .u64("latency_p99", row.latency_p99.into())
                    .f64("latency_avg", row.latency_avg.0);
                match row.cost_per_1k_tokens {
                    Some(c) => l.f64("cost_per_1k_tokens", c.0),
                    None => l.raw("cost_per_1k_tokens", "null"),
                };
                l.finish()
            },
        ),
        ViewPart::Relationships(rows) => write_keyed(
            rows.iter()
                .map(|((s, t, ty), row)| (vec![r(*s), r(*t), r(*ty)], row))
                .collect(),
            sel,
            out,
            |key, e| {
                let mut l = Line::new();
                l.str("source_id", key[0])
                    .str("target_id", key[1])
                    .str("rel_type", key[2])
                    .f64("weight", e.weight.0);
                if let Some(c) = e.conversation {
                    l.str("conversation_id", r(c));
                }
                l.ts("ts", e.ts).str("event_id", &e.event_id);
                l.finish()
            },
        ),
    }
}

/// One `entity_directory` row as the contract writes it (`null` for an
/// absent name or kind).
pub fn directory_line(id: &str, row: &DirectoryRow, ids: &Interner) -> String {
    let mut l = Line::new();
    l.str("id", id);
    match row.name {
        Some(n) => l.str("name", ids.resolve(n)),
        None => l.raw("name", "null"),
    };
    match row.kind {
        Some(k) => l.str("kind", ids.resolve(k)),
        None => l.raw("kind", "null"),
    };
    l.u64("conversations", row.conversations)
        .u64("mentions", row.mentions)
        .u64("relationships", row.relationships);
    l.finish()
}

/// Co-occurrence pairs can number tens of millions: rather than building a
/// string key per row, entity ids are ranked by their string once and pairs
/// sorted by a packed `u64` of ranks.
fn render_pairs(
    pairs: Vec<((Id, Id), crate::Diff)>,
    ids: &Interner,
    sel: &Selection,
    out: &mut dyn Write,
) -> io::Result<Rendered> {
    let max_id = pairs
        .iter()
        .map(|((a, b), _)| a.0.max(b.0))
        .max()
        .unwrap_or(0) as usize;
    let mut seen = vec![false; max_id + 1];
    for ((a, b), _) in &pairs {
        seen[a.0 as usize] = true;
        seen[b.0 as usize] = true;
    }
    // Resolve each id once, then rank ids by their string.
    let mut named: Vec<(&str, Id)> = (0..=max_id)
        .filter(|i| seen[*i])
        .map(|i| (ids.resolve(Id(i as u32)), Id(i as u32)))
        .collect();
    drop(seen);
    named.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut rank = vec![u32::MAX; max_id + 1];
    for (r, (_, id)) in named.iter().enumerate() {
        rank[id.0 as usize] = r as u32;
    }
    // Same size and alignment: this collect reuses the pairs' allocation.
    let mut packed: Vec<(u64, crate::Diff)> = pairs
        .into_iter()
        .map(|((a, b), n)| {
            let (ra, rb) = (rank[a.0 as usize], rank[b.0 as usize]);
            let (lo, hi) = if ra <= rb { (ra, rb) } else { (rb, ra) };
            ((u64::from(lo) << 32) | u64::from(hi), n)
        })
        .collect();
    drop(rank);
    packed.sort_unstable_by_key(|p| p.0);
    let name = |r: u64| named[r as usize].0;
    let key_of = |p: u64| [name(p >> 32), name(p & 0xffff_ffff)];
    let start = match (&sel.key, &sel.after) {
        (Some(k), _) => packed.partition_point(|p| cmp_key(&key_of(p.0), k) == Ordering::Less),
        (None, Some(after)) => {
            packed.partition_point(|p| cmp_key(&key_of(p.0), after) != Ordering::Greater)
        }
        (None, None) => 0,
    };
    if sel.key.is_none() && sel.limit.is_none() {
        return write_all_pairs(&packed[start..], &key_of, out);
    }
    let mut rendered = Rendered::default();
    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    let mut buf = String::with_capacity(128);
    for (i, (p, n)) in packed.iter().enumerate().skip(start) {
        let [a, b] = key_of(*p);
        if let Some(k) = &sel.key {
            if cmp_key(&[a, b], k) != Ordering::Equal {
                break;
            }
        }
        if sel.limit.is_some_and(|l| rendered.rows >= l) {
            rendered.more = i < packed.len();
            break;
        }
        buf.clear();
        push_pair(&mut buf, a, b, *n);
        w.write_all(buf.as_bytes())?;
        rendered.rows += 1;
        if sel.limit.is_some() || sel.key.is_some() {
            rendered.last_key = Some(vec![a.to_owned(), b.to_owned()]);
        }
    }
    if rendered.last_key.is_none() && rendered.rows > 0 {
        if let Some((p, _)) = packed.get(start + rendered.rows - 1) {
            rendered.last_key = Some(key_of(*p).iter().map(|s| s.to_string()).collect());
        }
    }
    w.flush()?;
    Ok(rendered)
}

fn push_pair(buf: &mut String, a: &str, b: &str, n: crate::Diff) {
    buf.push_str("{\"a\":");
    push_json_str(buf, a);
    buf.push_str(",\"b\":");
    push_json_str(buf, b);
    buf.push_str(",\"count\":");
    buf.push_str(itoa::Buffer::new().format(n));
    buf.push_str("}\n");
}

/// Writes every pair: blocks of rows are formatted on two threads while the
/// previous block is written, keeping the order.
fn write_all_pairs<'a>(
    pairs: &[(u64, crate::Diff)],
    key_of: &(dyn Fn(u64) -> [&'a str; 2] + Sync),
    out: &mut dyn Write,
) -> io::Result<Rendered> {
    const BLOCK: usize = 1 << 18;
    let format = |rows: &[(u64, crate::Diff)]| {
        let mut buf = String::with_capacity(rows.len() * 48);
        for (p, n) in rows {
            let [a, b] = key_of(*p);
            push_pair(&mut buf, a, b, *n);
        }
        buf
    };
    for block in pairs.chunks(2 * BLOCK) {
        let (left, right) = block.split_at(block.len().min(BLOCK));
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| format(right));
            (format(left), second.join())
        });
        out.write_all(first.as_bytes())?;
        let second = second.map_err(|_| io::Error::other("a pair formatter panicked"))?;
        out.write_all(second.as_bytes())?;
    }
    Ok(Rendered {
        rows: pairs.len(),
        last_key: pairs
            .last()
            .map(|(p, _)| key_of(*p).iter().map(|s| s.to_string()).collect()),
        more: false,
    })
}
