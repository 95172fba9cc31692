//! Questions the API asks the workers, and their replies.
//!
//! A question is answered by every worker from its own traces at one
//! `as_of` (every update at a time `<= as_of`), and the replies are merged
//! by [`Reply::absorb`]. Keyed questions seek their keys in the
//! arrangements (a key lives on one worker; the others answer empty), so an
//! answer costs what those keys hold, not what the view holds.

use crate::debate_stats::DebateRow;
use crate::entity_cooccurrence::CooccurrenceTrace;
use crate::entity_directory::DirectoryRow;
use crate::facts::{DebateFact, MessageFact};
use crate::intern::{Id, Interner};
use crate::knowledge::Link;
use crate::memory_sync::NodeRow;
#[cfg(doc)]
use crate::pair_ranks::HEAVY;
use crate::pair_ranks::{count_of, HeavyPairTrace};
use crate::rows::{ViewName, ViewPart};
use crate::views::{read_counts, ViewTraces};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::ExchangeData;
use helixflow_types::timestamp::Millis;
use std::collections::HashMap;
use timely::progress::Antichain;

/// A question to every worker.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Question {
    /// Every row of a view.
    View(ViewName),
    /// The distinct messages of one conversation.
    Conversation(Id),
    /// The `entity_directory` rows of these ids.
    Directory(Vec<Id>),
    /// For each entity sharing a conversation with this one, how many.
    Partners(Id),
    /// This entity's `relationships` rows, seen from it.
    Links(Id),
    /// `entity_directory` rows matching a search.
    Search(Search),
    /// Memory sync figures.
    MemorySync,
    /// The latencies of a provider's calls (of one model, if given) in
    /// the hours `from <= hour < to` (either bound optional).
    Latencies(LatencyRange),
    /// A debate's `debate_stats` row and its distinct rounds.
    Debate(Id),
    /// The `entity_cooccurrence` pairs with a count of at least `min`: how
    /// many, and those that can rank among the first `limit` by count,
    /// read from the heavy-pair index ([`crate::pair_ranks`]), or with
    /// `scan` from the view itself. The index is partitioned by count and
    /// the view by pair, so whether to scan is decided for all workers at
    /// once: when `min` is below [`HEAVY`] (the index does not hold
    /// every pair to count).
    TopPairs { min: Diff, limit: usize, scan: bool },
    /// How many rows a view has (`Reply::Counters` with `rows`).
    Rows(ViewName),
    /// The engine's counters (lines read, rejections, duplicates...): the
    /// first worker of each process replies with its process's, the others
    /// with none, so the merged reply is the cluster's. Answered by the
    /// engine, not the traces.
    Counters,
    /// A cluster's leader is done with the others (`replay`): every worker
    /// that receives it stops its process. Answered by the engine.
    Stop,
}

/// The calls [`Question::Latencies`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatencyRange {
    pub provider: Id,
    pub model: Option<Id>,
    /// Hours starting at or after this (ms).
    pub from: Option<Millis>,
    /// Hours starting before this (ms).
    pub to: Option<Millis>,
}

impl LatencyRange {
    fn holds(&self, model: Id, hour: Millis) -> bool {
        self.model.is_none_or(|m| m == model)
            && self.from.is_none_or(|f| f <= hour)
            && self.to.is_none_or(|t| hour < t)
    }
}

/// A search of the entity directory (api.md, `POST /v1/knowledge/search`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Search {
    /// The trimmed query, lower-cased.
    pub query: String,
    /// Only rows of this kind.
    pub kind: Option<String>,
    /// Rows wanted; each worker replies with its best this many.
    pub limit: usize,
}

/// How a directory row matches a search (the ranking's first key).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum MatchClass {
    Exact,
    Prefix,
    Substring,
}

impl MatchClass {
    /// The contract's name.
    pub fn name(self) -> &'static str {
        match self {
            MatchClass::Exact => "exact",
            MatchClass::Prefix => "prefix",
            MatchClass::Substring => "substring",
        }
    }

    /// How a row whose id and name are `id_lower` and `name_lower` (lower
    /// case) matches `query`.
    pub fn of(query: &str, id_lower: &str, name_lower: Option<&str>) -> Option<MatchClass> {
        let fields = [Some(id_lower), name_lower];
        let fields = fields.iter().flatten();
        if fields.clone().any(|f| *f == query) {
            Some(MatchClass::Exact)
        } else if fields.clone().any(|f| f.starts_with(query)) {
            Some(MatchClass::Prefix)
        } else if fields.clone().any(|f| f.contains(query)) {
            Some(MatchClass::Substring)
        } else {
            None
        }
    }
}

/// A matching row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Match {
    pub id: Id,
    pub row: DirectoryRow,
    pub class: MatchClass,
}

