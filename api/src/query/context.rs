//! Context replay and conversation statistics (api.md, "Context"): pure
//! functions over one conversation's distinct messages, ascending by `seq`.
//!
//! The four strategies select a set S of messages:
//! - `full`: every message;
//! - `window`: from the greatest seq down, while fewer than `max_messages`
//!   (default 20) are taken and the tokens fit `max_tokens`; the first
//!   message that fails stops the walk;
//! - `entity`: messages mentioning the focus ids F, by score (ids of F
//!   mentioned) descending then seq descending; a message that does not fit
//!   is skipped and the walk goes on;
//! - `hybrid`: within a token budget (`max_tokens`, else ceil(0.3 × total),
//!   at least 1), system messages by ascending seq, then the `recent`
//!   (default 10) latest by descending seq, then the entity candidates, then
//!   every other message by descending seq; skip what does not fit, go on.

use helixflow_types::event::Role;
use helixflow_types::timestamp::Millis;
use std::collections::{BTreeMap, BTreeSet};

/// One distinct message, its ids resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Msg<'a> {
    pub seq: u64,
    pub role: Role,
    pub content: &'a str,
    pub tokens: u32,
    pub ts: Millis,
    /// Distinct entity ids, sorted by UTF-8 bytes.
    pub entities: Vec<&'a str>,
    pub user: &'a str,
    pub session: &'a str,
    pub provider: Option<&'a str>,
}

/// A replay strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Full,
    Window,
    Entity,
    Hybrid,
}

impl Strategy {
    /// Every strategy with its name.
    pub const NAMES: [(&'static str, Strategy); 4] = [
        ("full", Strategy::Full),
        ("window", Strategy::Window),
        ("entity", Strategy::Entity),
        ("hybrid", Strategy::Hybrid),
    ];

    /// The strategy's name.
    pub fn name(self) -> &'static str {
        Strategy::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("", |(n, _)| n)
    }

    /// The strategy called `name`.
    pub fn parse(name: &str) -> Option<Strategy> {
        Strategy::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    }
}

/// What a replay asks for (the body's members but `conversation_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayRequest {
    pub strategy: Strategy,
    pub max_messages: Option<u64>,
    pub max_tokens: Option<u64>,
    pub recent: Option<u64>,
    /// The focus ids, when given (even empty).
    pub entities: Option<Vec<String>>,
}

/// The selected messages (indexes into the conversation, ascending) and
/// the focus ids (sorted; empty for `full` and `window`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub indexes: Vec<usize>,
    pub focus: Vec<String>,
}

/// The messages `request` selects from `messages` (ascending by seq).
pub fn select(messages: &[Msg<'_>], request: &ReplayRequest) -> Selected {
    let mut taken = vec![false; messages.len()];
    let focus = match request.strategy {
        Strategy::Full | Strategy::Window => Vec::new(),
        Strategy::Entity | Strategy::Hybrid => focus(messages, request.entities.as_deref()),
    };
    match request.strategy {
        Strategy::Full => taken.iter_mut().for_each(|t| *t = true),
        Strategy::Window => {
            let limit = request.max_messages.unwrap_or(20);
            let (mut count, mut tokens) = (0u64, 0u64);
            for (i, m) in messages.iter().enumerate().rev() {
                let fits = request
                    .max_tokens
                    .is_none_or(|max| tokens + u64::from(m.tokens) <= max);
                if count >= limit || !fits {
                    break;
                }
                taken[i] = true;
                count += 1;
                tokens += u64::from(m.tokens);
            }
        }
        Strategy::Entity => {
            let mut walk = Walk::new(request.max_messages, request.max_tokens);
            walk.all(&mut taken, messages, candidates(messages, &focus));
        }
        Strategy::Hybrid => {
            let total: u64 = messages.iter().map(|m| u64::from(m.tokens)).sum();
            let budget = request
                .max_tokens
                .unwrap_or_else(|| (total * 3).div_ceil(10).max(1));
            let mut walk = Walk::new(request.max_messages, Some(budget));
            let system = messages
                .iter()
                .enumerate()
                .filter(|(_, m)| m.role == Role::System)
                .map(|(i, _)| i);
            walk.all(&mut taken, messages, system);
            let recent = request.recent.unwrap_or(10);
            let latest = (0..messages.len())
                .rev()
                .take(usize::try_from(recent).unwrap_or(usize::MAX));
            walk.all(&mut taken, messages, latest);
            walk.all(&mut taken, messages, candidates(messages, &focus));
            walk.all(&mut taken, messages, (0..messages.len()).rev());
        }
    }
    Selected {
        indexes: (0..messages.len()).filter(|i| taken[*i]).collect(),
        focus,
    }
}

/// The skip-and-go-on walk of `entity` and `hybrid`.
struct Walk {
    max_messages: Option<u64>,
    max_tokens: Option<u64>,
    count: u64,
    tokens: u64,
}

impl Walk {
    fn new(max_messages: Option<u64>, max_tokens: Option<u64>) -> Self {
        Walk {
            max_messages,
            max_tokens,
            count: 0,
            tokens: 0,
        }
    }

    /// Takes each message of `order` not yet taken that still fits.
    fn all(
        &mut self,
        taken: &mut [bool],
        messages: &[Msg<'_>],
        order: impl IntoIterator<Item = usize>,
    ) {
        for i in order {
            if taken[i] {
                continue;
            }
            let t = u64::from(messages[i].tokens);
            let room = self.max_messages.is_none_or(|m| self.count < m);
            let fits = self.max_tokens.is_none_or(|m| self.tokens + t <= m);
            if room && fits {
                taken[i] = true;
                self.count += 1;
                self.tokens += t;
            }
        }
    }
}

/// The focus F: the given ids (as a set, sorted), else the 5 ids mentioned
/// by the most messages (ties: smaller id first).
fn focus(messages: &[Msg<'_>], given: Option<&[String]>) -> Vec<String> {
    if let Some(ids) = given {
        let mut f: Vec<String> = ids.to_vec();
        f.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        f.dedup();
        return f;
    }
    let mut top: Vec<(&str, u64)> = mention_counts(messages).into_iter().collect();
    top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.as_bytes().cmp(b.0.as_bytes())));
    let mut f: Vec<String> = top
        .into_iter()
        .take(5)
        .map(|(id, _)| id.to_owned())
        .collect();
    f.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    f
}

/// Messages mentioning each id.
fn mention_counts<'a>(messages: &[Msg<'a>]) -> BTreeMap<&'a str, u64> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for m in messages {
        for e in &m.entities {
            *counts.entry(e).or_default() += 1;
        }
    }
    counts
}

