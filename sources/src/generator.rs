//! A seeded generator of realistic HelixAgent traffic: interleaved
//! conversations whose messages mention entities, provider calls with
//! long-tailed latencies, CRDT memory operations from several nodes, entity
//! and relationship updates, and debate rounds. Optionally re-sends some
//! events (at-least-once duplicates) and corrupts some lines.
//!
//! How heavy the traffic is to process is a [`TrafficShape`]: content sizes
//! and how densely conversations mention entities. At 1M events ~55% are
//! messages in ~16K conversations; [`TrafficShape::SHORT`] (the default)
//! writes short labels and ~49 distinct entities per conversation (19.1M
//! pair incidences), [`TrafficShape::REALISTIC`] ~350-character contents
//! (about 500 bytes an event) and about 6M incidences.

use crate::feed::{Chunk, EpochCursor, EpochPolicy, FeedClosed, SourceHandle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generator settings.
#[derive(Clone, Debug)]
pub struct GeneratorSettings {
    /// Seed; the same settings give the same lines.
    pub seed: u64,
    /// Stop after this many lines (`None`: never).
    pub events: Option<u64>,
    /// Lines per second; 0 = as fast as possible.
    pub rate: u64,
    /// Fraction of lines that repeat an earlier event.
    pub duplicate_ratio: f64,
    /// Fraction of lines that are malformed.
    pub malformed_ratio: f64,
    /// Size of the world (conversations, entities...), as if this many events
    /// were planned; defaults to `events` or 1M.
    pub scale: u64,
    /// What the traffic looks like: content sizes and co-occurrence density.
    pub shape: TrafficShape,
}

/// The settings that decide how heavy the traffic is to process: how long
/// message contents are and how densely conversations mention entities
/// (which sets the entity-pair incidences: a conversation mentioning `k`
/// distinct entities gives `k(k-1)/2`). Benchmarks state the shape they ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficShape {
    /// Characters of message content: 0 writes a short label ("message 3 of
    /// conversation 7"); more writes text of about that many characters
    /// (words, some non-ASCII, quotes and newlines that JSON escapes), as
    /// realistic traffic carries.
    pub content_chars: usize,
    /// Each conversation draws the entities it talks about (its topic) from a
    /// community of 200 related ones: between `topic_entities.0` and
    /// `topic_entities.1` (exclusive) draws, so the same pairs recur across
    /// conversations. 95% of mentions come from the topic.
    pub topic_entities: (u64, u64),
    /// Each message mentions between 0 and this many entities (uniformly).
    pub mentions_max: u32,
}

impl TrafficShape {
    /// The shape the generator had before it was configurable: short
    /// labels for contents, topics of 40..100 draws, 0..=6 mentions (19.1M
    /// pair incidences per 1M events; ~300 bytes an event).
    pub const SHORT: TrafficShape = TrafficShape {
        content_chars: 0,
        topic_entities: (40, 100),
        mentions_max: 6,
    };

    /// Realistic traffic: contents of ~350 characters (486 bytes an event
    /// on average at seed 42), topics of 18..45 draws and 0..=4 mentions:
    /// 5.9M pair incidences and 5.1M distinct pairs per 1M events, ~27
    /// distinct entities per conversation.
    pub const REALISTIC: TrafficShape = TrafficShape {
        content_chars: 350,
        topic_entities: (18, 45),
        mentions_max: 4,
    };
}

impl TrafficShape {
    /// This shape with contents of `chars` characters (0: short labels).
    pub const fn with_content_chars(self, chars: usize) -> TrafficShape {
        TrafficShape {
            content_chars: chars,
            ..self
        }
    }
}

impl Default for TrafficShape {
    fn default() -> Self {
        TrafficShape::SHORT
    }
}

impl std::fmt::Display for TrafficShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.content_chars {
            0 => write!(f, "short-label contents")?,
            n => write!(f, "{n}-character contents")?,
        }
        write!(
            f,
            ", topics of {}..{} entity draws, 0..={} mentions a message",
            self.topic_entities.0, self.topic_entities.1, self.mentions_max
        )
    }
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        GeneratorSettings {
            seed: 42,
            events: None,
            rate: 0,
            duplicate_ratio: 0.0,
            malformed_ratio: 0.0,
            scale: 1_000_000,
            shape: TrafficShape::default(),
        }
    }
}