/// A node's figures, by node id.
pub type NodeRows = Vec<(String, NodeRow)>;

/// One worker's reply (or the merged replies of all).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    /// Rows of a view.
    View(ViewPart),
    /// Messages of one conversation, ascending by `seq`.
    Messages(Vec<MessageFact>),
    /// Directory rows.
    Directory(Vec<(Id, DirectoryRow)>),
    /// Partner → conversations shared.
    Partners(HashMap<Id, u64>),
    /// Relationship rows seen from one entity.
    Links(Vec<Link>),
    /// Search matches: how many in all, and the best (ranked, at most the limit).
    Matches { total: u64, best: Vec<Match> },
    /// Memory sync figures.
    MemorySync {
        nodes: NodeRows,
        /// Rows of `memory_state`.
        memories: u64,
        /// Distinct memory ids.
        memory_ids: u64,
    },
    /// (model, hour, latency, calls) of the calls asked for.
    Latencies(Vec<(Id, Millis, u32, u64)>),
    /// A debate's row (if it has one) and its distinct rounds.
    Debate {
        row: Option<DebateRow>,
        rounds: Vec<DebateFact>,
    },
    /// Pairs counted at least `min`, and the ones that can rank (see [`top_pairs`]).
    TopPairs { kept: u64, pairs: Vec<Pair> },
    /// Named counters, summed over the replies.
    Counters(std::collections::BTreeMap<String, u64>),
}

/// An `entity_cooccurrence` row: (pair, count).
pub type Pair = ((Id, Id), Diff);

/// Of `pairs` (each counted at least some minimum), the ones that can rank
/// among the first `limit` by count: every pair whose count is at least the
/// `limit`-th greatest (ties at the last place all stay).
pub fn top_pairs(mut pairs: Vec<Pair>, limit: usize) -> Vec<Pair> {
    if pairs.len() > limit && limit > 0 {
        let mut counts: Vec<Diff> = pairs.iter().map(|(_, n)| *n).collect();
        let (_, threshold, _) = counts.select_nth_unstable_by(limit - 1, |a, b| b.cmp(a));
        let threshold = *threshold;
        pairs.retain(|(_, n)| *n >= threshold);
    }
    pairs
}

impl Reply {
    /// Merges another worker's reply to the same question.
    pub fn absorb(&mut self, other: Reply) {
        match (self, other) {
            (Reply::View(a), Reply::View(b)) => a.absorb(b),
            (Reply::Messages(a), Reply::Messages(mut b)) => {
                // One conversation lives on one worker; keep the order anyway.
                a.append(&mut b);
                a.sort_unstable_by_key(|m| m.seq);
            }
            (Reply::Directory(a), Reply::Directory(mut b)) => a.append(&mut b),
            (Reply::Partners(a), Reply::Partners(b)) => {
                for (id, n) in b {
                    *a.entry(id).or_default() += n;
                }
            }
            (Reply::Links(a), Reply::Links(mut b)) => a.append(&mut b),
            (
                Reply::Matches { total, best },
                Reply::Matches {
                    total: more,
                    best: mut other,
                },
            ) => {
                *total += more;
                best.append(&mut other);
            }
            (
                Reply::MemorySync {
                    nodes,
                    memories,
                    memory_ids,
                },
                Reply::MemorySync {
                    nodes: mut n,
                    memories: m,
                    memory_ids: i,
                },
            ) => {
                nodes.append(&mut n);
                *memories += m;
                *memory_ids += i;
            }
            (Reply::Latencies(a), Reply::Latencies(mut b)) => a.append(&mut b),
            (
                Reply::TopPairs { kept, pairs },
                Reply::TopPairs {
                    kept: more,
                    pairs: mut other,
                },
            ) => {
                *kept += more;
                pairs.append(&mut other);
            }
            (
                Reply::Debate { row, rounds },
                Reply::Debate {
                    row: other,
                    rounds: mut more,
                },
            ) => {
                // One debate lives on one worker per trace.
                if row.is_none() {
                    *row = other;
                }
                rounds.append(&mut more);
            }
            (Reply::Counters(a), Reply::Counters(b)) => {
                for (name, n) in b {
                    *a.entry(name).or_default() += n;
                }
            }
            // Replies to different questions are never merged.
            _ => {}
        }
    }
}

