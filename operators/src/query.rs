//! Questions the API asks the workers, and their replies.
//!
//! A question is answered by every worker from its own traces at one
//! `as_of` (every update at a time `<= as_of`), and the replies are merged
//! by [`Reply::absorb`]. Keyed questions seek the key in the arrangement
//! (each key lives on one worker; the others answer empty), so an answer
//! costs what the key holds, not what the view holds.

use crate::facts::MessageFact;
use crate::intern::Id;
use crate::rows::{ViewName, ViewPart};
use crate::views::ViewTraces;
use crate::{Diff, Time};
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::ExchangeData;
use timely::progress::Antichain;

/// A question to every worker.
#[derive(Clone, Debug)]
pub enum Question {
    /// Every row of a view.
    View(ViewName),
    /// The distinct messages of one conversation.
    Conversation(Id),
}

/// One worker's reply (or the merged replies of all).
#[derive(Clone, Debug)]
pub enum Reply {
    /// Rows of a view.
    View(ViewPart),
    /// Messages of one conversation, ascending by `seq`.
    Messages(Vec<MessageFact>),
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
            // Replies to different questions are never merged.
            _ => {}
        }
    }
}

/// The values of `key` whose accumulated count at `as_of` is positive, in
/// the arrangement's order.
pub fn read_key<K, V>(
    trace: &mut TraceAgent<ValSpine<K, V, Time, Diff>>,
    key: &K,
    as_of: Time,
) -> Vec<V>
where
    K: ExchangeData,
    V: ExchangeData,
{
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let batches = trace.batches_through(upper.borrow()).unwrap_or_default();
    let (mut cursor, storage) = cursor_list(batches);
    cursor.seek_key(&storage, key);
    let mut out = Vec::new();
    if cursor.get_key(&storage) != Some(key) {
        return out;
    }
    while let Some(val) = cursor.get_val(&storage) {
        let mut count: Diff = 0;
        cursor.map_times(&storage, |t, d| {
            if *t <= as_of {
                count += *d;
            }
        });
        if count > 0 {
            out.push(val.clone());
        }
        cursor.step_val(&storage);
    }
    out
}

impl ViewTraces {
    /// This worker's reply to `question` at `as_of` (`None`: what it asks
    /// for is not computed by this dataflow).
    pub fn answer(&mut self, question: &Question, as_of: Time) -> Option<Reply> {
        Some(match question {
            Question::View(view) => Reply::View(self.read(*view, as_of)?),
            Question::Conversation(conv) => {
                Reply::Messages(read_key(self.conversation_messages.as_mut()?, conv, as_of))
            }
        })
    }
}