/// The entity candidates: messages with score >= 1, by score descending
/// then seq descending.
fn candidates(messages: &[Msg<'_>], focus: &[String]) -> Vec<usize> {
    let focus: BTreeSet<&str> = focus.iter().map(String::as_str).collect();
    let mut scored: Vec<(usize, usize)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (i, m.entities.iter().filter(|e| focus.contains(*e)).count()))
        .filter(|(_, score)| *score >= 1)
        .collect();
    scored.sort_unstable_by(|a, b| {
        b.1.cmp(&a.1)
            .then(messages[b.0].seq.cmp(&messages[a.0].seq))
    });
    scored.into_iter().map(|(i, _)| i).collect()
}

/// Figures of a selection (the answer's `stats` and `omitted`).
#[derive(Clone, Debug, PartialEq)]
pub struct SelectionStats {
    pub selected_messages: u64,
    pub total_messages: u64,
    pub selected_tokens: u64,
    pub total_tokens: u64,
    pub compression_ratio: f64,
    pub entity_coverage: f64,
    pub omitted_entities: Vec<String>,
}

/// The figures of `selected` over `messages`.
pub fn selection_stats(messages: &[Msg<'_>], selected: &Selected) -> SelectionStats {
    let total_tokens: u64 = messages.iter().map(|m| u64::from(m.tokens)).sum();
    let selected_tokens: u64 = selected
        .indexes
        .iter()
        .map(|i| u64::from(messages[*i].tokens))
        .sum();
    let all: BTreeSet<&str> = messages
        .iter()
        .flat_map(|m| m.entities.iter().copied())
        .collect();
    let covered: BTreeSet<&str> = selected
        .indexes
        .iter()
        .flat_map(|i| messages[*i].entities.iter().copied())
        .collect();
    let mut omitted: Vec<String> = all.difference(&covered).map(|s| (*s).to_owned()).collect();
    omitted.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    SelectionStats {
        selected_messages: selected.indexes.len() as u64,
        total_messages: messages.len() as u64,
        selected_tokens,
        total_tokens,
        compression_ratio: if total_tokens == 0 {
            1.0
        } else {
            selected_tokens as f64 / total_tokens as f64
        },
        entity_coverage: if all.is_empty() {
            1.0
        } else {
            covered.len() as f64 / all.len() as f64
        },
        omitted_entities: omitted,
    }
}

/// `GET /v1/context/stats/{id}`'s figures.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationStats<'a> {
    pub user: &'a str,
    pub session: &'a str,
    pub message_count: u64,
    pub total_tokens: u64,
    /// Per role in contract order (user, assistant, system, tool): (messages, tokens).
    pub by_role: [(u64, u64); 4],
    pub first_ts: Millis,
    pub last_ts: Millis,
    pub last_seq: u64,
    pub missing_seqs: u64,
    pub entity_count: u64,
    /// Up to 10 (id, messages mentioning it), most first, then by id.
    pub top_entities: Vec<(&'a str, u64)>,
    /// Sorted distinct providers.
    pub providers: Vec<&'a str>,
}

/// The statistics of a conversation (`None` when it has no message).
pub fn conversation_stats<'a>(messages: &[Msg<'a>]) -> Option<ConversationStats<'a>> {
    let first = messages.first()?;
    let mut by_role = [(0u64, 0u64); 4];
    for m in messages {
        let slot = Role::NAMES
            .iter()
            .position(|(_, r)| *r == m.role)
            .unwrap_or(0);
        by_role[slot].0 += 1;
        by_role[slot].1 += u64::from(m.tokens);
    }
    let last_seq = messages.iter().map(|m| m.seq).max().unwrap_or(0);
    let counts = mention_counts(messages);
    let mut top: Vec<(&str, u64)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
    top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.as_bytes().cmp(b.0.as_bytes())));
    top.truncate(10);
    let mut providers: Vec<&str> = messages.iter().filter_map(|m| m.provider).collect();
    providers.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    providers.dedup();
    Some(ConversationStats {
        user: first.user,
        session: first.session,
        message_count: messages.len() as u64,
        total_tokens: messages.iter().map(|m| u64::from(m.tokens)).sum(),
        by_role,
        first_ts: messages.iter().map(|m| m.ts).min().unwrap_or(first.ts),
        last_ts: messages.iter().map(|m| m.ts).max().unwrap_or(first.ts),
        last_seq,
        // Seqs are distinct (the dedup key), so the rest of 0..=last_seq is missing.
        missing_seqs: (last_seq + 1).saturating_sub(messages.len() as u64),
        entity_count: counts.len() as u64,
        top_entities: top,
        providers,
    })
}

#[cfg(test)]
mod tests;
