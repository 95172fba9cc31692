//! `conversation_snapshots`: one row per conversation, from its messages.

use crate::facts::MessageFact;
use crate::intern::Id;
use crate::reduce_view::{reduce_view, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::event::Role;
use helixflow_types::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// What a conversation's reduce sees: its messages and the entities they mention.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConversationItem {
    /// A message (sorted by `seq` first, so the lowest seq comes first).
    Message {
        seq: u64,
        user: Id,
        session: Id,
        role: Role,
        tokens: u32,
        ts: Millis,
        provider: Option<Id>,
    },
    /// An entity mentioned in one of its messages.
    Entity(Id),
}

/// A row of `conversation_snapshots` (the key is the conversation id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversationRow {
    pub user: Id,
    pub session: Id,
    pub message_count: u64,
    pub user_messages: u64,
    pub assistant_messages: u64,
    pub total_tokens: u64,
    pub first_ts: Millis,
    pub last_ts: Millis,
    pub last_seq: u64,
    /// Distinct providers (by id; rendering sorts them by name).
    pub providers: Vec<Id>,
    pub entity_count: u64,
}

/// The arranged view.
pub type ConversationTrace = ViewTrace<Id, ConversationRow>;

/// Splits messages into the items a conversation's row is computed from.
pub fn conversation_items<'s>(
    messages: VecCollection<'s, Time, MessageFact, Diff>,
) -> VecCollection<'s, Time, (Id, ConversationItem), Diff> {
    messages.flat_map(|m| {
        let message = ConversationItem::Message {
            seq: m.seq,
            user: m.user,
            session: m.session,
            role: m.role,
            tokens: m.tokens,
            ts: m.ts,
            provider: m.provider,
        };
        let conv = m.conv;
        std::iter::once((conv, message)).chain(
            m.entities
                .into_iter()
                .map(move |e| (conv, ConversationItem::Entity(e.id))),
        )
    })
}

/// Computes the view from conversation items.
pub fn conversation_snapshots<'s>(
    items: VecCollection<'s, Time, (Id, ConversationItem), Diff>,
) -> Arranged<'s, ConversationTrace> {
    reduce_view(items, "conversation_snapshots", |_conv, input, output| {
        if let Some(row) = summarize(input) {
            output.push((row, 1));
        }
    })
}

fn summarize(input: &[(&ConversationItem, Diff)]) -> Option<ConversationRow> {
    let mut row: Option<ConversationRow> = None;
    for (item, count) in input {
        let n = u64::try_from(*count).unwrap_or(0);
        match item {
            ConversationItem::Message {
                seq,
                user,
                session,
                role,
                tokens,
                ts,
                provider,
            } => {
                let r = row.get_or_insert_with(|| ConversationRow {
                    user: *user,
                    session: *session,
                    message_count: 0,
                    user_messages: 0,
                    assistant_messages: 0,
                    total_tokens: 0,
                    first_ts: *ts,
                    last_ts: *ts,
                    last_seq: *seq,
                    providers: Vec::new(),
                    entity_count: 0,
                });
                r.message_count += n;
                match role {
                    Role::User => r.user_messages += n,
                    Role::Assistant => r.assistant_messages += n,
                    Role::System | Role::Tool => {}
                }
                r.total_tokens += u64::from(*tokens) * n;
                r.first_ts = r.first_ts.min(*ts);
                r.last_ts = r.last_ts.max(*ts);
                r.last_seq = r.last_seq.max(*seq);
                if let Some(p) = provider {
                    r.providers.push(*p);
                }
            }
            ConversationItem::Entity(_) => {
                if let Some(r) = row.as_mut() {
                    r.entity_count += 1;
                }
            }
        }
    }
    if let Some(r) = row.as_mut() {
        r.providers.sort_unstable();
        r.providers.dedup();
    }
    row
}
