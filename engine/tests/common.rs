//! Helpers shared by the engine's integration tests: test inputs and the
//! oracle (the contract computed the slow, obvious way).

#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on setup errors"
)]

use helixflow_sources::generator::{Generator, GeneratorSettings, TrafficShape};
use helixflow_types::decode::decode_event;
use helixflow_types::event::*;
use helixflow_types::timestamp::{format_hour, format_millis, hour_floor};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[path = "common/learning.rs"]
mod learning;

/// Generated lines plus hand-made conflicts, unicode ids and edge cases.
pub fn test_lines(seed: u64, events: u64) -> Vec<String> {
    let mut g = Generator::new(GeneratorSettings {
        seed,
        events: Some(events),
        rate: 0,
        duplicate_ratio: 0.03,
        malformed_ratio: 0.01,
        scale: events,
        shape: TrafficShape::SHORT.with_content_chars(80),
    });
    let mut text = String::new();
    while !g.done() {
        g.next_line(&mut text);
    }
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Conflicting payloads under one key: same message key, different tokens;
    // same provider_call event_id, different latency.
    let conflicts: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("\"type\":\"message\"") || l.contains("\"type\":\"provider_call\""))
        .step_by(17)
        .take(40)
        .map(|l| {
            l.replacen("\"tokens\":", "\"tokens\":1", 1).replacen(
                "\"latency_ms\":",
                "\"latency_ms\":9",
                1,
            )
        })
        .collect();
    lines.extend(conflicts);
    lines.extend([
        r#"{"type":"message","event_id":"u1","ts":"2026-01-30T10:00:00.5+02:00","conversation_id":"会話-1","session_id":"s","user_id":"ユーザー","seq":0,"role":"user","content":"","tokens":0,"entities":[{"id":"Zoë","name":"Z","kind":"person"},{"id":"Åsa","name":"Å","kind":"person"},{"id":"zed","name":"z","kind":"x"}]}"#.to_owned(),
        r#"{"type":"message","event_id":"u2","ts":"2026-01-30T08:00:01Z","conversation_id":"会話-1","session_id":"s2","user_id":"u","seq":1,"role":"assistant","content":"x","tokens":5,"provider":"prov-é","entities":[{"id":"Zoë","name":"Z","kind":"person"},{"id":"Zoë","name":"Z","kind":"person"}],"unknown":{"deep":[1]}}"#.to_owned(),
        r#"{"type":"memory","event_id":"mx1","ts":"2026-01-30T00:00:00Z","op":"add","memory_id":"mem-x","user_id":"u","node_id":"b","lamport":5,"content":"one","tags":["t1","t0"],"strategy":"merge_all"}"#.to_owned(),
        r#"{"type":"memory","event_id":"mx2","ts":"2026-01-30T00:00:00Z","op":"delete","memory_id":"mem-x","user_id":"u","node_id":"a","lamport":5}"#.to_owned(),
        r#"{"type":"memory","event_id":"mx3","ts":"2026-01-30T00:00:00Z","op":"update","memory_id":"mem-x","user_id":"u","node_id":"a","lamport":5,"content":"two","tags":["t2"],"strategy":"lww"}"#.to_owned(),
        // Latest-mention ties: the same ts in two conversations (the greater
        // conversation_id wins), one id twice in a message (the greater
        // (name, kind) wins), an id known only from a relationship.
        r#"{"type":"message","event_id":"t1","ts":"2026-01-30T09:00:00Z","conversation_id":"tie-b","session_id":"s","user_id":"u","seq":0,"role":"user","content":"b","tokens":1,"entities":[{"id":"tie","name":"from b","kind":"k"},{"id":"tie","name":"from b2","kind":"a"}]}"#.to_owned(),
        r#"{"type":"message","event_id":"t2","ts":"2026-01-30T09:00:00Z","conversation_id":"tie-a","session_id":"s","user_id":"u","seq":7,"role":"user","content":"a","tokens":1,"entities":[{"id":"tie","name":"from a","kind":"k"}]}"#.to_owned(),
        r#"{"type":"relationship","event_id":"r-only","ts":"2026-01-30T09:00:00Z","source_id":"only-rel","target_id":"only-rel","rel_type":"self","weight":1.5}"#.to_owned(),
        String::new(),
        "   ".to_owned(),
        "[1,2,3]".to_owned(),
    ]);
    lines
}

