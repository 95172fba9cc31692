//! The oracle's five learning views (api.md), the slow, obvious way.

use helixflow_types::event::{DebateRound, Message, ProviderCall, Role};
use helixflow_types::timestamp::format_millis;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

type Views = BTreeMap<&'static str, BTreeMap<Vec<String>, Value>>;

/// Adds the learning views computed from the grouped distinct events
/// (`debate_stats` must already be in `views`).
pub fn add_views(
    views: &mut Views,
    convs: &BTreeMap<String, Vec<&Message>>,
    calls: &BTreeMap<(String, String, i64), Vec<&ProviderCall>>,
    debates: &BTreeMap<String, Vec<&DebateRound>>,
) {
    let messages: Vec<&Message> = convs.values().flatten().copied().collect();
    views.insert("user_intents", user_intents(&messages));
    views.insert("user_preferences", user_preferences(&messages));
    views.insert("conversation_flow", conversation_flow(convs));
    let strategies = debate_strategies(debates, &views["debate_stats"]);
    views.insert("debate_strategies", strategies);
    views.insert("provider_performance", provider_performance(calls));
}

fn user_intents(messages: &[&Message]) -> BTreeMap<Vec<String>, Value> {
    let mut groups: BTreeMap<Vec<String>, Vec<&Message>> = BTreeMap::new();
    for m in messages {
        if let Some(i) = &m.intent {
            groups
                .entry(vec![m.user_id.clone(), i.clone()])
                .or_default()
                .push(m);
        }
    }
    groups
        .into_iter()
        .map(|(k, ms)| {
            let convs: BTreeSet<&str> = ms.iter().map(|m| m.conversation_id.as_str()).collect();
            let sessions: BTreeSet<&str> = ms.iter().map(|m| m.session_id.as_str()).collect();
            let row = json!({"user_id": k[0], "intent": k[1], "messages": ms.len(),
                "conversations": convs.len(), "sessions": sessions.len(),
                "first_ts": format_millis(ms.iter().map(|m| m.ts).min().unwrap_or(0)),
                "last_ts": format_millis(ms.iter().map(|m| m.ts).max().unwrap_or(0))});
            (k, row)
        })
        .collect()
}

fn user_preferences(messages: &[&Message]) -> BTreeMap<Vec<String>, Value> {
    let mut groups: BTreeMap<Vec<String>, Vec<&Message>> = BTreeMap::new();
    let mut per_user: BTreeMap<&str, usize> = BTreeMap::new();
    for m in messages {
        if let (Role::Assistant, Some(p)) = (m.role, &m.provider) {
            groups
                .entry(vec![m.user_id.clone(), p.clone()])
                .or_default()
                .push(m);
            *per_user.entry(&m.user_id).or_default() += 1;
        }
    }
    groups
        .iter()
        .map(|(k, ms)| {
            let convs: BTreeSet<&str> = ms.iter().map(|m| m.conversation_id.as_str()).collect();
            let row = json!({"user_id": k[0], "provider": k[1], "messages": ms.len(),
                "tokens": ms.iter().map(|m| u64::from(m.tokens)).sum::<u64>(),
                "conversations": convs.len(),
                "share": ms.len() as f64 / per_user[k[0].as_str()] as f64});
            (k.clone(), row)
        })
        .collect()
}

fn conversation_flow(convs: &BTreeMap<String, Vec<&Message>>) -> BTreeMap<Vec<String>, Value> {
    let mut pairs: BTreeMap<Vec<String>, (u64, BTreeSet<&str>)> = BTreeMap::new();
    for (id, ms) in convs {
        let roles: BTreeMap<u64, Role> = ms.iter().map(|m| (m.seq, m.role)).collect();
        for (seq, from) in &roles {
            if let Some(to) = seq.checked_add(1).and_then(|next| roles.get(&next)) {
                let slot = pairs
                    .entry(vec![from.name().to_string(), to.name().to_string()])
                    .or_default();
                slot.0 += 1;
                slot.1.insert(id);
            }
        }
    }
    pairs
        .into_iter()
        .map(|(k, (n, cs))| {
            let row = json!({"from_role": k[0], "to_role": k[1], "transitions": n,
                             "conversations": cs.len()});
            (k, row)
        })
        .collect()
}

fn debate_strategies(
    debates: &BTreeMap<String, Vec<&DebateRound>>,
    stats: &BTreeMap<Vec<String>, Value>,
) -> BTreeMap<Vec<String>, Value> {
    let mut stances: BTreeMap<String, Vec<&DebateRound>> = BTreeMap::new();
    for r in debates.values().flatten() {
        if let Some(s) = &r.stance {
            stances.entry(s.clone()).or_default().push(r);
        }
    }
    stances
        .into_iter()
        .map(|(stance, rs)| {
            let row_of = |d: &str| &stats[&vec![d.to_string()]];
            let ids: BTreeSet<&str> = rs.iter().map(|r| r.debate_id.as_str()).collect();
            let led: BTreeSet<&str> = rs
                .iter()
                .filter(|r| row_of(&r.debate_id)["leader"] == json!(r.provider))
                .map(|r| r.debate_id.as_str())
                .collect();
            let consensus = ids
                .iter()
                .filter(|d| row_of(d)["consensus"] == json!(true))
                .count();
            let mut providers: Vec<&str> = rs.iter().map(|r| r.provider.as_str()).collect();
            providers.sort_unstable();
            providers.dedup();
            let row = json!({"stance": stance, "rounds": rs.len(), "debates": ids.len(),
                "mean_score": rs.iter().map(|r| r.score).sum::<f64>() / rs.len() as f64,
                "providers": providers, "led": led.len(), "consensus_debates": consensus});
            (vec![stance], row)
        })
        .collect()
}

fn provider_performance(
    calls: &BTreeMap<(String, String, i64), Vec<&ProviderCall>>,
) -> BTreeMap<Vec<String>, Value> {
    let mut groups: BTreeMap<Vec<String>, Vec<&ProviderCall>> = BTreeMap::new();
    for ((p, m, _), cs) in calls {
        groups
            .entry(vec![p.clone(), m.clone()])
            .or_default()
            .extend(cs);
    }
    groups
        .into_iter()
        .map(|(k, cs)| {
            let mut lat: Vec<u32> = cs.iter().map(|c| c.latency_ms).collect();
            lat.sort_unstable();
            let n = lat.len() as u64;
            let pct = |p: u64| lat[((p * n).div_ceil(100).max(1) - 1) as usize];
            let errors = cs.iter().filter(|c| !c.success).count();
            let tin: u64 = cs.iter().map(|c| u64::from(c.tokens_in)).sum();
            let tout: u64 = cs.iter().map(|c| u64::from(c.tokens_out)).sum();
            let cost: f64 = cs.iter().map(|c| c.cost_usd).sum();
            let per_1k = if tin + tout > 0 {
                json!(cost * 1000.0 / (tin + tout) as f64)
            } else {
                Value::Null
            };
            let row = json!({"provider": k[0], "model": k[1], "calls": n, "errors": errors,
                "error_rate": errors as f64 / n as f64, "tokens_in": tin, "tokens_out": tout,
                "cost_usd": cost, "latency_p50": pct(50), "latency_p95": pct(95),
                "latency_p99": pct(99),
                "latency_avg": lat.iter().map(|l| f64::from(*l)).sum::<f64>() / n as f64,
                "cost_per_1k_tokens": per_1k});
            (k, row)
        })
        .collect()
}
