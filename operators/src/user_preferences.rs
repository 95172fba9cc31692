//! `user_preferences` (api.md): per (`user_id`, `provider`), over distinct
//! assistant messages with a provider: messages, tokens, distinct
//! conversations, and the row's share of the user's messages.
//!
//! The share needs all of a user's rows, so one reduce per user computes
//! them all; they are then arranged by (user, provider), one row per key.

use crate::facts::{MessageFact, OrdF64};
use crate::intern::Id;
use crate::multiset::Multiset;
use crate::partials::count;
use crate::reduce_view::{reduce_changes, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;
use helixflow_types::event::Role;
use serde::{Deserialize, Serialize};

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

/// (provider, conversation, tokens): a provider's messages are contiguous,
/// and within it each conversation's.
type PreferenceValue = (Id, Id, u32);

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
    reduce_changes(keyed, "user_preferences", |_user, values, out| {
        out.extend(rows(values).into_iter().map(|r| (r, 1)));
    })
    .map(|(user, (provider, row))| ((user, provider), row))
    .arrange_by_key_named("user_preferences")
}

/// One user's rows, by provider.
fn rows(values: &Multiset<PreferenceValue>) -> Vec<(Id, PreferenceRow)> {
    let mut rows: Vec<(Id, PreferenceRow)> = Vec::new();
    let mut last_conv: Option<(Id, Id)> = None;
    for (&(provider, conv, tokens), d) in values.iter() {
        let n = count(d);
        if rows.last().is_none_or(|(p, _)| *p != provider) {
            rows.push((
                provider,
                PreferenceRow {
                    messages: 0,
                    tokens: 0,
                    conversations: 0,
                    share: OrdF64(0.0),
                },
            ));
        }
        if let Some((_, row)) = rows.last_mut() {
            row.messages += n;
            row.tokens += u64::from(tokens) * n;
            if last_conv != Some((provider, conv)) {
                row.conversations += 1;
                last_conv = Some((provider, conv));
            }
        }
    }
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
        let values: Multiset<PreferenceValue> = [
            ((a, Id(10), 5), 2),
            ((a, Id(11), 1), 1),
            ((b, Id(10), 3), 1),
        ]
        .into_iter()
        .collect();
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
        let mut values: Multiset<PreferenceValue> = [((a, Id(10), 1), 2), ((b, Id(10), 1), 1)]
            .into_iter()
            .collect();
        assert!(rows(&values)[0].1.share > rows(&values)[1].1.share);
        values.add((b, Id(12), 1), 2);
        let now = rows(&values);
        assert_eq!(now[0].1.share, OrdF64(0.4));
        assert_eq!(now[1].1.share, OrdF64(0.6));
    }
}