/// The dedup rule of docs/semantics.md, done the obvious way.
pub fn distinct_events(lines: &[String]) -> Vec<Event> {
    let mut by_key: HashMap<KeyDigest, Event> = HashMap::new();
    for l in lines {
        let Ok(e) = decode_event(l.as_bytes()) else {
            continue;
        };
        let key = e.key_digest();
        match by_key.get(&key) {
            Some(k) if (k.ts(), k.payload_fingerprint()) >= (e.ts(), e.payload_fingerprint()) => {}
            _ => {
                by_key.insert(key, e);
            }
        }
    }
    by_key.into_values().collect()
}

fn sorted_strs(set: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = set
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    v.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    v
}

/// Every view, computed from the distinct events; rows keyed by their key fields.
pub fn oracle(events: &[Event]) -> BTreeMap<&'static str, BTreeMap<Vec<String>, Value>> {
    let mut views: BTreeMap<&'static str, BTreeMap<Vec<String>, Value>> = BTreeMap::new();
    let mut convs: BTreeMap<String, Vec<&Message>> = BTreeMap::new();
    let mut calls: BTreeMap<(String, String, i64), Vec<&ProviderCall>> = BTreeMap::new();
    let mut mems: BTreeMap<String, Vec<&MemoryOp>> = BTreeMap::new();
    let mut debates: BTreeMap<String, Vec<&DebateRound>> = BTreeMap::new();
    let mut ents: BTreeMap<String, &EntityUpdate> = BTreeMap::new();
    let mut rels: BTreeMap<(String, String, String), &RelationshipUpdate> = BTreeMap::new();
    for e in events {
        match e {
            Event::Message(m) => convs.entry(m.conversation_id.clone()).or_default().push(m),
            Event::ProviderCall(c) => calls
                .entry((c.provider.clone(), c.model.clone(), hour_floor(c.ts)))
                .or_default()
                .push(c),
            Event::Memory(m) => mems.entry(m.memory_id.clone()).or_default().push(m),
            Event::DebateRound(d) => debates.entry(d.debate_id.clone()).or_default().push(d),
            Event::Entity(x) => {
                let slot = ents.entry(x.entity_id.clone()).or_insert(x);
                if (x.ts, &x.event_id) > (slot.ts, &slot.event_id) {
                    *slot = x;
                }
            }
            Event::Relationship(r) => {
                let slot = rels
                    .entry((r.source_id.clone(), r.target_id.clone(), r.rel_type.clone()))
                    .or_insert(r);
                if (r.ts, &r.event_id) > (slot.ts, &slot.event_id) {
                    *slot = r;
                }
            }
        }
    }
    let snaps = views.entry("conversation_snapshots").or_default();
    let mut pair_counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (id, msgs) in &convs {
        let first = msgs.iter().min_by_key(|m| m.seq).expect("non-empty");
        let entities: BTreeSet<&str> = msgs
            .iter()
            .flat_map(|m| m.entities.iter().map(|e| e.id.as_str()))
            .collect();
        let ents_sorted = sorted_strs(entities.iter().map(|s| s.to_string()));
        for (i, a) in ents_sorted.iter().enumerate() {
            for b in &ents_sorted[i + 1..] {
                *pair_counts.entry((a.clone(), b.clone())).or_default() += 1;
            }
        }
        snaps.insert(
            vec![id.clone()],
            json!({
                "conversation_id": id,
                "user_id": first.user_id,
                "session_id": first.session_id,
                "message_count": msgs.len(),
                "user_messages": msgs.iter().filter(|m| m.role == Role::User).count(),
                "assistant_messages": msgs.iter().filter(|m| m.role == Role::Assistant).count(),
                "total_tokens": msgs.iter().map(|m| u64::from(m.tokens)).sum::<u64>(),
                "first_ts": format_millis(msgs.iter().map(|m| m.ts).min().expect("non-empty")),
                "last_ts": format_millis(msgs.iter().map(|m| m.ts).max().expect("non-empty")),
                "last_seq": msgs.iter().map(|m| m.seq).max(),
                "providers": sorted_strs(msgs.iter().filter_map(|m| m.provider.clone())),
                "entity_count": entities.len(),
            }),
        );
    }
    let cooc = views.entry("entity_cooccurrence").or_default();
    for ((a, b), n) in pair_counts {
        cooc.insert(
            vec![a.clone(), b.clone()],
            json!({"a": a, "b": b, "count": n}),
        );
    }
    let stats = views.entry("provider_stats").or_default();
    for ((p, m, h), cs) in &calls {
        let mut lat: Vec<u32> = cs.iter().map(|c| c.latency_ms).collect();
        lat.sort_unstable();
        let n = lat.len() as u64;
        let pct = |p: u64| lat[((p * n).div_ceil(100).max(1) - 1) as usize];
        stats.insert(
            vec![p.clone(), m.clone(), format_hour(*h)],
            json!({
                "provider": p, "model": m, "hour": format_hour(*h),
                "calls": n,
                "errors": cs.iter().filter(|c| !c.success).count(),
                "tokens_in": cs.iter().map(|c| u64::from(c.tokens_in)).sum::<u64>(),
                "tokens_out": cs.iter().map(|c| u64::from(c.tokens_out)).sum::<u64>(),
                "cost_usd": cs.iter().map(|c| c.cost_usd).sum::<f64>(),
                "latency_p50": pct(50), "latency_p95": pct(95), "latency_p99": pct(99),
                "latency_avg": lat.iter().map(|l| f64::from(*l)).sum::<f64>() / n as f64,
            }),
        );
    }
    let mem = views.entry("memory_state").or_default();
    for (id, ops) in &mems {
        let mut ops = ops.clone();
        ops.sort_by(|a, b| {
            (a.lamport, a.node_id.as_bytes(), a.event_id.as_bytes()).cmp(&(
                b.lamport,
                b.node_id.as_bytes(),
                b.event_id.as_bytes(),
            ))
        });
        let w = ops.last().expect("non-empty");
        if w.op == MemoryOpKind::Delete {
            continue;
        }
        let tags = match w.strategy {
            MergeStrategy::Lww => sorted_strs(w.tags.clone().unwrap_or_default()),
            MergeStrategy::MergeAll => {
                let last_delete = ops.iter().rposition(|o| o.op == MemoryOpKind::Delete);
                let from = last_delete.map_or(0, |i| i + 1);
                sorted_strs(
                    ops[from..]
                        .iter()
                        .flat_map(|o| o.tags.clone().unwrap_or_default()),
                )
            }
        };
        mem.insert(
            vec![id.clone()],
            json!({"memory_id": id, "content": w.content.clone().unwrap_or_default(), "user_id": w.user_id,
                   "tags": tags, "version": [w.lamport, w.node_id]}),
        );
    }
    let deb = views.entry("debate_stats").or_default();
    for (id, rounds) in &debates {
        let mut per: BTreeMap<Vec<u8>, (String, f64, u64)> = BTreeMap::new();
        for r in rounds {
            let e =
                per.entry(r.provider.as_bytes().to_vec())
                    .or_insert((r.provider.clone(), 0.0, 0));
            e.1 += r.score;
            e.2 += 1;
        }
        let mut leader: Option<(&str, f64)> = None;
        for (name, total, _) in per.values() {
            if leader.is_none_or(|(_, t)| *total > t) {
                leader = Some((name, *total));
            }
        }
        let means: serde_json::Map<String, Value> = per
            .values()
            .map(|(n, t, c)| (n.clone(), json!(t / *c as f64)))
            .collect();
        deb.insert(
            vec![id.clone()],
            json!({"debate_id": id, "rounds": rounds.iter().map(|r| r.round).max(),
                   "participants": per.values().map(|(n, _, _)| n.clone()).collect::<Vec<_>>(),
                   "mean_score": means, "leader": leader.map(|(n, _)| n),
                   "consensus": rounds.iter().any(|r| r.consensus)}),
        );
    }
    let ev = views.entry("entities").or_default();
    for (id, e) in ents.clone() {
        let mut row = json!({"entity_id": id, "name": e.name, "kind": e.kind, "ts": format_millis(e.ts), "event_id": e.event_id});
        if let Some(p) = &e.properties {
            row["properties"] = Value::Object(p.clone());
        }
        if let Some(c) = &e.conversation_id {
            row["conversation_id"] = json!(c);
        }
        ev.insert(vec![id], row);
    }
    let dir = views.entry("entity_directory").or_default();
    // id → (latest mention's rank and (name, kind), conversations, messages)
    type Latest<'a> = ((i64, &'a [u8], u64), (&'a str, &'a str));
    let mut mentioned: BTreeMap<&str, (Latest, BTreeSet<&str>, u64)> = BTreeMap::new();
    for m in convs.values().flatten() {
        let mut in_message: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for e in &m.entities {
            let best = in_message
                .entry(e.id.as_str())
                .or_insert((&e.name, &e.kind));
            if (e.name.as_bytes(), e.kind.as_bytes()) > (best.0.as_bytes(), best.1.as_bytes()) {
                *best = (&e.name, &e.kind);
            }
        }
        for (id, named) in in_message {
            let rank = (m.ts, m.conversation_id.as_bytes(), m.seq);
            let slot = mentioned
                .entry(id)
                .or_insert(((rank, named), BTreeSet::new(), 0));
            if rank > slot.0 .0 {
                slot.0 = (rank, named);
            }
            slot.1.insert(&m.conversation_id);
            slot.2 += 1;
        }
    }
    let mut related: BTreeMap<&str, u64> = BTreeMap::new();
    for (s, t, _) in rels.keys() {
        *related.entry(s).or_default() += 1;
        if t != s {
            *related.entry(t).or_default() += 1;
        }
    }
    let all_ids: BTreeSet<&str> = ents
        .keys()
        .map(String::as_str)
        .chain(mentioned.keys().copied())
        .chain(related.keys().copied())
        .collect();
    for id in all_ids {
        let m = mentioned.get(id);
        let (name, kind) = match (ents.get(id), m) {
            (Some(e), _) => (json!(e.name), json!(e.kind)),
            (None, Some(((_, (n, k)), _, _))) => (json!(n), json!(k)),
            (None, None) => (Value::Null, Value::Null),
        };
        dir.insert(
            vec![id.to_owned()],
            json!({"id": id, "name": name, "kind": kind,
                   "conversations": m.map_or(0, |m| m.1.len() as u64),
                   "mentions": m.map_or(0, |m| m.2),
                   "relationships": related.get(id).copied().unwrap_or(0)}),
        );
    }
    let rv = views.entry("relationships").or_default();
    for ((s, t, ty), r) in rels {
        let mut row = json!({"source_id": s, "target_id": t, "rel_type": ty, "weight": r.weight,
                             "ts": format_millis(r.ts), "event_id": r.event_id});
        if let Some(c) = &r.conversation_id {
            row["conversation_id"] = json!(c);
        }
        rv.insert(vec![s, t, ty], row);
    }
    learning::add_views(&mut views, &convs, &calls, &debates);
    views
}

