//! `user_preferences` (api.md): per (`user_id`, `provider`), over distinct
//! assistant messages with a provider: messages, tokens, distinct
//! conversations, and the row's share of the user's messages.
//!
//! The share needs all of a user's rows, so one reduce per user computes
//! them all; they are then arranged by (user, provider), one row per key.
//! A user keeps [`Preferences`], per provider a message count, a token sum
//! and its conversations with their message counts, so a touched user
//! costs its providers, not its messages.

use crate::facts::{MessageFact, OrdF64};
use crate::intern::Id;
use crate::multiset::Multiset;
use crate::partials::count;
use crate::reduce_view::{reduce_state, KeyState, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::event::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A row of `user_preferences` (the key is (user, provider)).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PreferenceRow {
    pub messages: u64,
    pub tokens: u64,
    pub conversations: u64,
    /// `messages` / the user's messages over all its rows.
    pub share: OrdF64,
}

/// The arranged view.
pub type PreferenceTrace = ViewTrace<(Id, Id), PreferenceRow>;

/// One assistant message: (provider, conversation, tokens).
type PreferenceValue = (Id, Id, u32);

/// What one user keeps, per provider (see the module doc).
#[derive(Default)]
pub struct Preferences {
    providers: BTreeMap<Id, Tally>,
}

/// One provider's messages of a user.
#[derive(Default)]
struct Tally {
    messages: Diff,
    tokens: i64,
    /// Each conversation with its messages (the distinct ones count).
    conversations: Multiset<Id>,
}

impl KeyState<PreferenceValue> for Preferences {
    fn add(&mut self, (provider, conv, tokens): PreferenceValue, diff: Diff) {
        let tally = self.providers.entry(provider).or_default();
        tally.messages += diff;
        tally.tokens += i64::from(tokens) * diff as i64;
        tally.conversations.add(conv, diff);
        // Its messages are its conversations' counts: none left, no tally.
        if tally.conversations.is_empty() {
            self.providers.remove(&provider);
        }
    }

    fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

/// Computes the view from the distinct messages.
pub fn user_preferences<'s>(
    messages: VecCollection<'s, Time, MessageFact, Diff>,
) -> Arranged<'s, PreferenceTrace> {
    let keyed = messages.flat_map(|m| {
        let value = m.provider.map(|p| (p, m.conv, m.tokens));
        value
            .filter(|_| m.role == Role::Assistant)
            .map(|v: PreferenceValue| (m.user, v))
    });
    reduce_state(keyed, "user_preferences", |_user, prefs, out| {
        out.extend(rows(prefs).into_iter().map(|r| (r, 1)));
    })
    .map(|(user, (provider, row))| ((user, provider), row))
    .arrange_by_key_named("user_preferences")
}

/// One user's rows, by provider.
fn rows(prefs: &Preferences) -> Vec<(Id, PreferenceRow)> {
    let mut rows: Vec<(Id, PreferenceRow)> = prefs
        .providers
        .iter()
        .filter(|(_, t)| t.messages > 0)
        .map(|(provider, t)| {
            let row = PreferenceRow {
                messages: count(t.messages),
                tokens: u64::try_from(t.tokens).unwrap_or(0),
                conversations: t.conversations.len() as u64,
                share: OrdF64(0.0),
            };
            (*provider, row)
        })
        .collect();
    let total: u64 = rows.iter().map(|(_, r)| r.messages).sum();
    for (_, row) in &mut rows {
        row.share = OrdF64(row.messages as f64 / total as f64);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_of_the_users_messages_over_all_its_providers() {
        let (a, b) = (Id(1), Id(2));
        let values = preferences(&[
            ((a, Id(10), 5), 2),
            ((a, Id(11), 1), 1),
            ((b, Id(10), 3), 1),
        ]);
        let got = rows(&values);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (
                a,
                PreferenceRow {
                    messages: 3,
                    tokens: 11,
                    conversations: 2,
                    share: OrdF64(0.75),
                }
            )
        );
        assert_eq!(got[1].1.share, OrdF64(0.25));
        assert_eq!(got[1].1.conversations, 1);
    }

    #[test]
    fn a_preferred_provider_flips_when_another_gains_messages() {
        let (a, b) = (Id(1), Id(2));
        let mut values = preferences(&[((a, Id(10), 1), 2), ((b, Id(10), 1), 1)]);
        assert!(rows(&values)[0].1.share > rows(&values)[1].1.share);
        values.add((b, Id(12), 1), 2);
        let now = rows(&values);
        assert_eq!(now[0].1.share, OrdF64(0.4));
        assert_eq!(now[1].1.share, OrdF64(0.6));
        assert_eq!(now[1].1.conversations, 2);
        // Messages taken out: a conversation left without any stops counting,
        // a provider left without any has no row, and its state is gone.
        values.add((b, Id(12), 1), -2);
        assert_eq!(rows(&values)[1].1.conversations, 1);
        values.add((b, Id(10), 1), -1);
        assert_eq!(rows(&values).len(), 1);
        assert_eq!(rows(&values)[0].1.share, OrdF64(1.0));
        values.add((a, Id(10), 1), -2);
        assert!(values.is_empty());
    }

    fn preferences(values: &[(PreferenceValue, Diff)]) -> Preferences {
        let mut p = Preferences::default();
        for (v, d) in values {
            p.add(*v, *d);
        }
        p
    }
}
