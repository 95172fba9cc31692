//! Names of entities known from message mentions, for the Neo4j sink.
//!
//! A message's `entities` carry `{id, name, kind}`. For each id the sink
//! keeps the mention of the latest message: greatest `ts`, then
//! `conversation_id`, `seq` and payload fingerprint, so the choice depends
//! only on the set of messages seen. Every valid copy of a message counts
//! (the raw events arrive before deduplication). The graph keeps them as
//! `mention_name`/`mention_kind` on the node, and as its `name`/`kind`
//! while no `entity` event names it (the `entities` view wins).

use helixflow_operators::changes::RawEvent;
use helixflow_types::event::Event;
use std::collections::HashMap;

/// Order of a mention: (ts, conversation_id, seq, fingerprint).
type Rank = (i64, String, u64, u64);

/// The latest mention of every entity id seen.
#[derive(Default)]
pub struct Mentions {
    latest: HashMap<String, (Rank, String, String)>,
}

/// Mentions that change the graph: id → (name, kind).
pub type MentionChanges = HashMap<String, (Rank, String, String)>;

impl Mentions {
    /// The ids whose latest mention changes with `events`, and to what
    /// (nothing is recorded until [`Mentions::written`]).
    pub fn changes(&self, events: &[RawEvent]) -> MentionChanges {
        let mut out: MentionChanges = HashMap::new();
        for (fingerprint, event) in events {
            let Event::Message(m) = event else { continue };
            for e in &m.entities {
                let rank: Rank = (m.ts, m.conversation_id.clone(), m.seq, *fingerprint);
                let beats =
                    |held: Option<&(Rank, String, String)>| held.is_none_or(|(r, _, _)| rank > *r);
                if beats(self.latest.get(&e.id)) && beats(out.get(&e.id)) {
                    out.insert(e.id.clone(), (rank, e.name.clone(), e.kind.clone()));
                }
            }
        }
        out
    }

    /// Records changes the graph now holds.
    pub fn written(&mut self, changes: MentionChanges) {
        self.latest.extend(changes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helixflow_types::event::{EntityMention, Message, Role};

    fn message(conversation: &str, seq: u64, ts: i64, name: &str) -> RawEvent {
        (
            seq,
            Event::Message(Message {
                event_id: format!("m{seq}"),
                ts,
                conversation_id: conversation.into(),
                session_id: "s".into(),
                user_id: "u".into(),
                seq,
                role: Role::User,
                content: String::new(),
                tokens: 1,
                provider: None,
                model: None,
                latency_ms: None,
                intent: None,
                debate_id: None,
                entities: vec![EntityMention {
                    id: "ent-1".into(),
                    name: name.into(),
                    kind: "person".into(),
                }],
            }),
        )
    }

    #[test]
    fn the_latest_mention_names_an_entity_whatever_the_arrival_order() {
        let events = [
            message("c1", 0, 10, "old"),
            message("c2", 3, 20, "new"),
            message("c1", 1, 15, "mid"),
        ];
        let mut m = Mentions::default();
        let c = m.changes(&events);
        assert_eq!(c["ent-1"].1, "new");
        m.written(c);
        // An older mention arriving later changes nothing.
        assert!(m.changes(&[message("c3", 0, 5, "older")]).is_empty());
        let mut reversed = Mentions::default();
        let mut rev = events.to_vec();
        rev.reverse();
        assert_eq!(reversed.changes(&rev)["ent-1"].1, "new");
        reversed.written(HashMap::new());
    }
}