/// JSON equality with a relative tolerance of 1e-9 on floats.
pub fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// The key fields of each view, in order.
pub fn key_fields(view: &str) -> &'static [&'static str] {
    match view {
        "conversation_snapshots" => &["conversation_id"],
        "entity_cooccurrence" => &["a", "b"],
        "provider_stats" => &["provider", "model", "hour"],
        "memory_state" => &["memory_id"],
        "debate_stats" => &["debate_id"],
        "entities" => &["entity_id"],
        "entity_directory" => &["id"],
        "user_intents" => &["user_id", "intent"],
        "user_preferences" => &["user_id", "provider"],
        "conversation_flow" => &["from_role", "to_role"],
        "debate_strategies" => &["stance"],
        "provider_performance" => &["provider", "model"],
        _ => &["source_id", "target_id", "rel_type"],
    }
}

/// Asserts a view file's lines equal the oracle's rows, in key order.
pub fn assert_view_matches(view: &str, text: &str, expected: &BTreeMap<Vec<String>, Value>) {
    let got: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("view line is JSON"))
        .collect();
    let mut want: Vec<(&Vec<String>, &Value)> = expected.iter().collect();
    want.sort_by(|a, b| {
        a.0.iter()
            .map(|s| s.as_bytes())
            .cmp(b.0.iter().map(|s| s.as_bytes()))
    });
    assert_eq!(got.len(), want.len(), "{view}: row count");
    for (g, (key, w)) in got.iter().zip(want) {
        assert!(close(g, w), "{view} row {key:?}:\n got  {g}\n want {w}");
        let fields: Vec<&str> = g
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            key_fields(view).iter().all(|k| fields.contains(k)),
            "{view}: key fields present"
        );
    }
}

