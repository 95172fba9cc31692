//! `memberships`: the set of (conversation, entity) pairs, arranged by
//! conversation. Shared by the co-occurrence view; mentions of the same
//! entity in several messages of a conversation count once.

use crate::conversation_snapshots::ConversationItem;
use crate::intern::Id;
use crate::reduce_view::{reduce_view, ViewTrace};
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::VecCollection;

/// Distinct entities per conversation.
pub type MembershipTrace = ViewTrace<Id, Id>;

/// Computes the distinct memberships from conversation items.
pub fn memberships<'s>(
    items: VecCollection<'s, Time, (Id, ConversationItem), Diff>,
) -> Arranged<'s, MembershipTrace> {
    let pairs = items.flat_map(|(conv, item)| match item {
        ConversationItem::Entity(e) => Some((conv, e)),
        ConversationItem::Message { .. } => None,
    });
    reduce_view(pairs, "memberships", |_conv, input, output| {
        output.extend(input.iter().map(|(entity, _)| (**entity, 1)));
    })
}