const PROVIDERS: [(&str, &[&str]); 5] = [
    ("openai", &["gpt-4o", "gpt-4o-mini"]),
    ("anthropic", &["claude-3-5-sonnet", "claude-3-haiku"]),
    ("google", &["gemini-1.5-pro"]),
    ("mistral", &["mistral-large"]),
    ("deepseek", &["deepseek-chat"]),
];
const KINDS: [&str; 6] = [
    "person", "project", "library", "company", "place", "concept",
];
const REL_TYPES: [&str; 5] = ["uses", "depends_on", "works_on", "mentions", "located_in"];
const INTENTS: [&str; 5] = [
    "code_help",
    "research",
    "planning",
    "chit_chat",
    "debugging",
];
const TAGS: [&str; 8] = [
    "work", "personal", "todo", "idea", "urgent", "later", "family", "ml",
];
const WORDS: [&str; 24] = [
    "the",
    "agent",
    "memory",
    "context",
    "provider",
    "latency",
    "graph",
    "entity",
    "stream",
    "query",
    "token",
    "model",
    "café",
    "naïve",
    "résumé",
    "数据",
    "ok",
    "\\\"quoted\\\"",
    "line\\n",
    "retry",
    "cost",
    "debate",
    "answer",
    "plan",
];
const BASE_MS: i64 = 1_769_731_200_000; // 2026-01-30T00:00:00Z

struct Conversation {
    id: u64,
    user: u64,
    session: u64,
    next_seq: u64,
    length: u64,
    topic: Vec<u64>,
}

/// Produces event lines one at a time.
pub struct Generator {
    s: GeneratorSettings,
    rng: SmallRng,
    produced: u64,
    next_conv: u64,
    active: Vec<Conversation>,
    recent: Vec<String>,
    memory_clock: Vec<u64>,
    debate_round: Vec<u32>,
    users: u64,
    entities: u64,
    memories: u64,
    debates: u64,
}

impl Generator {
    /// A generator with these settings.
    pub fn new(s: GeneratorSettings) -> Self {
        let scale = s.scale.max(1000);
        let memories = (scale / 200).max(10);
        let debates = (scale / 500).max(5);
        Generator {
            rng: SmallRng::seed_from_u64(s.seed),
            produced: 0,
            next_conv: 0,
            active: Vec::new(),
            recent: Vec::new(),
            memory_clock: vec![0; memories as usize],
            debate_round: vec![0; debates as usize],
            users: (scale / 400).max(10),
            entities: (scale / 10).max(100),
            memories,
            debates,
            s,
        }
    }

    /// Lines produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// True when the configured number of lines is reached.
    pub fn done(&self) -> bool {
        self.s.events.is_some_and(|n| self.produced >= n)
    }

    /// Appends the next line (with its `\n`) to `out`.
    pub fn next_line(&mut self, out: &mut String) {
        self.produced += 1;
        let roll: f64 = self.rng.gen();
        if roll < self.s.malformed_ratio {
            self.malformed(out);
        } else if roll < self.s.malformed_ratio + self.s.duplicate_ratio && !self.recent.is_empty()
        {
            let i = self.rng.gen_range(0..self.recent.len());
            out.push_str(&self.recent[i]);
        } else {
            let start = out.len();
            self.event(out);
            if self.s.duplicate_ratio > 0.0 {
                let line = out[start..].to_owned();
                if self.recent.len() < 1024 {
                    self.recent.push(line);
                } else {
                    let i = self.rng.gen_range(0..1024);
                    self.recent[i] = line;
                }
            }
        }
        out.push('\n');
    }

    fn ts(&mut self) -> String {
        let ms = BASE_MS + self.produced as i64 * 50 + self.rng.gen_range(0..50);
        let mut s = String::with_capacity(24);
        helixflow_types::timestamp::write_millis(ms, &mut s);
        s
    }

    fn entity_id(&mut self, topic: Option<&[u64]>) -> u64 {
        match topic {
            Some(t) if self.rng.gen_bool(0.95) => t[self.rng.gen_range(0..t.len())],
            _ => {
                let u: f64 = self.rng.gen();
                (u * u * self.entities as f64) as u64
            }
        }
    }