/// Calls `f(key, value, count)` for every value whose accumulated count at
/// `as_of` is positive: of every key, or of `keys` only (ascending).
pub fn for_each_at<K, V>(
    trace: &mut TraceAgent<ValSpine<K, V, Time, Diff>>,
    as_of: Time,
    keys: Option<&[K]>,
    mut f: impl FnMut(&K, &V, Diff),
) where
    K: ExchangeData,
    V: ExchangeData,
{
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let batches = trace.batches_through(upper.borrow()).unwrap_or_default();
    let (mut cursor, storage) = cursor_list(batches);
    let mut wanted = keys.map(|k| k.iter());
    loop {
        let key = match wanted.as_mut() {
            Some(keys) => {
                let Some(key) = keys.next() else { break };
                cursor.seek_key(&storage, key);
                match cursor.get_key(&storage) {
                    Some(k) if k == key => k,
                    _ => continue,
                }
            }
            None => match cursor.get_key(&storage) {
                Some(k) => k,
                None => break,
            },
        };
        while let Some(val) = cursor.get_val(&storage) {
            let mut count: Diff = 0;
            cursor.map_times(&storage, |t, d| {
                if *t <= as_of {
                    count += *d;
                }
            });
            if count > 0 {
                f(key, val, count);
            }
            cursor.step_val(&storage);
        }
        if wanted.is_none() {
            cursor.step_key(&storage);
        }
    }
}

/// The values of `key` whose count at `as_of` is positive, in order.
fn values_of<K: ExchangeData, V: ExchangeData>(
    trace: &mut TraceAgent<ValSpine<K, V, Time, Diff>>,
    key: &K,
    as_of: Time,
) -> Vec<V> {
    let mut out = Vec::new();
    for_each_at(trace, as_of, Some(std::slice::from_ref(key)), |_, v, _| {
        out.push(v.clone())
    });
    out
}

/// Keys with at least one value at `as_of`.
fn count_keys<K: ExchangeData, V: ExchangeData>(
    trace: &mut TraceAgent<ValSpine<K, V, Time, Diff>>,
    as_of: Time,
) -> u64 {
    let mut last: Option<K> = None;
    let mut n = 0;
    for_each_at(trace, as_of, None, |k, _, _| {
        if last.as_ref() != Some(k) {
            n += 1;
            last = Some(k.clone());
        }
    });
    n
}

/// Of the heavy pairs counted at least `min`: how many, and those that
/// can rank among the first `limit` (greatest count first, the last
/// count's ties all in).
fn heavy_pairs(
    trace: &mut HeavyPairTrace,
    min: Diff,
    limit: usize,
    as_of: Time,
) -> (u64, Vec<Pair>) {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let batches = trace.batches_through(upper.borrow()).unwrap_or_default();
    let (mut cursor, storage) = cursor_list(batches);
    let (mut kept, mut out) = (0u64, Vec::new());
    while let Some(key) = cursor.get_key(&storage) {
        let count = count_of(*key);
        if count < min {
            break;
        }
        let ranks = out.len() < limit;
        while let Some(pair) = cursor.get_val(&storage) {
            let mut d: Diff = 0;
            cursor.map_times(&storage, |t, r| {
                if *t <= as_of {
                    d += *r;
                }
            });
            if d > 0 {
                kept += 1;
                if ranks {
                    out.push((*pair, count));
                }
            }
            cursor.step_val(&storage);
        }
        cursor.step_key(&storage);
    }
    (kept, out)
}

/// Every pair counted at least `min` (a scan of the view).
fn scan_pairs(trace: &mut CooccurrenceTrace, min: Diff, as_of: Time) -> Vec<Pair> {
    let mut pairs = read_counts(trace, as_of);
    pairs.retain(|(_, count)| *count >= min);
    pairs
}

/// Ranks matches: exact, prefix, substring; then conversations
/// descending; then id (UTF-8 bytes).
pub fn rank_matches(matches: &mut [Match], ids: &Interner) {
    matches.sort_unstable_by(|a, b| {
        a.class
            .cmp(&b.class)
            .then(b.row.conversations.cmp(&a.row.conversations))
            .then_with(|| {
                ids.resolve(a.id)
                    .as_bytes()
                    .cmp(ids.resolve(b.id).as_bytes())
            })
    });
}