/// A plain HTTP/1.1 client for tests over a real socket.
#[allow(clippy::unwrap_used, reason = "test helpers fail loudly")]
/// An engine of 2 workers over JSONL files (5 ms epochs, every view),
/// followed for appended lines when `follow`.
pub fn file_engine(
    name: &str,
    paths: Vec<std::path::PathBuf>,
    follow: bool,
) -> helixflow_engine::engine::Engine {
    use helixflow_sources::feed::{EpochClock, EpochPolicy};
    use helixflow_types::topology::{FileSourceConfig, SourceConfig};
    helixflow_engine::engine::Engine::start(helixflow_engine::engine::EngineSpec {
        workers: 2,
        views: helixflow_operators::views::ViewSet::all(),
        sources: vec![SourceConfig::File(FileSourceConfig {
            name: name.into(),
            paths,
            follow,
        })],
        epochs: EpochPolicy::Clock(EpochClock::new(std::time::Duration::from_millis(5))),
        rejects: helixflow_engine::rejects::RejectLog::default(),
        feed_capacity: 8,
        sinks: Vec::new(),
        cluster: None,
        timeouts: Default::default(),
    })
    .expect("engine starts")
}

/// The API over `engine` (every view), with its sources and sinks (for
/// health and the sync barrier), on a free loopback port.
pub fn serve(
    engine: &helixflow_engine::engine::Engine,
    sources: &[helixflow_types::topology::SourceConfig],
) -> helixflow_api::server::ApiServer {
    let reader = helixflow_engine::run::EngineReader::new(
        std::sync::Arc::clone(&engine.shared),
        engine.kafka.clone(),
        helixflow_operators::views::ViewSet::all(),
        "test",
    )
    .with_sync(sources, engine.sinks.clone())
    .expect("reader");
    helixflow_api::server::ApiServer::start(
        "127.0.0.1:0".parse().unwrap(),
        std::sync::Arc::new(reader),
    )
    .expect("api")
}