    fn entity_name(id: u64) -> String {
        // A few ids carry non-ASCII text, as real names do.
        if id.is_multiple_of(97) {
            format!("ent-ü{id}-Ωmega")
        } else {
            format!("ent-{id}")
        }
    }

    fn event(&mut self, out: &mut String) {
        let eid = self.produced;
        let ts = self.ts();
        let roll: f64 = self.rng.gen();
        let (provider, models) = PROVIDERS[self.rng.gen_range(0..PROVIDERS.len())];
        let model = models[self.rng.gen_range(0..models.len())];
        // Writing to a String cannot fail.
        if roll < 0.55 {
            if self.active.len() < 200 || self.rng.gen_bool(0.01) {
                self.start_conversation();
            }
            let i = self.rng.gen_range(0..self.active.len());
            let (conv_id, user, session, seq, topic) = {
                let c = &mut self.active[i];
                let seq = c.next_seq;
                c.next_seq += 1;
                (c.id, c.user, c.session, seq, c.topic.clone())
            };
            let role = match seq % 2 {
                0 if seq % 10 == 0 => "system",
                0 => "user",
                _ if self.rng.gen_bool(0.1) => "tool",
                _ => "assistant",
            };
            let _ = write!(
                out,
                r#"{{"type":"message","event_id":"msg-{eid}","ts":"{ts}","conversation_id":"conv-{conv_id}","session_id":"sess-{session}","user_id":"user-{user}","seq":{seq},"role":"{role}","content":""#
            );
            self.content(seq, conv_id, out);
            let _ = write!(out, r#"","tokens":{}"#, self.rng.gen_range(1..800));
            if role == "assistant" {
                let _ = write!(
                    out,
                    r#","provider":"{provider}","model":"{model}","latency_ms":{}"#,
                    self.latency()
                );
            }
            if self.rng.gen_bool(0.3) {
                let _ = write!(
                    out,
                    r#","intent":"{}""#,
                    INTENTS[self.rng.gen_range(0..INTENTS.len())]
                );
            }
            let mentions = self.rng.gen_range(0..=self.s.shape.mentions_max);
            if mentions > 0 {
                out.push_str(r#","entities":["#);
                for m in 0..mentions {
                    let e = self.entity_id(Some(&topic));
                    if m > 0 {
                        out.push(',');
                    }
                    let id = Self::entity_name(e);
                    // Now and then a mention names the entity otherwise.
                    let alias = self.rng.gen_range(0..40);
                    let name = match alias {
                        0..=2 => format!("{id} aka {alias}"),
                        _ => id.clone(),
                    };
                    let _ = write!(
                        out,
                        r#"{{"id":"{id}","name":"{name}","kind":"{}"}}"#,
                        KINDS[(e % 6) as usize]
                    );
                }
                out.push(']');
            }
            out.push('}');
            if self.active[i].next_seq >= self.active[i].length {
                self.active.swap_remove(i);
            }
        } else if roll < 0.75 {
            let success = self.rng.gen_bool(0.97);
            let tin = self.rng.gen_range(10..4000);
            let tout = self.rng.gen_range(1..2000);
            let cost = (tin + tout) as f64 * 0.000_002 * (1.0 + self.rng.gen::<f64>());
            let _ = write!(
                out,
                r#"{{"type":"provider_call","event_id":"call-{eid}","ts":"{ts}","provider":"{provider}","model":"{model}","latency_ms":{},"tokens_in":{tin},"tokens_out":{tout},"cost_usd":{cost:.6},"success":{success}"#,
                self.latency()
            );
            if !success {
                out.push_str(r#","error":"rate_limited""#);
            }
            out.push('}');
        } else if roll < 0.85 {
            let m = self.rng.gen_range(0..self.memories);
            let clock = &mut self.memory_clock[m as usize];
            // Concurrent writers now and then share a Lamport time.
            if self.rng.gen_bool(0.8) {
                *clock += 1;
            }
            let lamport = *clock;
            let op = match self.rng.gen_range(0..10) {
                0 if lamport > 1 => "delete",
                0..=3 => "add",
                _ => "update",
            };
            let _ = write!(
                out,
                r#"{{"type":"memory","event_id":"mem-{eid}","ts":"{ts}","op":"{op}","memory_id":"memory-{m}","user_id":"user-{}","node_id":"node-{}","lamport":{lamport}"#,
                m % self.users,
                self.rng.gen_range(0..5)
            );
            if op != "delete" {
                let _ = write!(out, r#","content":"fact {lamport} about memory {m}""#);
                let t1 = TAGS[self.rng.gen_range(0..TAGS.len())];
                let t2 = TAGS[self.rng.gen_range(0..TAGS.len())];
                let _ = write!(out, r#","tags":["{t1}","{t2}"]"#);
                if self.rng.gen_bool(0.3) {
                    out.push_str(r#","strategy":"merge_all""#);
                }
            }
            out.push('}');
        } else if roll < 0.91 {
            let e = self.entity_id(None);
            let name = Self::entity_name(e);
            let _ = write!(
                out,
                r#"{{"type":"entity","event_id":"ent-evt-{eid}","ts":"{ts}","entity_id":"{name}","name":"{name} v{eid}","kind":"{}","properties":{{"score":{},"verified":{}}}"#,
                KINDS[(e % 6) as usize],
                self.rng.gen_range(0..100),
                self.rng.gen_bool(0.5)
            );
            if self.rng.gen_bool(0.5) {
                let _ = write!(
                    out,
                    r#","conversation_id":"conv-{}""#,
                    self.rng.gen_range(0..self.next_conv.max(1))
                );
            }
            out.push('}');
        } else if roll < 0.96 {
            let a = Self::entity_name(self.entity_id(None));
            let b = Self::entity_name(self.entity_id(None));
            let _ = write!(
                out,
                r#"{{"type":"relationship","event_id":"rel-evt-{eid}","ts":"{ts}","source_id":"{a}","target_id":"{b}","rel_type":"{}","weight":{:.3}}}"#,
                REL_TYPES[self.rng.gen_range(0..REL_TYPES.len())],
                self.rng.gen::<f64>()
            );
        } else {
            let d = self.rng.gen_range(0..self.debates);
            let round = &mut self.debate_round[d as usize];
            if self.rng.gen_bool(0.4) {
                *round += 1;
            }
            let round = (*round).max(1);
            let (dp, dms) = PROVIDERS[(d as usize + self.rng.gen_range(0..3)) % PROVIDERS.len()];
            // From the event number, not the generator's random stream, so
            // every other field of a seed's events stays as it was.
            let stance = match eid % 7 {
                0..=2 => r#","stance":"pro""#,
                3 | 4 => r#","stance":"con""#,
                5 => r#","stance":"neutral""#,
                _ => "",
            };
            let _ = write!(
                out,
                r#"{{"type":"debate_round","event_id":"deb-{eid}","ts":"{ts}","debate_id":"debate-{d}","conversation_id":"conv-{}","provider":"{dp}","model":"{}","round":{round},"score":{:.2}{stance},"consensus":{}}}"#,
                d * 7,
                dms[0],
                self.rng.gen_range(0.0..10.0),
                self.rng.gen_bool(0.05)
            );
        }
    }

    /// Writes a message's content (already JSON-escaped) to `out`.
    fn content(&mut self, seq: u64, conv_id: u64, out: &mut String) {
        if self.s.shape.content_chars == 0 {
            let _ = write!(out, "message {seq} of conversation {conv_id}");
            return;
        }
        let start = out.len();
        while out.len() - start < self.s.shape.content_chars {
            if out.len() > start {
                out.push(' ');
            }
            out.push_str(WORDS[self.rng.gen_range(0..WORDS.len())]);
        }
    }

    fn latency(&mut self) -> u32 {
        let u: f64 = self.rng.gen::<f64>().max(1e-9);
        (200.0 + 400.0 * (-u.ln()).powf(1.5)) as u32
    }

    fn start_conversation(&mut self) {
        let id = self.next_conv;
        self.next_conv += 1;
        let user = self.rng.gen_range(0..self.users);
        // Conversations draw their topics from communities of 200 related
        // entities, so entity pairs recur across conversations.
        let community_size = 200u64.min(self.entities);
        let communities = (self.entities / community_size).max(1);
        let base = self.rng.gen_range(0..communities) * community_size;
        let (low, high) = self.s.shape.topic_entities;
        let topic_size = self.rng.gen_range(low.max(1)..high.max(low.max(1) + 1));
        let topic = (0..topic_size)
            .map(|_| base + self.rng.gen_range(0..community_size))
            .collect();
        self.active.push(Conversation {
            id,
            user,
            session: id * 3 + self.rng.gen_range(0..3),
            next_seq: 0,
            length: self.rng.gen_range(8..60),
            topic,
        });
    }

    fn malformed(&mut self, out: &mut String) {
        let eid = self.produced;
        let _ = match self.rng.gen_range(0..6) {
            0 => write!(
                out,
                r#"{{"type":"message","event_id":"bad-{eid}","ts":"2026-01-30T00:00:00Z","conversation_id":"#
            ),
            1 => write!(
                out,
                r#"{{"type":"provider_call","event_id":"bad-{eid}","ts":"2026-01-30T00:00:00Z","provider":"openai","model":"gpt-4o","latency_ms":-5,"tokens_in":1,"tokens_out":1,"cost_usd":0.1,"success":true}}"#
            ),
            2 => write!(
                out,
                r#"{{"type":"telemetry","event_id":"bad-{eid}","ts":"2026-01-30T00:00:00Z"}}"#
            ),
            3 => write!(
                out,
                r#"{{"type":"message","event_id":"bad-{eid}","ts":"yesterday","conversation_id":"c","session_id":"s","user_id":"u","seq":1,"role":"user","content":"","tokens":1}}"#
            ),
            4 => write!(
                out,
                r#"{{"type":"debate_round","event_id":"bad-{eid}","ts":"2026-01-30T00:00:00Z","debate_id":"d","provider":"p","model":"m","round":1.5,"score":1}}"#
            ),
            _ => write!(out, "not json at all {eid}"),
        };
    }

    /// Runs as a source: sends chunks into the feed at the configured rate
    /// until done or `stop` is set.
    pub fn run(
        mut self,
        handle: &SourceHandle,
        epochs: EpochPolicy,
        stop: &AtomicBool,
    ) -> Result<(), FeedClosed> {
        let mut epochs = EpochCursor::new(epochs);
        let started = Instant::now();
        let origin: Arc<str> = Arc::from("generator");
        let batch = if self.s.rate == 0 {
            2048
        } else {
            (self.s.rate / 200).clamp(1, 2048)
        };
        while !self.done() && !stop.load(Ordering::Relaxed) {
            if self.s.rate > 0 {
                let due = (started.elapsed().as_secs_f64() * self.s.rate as f64) as u64;
                if self.produced >= due {
                    if let Some(closed) = epochs.advance() {
                        handle.seal(closed, self.position());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
            }
            let mut text = String::with_capacity(batch as usize * 300);
            let first = self.produced + 1;
            let mut n = 0;
            while n < batch && !self.done() {
                self.next_line(&mut text);
                n += 1;
            }
            handle.send(
                Chunk {
                    source: handle.index(),
                    epoch: epochs.current(),
                    first_line: first,
                    origin: Arc::clone(&origin),
                    records: None,
                    decoded: None,
                    data: text.into_bytes(),
                },
                n,
            )?;
            epochs.sent(n);
            if let Some(closed) = epochs.advance() {
                handle.seal(closed, self.position());
            }
        }
        handle.finish(epochs.current(), self.position());
        Ok(())
    }

    fn position(&self) -> serde_json::Value {
        serde_json::json!({ "events": self.produced })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lines_and_every_line_is_one_line() {
        let settings = GeneratorSettings {
            seed: 7,
            events: Some(2000),
            duplicate_ratio: 0.05,
            malformed_ratio: 0.01,
            scale: 2000,
            shape: TrafficShape::REALISTIC,
            ..GeneratorSettings::default()
        };
        let run = |s: GeneratorSettings| {
            let mut g = Generator::new(s);
            let mut out = String::new();
            while !g.done() {
                g.next_line(&mut out);
            }
            out
        };
        let a = run(settings.clone());
        assert_eq!(a, run(settings));
        assert_eq!(a.lines().count(), 2000);
        let decoded = a
            .lines()
            .filter(|l| helixflow_types::decode::decode_event(l.as_bytes()).is_ok())
            .count();
        assert!(decoded > 1900 && decoded < 2000, "{decoded}");
    }
}
