//! `user_intents` (api.md): per (`user_id`, `intent`), over distinct
//! messages with an intent: messages, distinct conversations and sessions,
//! first and last `ts`.

use crate::facts::MessageFact;
use crate::intern::Id;
use crate::multiset::Multiset;
use crate::partials::count;
use crate::reduce_view::{reduce_view_core, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// A row of `user_intents` (the key is (user, intent)).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IntentRow {
    pub messages: u64,
    pub conversations: u64,
    pub sessions: u64,
    pub first_ts: Millis,
    pub last_ts: Millis,
}

/// The arranged view.
pub type IntentTrace = ViewTrace<(Id, Id), IntentRow>;

/// One message as the reduce sees it: `ts` first, so the ends are the
/// first and last `ts`.
type IntentValue = (Millis, Id, Id);

/// Computes the view from the distinct messages.
pub fn user_intents<'s>(
    messages: VecCollection<'s, Time, MessageFact, Diff>,
) -> Arranged<'s, IntentTrace> {
    let keyed = messages.flat_map(|m| {
        let value: IntentValue = (m.ts, m.conv, m.session);
        m.intent.map(|intent| ((m.user, intent), value))
    });
    reduce_view_core(keyed, "user_intents", |_key, values, out| {
        out.push((summarize(values), 1));
    })
}

fn summarize(values: &Multiset<IntentValue>) -> IntentRow {
    let messages = values.counts().map(count).sum();
    let distinct = |pick: fn(&IntentValue) -> Id| {
        let mut ids: Vec<Id> = values.values().map(pick).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() as u64
    };
    IntentRow {
        messages,
        conversations: distinct(|v| v.1),
        sessions: distinct(|v| v.2),
        first_ts: values.first().map_or(0, |(v, _)| v.0),
        last_ts: values.last().map_or(0, |(v, _)| v.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_conversations_and_sessions_and_the_ts_range() {
        let values: Multiset<IntentValue> = [
            ((30, Id(1), Id(7)), 1),
            ((10, Id(2), Id(7)), 1),
            ((20, Id(1), Id(8)), 2),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            summarize(&values),
            IntentRow {
                messages: 4,
                conversations: 2,
                sessions: 2,
                first_ts: 10,
                last_ts: 30,
            }
        );
    }
}