/// What the tests read while database sinks are down: views and queries.
pub const READS_WHILE_SINKS_DOWN: [&str; 5] = [
    "/v1/views/entity_cooccurrence?limit=5",
    "/v1/views/provider_stats",
    "/v1/learning/insights",
    "/v1/memory/sync/status",
    "/v1/knowledge/related/nobody",
];

/// While `sinks` are down: every read of [`READS_WHILE_SINKS_DOWN`] and
/// both health routes answer (not a 5xx) within a second, and both health
/// routes are `degraded` (HTTP 200), naming each sink `degraded` since a
/// time, with its rows held. Returns the slowest answer.
pub fn assert_served_while_sinks_down(
    addr: std::net::SocketAddr,
    sinks: &[&str],
) -> std::time::Duration {
    use std::time::{Duration, Instant};
    let mut slowest = Duration::ZERO;
    for target in READS_WHILE_SINKS_DOWN
        .iter()
        .copied()
        .chain(["/v1/bigdata/health", "/v1/health"])
    {
        let started = Instant::now();
        let reply = http::get(addr, target);
        let took = started.elapsed();
        slowest = slowest.max(took);
        assert!(
            reply.status < 500,
            "{target} answered {} while sinks were down: {}",
            reply.status,
            reply.body
        );
        assert!(
            took < Duration::from_secs(1),
            "{target} took {took:?} while sinks were down"
        );
    }
    for (target, list) in [
        ("/v1/bigdata/health", "components"),
        ("/v1/health", "sinks"),
    ] {
        let reply = http::get(addr, target);
        assert_eq!(reply.status, 200, "{target}: degraded is not down");
        let health = reply.json();
        assert_eq!(health["status"], "degraded", "{target}: {health}");
        for sink in sinks {
            let named = health[list].as_array().into_iter().flatten().any(|c| {
                c["name"] == *sink
                    && c["state"] == "degraded"
                    && c["figures"]["failing_since"].is_string()
                    && c["figures"]["rows_held"].is_u64()
            });
            assert!(
                named,
                "{target} does not name sink `{sink}` as degraded: {health}"
            );
        }
    }
    slowest
}