impl ViewTraces {
    /// This worker's reply to `question` at `as_of` (`None`: what it asks
    /// for is not computed by this dataflow).
    pub fn answer(&mut self, question: &Question, as_of: Time, ids: &Interner) -> Option<Reply> {
        Some(match question {
            Question::View(view) => Reply::View(self.read(*view, as_of)?),
            Question::Rows(view) => {
                let rows = self.read(*view, as_of)?.len() as u64;
                Reply::Counters(std::collections::BTreeMap::from([(
                    "rows".to_owned(),
                    rows,
                )]))
            }
            Question::Conversation(conv) => {
                Reply::Messages(values_of(self.conversation_messages.as_mut()?, conv, as_of))
            }
            Question::Directory(wanted) => {
                let mut keys = wanted.clone();
                keys.sort_unstable();
                keys.dedup();
                let mut rows = Vec::new();
                for_each_at(
                    self.entity_directory.as_mut()?,
                    as_of,
                    Some(&keys),
                    |k, v, _| rows.push((*k, *v)),
                );
                Reply::Directory(rows)
            }
            Question::Partners(entity) => {
                let mut convs = values_of(self.entity_conversations.as_mut()?, entity, as_of);
                convs.sort_unstable();
                let mut partners: HashMap<Id, u64> = HashMap::new();
                for_each_at(
                    self.memberships.as_mut()?,
                    as_of,
                    Some(&convs),
                    |_, e, _| {
                        if e != entity {
                            *partners.entry(*e).or_default() += 1;
                        }
                    },
                );
                Reply::Partners(partners)
            }
            Question::Links(entity) => {
                Reply::Links(values_of(self.relationship_links.as_mut()?, entity, as_of))
            }
            Question::Search(search) => {
                let directory = self.entity_directory.as_mut()?;
                // One pass keeps only (class, conversations, id) of each
                // match; the best `limit` are ranked, then their rows read.
                let mut found: Vec<(MatchClass, u64, Id)> = Vec::new();
                // A kind never seen is no row's kind: `Some(None)` matches nothing.
                let kind = search.kind.as_ref().map(|k| ids.lookup(k));
                for_each_at(directory, as_of, None, |id, row, _| {
                    if kind.is_some_and(|k| k.is_none() || row.kind != k) {
                        return;
                    }
                    let name = row.name_lower.map(|n| ids.resolve(n));
                    if let Some(class) =
                        MatchClass::of(&search.query, ids.resolve(row.id_lower), name)
                    {
                        found.push((class, row.conversations, *id));
                    }
                });
                let total = found.len() as u64;
                let order = |a: &(MatchClass, u64, Id), b: &(MatchClass, u64, Id)| {
                    a.0.cmp(&b.0)
                        .then(b.1.cmp(&a.1))
                        .then_with(|| ids.resolve(a.2).as_bytes().cmp(ids.resolve(b.2).as_bytes()))
                };
                if found.len() > search.limit {
                    found.select_nth_unstable_by(search.limit, order);
                    found.truncate(search.limit);
                }
                let mut keys: Vec<Id> = found.iter().map(|f| f.2).collect();
                keys.sort_unstable();
                let mut rows = HashMap::new();
                for_each_at(directory, as_of, Some(&keys), |id, row, _| {
                    rows.insert(*id, *row);
                });
                let mut best: Vec<Match> = found
                    .into_iter()
                    .filter_map(|(class, _, id)| {
                        rows.remove(&id).map(|row| Match { id, row, class })
                    })
                    .collect();
                rank_matches(&mut best, ids);
                Reply::Matches { total, best }
            }
            Question::MemorySync => {
                let mut nodes = Vec::new();
                for_each_at(self.memory_nodes.as_mut()?, as_of, None, |node, row, _| {
                    nodes.push((node.clone(), row.clone()))
                });
                Reply::MemorySync {
                    nodes,
                    memories: count_keys(self.memory_state.as_mut()?, as_of),
                    memory_ids: count_keys(self.memory_ids.as_mut()?, as_of),
                }
            }
            Question::Latencies(range) => {
                let mut calls = Vec::new();
                for_each_at(
                    self.call_latencies.as_mut()?,
                    as_of,
                    Some(std::slice::from_ref(&range.provider)),
                    |_, (model, hour, latency), n| {
                        if range.holds(*model, *hour) {
                            calls.push((*model, *hour, *latency, u64::try_from(n).unwrap_or(0)));
                        }
                    },
                );
                Reply::Latencies(calls)
            }
            Question::TopPairs { min, limit, scan } => {
                let (kept, pairs) = if *scan {
                    let all = scan_pairs(self.entity_cooccurrence.as_mut()?, *min, as_of);
                    (all.len() as u64, top_pairs(all, *limit))
                } else {
                    heavy_pairs(self.heavy_pairs.as_mut()?, *min, *limit, as_of)
                };
                Reply::TopPairs { kept, pairs }
            }
            Question::Debate(debate) => Reply::Debate {
                row: values_of(self.debate_stats.as_mut()?, debate, as_of)
                    .into_iter()
                    .next(),
                rounds: values_of(self.debate_rounds.as_mut()?, debate, as_of),
            },
            // The engine answers these; the traces hold nothing for them.
            Question::Counters | Question::Stop => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::top_pairs;
    use crate::intern::Id;

    #[test]
    fn top_pairs_keeps_every_pair_tied_with_the_last_place() {
        let pairs = vec![
            ((Id(1), Id(2)), 5),
            ((Id(1), Id(3)), 3),
            ((Id(2), Id(3)), 3),
            ((Id(3), Id(4)), 1),
        ];
        let top = top_pairs(pairs.clone(), 2);
        assert_eq!(top.len(), 3, "both pairs of count 3 tie for second place");
        assert_eq!(top_pairs(pairs, 10).len(), 4);
    }
}