pub mod http {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    pub struct Reply {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: String,
    }

    impl Reply {
        /// The body as JSON.
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body).unwrap()
        }

        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    pub fn get(addr: SocketAddr, target: &str) -> Reply {
        request(addr, "GET", target, b"")
    }

    pub fn post(addr: SocketAddr, target: &str, body: &str) -> Reply {
        request(addr, "POST", target, body.as_bytes())
    }

    pub fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Reply {
        request_with(addr, method, target, &[], body)
    }

    /// A request with extra header lines (`Name: value`).
    pub fn request_with(
        addr: SocketAddr,
        method: &str,
        target: &str,
        headers: &[&str],
        body: &[u8],
    ) -> Reply {
        try_request_with(addr, method, target, headers, body)
            .unwrap_or_else(|| panic!("no HTTP reply from {addr} to {method} {target}"))
    }

    /// A GET that may find no server, or a closed connection, or something
    /// that is not HTTP on the port (`None`): for polling a server that is
    /// still starting.
    pub fn try_get(addr: SocketAddr, target: &str) -> Option<Reply> {
        try_request_with(addr, "GET", target, &[], b"")
    }

    fn try_request_with(
        addr: SocketAddr,
        method: &str,
        target: &str,
        headers: &[&str],
        body: &[u8],
    ) -> Option<Reply> {
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        write!(
            s,
            "{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .ok()?;
        s.write_all(body).ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let mut lines = head.lines();
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines
            .filter_map(|l| {
                l.split_once(": ")
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        Some(Reply {
            status,
            headers,
            body: body.to_owned(),
        })
    }
}

/// Every file under `root` (recursively), as paths relative to it, sorted;
/// a directory that vanishes meanwhile is skipped.
pub fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Asserts every `.jsonl` view file in `a` has a byte-identical twin in
/// `b`; returns how many were compared.
pub fn assert_same_view_files(a: &std::path::Path, b: &std::path::Path) -> usize {
    let mut same = 0;
    for e in std::fs::read_dir(a).unwrap().flatten() {
        let name = e.file_name();
        if name.to_string_lossy().ends_with(".jsonl") {
            let (x, y) = (
                std::fs::read(e.path()).unwrap(),
                std::fs::read(b.join(&name)),
            );
            assert!(
                y.is_ok_and(|y| y == x),
                "{name:?} differs between {} and {}",
                a.display(),
                b.display()
            );
            same += 1;
        }
    }
    same
}

/// SIGKILLs process `killed` of a cluster and checks every other stops
/// within 30 s with exit 3 and one message naming it.
pub fn kill_and_assert_others_stop(
    children: &mut [std::process::Child],
    killed: usize,
    logs: &[std::path::PathBuf],
    addresses: &[String],
) {
    children[killed].kill().unwrap();
    children[killed].wait().unwrap();
    for (i, child) in children
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| *i != killed)
    {
        assert_stops_naming(child, i, &logs[i], killed, &addresses[killed]);
    }
}

/// Checks that process `i` of a cluster stops within 30 s with exit 3 and
/// one message (in `log`) naming the lost process `lost` at `address`.
pub fn assert_stops_naming(
    child: &mut std::process::Child,
    i: usize,
    log: &std::path::Path,
    lost: usize,
    address: &str,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {i} kept running without process {lost}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(log).unwrap();
    assert_eq!(status.code(), Some(3), "process {i}: {log}");
    assert!(
        log.contains(&format!("lost process {lost} ({address})")),
        "process {i} names the lost peer: {log}"
    );
    assert_eq!(
        log.matches("error: cluster:").count(),
        1,
        "one message: {log}"
    );
    assert!(!log.contains("panicked"), "no panic: {log}");
}

/// A CA of its own, made by openssl in `dir`, that signed none of the test
/// servers' certificates: a client trusting only it must refuse them.
pub fn foreign_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let ca = dir.join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other",
        ])
        .arg("-keyout")
        .arg(dir.join("other.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .expect("running openssl");
    assert!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    ca
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a loopback port")
        .local_addr()
        .expect("its address")
        .port()
}

/// The value of an environment variable a test needs, or a panic saying
/// `how` to set it (the services' scripts print these variables).
pub fn required_env(name: &str, how: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {how}"))
}
